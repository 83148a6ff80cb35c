"""`sysmaster-migrate report`: what of a host's unit files and udev rules sysmaster-py would not
honour exactly, per file and line.

The report keeps no list of its own: every entry comes from the code that decides at run time
(compat's load diagnostics, the unit-type table of sysmasterd.units, the condition checker,
udev_rules_translator's diagnostics and devmaster's table of gaps), so it says what the daemons
say when they load the same files.
"""
