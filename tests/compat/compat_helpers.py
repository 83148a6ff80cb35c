"""Shared helpers for compat tests: systemd's binaries as oracles, fixed host facts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from compat.install import Change, Installer
from compat.loader import UnitLoader
from compat.model import Scope
from compat.specifiers import HostFacts

HAVE_SYSTEMD_ANALYZE = shutil.which("systemd-analyze") is not None
HAVE_SYSTEMCTL = shutil.which("systemctl") is not None

needs_analyze = pytest.mark.skipif(not HAVE_SYSTEMD_ANALYZE, reason="systemd-analyze not installed")
needs_systemctl = pytest.mark.skipif(not HAVE_SYSTEMCTL, reason="systemctl not installed")

FACTS = HostFacts(
    scope=Scope.SYSTEM,
    hostname="host.example.com",
    machine_id="0123456789abcdef0123456789abcdef",
    boot_id="fedcba9876543210fedcba9876543210",
    kernel_release="6.1.0-test",
    architecture="x86-64",
    os_release={"ID": "debian", "VERSION_ID": "12"},
    # The host's own: systemd-analyze scales MemoryMax=50% and the like by it.
    physical_memory=os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def analyze_verify(unit_dir: Path, name: str) -> list[str]:
    """systemd-analyze verify's messages for a unit in unit_dir (the unit_dir-only search path)."""
    env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{unit_dir}:")
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit_dir / name)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return [line for line in proc.stderr.splitlines() if line.strip()]


def analyze_dump(search_dirs: list[Path], name: str) -> dict[str, list[str]]:
    """`Key: value` lines of systemd's dump of the unit that `name` loads as (the oracle's view).

    Uses `systemd-analyze verify NAME` at debug level, which prints the manager's unit dump.
    The special key "Id" holds the unit's id.
    """
    env = dict(
        os.environ,
        SYSTEMD_UNIT_PATH=":".join(str(d) for d in search_dirs),
        SYSTEMD_LOG_LEVEL="debug",
    )
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", name], capture_output=True, text=True, env=env, timeout=60
    )
    blocks: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("\t-> Unit "):
            unit_id = line.removeprefix("\t-> Unit ").rstrip(":")
            current = blocks.setdefault(unit_id, {"Id": [unit_id]})
        elif current is not None and line.startswith("\t\t") and ": " in line:
            key, _, value = line.strip().partition(": ")
            current.setdefault(key, []).append(value)
        elif not line.startswith("\t"):
            current = None
    for block in blocks.values():
        if name in block["Id"] or name in block.get("Alias", []):
            return block
    return {}


def analyze_dump_all(paths: list[str], env_extra: dict[str, str] | None = None) -> dict[str, dict[str, list[str]]]:
    """Unit id -> dump fields for every unit systemd loaded while verifying `paths` (debug dump)."""
    env = dict(os.environ, SYSTEMD_LOG_LEVEL="debug", **(env_extra or {}))
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *paths], capture_output=True, text=True, env=env, timeout=120
    )
    blocks: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    section = ""
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("\t-> Unit "):
            unit_id = line.removeprefix("\t-> Unit ").rstrip(":")
            current = blocks[unit_id] = {"Id": [unit_id]}  # a unit dumped twice: keep the last
            section = ""
        elif current is not None and line.startswith("\t\t-> "):
            section = line.strip().removeprefix("-> ").rstrip(":")
        elif current is not None and line.startswith("\t\t\t") and ": " in line:
            key, _, value = line.strip().partition(": ")
            current.setdefault(f"{section}.{key}", []).append(value)
        elif current is not None and line.startswith("\t\t") and ": " in line:
            key, _, value = line.strip().partition(": ")
            current.setdefault(key, []).append(value)
            section = ""
        elif not line.startswith("\t"):
            current = None
    return blocks


