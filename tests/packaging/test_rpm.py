"""The RPM packaging: packaging/rpm/build.sh builds the spec from an sdist of this checkout; the
packages are checked with `rpm -qp`, installed into scratch roots (their own rpm database, no
dependency check: Debian has no python3-* rpms) and their programs run from there.

The installed scripts' shebang names the build interpreter, which is gone after the build, so
they run under this venv's python with -S: its site-packages come in as a plain path entry and
its .pth hooks (the editable install of this checkout) stay off, so only the root's modules can
be imported.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "packaging" / "rpm" / "build.sh"
MAIN, COMMON, DEVMASTER = "sysmaster-py", "sysmaster-py-common", "sysmaster-py-devmaster"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("rpmbuild") is None, reason="rpmbuild not installed (Debian package rpm)"),
    pytest.mark.skipif(shutil.which("help2man") is None, reason="help2man not installed (the spec runs it)"),
]


@dataclass(frozen=True)
class Built:
    rpms: dict[str, Path]  # package name -> file
    dbpath: Path  # rpm -qp opens (and creates) a database: keep it in a temp dir

    def query(self, name: str, *args: str) -> str:
        proc = subprocess.run(["rpm", "--dbpath", str(self.dbpath), "-qp", *args, str(self.rpms[name])],
                              capture_output=True, text=True, check=True)
        return proc.stdout

    def files(self, name: str) -> set[str]:
        """Regular files and symlinks, not directories (several packages may own a directory)."""
        out = self.query(name, "--qf", "[%{FILEMODES:perms} %{FILENAMES}\n]")
        return {line.split(" ", 1)[1] for line in out.splitlines() if not line.startswith("d")}

    def sitelib(self) -> str:
        """/usr/lib/pythonX.Y/site-packages, as the build placed it."""
        init = next(f for f in self.files(COMMON) if f.endswith("/sysmasterd/__init__.py"))
        return init.removesuffix("/sysmasterd/__init__.py")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("rpms")
    proc = subprocess.run(["bash", str(BUILD), str(out)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHON": sys.executable})
    assert proc.returncode == 0, proc.stderr[-4000:]
    dbpath = tmp_path_factory.mktemp("rpmdb")
    paths = [Path(line) for line in proc.stdout.split()]
    names = [subprocess.run(["rpm", "--dbpath", str(dbpath), "-qp", "--qf", "%{NAME}", str(p)], capture_output=True,
                            text=True, check=True).stdout for p in paths]
    return Built(dict(zip(names, paths, strict=True)), dbpath)


def install(built: Built, root: Path, *names: str) -> None:
    subprocess.run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "--nodeps", "--noplugins", "-i",
                    *(str(built.rpms[n]) for n in names)], capture_output=True, text=True, check=True)


def run_python(built: Built, root: Path, script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``script`` under this venv's python, importing the modules installed in ``root``."""
    path = f"{root}{built.sitelib()}:{sysconfig.get_path('purelib')}"
    return subprocess.run([sys.executable, "-S", str(script), *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path}, timeout=60)


