"""Run scripts/sysmaster-switch on an overlay copy of this machine's root, boot the switched copy
in systemd-nspawn, switch back, and report (JSON on stdout) what changed. Never touches the host.

    unshare -m --propagation private python switch_sandbox.py WORKDIR VENV [--boot]

WORKDIR (an empty directory) gets a tmpfs holding: lower/ (a bind mount of /), upper/ + work/
(the overlay's writable layer) and merged/ (the overlay: the root the switch script changes).
After `back`, every entry of upper/ is compared with lower/: a file with other content, mode or
link target, a whiteout (deletion) or a new entry is a difference.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SWITCH = ROOT / "scripts" / "sysmaster-switch"
# update-alternatives appends its log on purpose: an audit trail the switch does not erase
ALLOWED = {"var/log/alternatives.log"}


def _bc() -> Any:
    spec = importlib.util.spec_from_file_location("boot_compare", ROOT / "scripts" / "boot_compare.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["boot_compare"] = mod
    spec.loader.exec_module(mod)
    return mod


def sh(*cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def differences(upper: Path, lower: Path) -> list[str]:
    diffs = []
    for dirpath, dirnames, filenames in os.walk(upper):
        for name in dirnames + filenames:
            up = Path(dirpath) / name
            rel = str(up.relative_to(upper))
            low = lower / rel
            st = up.lstat()
            if rel in ALLOWED:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                diffs.append(f"deleted {rel}")
                continue
            if not os.path.lexists(low):
                diffs.append(f"added {rel}")
                continue
            lst = low.lstat()
            if stat.S_IFMT(st.st_mode) != stat.S_IFMT(lst.st_mode):
                diffs.append(f"type changed {rel}")
            elif stat.S_IMODE(st.st_mode) != stat.S_IMODE(lst.st_mode):
                diffs.append(f"mode changed {rel}")
            elif stat.S_ISLNK(st.st_mode) and os.readlink(up) != os.readlink(low):
                diffs.append(f"link changed {rel}: {os.readlink(low)} -> {os.readlink(up)}")
            elif stat.S_ISREG(st.st_mode) and up.read_bytes() != low.read_bytes():
                diffs.append(f"content changed {rel}")
            elif (st.st_uid, st.st_gid) != (lst.st_uid, lst.st_gid):
                diffs.append(f"owner changed {rel}")
    return sorted(diffs)


def boot(bc: Any, merged: Path, venv: Path, checkout: Path) -> dict[str, Any]:
    """Boot the switched root with its own /sbin/init (not -b: nspawn -b prefers systemd's binary)."""
    out: dict[str, Any] = {}
    cmd = ["systemd-nspawn", "-D", str(merged), *bc.NSPAWN_COMMON, f"--bind-ro={venv}"]
    if checkout != venv and venv not in checkout.parents:
        cmd.append(f"--bind-ro={checkout}")
    cmd.append("/sbin/init")
    log = merged.parent / "boot.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                env=bc.CLEAN_ENV, start_new_session=True)
    try:
        deadline = time.monotonic() + 45
        pid = None
        while time.monotonic() < deadline and proc.poll() is None and pid is None:
            kids = bc.children_of(proc.pid)
            pid = kids[0] if kids else None
            time.sleep(0.05)
        if pid is None:
            out["error"] = f"container did not start (nspawn status {proc.poll()})"
            return out
        croot = Path(f"/proc/{pid}/root")
        while time.monotonic() < deadline and proc.poll() is None:
            if (croot / "run/systemd/private").exists() and (croot / "run/systemd/system").is_dir():
                r = sh("nsenter", "-t", str(pid), "-a", "systemctl", "list-jobs", "--no-legend", timeout=10)
                if r.returncode == 0 and not r.stdout.strip():
                    break
            time.sleep(0.2)
        def cmdline(p: int) -> str:
            return Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()

        out["pid1_cmdline"] = cmdline(pid)
        out["pid1_children"] = [cmdline(k) for k in bc.children_of(pid)]
        r = sh("nsenter", "-t", str(pid), "-a", "systemctl", "show", "-p",
               "Id,LoadState,ActiveState,SubState,ConditionResult,UnitFileState",
               "devmaster.service", "systemd-udevd.service", "systemd-udevd-kernel.socket", timeout=15)
        out["units"] = bc.parse_show(r.stdout)
        out["units_rc"] = r.returncode
        r = sh("nsenter", "-t", str(pid), "-a", "udevadm", "--version", timeout=15)
        out["udevadm_version"] = (r.stdout + r.stderr).strip()
        r = sh("nsenter", "-t", str(pid), "-a", "readlink", "-f", "/sbin/init", "/usr/bin/udevadm", timeout=15)
        out["resolved"] = r.stdout.split()
    finally:
        if proc.poll() is None:
            for kid in bc.children_of(proc.pid):
                with contextlib.suppress(OSError):
                    os.kill(kid, 9)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out["nspawn_pid"] = proc.pid
        out["log_tail"] = log.read_text(errors="replace").splitlines()[-15:]
    return out


def main() -> int:
    work, venv = Path(sys.argv[1]), Path(sys.argv[2])
    checkout = Path(sys.argv[3])
    want_boot = "--boot" in sys.argv[4:]
    bc = _bc()
    report: dict[str, Any] = {}
    mounts: list[Path] = []
    cgroups = bc.Cgroups(f"boot-compare.{os.getpid()}")
    try:
        sh("mount", "--make-rprivate", "/").check_returncode()
        sh("mount", "-t", "tmpfs", "-o", "mode=0755", "switch-run", "/run").check_returncode()
        mounts.append(Path("/run"))
        sh("mount", "-t", "tmpfs", "-o", "mode=0755", "switch-sandbox", str(work)).check_returncode()
        mounts.append(work)
        lower, upper, ovl, merged = work / "lower", work / "upper", work / "work", work / "merged"
        for d in (lower, upper, ovl, merged):
            d.mkdir()
        sh("mount", "--bind", "/", str(lower)).check_returncode()
        mounts.append(lower)
        sh("mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower},upperdir={upper},workdir={ovl}",
           str(merged)).check_returncode()
        mounts.append(merged)
        report["cgroup_problems"] = cgroups.enter()

        r = sh(sys.executable, str(SWITCH), "--root", str(merged), "to-sysmaster", "--bindir", f"{venv}/bin")
        report["to"] = {"rc": r.returncode, "out": r.stdout, "err": r.stderr}
        report["links"] = {p: os.readlink(merged / p.lstrip("/")) if (merged / p.lstrip("/")).is_symlink() else None
                           for p in ("/sbin/init", "/etc/alternatives/init", "/bin/udevadm",
                                     "/etc/alternatives/udevadm", "/sbin/init.systemd",
                                     "/etc/systemd/system/systemd-udevd.service",
                                     "/etc/systemd/system/systemd-udevd-control.socket",
                                     "/etc/systemd/system/systemd-udevd-kernel.socket",
                                     "/etc/systemd/system/sysinit.target.wants/devmaster.service")}
        report["udevadm_udev_is_file"] = (merged / "bin/udevadm.udev").is_file()
        r = sh("systemctl", f"--root={merged}", "is-enabled", "devmaster.service", "systemd-udevd.service",
               "systemd-udevd-control.socket", "systemd-udevd-kernel.socket")
        report["is_enabled"] = r.stdout.split()
        unit = merged / "etc/systemd/system/devmaster.service"
        report["exec_start"] = [ln for ln in unit.read_text().splitlines() if ln.startswith("Exec")] \
            if unit.exists() else []
        r = sh("update-alternatives", "--root", str(merged), "--query", "init")
        report["alt_init_value"] = next((ln.split(": ", 1)[1] for ln in r.stdout.splitlines()
                                         if ln.startswith("Value:")), None)
        r = sh(sys.executable, str(SWITCH), "--root", str(merged), "to-sysmaster", "--bindir", f"{venv}/bin")
        report["twice"] = {"rc": r.returncode, "err": r.stderr}
        if want_boot:
            report["boot"] = boot(bc, merged, venv, checkout)
        r = sh(sys.executable, str(SWITCH), "--root", str(merged), "back")
        report["back"] = {"rc": r.returncode, "out": r.stdout, "err": r.stderr}
        report["differences"] = differences(upper, lower)
        r = sh(sys.executable, str(SWITCH), "--root", str(merged), "back")
        report["back_again"] = {"rc": r.returncode, "out": r.stdout}
    except Exception as e:
        report["error"] = f"{type(e).__name__}: {e}"
    finally:
        left = []
        for m in reversed(mounts):
            if sh("umount", str(m)).returncode != 0 and sh("umount", "-l", str(m)).returncode != 0:
                left.append(str(m))
        left += cgroups.leave(time.monotonic() + 10)
        report["leftovers"] = left
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
