"""The Manager methods systemd 252 answers beyond the unit/job basics (dbus-manager.c): SetExitCode,
SetShowStatus, EnqueueMarkedJobs, BindMountUnit, MountImageUnit and SwitchRoot, with its checks in
its order and its error names and texts."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from compat import unitname
from compat.model import JobMode
from compat.partitions import DESIGNATORS
from sysmasterd.bus import actions, errors
from sysmasterd.bus.iface import method, prop
from sysmasterd.core import sandbox
from sysmasterd.core.conditions import detect_virtualization
from sysmasterd.core.mount_into import IMAGE_OPTIONS, image_option_attributes
from sysmasterd.core.states import JobType

if TYPE_CHECKING:
    from dbus_fast import DBusError

    from sysmasterd.bus.router import Call
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit

log = logging.getLogger(__name__)

# systemd's show_status table; parse_boolean()'s words stand for yes and no.
_SHOW_STATUS = ("no", "error", "auto", "temporary", "yes")
_TRUE_WORDS = ("1", "yes", "y", "true", "t", "on")
_FALSE_WORDS = ("0", "no", "n", "false", "f", "off")


def show_status_word(text: str) -> str | None:
    word = text.lower()
    if word in _TRUE_WORDS:
        return "yes"
    if word in _FALSE_WORDS:
        return "no"
    return text if text in _SHOW_STATUS else None


def is_normalized(path: str) -> bool:
    """systemd's path_is_normalized(): no "." or ".." component, no doubled slash."""
    return "//" not in path and not any(part in (".", "..") for part in path.split("/"))


def _statvfs_run() -> None:
    # systemd only warns about little space, but refuses when /run/systemd cannot be examined.
    try:
        os.statvfs("/run/systemd")
    except OSError as e:
        raise errors.errno_error(e.errno or 0, f"Failed to statvfs(/run/systemd): {e.strerror}") from None


def _check_switch_root(root: str, init: str) -> None:
    if not root:
        raise errors.invalid_args("New root directory may not be the empty string.")
    if not os.path.isabs(root):
        raise errors.invalid_args(f"New root path '{root}' is not absolute.")
    if os.path.normpath(root) == "/":
        raise errors.invalid_args("New root directory cannot be the old root directory.")
    if not init:
        if not any(os.path.exists(os.path.join(root, p)) for p in ("etc/os-release", "usr/lib/os-release")):
            raise errors.invalid_args(f"Specified switch root path '{root}' does not seem to be an OS tree. "
                                      "os-release file is missing.")
        return
    if not os.path.isabs(init):
        raise errors.invalid_args(f"Path to init binary '{init}' not absolute.")
    chased = os.path.join(root, init.lstrip("/"))
    if not os.path.lexists(chased):
        raise errors.errno_error(2, f"Could not resolve init executable {init}: No such file or directory")
    if not os.access(chased, os.X_OK, follow_symlinks=False):
        raise errors.invalid_args(f"Init binary {init} is not executable.")


def _image_options(options: list[Any]) -> dict[str, str]:
    """MountImageUnit's a(ss) -> options by partition (the first given for one counts, as in
    systemd's lookup), checked as systemd's bus_read_mount_options() checks them; options that
    only a fresh mount could take are refused here, by name."""
    found: dict[str, str] = {}
    for partition, opts in options:
        if any(c in opts for c in " \t\n\r"):
            raise errors.invalid_args(f"Invalid mount options string, contains whitespace character(s): {opts}")
        if partition not in DESIGNATORS:
            raise errors.invalid_args(f"Invalid partition name {partition}")
        try:
            image_option_attributes(opts)
        except ValueError as e:
            raise errors.bus_error(errors.NOT_SUPPORTED, f"Mount option {e} of partition {partition} cannot be "
                                   f"applied by sysmasterd: only {', '.join(IMAGE_OPTIONS)} can.") from None
        found.setdefault(partition, opts)
    return found


def _mount_refusal(m: Manager, u: Unit, src: str, dest: str, image: bool) -> DBusError | int:
    """Why a unit cannot take a mount now (systemd's bus_service_method_mount() checks after its
    argument checks), or the main PID whose mount namespace it goes into."""
    ctx = u.config.exec if u.config is not None and u.kind.value == "service" else None
    if u.kind.value != "service":
        return errors.invalid_args("Unit is not of type .service")
    if ctx is None:
        return errors.invalid_args("Cannot access unit execution context")
    if any(dest == p or dest.startswith(p.rstrip("/") + "/") for p in ctx.inaccessible_paths):
        return errors.invalid_args(f"{dest} is not accessible to this unit")
    if not sandbox.needs_mount_namespace(ctx):
        return errors.invalid_args("Unit not running in private mount namespace, cannot activate bind mount")
    main_pid = getattr(u.impl, "main_pid", lambda: 0)()
    if not main_pid or not u.active_state.is_active_or_reloading():
        return errors.invalid_args("Unit is not running")
    return int(main_pid)


