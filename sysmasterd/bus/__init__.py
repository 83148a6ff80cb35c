"""The org.freedesktop.systemd1 D-Bus face, on dbus-fast."""
