"""The devmaster daemon: kernel uevents -> queue -> workers, control socket, reload, exit."""

import asyncio
import contextlib
import errno
import json
import logging
import os
import signal
import socket
from collections.abc import Callable

from sysmasterd.devmaster.config import Config, python_log_level
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import EventSettings
from sysmasterd.devmaster.framework import db, netlink, processing, watch
from sysmasterd.devmaster.framework.control import ControlServer
from sysmasterd.devmaster.framework.control_wire import ControlMessage, ControlType
from sysmasterd.devmaster.framework.message import MessageError, encode_udev
from sysmasterd.devmaster.framework.queue import EventQueue, QueuedEvent
from sysmasterd.devmaster.framework.worker import RESULT_AGAIN, WorkerHandle, spawn_worker
from sysmasterd.devmaster.rules.spawn import kill_group
from sysmasterd.memory import release_memory

log = logging.getLogger("devmaster")
IDLE_WORKER_TIMEOUT = 3.0
WATCHDOG_TICK = 0.5
# Beyond one worker per CPU, another is forked only when a running event has been busy this
# long: rule work is CPU-bound, and extra Python workers only pay fork and copy-on-write costs
# unless events block on PROGRAM/RUN.
STALL_BEFORE_GROWING = 0.1
# a second event is sent to a busy worker only while its current one is this young: most events
# take a fraction of a millisecond, and the worker then starts the next without waiting for the
# manager to hear back and answer (two wakeups per event, most of an event's latency here)
PIPELINE_WHILE_YOUNGER = 0.005
RETRY_INTERVAL = 0.2
RULES_CHECK_INTERVAL = 3.0
RETRY_TIMEOUT = 180.0
# syslog priorities: SET_LOG_LEVEL values with other bits set are ignored, as udevd does
LOG_PRIMASK = 0x07


def sd_notify(state: str) -> None:
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s, \
            contextlib.suppress(OSError):
        s.sendto(state.encode(), addr)


def _ready(program: processing.RuleProgram) -> Callable[[], processing.RuleProgram]:
    return lambda: program