class MiscMethods:
    """Mixed into the Manager interface."""

    manager: Manager

    # The Manager interface's: a try-restart made a try-reload where the unit can reload.
    reload_or: Callable[[Unit, JobType], JobType]

    @prop("ExitCode")
    def exit_code(self, m: Manager) -> int:
        return m.exit_code

    @method("SetExitCode")
    def set_exit_code(self, call: Call, m: Manager, code: int) -> None:
        if m.is_system and detect_virtualization()[0] != "container":
            raise errors.bus_error(errors.NOT_SUPPORTED,
                                   "ExitCode can only be set for user service managers or in containers.")
        m.exit_code = code

    @prop("ShowStatus")
    def show_status(self, m: Manager) -> bool:
        # A user manager never shows status; the system one does unless told otherwise ("quiet" is
        # a kernel command line word we do not take).
        return m.is_system and (m.show_status_override or "yes") in ("yes", "temporary")

    @method("SetShowStatus")
    async def set_show_status(self, call: Call, m: Manager, mode: str) -> None:
        await call.authorize(actions.SET_ENVIRONMENT)
        word = show_status_word(mode) if mode else None
        if mode and word is None:
            raise errors.invalid_args(f"Invalid show status '{mode}'")
        if m.is_system:
            m.show_status_override = word

    @method("EnqueueMarkedJobs")
    async def enqueue_marked_jobs(self, call: Call, m: Manager) -> list[str]:
        await call.authorize(actions.MANAGE_UNITS)
        log.info("Queuing reload/restart jobs for marked units…")
        paths: list[str] = []
        first: Exception | None = None
        for u in list(m.units_by_id().values()):
            if "needs-restart" in u.markers:
                job_type = JobType.TRY_RESTART
            elif "needs-reload" in u.markers:
                job_type = self.reload_or(u, JobType.TRY_RESTART)
            else:
                continue
            # Every marked unit gets its turn; the first error is told at the end.
            try:
                paths.append(m.engine.add_job(u.id, job_type, JobMode.FAIL).path)
            except Exception as e:
                error = errors.from_exception(e)
                if error is None:
                    raise
                log.warning("Failed to enqueue job for %s: %s", u.id, error.text)
                first = first or error
        if first is not None:
            error = errors.from_exception(first)
            assert error is not None
            raise errors.bus_error(error.type, f"Failed to enqueue some jobs, see logs for details: {error.text}")
        return paths

    async def mount_in_unit(self, call: Call, u: Unit, src: str, dest: str, read_only: bool, mkdir: bool,
                            options: list[Any] | None = None) -> None:
        """BindMountUnit, or MountImageUnit when ``options`` (its a(ss)) is given."""
        m = self.manager
        image = options is not None
        if not m.is_system:
            raise errors.bus_error(errors.NOT_SUPPORTED,
                                   "Adding bind mounts at runtime is only supported for system managers.")
        if not os.path.isabs(src) or not is_normalized(src):
            raise errors.invalid_args("Source path must be absolute and normalized.")
        if not image and not dest:
            dest = src
        elif not os.path.isabs(dest) or not is_normalized(dest):
            raise errors.invalid_args("Destination path must be absolute and normalized.")
        by_partition = _image_options(options or [])
        await call.authorize(actions.MANAGE_UNITS)
        pid = _mount_refusal(m, u, src, dest, image)
        if not isinstance(pid, int):
            raise pid
        extra = [json.dumps(by_partition)] if image else []
        helper = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sysmasterd.core.mount_into", str(pid), src, dest, str(int(read_only)),
            str(int(mkdir)), *extra, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, trace = await helper.communicate()
        err = int(out.strip() or errno.EIO)
        if err:
            if trace:
                log.error("%s: the mount helper failed: %s", u.id, trace.decode(errors="replace").strip())
            raise errors.errno_error(err, f"Failed to mount {src} on {dest} in unit's namespace: {os.strerror(err)}")
        log.info("%s: %s %s on %s%s.", u.id, "mounted image" if image else "bind mounted", src, dest,
                 " read-only" if read_only else "")

    def _loaded_unit(self, name: str) -> Unit:
        """GENERIC_UNIT_VALIDATE_LOADED without GENERIC_UNIT_LOAD: only a unit already loaded, and loaded well."""
        if not unitname.is_valid(name):
            raise errors.invalid_args(f"Unit name {name} is not valid.")
        u = self.manager.get_unit(name)
        if u is None:
            raise errors.bus_error(errors.NO_SUCH_UNIT, f"Unit {name} not loaded.")
        u.check_loaded_for_job()
        return u

    @method("BindMountUnit")
    async def bind_mount_unit(self, call: Call, m: Manager, name: str, src: str, dest: str,
                              read_only: bool, mkdir: bool) -> None:
        await self.mount_in_unit(call, self._loaded_unit(name), src, dest, read_only, mkdir)

    @method("MountImageUnit")
    async def mount_image_unit(self, call: Call, m: Manager, name: str, src: str, dest: str,
                               read_only: bool, mkdir: bool, options: list[Any]) -> None:
        await self.mount_in_unit(call, self._loaded_unit(name), src, dest, read_only, mkdir, options)

    @method("SwitchRoot")
    async def switch_root(self, call: Call, m: Manager, root: str, init: str) -> None:
        _statvfs_run()
        if not m.is_system:
            raise errors.bus_error(errors.NOT_SUPPORTED, "Root switching is only supported by system manager.")
        # sd-bus's CAP_SYS_BOOT check for callers on the bus.
        if call.conn.is_bus and await call.caller_uid() not in (0, os.geteuid()):
            raise errors.bus_error(errors.ACCESS_DENIED, "Access denied")
        _check_switch_root(root, init)
        if m.on_switch_root_request is None:
            raise errors.bus_error(errors.NOT_SUPPORTED, "Switching root needs sysmaster-init as PID 1.")
        # Reply first: the core leaves on a later loop turn, after the reply was written.
        m.loop.call_soon(m.switch_root, root, init)

