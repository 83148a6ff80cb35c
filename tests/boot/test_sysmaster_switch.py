"""scripts/sysmaster-switch on an overlay copy of this machine's root (never the host): to-sysmaster
points /sbin/init and udevadm at sysmaster-init and devctl (dpkg-divert + update-alternatives),
installs and enables devmaster.service, masks systemd-udevd; the switched copy boots in
systemd-nspawn with sysmaster-init as PID 1; `back` leaves no difference in the overlay."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV = Path(sys.prefix)

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if os.geteuid() != 0:
        pytest.skip("needs root (mount namespaces)")
    for tool in ("unshare", "dpkg-divert", "update-alternatives", "systemctl"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} missing (a Debian host is needed)")
    if not (VENV / "bin" / "sysmaster-init").exists():
        pytest.skip(f"no sysmaster-init in {VENV}/bin")
    if os.stat(VENV).st_dev != os.stat("/").st_dev:
        pytest.skip(f"{VENV} is not on the root file system: the overlay copy of / would not contain it")
    work = tmp_path_factory.mktemp("switch")
    boot = ["--boot"] if shutil.which("systemd-nspawn") else []
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, str(HERE / "switch_sandbox.py"),
                           str(work), str(VENV), str(ROOT), *boot], capture_output=True, text=True, timeout=150)
    print(proc.stderr, file=sys.stderr)
    assert proc.returncode == 0, proc.stderr
    rep: dict[str, Any] = json.loads(proc.stdout)
    print(json.dumps(rep, indent=1))
    assert "error" not in rep, rep
    yield rep


def test_to_sysmaster_changes(sandbox: dict[str, Any]) -> None:
    assert sandbox["to"]["rc"] == 0, sandbox["to"]
    assert f"init={VENV}/bin/sysmaster-init" in sandbox["to"]["out"]
    links = sandbox["links"]
    assert links["/sbin/init"] == "/etc/alternatives/init"
    assert links["/etc/alternatives/init"] == f"{VENV}/bin/sysmaster-init"
    assert links["/etc/alternatives/udevadm"] == f"{VENV}/bin/devctl"
    assert links["/bin/udevadm"] == "/etc/alternatives/udevadm"
    assert links["/sbin/init.systemd"] == "/lib/systemd/systemd"          # the diverted original
    assert sandbox["udevadm_udev_is_file"]
    assert sandbox["alt_init_value"] == f"{VENV}/bin/sysmaster-init"
    for name in ("systemd-udevd.service", "systemd-udevd-control.socket", "systemd-udevd-kernel.socket"):
        assert links[f"/etc/systemd/system/{name}"] == "/dev/null"
    assert links["/etc/systemd/system/sysinit.target.wants/devmaster.service"] == "../devmaster.service"
    assert sandbox["is_enabled"] == ["enabled", "masked", "masked", "masked"]
    assert f"ExecStart={VENV}/bin/devmaster" in sandbox["exec_start"]


def test_switching_twice_is_refused(sandbox: dict[str, Any]) -> None:
    assert sandbox["twice"]["rc"] == 1
    assert "already switched" in sandbox["twice"]["err"]


def test_switched_root_boots_sysmaster_init(sandbox: dict[str, Any]) -> None:
    if "boot" not in sandbox:
        pytest.skip("systemd-nspawn missing")
    b = sandbox["boot"]
    assert "error" not in b, b
    # PID 1 is /sbin/init, which resolves to sysmaster-init (a Python entry point), and it started core
    assert b["pid1_cmdline"].endswith("/sbin/init"), b
    assert b["resolved"] == [f"{VENV}/bin/sysmaster-init", f"{VENV}/bin/devctl"]
    assert any("sysmasterd" in c for c in b["pid1_children"]), b
    assert b["udevadm_version"] == "252", b          # devctl answers as udevadm 252 does
    units = b["units"]
    assert units["systemd-udevd.service"]["LoadState"] == "masked", units
    assert units["devmaster.service"]["LoadState"] == "loaded", units
    # /sys is read-only in a container: devmaster is skipped there exactly like systemd-udevd
    assert units["devmaster.service"]["ConditionResult"] == "no", units


def test_back_restores_exactly(sandbox: dict[str, Any]) -> None:
    assert sandbox["back"]["rc"] == 0, sandbox["back"]
    assert sandbox["differences"] == []
    assert sandbox["back_again"]["rc"] == 0 and "nothing to undo" in sandbox["back_again"]["out"]


def test_sandbox_cleaned_up(sandbox: dict[str, Any]) -> None:
    assert sandbox["leftovers"] == []
    pid = sandbox.get("boot", {}).get("nspawn_pid")
    if pid:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
