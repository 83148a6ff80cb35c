"""What systemd 252's exec_child() tolerates instead of failing the start: an OOMScoreAdjust= the
kernel refuses for lack of privilege (containers, user namespaces), and resource limits above
what can be raised, which are capped at the current hard limit (setrlimit_closest())."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from core_harness import Harness

from sysmasterd.core.states import JobResult

HERE = Path(__file__).resolve().parent


def _nofile(pid_or_self: str) -> tuple[str, str]:
    for line in Path(f"/proc/{pid_or_self}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    raise AssertionError("no NOFILE line")


def test_nofile_above_nr_open_is_capped_at_the_hard_limit(h: Harness) -> None:
    """Even root cannot go above fs.nr_open: the start goes on with the current hard limit."""
    nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
    out = h.tmp / "limits"
    h.write("big.service", f"""
        [Service]
        Type=oneshot
        LimitNOFILE={nr_open * 4}
        LimitCORE=infinity
        ExecStart=/bin/sh -c 'cat /proc/self/limits > {out}'
    """)
    assert h.start("big.service") is JobResult.DONE
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lines = {ln[:25].strip(): ln[25:].split()[:2] for ln in out.read_text().splitlines()[1:]}
    assert lines["Max open files"] == [str(hard), str(hard)]
    assert lines["Max core file size"] == ["unlimited", "unlimited"]


_UNPRIVILEGED_RUN = """
import json, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from core_harness import Harness
h = Harness(Path({tmp!r}))
out = Path({tmp!r}) / "out"
try:
    h.write("oom.service", '''[Service]
Type=oneshot
OOMScoreAdjust=-900
LimitNOFILE={nofile}
ExecStart=/bin/sh -c 'cat /proc/self/oom_score_adj > {{0}}.oom; cat /proc/self/limits > {{0}}.limits'
'''.format(out))
    h.write("up.service", '''[Service]
Type=oneshot
OOMScoreAdjust=700
ExecStart=/bin/sh -c 'cat /proc/self/oom_score_adj > {{0}}.up'
'''.format(out))
    results = [h.start("oom.service").value, h.start("up.service").value]
    print(json.dumps(results))
finally:
    h.close()
"""


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv")
def test_refused_oom_adjust_and_unraisable_limit_do_not_fail_the_start(tmp_path: Path) -> None:
    """A manager without CAP_SYS_RESOURCE (setpriv drops it from the bounding set, so root's exec
    does not get it back) may not lower oom_score_adj nor raise a hard limit: systemd skips the
    first and caps the second; raising oom_score_adj still works."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    own_oom = Path("/proc/self/oom_score_adj").read_text().strip()
    script = _UNPRIVILEGED_RUN.format(tests=str(HERE), tmp=str(tmp_path), nofile=f"{soft}:{hard + 1000}")
    proc = subprocess.run(["setpriv", "--bounding-set", "-sys_resource", "--inh-caps", "-sys_resource",
                           sys.executable, "-c", textwrap.dedent(script)],
                          capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == ["done", "done"]
    out = tmp_path / "out"
    assert Path(f"{out}.oom").read_text().strip() == own_oom
    assert Path(f"{out}.up").read_text().strip() == "700"
    limits = Path(f"{out}.limits").read_text().splitlines()
    nofile = next(ln for ln in limits if ln.startswith("Max open files")).split()[3:5]
    assert nofile == [str(soft), str(hard)]
    assert "Failed to adjust" not in proc.stderr
