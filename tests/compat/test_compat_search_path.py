from __future__ import annotations

import os
import subprocess

import pytest
from compat_helpers import needs_analyze

from compat.model import Scope
from compat.search_path import lookup_paths


def _systemd_paths(scope: Scope, env: dict[str, str]) -> list[str]:
    args = ["systemd-analyze", "unit-paths"] + (["--user"] if scope is Scope.USER else [])
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout
    return out.split()


def _ours(scope: Scope, env: dict[str, str]) -> list[str]:
    return [p for p in lookup_paths(scope, environ=env).search_path if "sysmaster" not in p]


ENVS = [
    {},
    {"SYSTEMD_UNIT_PATH": "/tmp/a"},
    {"SYSTEMD_UNIT_PATH": "/tmp/a:"},
    {"SYSTEMD_UNIT_PATH": "/tmp/a:/tmp/b:"},
    {"XDG_RUNTIME_DIR": "/run/user/4242", "XDG_CONFIG_HOME": "/tmp/cfg", "XDG_DATA_DIRS": "/opt/share"},
]


@needs_analyze
@pytest.mark.parametrize("scope", [Scope.SYSTEM, Scope.USER])
@pytest.mark.parametrize("extra", ENVS)
def test_same_search_path_as_systemd(scope: Scope, extra: dict[str, str]) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": "/root", **extra}
    assert _ours(scope, env) == _systemd_paths(scope, env)


def test_sysmaster_dirs_come_before_their_systemd_counterparts() -> None:
    paths = lookup_paths(Scope.SYSTEM, environ={}).search_path
    assert paths.index("/etc/sysmaster/system") < paths.index("/etc/systemd/system")
    assert paths.index("/run/sysmaster/system") < paths.index("/run/systemd/system")
    assert paths.index("/usr/lib/sysmaster/system") < paths.index("/lib/systemd/system")


def test_explicit_unit_path_list() -> None:
    only = lookup_paths(Scope.SYSTEM, unit_path=["/a", "/b"], environ={"SYSTEMD_UNIT_PATH": "/c"})
    assert only.search_path == ("/a", "/b")
    appended = lookup_paths(Scope.SYSTEM, unit_path=["/a", "/b:"], environ={})
    assert appended.search_path[:2] == ("/a", "/b")
    assert "/etc/systemd/system" in appended.search_path


def test_root_dir_prefixes_everything() -> None:
    paths = lookup_paths(Scope.SYSTEM, environ={}, root_dir="/srv/root")
    assert all(p.startswith("/srv/root/") for p in paths.search_path)
    assert paths.persistent_config == "/srv/root/etc/systemd/system"
