"""A stand-in for sysmasterd that speaks the init protocol through sysmasterd/init/client.py.

Run by sysmaster-init in the tests: ``fake_core.py DIR``. It appends one JSON line per event to
DIR/events.log and takes commands as datagrams on DIR/control:

  orphan SECONDS CODE   double-fork a process that exits with CODE after SECONDS
  orphans N             double-fork N processes that exit at once
  stubborn              double-fork a process that ignores SIGTERM and sleeps
  store NAME PATH       open PATH and have init keep the fd under NAME
  listen NAME PATH      listen on a unix socket at PATH and have init keep it under NAME
  accept NAME           accept one connection on the restored socket NAME, log what it sends
  reexec                exec itself in place, keeping the channel to init
  mute                  stop heartbeats (a hang without SIGSTOP)
  noack                 stop acknowledging exit reports
  crash                 raise an unhandled exception
  exit CODE             exit with CODE
  shutdown KIND         ask init to poweroff/reboot/halt

At start it exits with status 3 when DIR/crash-at-start exists; it answers init's "act" with
"shutdown" unless DIR/ignore-stop exists.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time

from sysmasterd.init.client import Disconnected, Event, InitClient
from sysmasterd.init.protocol import ActionRequest, ChildExit, Hello, StoredFds


class FakeCore:
    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.init = InitClient.from_environ()
        self.acking = True
        self.beating = True
        self.restored: dict[str, list[int]] = {}

    def log(self, event: str, **fields: object) -> None:
        line = json.dumps({"event": event, "pid": os.getpid(), "t": time.monotonic(), **fields})
        with open(os.path.join(self.dir, "events.log"), "a") as f:
            f.write(line + "\n")

    def on_events(self, events: list[Event]) -> None:
        for ev in events:
            if isinstance(ev, Hello):
                self.log("hello", version=ev.version, init_pid=ev.init_pid, starts=ev.starts,
                         fd_names=ev.fd_names)
            elif isinstance(ev, StoredFds):
                self.restored[ev.name] = ev.fds
                self.log("fds", name=ev.name, inodes=[os.fstat(fd).st_ino for fd in ev.fds])
            elif isinstance(ev, ChildExit):
                self.log("exit", seq=ev.seq, child=ev.pid, code=ev.code, status=ev.status)
                if self.acking:
                    self.init.ack(ev.seq)
            elif isinstance(ev, ActionRequest):
                self.log("act", kind=ev.kind)
                if not os.path.exists(os.path.join(self.dir, "ignore-stop")):
                    self.init.request_shutdown(ev.kind)
            elif isinstance(ev, Disconnected):
                self.log("disconnected")

    def double_fork(self, seconds: float, code: int, ignore_term: bool = False) -> None:
        r, w = os.pipe()
        child = os.fork()
        if child == 0:
            grandchild = os.fork()
            if grandchild == 0:
                if ignore_term:
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                time.sleep(seconds)
                os._exit(code)
            os.write(w, str(grandchild).encode())
            os._exit(0)
        os.close(w)
        orphan = int(os.read(r, 64))
        os.close(r)
        os.waitpid(child, 0)
        self.log("orphan", child=orphan)

    def command(self, words: list[str]) -> None:
        verb, args = words[0], words[1:]
        if verb == "orphan":
            self.double_fork(float(args[0]), int(args[1]))
        elif verb == "orphans":
            for _ in range(int(args[0])):
                self.double_fork(0, 0)
                self.init.send_heartbeat()
        elif verb == "stubborn":
            self.double_fork(3600, 0, ignore_term=True)
        elif verb == "store":
            fd = os.open(args[1], os.O_RDWR | os.O_CREAT, 0o600)
            self.init.store_fds(args[0], [fd])
            self.log("stored", name=args[0], inode=os.fstat(fd).st_ino)
        elif verb == "listen":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(args[1])
            sock.listen(8)
            self.init.store_fds(args[0], [sock.fileno()])
            self.log("stored", name=args[0], inode=os.fstat(sock.fileno()).st_ino)
        elif verb == "accept":
            listener = socket.socket(fileno=self.restored[args[0]][0])
            conn, _ = listener.accept()
            self.log("accepted", name=args[0], data=conn.recv(100).decode())
            conn.close()
        elif verb == "reexec":  # like sysmasterd's daemon-reexec: same PID, new image
            os.execve(sys.executable, [sys.executable, *sys.argv],
                      {**os.environ, **self.init.exec_environ()})
        elif verb == "mute":
            self.beating = False
        elif verb == "noack":
            self.acking = False
        elif verb == "crash":
            raise RuntimeError("fake core crashed on purpose")
        elif verb == "exit":
            sys.exit(int(args[0]))
        elif verb == "shutdown":
            self.init.request_shutdown(args[0])

    def run(self) -> int:
        self.log("start", ppid=os.getppid(), argv=sys.argv[1:], enabled=self.init.enabled,
                 interval=self.init.heartbeat_interval,
                 env_leak="SYSMASTER_INIT_SOCKET" in os.environ)
        if os.path.exists(os.path.join(self.dir, "crash-at-start")):
            return 3
        self.on_events(self.init.handshake(timeout=5))
        path = os.path.join(self.dir, "control")
        if os.path.exists(path):
            os.unlink(path)
        control = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        control.bind(path)
        self.init.send_heartbeat()
        self.init.send_ready()
        self.log("ready")
        interval = self.init.heartbeat_interval or 1.0
        next_beat = time.monotonic() + interval / 2
        while True:
            timeout = max(0.0, next_beat - time.monotonic())
            readable, _, _ = select.select([self.init.fileno(), control.fileno()], [], [], timeout)
            if self.init.fileno() in readable:
                self.on_events(self.init.read_messages())
            if control.fileno() in readable:
                self.command(control.recv(4096).decode().split())
            if time.monotonic() >= next_beat:
                if self.beating:
                    self.init.send_heartbeat()
                next_beat = time.monotonic() + interval / 2


if __name__ == "__main__":
    sys.exit(FakeCore(sys.argv[1]).run())
