"""Command-line clients: sctl, devctl."""
