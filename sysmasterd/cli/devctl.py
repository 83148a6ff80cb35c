"""devctl: udevadm 252's command line for devmaster (also works when invoked as `udevadm`)."""

from __future__ import annotations

import os
import sys

VERSION = "252"  # udevadm's: scripts compare it

# verb -> (module under sysmasterd.cli, function, help). Imported when the verb runs: --version must
# not pay for the rules executor, and info must not pay for the netlink monitor.
VERBS: dict[str, tuple[str, str, str | None]] = {
    "info": ("devctl_info", "main", "Query sysfs or the udev database"),
    "trigger": ("devctl_trigger", "main", "Request events from the kernel"),
    "settle": ("devctl_settle", "main", "Wait for pending udev events"),
    "control": ("devctl_control", "main", "Control the udev daemon"),
    "monitor": ("devctl_monitor", "main", "Listen to kernel and udev events"),
    "test": ("devctl_test", "main", "Test an event run"),
    "test-builtin": ("devctl_test", "builtin_main", "Test a built-in command"),
    "wait": ("devctl_misc", "wait_main", "Wait for device or device symlink"),
    "lock": ("devctl_misc", "lock_main", "Lock a block device"),
    "hwdb": ("devctl_misc", "hwdb_main", None),  # deprecated: udevadm leaves it out of --help
}


def _help(prog: str) -> None:
    print(f"{prog} [--help] [--version] [--debug] COMMAND [COMMAND OPTIONS]\n\n"
          "Send control commands or test the device manager.\n\nCommands:")
    for name, (_module, _function, text) in VERBS.items():
        if text is not None:
            print(f"  {name:<12}  {text}")
    from sysmasterd.cli.devctl_common import man_page

    print(f"\nSee the {man_page(prog)} man page for details.")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "devctl"
    if prog.endswith(".py") or prog == "__main__":
        prog = "devctl"
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-h", "--help"):
            _help(prog)
            return 0
        if opt in ("-V", "--version"):
            print(VERSION)
            return 0
        if opt in ("-d", "--debug"):
            os.environ["SYSTEMD_LOG_LEVEL"] = "debug"
            continue
        print(f"{prog}: unrecognized option '{opt}'", file=sys.stderr)
        return 1
    if os.environ.get("SYSTEMD_LOG_LEVEL", "").strip().lower() in ("debug", "7"):
        # udevadm's first debug line: its SELinux set-up, done before any verb
        state = "enabled" if os.path.exists("/sys/fs/selinux/enforce") else "disabled"
        print(f"SELinux enabled state cached to: {state}", file=sys.stderr)
    if not args:
        print("Command verb required.", file=sys.stderr)
        return 1
    verb = args.pop(0)
    if verb in ("help", "version"):
        if verb == "help":
            _help(prog)
        else:
            print(VERSION)
        return 0
    entry = VERBS.get(verb)
    if entry is None:
        print(f"Unknown command verb {verb}.", file=sys.stderr)
        return 1
    import importlib

    from sysmasterd.cli.devctl_common import UsageError

    run = getattr(importlib.import_module(f"sysmasterd.cli.{entry[0]}"), entry[1])
    try:
        return int(run(args, prog))
    except UsageError as e:
        print(e, file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
