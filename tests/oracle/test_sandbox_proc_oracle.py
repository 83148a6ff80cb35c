"""ProtectProc=, ProcSubset= and PrivateUsers= as services see them, side by side with Debian's
`systemd --user` (252, run as root, so it may switch users) on the same unit files: the probes of
tests/support/sandbox_probes.py, run as nobody beside a service of another user (daemon), must
report the same facts under both managers.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from oracle_runner import run_script
from sandbox_probes import PROC_SETTINGS, USERNS_SETTINGS, facts, probe_dir, probe_units
from test_systemd_oracle import SYSTEMD, pytestmark  # noqa: F401

PROBES = [f"proc-{case}" for case in PROC_SETTINGS] + list(USERNS_SETTINGS)


@pytest.fixture(scope="module")
def probes() -> Iterator[Path]:
    with probe_dir() as d:
        yield d


def _run(tmp: Path, name: str, daemon: list[str], probes: Path) -> dict[str, dict[str, str]]:
    units = {"default.target": "[Unit]\n", "basic.target": "[Unit]\n",
             **probe_units(probes, "$W", "$W/victim.env")}
    steps = ["start victim.service",
             "RUN echo VICTIM=$(systemctl --user show -P MainPID victim.service) > $W/victim.env",
             *(f"start {unit}.service" for unit in PROBES),
             *(f"RUN cat $W/{unit}.out" for unit in PROBES)]
    out = dict(run_script(tmp, name, daemon, units, steps))
    failed = {s: text for s, text in out.items() if not text.endswith("(rc=0)")}
    assert not failed, failed
    return {unit: facts(out[f"RUN cat $W/{unit}.out"]) for unit in PROBES}


def test_proc_and_user_namespace_seen_as_under_systemd(tmp_path: Path, probes: Path) -> None:
    ours = _run(tmp_path, "sysmasterd", [sys.executable, "-m", "sysmasterd.core.main", "--user", "--runtime-dir",
                                         str(tmp_path / "sysmasterd" / "run")], probes)
    theirs = _run(tmp_path, "systemd", [SYSTEMD, "--user"], probes)
    assert ours == theirs
    # the probes did look: a restricted /proc hides what the plain one shows
    assert theirs["proc-plain"]["victim"] == "visible" and theirs["proc-invisible"]["victim"] == "hidden"
