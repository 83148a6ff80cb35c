"""polkit action ids systemd checks, by what a method does."""

MANAGE_UNITS = "org.freedesktop.systemd1.manage-units"
MANAGE_UNIT_FILES = "org.freedesktop.systemd1.manage-unit-files"
RELOAD_DAEMON = "org.freedesktop.systemd1.reload-daemon"
SET_ENVIRONMENT = "org.freedesktop.systemd1.set-environment"
