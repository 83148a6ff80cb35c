"""`sysmasterd`: the service manager daemon (and `sysmasterd --test --dump`)."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import resource
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from compat.model import ResourceLimit, Scope
from sysmasterd.bus.spec import InterfaceDataError
from sysmasterd.core import generators, sysconf
from sysmasterd.core import log as corelog
from sysmasterd.core.conditions import FIRST_BOOT_FLAG
from sysmasterd.core.dump import dump_units
from sysmasterd.core.events import NullObserver
from sysmasterd.core.manager import Manager, ManagerSettings

if TYPE_CHECKING:
    import asyncio

    from sysmasterd.bus.service import BusFace

PR_SET_CHILD_SUBREAPER = 36
DEFAULT_TARGET = "default.target"
INITRD_TARGET = "initrd.target"
NOTIFY_FD_ENV = "SYSMASTER_NOTIFY_FD"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sysmasterd", description="The sysmaster service manager.")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--system", action="store_true", help="run as the system manager (default as root)")
    scope.add_argument("--user", action="store_true", help="run as a user manager")
    p.add_argument("--unit-path", action="append", default=[], metavar="DIR",
                   help="unit search directory (repeatable; like SYSTEMD_UNIT_PATH, a trailing ':' "
                        "on the last one appends the default paths)")
    p.add_argument("--runtime-dir", metavar="DIR", help="where state, the notify socket and the store live")
    p.add_argument("--unit", metavar="NAME", default=None, help=f"unit to start at boot (default {DEFAULT_TARGET})")
    p.add_argument("--bus-address", metavar="ADDR", help="D-Bus address to serve on instead of the scope's bus")
    p.add_argument("--no-bus", action="store_true", help="do not serve D-Bus (for tests and benchmarks)")
    p.add_argument("--log-level", default=None, choices=corelog.LOG_LEVELS,
                   help="default: LogLevel= of system.conf/user.conf, else info")
    p.add_argument("--log-target", default="console", metavar="console|kmsg|file:PATH")
    p.add_argument("--test", action="store_true", help="load units and exit without running anything")
    p.add_argument("--dump", action="store_true", help="with --test: print the unit table")
    p.add_argument("--fresh", action="store_true", help="ignore runtime state stored by a previous core")
    p.add_argument("--shared-runtime", action="store_true",
                   help="act on systemd's shared runtime directories (/run/systemd, or $XDG_RUNTIME_DIR/systemd "
                        "for --user): run generators into them, mark the system as booted, export unit state "
                        "for journald (default: when --runtime-dir is not given, i.e. when this is the scope's "
                        "manager, which then also lays out the cgroup tree from its own cgroup up)")
    return p.parse_args(argv)


def boot_unit(m: Manager, args: argparse.Namespace) -> str:
    """Without --unit, the system's own manager boots what the kernel command line names
    (systemd.unit=, rescue, 3, ...), else initrd.target in an initrd, else default.target."""
    if not (args.shared_runtime and m.settings.scope is Scope.SYSTEM):
        return DEFAULT_TARGET
    from sysmasterd.core.cmdline import default_unit
    from sysmasterd.devmaster.builtin.container import kernel_command_line

    initrd = os.path.exists("/etc/initrd-release")
    unit, warnings = default_unit(kernel_command_line(), initrd)
    for warning in warnings:
        m.log.warning("%s", warning)
    return unit or (INITRD_TARGET if initrd else DEFAULT_TARGET)


def unit_path_from(args: argparse.Namespace) -> str | None:
    """--unit-path follows SYSTEMD_UNIT_PATH's rules (a trailing ':' appends the defaults); without
    it SYSTEMD_UNIT_PATH itself applies (compat reads it from the environment)."""
    return ":".join(args.unit_path) if args.unit_path else None


def default_runtime_dir(scope: Scope) -> str:
    if scope is Scope.SYSTEM:
        return "/run/sysmaster"
    base = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return os.path.join(base, "sysmaster")


def sd_notify(message: str) -> None:
    import socket

    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s, contextlib.suppress(OSError):
        s.connect(addr)
        s.send(message.encode())


def _set_subreaper() -> None:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except OSError:
        pass


# systemd's HIGH_RLIMIT_NOFILE and FD_SETSIZE.
_SYSTEM_SERVICE_NOFILE_MAX = 512 * 1024
_SELECT_FD_LIMIT = 1024


def _raise_fd_limit(scope: Scope) -> ResourceLimit:
    """Raise our own NOFILE limit (a log pipe and a pidfd per service add up) and return what
    services get instead, as systemd 252 does: a soft limit select() copes with, and for system
    services a hard limit of 512K (or fs.nr_open, if lower)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard
    if scope is Scope.SYSTEM:
        with contextlib.suppress(OSError, ValueError), open("/proc/sys/fs/nr_open") as f:
            wanted = min(int(f.read()), max(hard, _SYSTEM_SERVICE_NOFILE_MAX))
    for limit in (wanted, hard):  # raising the hard limit needs CAP_SYS_RESOURCE
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            break
        except (OSError, ValueError):
            continue
    return ResourceLimit(min(soft, _SELECT_FD_LIMIT), resource.getrlimit(resource.RLIMIT_NOFILE)[1])


