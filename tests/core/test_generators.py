"""Generators run as systemd 252 runs them: fake generators show the protocol (directory order,
masks, argv, environment, parallelism, time limit, fresh output dirs); Debian's own generators
show that real ones work unchanged; a system-scope sysmasterd in a private mount namespace shows
the start-up and daemon-reload runs and the /run/systemd/system marker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from compat.model import Scope
from sysmasterd.core import generators
from sysmasterd.core.generators import OutputDirs, run_generators

REPO = Path(__file__).resolve().parents[2]
DEBIAN_GENERATORS = Path("/lib/systemd/system-generators")

# Writes its argv and the environment systemd promises into <normal dir>/<own name>.txt.
REPORTER = """#!/bin/sh
name=$(basename "$0")
{
  echo "argv=$1 $2 $3"
  echo "scope=$SYSTEMD_SCOPE initrd=${SYSTEMD_IN_INITRD-unset} first=${SYSTEMD_FIRST_BOOT-unset}"
  echo "virt=${SYSTEMD_VIRTUALIZATION-unset} arch=$SYSTEMD_ARCHITECTURE"
  echo "pid=$SYSTEMD_EXEC_PID self=$$ umask=$(umask) nofile=$(ulimit -Sn) extra=${EXTRA-unset}"
} > "$1/$name.txt"
"""


def _outputs(tmp: Path) -> OutputDirs:
    return OutputDirs(normal=str(tmp / "out/generator"), early=str(tmp / "out/generator.early"),
                      late=str(tmp / "out/generator.late"))


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)
    return path


def _report(out: OutputDirs, name: str) -> dict[str, str]:
    text = Path(out.normal, name + ".txt").read_text()
    return dict(word.split("=", 1) for line in text.splitlines() for word in line.split(" ")
                if "=" in word and not line.startswith("argv=")) | {
        "argv": next(line[5:] for line in text.splitlines() if line.startswith("argv="))}


def test_protocol_argv_environment_and_process_defaults(tmp_path: Path) -> None:
    gen = tmp_path / "gens"
    _script(gen / "reporter", REPORTER)
    out = _outputs(tmp_path)
    results = run_generators(Scope.SYSTEM, {"PATH": os.environ["PATH"], "EXTRA": "kept"}, outputs=out,
                             paths=[str(gen)], first_boot=False)
    assert [(r.path, r.status) for r in results] == [(str(gen / "reporter"), 0)]
    got = _report(out, "reporter")
    assert got["argv"] == f"{out.normal} {out.early} {out.late}"
    assert (got["scope"], got["initrd"], got["first"], got["extra"]) == ("system", "0", "0", "kept")
    assert got["pid"] == got["self"]
    assert got["umask"] == "0022"
    assert int(got["nofile"]) <= 1024
    kind, virt = generators.detect_virtualization()
    assert got["virt"] == (f"{kind}:{virt}" if virt != "none" else "unset")
    assert got["arch"] == generators.architecture()

    user = run_generators(Scope.USER, {"PATH": os.environ["PATH"]}, outputs=out, paths=[str(gen)])
    assert [r.status for r in user] == [0]
    got = _report(out, "reporter")
    assert (got["scope"], got["initrd"], got["first"]) == ("user", "unset", "unset")


def test_directory_order_masks_hidden_files_and_fresh_output(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _script(first / "a-gen", "#!/bin/sh\necho first > \"$1/a\"\n")
    _script(second / "a-gen", "#!/bin/sh\necho second > \"$1/a\"\n")
    (first / "b-gen").symlink_to("/dev/null")  # masks b-gen of later directories
    _script(second / "b-gen", "#!/bin/sh\ntouch \"$1/b\"\n")
    _script(second / "c-gen.dpkg-old", "#!/bin/sh\ntouch \"$1/c\"\n")
    _script(second / ".hidden", "#!/bin/sh\ntouch \"$1/hidden\"\n")
    (second / "not-executable").write_text("#!/bin/sh\ntouch \"$1/noexec\"\n")
    _script(second / "empty", "")  # an empty file is a mask too
    out = _outputs(tmp_path)
    os.makedirs(out.late)
    Path(out.late, "stale.service").write_text("[Service]\n")
    results = run_generators(Scope.SYSTEM, {}, outputs=out, paths=[str(first), str(second)])
    assert [Path(r.path).name for r in results] == ["a-gen"]
    assert sorted(os.listdir(out.normal)) == ["a"]
    assert Path(out.normal, "a").read_text() == "first\n"
    assert not os.path.exists(out.late)  # emptied before the run, and removed as it stayed empty


def test_parallel_run_failures_and_time_limit(tmp_path: Path) -> None:
    gen = tmp_path / "gens"
    for n in range(3):
        _script(gen / f"slow{n}", "#!/bin/sh\nsleep 1\ntouch \"$1/slow$(basename $0)\"\n")
    _script(gen / "fails", "#!/bin/sh\nexit 3\n")
    out = _outputs(tmp_path)
    started = time.monotonic()
    results = run_generators(Scope.SYSTEM, {"PATH": os.environ["PATH"]}, outputs=out, paths=[str(gen)])
    assert time.monotonic() - started < 2.5  # in parallel, not 3 s one after the other
    assert {Path(r.path).name: os.waitstatus_to_exitcode(r.status or 0) for r in results} == {
        "fails": 3, "slow0": 0, "slow1": 0, "slow2": 0}

    hang = tmp_path / "hang"
    pidfile = tmp_path / "hang.pid"
    _script(hang / "stuck", f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 300\n")
    _script(hang / "quick", "#!/bin/sh\ntouch \"$1/quick\"\n")
    started = time.monotonic()
    results = run_generators(Scope.SYSTEM, {"PATH": os.environ["PATH"]}, outputs=out, paths=[str(hang)],
                             timeout=0.5)
    assert time.monotonic() - started < 3
    by_name = {Path(r.path).name: r for r in results}
    assert by_name["quick"].status == 0 and not by_name["quick"].timed_out
    assert by_name["stuck"].timed_out
    status = by_name["stuck"].status
    assert status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
    assert not Path(f"/proc/{pidfile.read_text().strip()}").exists()


def test_generator_path_environment_variable() -> None:
    assert generators.binary_paths(Scope.SYSTEM, {}) == [
        "/run/systemd/system-generators", "/etc/systemd/system-generators",
        "/usr/local/lib/systemd/system-generators", "/lib/systemd/system-generators"]
    assert generators.binary_paths(Scope.USER, {})[-1] == "/usr/lib/systemd/user-generators"
    assert generators.binary_paths(Scope.SYSTEM, {"SYSTEMD_GENERATOR_PATH": "/a:/b"}) == ["/a", "/b"]
    assert generators.binary_paths(Scope.SYSTEM, {"SYSTEMD_GENERATOR_PATH": "/a:"})[:2] == [
        "/a", "/run/systemd/system-generators"]
    assert generators.output_dirs(Scope.USER, {"XDG_RUNTIME_DIR": "/x", "HOME": "/h"}) == OutputDirs(
        "/x/systemd/generator", "/x/systemd/generator.early", "/x/systemd/generator.late")
    assert generators.output_dirs(Scope.USER, {"HOME": "/h"}) is None


def _only(tmp: Path, *names: str) -> str:
    """A generator directory holding links to some of Debian's real generators."""
    d = tmp / "real-gens"
    d.mkdir()
    for name in names:
        (d / name).symlink_to(DEBIAN_GENERATORS / name)
    return str(d)


