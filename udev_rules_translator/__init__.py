"""udev_rules_translator: udev rules text -> compiled rule program + diagnostics (pure)."""
