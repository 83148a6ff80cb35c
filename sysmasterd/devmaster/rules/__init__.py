"""devmaster rules: execution of the compiled rule program produced by udev_rules_translator."""
