"""sctl's special-target verbs (default, rescue, emergency, exit, kexec and the sleep states): a
start of the target systemd names for each, in the job mode systemctl uses; sleep and kexec are
asked of logind first, since it checks inhibitors and polkit."""

from __future__ import annotations

import os

from sysmasterd.cli.sctl_bus import CallError, Client
from sysmasterd.cli.sctl_common import EXIT_FAILURE, Options, err
from sysmasterd.cli.sctl_manager import call
from sysmasterd.cli.sctl_units import run_jobs

# verb -> (target, job mode, logind's method or "")
_SPECIAL = {
    "default": ("default.target", "isolate", ""),
    "rescue": ("rescue.target", "isolate", ""),
    "emergency": ("emergency.target", "isolate", ""),
    "exit": ("exit.target", "replace-irreversibly", ""),
    "kexec": ("kexec.target", "replace-irreversibly", "Reboot"),
    "suspend": ("suspend.target", "replace-irreversibly", "Suspend"),
    "hibernate": ("hibernate.target", "replace-irreversibly", "Hibernate"),
    "hybrid-sleep": ("hybrid-sleep.target", "replace-irreversibly", "HybridSleep"),
    "suspend-then-hibernate": ("suspend-then-hibernate.target", "replace-irreversibly", "SuspendThenHibernate"),
}
_USER_TOO = ("default", "exit")
_LOGIN = ("org.freedesktop.login1", "/org/freedesktop/login1", "org.freedesktop.login1.Manager")
_REBOOT_VIA_KEXEC = 1 << 1  # SD_LOGIND_REBOOT_VIA_KEXEC
# logind's answers after which systemctl does not fall back to starting the target itself
_FINAL = ("org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
          "org.freedesktop.DBus.Error.NotSupported", "org.freedesktop.login1.OperationInProgress")


def start_special(client: Client, opts: Options, verb: str, args: list[str]) -> int:
    target, mode, login_method = _SPECIAL[verb]
    if opts.user and verb not in _USER_TOO:
        err("Bad action for --user mode.")
        return EXIT_FAILURE
    if len(args) > (1 if verb == "exit" else 0):
        err("Too many arguments.")
        return EXIT_FAILURE
    if args:  # exit's code; without one the manager keeps what was set before
        if not args[0].isascii() or not args[0].isdigit() or int(args[0]) > 255:
            err("Invalid exit code.")
            return EXIT_FAILURE
        try:
            client.manager("SetExitCode", "y", [int(args[0])])
        except CallError as e:
            err(f"Failed to set exit code: {e.text}")
            return EXIT_FAILURE
    if verb == "kexec" and not os.access("/sbin/kexec", os.X_OK):
        err("/sbin/kexec is not available: No such file or directory")
        if not opts.force:
            return EXIT_FAILURE
        err("Failed to load kexec kernel, continuing without.")
    if opts.force and verb in ("exit", "kexec"):  # the manager's own method, without logind or a job
        return call(client, opts, verb, [])
    if login_method:
        done = _ask_logind(opts, login_method, _REBOOT_VIA_KEXEC if verb == "kexec" else 0)
        if done is not None:
            return done
    if login_method or verb == "exit":
        # logind's actions, and exit, are asynchronous: systemctl does not wait for the job either
        opts.no_block = True
    return run_jobs(client, opts, "StartUnit", "start", mode, [target])


def _ask_logind(opts: Options, method: str, flags: int) -> int | None:
    """The exit status once logind took or refused the request; None to fall back to the target."""
    try:
        login = Client.on_bus(user=False)  # logind is a system service whichever manager we drive
    except OSError:
        return None
    try:
        try:
            login.call(*_LOGIN[1:], f"{method}WithFlags", "t", [flags], destination=_LOGIN[0])
        except CallError as e:
            if e.name != "org.freedesktop.DBus.Error.UnknownMethod":
                raise
            login.call(*_LOGIN[1:], method, "b", [False], destination=_LOGIN[0])
        return 0
    except CallError as e:
        err(f"Call to {method} failed: {e.text}")
        return EXIT_FAILURE if e.name in _FINAL else None
    finally:
        login.close()
