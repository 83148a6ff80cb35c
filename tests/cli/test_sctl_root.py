"""`sctl --root=DIR` against `systemctl --root=DIR` (Debian's 252): the same commands on two copies
of one small root tree must print the same (root paths aside), exit the same, and leave the same
symlinks. No manager runs: these verbs work on the files alone, and the others are refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMCTL = "/usr/bin/systemctl"
UNITS = {
    "foo.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=bar.service\n",
    "static.service": "[Service]\nExecStart=/bin/true\n",
    "tmpl@.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    "multi-user.target": "[Unit]\nDescription=Multi-User\n",
    "graphical.target": "[Unit]\nDescription=Graphical\n",
}
COMMANDS = [
    "enable foo.service", "is-enabled foo.service bar.service", "enable static.service",
    "enable nosuch.service", "enable tmpl@a.service", "is-enabled tmpl@a.service", "disable foo.service",
    "is-enabled foo.service", "mask static.service", "is-enabled static.service", "enable static.service",
    "unmask static.service", "get-default", "set-default foo.service", "set-default graphical",
    "get-default", "is-enabled nosuch.service", "list-unit-files --no-pager",
    "list-unit-files --no-pager --state=enabled", "list-unit-files --no-pager *.target", "-q enable foo",
    "disable nosuch.service", "mask foo.service", "enable foo.service", "unmask foo.service",
    "reenable foo.service", "reenable static.service", "add-wants graphical.target static.service",
    "add-requires graphical.target tmpl@c.service", "is-enabled static.service", "disable foo.service",
    "preset foo.service", "preset tmpl@d.service", "is-enabled foo.service", "preset-all",
    "list-unit-files --no-pager", "revert foo.service", "add-wants nosuch.target foo.service",
    "start foo.service", "status foo.service", "daemon-reload", "list-units", "cat foo.service",
    # --global: every user's units (below the root, so the host's /etc/systemd/user is not touched)
    "--global enable app.service", "--global is-enabled app.service", "--global list-unit-files --no-pager",
    "--global disable app.service", "--global mask app.service", "--global is-enabled app.service",
    "--global unmask app.service", "--global preset app.service", "--global start app.service",
    # no user scope below a root in systemd 252
    "--user is-enabled app.service", "--user enable app.service", "--user list-unit-files",
    "--user get-default", "--user set-default default.target", "--user preset-all",
    "--user add-wants default.target app.service", "--user mask app.service",
]
USER_UNITS = {
    "app.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=default.target\n",
    "default.target": "[Unit]\nDescription=Main User Target\n",
}


def _tree(root: Path) -> None:
    vendor = root / "usr/lib/systemd/system"
    vendor.mkdir(parents=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for name, text in UNITS.items():
        (vendor / name).write_text(text)
    (vendor / "default.target").symlink_to("multi-user.target")
    user = root / "usr/lib/systemd/user"
    user.mkdir(parents=True)
    for name, text in USER_UNITS.items():
        (user / name).write_text(text)
    presets = root / "usr/lib/systemd/system-preset"
    presets.mkdir(parents=True)
    (presets / "90-test.preset").write_text("disable foo.service\nenable *\n")


def _links(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): os.readlink(p) for p in sorted((root / "etc").rglob("*")) if p.is_symlink()}


def _run(argv: list[str], root: Path) -> tuple[int, str, str]:
    r = subprocess.run([*argv, f"--root={root}"], capture_output=True, text=True, timeout=60, cwd="/",
                       env={**os.environ, "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0", "LANG": "C.UTF-8"})
    return r.returncode, r.stdout.replace(str(root), "$ROOT"), r.stderr.replace(str(root), "$ROOT")


@pytest.mark.skipif(not Path(SYSTEMCTL).exists(), reason="needs systemctl")
def test_root_verbs_match_systemctl(tmp_path: Path) -> None:
    theirs, ours = tmp_path / "a", tmp_path / "b"
    for root in (theirs, ours):
        _tree(root)
    sctl = [sys.executable, "-m", "sysmasterd.cli.sctl"]
    differences = []
    for command in COMMANDS:
        words = command.split()
        expected, got = _run([SYSTEMCTL, *words], theirs), _run([*sctl, *words], ours)
        if expected != got:
            differences.append(f"{command}:\n  systemctl {expected}\n  sctl      {got}")
        if _links(theirs) != _links(ours):
            differences.append(f"after {command}: links {_links(theirs)} != {_links(ours)}")
            break
    assert not differences, "\n".join(differences)
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_offline_verbs_are_the_unit_file_verbs() -> None:
    """--global picks its offline verbs from sctl's table without importing sctl_offline."""
    from sysmasterd.cli import sctl, sctl_offline

    assert set(sctl_offline.VERBS) == sctl._UNIT_FILE_VERBS
