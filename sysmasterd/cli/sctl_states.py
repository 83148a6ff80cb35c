"""The names `--type=help`, `--state=help` and `--preset-mode=help` list, in systemctl 252's order."""

UNIT_TYPES = ("service", "mount", "swap", "socket", "target", "device", "automount", "timer", "path", "slice",
              "scope")
LOAD_STATES = ("stub", "loaded", "not-found", "bad-setting", "error", "merged", "masked")
PRESET_MODES = ("full", "enable-only", "disable-only")
_STATE_GROUPS = (
    ("unit load states", LOAD_STATES),
    ("unit active states", ("active", "reloading", "inactive", "failed", "activating", "deactivating",
                            "maintenance")),
    ("unit file states", ("enabled", "enabled-runtime", "linked", "linked-runtime", "alias", "masked",
                          "masked-runtime", "static", "disabled", "indirect", "generated", "transient", "bad")),
    ("automount unit substates", ("dead", "waiting", "running", "failed")),
    ("device unit substates", ("dead", "tentative", "plugged")),
    ("mount unit substates", ("dead", "mounting", "mounting-done", "mounted", "remounting", "unmounting",
                              "remounting-sigterm", "remounting-sigkill", "unmounting-sigterm",
                              "unmounting-sigkill", "failed", "cleaning")),
    ("path unit substates", ("dead", "waiting", "running", "failed")),
    ("scope unit substates", ("dead", "start-chown", "running", "abandoned", "stop-sigterm", "stop-sigkill",
                              "failed")),
    ("service unit substates", ("dead", "condition", "start-pre", "start", "start-post", "running", "exited",
                                "reload", "stop", "stop-watchdog", "stop-sigterm", "stop-sigkill", "stop-post",
                                "final-watchdog", "final-sigterm", "final-sigkill", "failed", "auto-restart",
                                "cleaning")),
    ("slice unit substates", ("dead", "active")),
    ("socket unit substates", ("dead", "start-pre", "start-chown", "start-post", "listening", "running",
                               "stop-pre", "stop-pre-sigterm", "stop-pre-sigkill", "stop-post", "final-sigterm",
                               "final-sigkill", "failed", "cleaning")),
    ("swap unit substates", ("dead", "activating", "activating-done", "active", "deactivating",
                             "deactivating-sigterm", "deactivating-sigkill", "failed", "cleaning")),
    ("target unit substates", ("dead", "active")),
    ("timer unit substates", ("dead", "waiting", "running", "elapsed", "failed")),
)


def print_help_list(kind: str) -> None:
    """What systemctl prints for "help" as the value of --type=, --state= or --preset-mode=."""
    if kind == "timestamp":
        from sysmasterd.cli.sctl_format import TIMESTAMP_STYLES

        print("\n".join(TIMESTAMP_STYLES))
    elif kind == "type":
        print("Available unit types:\n" + "\n".join(UNIT_TYPES))
    elif kind == "state":
        print("\n\n".join(f"Available {title}:\n" + "\n".join(names) for title, names in _STATE_GROUPS))
    else:
        print("\n".join(PRESET_MODES))
