"""Pure pieces of the D-Bus face: path escaping, SASL, interface specs, neutral values, cgroup
counter files, set-property percentages."""

from __future__ import annotations

from pathlib import Path

import pytest
from dbus_fast import Variant
from hypothesis import given
from hypothesis import strategies as st

from sysmasterd.bus import accounting, spec, unitprops
from sysmasterd.bus.defaults import UINT32_MAX
from sysmasterd.bus.iface import zero_value
from sysmasterd.bus.paths import (
    escape_label,
    job_id_from_path,
    unescape_label,
    unit_name_from_path,
    unit_path,
)
from sysmasterd.bus.sasl import Outcome, ServerAuth


def test_unit_paths_as_systemd_spells_them() -> None:
    assert unit_path("foo.service") == "/org/freedesktop/systemd1/unit/foo_2eservice"
    assert unit_path("getty@tty1.service") == "/org/freedesktop/systemd1/unit/getty_40tty1_2eservice"
    assert unit_path("1.service") == "/org/freedesktop/systemd1/unit/_31_2eservice"
    assert unit_name_from_path("/org/freedesktop/systemd1/unit/dbus_2dbroker_2eservice") == "dbus-broker.service"
    assert unit_name_from_path("/org/freedesktop/systemd1/unit/bad_zz") is None
    assert job_id_from_path("/org/freedesktop/systemd1/job/42") == 42
    assert job_id_from_path("/org/freedesktop/systemd1/job/x") is None


@given(st.text(min_size=1, max_size=40))
def test_escape_roundtrip(label: str) -> None:
    escaped = escape_label(label)
    assert all(c.isascii() and (c.isalnum() or c == "_") for c in escaped)
    assert unescape_label(escaped) == label


def _auth(lines: list[bytes], uid: int = 0) -> list[tuple[bytes, Outcome]]:
    auth = ServerAuth(uid, frozenset({0}))
    return [auth.feed(line) for line in lines]


def test_sasl_sd_bus_client_pipeline() -> None:
    uid_hex = b"0".hex().encode()
    (ok, _), (agree, _), (_, begin) = _auth([b"AUTH EXTERNAL " + uid_hex, b"NEGOTIATE_UNIX_FD", b"BEGIN"])
    assert ok.startswith(b"OK ") and ok.endswith(b"\r\n")
    assert agree == b"AGREE_UNIX_FD\r\n"
    assert begin is Outcome.BEGIN


def test_sasl_external_with_data_round() -> None:
    replies = _auth([b"AUTH EXTERNAL", b"DATA", b"BEGIN"])
    assert replies[0][0] == b"DATA\r\n"
    assert replies[1][0].startswith(b"OK ")
    assert replies[2][1] is Outcome.BEGIN


def test_sasl_rejects_wrong_uid_and_other_mechanisms() -> None:
    assert _auth([b"AUTH EXTERNAL " + b"1000".hex().encode()])[0][0] == b"REJECTED EXTERNAL\r\n"
    assert _auth([b"AUTH EXTERNAL"], uid=1000)[0][0] == b"DATA\r\n"
    assert _auth([b"AUTH ANONYMOUS"])[0][0] == b"REJECTED EXTERNAL\r\n"
    assert _auth([b"BEGIN"])[0] == (b"ERROR\r\n", Outcome.CONTINUE)
    assert _auth([b"garbage"] * 9)[-1][1] is Outcome.REJECT


def test_every_property_has_a_valid_neutral_value() -> None:
    names = [n for n in spec.interface_names() if n.startswith("org.freedesktop.systemd1.")]
    assert "org.freedesktop.systemd1.Service" in names
    for name in names:
        for prop in spec.interface(name).properties.values():
            Variant(prop.signature, zero_value(prop.signature))


def test_wire_signatures_that_systemctl_status_depends_on() -> None:
    service = spec.interface("org.freedesktop.systemd1.Service").properties
    assert service["MainPID"].signature == "u"
    assert service["ExecStart"].signature == "a(sasbttttuii)"
    unit = spec.interface("org.freedesktop.systemd1.Unit").properties
    assert unit["ActiveEnterTimestamp"].signature == "t"
    assert unit["Job"].signature == "(uo)"
    manager = spec.interface("org.freedesktop.systemd1.Manager")
    assert manager.methods["StartUnit"].in_signature == "ss"
    assert manager.methods["StartUnit"].out_signature == "o"
    assert manager.signals["JobRemoved"] == "uoss"


def test_data_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYSMASTER_DBUS_DIR", str(tmp_path))
    assert spec.data_dir() == tmp_path


def test_cgroup_counters(tmp_path: Path) -> None:
    (tmp_path / "memory.current").write_text("1234567\n")
    (tmp_path / "pids.current").write_text("3\n")
    (tmp_path / "cpu.stat").write_text("usage_usec 4200\nuser_usec 4000\nsystem_usec 200\n")
    assert accounting.read_counter(str(tmp_path), "memory.current") == 1234567
    assert accounting.read_counter(str(tmp_path), "pids.current") == 3
    assert accounting.read_cpu_usage_usec(str(tmp_path)) == 4200
    assert accounting.read_counter(str(tmp_path), "memory.peak") is None
    (tmp_path / "cpu.stat").write_text("garbage\n")
    assert accounting.read_cpu_usage_usec(str(tmp_path)) is None


@pytest.mark.parametrize(("permyriad", "text"), [(5000, "50%"), (1250, "12.5%"), (5, "0.05%"), (10000, "100%"),
                                                 (3333, "33.33%")])
def test_percentages_written_as_systemd_does(permyriad: int, text: str) -> None:
    raw = permyriad * UINT32_MAX // 10000  # what systemctl sends for "<text>"
    assert unitprops.percent_text(raw) == text


def test_memory_scale_rounds_to_pages() -> None:
    assert unitprops.scaled(8 << 30, UINT32_MAX // 2, 4096) == (4 << 30) - 4096
    assert unitprops.scaled(8 << 30, UINT32_MAX, 4096) == 8 << 30
