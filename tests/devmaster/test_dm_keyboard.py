"""keyboard builtin: hwdb key names resolved through the kernel header, and what udev 252 does with them.

No real input device exists here (no /dev/uinput), so the node is a plain file and
the EVIOCSKEYCODE call is recorded instead of made; force_release and sensitivity
are real writes on a synthetic serio parent.
"""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_dm_fake_sysfs import FakeSysfs, sysfs  # noqa: F401  (fixture)

from sysmasterd.devmaster.builtin import keyboard
from sysmasterd.devmaster.builtin.keyboard import parse_abs_override, parse_c_unsigned, plan_keyboard
from sysmasterd.devmaster.builtin.keyboard_keys import HEADER, key_codes, parse_key_codes
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import EventSettings, UdevEvent

HEADER_SNIPPET = """\
#define KEY_RESERVED		0
#define KEY_MUTE		113
#define KEY_F21			191
#define KEY_COFFEE		152
#define KEY_SCREENLOCK		KEY_COFFEE
#define KEY_MIN_INTERESTING	KEY_MUTE
#define BTN_MISC		0x100
#define BTN_0			0x100
#define BTN_SOUTH		0x130
#define BTN_A			BTN_SOUTH
#define KEY_MAX			0x2ff
#define KEY_CNT			(KEY_MAX+1)
"""


def test_names_parsed_like_udevs_build() -> None:
    table = parse_key_codes(HEADER_SNIPPET)
    assert table == {"reserved": 0, "key_reserved": 0, "mute": 113, "key_mute": 113, "f21": 191,
                     "key_f21": 191, "coffee": 152, "key_coffee": 152, "screenlock": 152,
                     "key_screenlock": 152, "btn_0": 0x100, "btn_south": 0x130, "btn_a": 0x130}


@pytest.mark.skipif(key_codes() is None, reason=f"{HEADER} not installed")
def test_installed_header_resolves_hwdb_names() -> None:
    table = key_codes()
    assert table is not None
    # names that 60-keyboard.hwdb uses, with the codes from the kernel's ABI
    assert (table["mute"], table["f21"], table["reserved"], table["btn_left"]) == (113, 191, 0, 0x110)
    assert table["prog1"] == 148 and table["micmute"] == 248
    assert "max" not in table and "btn_misc" not in table


def test_scan_and_key_code_numbers_read_like_safe_atou() -> None:
    assert [parse_c_unsigned(t) for t in ("30", "0x1e", "036", "0b11110", "0o36", " 30")] == [30] * 6
    assert [parse_c_unsigned(t) for t in ("-1", "30x", "", "0x", "4294967296")] == [None] * 5
    assert parse_c_unsigned("-0") == 0
    assert parse_c_unsigned("700e2", 16) == 0x700E2 and parse_c_unsigned("0xa0", 16) == 0xA0


def test_plan_names_numbers_force_release_and_errors() -> None:
    table = parse_key_codes(HEADER_SNIPPET)
    plan = plan_keyboard({"KEYBOARD_KEY_a0": "mute", "KEYBOARD_KEY_a1": "!f21", "KEYBOARD_KEY_a2": "!",
                          "KEYBOARD_KEY_a3": "0x10", "KEYBOARD_KEY_a4": "nosuchkey",
                          "KEYBOARD_KEY_zz": "mute", "EVDEV_ABS_00": "1:1000:12",
                          "POINTINGSTICK_SENSITIVITY": "200", "ID_INPUT": "1"}, table)
    assert plan.keymap == [(0xA0, 113), (0xA1, 191), (0xA3, 16)]
    assert plan.force_release == [0xA1, 0xA2]
    assert plan.abs_overrides == [(0, "1:1000:12")] and plan.sensitivity == "200"
    assert plan.errors == ["Failed to parse key identifier 'nosuchkey', skipping",
                           'Failed to parse scan code from "KEYBOARD_KEY_zz", ignoring']


