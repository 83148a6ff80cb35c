"""The real systemd-run (Debian's 252) handing its stdio to a transient service of sysmasterd --user:
--pipe passes its stdin/stdout/stderr, --pty a fresh pseudo terminal's slave (plus TTYPath=), which
the service gets as its controlling terminal."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Iterator

import psutil
import pytest
from bus_harness import Manager, make_manager, wait_for
from pipe_client import output_when_done, reaped

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("transient-stdio"), "user", {})


def pipe(um: Manager, data: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(um.ns.argv(["systemd-run", "--user", "--quiet", "--pipe", *cmd]), input=data,
                          capture_output=True, text=True, env=um.env, timeout=30)


def test_pipe_passes_stdin_and_stdout(um: Manager) -> None:
    r = pipe(um, "through the manager\n", "/bin/cat")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "through the manager\n"


def test_pipe_returns_the_exit_code_and_passes_stderr(um: Manager) -> None:
    r = pipe(um, "some text\n", "/bin/sh", "-c", "cat; echo to-stderr >&2; exit 3")
    assert r.returncode == 3, r.stderr
    assert r.stdout == "some text\n"
    assert "to-stderr" in r.stderr


def test_pipe_fds_released_with_the_unit(um: Manager) -> None:
    assert um.proc is not None
    core = psutil.Process(um.proc.pid).children()[0]  # um.proc is the nsenter that started it
    assert "sysmasterd.core.main" in core.cmdline()
    fd_dir = f"/proc/{core.pid}/fd"
    before = len(os.listdir(fd_dir))
    for _ in range(3):
        assert pipe(um, "x", "/bin/cat").stdout == "x"
    # The manager keeps no copy once the services are gone (else a reader of the output would
    # never see its end).
    wait_for(lambda: len(os.listdir(fd_dir)) <= before, "descriptors closed")


def _run_on_pty(um: Manager, cmd: list[str], typed: bytes, timeout: float = 30) -> tuple[int, str]:
    """systemd-run with a terminal of ours as stdio, as from an interactive shell: what it printed
    on the terminal, and its exit code."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(um.ns.argv(["systemd-run", "--user", "--pty", *cmd]), stdin=slave, stdout=slave,
                                stderr=slave, env=um.env, start_new_session=True)
        os.close(slave)
        slave = -1
        out = b""
        deadline = time.monotonic() + timeout
        sent = False
        while time.monotonic() < deadline:
            if not sent and b"Press ^]" in out:
                os.write(master, typed)
                sent = True
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: every holder of the slave is gone
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        try:
            rc = proc.wait(5)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        return rc, out.decode(errors="replace")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_pty_is_the_services_terminal(um: Manager) -> None:
    # The shell's PID from its child's /proc/self/stat: a `$$` in the command is the manager's to
    # turn into `$`, as systemd 252 does with the commands it is sent.
    script = "tty; read line; echo got-$line; ps -o tty= -p $(cut -d' ' -f4 /proc/self/stat); exit 4"
    rc, out = _run_on_pty(um, ["/bin/sh", "-c", script], b"typed\n")
    assert "Running as unit:" in out
    assert "/dev/pts/" in out and "not a tty" not in out
    assert "got-typed" in out
    # The session's controlling terminal is the pty (ps names it), not "?".
    lines = [line.strip() for line in out.splitlines()]
    assert any(line.startswith("pts/") for line in lines), out
    assert rc == 4, out


def test_pipe_outlives_a_daemon_reexec(um: Manager, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A --pipe service restarted after the core re-executed still writes to the client's pipe,
    and systemd-run still hears of its end: the manager's copies of the descriptors, and the
    client's reference and subscription, go across the exec as systemd serializes them."""
    mark = tmp_path_factory.mktemp("reexec") / "first-run-done"
    script = f"if [ -e {mark} ]; then echo second; exit 0; fi; touch {mark}; echo first; exit 1"
    # Through the bus, as systemd-run talks to a user manager that has one: its connection to the
    # private socket would end with the core it was made to.
    env = {**um.env, "XDG_RUNTIME_DIR": str(um.root / "nowhere")}
    proc = subprocess.Popen(um.ns.argv(["systemd-run", "--user", "--quiet", "--pipe", "-p", "Restart=on-failure",
                                        "-p", "RestartSec=3", "/bin/sh", "-c", script]),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    with reaped(proc):
        wait_for(mark.exists, "the first run")
        time.sleep(0.3)
        assert um.systemctl("daemon-reexec").rc == 0  # while the restart is pending
        out, err = output_when_done(proc, 30, lambda: um.log[-3000:])
    assert out == "first\nsecond\n", (out, err, um.log[-3000:])
