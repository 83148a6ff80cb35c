from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from compat_helpers import FACTS, analyze_dump, needs_analyze, needs_systemctl

from compat.loader import UnitLoader
from compat.model import Scope

SIMPLE = "[Service]\nExecStart=/bin/true\n"


def loader(*dirs: Path) -> UnitLoader:
    return UnitLoader(Scope.SYSTEM, unit_path=[str(d) for d in dirs], facts=FACTS)


def test_plain_unit(units: Callable[..., Path], tmp_path: Path) -> None:
    units("a.service", "[Unit]\nDescription=A %n\n" + SIMPLE)
    u = loader(tmp_path / "units").load("a.service")
    assert (u.name, u.load_state, u.load_error) == ("a.service", "loaded", None)
    assert u.fragment_path == str(tmp_path / "units/a.service")
    assert u.config is not None and u.config.unit.description == "A a.service"
    assert u.unit_file_state == "static"


def test_not_found_and_invalid(tmp_path: Path) -> None:
    ld = loader(tmp_path)
    u = ld.load("nope.service")
    assert (u.load_state, u.load_error, u.config) == ("not-found", "Unit nope.service not found.", None)
    assert ld.load("bad name.service").load_state == "error"
    assert ld.load("tmpl@.service").load_state == "error"


def test_masks(units: Callable[..., Path], tmp_path: Path) -> None:
    units("a.service", SIMPLE, where="lib")
    os.symlink("/dev/null", units("x", where="etc").parent / "a.service")
    units("b.service", "", where="lib")
    ld = loader(tmp_path / "etc", tmp_path / "lib")
    a = ld.load("a.service")
    assert (a.load_state, a.load_error, a.unit_file_state) == ("masked", "Unit a.service is masked.", "masked")
    assert ld.load("b.service").load_state == "masked"


