"""The kmod builtin through the real libkmod, on a module tree made by the real depmod."""

import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from sysmasterd.devmaster.builtin import kmod
from sysmasterd.devmaster.builtin.libkmod import KmodContext, LibkmodMissing
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import EventSettings, UdevEvent

DEPMOD = shutil.which("depmod") or "/usr/sbin/depmod"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[str, str]:
    """A kernel tree with one built-in module `dmfake` (alias dmfakealias:*), and a modprobe.d alias."""
    if not Path(DEPMOD).exists():
        pytest.skip("no depmod")
    moddir = tmp_path / "lib/modules/9.9.9"
    moddir.mkdir(parents=True)
    (moddir / "modules.builtin").write_text("kernel/drivers/misc/dmfake.ko\n")
    (moddir / "modules.builtin.modinfo").write_bytes(b"dmfake.alias=dmfakealias:*\0dmfake.license=GPL\0")
    (moddir / "modules.order").write_text("")
    subprocess.run([DEPMOD, "-b", str(tmp_path), "9.9.9"], check=True, capture_output=True)
    conf = tmp_path / "modprobe.d"
    conf.mkdir()
    (conf / "dm.conf").write_text("alias dmconf:* dm_absent_module\nblacklist dm_absent_module\n")
    return str(moddir), str(conf)


def _context(tree: tuple[str, str]) -> KmodContext:
    try:
        return KmodContext(tree[0], [tree[1]])
    except LibkmodMissing:
        pytest.skip("no libkmod.so.2")


def test_libkmod_resolves_aliases(tree: tuple[str, str]) -> None:
    ctx = _context(tree)
    try:
        assert [(o.module, o.state) for o in ctx.load("dmfakealias:v1234")] == [("dmfake", "builtin")]
        assert [(o.module, o.state) for o in ctx.load("dmfake")] == [("dmfake", "builtin")]
        # a modprobe.d alias to a blacklisted module that is not in the tree: looked up, not inserted
        [outcome] = ctx.load("dmconf:x")
        assert outcome.module == "dm_absent_module" and outcome.state in ("blacklisted", "failed")
        assert ctx.load("no-such-alias") == []
        assert not ctx.stale()
    finally:
        ctx.close()


def test_kmod_builtin_uses_modalias(tree: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(kmod, "_context", _context(tree))
    monkeypatch.setattr(kmod, "_initialised", True)
    event = UdevEvent(Device.from_uevent({"DEVPATH": "/devices/dm0", "ACTION": "add", "SUBSYSTEM": "dmtest",
                                          "MODALIAS": "dmfakealias:abc"}), EventSettings())
    with caplog.at_level(logging.DEBUG, logger="devmaster"):
        assert kmod.run(event, ["kmod", "load"], False) == 0
        assert kmod.run(event, ["kmod", "unload"], False) < 0
    assert "Module 'dmfake': builtin" in caplog.text
    assert "expected: load" in caplog.text
