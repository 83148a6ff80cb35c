"""compat: systemd unit files -> typed unit configuration (pure)."""