SYSTEMD_RUN = "/run/systemd"


def mark_system_manager(base: str = SYSTEMD_RUN) -> None:
    """What systemd 252 leaves for clients at start: /run/systemd/system (sd_booted(): systemctl
    and libraries take it as "booted with systemd"), /run/systemd/container (the container type
    for tools that cannot read PID 1's environment) and, on a first boot, the flag file
    ConditionFirstBoot= reads."""
    try:
        os.makedirs(os.path.join(base, "system"), mode=0o755, exist_ok=True)
        container = os.environ.get("container")  # noqa: SIM112 (lowercase by the container interface)
        if container:
            with open(os.path.join(base, "container"), "w") as f:
                f.write(container + "\n")
        if generators.detect_first_boot():
            open(os.path.join(base, "first-boot"), "a").close()
    except OSError as e:
        logging.getLogger("sysmasterd").warning("Failed to set up %s: %s", base, e)


def cgroup_instance(scope: Scope, runtime_dir: str) -> str:
    """The name of the cgroup subtree a manager that is not the scope's own makes below its own
    cgroup: one per runtime dir, so managers side by side never share one."""
    return f"sysmaster.{scope.value}-{hashlib.sha1(runtime_dir.encode()).hexdigest()[:8]}"


class _FirstBootDone(NullObserver):
    """systemd removes the first-boot flag once the boot transaction is done: later starts of
    ConditionFirstBoot= units see an ordinary boot."""

    def __init__(self, base: str = SYSTEMD_RUN) -> None:
        self.flag = os.path.join(base, "first-boot")

    def startup_finished(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.flag)


class _NoLoop:
    """--test loads and never runs anything: what the manager schedules is dropped (and asyncio,
    a tenth of --test's time, is not even imported)."""

    def call_soon(self, *args: object) -> None:
        return None


def run_test_mode(settings: ManagerSettings, target: str, dump: bool) -> int:
    m = Manager(settings, cast("asyncio.AbstractEventLoop", _NoLoop()))
    names = [target] if target else []
    names += sorted(m.loader.all_names()) if dump else []
    m.load_all(names)
    if dump:
        sys.stdout.write(dump_units(m))
    return 0


