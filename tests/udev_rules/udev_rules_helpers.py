"""Helpers for the udev rules translator tests: compile snippets, ask the real udevd.

Not a conftest.py: other test directories import theirs as `conftest`, and names would clash.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter

import pytest

from udev_rules_translator import CompiledFile, CompileOptions, NameResolver, compile_text

STOCK_DIR = "/usr/lib/udev/rules.d"
CORPUS_DIR = os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "corpora", "fuzz-udev-rules")
)

# fixed users/groups so results do not depend on the machine's passwd
RESOLVER = NameResolver(
    user={"root": 0, "nobody": 65534}.get,
    group={"root": 0, "disk": 6, "video": 44, "audio": 29}.get,
)

Diag = tuple[int, str, str]  # (line, severity, message)


def compile_rules(text: str | bytes, path: str = "/etc/udev/rules.d/10-test.rules") -> CompiledFile:
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    return compile_text(path, data, CompileOptions(resolver=RESOLVER))


def diags(text: str | bytes) -> list[Diag]:
    return [(d.line, d.severity.label, d.message) for d in compile_rules(text).diagnostics]


# --- the real udevd 252 as an oracle -------------------------------------------------------------
# `udevadm test` loads the rules and logs every problem with file:line. It runs in private mount
# and network namespaces with its own sysfs, /run and rules directories: rules under test may
# rename "lo" or write to /run/udev, and must not touch the host's.

_ORACLE_SCRIPT = (
    "mount --make-rprivate / && mount -t sysfs none /sys && mount -t tmpfs none /run && "
    'mkdir -p /run/udev && mount --bind "$RULES" /etc/udev/rules.d && '
    'mount --bind "$EMPTY" /usr/lib/udev/rules.d && exec udevadm test --action=add /sys/class/net/lo'
)
_ORACLE_NAME = "10-test.rules"


def _oracle_available() -> bool:
    return os.geteuid() == 0 and bool(shutil.which("udevadm")) and bool(shutil.which("unshare"))


def udevadm_dirs_test(etc_dir: str, lib_dir: str, log_level: str = "info") -> str:
    """The output of `udevadm test` on "lo" with these as /etc/udev/rules.d and /usr/lib/udev/rules.d."""
    env = {**os.environ, "RULES": etc_dir, "EMPTY": lib_dir, "SYSTEMD_LOG_LEVEL": log_level}
    proc = subprocess.run(["unshare", "-m", "-n", "sh", "-c", _ORACLE_SCRIPT], env=env, capture_output=True, timeout=60)
    return (proc.stdout + proc.stderr).decode("utf-8", "replace")


def udevadm_test(data: bytes, log_level: str = "info") -> str:
    """The output of `udevadm test` on "lo" with ``data`` as the only rules file."""
    with tempfile.TemporaryDirectory() as rules, tempfile.TemporaryDirectory() as empty:
        with open(os.path.join(rules, _ORACLE_NAME), "wb") as f:
            f.write(data)
        return udevadm_dirs_test(rules, empty, log_level)


def udevd_diagnostics(data: bytes) -> list[Diag]:
    """What udevd 252 reports for a rules file, with severities found by varying its log level."""
    line_re = re.compile(r"/etc/udev/rules\.d/" + re.escape(_ORACLE_NAME) + r":(\d+):? (.*)")
    counts: dict[str, Counter[tuple[int, str]]] = {}
    for level in ("err", "warning", "notice"):
        lines = udevadm_test(data, level).splitlines()
        counts[level] = Counter((int(m.group(1)), m.group(2)) for m in map(line_re.match, lines) if m)
    result: list[Diag] = []
    for key, n in counts["notice"].items():
        e, w = counts["err"][key], counts["warning"][key]
        result += [(key[0], "error", key[1])] * e
        result += [(key[0], "warning", key[1])] * (w - e)
        result += [(key[0], "notice", key[1])] * (n - w)
    return sorted(result)


def our_diagnostics(data: bytes) -> list[Diag]:
    compiled = compile_text("/etc/udev/rules.d/" + _ORACLE_NAME, data)
    return sorted((d.line, d.severity.label, d.message) for d in compiled.diagnostics)


def require_oracle() -> None:
    """Skip unless this machine can run udevadm in namespaces."""
    if not _oracle_available():
        pytest.skip("needs root, udevadm and unshare")
