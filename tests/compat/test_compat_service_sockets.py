"""Sockets= of [Service]: socket names kept in order, anything else warned about as systemd does
(checked against systemd-analyze verify on the same file)."""

from __future__ import annotations

from pathlib import Path

from compat_helpers import FACTS, compat_view, needs_analyze, verify_batch

from compat.loader import UnitLoader
from compat.model import Scope

UNIT = """[Service]
ExecStart=/bin/true
Sockets=a.socket %p-x.socket
Sockets=b.service a.socket
Sockets=bad name.socket
"""


def test_sockets_are_kept_in_order(tmp_path: Path) -> None:
    (tmp_path / "t.service").write_text(UNIT)
    u = UnitLoader(Scope.SYSTEM, unit_path=[str(tmp_path)], facts=FACTS).load("t.service")
    assert u.config is not None and u.config.service is not None
    assert u.config.service.sockets == ["a.socket", "t-x.socket", "name.socket"]
    assert [d.message for d in u.diagnostics] == [
        "Unit must be of type socket, ignoring: b.service", "Unit must be of type socket, ignoring: bad"]


@needs_analyze
def test_sockets_warnings_match_systemd(tmp_path: Path) -> None:
    (tmp_path / "t.service").write_text(UNIT)
    for name in ("a.socket", "t-x.socket", "name.socket"):
        (tmp_path / name).write_text("[Socket]\nListenStream=/run/x\n")
    assert compat_view(tmp_path, ["t.service"])[0] == verify_batch(tmp_path, ["t.service"])[0]
