"""Automount units through the real systemctl, in the harness's PID + mount namespace. This VM has
neither /dev/autofs nor the autofs file system: as in systemd 252 (automount_supported()), the type
is then unsupported, so starting fails at once and nothing is mounted on Where=."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager

from compat import unitname
from sysmasterd.core import autofs

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root"),
              pytest.mark.skipif(os.path.exists(autofs.DEV_AUTOFS), reason="autofs is there: the type is supported")]


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("automounts")


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory, area: Path) -> Iterator[Manager]:
    name = unitname.path_escape(str(area / "a"))
    units = {
        f"{name}.automount": f"[Unit]\nDescription=Auto\n[Automount]\nWhere={area}/a\nTimeoutIdleSec=30\n",
        f"{name}.mount": f"[Mount]\nWhat=tmpfs\nWhere={area}/a\nType=tmpfs\n",
    }
    yield from make_manager(tmp_path_factory.mktemp("system"), "system", units)


def _show(sm: Manager, unit: str, *props: str) -> dict[str, str]:
    r = sm.systemctl("show", *(f"-p{p}" for p in props), "--", unit)
    assert r.rc == 0, r.err
    return dict(line.split("=", 1) for line in r.out.splitlines() if "=" in line)


def test_properties(sm: Manager, area: Path) -> None:
    unit = unitname.path_escape(str(area / "a")) + ".automount"
    props = _show(sm, unit, "Where", "TimeoutIdleUSec", "DirectoryMode", "Triggers", "Before", "Result")
    mount = unitname.path_escape(str(area / "a")) + ".mount"
    assert (props["Where"], props["TimeoutIdleUSec"], props["DirectoryMode"], props["Result"]) == (
        str(area / "a"), "30s", "0755", "success")
    assert shlex.split(props["Triggers"]) == [mount]
    assert set(shlex.split(props["Before"])) == {"local-fs.target", "umount.target", mount}


def test_unsupported_without_autofs(sm: Manager, area: Path) -> None:
    unit = unitname.path_escape(str(area / "a")) + ".automount"
    r = sm.systemctl("start", unit)
    assert r.rc != 0 and "not supported on this system" in r.err
    assert _show(sm, unit, "ActiveState")["ActiveState"] == "inactive"
    assert "Starting of Auto unsupported." in sm.log
    assert sm.ns.run(["findmnt", "-n", str(area / "a")], sm.env).rc != 0
