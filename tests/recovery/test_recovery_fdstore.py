"""A service's fd store (FileDescriptorStoreMax=, sd_notify FDSTORE=1/FDSTOREREMOVE=1/FDNAME= with
SCM_RIGHTS) under sysmaster-init: the stored fds come back in LISTEN_FDS/LISTEN_FDNAMES on the
next start, after the socket fds, also after a core SIGKILL and a daemon-reexec; a stop lets them go."""

from __future__ import annotations

import sys
from pathlib import Path

from recovery_harness import Namespace, namespace, wait_until

# Reports what it was handed (name=content per fd), then stores a memfd holding its generation
# number, stores and removes a second one, and says READY=1.
SERVER = r'''
import array, os, signal, socket, sys
report, n = sys.argv[1], int(os.environ.get("LISTEN_FDS", "0"))
names = os.environ.get("LISTEN_FDNAMES", "").split(":") if n else []
seen, gen = [], 0
for i, name in enumerate(names):
    fd = 3 + i
    try:
        os.lseek(fd, 0, 0)
        text = os.read(fd, 100).decode()
        gen = max(gen, int(text))
    except OSError:
        text = "socket"
    seen.append(f"{name}={text}")
with open(report, "a") as f:
    f.write(" ".join(seen) + "\n")

def notify(text, fds=()):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())] if fds else []
    s.sendmsg([text.encode()], anc, 0, os.environ["NOTIFY_SOCKET"])
    s.close()

memo = os.memfd_create("memo")
os.write(memo, str(gen + 1).encode())
if not any(x.startswith("memo=") for x in seen):
    notify("FDSTORE=1\nFDNAME=memo", [memo])
    notify("FDSTORE=1", [memo])  # the same open file again: not stored twice
scratch = os.memfd_create("scratch")
notify("FDSTORE=1\nFDNAME=scratch", [scratch])
notify("FDSTOREREMOVE=1\nFDNAME=scratch")
notify("READY=1")
signal.pause()
'''
# As systemd-journald-dev-log.socket names its service: a socket not named after it needs Service=.
SOCKET = ("[Unit]\nDefaultDependencies=no\n[Socket]\nListenStream=@RUN@/extra.sock\nFileDescriptorName=extra\n"
          "Service=store.service\n")


def _units(script: Path) -> dict[str, str]:
    return {
        "boot.target": "[Unit]\nDefaultDependencies=no\nWants=store.service\n",
        # Sockets=: the socket is pulled in, ordered first, and its fd comes before the stored ones.
        "store.service": "[Unit]\nDefaultDependencies=no\n[Service]\nType=notify\nFileDescriptorStoreMax=4\n"
                         f"Sockets=extra.socket\nExecStart={sys.executable} {script} @RUN@/report\n",
        "extra.socket": SOCKET,
    }


def _reports(ns: Namespace) -> list[str]:
    path = ns.run / "report"
    return path.read_text().splitlines() if path.exists() else []


def _restart(ns: Namespace, verb: str = "RestartUnit") -> str:
    """Restart (or start) the service and wait for its new report line."""
    before = len(_reports(ns))
    assert ns.call(verb, "ss", "store.service", "replace") is not None
    line = wait_until(lambda: len(r := _reports(ns)) > before and r, 20, "the service's report")[-1]
    # the report is written before the service's store/remove/READY=1: its job ends after them
    wait_until(lambda: ns.prop("store.service", "Unit", "Job")[0] == 0, 20, "the restart job to finish")
    return line


def _n_stored(ns: Namespace) -> int:
    return int(ns.prop("store.service", "Service", "NFileDescriptorStore"))


def test_fd_store_survives_restart_core_kill_and_reexec(tmp_path: Path) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    with namespace(_units(script)) as ns:
        assert wait_until(lambda: _reports(ns), 20, "the first start") == ["extra=socket"]
        assert ns.prop("extra.socket", "Unit", "ActiveState") == "active"
        assert "extra.socket" in ns.prop("store.service", "Unit", "After")
        assert ns.prop("store.service", "Unit", "TriggeredBy") == ["extra.socket"]
        assert "extra.socket" in ns.prop("store.service", "Unit", "Wants")
        wait_until(lambda: _n_stored(ns) == 1, 10, "one stored fd")
        assert ns.prop("store.service", "Service", "FileDescriptorStoreMax") == 4
        assert ns.prop("store.service", "Service", "NotifyAccess") == "main"

        assert _restart(ns) == "extra=socket memo=1"

        ns.wait_ready(ns.kill_core())
        assert _n_stored(ns) == 1
        assert _restart(ns) == "extra=socket memo=1"

        old = ns.core_pid()
        ns.call("Reexecute")  # the reply may be lost with the old core
        wait_until(lambda: ns.call("GetUnit", "s", "store.service", timeout=2) is not None, 20, "reexecuted core")
        assert ns.core_pid() == old  # re-executed in place
        wait_until(lambda: _n_stored(ns) == 1, 10, "the store after reexec")
        assert _restart(ns) == "extra=socket memo=1"

        # A stop (no restart job) releases the store, as unit_may_gc() does in systemd.
        assert ns.call("StopUnit", "ss", "store.service", "replace") is not None
        wait_until(lambda: ns.prop("store.service", "Unit", "ActiveState") == "inactive", 20, "stopped")
        assert _restart(ns, "StartUnit") == "extra=socket"