async def run_daemon(read_settings: Callable[[], ManagerSettings], args: argparse.Namespace) -> int:
    # The daemon's modules are imported here, not at the top: --test needs none of them.
    import asyncio

    from sysmasterd.core.cgroup import CGroups, detect
    from sysmasterd.core.store import StateStore

    loop = asyncio.get_running_loop()
    settings = read_settings()
    m = Manager(settings, loop)
    m.on_reload_settings = read_settings
    from sysmasterd.core import journal_log

    journal_log.install(m, logging.getLogger("sysmasterd"))
    if args.shared_runtime and settings.scope is Scope.SYSTEM:
        m.add_observer(_FirstBootDone())
    if args.shared_runtime:
        from sysmasterd.core.unit_export import UnitStateExport

        base = SYSTEMD_RUN if settings.scope is Scope.SYSTEM else os.path.join(
            settings.environ.get("XDG_RUNTIME_DIR", ""), "systemd")
        if os.path.isabs(base):
            m.state_export = UnitStateExport(os.path.join(base, "units"), log_settings=settings.scope is Scope.SYSTEM)
    # Services start in "/" (system) or the home directory (user) unless told otherwise: being
    # there already lets the posix_spawn() path start them without a chdir (see fastspawn).
    with contextlib.suppress(OSError):
        os.chdir("/" if settings.scope is Scope.SYSTEM else settings.environ.get("HOME", "/"))
    instance = cgroup_instance(settings.scope, settings.runtime_dir)
    face: BusFace | None = None
    if not args.no_bus:
        from sysmasterd.bus.service import BusFace

        # Built before anything runs: broken introspection data ends the start here, loudly.
        face = BusFace(m, settings.scope, args.bus_address)
    cgroups = CGroups(detect(None if settings.owns_cgroup_root else instance))
    os.makedirs(settings.runtime_dir, exist_ok=True)
    store = StateStore(os.path.join(settings.runtime_dir, "state.db"))
    if args.fresh:
        store.clear()
    notify_path = os.path.join(settings.runtime_dir, "notify")
    from sysmasterd.core.initlink import InitLink, open_notify_socket  # the daemon's, not --test's

    link = InitLink.from_environ(m, lambda: done.set())
    link.handshake()
    from sysmasterd.core.fdhandover import ExecFdHandover

    # Without init to keep them, our own fds carry the sockets and fd stores across a re-exec.
    handover = ExecFdHandover.from_environ(os.environ, m.settings.environ, m.environment)
    if not link.enabled:
        m.runtime.fd_holder = handover
    if link.enabled:
        # Under sysmaster-init a bug in a callback ends this core at once (crash-only): init starts
        # a new one, which recovers from the store, rather than this one going on in an unknown state.
        from sysmasterd.tasks import crash_on_loop_exception

        loop.set_exception_handler(crash_on_loop_exception(logging.getLogger("sysmasterd")))
    notify = open_notify_socket(link, notify_path, os.environ.pop(NOTIFY_FD_ENV, None))
    m.log.info("sysmasterd starting (%s scope, cgroup %s%s)", settings.scope.value, cgroups.root.mode,
               " " + cgroups.root.base if cgroups.enabled else "")
    done = asyncio.Event()
    exit_code = 0

    def request_exit() -> None:
        m.log.info("Stopping all units.")
        m.begin_shutdown(done.set)

    if not link.enabled:
        def stop_on_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            """Without init to start a new core, a bug that escaped a callback stops the units and
            ends this core with a failure (as a failed D-Bus face does), rather than it going on
            in a state it can no longer trust."""
            nonlocal exit_code
            loop.default_exception_handler(context)  # the traceback, at error level
            if exit_code == 0:
                exit_code = 1
                m.log.error("Unhandled exception in the event loop: stopping all units and exiting.")
                request_exit()

        loop.set_exception_handler(stop_on_loop_exception)

    reexec = False
    switch_to: tuple[str, str] | None = None

    def request_reexec() -> None:
        nonlocal reexec
        reexec = True
        done.set()

    def request_switch_root(root: str, init: str) -> None:
        nonlocal switch_to
        switch_to = (root, init)
        done.set()

    loop.add_signal_handler(signal.SIGTERM, request_exit)
    loop.add_signal_handler(signal.SIGINT, request_exit)
    loop.add_signal_handler(signal.SIGHUP, m.reload)
    m.on_exit_request = request_exit
    m.on_reexec_request = request_reexec
    if link.enabled:
        m.on_switch_root_request = request_switch_root
    # Last, so the SIGCHLD handler it installs is the one that quiets asyncio's wakeup pipe.
    m.attach_runtime(cgroups, store, notify)
    m.enumerate()
    restored = m.restore(link.pending_exits())
    m.transient.adopt_stdio()
    m.runtime.adopt_namespaces()
    if cgroups.enabled:
        cgroups.adopt_counters(m.units)
        for unit_id in {u.id for u in m.units.values()}:
            m.watch_oom(unit_id)
    from sysmasterd.core.cgroup import COUNTERS_PREFIX
    from sysmasterd.core.shared_ns import HOLDER_PREFIX as NAMESPACE_FDS
    from sysmasterd.core.transient import STDIO_PREFIX
    from sysmasterd.units.fdstore import FD_STORE_PREFIX as SERVICE_FDS
    from sysmasterd.units.socket import FD_STORE_PREFIX as SOCKET_FDS

    link.drop_unclaimed(SOCKET_FDS)
    link.drop_unclaimed(SERVICE_FDS)
    link.drop_unclaimed(STDIO_PREFIX)
    link.drop_unclaimed(NAMESPACE_FDS)
    link.drop_unclaimed(COUNTERS_PREFIX)
    handover.drop_unclaimed()
    # Children that exited while no handler was installed (across a re-exec) are reaped now.
    m.runtime.reap_now()
    link.attach()

    bus_task: asyncio.Task[None] | None = None
    if face is not None:
        from sysmasterd.tasks import supervised

        def bus_failed(exc: BaseException) -> None:
            """Without its D-Bus face the manager is unreachable: crash-only under init (a new core
            takes over), otherwise stop the units and exit with a failure."""
            nonlocal exit_code
            if link.enabled:
                os._exit(70)
            exit_code = 1
            request_exit()

        bus_task = supervised(face.run(), "D-Bus face", bus_failed)
    if restored:
        m.log.info("Recovered runtime state of %d units from the previous core.", restored)
        m.startup_finished_emitted = True
    else:
        m.start_default(args.unit or boot_unit(m, args))
    link.ready()
    sd_notify("READY=1\nSTATUS=Running")
    await done.wait()
    if bus_task is not None:
        bus_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await bus_task
    m.detach_runtime()
    link.detach()
    if switch_to is not None:
        # The units stay in the store for the core that init starts in the new root.
        m.flush_store()
        store.close()
        link.client.request_switch_root(*switch_to)
        if not link.client.drain(5.0):
            m.log.error("sysmaster-init did not take the root switch request.")
        return 0
    if reexec:
        m.log.info("Reexecuting.")
        store.close()
        os.environ.update(link.exec_environ())
        if not link.enabled:
            handover.pass_on(os.environ)
        reexec_in_place(notify.fileno())
    m.log.info("All units stopped, exiting.")
    store.clear()
    store.close()
    notify.close()
    cgroups.remove_base()
    return exit_code or m.exit_code


