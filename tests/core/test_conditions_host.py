"""Condition*/Assert* checks decided as systemd 252 decides them: each line is put to the real
`systemd-analyze condition` and to sysmasterd's evaluator in the same process context (the same
bounding set, environment and mount namespace), and the answers must agree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ANALYZE = shutil.which("systemd-analyze")

pytestmark = pytest.mark.skipif(ANALYZE is None, reason="needs systemd-analyze (systemd 252)")

# Reads "Condition...=..." lines from argv, prints whether each passes in sysmasterd's evaluator.
OURS = """
import json, sys
from compat.model import Condition, ConditionKind
from sysmasterd.core.conditions import evaluate_one
out = []
for line in sys.argv[1:]:
    key, value = line.split("=", 1)
    kind = ConditionKind.ASSERT if key.startswith("Assert") else ConditionKind.CONDITION
    trigger = value.startswith("|")
    value = value.removeprefix("|")
    negate = value.startswith("!")
    out.append(evaluate_one(Condition(kind, key[len(kind.value):], value.removeprefix("!"), trigger, negate),
                            {}).result)
print(json.dumps(out))
"""


def _compare(lines: list[str], prefix: list[str] | None = None, env: dict[str, str] | None = None) -> None:
    """Each line alone through systemd-analyze, all of them through ours, in the same context."""
    assert ANALYZE is not None
    wrap = prefix or []
    run_env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}
    theirs = [subprocess.run([*wrap, ANALYZE, "condition", line], capture_output=True, env=run_env,
                             timeout=30).returncode == 0 for line in lines]
    proc = subprocess.run([*wrap, sys.executable, "-c", OURS, *lines], capture_output=True, text=True,
                          env=run_env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    ours = json.loads(proc.stdout)
    assert dict(zip(lines, ours, strict=True)) == dict(zip(lines, theirs, strict=True))


CAPABILITY_LINES = [f"ConditionCapability={c}" for c in (
    "CAP_SYS_ADMIN", "cap_sys_resource", "CAP_NET_RAW", "!CAP_NET_RAW", "21", "24", "63", "64",
    "CAP_CHECKPOINT_RESTORE", "CAP_BOGUS", "!CAP_BOGUS")] + ["AssertCapability=CAP_SYS_RESOURCE"]


def test_capability_against_the_full_bounding_set() -> None:
    _compare(CAPABILITY_LINES)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv")
def test_capability_against_a_reduced_bounding_set() -> None:
    _compare(CAPABILITY_LINES, prefix=["setpriv", "--bounding-set", "-sys_resource,-net_raw,-sys_admin", "--"])


def test_security_frameworks() -> None:
    words = ("selinux", "apparmor", "tomoyo", "ima", "smack", "audit", "uefi-secureboot", "tpm2", "bogus")
    _compare([f"ConditionSecurity={w}" for w in words] + [f"ConditionSecurity=!{w}" for w in words])


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_audit_outside_the_initial_user_namespace() -> None:
    """In a user namespace the kernel refuses audit requests: systemd then says no audit."""
    _compare(["ConditionSecurity=audit", "ConditionSecurity=!audit"], prefix=["unshare", "-U", "-r", "--"])


@pytest.fixture
def credentials(tmp_path: Path) -> Iterator[Path]:
    plain = tmp_path / "creds"
    plain.mkdir()
    (plain / "token").write_text("secret")
    (plain / "empty").write_text("")
    encrypted = tmp_path / "encrypted"
    encrypted.mkdir()
    (encrypted / "sealed").write_text("x")
    yield tmp_path


def test_credentials_of_the_manager(credentials: Path) -> None:
    lines = [f"ConditionCredential={n}" for n in ("token", "empty", "sealed", "missing", "!missing", "..",
                                                  "a/b", "!token")]
    env = {"CREDENTIALS_DIRECTORY": str(credentials / "creds"),
           "ENCRYPTED_CREDENTIALS_DIRECTORY": str(credentials / "encrypted")}
    _compare(lines, env=env)
    _compare(lines, env={"CREDENTIALS_DIRECTORY": "relative/dir"})  # undecidable: fails even negated
    _compare(lines, env={"CREDENTIALS_DIRECTORY": str(credentials / "creds") + "/../creds"})
    _compare(lines)  # no credentials at all


MOUNT_SETUP = """
set -e
mount --make-rprivate /
cd "$ROOT"
mkdir -p dir plainfile.d lower upper work merged bound-dir-src bound-dir notmounted
echo x > file-src; echo y > file-target
mount --bind file-src file-target
mount --bind bound-dir-src bound-dir
mount -t overlay overlay -o lowerdir=lower,upperdir=upper,workdir=work merged
mkdir -p merged/inside
ln -sfn bound-dir link-to-mount
ln -sfn notmounted link-to-plain
mount -t tmpfs tmpfs dir
mkdir -p "dir/with space"
mount -t tmpfs tmpfs "dir/with space"
exec "$@"
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_path_is_mount_point(tmp_path: Path) -> None:
    """File bind mounts, overlayfs, symlinks to mount points, escaped names: os.path.ismount()
    gets some of these wrong; systemd asks the kernel."""
    root = tmp_path / "m"
    root.mkdir()
    paths = ["/", "/proc", "/sys", "/tmp", "/etc/hostname", "/etc/resolv.conf", "/usr", "/nonexistent",
             *(f"{root}/{p}" for p in ("file-target", "file-src", "bound-dir", "merged", "merged/inside", "dir",
                                       "dir/with space", "link-to-mount", "link-to-plain", "notmounted",
                                       "missing"))]
    lines = [f"ConditionPathIsMountPoint={p}" for p in paths]
    lines += [f"AssertPathIsMountPoint=!{root}/merged", f"ConditionPathIsMountPoint=!{root}/notmounted"]
    script = tmp_path / "setup.sh"
    script.write_text(MOUNT_SETUP)
    _compare(lines, prefix=["unshare", "-m", "--", "sh", str(script)], env={"ROOT": str(root)})


def test_first_boot_reads_the_managers_flag_file() -> None:
    _compare(["ConditionFirstBoot=yes", "ConditionFirstBoot=no", "ConditionFirstBoot=!yes",
              "ConditionFirstBoot=maybe"])


def test_virtualization_and_architecture() -> None:
    words = ("yes", "no", "vm", "container", "docker", "kvm", "private-users", "!container")
    _compare([f"ConditionVirtualization={w}" for w in words]
             + [f"ConditionArchitecture={a}" for a in ("native", "x86-64", "arm64", "x86", "bogus")])
