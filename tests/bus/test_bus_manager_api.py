"""The rest of systemd 252's Manager API, driven by the real clients against sysmasterd --user on a
private bus: systemd-analyze dump (DumpByFileDescriptor, an fd passed over the bus and the private
socket; Dump and DumpUnitsMatchingPatterns), busctl tree over the whole object tree,
systemctl add-wants/add-requires (AddDependencyUnitFiles), GetUnitByInvocationID,
GetUnitByControlGroup, EnqueueUnitJob, ListUnitFilesByPatterns, freeze/thaw and clean."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import Manager, Result, make_manager

pytestmark = pytest.mark.root

UNITS = {
    "sleeper.service": "[Unit]\nDescription=Sleeps\n[Service]\nExecStart=/bin/sleep 1000\n",
    "app.service": "[Service]\nExecStart=/bin/sleep 1000\n[Install]\nWantedBy=default.target\n",
    "extra.target": "[Unit]\nDescription=Extra\n",
    "dirs.service": "[Service]\nType=oneshot\nExecStart=/bin/true\nRuntimeDirectory=rt\nRuntimeDirectoryPreserve=yes\n"
                    "StateDirectory=st\nCacheDirectory=ca\nLogsDirectory=lg\nConfigurationDirectory=cf\n",
    "plain.service": "[Service]\nType=oneshot\nExecStart=/bin/true\n",
}


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("managerapi"), "user", UNITS, config_dir=True)


def analyze(um: Manager, *args: str, via_bus: bool = False) -> Result:
    env = dict(um.env)
    if via_bus:  # no private socket where the client looks: it takes the bus
        env["XDG_RUNTIME_DIR"] = str(um.root / "nowhere")
    return um.ns.run(["systemd-analyze", "--user", *args], env)


def busctl(um: Manager, *args: str) -> Result:
    return um.ns.run(["busctl", f"--{um.scope}", *args], um.env)


@pytest.mark.parametrize("via_bus", [False, True])
def test_analyze_dump(um: Manager, via_bus: bool) -> None:
    assert um.systemctl("start", "sleeper.service").rc == 0
    r = analyze(um, "dump", via_bus=via_bus)
    assert r.rc == 0, r.err
    assert r.out.startswith("Manager: sysmasterd 252\n")
    assert "-> Unit sleeper.service:\n\tDescription: Sleeps\n" in r.out
    assert "-> Unit basic.target:" in r.out
    only = analyze(um, "dump", "sleep*.service", "extra.targe?", via_bus=via_bus)
    assert only.rc == 0, only.err
    assert "Manager:" not in only.out and "-> Unit basic.target" not in only.out
    assert "-> Unit sleeper.service:" in only.out


def test_dump_as_string(um: Manager) -> None:
    r = busctl(um, "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
               "org.freedesktop.systemd1.Manager", "DumpUnitsMatchingPatterns", "as", "1", "basic.target")
    assert r.rc == 0, r.err
    assert r.out.startswith('s "-> Unit basic.target:')
    r = busctl(um, "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
               "org.freedesktop.systemd1.Manager", "Dump")
    assert r.rc == 0 and r.out.startswith('s "Manager: sysmasterd'), r.err


def test_busctl_tree(um: Manager) -> None:
    assert um.systemctl("start", "sleeper.service").rc == 0
    r = busctl(um, "tree", "--list", "org.freedesktop.systemd1")
    assert r.rc == 0, r.err
    paths = r.out.split()
    for path in ("/", "/org/freedesktop/LogControl1", "/org/freedesktop/systemd1",
                 "/org/freedesktop/systemd1/unit", "/org/freedesktop/systemd1/job",
                 "/org/freedesktop/systemd1/unit/sleeper_2eservice", "/org/freedesktop/systemd1/unit/basic_2etarget"):
        assert path in paths
    r = busctl(um, "introspect", "org.freedesktop.systemd1", "/org/freedesktop/systemd1/unit/sleeper_2eservice")
    assert r.rc == 0 and "org.freedesktop.systemd1.Service" in r.out, r.err
    assert busctl(um, "introspect", "org.freedesktop.systemd1", "/org/freedesktop/systemd1/job").rc == 0


def call(um: Manager, method: str, *args: str) -> Result:
    # "--": arguments such as "-.slice" or "-needs-restart" are no busctl options.
    return busctl(um, "--", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                  "org.freedesktop.systemd1.Manager", method, *args)


def prop(um: Manager, unit: str, name: str) -> str:
    return um.systemctl("show", "--value", "-p", name, unit).out.strip()


def test_add_wants_and_requires(um: Manager) -> None:
    r = um.systemctl("add-wants", "extra.target", "sleeper.service")
    assert r.rc == 0, r.err
    link = um.root / "home/.config/systemd/user/extra.target.wants/sleeper.service"
    assert f"Created symlink {link} → {um.units / 'sleeper.service'}." in r.err
    assert link.is_symlink()
    assert "sleeper.service" in prop(um, "extra.target", "Wants").split()
    r = um.systemctl("add-requires", "--runtime", "extra.target", "app.service")
    assert r.rc == 0, r.err
    assert (um.root / "xdg/systemd/user/extra.target.requires/app.service").is_symlink()
    assert "app.service" in prop(um, "extra.target", "Requires").split()
    missing = um.systemctl("add-wants", "extra.target", "nosuch.service")
    assert missing.rc != 0 and "Unit file nosuch.service does not exist." in missing.err
    bad = call(um, "AddDependencyUnitFiles", "asssbb", "1", "app.service", "extra.target", "After", "false", "false")
    assert bad.rc != 0 and "Invalid argument" in bad.err


def test_unit_by_invocation_id_and_cgroup(um: Manager) -> None:
    assert um.systemctl("start", "sleeper.service").rc == 0
    invocation = prop(um, "sleeper.service", "InvocationID")
    assert len(invocation) == 32
    r = call(um, "GetUnitByInvocationID", "ay", "16", *(str(b) for b in bytes.fromhex(invocation)))
    assert r.rc == 0, r.err
    path = r.out.split()[1].strip('"')
    assert path != "/org/freedesktop/systemd1/unit/sleeper_2eservice"
    got = busctl(um, "get-property", "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit", "Id")
    assert got.out.strip() == 's "sleeper.service"', got.err
    unknown = call(um, "GetUnitByInvocationID", "ay", "16", *(["1"] * 16))
    assert unknown.rc != 0 and "No unit with the specified invocation ID 01010101" in unknown.err
    short = call(um, "GetUnitByInvocationID", "ay", "3", "1", "2", "3")
    assert short.rc != 0 and "Invalid invocation ID" in short.err
    cgroup = prop(um, "sleeper.service", "ControlGroup")
    assert cgroup.endswith("/sleeper.service")
    for asked in (cgroup, cgroup + "/sub/deeper"):
        r = call(um, "GetUnitByControlGroup", "s", asked)
        assert r.out.strip() == 'o "/org/freedesktop/systemd1/unit/sleeper_2eservice"', r.err
    r = call(um, "GetUnitByControlGroup", "s", "/nowhere/at/all")
    assert r.rc != 0
    assert "Control group '/nowhere/at/all' is not valid or not managed by this instance" in r.err


def test_enqueue_unit_job_and_list_by_patterns(um: Manager) -> None:
    r = call(um, "EnqueueUnitJob", "sss", "app.service", "start", "replace")
    assert r.rc == 0, r.err
    assert '"app.service" "/org/freedesktop/systemd1/unit/app_2eservice" "start"' in r.out
    r = um.systemctl("list-unit-files", "--no-legend", "sleep*", "extra.*")
    assert r.rc == 0, r.err
    assert [line.split()[0] for line in r.out.splitlines()] == ["sleeper.service", "extra.target"]


def test_freeze_and_thaw(um: Manager) -> None:
    assert um.systemctl("start", "sleeper.service").rc == 0
    assert prop(um, "sleeper.service", "CanFreeze") == "yes"
    r = um.systemctl("freeze", "sleeper.service")
    assert r.rc == 0, r.err
    assert prop(um, "sleeper.service", "FreezerState") == "frozen"
    events = prop(um, "sleeper.service", "ControlGroup")
    assert "frozen 1" in um.ns.run(["cat", f"/sys/fs/cgroup/unified{events}/cgroup.events"], um.env).out
    assert um.systemctl("freeze", "sleeper.service").rc == 0  # already frozen: done at once
    r = um.systemctl("thaw", "sleeper.service")
    assert r.rc == 0, r.err
    assert prop(um, "sleeper.service", "FreezerState") == "running"
    # Stopping a frozen unit thaws it first, so its processes get SIGTERM at once.
    assert um.systemctl("freeze", "sleeper.service").rc == 0
    assert um.systemctl("stop", "sleeper.service", timeout=10).rc == 0
    assert prop(um, "sleeper.service", "ActiveState") == "inactive"
    r = um.systemctl("freeze", "sleeper.service")
    assert r.rc != 0 and "Unit is inactive." in r.err
    r = um.systemctl("freeze", "extra.target")
    assert r.rc != 0 and "Unit 'extra.target' does not support freezing." in r.err
    assert prop(um, "extra.target", "CanFreeze") == "no"


def test_clean(um: Manager) -> None:
    assert um.systemctl("start", "dirs.service").rc == 0
    home = um.root / "home"
    where = {"runtime": um.root / "xdg/rt", "state": home / ".config/st", "cache": home / ".cache/ca",
             "logs": home / ".config/log/lg", "configuration": home / ".config/cf"}
    assert all(p.is_dir() for p in where.values())
    assert prop(um, "dirs.service", "CanClean").split() == ["runtime", "state", "cache", "logs", "configuration"]
    r = um.systemctl("clean", "--what=state", "--what=cache", "dirs.service")
    assert r.rc == 0, r.err
    assert [k for k, p in where.items() if p.exists()] == ["runtime", "logs", "configuration"]
    r = um.systemctl("clean", "--what=all", "dirs.service")
    assert r.rc == 0, r.err
    assert not any(p.exists() for p in where.values())
    r = um.systemctl("clean", "plain.service")
    assert r.rc != 0 and "No matching resources found." in r.err
    assert um.systemctl("start", "sleeper.service").rc == 0
    r = um.systemctl("clean", "--what=all", "sleeper.service")
    assert r.rc != 0 and "Unit is not inactive or has pending job." in r.err
    r = um.systemctl("clean", "extra.target")
    assert r.rc != 0 and "Unit 'extra.target' does not support cleaning." in r.err
    assert um.systemctl("stop", "sleeper.service").rc == 0


def test_start_unit_replace_and_dynamic_users(um: Manager) -> None:
    r = call(um, "StartUnitReplace", "sss", "basic.target", "app.service", "replace")
    assert r.rc != 0 and "No job queued for unit basic.target" in r.err
    r = call(um, "GetDynamicUsers")
    assert r.rc != 0 and "Dynamic users are only supported in the system instance." in r.err


def test_start_unit_with_flags(um: Manager) -> None:
    r = call(um, "StartUnitWithFlags", "sst", "plain.service", "replace", "0")
    assert r.rc == 0 and r.out.startswith('o "/org/freedesktop/systemd1/job/'), r.err
    r = call(um, "StartUnitWithFlags", "sst", "plain.service", "replace", "4")
    assert r.rc != 0 and "Invalid 'flags' parameter '4'" in r.err
    r = call(um, "StartUnitWithFlags", "sst", "plain.service", "sideways", "0")
    assert r.rc != 0 and "Job mode sideways invalid." in r.err


def test_show_status_and_switch_root_in_a_user_manager(um: Manager) -> None:
    assert call(um, "SetShowStatus", "s", "temporary").rc == 0
    assert call(um, "SetShowStatus", "s", "").rc == 0
    r = call(um, "SetShowStatus", "s", "loud")
    assert r.rc != 0 and "Invalid show status 'loud'" in r.err
    # A user manager never shows status, whatever it is told.
    assert um.systemctl("show", "-p", "ShowStatus").out == "ShowStatus=no\n"
    r = call(um, "SwitchRoot", "ss", "/sysroot", "")
    assert r.rc != 0 and "Root switching is only supported by system manager." in r.err


def test_bind_mount_in_a_user_manager(um: Manager) -> None:
    r = um.systemctl("bind", "nosuch.service", "/srv")
    assert r.rc != 0 and "Unit nosuch.service not loaded." in r.err
    assert um.systemctl("start", "sleeper.service").rc == 0
    r = um.systemctl("bind", "sleeper.service", "/srv")
    assert r.rc != 0 and "Adding bind mounts at runtime is only supported for system managers." in r.err
    r = um.systemctl("mount-image", "sleeper.service", "/tmp/img.raw", "/mnt")
    assert r.rc != 0 and "Adding bind mounts at runtime is only supported for system managers." in r.err


def set_markers(um: Manager, unit: str, *words: str) -> Result:
    return call(um, "SetUnitProperties", "sba(sv)", unit, "true", "1", "Markers", "as", str(len(words)), *words)


def test_markers_and_enqueue_marked_jobs(um: Manager) -> None:
    assert um.systemctl("start", "sleeper.service").rc == 0
    pid = prop(um, "sleeper.service", "MainPID")
    assert set_markers(um, "sleeper.service", "needs-restart").rc == 0
    assert prop(um, "sleeper.service", "Markers") == "needs-restart"
    assert set_markers(um, "sleeper.service", "+needs-reload", "-needs-restart").rc == 0
    assert prop(um, "sleeper.service", "Markers") == "needs-reload"
    r = set_markers(um, "sleeper.service", "needs-restart", "+needs-reload")
    assert r.rc != 0 and "Bad marker syntax." in r.err
    r = set_markers(um, "sleeper.service", "needs-nothing")
    assert r.rc != 0 and 'Unknown marker "needs-nothing".' in r.err
    assert prop(um, "sleeper.service", "Markers") == "needs-reload"
    # Runtime state only: no drop-in for it.
    assert not (um.root / "xdg/systemd/user.control/sleeper.service.d/50-Markers.conf").exists()
    # Marked on an inactive unit: a try-restart does nothing to it.
    assert set_markers(um, "plain.service", "needs-restart").rc == 0
    r = um.systemctl("reload-or-restart", "--marked")
    assert r.rc == 0, r.err
    # sleeper.service cannot reload: its needs-reload became a restart.
    assert prop(um, "sleeper.service", "ActiveState") == "active"
    assert prop(um, "sleeper.service", "MainPID") not in ("0", pid)
    assert prop(um, "sleeper.service", "Markers") == ""
    assert prop(um, "plain.service", "ActiveState") == "inactive"
    assert set_markers(um, "plain.service", "-needs-restart").rc == 0
    r = call(um, "EnqueueMarkedJobs")
    assert r.rc == 0 and r.out.strip() == "ao 0", (r.out, r.err)


def test_set_exit_code(tmp_path: Path) -> None:
    for m in make_manager(tmp_path, "user", {}):
        assert call(m, "SetExitCode", "y", "7").rc == 0
        got = busctl(m, "get-property", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                     "org.freedesktop.systemd1.Manager", "ExitCode")
        assert got.out.strip() == "y 7", got.err
        assert call(m, "SetExitCode", "y", "9").rc == 0
        r = call(m, "Exit")
        assert r.rc == 0, r.err
        assert m.proc is not None
        assert m.proc.wait(timeout=30) == 9


def _ext4_image(tmp: Path, text: str) -> Path:
    content = tmp / "image-content"
    (content / "etc").mkdir(parents=True)
    (content / "etc/os-release").write_text("ID=imagetest\n")
    (content / "marker").write_text(text)
    image = tmp / "image.raw"
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-d", str(content), str(image)], check=True)
    return image


def _loop_devices() -> list[tuple[str, str]]:
    """The host's loop devices and whether each is marked read-only (a mark that would outlive us)."""
    return sorted((d, open(f"/sys/block/{d}/ro").read().strip())
                  for d in os.listdir("/sys/class/block") if d.startswith("loop"))


