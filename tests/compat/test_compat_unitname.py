from __future__ import annotations

import subprocess

import pytest
from compat_helpers import needs_analyze
from hypothesis import given, settings
from hypothesis import strategies as st

from compat import unitname
from compat.model import UnitKind


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("foo.service", True),
        ("foo@.service", True),
        ("foo@bar.service", True),
        ("foo@bar@baz.service", True),
        ("a-b_c:d.e\\x20.target", True),
        ("@foo.service", False),
        ("foo", False),
        (".service", False),
        ("foo.unknown", False),
        ("foo bar.service", False),
        ("x" * 250 + ".service", False),
        ("", False),
    ],
)
def test_validity(name: str, valid: bool) -> None:
    assert unitname.is_valid(name) is valid


def test_parts() -> None:
    n = unitname.parse("getty@tty1.service")
    assert n is not None
    assert (n.prefix, n.instance, n.kind) == ("getty", "tty1", UnitKind.SERVICE)
    assert n.template == "getty@.service"
    assert n.is_instance and not n.is_template
    t = unitname.parse("getty@.service")
    assert t is not None and t.is_template
    assert unitname.instantiate("getty@.service", "tty2") == "getty@tty2.service"
    with pytest.raises(ValueError):
        unitname.instantiate("getty.service", "x")


def test_dropin_stems_follow_systemd_order() -> None:
    assert unitname.dropin_stems("foo-bar-baz.service") == [
        "foo-bar-baz.service",
        "foo-bar-.service",
        "foo-.service",
    ]
    assert unitname.dropin_stems("foo-bar@x.service") == [
        "foo-bar@x.service",
        "foo-bar@.service",
        "foo-.service",
        "foo-@x.service",
        "foo-@.service",
    ]
    assert unitname.dropin_stems("-foo.service") == ["-foo.service"]


def _systemd_escape(*args: str) -> str:
    return subprocess.run(
        ["systemd-escape", *args], capture_output=True, text=True, check=True
    ).stdout.rstrip("\n")


@needs_analyze
@pytest.mark.parametrize("text", ["/a b-c/.d", ".hidden", "ä/ö", "x\\y", "plain", "a:b_c.d"])
def test_escape_matches_systemd_escape(text: str) -> None:
    assert unitname.escape(text) == _systemd_escape("--", text)
    escaped = unitname.escape(text)
    assert unitname.unescape(escaped) == _systemd_escape("--unescape", "--", escaped)


@needs_analyze
@pytest.mark.parametrize("path", ["/", "/home/x y/", "//a//b/", "/dev/disk/by-label/a-b"])
def test_path_escape_matches_systemd_escape(path: str) -> None:
    escaped = unitname.path_escape(path)
    assert escaped == _systemd_escape("--path", "--", path)
    assert unitname.path_unescape(escaped) == _systemd_escape("--unescape", "--path", "--", escaped)


def test_path_escape_rejects_dotdot() -> None:
    with pytest.raises(ValueError):
        unitname.path_escape("/a/../b")
    with pytest.raises(ValueError):
        unitname.unescape("a\\q")


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_escape_roundtrip(text: str) -> None:
    escaped = unitname.escape(text)
    assert unitname.unescape(escaped) == text
    assert unitname.is_valid(escaped + ".service") or len(escaped) >= 240
