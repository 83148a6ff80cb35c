"""Worker processes: forked from the manager with the rules already loaded.

The manager sends one event at a time over a SOCK_SEQPACKET pair (JSON), the
worker runs rules and RUN, writes the db, broadcasts to libudev listeners and
answers with the result. A worker that dies mid-event is the manager's to
clean up after.
"""

import errno
import gc
import json
import logging
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from sysmasterd.devmaster.event import EventSettings
from sysmasterd.devmaster.framework import netlink, processing
from sysmasterd.devmaster.framework.message import encode_udev

log = logging.getLogger("devmaster")
MAX_MESSAGE = 1024 * 1024
RESULT_OK, RESULT_FAILED, RESULT_AGAIN = "ok", "failed", "again"


@dataclass
class WorkerHandle:
    pid: int
    sock: socket.socket
    pidfd: int
    # the event the worker is running, and those sent behind it that it has not started yet
    seqnum: int | None = None
    queued: list[int] = field(default_factory=list)
    killing: bool = False
    killed: bool = False


def _serve(sock: socket.socket, rules: processing.RuleProgram,
           settings_of: Callable[[], EventSettings]) -> int:
    sender = netlink.open_uevent_socket(netlink.GROUP_NONE)
    sender.setblocking(True)
    while True:
        try:
            data = sock.recv(MAX_MESSAGE)
        except InterruptedError:
            continue
        if not data:
            return 0
        msg = json.loads(data)
        settings = settings_of()
        settings.extra_env = msg.get("env", {})
        props: dict[str, str] = msg["properties"]
        result = RESULT_OK
        try:
            event = processing.process(props, rules, settings)
            payload = encode_udev(event.dev.all_properties(), event.dev.tags)
        except processing.DeviceLocked as e:
            log.debug("%s: block device %s is locked, requeueing the event", props.get("DEVPATH"), e)
            sock.send(json.dumps({"seqnum": msg["seqnum"], "result": RESULT_AGAIN}).encode())
            continue
        except OSError as e:
            log.warning("%s: Failed to process device, ignoring: %s", props.get("DEVPATH"), e.strerror or e)
            result = RESULT_FAILED
            payload = encode_udev(processing.failure_properties(props, errno_number=e.errno or errno.EIO), ())
        except Exception as e:
            log.exception("%s: failed to process device: %s", props.get("DEVPATH"), e)
            result = RESULT_FAILED
            payload = encode_udev(processing.failure_properties(props, errno_number=errno.EIO), ())
        netlink.broadcast(sender, payload)
        sock.send(json.dumps({"seqnum": msg["seqnum"], "result": result}).encode())


def spawn_worker(rules: processing.RuleProgram, settings_of: Callable[[], EventSettings],
                 close_fds: Callable[[], None]) -> WorkerHandle:
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    # keep the collector off the objects shared with the worker: a collection would touch
    # (and so copy) every page of the loaded rules in every worker
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            parent.close()
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            close_fds()
            status = _serve(child, rules, settings_of)
        except BaseException:
            log.exception("worker failed")
        finally:
            os._exit(status)
    child.close()
    parent.setblocking(False)
    return WorkerHandle(pid=pid, sock=parent, pidfd=os.pidfd_open(pid))