@pytest.mark.skipif(not (DEBIAN_GENERATORS / "systemd-fstab-generator").exists(), reason="needs Debian's systemd")
def test_debian_fstab_debug_and_getty_generators(tmp_path: Path) -> None:
    fstab = tmp_path / "fstab"
    fstab.write_text("/dev/disk/by-label/DATA /srv/data ext4 defaults,nofail 0 2\n"
                     "tmpfs /scratch tmpfs size=10M 0 0\n")
    env = {"PATH": os.environ["PATH"], "SYSTEMD_FSTAB": str(fstab),
           "SYSTEMD_PROC_CMDLINE": "systemd.mask=masked-by-cmdline.service systemd.wants=wanted-by-cmdline.service",
           "SYSTEMD_LOG_LEVEL": "debug"}
    out = _outputs(tmp_path)
    paths = [_only(tmp_path, "systemd-fstab-generator", "systemd-debug-generator", "systemd-getty-generator")]
    results = run_generators(Scope.SYSTEM, env, outputs=out, paths=paths, first_boot=False)
    assert {Path(r.path).name: r.status for r in results} == {
        "systemd-fstab-generator": 0, "systemd-debug-generator": 0, "systemd-getty-generator": 0}
    normal = Path(out.normal)
    assert "What=/dev/disk/by-label/DATA" in (normal / "srv-data.mount").read_text()
    assert "Options=size=10M" in (normal / "scratch.mount").read_text()
    assert (normal / "local-fs.target.wants/srv-data.mount").is_symlink()  # nofail: wanted, not required
    early = Path(out.early)
    assert os.readlink(early / "masked-by-cmdline.service") == "/dev/null"
    assert (early / "default.target.wants/wanted-by-cmdline.service").is_symlink()
    # The getty generator decides by the console and container; whatever it chose, it did it in
    # getty.target.wants of the normal directory.
    wants = normal / "getty.target.wants"
    assert not wants.exists() or all(p.is_symlink() for p in wants.iterdir())


