"""The partition designators of systemd 252 (systemd-dissect, MountImages=, MountImageUnit)."""

DESIGNATORS = ("root", "usr", "home", "srv", "esp", "xbootldr", "swap", "root-verity", "usr-verity",
               "root-verity-sig", "usr-verity-sig", "tmp", "var")
# Where each mountable one may go below the image's root (systemd's dissected_image_mount()).
MOUNT_POINTS = {"root": ("",), "usr": ("usr",), "home": ("home",), "srv": ("srv",), "esp": ("efi", "boot"),
                "xbootldr": ("boot",), "tmp": ("var/tmp",), "var": ("var",)}
