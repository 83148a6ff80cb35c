"""hwdb.bin: our reader and our compiler answer like sd-hwdb / systemd-hwdb."""

import glob
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from dm_sandbox import PYTHON, REPO

from sysmasterd.devmaster.builtin.hwdb_compile import Trie, import_text
from sysmasterd.devmaster.builtin.hwdb_trie import Hwdb, find_hwdb

SOURCES = sorted(glob.glob("/lib/udev/hwdb.d/*.hwdb"))
pytestmark = pytest.mark.skipif(not SOURCES or not shutil.which("systemd-hwdb"), reason="no hwdb sources")
LOCAL = b"""# local override
usb:v1D6Bp0002*
 ID_MODEL_FROM_DATABASE=dmtest root hub

dmtest:*
 DMTEST_KEY=1
"""


def _keys(count: int) -> list[str]:
    lines = [line for path in SOURCES for line in Path(path).read_text(errors="replace").splitlines()
             if line[:1] not in (" ", "#", "")]
    random.seed(7)
    picked = random.sample(lines, count)
    return [k for m in picked for k in (m.replace("*", ""), m.replace("*", "Q1").replace("?", "0"))]


def test_reader_matches_systemd_hwdb_query() -> None:
    path = find_hwdb()
    assert path is not None
    hwdb = Hwdb(path)
    for key in ("usb:v1D6Bp0002:", "pci:v00008086d00007000*", "OUI:0050C2", "acpi:PNP0A08:"):
        out = subprocess.run(["systemd-hwdb", "query", key], capture_output=True, text=True).stdout
        assert [f"{k}={v}" for k, v in hwdb.lookup(key).items()] == out.splitlines()


def test_compiled_database_answers_like_systemd_hwdb(tmp_path: Path) -> None:
    for root in (tmp_path / "ours", tmp_path / "theirs"):
        (root / "lib/udev/hwdb.d").mkdir(parents=True)
        (root / "etc/udev/hwdb.d").mkdir(parents=True)
        for src in SOURCES:
            os.symlink(src, root / "lib/udev/hwdb.d" / os.path.basename(src))
        (root / "etc/udev/hwdb.d/99-dmtest.hwdb").write_bytes(LOCAL)
    r = subprocess.run([PYTHON, "-m", "sysmasterd.cli.devctl", "hwdb", "--update", f"--root={tmp_path / 'ours'}"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["systemd-hwdb", f"--root={tmp_path / 'theirs'}", "update"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ours, theirs = (Hwdb(str(tmp_path / n / "etc/udev/hwdb.bin")) for n in ("ours", "theirs"))
    assert ours.lookup("usb:v1D6Bp0002:")["ID_MODEL_FROM_DATABASE"] == "dmtest root hub"
    assert ours.lookup("dmtest:anything") == {"DMTEST_KEY": "1"}
    for key in _keys(1500):
        assert ours.lookup(key) == theirs.lookup(key), key


def test_malformed_sources_reported_with_file_and_line() -> None:
    trie = Trie()
    import_text(trie, "x.hwdb", b" KEY=orphan\nmatch:*\n\nmatch2:*\n NOEQUALS\n KEY=1\nnext:*\nbad\n", 1)
    assert trie.diagnostics == [
        "x.hwdb:1: Match expected but got indented property, ignoring line.",
        "x.hwdb:3: Property expected, ignoring record with no properties.",
        "x.hwdb:5: Key-value pair expected, ignoring.",
        "x.hwdb:7: Property or empty line expected, ignoring record.",
        "x.hwdb:9: Property expected, ignoring record with no properties.",
    ]