def run_installed(built: Built, root: Path, program: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_python(built, root, Path(f"{root}{program}"), *args)


@pytest.fixture(scope="module")
def full_root(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("root-all")
    install(built, root, MAIN, COMMON, DEVMASTER)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_three_packages_with_metadata(built: Built) -> None:
    assert set(built.rpms) == {MAIN, COMMON, DEVMASTER}
    for name in built.rpms:
        info = built.query(name, "-i")
        assert f"Name        : {name}\n" in info
        assert "Version     : 0.1.0\n" in info
        assert "Architecture: noarch\n" in info
        assert "License     : MulanPSL-2.0\n" in info


def test_programs_docs_and_modules_land_in_their_package(built: Built) -> None:
    main, common, dev = built.files(MAIN), built.files(COMMON), built.files(DEVMASTER)
    assert not main & common and not main & dev and not common & dev
    site = built.sitelib()
    assert {"/usr/sbin/sysmasterd", "/usr/sbin/sysmaster-init", "/usr/bin/sctl",
            "/usr/share/dbus-1/system.d/sysmaster-py.conf",
            f"{site}/sysmasterd/dbusdata/org.freedesktop.systemd1.Manager.xml",
            f"{site}/compat/__init__.py", f"{site}/sysmasterd/core/main.py", f"{site}/sysmasterd/cli/sctl.py"} <= main
    assert {"/usr/sbin/devmaster", "/usr/bin/devctl", "/usr/bin/udev-rules-translate",
            f"{site}/udev_rules_translator/__init__.py", f"{site}/sysmasterd/devmaster/main.py",
            f"{site}/sysmasterd/cli/devctl.py"} <= dev
    assert {f"{site}/sysmasterd/__init__.py", f"{site}/sysmasterd/cli/__init__.py"} <= common
    assert any(f.startswith(f"{site}/sysmaster_py-0.1.0.dist-info/") for f in common)
    assert not any("/devmaster/" in f or "devctl" in f or "udev_rules_translator" in f for f in main)
    assert not any(f"{site}/sysmasterd/{part}/" in f for f in dev for part in ("core", "bus", "init", "units"))
    for package, pages in ((main, ("man8/sysmasterd.8", "man8/sysmaster-init.8", "man1/sctl.1")),
                           (dev, ("man8/devmaster.8", "man1/devctl.1", "man1/udev-rules-translate.1"))):
        for page in pages:
            assert any(f.startswith(f"/usr/share/man/{page}") for f in package), page


def test_config_files_are_noreplace(built: Built) -> None:
    def config(name: str) -> dict[str, str]:
        out = built.query(name, "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]")
        return {path: flags for flags, _, path in (line.partition(" ") for line in out.splitlines()) if "c" in flags}

    assert config(MAIN) == {"/etc/sysmaster/init.conf": "cn"}
    assert config(DEVMASTER) == {"/etc/devmaster/devmaster.conf": "cn"}
    assert config(COMMON) == {}


def test_requires_follow_the_split(built: Built) -> None:
    def requires(name: str) -> set[str]:
        return {" ".join(line.split()) for line in built.query(name, "--requires").splitlines()}

    main, dev, common = requires(MAIN), requires(DEVMASTER), requires(COMMON)
    assert {"python3-dbus-fast", "python3-psutil", "python3-configobj", f"{COMMON} = 0.1.0-1"} <= main
    assert {"python3-pyroute2", "python3-configobj", f"{COMMON} = 0.1.0-1"} <= dev
    assert "python3 >= 3.11" in common
    assert "python3-pyroute2" not in main and not {"python3-dbus-fast", "python3-psutil"} & dev
    assert MAIN not in {r.split()[0] for r in dev} and DEVMASTER not in {r.split()[0] for r in main}


def test_installed_sysmasterd_dumps_units(built: Built, full_root: Path, tmp_path: Path) -> None:
    listed = subprocess.run(["rpm", "--root", str(full_root), "--dbpath", "/var/lib/rpm", "-qa"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert sorted(n.split("-0.1.0")[0] for n in listed) == sorted([MAIN, COMMON, DEVMASTER])
    (tmp_path / "hello.service").write_text("[Unit]\nDescription=Hello from the rpm\n[Service]\nExecStart=/bin/true\n")
    proc = run_installed(built, full_root, "/usr/sbin/sysmasterd", "--test", "--dump", "--unit-path", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "-> Unit hello.service:\n\tDescription: Hello from the rpm\n\tLoad State: loaded\n" in proc.stdout
    origin = run_installed(built, full_root, "/usr/bin/sctl", "--version")
    assert origin.returncode == 0 and "sysmaster-py 0.1.0" in origin.stdout, origin.stderr


def test_installed_modules_come_from_the_root(built: Built, full_root: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import compat, sysmasterd, udev_rules_translator\n"
                     "print(compat.__file__, sysmasterd.__file__, udev_rules_translator.__file__)\n")
    proc = run_python(built, full_root, probe)
    assert proc.returncode == 0, proc.stderr
    assert all(path.startswith(f"{full_root}/") for path in proc.stdout.split()), proc.stdout


def test_installed_config_files_parse_cleanly(built: Built, full_root: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys\n"
        "from sysmasterd.init.config import load_config\n"
        "from sysmasterd.devmaster.config import load\n"
        "init, problems = load_config(sys.argv[1] + '/etc/sysmaster/init.conf')\n"
        "dev = load('/nonexistent', sys.argv[1] + '/etc/devmaster/devmaster.conf')\n"
        "print(init.binary, problems + dev.diagnostics)\n")
    proc = run_python(built, full_root, probe, str(full_root))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "/usr/sbin/sysmasterd []\n"
    assert (full_root / "usr/sbin/sysmasterd").exists()


def test_device_manager_alone_runs(built: Built, tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(built, root, COMMON, DEVMASTER)
    assert not (root / "usr/sbin/sysmasterd").exists()
    rules = tmp_path / "50-test.rules"
    rules.write_text('KERNEL=="sda", SYMLINK+="disk0"\n')
    proc = run_installed(built, root, "/usr/bin/udev-rules-translate", "check", str(rules))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert run_installed(built, root, "/usr/sbin/devmaster", "--help").returncode == 0
    assert run_installed(built, root, "/usr/bin/devctl", "--version").stdout.strip() == "252"
    # Every devctl verb's modules are in the device manager's packages (no daemon runs here, so
    # the verbs themselves fail, but not on a missing import).
    for verb in (["control", "--ping", "-t", "1"], ["settle", "-t", "0"], ["trigger", "--dry-run"], ["info", "-e"],
                 ["monitor", "--help"], ["test-builtin", "--help"], ["test", "--help"],
                 ["info", "nosuch.device"]):
        proc = run_installed(built, root, "/usr/bin/devctl", *verb)
        assert "ModuleNotFoundError" not in proc.stderr and "ImportError" not in proc.stderr, (verb, proc.stderr)


def test_service_manager_alone_runs(built: Built, tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(built, root, COMMON, MAIN)
    assert not (root / "usr/sbin/devmaster").exists()
    proc = run_installed(built, root, "/usr/sbin/sysmasterd", "--test", "--dump", "--unit-path", str(tmp_path))
    assert proc.returncode == 0 and "-> Unit default.target:" in proc.stdout, proc.stderr