SYSTEM_RUN = """
set -e
mount --make-rprivate /
mount -t tmpfs tmpfs /run/systemd
exec "$@"
"""
GENERATED_BOOT = """#!/bin/sh
echo "run $SYSTEMD_SCOPE" >> {log}
cat > "$1/gen-boot.service" <<EOF
[Unit]
Description=Generated boot $(cat {version})
# No sysinit.target and the like: nothing but this unit may start, whatever the search path.
DefaultDependencies=no
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo started $(cat {version}) >> {log}; test -d /run/systemd/system && echo marker >> {log}'
EOF
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_system_manager_runs_generators_at_start_and_reload(tmp_path: Path) -> None:
    """sysmasterd --system in a mount namespace with its own /run/systemd: the marker exists, a
    generated unit is the boot unit and starts, SIGHUP (daemon-reload) runs the generators again."""
    log, version = tmp_path / "log", tmp_path / "version"
    version.write_text("v1")
    gens = tmp_path / "gens"
    _script(gens / "boot-gen", GENERATED_BOOT.format(log=log, version=version))
    units = tmp_path / "units"
    units.mkdir()
    script = tmp_path / "run.sh"
    script.write_text(SYSTEM_RUN)
    env = {**os.environ, "PYTHONPATH": str(REPO), "SYSTEMD_GENERATOR_PATH": str(gens)}
    argv = ["unshare", "-m", "--", "sh", str(script), sys.executable, "-m", "sysmasterd.core.main", "--system",
            "--no-bus", "--shared-runtime", "--runtime-dir", str(tmp_path / "rt"),
            # Never the default search path: the host's own units (sysinit.target pulls in
            # systemd-tmpfiles-setup.service, which empties /tmp) must stay out of reach.
            "--unit-path", str(units), "--unit-path", "/run/systemd/generator", "--unit", "gen-boot.service"]
    with open(tmp_path / "sysmasterd.log", "wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    try:
        _wait(lambda: "started v1" in _read(log), proc, tmp_path)
        assert _read(log).splitlines() == ["run system", "started v1", "marker"]
        version.write_text("v2")
        os.kill(proc.pid, signal.SIGHUP)  # unshare and sh exec: the PID is sysmasterd's
        _wait(lambda: _read(log).count("run system") == 2, proc, tmp_path)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(20)
    assert not Path("/run/systemd/generator/gen-boot.service").exists()  # the host's /run stays as it was
    assert "Stopping all units." in (tmp_path / "sysmasterd.log").read_text()


def _read(p: Path) -> str:
    return p.read_text() if p.exists() else ""


def _wait(check: Callable[[], bool], proc: subprocess.Popen[bytes], tmp: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("sysmasterd:\n" + (tmp / "sysmasterd.log").read_text())
        time.sleep(0.05)