def test_without_the_header_names_are_skipped_with_a_reason() -> None:
    plan = plan_keyboard({"KEYBOARD_KEY_a0": "mute", "KEYBOARD_KEY_a1": "113"}, None)
    assert plan.keymap == [(0xA1, 113)]
    assert plan.errors == [f"key name 'mute' cannot be resolved: {HEADER} is missing (install linux-libc-dev), "
                           "skipping"]


def test_abs_override_fields() -> None:
    current = (0, 100, 0, 4, 8)
    assert parse_abs_override("1:1000:12", current) == (1, 1000, 12, 4, 8)
    assert parse_abs_override("::40", current) == (0, 100, 40, 4, 8)
    assert parse_abs_override("-5:0x20:::1:99", current) == (-5, 32, 0, 4, 1)
    assert parse_abs_override("1:x", current) is None


@pytest.fixture
def keyboard_dev(sysfs: FakeSysfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
                 ) -> Iterator[tuple[Device, Path, list[tuple[int, int]]]]:
    serio = sysfs.dev("/devices/platform/i8042/serio0", "serio", force_release="369-370", sensitivity="128")
    sysfs.dev("/devices/platform/i8042/serio0/input/input3", "input")
    ev = sysfs.dev("/devices/platform/i8042/serio0/input/input3/event3", "input", "MAJOR=13\nMINOR=67\n")
    node = tmp_path / "event3"
    node.write_bytes(b"")
    dev = Device.from_syspath(str(ev))
    dev.properties["DEVNAME"] = str(node)
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(keyboard, "set_keycode", lambda fd, scan, key: calls.append((scan, key)))
    yield dev, serio, calls


def _run(dev: Device) -> int:
    return keyboard.run(UdevEvent(dev, EventSettings()), ["keyboard"], False)


@pytest.mark.skipif(key_codes() is None, reason=f"{HEADER} not installed")
def test_builtin_maps_names_and_installs_force_release(keyboard_dev: tuple[Device, Path, list[tuple[int, int]]],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    dev, serio, calls = keyboard_dev
    dev.properties.update({"KEYBOARD_KEY_a0": "!mute", "KEYBOARD_KEY_a1": "f21", "KEYBOARD_KEY_ae": "!",
                           "KEYBOARD_KEY_b0": "frobnicate", "POINTINGSTICK_SENSITIVITY": "200"})
    with caplog.at_level(logging.ERROR, "devmaster"):
        assert _run(dev) == 0
    assert calls == [(0xA0, 113), (0xA1, 191)]
    assert (serio / "force_release").read_text() == "369-370,160,174"
    assert (serio / "sensitivity").read_text() == "200"
    assert "Failed to parse key identifier 'frobnicate'" in caplog.text


def test_builtin_force_release_only_needs_no_node(keyboard_dev: tuple[Device, Path, list[tuple[int, int]]]) -> None:
    dev, serio, calls = keyboard_dev
    dev.properties["DEVNAME"] = "/nonexistent/event3"
    dev.properties["KEYBOARD_KEY_d0"] = "!"
    assert _run(dev) == 0
    assert calls == [] and (serio / "force_release").read_text() == "369-370,208"


def test_builtin_fails_when_the_node_cannot_be_opened(keyboard_dev: tuple[Device, Path, list[tuple[int, int]]]
                                                      ) -> None:
    dev, _, calls = keyboard_dev
    dev.properties["DEVNAME"] = "/nonexistent/event3"
    dev.properties["KEYBOARD_KEY_d0"] = "0x10"
    assert _run(dev) < 0 and calls == []


def test_sensitivity_out_of_range_is_refused(keyboard_dev: tuple[Device, Path, list[tuple[int, int]]]) -> None:
    dev, serio, _ = keyboard_dev
    dev.properties["POINTINGSTICK_SENSITIVITY"] = "256"
    assert _run(dev) == 0
    assert (serio / "sensitivity").read_text() == "128\n"