def _loops_of(image: Path) -> str:
    return subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True).stdout


@pytest.mark.skipif(not shutil.which("systemd-dissect") or not shutil.which("mkfs.ext4"),
                    reason="needs systemd-dissect and mkfs.ext4")
def test_mount_image_into_a_running_unit(tmp_path: Path) -> None:
    units = {"private.service": "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 1000\n"
                                "PrivateTmp=yes\n"}
    image = _ext4_image(tmp_path, "from the image\n")
    loops_before = _loop_devices()
    for m in make_manager(tmp_path, "system", units):
        r = m.systemctl("mount-image", "private.service", str(image), "/tmp/img")
        assert r.rc != 0 and "Unit private.service not loaded." in r.err, r.err  # as systemd: loaded only
        assert m.systemctl("start", "private.service").rc == 0
        try:
            for opts, text in (("ro nosuid", "contains whitespace character(s): ro nosuid"),
                               ("data=journal", "Mount option data=journal of partition root cannot be applied")):
                r = call(m, "MountImageUnit", "sssbba(ss)", "private.service", str(image), "/tmp/img", "false",
                         "false", "1", "root", opts)
                assert r.rc != 0 and text in r.err, r.err
            pid = prop(m, "private.service", "MainPID")
            inside = ["nsenter", "-t", pid, "-m", "--"]
            r = m.systemctl("mount-image", "private.service", str(tmp_path / "missing.raw"), "/tmp/img")
            assert r.rc != 0 and "No such file or directory" in r.err, r.err
            junk = tmp_path / "junk.raw"
            junk.write_bytes(os.urandom(1 << 20))
            r = m.systemctl("mount-image", "--mkdir", "private.service", str(junk), "/tmp/junk")
            assert r.rc != 0 and f"Failed to mount {junk} on /tmp/junk in unit's namespace: Package not installed" \
                in r.err, r.err
            # The real systemctl and systemd-dissect: the image's file system appears in the unit only.
            r = m.systemctl("mount-image", "--mkdir", "private.service", str(image), "/tmp/img", "root:nosuid,noexec")
            assert r.rc == 0, (r.err, m.log[-1500:])
            assert m.ns.run([*inside, "cat", "/tmp/img/marker"], m.env).out == "from the image\n"
            mounted = m.ns.run([*inside, "findmnt", "-n", "-o", "FSTYPE,OPTIONS", "/tmp/img"], m.env).out
            assert mounted.startswith("ext4 ") and "nosuid" in mounted and "noexec" in mounted, mounted
            assert str(image) in _loops_of(image)
            assert "/tmp/img" not in m.ns.run(["findmnt", "-n", "-o", "TARGET"], m.env).out
            r = m.systemctl("mount-image", "--read-only", "--mkdir", "private.service", str(image), "/tmp/ro")
            assert r.rc == 0, r.err
            r = m.ns.run([*inside, "touch", "/tmp/ro/refused"], m.env)
            assert r.rc != 0 and "Read-only file system" in r.err, r.err
        finally:
            assert m.systemctl("stop", "private.service").rc == 0
        # Its namespace gone, the loop devices systemd-dissect set up detach themselves.
        deadline = time.monotonic() + 10
        while _loops_of(image) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _loops_of(image)
        # The host's pool of loop devices is as it was, and no device got a read-only mark (one
        # left by someone else may have been cleared: a device we mount read-write needs that).
        after = _loop_devices()
        assert [d for d, _ in after] == [d for d, _ in loops_before]
        assert {d for d, ro in after if ro == "1"} <= {d for d, ro in loops_before if ro == "1"}


