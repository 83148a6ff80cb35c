"""A manager without privileges (a user's own manager): PrivateUsers= creates the user namespace
first, so that the unit's other namespaces can be made inside it (systemd 252's exec_child() when
it lacks CAP_SYS_ADMIN), and maps nothing but the manager's own IDs.

The manager runs in a forked process that has become nobody; its verdict comes back as the exit
status. Its directory is one nobody may use (pytest's are root's alone).
"""

from __future__ import annotations

import ctypes
import importlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from core_harness import Harness

from sysmasterd.core.states import JobResult

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (to become nobody)")
NOBODY = 65534
PR_SET_DUMPABLE = 4

# Inside: only nobody is mapped, the file system is read-only (a directory anyone may write to
# included) but for the private /tmp, where the host's files are not seen.
CHECK = ("/bin/sh -c 'test \"$(cat /proc/self/uid_map | tr -s \" \")\" = \" 65534 65534 1\" && "
         "! touch {shared}/probe && touch /tmp/probe && test ! -e {marker}'")
# ProtectProc= cannot mount a procfs in a user namespace that does not own the PID namespace:
# as in systemd, the unit then keeps the /proc it has, and starts.
SETTINGS = "PrivateUsers=yes\nProtectSystem=strict\nPrivateTmp=yes\nProtectProc=invisible\n"


def _as_nobody(base: Path, shared: Path, marker: str) -> int:
    """In the forked child: drop to nobody, run a manager, start the unit; 0 when it succeeded.
    What the manager and its children import later is imported first: the interpreter's files
    may be root's alone."""
    for name in ("ctypes.util", "sysmasterd.units", "sysmasterd.core.seccomp", "sysmasterd.core.userns"):
        importlib.import_module(name)
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    # As a manager exec'ed as the user would be: the change of user made this process not
    # dumpable, which leaves its children's /proc/PID/uid_map to root.
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 1)
    h = Harness(base)
    try:
        h.boot()
        h.write("sb.service", f"[Service]\nType=oneshot\nWorkingDirectory=/\n{SETTINGS}"
                f"ExecStart={CHECK.format(shared=shared, marker=marker)}\n")
        return 0 if h.start("sb.service") is JobResult.DONE else 1
    finally:
        h.close()


def test_private_users_first_without_privileges() -> None:
    base = Path(tempfile.mkdtemp(prefix="sm-unpriv-", dir="/tmp"))
    shared = Path(tempfile.mkdtemp(prefix="sm-unpriv-", dir="/run"))  # not /tmp, where the unit has its own
    marker = tempfile.mkstemp(prefix="sm-unpriv-marker-", dir="/tmp")[1]
    try:
        os.chown(base, NOBODY, NOBODY)
        shared.chmod(0o1777)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit status
            code = 1
            try:
                code = _as_nobody(base, shared, marker)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not (shared / "probe").exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(shared, ignore_errors=True)
        os.unlink(marker)