class Manager:
    def __init__(self, config: Config, load_rules: Callable[[], processing.RuleProgram],
                 run_dir: str = db.RUN_UDEV,
                 compile_rules: Callable[[], Callable[[], processing.RuleProgram]] | None = None) -> None:
        """``compile_rules`` (for reloads) compiles without the old program's memory and returns
        what builds the new one once the old one is gone; by default ``load_rules`` does both."""
        self.config = config
        self.run_dir = run_dir
        self._compile_rules = compile_rules or (lambda: _ready(load_rules()))
        self.rules = load_rules()
        self.rules.prepare()
        self.queue = EventQueue()
        self.workers: dict[int, WorkerHandle] = {}
        self.extra_env: dict[str, str] = {}
        self.stop_exec = False
        self.exiting = False
        # per running event: the slow-event warning, then the kill at event_timeout
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._last_busy = 0.0
        self._started: dict[int, float] = {}
        self._retry_deadline: dict[int, float] = {}
        self._last_rules_check = 0.0
        self._grow_timer: asyncio.TimerHandle | None = None
        self._fast_workers = max(1, os.cpu_count() or 1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Future[None] | None = None
        self.inotify = watch.inotify_init()
        self.kernel = netlink.open_uevent_socket(netlink.GROUP_KERNEL)
        self.sender = netlink.open_uevent_socket(netlink.GROUP_NONE)
        self.control = ControlServer(os.path.join(run_dir, "control"), self._on_control, self._drain_kernel)

    # ---- settings handed to workers ----------------------------------------
    def settings(self) -> EventSettings:
        return EventSettings(
            event_timeout=self.config.event_timeout,
            timeout_signal=self.config.timeout_signal,
            exec_delay=self.config.exec_delay,
            blockdev_read_only=self.config.blockdev_read_only,
            run_dir=self.run_dir,
            inotify_fd=self.inotify,
        )

    # ---- lifecycle ----------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._done = loop.create_future()
        os.makedirs(self.run_dir, mode=0o755, exist_ok=True)
        self.rules.apply_static_nodes(self.run_dir)
        watch.restore(self.inotify, self.run_dir)
        loop.add_reader(self.kernel.fileno(), self._drain_kernel)
        loop.add_reader(self.inotify, self._on_inotify)
        self.control.listen(loop)
        self._last_busy = loop.time()
        loop.call_soon(self._watchdog)
        # the coldplug that follows a start should not wait for forks
        for _ in range(min(self._fast_workers, self.config.children_max)):
            self._spawn()
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        loop.add_signal_handler(signal.SIGTERM, self.exit)
        loop.add_signal_handler(signal.SIGINT, self.exit)
        sd_notify(f"READY=1\nSTATUS=Processing with 0 children at max {self.config.children_max}")
        log.info("devmaster ready (children_max=%d)", self.config.children_max)
        await self._done
        self.control.close(loop)
        loop.remove_reader(self.kernel.fileno())
        self.kernel.close()

    def exit(self) -> None:
        if self.exiting:
            return
        log.info("devmaster exiting")
        sd_notify("STOPPING=1")
        self.exiting = True
        self.queue.drop_queued()
        for worker in self.workers.values():
            self._kill(worker, signal.SIGTERM)
        self._update_queue_file()
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self.exiting and not self.workers and self._done is not None and not self._done.done():
            self._done.set_result(None)

    def reload(self) -> None:
        sd_notify("RELOADING=1")
        try:
            build = self._compile_rules()
        except Exception as e:
            log.error("Failed to read udev rules, using the previously loaded rules: %s", e)
        else:
            # The old program goes first: built beside it, the new one would settle into the holes
            # it leaves and keep them from going back to the kernel. No event runs in between.
            del self.rules
            release_memory()
            self.rules = build()
            self.rules.prepare()
            release_memory()
            log.info("rules reloaded")
        self._retire_workers()
        sd_notify("READY=1")

    def _retire_workers(self) -> None:
        """Workers carry the rules they were forked with: idle ones go now, busy ones after."""
        for worker in list(self.workers.values()):
            if worker.seqnum is None:
                self._kill(worker, signal.SIGTERM)
            else:
                worker.killing = True

    # ---- kernel events ------------------------------------------------------
    def _drain_kernel(self) -> None:
        while True:
            try:
                received = netlink.receive(self.kernel, netlink.GROUP_KERNEL)
            except (BlockingIOError, InterruptedError):
                break
            except MessageError as e:
                log.warning("invalid uevent dropped: %s", e)
                continue
            except OSError as e:
                log.error("failed to receive uevent: %s", e)
                break
            self._enqueue(received.properties)
        self._schedule()

    def _enqueue(self, props: dict[str, str]) -> None:
        if self.exiting:
            return
        dev = Device.from_uevent(props)
        event = QueuedEvent(
            seqnum=dev.seqnum,
            properties=props,
            device_id=dev.device_id,
            devpath=dev.devpath,
            devpath_old=props.get("DEVPATH_OLD"),
            devnode=dev.devname if dev.devnum else None,
        )
        try:
            self.queue.push(event)
        except ValueError as e:
            log.warning("%s, ignoring", e)
            return
        if len(self.queue) == 1:
            self._update_queue_file()
            self._reload_if_changed()

    def _reload_if_changed(self) -> None:
        """Like udevd: when work starts, pick up edited rules (checked at most every few seconds)."""
        assert self._loop is not None
        now = self._loop.time()
        if now - self._last_rules_check < RULES_CHECK_INTERVAL:
            return
        self._last_rules_check = now
        if self.rules.changed():
            log.info("rules changed on disk, reloading")
            self.reload()

    def _update_queue_file(self) -> None:
        path = os.path.join(self.run_dir, "queue")
        if len(self.queue) and not self.exiting:
            with open(path, "a"):
                pass
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _on_inotify(self) -> None:
        for wd, mask in watch.read_events(self.inotify):
            if mask & watch.IN_IGNORED:
                watch.forget(wd, self.run_dir)
            elif mask & watch.IN_CLOSE_WRITE:
                device_id = watch.device_of(wd, self.run_dir)
                if device_id is not None:
                    watch.synthesize_change(device_id)

    # ---- scheduling ---------------------------------------------------------
    def _worker_fds(self) -> list[int]:
        fds = [self.kernel.fileno(), self.sender.fileno(), *self.control.fds()]
        for w in self.workers.values():
            fds += [w.sock.fileno(), w.pidfd]
        return fds

    def _close_inherited(self) -> None:
        for fd in self._worker_fds():
            with contextlib.suppress(OSError):
                os.close(fd)

    def _idle_worker(self) -> WorkerHandle | None:
        for worker in self.workers.values():
            if worker.seqnum is None and not worker.killing and not worker.killed:
                return worker
        if len(self.workers) >= self.config.children_max:
            return None
        if len(self.workers) >= self._fast_workers and not self._stalled():
            self._retry_growth()
            return None
        return self._spawn()

    def _spawn(self) -> WorkerHandle:
        worker = spawn_worker(self.rules, self.settings, self._close_inherited)
        self.workers[worker.pid] = worker
        assert self._loop is not None
        self._loop.add_reader(worker.sock.fileno(), self._on_worker_message, worker)
        self._loop.add_reader(worker.pidfd, self._on_worker_exit, worker)
        log.debug("worker [%d] started", worker.pid)
        return worker

    def _stalled(self) -> bool:
        assert self._loop is not None
        now = self._loop.time()
        return any(now - t >= STALL_BEFORE_GROWING for t in self._started.values())

    def _retry_growth(self) -> None:
        if self._grow_timer is None:
            assert self._loop is not None
            self._grow_timer = self._loop.call_later(STALL_BEFORE_GROWING, self._grow)

    def _grow(self) -> None:
        self._grow_timer = None
        self._schedule()

    def _schedule(self) -> None:
        if self.stop_exec or self.exiting:
            return
        while self.queue.has_ready():
            worker = self._idle_worker() or self._pipeline_worker()
            if worker is None:
                break
            event = self.queue.pop_ready()
            assert event is not None
            self._dispatch(worker, event)

    def _pipeline_worker(self) -> WorkerHandle | None:
        assert self._loop is not None
        now = self._loop.time()
        for worker in self.workers.values():
            if worker.seqnum is not None and not worker.queued and not worker.killing and not worker.killed \
                    and now - self._started.get(worker.seqnum, now) < PIPELINE_WHILE_YOUNGER:
                return worker
        return None

    def _dispatch(self, worker: WorkerHandle, event: QueuedEvent) -> None:
        msg = {"seqnum": event.seqnum, "properties": event.properties, "env": self.extra_env}
        if worker.seqnum is None:
            worker.seqnum = event.seqnum
            self._start_clock(worker, event.seqnum)
        else:
            worker.queued.append(event.seqnum)
        try:
            worker.sock.send(json.dumps(msg).encode())
        except OSError as e:
            # its exit finishes the event as failed (see _on_worker_exit)
            log.error("worker [%d]: failed to send event: %s", worker.pid, e)
            self._kill(worker, signal.SIGKILL)

    def _start_clock(self, worker: WorkerHandle, seqnum: int) -> None:
        assert self._loop is not None
        self._started[seqnum] = self._loop.time()
        # as udevd: a warning at a third of event_timeout, the kill at event_timeout
        self._timers[seqnum] = self._loop.call_later(self.config.event_timeout / 3, self._slow_event,
                                                     worker, seqnum)

    def _slow_event(self, worker: WorkerHandle, seqnum: int) -> None:
        assert self._loop is not None
        if worker.seqnum != seqnum:
            return
        log.warning("Worker [%d] processing SEQNUM=%d is taking a long time", worker.pid, seqnum)
        left = self.config.event_timeout - (self._loop.time() - self._started.get(seqnum, self._loop.time()))
        self._timers[seqnum] = self._loop.call_later(max(0.0, left), self._event_timed_out, worker, seqnum)

    def _event_timed_out(self, worker: WorkerHandle, seqnum: int) -> None:
        self._timers.pop(seqnum, None)
        if worker.seqnum == seqnum and not worker.killed:
            log.error("Worker [%d] processing SEQNUM=%d killed", worker.pid, seqnum)
            self._kill(worker, self.config.timeout_signal)

    def _stop_clock(self, seqnum: int) -> None:
        self._started.pop(seqnum, None)
        timer = self._timers.pop(seqnum, None)
        if timer is not None:
            timer.cancel()

    def _watchdog(self) -> None:
        """Once per tick: reap workers idle for IDLE_WORKER_TIMEOUT."""
        assert self._loop is not None
        now = self._loop.time()
        if len(self.queue):
            self._last_busy = now
        elif now - self._last_busy >= IDLE_WORKER_TIMEOUT:
            for worker in list(self.workers.values()):
                if worker.seqnum is None and not worker.killed:
                    self._kill(worker, signal.SIGTERM)
        self._loop.call_later(WATCHDOG_TICK, self._watchdog)

    def _kill(self, worker: WorkerHandle, sig: int) -> None:
        worker.killed = True
        _kill_programs(worker.pid, sig)
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, sig)
            os.kill(worker.pid, signal.SIGCONT)

    def _finish(self, seqnum: int) -> None:
        self._stop_clock(seqnum)
        self._retry_deadline.pop(seqnum, None)
        if seqnum in self.queue:
            self.queue.finish(seqnum)
        if not len(self.queue):
            self._update_queue_file()

    def _on_worker_message(self, worker: WorkerHandle) -> None:
        try:
            data = worker.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            assert self._loop is not None
            self._loop.remove_reader(worker.sock.fileno())
            return
        reply = json.loads(data)
        seqnum = reply["seqnum"]
        worker.seqnum = worker.queued.pop(0) if worker.queued else None
        if worker.seqnum is not None:
            self._start_clock(worker, worker.seqnum)
        if reply["result"] != RESULT_AGAIN or not self._requeue(seqnum):
            self._finish(seqnum)
        if worker.killing and not worker.killed and worker.seqnum is None:
            self._kill(worker, signal.SIGTERM)
        self._schedule()

    def _requeue(self, seqnum: int) -> bool:
        """Try a locked block device's event again shortly, for at most RETRY_TIMEOUT."""
        assert self._loop is not None
        now = self._loop.time()
        first = self._retry_deadline.setdefault(seqnum, now + RETRY_TIMEOUT)
        if now >= first:
            log.warning("The underlying block device is locked by a process more than %ds, skipping event "
                        "(SEQNUM=%d)", int(RETRY_TIMEOUT), seqnum)
            event = self.queue.get(seqnum)
            props = processing.failure_properties(event.properties, errno_number=errno.ETIMEDOUT)
            netlink.broadcast(self.sender, encode_udev(props, ()))
            return False
        self._stop_clock(seqnum)
        self.queue.requeue(seqnum)
        self._loop.call_later(RETRY_INTERVAL, self._retry, seqnum)
        return True

    def _retry(self, seqnum: int) -> None:
        self.queue.make_ready(seqnum)
        self._schedule()

    def _on_worker_exit(self, worker: WorkerHandle) -> None:
        assert self._loop is not None
        self._loop.remove_reader(worker.pidfd)
        with contextlib.suppress(OSError):
            self._loop.remove_reader(worker.sock.fileno())
        _, status = os.waitpid(worker.pid, 0)
        os.close(worker.pidfd)
        worker.sock.close()
        del self.workers[worker.pid]
        if worker.seqnum is not None:
            self._worker_failed(worker.seqnum, status)
        for seqnum in worker.queued:
            # sent but never started: another worker runs it
            self.queue.requeue(seqnum)
            self.queue.make_ready(seqnum)
        self._schedule()
        self._maybe_done()

    def _worker_failed(self, seqnum: int, status: int) -> None:
        if seqnum in self.queue:
            event = self.queue.get(seqnum)
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                log.warning("Worker terminated by signal %d (%s)", sig, signal.Signals(sig).name)
                props = processing.failure_properties(event.properties, signal_number=sig)
            else:
                code = os.waitstatus_to_exitcode(status)
                log.warning("Worker exited with return code %d", code)
                props = processing.failure_properties(event.properties, exit_status=code)
            db.delete_db(event.device_id, self.run_dir)
            netlink.broadcast(self.sender, encode_udev(props, ()))
        self._finish(seqnum)

    # ---- control socket -----------------------------------------------------
    def _on_control(self, msg: ControlMessage) -> None:
        kind = msg.type
        if kind == ControlType.SET_LOG_LEVEL:
            if msg.intval & ~LOG_PRIMASK:  # as udevd: only syslog priorities 0..7
                log.debug("Received invalid udev control message (SET_LOG_LEVEL, %d), ignoring.", msg.intval)
                return
            log.debug("Received udev control message (SET_LOG_LEVEL), setting log_level=%d", msg.intval)
            if msg.intval == self.config.log_level:
                return
            self.config.log_level = msg.intval
            logging.getLogger().setLevel(python_log_level(msg.intval))
            self._retire_workers()
        elif kind == ControlType.STOP_EXEC_QUEUE:
            log.debug("Received udev control message (STOP_EXEC_QUEUE)")
            self.stop_exec = True
        elif kind == ControlType.START_EXEC_QUEUE:
            log.debug("Received udev control message (START_EXEC_QUEUE)")
            self.stop_exec = False
            self._schedule()
        elif kind == ControlType.RELOAD:
            log.debug("Received udev control message (RELOAD)")
            self.reload()
        elif kind == ControlType.SET_ENV:
            key, sep, value = msg.text.partition("=")
            if not sep:
                log.error("Invalid key format '%s'", msg.text)
                return
            if value:
                log.debug("Received udev control message (ENV), setting '%s=%s'", key, value)
            else:
                log.debug("Received udev control message (ENV), unsetting '%s'", key)
            self.extra_env[key] = value
            self._retire_workers()
        elif kind == ControlType.SET_CHILDREN_MAX:
            if msg.intval <= 0:
                log.debug("Received invalid udev control message (SET_MAX_CHILDREN, %d), ignoring.", msg.intval)
                return
            log.debug("Received udev control message (SET_MAX_CHILDREN), setting children_max=%d", msg.intval)
            self.config.children_max = msg.intval
            sd_notify(f"STATUS=Processing with 0 children at max {msg.intval}")
            self._schedule()
        elif kind == ControlType.PING:
            log.debug("Received udev control message (PING)")
        elif kind == ControlType.EXIT:
            log.debug("Received udev control message (EXIT)")
            self.exit()
        else:
            log.debug("Received unknown udev control message, ignoring")


def _kill_programs(worker_pid: int, sig: int) -> None:
    """The PROGRAM/RUN a worker runs lives in a process group of its own (rules.spawn): a worker
    killed for its event's timeout takes that whole group with it, not only the program it forked
    (which its death signal would end, leaving what the program started to init)."""
    import psutil  # only on a timeout: not worth its import time at every start

    try:
        children = psutil.Process(worker_pid).children()
    except psutil.Error:
        return
    for child in children:
        with contextlib.suppress(OSError):
            if os.getpgid(child.pid) == child.pid:
                kill_group(child.pid, sig)
