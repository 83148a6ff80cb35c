"""input_id's ID_INPUT_WIDTH_MM/HEIGHT_MM (udev 252: axis range / resolution of ABS_X and ABS_Y).

No evdev node exists here, so the node is a plain file and EVIOCGABS answers from
a table keyed by axis, as a touchpad's kernel driver would.
"""

from pathlib import Path

import pytest
from test_dm_fake_sysfs import FakeSysfs, sysfs  # noqa: F401  (fixture)

from sysmasterd.devmaster.builtin import input_id
from sysmasterd.devmaster.builtin.evdev_ioctl import AbsInfo
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import EventSettings, UdevEvent

TOUCHPAD_CAPS = {"capabilities__ev": "b", "capabilities__key": "e520 10000 0 0 0 0",
                 "capabilities__abs": "2608000 3", "properties": "5"}


def _touchpad(sysfs: FakeSysfs, tmp_path: Path) -> Device:  # noqa: F811
    sysfs.dev("/devices/platform/i8042/serio1/input/input5", "input", id__bustype="0011", **TOUCHPAD_CAPS)
    ev = sysfs.dev("/devices/platform/i8042/serio1/input/input5/event5", "input", "MAJOR=13\nMINOR=69\n")
    node = tmp_path / "event5"
    node.write_bytes(b"")
    dev = Device.from_syspath(str(ev))
    dev.properties["DEVNAME"] = str(node)
    return dev


def _absinfo(monkeypatch: pytest.MonkeyPatch, axes: dict[int, AbsInfo]) -> None:
    def get_abs(fd: int, code: int) -> AbsInfo:
        if code not in axes:
            raise OSError(22, "Invalid argument")
        return axes[code]
    monkeypatch.setattr(input_id, "get_abs", get_abs)


def _run(dev: Device) -> list[str]:
    input_id.run(UdevEvent(dev, EventSettings()), ["input_id"], False)
    return [k for k in dev.properties if k.startswith("ID_INPUT")]


def test_size_from_resolution() -> None:
    x, y = AbsInfo(0, 1266, 5676, 0, 0, 42), AbsInfo(0, 1096, 4758, 0, 0, 42)
    assert input_id.size_mm(x, y) == (105, 87)
    # a negative range truncates toward zero, like C's integer division
    assert input_id.size_mm(AbsInfo(0, 10, 0, 0, 0, 3), y) == (-3, 87)
    assert input_id.size_mm(x, AbsInfo(0, 0, 100, 0, 0, 0)) is None


def test_touchpad_event_node_gets_its_size_last(sysfs: FakeSysfs, tmp_path: Path,  # noqa: F811
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _absinfo(monkeypatch, {0: AbsInfo(0, 1266, 5676, 0, 0, 42), 1: AbsInfo(0, 1096, 4758, 0, 0, 42)})
    dev = _touchpad(sysfs, tmp_path)
    assert _run(dev) == ["ID_INPUT", "ID_INPUT_TOUCHPAD", "ID_INPUT_WIDTH_MM", "ID_INPUT_HEIGHT_MM"]
    assert (dev.properties["ID_INPUT_WIDTH_MM"], dev.properties["ID_INPUT_HEIGHT_MM"]) == ("105", "87")


def test_no_size_without_resolution_or_axes(sysfs: FakeSysfs, tmp_path: Path,  # noqa: F811
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _absinfo(monkeypatch, {0: AbsInfo(0, 0, 1000, 0, 0, 0), 1: AbsInfo(0, 0, 1000, 0, 0, 10)})
    dev = _touchpad(sysfs, tmp_path)
    assert "ID_INPUT_WIDTH_MM" not in _run(dev)
    _absinfo(monkeypatch, {0: AbsInfo(0, 0, 1000, 0, 0, 10)})
    assert "ID_INPUT_WIDTH_MM" not in _run(dev)


def test_only_event_nodes_are_measured(sysfs: FakeSysfs, tmp_path: Path,  # noqa: F811
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _absinfo(monkeypatch, {0: AbsInfo(0, 0, 1000, 0, 0, 10), 1: AbsInfo(0, 0, 500, 0, 0, 10)})
    dev = _touchpad(sysfs, tmp_path)
    mouse = Device.from_syspath(str(Path(dev.syspath).parent))
    mouse.properties["DEVNAME"] = dev.properties["DEVNAME"]
    assert "ID_INPUT_WIDTH_MM" not in _run(mouse)
    dev.properties["DEVNAME"] = str(tmp_path / "missing")
    assert "ID_INPUT_WIDTH_MM" not in _run(dev)
