"""sysmaster-init: the tiny PID 1 (stdlib only)."""
