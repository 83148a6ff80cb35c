"""setup.cfg holds the metadata; this file only maps the top-level data directory dbus/ into the
wheel as the resource package ``sysmasterd.dbusdata``, which declarative config cannot express
next to ``packages = find:``. dbus/ stays a plain directory in the checkout (a package named
``dbus`` would shadow dbus-python)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["sysmasterd", "sysmasterd.*", "compat", "compat.*",
                                      "udev_rules_translator", "udev_rules_translator.*"]),
              "sysmasterd.dbusdata"],
    package_dir={"sysmasterd.dbusdata": "dbus"},
    package_data={"sysmasterd.dbusdata": ["*.xml", "*.conf"]},
)
