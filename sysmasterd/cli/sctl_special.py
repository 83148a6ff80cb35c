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
    "halt": ("halt.target", "replace-irreversibly", "Halt"),
    "poweroff": ("poweroff.target", "replace-irreversibly", "PowerOff"),
    "reboot": ("reboot.target", "replace-irreversibly", "Reboot"),
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
_TERMINATION = ("halt", "poweroff", "reboot")  # what --force --force does at once, without the manager
REBOOT_PARAM = "/run/systemd/reboot-param"
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
    if opts.force >= 2 and os.geteuid() != 0:
        err("Need to be root.")
        return EXIT_FAILURE
    if verb in _TERMINATION and not opts.dry_run:
        failed = _prepare_boot(opts)
        if failed:
            err(failed)
            return EXIT_FAILURE
    if verb == "reboot":
        if args and opts.reboot_argument is not None:
            err("Both --reboot-argument= and positional argument passed to reboot command, refusing.")
            return EXIT_FAILURE
        if args:
            err("Positional argument to reboot command is deprecated, please use --reboot-argument= instead. "
                "Accepting anyway.")
        parameter = args[0] if args else opts.reboot_argument
        if parameter is not None and not opts.dry_run:
            _write_reboot_parameter(parameter)
        args = []
    if opts.dry_run:
        return 0
    if verb in _TERMINATION and opts.force >= 2:
        return _halt_now(opts, verb)
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
    if opts.force and verb in ("exit", "kexec", *_TERMINATION):  # the manager's own method, without a job
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


def _prepare_boot(opts: Options) -> str:
    """--firmware-setup, --boot-loader-menu= and --boot-loader-entry= asked of logind; the error."""
    asks: list[tuple[str, str, object, str]] = [
        ("SetRebootToFirmwareSetup", "b", True, "Cannot indicate to EFI to boot into setup mode")
    ] if opts.firmware_setup else []
    if opts.boot_loader_menu is not None:
        asks.append(("SetRebootToBootLoaderMenu", "t", opts.boot_loader_menu,
                     "Cannot indicate to boot loader to enter boot loader entry menu"))
    if opts.boot_loader_entry is not None:
        asks.append(("SetRebootToBootLoaderEntry", "s", opts.boot_loader_entry,
                     f"Cannot set boot into loader entry '{opts.boot_loader_entry}'"))
    if not asks:
        return ""
    try:
        login = Client.on_bus(user=False)
    except OSError as e:
        return f"{asks[0][3]}: {e.strerror}"
    try:
        for method, signature, value, failure in asks:
            try:
                login.call(*_LOGIN[1:], method, signature, [value], destination=_LOGIN[0])
            except CallError as e:
                return f"{failure}: {e.text}"
        return ""
    finally:
        login.close()


def _write_reboot_parameter(parameter: str) -> None:
    """update_reboot_parameter_and_warn(): what the kernel gets as reboot's argument, kept where
    the shutdown reads it; an empty one removes it."""
    try:
        if not parameter:
            os.unlink(REBOOT_PARAM)
            return
        os.makedirs(os.path.dirname(REBOOT_PARAM), exist_ok=True)
        tmp = f"{REBOOT_PARAM}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(parameter + "\n")
        os.chmod(tmp, 0o644)
        os.rename(tmp, REBOOT_PARAM)
    except FileNotFoundError:
        pass
    except OSError as e:
        err(f"Failed to write reboot parameter file: {e.strerror}")


_RB = {"halt": 0xCDEF0123, "poweroff": 0x4321FEDC, "reboot": 0x01234567}  # RB_HALT_SYSTEM, RB_POWER_OFF, RB_AUTOBOOT


def _halt_now(opts: Options, verb: str) -> int:
    """--force --force: sync and ask the kernel directly, as systemctl's halt_now() does."""
    import ctypes

    if not opts.quiet:
        err({"halt": "Halting.", "poweroff": "Powering off.", "reboot": "Rebooting."}[verb])
    os.sync()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.reboot(_RB[verb])
    code = ctypes.get_errno()
    err(f"Failed to {verb}: {os.strerror(code)}")
    return EXIT_FAILURE
