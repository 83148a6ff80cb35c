"""The exec sandbox cases of test-execute (tests/support/sandbox_cases.py), each started by the
real systemctl against a system-scope sysmasterd (private PID + mount namespace, private bus):
`systemctl start` succeeds exactly where test-execute expects the unit to succeed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager
from sandbox_cases import CASES

from sysmasterd.core import seccomp

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)"),
              pytest.mark.skipif(not seccomp.available(), reason="libseccomp is not installed")]


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Manager, Path]]:
    tmp = tmp_path_factory.mktemp("sandbox-systemctl")
    area = tmp / "area"
    (area / "src").mkdir(parents=True)
    marker = Path("/tmp/sm-sandbox-marker-" + tmp.name)
    marker.touch()
    fill = {"tmp": str(area), "marker": str(marker), "procdev": str(os.stat("/proc").st_dev)}
    units = {}
    for case, (settings, commands, _starts) in CASES.items():
        lines = "\n".join(f"ExecStart={c.format(**fill)}" for c in commands)
        units[f"{case}.service"] = (f"[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nWorkingDirectory=/\n"
                                    f"{settings.format(**fill)}\n{lines}\n")
    try:
        for m in make_manager(tmp, "system", units):
            yield m, area
    finally:
        marker.unlink()
    assert not os.path.exists("/etc/sm-probe")


@pytest.mark.parametrize("case", sorted(CASES))
def test_systemctl_start_gives_test_executes_verdict(sm: tuple[Manager, Path], case: str) -> None:
    m, _area = sm
    starts = CASES[case][2]
    r = m.systemctl("start", f"{case}.service")
    assert (r.rc == 0) is starts, (case, r.rc, r.err, m.log[-2000:])
    if not starts:
        assert f"Job for {case}.service failed" in r.err