def test_mount_switch_root_and_exit_code_in_a_system_manager(tmp_path: Path) -> None:
    own = "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 1000\n"
    # plain.service's After= keeps the inactive private.service loaded.
    units = {"plain.service": own.replace("[Service]", "After=private.service\n[Service]"),
             "private.service": own + "PrivateTmp=yes\nInaccessiblePaths=/opt\n"}
    for m in make_manager(tmp_path, "system", units):
        assert m.systemctl("start", "plain.service").rc == 0
        r = m.systemctl("bind", "plain.service", "/srv")
        assert r.rc != 0 and "Unit not running in private mount namespace, cannot activate bind mount" in r.err
        r = call(m, "BindMountUnit", "sssbb", "plain.service", "srv", "", "false", "false")
        assert r.rc != 0 and "Source path must be absolute and normalized." in r.err
        r = call(m, "BindMountUnit", "sssbb", "plain.service", "/srv", "/a/../b", "false", "false")
        assert r.rc != 0 and "Destination path must be absolute and normalized." in r.err
        r = m.systemctl("bind", "private.service", "/srv", "/opt/x")
        assert r.rc != 0 and "/opt/x is not accessible to this unit" in r.err
        r = m.systemctl("bind", "private.service", "/srv")
        assert r.rc != 0 and "Unit is not running" in r.err
        # Running, in its own mount namespace: the real systemctl's bind reaches into it.
        src = tmp_path / "bind-source"
        src.mkdir()
        (src / "marker").write_text("from the host\n")
        assert m.systemctl("start", "private.service").rc == 0
        try:
            pid = prop(m, "private.service", "MainPID")
            r = m.systemctl("bind", "private.service", str(src), "/tmp/in/here")
            assert r.rc != 0 and "Failed to bind mount: Failed to mount" in r.err and "No such file" in r.err, r.err
            for dest, extra in (("/tmp/in/here", ()), ("/tmp/ro", ("--read-only",))):
                r = m.systemctl("bind", "--mkdir", *extra, "private.service", str(src), dest)
                assert r.rc == 0, (r.err, m.log[-1500:])
            inside = ["nsenter", "-t", pid, "-m", "--"]
            assert m.ns.run([*inside, "cat", "/tmp/in/here/marker"], m.env).out == "from the host\n"
            assert m.ns.run([*inside, "touch", "/tmp/in/here/written"], m.env).rc == 0
            assert (src / "written").exists()
            r = m.ns.run([*inside, "touch", "/tmp/ro/refused"], m.env)
            assert r.rc != 0 and "Read-only file system" in r.err, r.err
            assert str(src) not in m.ns.run(["cat", "/proc/self/mountinfo"], m.env).out  # only the unit sees it
        finally:  # its private /tmp is on the host's /tmp until it stops
            assert m.systemctl("stop", "private.service").rc == 0
        r = call(m, "BindMountUnit", "sssbb", "-.slice", "/srv", "", "false", "false")
        assert r.rc != 0 and "Unit is not of type .service" in r.err
        for root, text in (("", "New root directory may not be the empty string."),
                           ("sysroot", "New root path 'sysroot' is not absolute."),
                           ("/", "New root directory cannot be the old root directory."),
                           (str(tmp_path), f"Specified switch root path '{tmp_path}' does not seem to be an OS tree.")):
            r = call(m, "SwitchRoot", "ss", root, "")
            assert r.rc != 0 and text in r.err, (root, r.err)
        r = call(m, "SwitchRoot", "ss", str(tmp_path), "/sbin/nosuchinit")
        assert r.rc != 0 and "Could not resolve init executable /sbin/nosuchinit: No such file or directory" in r.err
        r = call(m, "SetExitCode", "y", "3")
        if m.ns.run(["systemd-detect-virt", "--container"], m.env).rc != 0:
            assert r.rc != 0 and "ExitCode can only be set for user service managers or in containers." in r.err
        assert m.systemctl("stop", "plain.service").rc == 0