def reexec_in_place(notify_fd: int) -> None:
    """Exec ourselves with the same arguments; same PID, so services stay our children."""
    os.set_inheritable(notify_fd, True)
    os.environ[NOTIFY_FD_ENV] = str(notify_fd)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "sysmasterd.core.main", *sys.argv[1:]])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.dump and not args.test:
        print("sysmasterd: --dump requires --test", file=sys.stderr)
        return 2
    scope = Scope.USER if args.user else Scope.SYSTEM if (args.system or os.getuid() == 0) else Scope.USER
    corelog.setup(args.log_level or "info", args.log_target)
    service_nofile = None if args.test else _raise_fd_limit(scope)
    shared = args.shared_runtime = not args.test and (args.shared_runtime or args.runtime_dir is None)
    if shared and scope is Scope.SYSTEM:
        mark_system_manager()

    def settings() -> ManagerSettings:
        """The command line plus system.conf/user.conf, read now (at start and at daemon-reload)."""
        configured, problems = sysconf.load(scope, os.environ)
        level = configured.pop("log_level", None)
        if level and not args.log_level:
            corelog.set_level(level)
        for problem in problems:
            logging.getLogger("sysmasterd").warning("%s", problem)
        limits = {"NOFILE": service_nofile} if service_nofile else {}
        limits.update(configured.pop("default_limits", {}))
        if shared:  # before the units load, at start and at daemon-reload, as systemd runs them
            first_boot = os.path.exists(FIRST_BOOT_FLAG) if scope is Scope.SYSTEM else None
            generators.run_generators(scope, {**os.environ, **configured.get("default_environment", {})},
                                      first_boot=first_boot)
        return ManagerSettings(scope=scope, unit_path=unit_path_from(args),
                               runtime_dir=os.path.abspath(args.runtime_dir or default_runtime_dir(scope)),
                               environ=dict(os.environ), test_mode=args.test, default_limits=limits,
                               owns_cgroup_root=shared and args.runtime_dir is None, **configured)

    if args.test:
        return run_test_mode(settings(), args.unit or DEFAULT_TARGET, args.dump)
    _set_subreaper()
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    import asyncio

    try:
        return asyncio.run(run_daemon(settings, args))
    except KeyboardInterrupt:
        return 130
    except (OSError, InterfaceDataError) as e:
        logging.getLogger("sysmasterd").error("fatal: %s", e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