def verify_batch(directory: Path, names: list[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """systemd-analyze verify on many units of `directory` in one run.

    Returns each unit's `line: message` warnings in order, and the refused units' states
    ("bad-setting", or "error: <reason>"), as systemd reports them.
    """
    env = dict(os.environ, SYSTEMD_UNIT_PATH=f"{directory}:")
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(directory / n) for n in names)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    messages: dict[str, list[str]] = {n: [] for n in names}
    states: dict[str, str] = {}
    prefix = re.escape(str(directory))
    for out in proc.stderr.splitlines():
        if m := re.match(rf"^{prefix}/([^:]+):(\d+): (.*)", out):
            messages.setdefault(m.group(1), []).append(f"{m.group(2)}: {m.group(3)}")
        elif m := re.match(r"^Unit (\S+) has a bad unit file setting\.", out):
            states[m.group(1)] = "bad-setting"
        elif m := re.match(r"^Unit (\S+) failed to load properly, please adjust/correct and reload service "
                           r"manager: (.*)", out):
            states[m.group(1)] = f"error: {m.group(2)}"
    return messages, states


def compat_view(directory: Path, names: list[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The same two views from compat's loader, for comparison with verify_batch()."""
    loader = UnitLoader(Scope.SYSTEM, unit_path=[str(directory)], facts=FACTS)
    messages, states = {}, {}
    for n in names:
        unit = loader.load(n)
        messages[n] = [f"{d.line}: {d.message}" for d in unit.diagnostics if d.line]
        if unit.load_state == "bad-setting":
            states[n] = "bad-setting"
        elif unit.load_state == "error":
            states[n] = f"error: {unit.load_error}"
    return messages, states


# ---------------------------------------------------------------------------------------------
# Install operations: a small vendor tree, and systemctl --root as the oracle

VENDOR = {
    "foo.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"
    "RequiredBy=x.target\nAlias=foo-alias.service\nAlso=bar.service\n",
    "bar.service": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=b.target\n",
    "t@.service": "[Service]\nExecStart=/bin/true %i\n[Install]\nWantedBy=multi-user.target\n"
    "DefaultInstance=def\n",
    "u@.service": "[Service]\nExecStart=/bin/true %i\n[Install]\nWantedBy=multi-user.target\n",
    "static.service": "[Service]\nExecStart=/bin/true\n",
    "multi-user.target": "[Unit]\nDescription=m\n",
    "graphical.target": "[Unit]\nDescription=g\n",
}


def make_root(root: Path) -> Path:
    for name, text in VENDOR.items():
        write(root / "lib/systemd/system" / name, text)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "run/systemd/system").mkdir(parents=True)
    return root


def links(root: Path) -> dict[str, str]:
    """Every symlink under etc/ and run/, relative to the root, with its destination."""
    result = {}
    for top in ("etc", "run"):
        for dirpath, dirnames, filenames in os.walk(root / top):
            for n in dirnames + filenames:
                p = Path(dirpath) / n
                if p.is_symlink():
                    result[str(p.relative_to(root))] = os.readlink(p)
    return result


def systemctl(root: Path, *args: str) -> tuple[int, list[str]]:
    env = {k: v for k, v in os.environ.items() if k != "SYSTEMD_UNIT_PATH"}
    proc = subprocess.run(
        ["systemctl", f"--root={root}", "--no-pager", *args], capture_output=True, text=True, env=env, timeout=60
    )
    lines = (proc.stdout + proc.stderr).splitlines()
    return proc.returncode, [ln for ln in lines if ln.startswith(("Created symlink", "Removed"))]


def ours(root: Path) -> Installer:
    return Installer(Scope.SYSTEM, root_dir=str(root), environ={})


def changes(result_changes: list[Change], root: Path) -> list[str]:
    return [str(c).replace(str(root), "ROOT") for c in result_changes]


def normalized(lines: list[str], root: Path) -> list[str]:
    return [ln.replace(str(root), "ROOT") for ln in lines]