def test_dropins_merge_by_file_name(units: Callable[..., Path], tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    units("foo-bar.service", "[Service]\nExecStart=/bin/a\nEnvironment=X=1\n", where="b")
    units("foo-bar.service.d/10-x.conf", "[Service]\nEnvironment=X=high\n", where="a")
    units("foo-bar.service.d/10-x.conf", "[Service]\nEnvironment=X=low\n", where="b")
    units("foo-bar.service.d/05-y.conf", "[Service]\nExecStart=\nExecStart=/bin/b\n", where="b")
    units("foo-.service.d/07-z.conf", "[Unit]\nDescription=prefix\n", where="b")
    units("service.d/01-t.conf", "[Unit]\nDescription=type\n", where="a")
    units("foo-bar.service.d/20-m.conf", "[Unit]\nDescription=masked\n", where="b")
    os.symlink("/dev/null", a / "foo-bar.service.d/20-m.conf")
    u = loader(a, b).load("foo-bar.service")
    # The /dev/null link stays in the list (it reads as empty) and hides b's 20-m.conf.
    assert u.dropin_paths == [
        str(a / "service.d/01-t.conf"),
        str(b / "foo-bar.service.d/05-y.conf"),
        str(b / "foo-.service.d/07-z.conf"),
        str(a / "foo-bar.service.d/10-x.conf"),
        str(a / "foo-bar.service.d/20-m.conf"),
    ]
    assert u.config is not None and u.config.service is not None
    assert [c.path for c in u.config.service.exec_start] == ["/bin/b"]
    assert u.config.exec.environment == {"X": "high"}
    assert u.config.unit.description == "prefix"


@needs_analyze
def test_dropins_and_aliases_match_systemd(units: Callable[..., Path], tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    units("foo-bar.service", SIMPLE, where="b")
    units("foo-bar.service.d/10-x.conf", "[Unit]\n", where="a")
    units("foo-bar.service.d/10-x.conf", "[Unit]\n", where="b")
    units("foo-bar.service.d/05-y.conf", "[Unit]\n", where="b")
    units("foo-.service.d/07-z.conf", "[Unit]\n", where="b")
    units("alias-x.service.d/08-alias.conf", "[Unit]\n", where="b")
    units("service.d/01-t.conf", "[Unit]\n", where="a")
    units("zz.service", SIMPLE, where="a")
    units("empty.service", "", where="a")
    (a / "foo-bar.service.wants").mkdir()
    os.symlink(a / "zz.service", a / "foo-bar.service.wants/zz.service")
    os.symlink(a / "empty.service", a / "foo-bar.service.wants/empty.service")
    os.symlink(b / "foo-bar.service", a / "alias-x.service")
    u = loader(a, b).load("alias-x.service")
    dump = analyze_dump([a, b], "alias-x.service")
    assert [u.name] == dump["Id"]
    assert u.names[1:] == dump["Alias"]
    assert [u.fragment_path] == dump["Fragment Path"]
    assert u.dropin_paths == dump["DropIn Path"]
    assert u.config is not None
    assert u.config.unit.wants == [w.split()[0] for w in dump["Wants"]]


def test_templates_and_instances(units: Callable[..., Path], tmp_path: Path) -> None:
    units("getty@.service", "[Unit]\nDescription=Getty on %I\n[Service]\nExecStart=/sbin/agetty %i\n")
    units("getty@tty9.service.d/x.conf", "[Unit]\nAfter=x.target\n")
    units("getty@.service.d/y.conf", "[Unit]\nAfter=y.target\n")
    u = loader(tmp_path / "units").load("getty@tty9.service")
    assert u.name == "getty@tty9.service"
    assert u.fragment_path == str(tmp_path / "units/getty@.service")
    assert u.config is not None and u.config.service is not None
    assert u.config.unit.description == "Getty on tty9"
    assert u.config.service.exec_start[0].argv == ("/sbin/agetty", "tty9")
    assert u.config.unit.after == ["x.target", "y.target"]


def test_wants_and_requires_dirs(units: Callable[..., Path], tmp_path: Path) -> None:
    units("multi.target", "[Unit]\nDescription=m\n")
    units("a.service", SIMPLE)
    units("b@.service", SIMPLE)
    d = tmp_path / "units"
    (d / "multi.target.wants").mkdir()
    (d / "multi.target.requires").mkdir()
    os.symlink("../a.service", d / "multi.target.wants/a.service")
    os.symlink("../b@.service", d / "multi.target.requires/b@x.service")
    os.symlink("../b@.service", d / "multi.target.requires/b@.service")  # instance: our prefix
    (d / "multi.target.wants/plain.service").write_text("[Unit]\n")  # not a symlink
    u = loader(d).load("multi.target")
    assert u.config is not None
    assert u.config.unit.wants == ["a.service"]
    assert u.config.unit.requires == ["b@multi.service", "b@x.service"]
    assert any("is not a symlink, ignoring" in str(diag) for diag in u.diagnostics)


def test_linked_unit_file(units: Callable[..., Path], tmp_path: Path) -> None:
    target = units("ext.service", SIMPLE, where="elsewhere")
    (tmp_path / "units").mkdir()
    os.symlink(target, tmp_path / "units/ext.service")
    u = loader(tmp_path / "units").load("ext.service")
    assert u.load_state == "loaded"
    assert u.fragment_path == str(tmp_path / "units/ext.service")
    assert u.unit_file_state == "linked"


@pytest.mark.parametrize(
    ("text", "state", "reason"),
    [
        ("[Unit]\nDescription=x\n", "bad-setting", "Unit t.service has a bad unit file setting."),
        ("[Service]\nExecStart=relative/path\n", "bad-setting", "Unit t.service has a bad unit file setting."),
        ("[Servic\n", "error", "Bad message"),
        ("[Service]\nExecStart=-relative/path\nExecStart=/bin/true\n", "loaded", None),
    ],
)
def test_load_failures(units: Callable[..., Path], tmp_path: Path, text: str, state: str, reason: str) -> None:
    units("t.service", text)
    u = loader(tmp_path / "units").load("t.service")
    assert (u.load_state, u.load_error) == (state, reason)
    assert u.diagnostics


def test_unreadable_file_is_an_error(units: Callable[..., Path], tmp_path: Path) -> None:
    units("t.service", SIMPLE)
    ld = loader(tmp_path / "units")
    (tmp_path / "units/t.service").unlink()
    (tmp_path / "units/t.service").mkdir()  # vanished between scan and load
    u = ld.load("t.service")
    assert u.load_state in ("error", "not-found")


def test_rescan_sees_new_files(units: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "units").mkdir()
    ld = loader(tmp_path / "units")
    assert ld.load("n.service").load_state == "not-found"
    units("n.service", SIMPLE)
    ld.rescan()
    assert ld.load("n.service").load_state == "loaded"
    assert ld.all_names() == ["n.service"]


@needs_systemctl
def test_unit_file_states_match_systemctl_on_this_host() -> None:
    proc = subprocess.run(
        ["systemctl", "list-unit-files", "--no-legend", "--no-pager"],
        capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, timeout=60,
    )
    theirs = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines() if line.strip()}
    ld = UnitLoader(Scope.SYSTEM, environ={}, facts=FACTS)
    assert {row.name: row.state for row in ld.list_unit_files()} == theirs


def test_generated_transient_and_runtime_states(tmp_path: Path) -> None:
    root = tmp_path
    for d, name in [("run/systemd/generator", "gen.service"), ("run/systemd/transient", "tr.service"),
                    ("lib/systemd/system", "vendor.service"), ("lib/systemd/system", "m.service")]:
        (root / d).mkdir(parents=True, exist_ok=True)
        (root / d / name).write_text(SIMPLE + "[Install]\nWantedBy=multi-user.target\n")
    (root / "run/systemd/system/multi-user.target.wants").mkdir(parents=True)
    os.symlink("/lib/systemd/system/vendor.service", root / "run/systemd/system/multi-user.target.wants/vendor.service")
    os.symlink("/dev/null", root / "run/systemd/system/m.service")
    ld = UnitLoader(Scope.SYSTEM, environ={}, root_dir=str(root), facts=FACTS)
    assert ld.load("gen.service").unit_file_state == "generated"
    assert ld.load("tr.service").unit_file_state == "transient"
    assert ld.load("vendor.service").unit_file_state == "enabled-runtime"
    assert ld.load("m.service").unit_file_state == "masked-runtime"
    assert ld.load("vendor.service").fragment_path == str(root / "lib/systemd/system/vendor.service")


def test_user_scope(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "run"), "PATH": "/usr/bin:/bin"}
    (tmp_path / ".config/systemd/user").mkdir(parents=True)
    (tmp_path / ".config/systemd/user/u.service").write_text("[Service]\nExecStart=/bin/echo %h %t %U\n")
    ld = UnitLoader(Scope.USER, environ=env)
    u = ld.load("u.service")
    assert u.load_state == "loaded" and u.config is not None and u.config.service is not None
    assert u.config.service.exec_start[0].argv == ("/bin/echo", str(tmp_path), str(tmp_path / "run"), str(os.getuid()))
    assert ld.paths.persistent_config == str(tmp_path / ".config/systemd/user")
