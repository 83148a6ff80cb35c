from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
from compat_helpers import FACTS, needs_analyze

from compat.loader import UnitLoader
from compat.model import Scope
from compat.specifiers import HostFacts, expand


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ("%n", "foo-bar@a-b\\x20c.service"),
        ("%N", "foo-bar@a-b\\x20c"),
        ("%p", "foo-bar"),
        ("%P", "foo/bar"),
        ("%i", "a-b\\x20c"),
        ("%I", "a/b c"),
        ("%j", "bar"),
        ("%J", "bar"),
        ("%f", "/a/b c"),
        ("%H", "host.example.com"),
        ("%l", "host"),
        ("%m", "0123456789abcdef0123456789abcdef"),
        ("%b", "fedcba9876543210fedcba9876543210"),
        ("%v", "6.1.0-test"),
        ("%a", "x86-64"),
        ("%o", "debian"),
        ("%w", "12"),
        ("%u", "root"),
        ("%U", "0"),
        ("%g", "root"),
        ("%G", "0"),
        ("%h", "/root"),
        ("%s", "/bin/sh"),
        ("%t", "/run"),
        ("%S", "/var/lib"),
        ("%C", "/var/cache"),
        ("%L", "/var/log"),
        ("%E", "/etc"),
        ("%T", "/tmp"),
        ("%V", "/var/tmp"),
        ("%%", "%"),
        ("100%", "100%"),
        ("%-x", "%-x"),
    ],
)
def test_unit_specifiers(spec: str, value: str) -> None:
    assert expand(spec, "foo-bar@a-b\\x20c.service", FACTS) == value


def test_plain_unit_f_is_path_of_prefix() -> None:
    assert expand("%f %i|", "dev-sda1.device", FACTS) == "/dev/sda1 |"


def test_unknown_specifier_is_an_error() -> None:
    with pytest.raises(ValueError):
        expand("%D", "a.service", FACTS)
    with pytest.raises(ValueError):
        expand("%m", "a.service", dataclasses.replace(FACTS, machine_id=None))


def test_names_only_rejects_path_specifiers() -> None:
    assert expand("%p-%i.target", "x@y.service", FACTS, names_only=True) == "x-y.target"
    with pytest.raises(ValueError):
        expand("%t", "x.service", FACTS, names_only=True)


def test_user_scope_directories() -> None:
    env = {"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000", "XDG_CONFIG_HOME": "/home/u/.cfg"}
    facts = HostFacts.from_host(Scope.USER, env)
    assert expand("%t %S %C %L %E %h", "a.service", facts) == (
        "/run/user/1000 /home/u/.cfg /home/u/.cache /home/u/.cfg/log /home/u/.cfg /home/u"
    )


ALL = "%n|%N|%p|%P|%i|%I|%j|%J|%f|%h|%t|%S|%C|%L|%E|%u|%U|%g|%G|%T|%V|%s|%H|%l|%m|%b|%o|%w|%v|%a|%A|%B|%W|%M|%q|%d|%%"


@needs_analyze
@pytest.mark.parametrize("scope", [Scope.SYSTEM, Scope.USER])
def test_every_specifier_matches_systemd_on_this_host(tmp_path: Path, scope: Scope) -> None:
    units, runtime = tmp_path / "units", tmp_path / "runtime"
    units.mkdir()
    runtime.mkdir()
    (units / "a-b@x-y.service").write_text(f"[Unit]\nDescription={ALL}\n[Service]\nExecStart=/bin/true\n")
    env = {"PATH": os.environ["PATH"], "HOME": "/root", "XDG_RUNTIME_DIR": str(runtime),
           "SYSTEMD_UNIT_PATH": f"{units}:", "SYSTEMD_LOG_LEVEL": "debug"}
    args = ["systemd-analyze", *(["--user"] if scope is Scope.USER else []), "verify", "--man=no", "a-b@x-y.service"]
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    theirs = [ln.strip().removeprefix("Description: ") for ln in (out.stdout + out.stderr).splitlines()
              if ln.strip().startswith("Description: ")]
    loaded = UnitLoader(scope, unit_path=[str(units)], environ=env).load("a-b@x-y.service")
    assert loaded.config is not None
    assert [loaded.config.unit.description] == theirs[:1]
