"""[Install] operations compared with Debian's `systemctl --root=DIR` on an identical tree."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from compat_helpers import VENDOR, changes, links, make_root, needs_systemctl, normalized, ours, systemctl, write

from compat.install import Installer, InstallError, parse_preset


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    return make_root(tmp_path / "theirs"), make_root(tmp_path / "ours")


Op = Callable[[Installer], object]

SCENARIOS: list[tuple[str, list[list[str]], Op]] = [
    ("enable", [["enable", "foo.service"]], lambda i: i.enable(["foo.service"])),
    ("enable-runtime", [["enable", "--runtime", "foo.service"]], lambda i: i.enable(["foo.service"], runtime=True)),
    ("enable-template-default", [["enable", "t@.service"]], lambda i: i.enable(["t@.service"])),
    ("enable-instance", [["enable", "t@x.service", "u@y.service"]],
     lambda i: i.enable(["t@x.service", "u@y.service"])),
    ("mask", [["mask", "static.service"]], lambda i: i.mask(["static.service"])),
    ("mask-runtime", [["mask", "--runtime", "bar.service"]], lambda i: i.mask(["bar.service"], runtime=True)),
    ("set-default", [["set-default", "graphical.target"]], lambda i: i.set_default("graphical.target")),
]


@needs_systemctl
@pytest.mark.parametrize(("label", "commands", "op"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_same_symlinks_as_systemctl(
    roots: tuple[Path, Path], label: str, commands: list[list[str]], op: Op
) -> None:
    theirs, mine = roots
    their_lines: list[str] = []
    for cmd in commands:
        rc, lines = systemctl(theirs, *cmd)
        assert rc == 0
        their_lines += lines
    result = op(ours(mine))
    assert links(mine) == links(theirs)
    assert sorted(changes(result.changes, mine)) == sorted(normalized(their_lines, theirs))  # type: ignore[attr-defined]


@needs_systemctl
def test_disable_reenable_unmask_like_systemctl(roots: tuple[Path, Path]) -> None:
    theirs, mine = roots
    inst = ours(mine)
    for cmd, op in [
        (["enable", "foo.service", "t@x.service"], lambda: inst.enable(["foo.service", "t@x.service"])),
        (["disable", "foo.service"], lambda: inst.disable(["foo.service"])),
        (["enable", "foo.service"], lambda: inst.enable(["foo.service"])),
        (["reenable", "foo.service"], lambda: inst.reenable(["foo.service"])),
        (["disable", "t@.service"], lambda: inst.disable(["t@.service"])),
        (["mask", "static.service"], lambda: inst.mask(["static.service"])),
        (["unmask", "static.service"], lambda: inst.unmask(["static.service"])),
    ]:
        rc, lines = systemctl(theirs, *cmd)
        assert rc == 0, cmd
        result = op()
        assert links(mine) == links(theirs), cmd
        assert sorted(changes(result.changes, mine)) == sorted(normalized(lines, theirs)), cmd


@needs_systemctl
def test_is_enabled_like_systemctl(roots: tuple[Path, Path]) -> None:
    theirs, mine = roots
    for root in roots:
        inst = ours(root) if root == mine else None
        if inst:
            inst.enable(["foo.service", "t@x.service"])
            inst.mask(["static.service"])
        else:
            systemctl(root, "enable", "foo.service", "t@x.service")
            systemctl(root, "mask", "static.service")
    inst = ours(mine)
    names = ["foo.service", "bar.service", "foo-alias.service", "t@.service", "t@x.service", "t@y.service",
             "u@.service", "static.service", "multi-user.target"]
    proc = subprocess.run(["systemctl", f"--root={theirs}", "is-enabled", *names], capture_output=True, text=True)
    assert [inst.file_state(n) for n in names] == proc.stdout.split()


@needs_systemctl
def test_link_and_enable_by_path(roots: tuple[Path, Path]) -> None:
    theirs, mine = roots
    for root in roots:
        write(root / "opt/ext/ext.service", "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n")
    rc, lines = systemctl(theirs, "enable", "/opt/ext/ext.service")
    assert rc == 0
    result = ours(mine).enable(["/opt/ext/ext.service"])
    assert links(mine) == links(theirs)
    assert changes(result.changes, mine) == normalized(lines, theirs)
    assert ours(mine).file_state("ext.service") == "enabled"
    rc, lines = systemctl(theirs, "disable", "ext.service")
    result = ours(mine).disable(["ext.service"])
    assert links(mine) == links(theirs) == {}
    assert sorted(changes(result.changes, mine)) == sorted(normalized(lines, theirs))


@needs_systemctl
def test_presets_like_systemctl(roots: tuple[Path, Path]) -> None:
    theirs, mine = roots
    for root in roots:
        write(root / "usr/lib/systemd/system-preset/50-vendor.preset",
              "# vendor\ndisable bar.service\nenable foo.*\nenable u@.service a b\n")
        write(root / "etc/systemd/system-preset/40-admin.preset", "disable foo.service\n")
        write(root / "usr/lib/systemd/system-preset/40-admin.preset", "enable foo.service\n")
    names = ["foo.service", "bar.service", "u@.service", "t@.service"]
    listing = subprocess.run(["systemctl", f"--root={theirs}", "list-unit-files", "--no-legend", *names],
                             capture_output=True, text=True).stdout.split("\n")
    presets = {line.split()[0]: line.split()[2] for line in listing if line.strip()}
    assert {n: ours(mine).unit_file_preset(n) for n in presets} == presets
    rc, lines = systemctl(theirs, "preset", *names)
    assert rc == 0
    result = ours(mine).preset(names)
    assert links(mine) == links(theirs)
    assert sorted(changes(result.changes, mine)) == sorted(normalized(lines, theirs))


@needs_systemctl
def test_revert_like_systemctl(roots: tuple[Path, Path]) -> None:
    theirs, mine = roots
    for root in roots:
        write(root / "etc/systemd/system/static.service", VENDOR["static.service"])
        write(root / "etc/systemd/system/static.service.d/x.conf", "[Unit]\n")
        write(root / "run/systemd/system/static.service.d/y.conf", "[Unit]\n")
        write(root / "etc/systemd/system/own.service", VENDOR["static.service"])
    rc, lines = systemctl(theirs, "revert", "static.service", "own.service")
    assert rc == 0
    result = ours(mine).revert(["static.service", "own.service"])
    assert sorted(changes(result.changes, mine)) == sorted(normalized(lines, theirs))
    assert (mine / "etc/systemd/system/own.service").exists()
    assert not (mine / "etc/systemd/system/static.service").exists()


def test_errors(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    inst = ours(root)
    with pytest.raises(InstallError, match=r"Unit file nope.service does not exist.") as e:
        inst.enable(["nope.service"])
    assert e.value.kind == "not-found"
    inst.mask(["bar.service"])
    with pytest.raises(InstallError, match="is masked"):
        inst.enable(["bar.service"])
    write(root / "etc/systemd/system/multi-user.target.wants/foo.service", "")
    with pytest.raises(InstallError, match="already exists"):
        inst.enable(["foo.service"])
    result = inst.enable(["static.service"])
    assert not result.carries_install_info
    assert result.changes == []
    with pytest.raises(InstallError, match="No such file") as e:
        inst.get_default()
    assert e.value.kind == "not-found"


def test_default_target_roundtrip(tmp_path: Path) -> None:
    inst = ours(make_root(tmp_path))
    first = inst.set_default("multi-user.target")
    assert [c.type for c in first.changes] == ["symlink"]
    assert inst.get_default() == "multi-user.target"
    second = inst.set_default("graphical.target")
    assert [c.type for c in second.changes] == ["unlink", "symlink"]
    assert os.readlink(tmp_path / "etc/systemd/system/default.target") == "/lib/systemd/system/graphical.target"
    with pytest.raises(InstallError):
        inst.set_default("foo.service")


def test_parse_preset() -> None:
    rules = parse_preset("# c\n; c\nenable a.service\ndisable *\nenable t@.service x y\nbogus z\nignore q.*\n")
    assert [(r.action, r.pattern, r.instances) for r in rules] == [
        ("enable", "a.service", ()),
        ("disable", "*", ()),
        ("enable", "t@.service", ("x", "y")),
        ("ignore", "q.*", ()),
    ]


@needs_systemctl
@pytest.mark.parametrize("mode", ["full", "enable-only", "disable-only"])
def test_preset_all_like_systemctl(roots: tuple[Path, Path], mode: str) -> None:
    theirs, mine = roots
    for root in roots:
        write(root / "usr/lib/systemd/system-preset/50-vendor.preset", "disable bar.service\nenable *\n")
    systemctl(theirs, "enable", "bar.service")
    ours(mine).enable(["bar.service"])
    rc, lines = systemctl(theirs, "preset-all", f"--preset-mode={mode}")
    assert rc == 0
    result = ours(mine).preset_all(mode=mode)
    assert links(mine) == links(theirs)
    assert sorted(changes(result.changes, mine)) == sorted(normalized(lines, theirs))
