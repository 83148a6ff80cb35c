"""A private mount + network namespace for devmaster tests.

Inside: tmpfs on /run (so /run/udev is private), a tmpfs copy of /dev (node
permissions and /dev/disk links never touch the host), a fresh sysfs mount
(so /sys/class/net shows this namespace's interfaces) and loopback up.
Kernel uevents for devices outside any netns still arrive here; libudev
broadcasts stay inside. Processes are entered with nsenter and stopped by PID.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# A loop device of the host's, for tests that only look at one or send it a change event
# (which loop devices exist is the host's business: the lowest-numbered one there is).
LOOP = min((d for d in os.listdir("/sys/class/block") if d.startswith("loop")), default="loop0",
           key=lambda d: int(d[4:]) if d[4:].isdigit() else 1 << 30)
SETUP = """
set -e
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/udev /run/devstage
mount -t tmpfs -o mode=755 tmpfs /run/devstage
cp -ax /dev/. /run/devstage/ 2>/dev/null || true
mount --move /run/devstage /dev
mount -t sysfs sysfs /sys
ip link set lo up
echo ready
exec sleep infinity
"""


_DEVMASTER_WITH_STACK_DUMPS = (
    "import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
    "from sysmasterd.devmaster.main import main; sys.argv[0] = \"devmaster\"; sys.exit(main())")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        return f"({e.strerror})"


class Sandbox:
    def __init__(self) -> None:
        self.holder = subprocess.Popen(
            ["unshare", "-m", "-n", "--propagation", "private", "sh", "-c", SETUP],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()
        if line.strip() != "ready":
            self.holder.kill()
            raise RuntimeError(f"sandbox setup failed: {self.holder.stderr.read() if self.holder.stderr else ''}")
        self.pid = self.holder.pid
        self.daemons: list[subprocess.Popen[str]] = []

    def argv(self, cmd: Sequence[str]) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "-m", "-n", "--", *cmd]

    def run(self, cmd: Sequence[str], check: bool = False, timeout: float = 60,
            **kw: object) -> "subprocess.CompletedProcess[str]":
        return subprocess.run(self.argv(cmd), capture_output=True, text=True, timeout=timeout, check=check,
                              cwd=REPO, **kw)  # type: ignore[call-overload]

    def sh(self, script: str, timeout: float = 60) -> "subprocess.CompletedProcess[str]":
        return self.run(["sh", "-c", script], timeout=timeout)

    def python(self, code: str, timeout: float = 60) -> "subprocess.CompletedProcess[str]":
        return self.run([PYTHON, "-c", code], timeout=timeout)

    def popen(self, cmd: Sequence[str], **kw: object) -> "subprocess.Popen[str]":
        return subprocess.Popen(self.argv(cmd), text=True, cwd=REPO, **kw)  # type: ignore[call-overload]

    def write(self, path: str, text: str) -> None:
        self.run(["sh", "-c", f"mkdir -p \"$(dirname '{path}')\" && cat > '{path}'"], input=text, check=True)

    def start_devmaster(self, *args: str, log: str = "/run/devmaster.log") -> "subprocess.Popen[str]":
        # SIGUSR1 dumps the Python stacks into the log: see diagnose()
        proc = self.popen(["sh", "-c", f"exec {PYTHON} -c '{_DEVMASTER_WITH_STACK_DUMPS}' {' '.join(args)} 2>{log}"])
        self.daemons.append(proc)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.run(["udevadm", "control", "--ping", "-t", "2"]).returncode == 0:
                return proc
            if proc.poll() is not None:
                raise RuntimeError("devmaster died:\n" + self.log(log))
            time.sleep(0.1)
        raise RuntimeError("devmaster did not answer ping:\n" + self.log(log))

    def stop_devmaster(self, proc: "subprocess.Popen[str]") -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(ValueError):
            self.daemons.remove(proc)

    def diagnose(self, what: str) -> str:
        """What the daemons are doing, for a test that saw one not answer: their kernel and Python
        stacks, their open fds and which of them their epoll watches, the sockets, the log tail.
        Written to a file under /tmp (a retried failure leaves no pytest output); returns its path."""
        out = [f"== {what}"]
        for proc in self.daemons:
            pid = proc.pid
            out.append(f"== devmaster {pid}: " + _read(f"/proc/{pid}/stat"))
            for name in ("wchan", "stack", "syscall"):
                out.append(f"-- {name}\n" + _read(f"/proc/{pid}/{name}"))
            with contextlib.suppress(OSError):
                for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
                    with contextlib.suppress(OSError):
                        target = os.readlink(f"/proc/{pid}/fd/{fd}")
                        out.append(f"fd {fd} -> {target}")
                        if target == "anon_inode:[eventpoll]":
                            out.append(_read(f"/proc/{pid}/fdinfo/{fd}"))
            with contextlib.suppress(OSError):
                for child in _read(f"/proc/{pid}/task/{pid}/children").split():
                    out.append(f"child {child}: " + _read(f"/proc/{child}/stat") + _read(f"/proc/{child}/stack"))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGUSR1)
        time.sleep(0.5)
        out.append("== sockets\n" + self.run(["ss", "-xap"]).stdout)
        out.append("== log tail\n" + "\n".join(self.log().splitlines()[-200:]))
        path = f"/tmp/devmaster-diagnosis-{os.getpid()}-{time.time():.0f}.txt"
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")
        return path

    def log(self, path: str = "/run/devmaster.log") -> str:
        return self.run(["cat", path]).stdout

    def close(self) -> None:
        for proc in list(self.daemons):
            self.stop_devmaster(proc)
        # Whatever else a test started in here and left behind (a daemon whose test failed
        # half-way) would outlive the sandbox and go on handling every uevent of the machine.
        namespace = os.readlink(f"/proc/{self.pid}/ns/mnt")
        for pid in self._members(namespace):
            if pid != self.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.holder.kill()
        self.holder.wait()
        deadline = time.monotonic() + 10
        while self._members(namespace) and time.monotonic() < deadline:
            time.sleep(0.05)

    @staticmethod
    def _members(namespace: str) -> list[int]:
        """PIDs in that mount namespace: all of them processes this sandbox's tests started."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/ns/mnt") == namespace:
                        found.append(int(entry))
        return found


@contextlib.contextmanager
def sandbox() -> Iterator[Sandbox]:
    if os.geteuid() != 0:
        import pytest

        pytest.skip("needs root for namespaces")
    box = Sandbox()
    try:
        yield box
    finally:
        box.close()
