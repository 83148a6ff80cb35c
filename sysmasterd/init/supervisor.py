"""The init loop: start and watch core, reap everything, keep fds, shut down. No asyncio.

One thread, one selector over two fds (the signal wake-up pipe and core's channel) and a list of
deadlines. Signals: SIGCHLD reap; SIGUSR1 re-exec init in place; the others as systemd(1) lists
them for PID 1 (SIGNAL_ACTIONS go to core, IMMEDIATE_SIGNALS shut down at once).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import traceback

from sysmasterd.init import protocol, switchroot, system
from sysmasterd.init.config import InitConfig
from sysmasterd.init.log import log
from sysmasterd.init.protocol import ChildExit
from sysmasterd.init.state import CoreProcess, InitState, write_memfd

MAX_PENDING_EXITS = 4096
SWITCH_ROOT_CORE_WAIT = 10.0  # how long a core that asked to switch root may take to leave
MAX_STORED_FDS = 1024
FINAL_KILL_WAIT = 5.0
# systemd(1)'s table: what PID 1 asks the manager to do on a signal ...
SIGNAL_ACTIONS: dict[int, str] = {
    signal.SIGTERM: "reexec",
    signal.SIGINT: "ctrl-alt-del",
    signal.SIGRTMIN + 0: "default",
    signal.SIGRTMIN + 1: "rescue",
    signal.SIGRTMIN + 2: "emergency",
    signal.SIGRTMIN + 3: "halt",
    signal.SIGRTMIN + 4: "poweroff",
    signal.SIGRTMIN + 5: "reboot",
    signal.SIGRTMIN + 6: "kexec",
}
# ... and what it does at once, without stopping units first.
IMMEDIATE_SIGNALS: dict[int, str] = {
    signal.SIGRTMIN + 13: "halt",
    signal.SIGRTMIN + 14: "poweroff",
    signal.SIGRTMIN + 15: "reboot",
    signal.SIGRTMIN + 16: "kexec",
}
HANDLED_SIGNALS = {signal.SIGCHLD, signal.SIGUSR1, *SIGNAL_ACTIONS, *IMMEDIATE_SIGNALS}
IGNORED_SIGNALS = (signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE, signal.SIGUSR2, signal.SIGTSTP,
                   signal.SIGTTIN, signal.SIGTTOU)
# Children start with every disposition at default, whatever init ignores or handles.
CHILD_DEFAULT_SIGNALS = signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}


def describe_status(status: int) -> tuple[str, int]:
    """Raw wait status -> (CLD code name, exit status or signal number)."""
    if os.WIFEXITED(status):
        return "exited", os.WEXITSTATUS(status)
    if os.WCOREDUMP(status):
        return "dumped", os.WTERMSIG(status)
    return "killed", os.WTERMSIG(status)


def spawn(argv: list[str], env: dict[str, str], *, setsid: bool = False) -> int:
    run = os.posix_spawn if "/" in argv[0] else os.posix_spawnp
    return run(argv[0], argv, env, setsigmask=(), setsigdef=CHILD_DEFAULT_SIGNALS, setsid=setsid)


class Init:
    def __init__(self, config: InitConfig, state: InitState) -> None:
        self.config = config
        self.st = state
        self.sel = selectors.DefaultSelector()
        self.sock: socket.socket | None = None
        self.shutdown_kind: str | None = None
        self.shutdown_phase = ""  # "stopping" (core stops units), "term", "kill"
        self.shutdown_deadline = 0.0
        self.switch_to: tuple[str, str] | None = None  # (root, init) once core asked for it
        self.switch_deadline = 0.0
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake_r, self.wake_w = wake_r, wake_w
        self.sel.register(wake_r, selectors.EVENT_READ, self._on_signals)
        for fd in state.fds():
            os.set_inheritable(fd, False)
        if state.core is not None and state.core.fd >= 0:
            self._attach(socket.socket(fileno=state.core.fd))
            self._flush()  # what the old image had not sent yet

    # -- signals ---------------------------------------------------------------------------

    def install_signals(self) -> None:
        for ignored in IGNORED_SIGNALS:
            signal.signal(ignored, signal.SIG_IGN)
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, lambda _sig, _frame: None)  # the wake-up fd carries the number
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)

    def _on_signals(self, _mask: int) -> None:
        try:
            data = os.read(self.wake_r, 4096)
        except BlockingIOError:
            return
        self.reap()  # whether or not SIGCHLD is among them: one lost to a full pipe costs nothing
        for signum in dict.fromkeys(data):  # once per kind is enough
            if signum in IMMEDIATE_SIGNALS:
                self.begin_shutdown(IMMEDIATE_SIGNALS[signum], from_core=True)
            elif signum in SIGNAL_ACTIONS:
                self.act(SIGNAL_ACTIONS[signum])
        if signal.SIGUSR1 in data:
            self.reexec()  # last: the rest of this batch would not survive the exec

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> int:
        """Runs until shutdown; returns an exit status only when not PID 1."""
        self.reap()
        while True:
            try:
                result = self._step()
            except Exception:  # a bug in one step must not take PID 1 down
                log("internal error, carrying on:\n" + traceback.format_exc().rstrip())
                time.sleep(0.1)
                continue
            if result is not None:
                return result

    def _step(self) -> int | None:
        result = self._tick(time.monotonic())
        if result is not None:
            return result
        deadline = self._next_deadline()
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        for key, mask in self.sel.select(timeout):
            key.data(mask)
        return None

    def _hang_deadline(self) -> float | None:
        core = self.st.core
        if core is None or core.killed or self.config.heartbeat_interval <= 0:
            return None
        if core.last_seen is None:
            return core.started + self.config.start_timeout
        return core.last_seen + self.config.hang_after

    def _next_deadline(self) -> float | None:
        if self.shutdown_phase:
            return self.shutdown_deadline
        candidates = [self._hang_deadline(), self.switch_deadline if self.switch_to else None]
        if self.st.core is None:
            candidates.append(self.st.next_start)
        return min((c for c in candidates if c is not None), default=None)

    def _tick(self, now: float) -> int | None:
        if self.shutdown_phase:
            return self._shutdown_tick(now)
        hang = self._hang_deadline()
        if hang is not None and now >= hang:
            self._read_core()  # after a stall of init itself, its heartbeats may be queued unread
            hang = self._hang_deadline()
        core = self.st.core
        if core is not None and self.switch_to and now >= self.switch_deadline and not core.killed:
            log(f"core (pid {core.pid}) did not leave for the root switch: killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(core.pid, signal.SIGKILL)
            core.killed = True
        if core is not None and hang is not None and now >= hang:
            log(f"core (pid {core.pid}) missed its heartbeats: killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(core.pid, signal.SIGKILL)
            core.killed = True
        if core is None and self.st.next_start is not None and now >= self.st.next_start:
            self.start_core()
        return None

    # -- core ------------------------------------------------------------------------------

    def core_argv(self) -> list[str]:
        return [self.config.binary, *(self.st.core_args or self.config.args)]

    def start_core(self) -> None:
        self.st.next_start = None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ)
        env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        env[protocol.ENV_SOCKET] = str(theirs.fileno())
        if self.config.heartbeat_interval > 0:
            env[protocol.ENV_HEARTBEAT] = str(self.config.heartbeat_interval)
        theirs.set_inheritable(True)
        argv = self.core_argv()
        try:
            pid = spawn(argv, env)
        except OSError as e:
            log(f"cannot start core {argv[0]}: {e}")
            ours.close()
            self._core_failed()
            return
        finally:
            theirs.close()
        self.st.starts += 1
        self.st.core = CoreProcess(pid=pid, fd=ours.fileno(), started=time.monotonic())
        log(f"started core (pid {pid}, start {self.st.starts}): {' '.join(argv)}")
        self._attach(ours)

    def _attach(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.sel.register(sock, selectors.EVENT_READ, self._on_core_io)

    def _detach(self) -> None:
        if self.sock is not None:
            self.sel.unregister(self.sock)
            self.sock.close()
            self.sock = None
        if self.st.core is not None:
            self.st.core.fd = -1
        self.st.outbox.clear()

    def _core_exited(self, status: int) -> None:
        core = self.st.core
        assert core is not None
        self.st.core = None
        self._read_core()  # what it said before dying (stored fds, acks) still counts
        self._detach()
        code, value = describe_status(status)
        log(f"core (pid {core.pid}) {code} with {'status' if code == 'exited' else 'signal'} {value}")
        if self.shutdown_phase == "stopping":
            self._start_killing()
        elif self.switch_to is not None:
            self._switch_root(*self.switch_to)
        elif not self.shutdown_phase:
            self._core_failed()

    def _core_failed(self) -> None:
        st, cfg = self.st, self.config
        st.failures += 1
        now = time.monotonic()
        if st.failures <= cfg.restart_tries:
            # The first death is likely a one-off and every moment without core counts: restart
            # at once; back off only when it keeps failing.
            delay = 0.0 if st.failures == 1 else min(cfg.restart_backoff * 2 ** (st.failures - 2),
                                                     cfg.restart_backoff_max)
            st.next_start = now + delay
            log(f"restarting core in {delay:.3g}s (failure {st.failures} of {cfg.restart_tries})")
            return
        st.next_start = now + cfg.emergency_retry
        if not st.emergency:
            st.emergency = True
            log(f"core failed {st.failures} times: emergency mode, retrying every "
                f"{cfg.emergency_retry:g}s")
            self._start_shell()

    def _start_shell(self) -> None:
        if not self.config.emergency_shell or self.st.shell_pid is not None:
            return
        try:
            self.st.shell_pid = spawn(list(self.config.emergency_shell), dict(os.environ), setsid=True)
        except OSError as e:
            log(f"cannot start emergency shell: {e}")

    # -- core's messages -------------------------------------------------------------------

    def _on_core_io(self, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush()
        if mask & selectors.EVENT_READ:
            self._read_core()

    def _read_core(self) -> None:
        while self.sock is not None:
            try:
                got = protocol.receive(self.sock)
            except BlockingIOError:
                return
            except OSError:
                got = None
            if got is None:
                if self.st.core is not None and not self.shutdown_phase:  # at shutdown it is the end
                    log("core closed its channel to init while still running")
                self._detach()
                return
            if self.st.core is not None:
                self.st.core.last_seen = time.monotonic()
            packet, fds = got
            try:
                msg = protocol.decode(packet, fds)
            except protocol.ProtocolError as e:
                protocol.close_fds(fds)
                self._reply_error(f"bad message: {e}")
                continue
            self._handle(msg)

    def _handle(self, msg: protocol.Message) -> None:
        st = self.st
        if isinstance(msg, protocol.Heartbeat):
            return
        if isinstance(msg, protocol.Connect):
            self._connect(msg.version)
        elif isinstance(msg, protocol.Ready):
            if st.core is not None:
                st.core.ready = True
            if st.emergency:
                log("core is ready: leaving emergency mode")
            st.failures, st.emergency = 0, False
        elif isinstance(msg, protocol.StoreFds):
            self._store(msg.name, msg.fds)
        elif isinstance(msg, protocol.RemoveFds):
            protocol.close_fds(st.store.pop(msg.name, []))
        elif isinstance(msg, protocol.Ack):
            for seq in [s for s in st.exits if s <= msg.seq]:
                del st.exits[seq]
        elif isinstance(msg, protocol.ShutdownRequest):
            if msg.kind in protocol.SHUTDOWN_KINDS:
                self.begin_shutdown(msg.kind, from_core=True)
            else:
                self._reply_error(f"unknown shutdown kind {msg.kind!r}")
        elif isinstance(msg, protocol.SwitchRootRequest):
            if self.shutdown_phase:
                self._reply_error("shutting down: no root switch")
            else:
                log(f"switching root to {msg.root} requested by core")
                self.switch_to = (msg.root, msg.init)
                self.switch_deadline = time.monotonic() + SWITCH_ROOT_CORE_WAIT
        else:
            protocol.close_fds(getattr(msg, "fds", []))
            self._reply_error(f"{type(msg).__name__} is not a request")

    def _connect(self, version: int) -> None:
        if version != protocol.VERSION:
            log(f"core speaks protocol version {version}, init {protocol.VERSION}: trying anyway")
        if self.st.core is not None:
            self.st.core.connected = True
        # Everything again, also to a core that re-executed itself: it may have dropped its fds.
        kept = [ref for ref in self.st.outbox if ref[0] in ("stop", "error")]
        self.st.outbox = [("hello",), *(("fds", n) for n in self.st.store),
                          *(("exit", str(seq)) for seq in self.st.exits), *kept]
        self._flush()

    def _store(self, name: str, fds: list[int]) -> None:
        held = sum(len(v) for k, v in self.st.store.items() if k != name)
        if not name or len(name) > 255 or held + len(fds) > MAX_STORED_FDS:
            protocol.close_fds(fds)
            self._reply_error(f"cannot store fds under {name!r}: bad name or over {MAX_STORED_FDS} fds")
            return
        protocol.close_fds(self.st.store.pop(name, []))
        self.st.store[name] = fds

    def _reply_error(self, text: str) -> None:
        log(text)
        self._queue(("error", text))

    # -- sending to core -------------------------------------------------------------------

    def _queue(self, ref: tuple[str, ...]) -> None:
        if self.sock is not None:
            self.st.outbox.append(ref)
            self._flush()

    def _resolve(self, ref: tuple[str, ...]) -> protocol.Message | None:
        kind, *args = ref
        st = self.st
        if kind == "hello":
            return protocol.Hello(protocol.VERSION, os.getpid(), st.starts, list(st.store))
        if kind == "fds":
            fds = st.store.get(args[0])
            return protocol.StoredFds(args[0], fds) if fds is not None else None
        if kind == "exit":
            return st.exits.get(int(args[0]))
        if kind == "act":
            return protocol.ActionRequest(args[0])
        return protocol.InitError(args[0])

    def _flush(self) -> None:
        outbox = self.st.outbox
        while self.sock is not None and outbox:
            msg = self._resolve(outbox[0])
            try:
                if msg is not None:
                    protocol.send(self.sock, msg)
            except BlockingIOError:
                self.sel.modify(self.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, self._on_core_io)
                return
            except OSError:
                outbox.clear()  # core is going away; unacked exits are kept for the next one
                break
            outbox.pop(0)
        if self.sock is not None:
            self.sel.modify(self.sock, selectors.EVENT_READ, self._on_core_io)

    # -- reaping ---------------------------------------------------------------------------

    def reap(self) -> bool:
        """Reap every zombie; False when init has no children left at all."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return True
            if self.st.core is not None and pid == self.st.core.pid:
                self._core_exited(status)
            elif pid == self.st.shell_pid:
                self.st.shell_pid = None
                log("emergency shell exited: trying core again")
                if self.st.core is None and not self.shutdown_phase:
                    self.st.next_start = time.monotonic()
            elif self.shutdown_phase not in ("term", "kill"):
                self._record_exit(pid, status)

    def _record_exit(self, pid: int, status: int) -> None:
        st = self.st
        code, value = describe_status(status)
        report = ChildExit(st.next_seq, pid, code, value, time.time_ns() // 1000)
        st.next_seq += 1
        st.exits[report.seq] = report
        if len(st.exits) > MAX_PENDING_EXITS:
            dropped = next(iter(st.exits))
            del st.exits[dropped]
            log(f"too many unacknowledged exit reports: dropped #{dropped}")
        if st.core is not None and st.core.connected:
            self._queue(("exit", str(report.seq)))

    # -- shutdown --------------------------------------------------------------------------

    def act(self, action: str) -> None:
        """Hand a signal's action to core; a shutdown also starts init's own deadline for it."""
        if action in protocol.SHUTDOWN_KINDS:
            self.begin_shutdown(action, from_core=False)
        elif self.sock is not None:
            log(f"{action} requested by signal")
            self._queue(("act", action))
        else:
            log(f"{action} requested by signal, but no core runs: ignored")

    def begin_shutdown(self, kind: str, *, from_core: bool) -> None:
        if self.shutdown_phase == "stopping" and from_core:
            self.shutdown_kind = kind
            self._start_killing()
            return
        if self.shutdown_phase:
            return
        self.shutdown_kind = kind
        log(f"{kind} requested by {'core' if from_core else 'signal'}")
        if not from_core and self.sock is not None:
            self.shutdown_phase = "stopping"
            self.shutdown_deadline = time.monotonic() + self.config.shutdown_timeout
            self._queue(("act", kind))
        else:
            self._start_killing()

    def _start_killing(self) -> None:
        self.shutdown_phase = "term"
        self.shutdown_deadline = time.monotonic() + self.config.kill_timeout
        log("sending SIGTERM to all processes")
        system.kill_all(signal.SIGTERM)
        system.kill_all(signal.SIGCONT)  # a stopped process cannot act on SIGTERM

    def _shutdown_tick(self, now: float) -> int | None:
        if self.shutdown_phase == "stopping":
            if now >= self.shutdown_deadline:
                log("core did not stop the units in time")
                self._start_killing()
            return None
        if not self.reap():
            return self._finish()  # no process left
        if now < self.shutdown_deadline:
            return None
        if self.shutdown_phase == "term":
            log("sending SIGKILL to all processes")
            system.kill_all(signal.SIGKILL)
            self.shutdown_phase = "kill"
            self.shutdown_deadline = now + FINAL_KILL_WAIT
            return None
        log("some processes survived SIGKILL")
        return self._finish()

    def _finish(self) -> int:
        kind = self.shutdown_kind or "poweroff"
        for fds in self.st.store.values():
            protocol.close_fds(fds)
        os.sync()
        if not system.is_pid1():
            log(f"{kind}: done (not PID 1, exiting)")
            return 0
        machine = system.is_machine_init()
        if machine:
            system.unmount_all()
        log(f"{kind}: calling reboot(2)")
        try:
            system.reboot(kind)
        except OSError as e:
            log(str(e))
        if not machine:
            return 0  # e.g. no CAP_SYS_BOOT in a container: PID 1 exiting ends the namespace too
        while True:  # the machine's PID 1 must not exit (a kernel panic), even when reboot(2) failed
            signal.pause()

    # -- re-exec ---------------------------------------------------------------------------

    def reexec(self) -> None:
        """Replace init's image with a fresh one of the same program, keeping children and state."""
        if self.shutdown_phase:
            log("re-exec ignored during shutdown")
            return
        self._read_core()
        self._exec_self()

    def _exec_self(self) -> None:
        """Exec a new image of init with this state; returns if that cannot be done."""
        memfd = write_memfd(self.st)
        module = [sys.executable, "-m", "sysmasterd.init.main"]
        try:
            # A new image that cannot start or read this state would leave no working PID 1:
            # let it try both in a child first.
            subprocess.run([*module, "--check", "--deserialize", str(memfd)], pass_fds=(memfd,),
                           timeout=10, check=True, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as e:
            log(f"not re-executing, the new image fails its check: {e}")
            os.close(memfd)
            return
        kept = [*self.st.fds(), memfd]
        log("re-executing")
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)  # pending until the new image is set
        try:
            for fd in kept:
                os.set_inheritable(fd, True)
            os.execv(sys.executable, [*module, "--deserialize", str(memfd)])
        except OSError as e:
            log(f"re-exec failed, carrying on: {e}")
            for fd in kept:
                os.set_inheritable(fd, False)
            os.close(memfd)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)

    # -- switch root -----------------------------------------------------------------------

    def _switch_root(self, root: str, init: str) -> None:
        """Core is gone and its state stored: move to the new root and exec init there (this
        program with its state and a new core when ``init`` is empty), as systemd 252 does."""
        self.switch_to = None
        # What the old root still runs is done; like systemd, do not wait for it (the new image
        # reaps it and reports the exits to the new core).
        system.kill_all(signal.SIGTERM)
        try:
            switchroot.switch_root(root)
        except OSError as e:
            log(f"failed to switch root, trying to continue: {e}")
        self.st.next_start, self.st.failures = 0.0, 0
        if not init:
            self._exec_self()
        for path in (init, "/sbin/init"):
            if path:
                self._exec_foreign(path, [path, *sys.argv[1:]])
        self._exec_foreign("/bin/sh", ["/bin/sh"])
        log("no init to execute in the new root: carrying on as before")

    def _exec_foreign(self, path: str, argv: list[str]) -> None:
        """Exec another init, with the signal state a program expects at start; returns on failure."""
        log(f"executing {path}")
        signal.set_wakeup_fd(-1)
        for ignored in IGNORED_SIGNALS:
            signal.signal(ignored, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        try:
            os.execv(path, argv)
        except OSError as e:
            log(f"cannot execute {path}: {e}")
        self.install_signals()
