"""Runs sysmaster-init as PID 1 of a fresh PID namespace, with the fake core, and watches it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from procwait import proc_children, proc_status, wait_until

REPO = Path(__file__).resolve().parents[2]
# "python -m" rather than the console script: works whether or not the package is installed.
INIT = [sys.executable, "-m", "sysmasterd.init.main"]
FAKE_CORE = str(Path(__file__).parent / "fake_core.py")
FAST = {
    "heartbeat_interval": 0.2,
    "heartbeat_misses": 3,
    "start_timeout": 5,
    "restart_tries": 3,
    "restart_backoff": 0.1,
    "restart_backoff_max": 1,
    "emergency_retry": 1,
    "shutdown_timeout": 3,
    "kill_timeout": 1,
}








class Namespace:
    """One ``unshare --pid --fork --mount-proc sysmaster-init`` run."""

    def __init__(self, directory: Path, config: dict[str, object] | None = None,
                 core_args: list[str] | None = None, under_shell: bool = False) -> None:
        self.dir = directory
        self.conf = directory / "init.conf"
        settings = {**FAST, **(config or {}), "binary": sys.executable}
        self.conf.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        self.stderr_path = directory / "init.log"
        # under_shell: a shell is PID 1 and init its child, as when init runs in a container
        # without being its init.
        shell = ["sh", "-c", '"$@"; echo "init exited $?"', "sh"] if under_shell else []
        argv = ["unshare", "--pid", "--fork", "--mount-proc", *shell, *INIT, "--config", str(self.conf),
                "--", FAKE_CORE, str(directory), *(core_args or [])]
        with open(self.stderr_path, "wb") as err:
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env)
        self.pid1 = wait_until(lambda: proc_children(self.proc.pid) or None, 5, "PID 1")[0]
        self.init_pid = self.pid1
        if under_shell:
            self.init_pid = wait_until(lambda: proc_children(self.pid1) or None, 5, "init")[0]

    # -- what the fake cores logged ----------------------------------------------------------

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        try:
            lines = (self.dir / "events.log").read_text().splitlines()
        except FileNotFoundError:
            return []
        found = [json.loads(line) for line in lines if line.endswith("}")]
        return [e for e in found if kind is None or e["event"] == kind]

    def wait_event(self, event: str, count: int = 1, timeout: float = 10.0, **match: object
                   ) -> list[dict[str, Any]]:
        def matching() -> list[dict[str, Any]] | None:
            found = [e for e in self.events(event) if all(e.get(k) == v for k, v in match.items())]
            return found if len(found) >= count else None
        return wait_until(matching, timeout, f"{count} {event!r} event(s) {match or ''}")

    def init_log(self) -> str:
        return self.stderr_path.read_text()

    # -- talking to the namespace -------------------------------------------------------------

    def command(self, text: str) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(text.encode(), str(self.dir / "control"))

    def descendants(self) -> list[int]:
        found, todo = [], [self.pid1]
        while todo:
            kids = proc_children(todo.pop())
            found.extend(kids)
            todo.extend(kids)
        return found

    def host_pid(self, ns_pid: int) -> int:
        """The PID seen from here of the namespace's process ``ns_pid``."""
        for pid in [self.pid1, *self.descendants()]:
            if proc_status(pid).get("NSpid", "").split()[-1:] == [str(ns_pid)]:
                return pid
        raise LookupError(ns_pid)

    def zombies(self) -> list[int]:
        return [p for p in self.descendants() if proc_status(p).get("State", "").startswith("Z")]

    def signal_init(self, sig: int) -> None:
        os.kill(self.init_pid, sig)

    def wait(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """SIGKILL of the namespace's PID 1 takes every process in it down."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid1, signal.SIGKILL)
            self.proc.wait(10)


@contextlib.contextmanager
def namespace(directory: Path, config: dict[str, object] | None = None,
              core_args: list[str] | None = None, under_shell: bool = False) -> Iterator[Namespace]:
    ns = Namespace(directory, config, core_args, under_shell)
    try:
        yield ns
    finally:
        ns.stop()
