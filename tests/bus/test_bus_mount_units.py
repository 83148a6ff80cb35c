"""Mount units through the real systemctl, in the harness's PID + mount namespace (propagation
private, so nothing mounted or unmounted here reaches the host): a .mount unit mounts and unmounts
a tmpfs below the test's own directory, mounts made by someone else show up as units, a mount the
kernel refuses fails as systemd words it, RequiresMountsFor= pulls a mount in."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, make_manager, wait_for

from compat import unitname

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


def _name(path: Path) -> str:
    return unitname.path_escape(str(path)) + ".mount"


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mounts")


@pytest.fixture(scope="module")
def sm(tmp_path_factory: pytest.TempPathFactory, area: Path) -> Iterator[Manager]:
    units = {
        _name(area / "a"): f"[Unit]\nDescription=Scratch\n[Mount]\nWhat=tmpfs\nWhere={area}/a\nType=tmpfs\n"
                           "Options=size=1m,nofail\n",
        _name(area / "bad"): f"[Mount]\nWhat={area}/no-such-device\nWhere={area}/bad\nType=ext4\n",
        _name(area / "b"): f"[Mount]\nWhat=tmpfs\nWhere={area}/b\nType=tmpfs\n",
        "user.service": f"[Unit]\nDefaultDependencies=no\nRequiresMountsFor={area}/b/data\n"
                        "[Service]\nExecStart=/bin/sleep 1000\n",
    }
    yield from make_manager(tmp_path_factory.mktemp("system"), "system", units)


def _show(sm: Manager, unit: str, *props: str) -> dict[str, str]:
    r = sm.systemctl("show", *(f"-p{p}" for p in props), "--", unit)
    assert r.rc == 0, r.err
    return dict(line.split("=", 1) for line in r.out.splitlines() if "=" in line)


def _mounted(sm: Manager, where: Path) -> bool:
    return sm.ns.run(["findmnt", "-n", str(where)], sm.env).rc == 0


def test_start_and_stop_mount(sm: Manager, area: Path) -> None:
    unit = _name(area / "a")
    r = sm.systemctl("start", unit)
    assert r.rc == 0, r.err
    assert _mounted(sm, area / "a")
    props = _show(sm, unit, "ActiveState", "SubState", "Result", "What", "Where", "Type", "Options", "ExecMount",
                  "Description")
    assert (props["ActiveState"], props["SubState"], props["Result"]) == ("active", "mounted", "success")
    assert (props["What"], props["Where"], props["Type"]) == ("tmpfs", str(area / "a"), "tmpfs")
    assert "size=1024k" in props["Options"]  # the kernel's view while mounted
    # nofail is for the manager, not for mount(8)
    assert f"argv[]=/bin/mount tmpfs {area}/a -t tmpfs -o size=1m ;" in props["ExecMount"]
    assert props["Description"] == "Scratch"
    r = sm.systemctl("stop", unit)
    assert r.rc == 0, r.err
    assert not _mounted(sm, area / "a")
    assert _show(sm, unit, "ActiveState", "SubState") == {"ActiveState": "inactive", "SubState": "dead"}


def test_mounts_of_others_are_followed(sm: Manager, area: Path) -> None:
    where = area / "ext"
    sm.ns.run(["mkdir", "-p", str(where)], sm.env)
    unit = _name(where)
    assert sm.ns.run(["mount", "-t", "tmpfs", "-o", "size=1m", "outside", str(where)], sm.env).rc == 0
    wait_for(lambda: _show(sm, unit, "SubState")["SubState"] == "mounted", "the external mount to be seen")
    props = _show(sm, unit, "LoadState", "ActiveState", "What", "SourcePath", "Description", "FragmentPath")
    assert props == {"LoadState": "loaded", "ActiveState": "active", "What": "outside",
                     "SourcePath": "/proc/self/mountinfo", "Description": str(where), "FragmentPath": ""}
    assert sm.ns.run(["umount", str(where)], sm.env).rc == 0
    wait_for(lambda: _show(sm, unit, "ActiveState")["ActiveState"] == "inactive", "the unmount to be seen")


def test_list_units_shows_what_is_mounted(sm: Manager) -> None:
    r = sm.systemctl("list-units", "--type=mount", "--plain", "--no-legend", "--no-pager")
    assert r.rc == 0, r.err
    rows = {line.split()[0]: line.split(None, 4) for line in r.out.splitlines()}
    # What systemd --user lists in the same namespace: / and the harness's tmpfs on /run/systemd.
    assert rows["-.mount"] == ["-.mount", "loaded", "active", "mounted", "Root Mount"]
    assert rows["run-systemd.mount"] == ["run-systemd.mount", "loaded", "active", "mounted", "/run/systemd"]
    assert not any(name in rows for name in ("proc.mount", "sys.mount", "dev.mount", "run.mount"))  # API
    props = _show(sm, "-.mount", "DefaultDependencies", "IgnoreOnIsolate", "SourcePath")
    assert props == {"DefaultDependencies": "no", "IgnoreOnIsolate": "yes", "SourcePath": "/proc/self/mountinfo"}


def test_refused_mount_fails_like_systemd(sm: Manager, area: Path) -> None:
    unit = _name(area / "bad")
    r = sm.systemctl("start", unit)
    assert r.rc != 0 and "ailed" in r.err  # systemctl's own wording (it varies with the name's quoting)
    assert _show(sm, unit, "ActiveState", "Result") == {"ActiveState": "failed", "Result": "exit-code"}
    assert f"{unit}: Mount process exited, code=exited, status=32/n/a" in sm.log
    status = sm.systemctl("status", "--no-pager", unit)
    assert "Active: failed (Result: exit-code)" in status.out
    assert sm.systemctl("reset-failed", unit).rc == 0


def test_requires_mounts_for_pulls_in_the_mount(sm: Manager, area: Path) -> None:
    unit = _name(area / "b")
    props = _show(sm, "user.service", "Requires", "After")
    assert unit in shlex.split(props["Requires"]) and unit in shlex.split(props["After"])
    assert sm.systemctl("start", "user.service").rc == 0
    assert _show(sm, unit, "SubState")["SubState"] == "mounted"
    assert _mounted(sm, area / "b")
    assert sm.systemctl("stop", "user.service", unit).rc == 0
    assert not _mounted(sm, area / "b")
