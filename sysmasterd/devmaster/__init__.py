"""devmaster: the udevd replacement."""
