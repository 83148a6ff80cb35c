"""sysmaster-py: init, service manager core and device manager."""

__version__ = "0.1.0"
