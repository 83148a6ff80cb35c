"""devmaster against real peers (udevadm 252, libudev via pyudev), in a private namespace."""

import json
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator

import pytest
from dm_sandbox import PYTHON, Sandbox, sandbox

from sysmasterd.devmaster.framework.control_wire import ControlMessage, ControlType, pack

pytestmark = pytest.mark.root

RULES = """\
SUBSYSTEM=="net", KERNEL=="lo", ENV{DMTEST}="hello", TAG+="dmtest"
SUBSYSTEM=="block", KERNEL=="loop*", ACTION!="remove", ENV{DMTEST_LOOP}="1", SYMLINK+="dmtest/%k"
SUBSYSTEM=="mem", KERNEL=="null", ENV{DMTEST_HANG}=="1", PROGRAM="/bin/sleep 30"
SUBSYSTEM=="net", ACTION=="add", KERNEL=="dmveth0", NAME="dmrenamed0"
SUBSYSTEM=="block", KERNEL=="loop*", ACTION!="remove", OPTIONS+="watch"
SUBSYSTEM=="block", KERNEL=="loop*", ATTR{loop/backing_file}=="*dmperm*", OWNER:="nobody", MODE:="0640"
SUBSYSTEM=="block", KERNEL=="loop*", ATTR{loop/backing_file}=="*dmhi*", SYMLINK+="dmshared", \
  OPTIONS+="link_priority=10"
SUBSYSTEM=="block", KERNEL=="loop*", ATTR{loop/backing_file}=="*dmlo*", SYMLINK+="dmshared"
"""


@pytest.fixture(scope="module")
def devmaster(box: Sandbox) -> Iterator[subprocess.Popen[str]]:
    box.write("/run/udev/rules.d/00-dmtest.rules", RULES)
    proc = box.start_devmaster("--event-timeout=3")
    yield proc
    box.stop_devmaster(proc)


@pytest.fixture
def daemon(box: Sandbox, devmaster: subprocess.Popen[str]) -> Sandbox:
    return box


def change(box: Sandbox, path: str) -> None:
    box.sh(f"echo change > {path}/uevent")


def settle(box: Sandbox) -> None:
    r = box.run(["udevadm", "settle", "-t", "30"])
    if r.returncode != 0:
        raise AssertionError(f"udevadm settle: {r.stderr.strip()} (devmaster's state: {box.diagnose(r.stderr)})")


def test_real_udevadm_control(daemon: Sandbox) -> None:
    for args in (["--ping"], ["--reload"], ["--log-level=debug"], ["--log-level=info"], ["-s"], ["-S"],
                 ["--children-max=4"], ["--property=DMTEST_X=1"], ["--property=DMTEST_X="]):
        r = daemon.run(["udevadm", "control", *args])
        assert r.returncode == 0, (args, r.stderr)
    assert daemon.run(["udevadm", "settle", "-t", "5"]).returncode == 0


def test_event_reaches_db_and_real_udevadm_info(daemon: Sandbox) -> None:
    change(daemon, "/sys/class/net/lo")
    settle(daemon)
    info = daemon.run(["udevadm", "info", "/sys/class/net/lo"]).stdout
    assert "E: DMTEST=hello" in info
    assert "E: TAGS=:dmtest:" in info
    assert "E: USEC_INITIALIZED=" in info
    assert daemon.run(["test", "-e", "/run/udev/tags/dmtest/n1"]).returncode == 0
    ours = daemon.run([PYTHON, "-m", "sysmasterd.cli.devctl", "info", "/sys/class/net/lo"]).stdout
    assert sorted(ours.splitlines()) == sorted(info.splitlines())


def test_pyudev_reads_database(daemon: Sandbox) -> None:
    change(daemon, "/sys/class/net/lo")
    settle(daemon)
    r = daemon.python(textwrap.dedent("""
        import json, pyudev
        d = pyudev.Devices.from_path(pyudev.Context(), '/sys/class/net/lo')
        print(json.dumps({'props': dict(d.properties), 'tags': sorted(d.tags), 'init': d.is_initialized}))
    """))
    out = json.loads(r.stdout)
    assert out["props"]["DMTEST"] == "hello"
    assert "dmtest" in out["tags"] and out["init"] is True


def test_pyudev_monitor_filters_on_our_hashes(daemon: Sandbox) -> None:
    script = textwrap.dedent("""
        import pyudev, sys
        ctx = pyudev.Context()
        by_sub = pyudev.Monitor.from_netlink(ctx, source='udev'); by_sub.filter_by(subsystem='net'); by_sub.start()
        by_tag = pyudev.Monitor.from_netlink(ctx, source='udev'); by_tag.filter_by_tag('dmtest'); by_tag.start()
        wrong = pyudev.Monitor.from_netlink(ctx, source='udev'); wrong.filter_by(subsystem='block'); wrong.start()
        for p in ('/sys/devices/virtual/mem/null', '/sys/class/net/lo'):
            open(p + '/uevent', 'w').write('change')
        a, b = by_sub.poll(timeout=15), by_tag.poll(timeout=15)
        c = wrong.poll(timeout=1)
        print(a.sys_name, a.action, a.get('DMTEST'), b.sys_name, c)
    """)
    r = daemon.python(script, timeout=60)
    assert r.stdout.split() == ["lo", "change", "hello", "lo", "None"], r.stderr


def test_real_udevadm_monitor(daemon: Sandbox) -> None:
    mon = daemon.popen(["udevadm", "monitor", "--udev", "--property", "--subsystem-match=net"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        change(daemon, "/sys/class/net/lo")
        settle(daemon)
        time.sleep(0.3)
    finally:
        mon.terminate()
    out, _ = mon.communicate(timeout=10)
    assert "UDEV  [" in out and "change   /devices/virtual/net/lo (net)" in out
    assert "DMTEST=hello" in out


def test_devctl_monitor_sees_kernel_and_udev(daemon: Sandbox) -> None:
    mon = daemon.popen([PYTHON, "-m", "sysmasterd.cli.devctl", "monitor", "-k", "-u", "-s", "net"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1)
        change(daemon, "/sys/class/net/lo")
        settle(daemon)
        time.sleep(0.3)
    finally:
        mon.terminate()
    out, _ = mon.communicate(timeout=10)
    assert "KERNEL[" in out and "UDEV  [" in out


def test_loop_device_link_and_removal(daemon: Sandbox) -> None:
    daemon.sh("truncate -s 8M /run/dmtest.img")
    loop = daemon.run(["losetup", "-f", "--show", "/run/dmtest.img"]).stdout.strip()
    assert loop.startswith("/dev/loop")
    name = loop.rsplit("/", 1)[1]
    try:
        settle(daemon)
        link = daemon.run(["readlink", f"/dev/dmtest/{name}"]).stdout.strip()
        assert link == f"../{name}"
        prop = daemon.run(["udevadm", "info", "-q", "property", "--property=DMTEST_LOOP", "--value", loop])
        assert prop.stdout.strip() == "1"
        assert f"dmtest/{name}" in daemon.run(["udevadm", "info", "-q", "symlink", loop]).stdout.split()
    finally:
        daemon.run(["losetup", "-d", loop])
    settle(daemon)
    # a (synthetic) remove event takes the link, the stack entry and the db record away
    daemon.sh(f"echo remove > /sys/class/block/{name}/uevent")
    settle(daemon)
    assert daemon.run(["test", "-e", f"/dev/dmtest/{name}"]).returncode != 0
    assert daemon.run(["test", "-e", f"/run/udev/data/b7:{int(name[4:])}"]).returncode != 0
    daemon.sh(f"echo add > /sys/class/block/{name}/uevent")
    settle(daemon)
    assert daemon.run(["test", "-L", f"/dev/dmtest/{name}"]).returncode == 0


def test_locked_block_device_event_waits(daemon: Sandbox) -> None:
    daemon.sh("truncate -s 8M /run/dmlock.img")
    loop = daemon.run(["losetup", "-f", "--show", "/run/dmlock.img"]).stdout.strip()
    name = loop.rsplit("/", 1)[1]
    script = textwrap.dedent(f"""
        import pyudev, subprocess, sys, time
        mon = pyudev.Monitor.from_netlink(pyudev.Context(), source='udev'); mon.filter_by('block'); mon.start()
        lock = subprocess.Popen([sys.executable, '-m', 'sysmasterd.cli.devctl', 'lock', '-d', '{loop}',
                                 'sleep', '1.5'])
        time.sleep(0.5)
        t0 = time.monotonic()
        open('/sys/class/block/{name}/uevent', 'w').write('change')
        d = mon.poll(timeout=20)
        print(round(time.monotonic() - t0, 1), d.sys_name, d.get('UDEV_WORKER_FAILED', 'ok'))
        lock.wait()
    """)
    try:
        settle(daemon)
        r = daemon.python(script, timeout=60)
        delay, sysname, status = r.stdout.split()
        assert (sysname, status) == (name, "ok"), r.stderr
        assert float(delay) >= 0.7
    finally:
        daemon.run(["losetup", "-d", loop])
        settle(daemon)


def test_netif_rename_in_namespace(daemon: Sandbox) -> None:
    r = daemon.run(["ip", "link", "add", "dmveth0", "type", "veth", "peer", "name", "dmveth1"])
    assert r.returncode == 0, r.stderr
    try:
        settle(daemon)
        links = daemon.run(["ip", "-o", "link"]).stdout
        assert "dmrenamed0" in links and "dmveth0" not in links
        info = daemon.run(["udevadm", "info", "/sys/class/net/dmrenamed0"]).stdout
        assert "E: INTERFACE=dmrenamed0" in info
    finally:
        daemon.run(["ip", "link", "del", "dmrenamed0"])
        daemon.run(["ip", "link", "del", "dmveth0"])
    settle(daemon)


def test_hanging_program_killed_and_event_still_broadcast(daemon: Sandbox) -> None:
    assert daemon.run(["udevadm", "control", "--property=DMTEST_HANG=1"]).returncode == 0
    script = textwrap.dedent("""
        import pyudev, time
        mon = pyudev.Monitor.from_netlink(pyudev.Context(), source='udev'); mon.filter_by(subsystem='mem')
        mon.start()
        t0 = time.monotonic()
        open('/sys/devices/virtual/mem/null/uevent', 'w').write('change')
        d = mon.poll(timeout=20)
        print(d.get('UDEV_WORKER_FAILED'), d.get('UDEV_WORKER_SIGNAL_NAME'), time.monotonic() - t0)
    """)
    try:
        r = daemon.python(script, timeout=60)
    finally:
        daemon.run(["udevadm", "control", "--property=DMTEST_HANG="])
    failed, signal_name, elapsed = r.stdout.split()
    assert (failed, signal_name) == ("1", "KILL"), r.stderr
    # a timer per event: killed at --event-timeout=3, not at the next tick of a sweep
    assert 3.0 <= float(elapsed) < 3.4
    assert daemon.run(["udevadm", "control", "--ping"]).returncode == 0
    log = daemon.log()
    assert "is taking a long time" in log and "killed" in log
    settle(daemon)


def test_forged_senders_ignored(daemon: Sandbox) -> None:
    # a userspace process posing as the kernel on group 1, and a non-root control client
    script = textwrap.dedent("""
        import socket
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 15); s.bind((0, 0))
        msg = b'add@/devices/dmfake\\0ACTION=add\\0DEVPATH=/devices/dmfake\\0SUBSYSTEM=dmfake\\0SEQNUM=999999\\0'
        s.sendto(msg, (0, 1))
        s.sendto(b'garbage', (0, 1))
    """)
    assert daemon.python(script).returncode == 0
    r = daemon.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "udevadm", "control",
                    "--exit"])
    assert r.returncode != 0  # udevadm itself refuses before connecting
    # A client of our own that gets past the socket's file mode: devmaster must check the peer.
    daemon.run(["chmod", "666", "/run/udev/control"], check=True)
    # the messages are made here and the system python runs them: nobody may not read the checkout
    messages = [pack(ControlMessage(kind)).hex() for kind in (ControlType.EXIT, ControlType.END_MESSAGES)]
    forged_exit = textwrap.dedent(f"""
        import socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect('/run/udev/control')
        s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        for message in {messages!r}:
            try:
                s.send(bytes.fromhex(message))
            except OSError:
                pass
        s.settimeout(10)
        try:
            print(s.recv(16) == b"")
        except ConnectionResetError:  # closed with our messages unread
            print(True)
    """)
    r = daemon.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                    forged_exit])
    assert r.stdout.strip() == "True", r.stderr  # hung up on at once
    assert daemon.run(["udevadm", "control", "--ping"]).returncode == 0
    assert "Invalid sender uid 65534, closing connection" in daemon.log()
    settle(daemon)
    assert daemon.run(["test", "-e", "/run/udev/data/+dmfake:dmfake"]).returncode != 0
    assert "ignored" in daemon.log()


def test_malformed_control_messages_ignored(daemon: Sandbox) -> None:
    script = textwrap.dedent("""
        import socket, struct
        from sysmasterd.devmaster.framework.control_wire import ControlMessage, ControlType, pack
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect('/run/udev/control')
        s.send(b'short')
        s.send(b'udev-252'.ljust(16, b'\\0') + struct.pack('=Ii', 0x12345678, 8) + bytes(256))  # bad magic, EXIT
        s.send(pack(ControlMessage(99)))
        s.send(pack(ControlMessage(ControlType.SET_CHILDREN_MAX, -5)))
        s.send(pack(ControlMessage(ControlType.SET_ENV, text='no-equals-sign')))
        s.send(pack(ControlMessage(ControlType.END_MESSAGES)))
        s.settimeout(10)
        print(s.recv(10) == b'')
    """)
    r = daemon.python(script)
    assert r.stdout.strip() == "True", r.stderr
    assert daemon.run(["udevadm", "control", "--ping"]).returncode == 0
    assert "doesn't match" in daemon.log()


def test_queue_file_semantics(daemon: Sandbox) -> None:
    assert daemon.run(["udevadm", "control", "--stop-exec-queue"]).returncode == 0
    change(daemon, "/sys/class/net/lo")
    daemon.run(["udevadm", "control", "--ping"])
    assert daemon.run(["test", "-e", "/run/udev/queue"]).returncode == 0
    assert daemon.run(["udevadm", "settle", "-t", "1"]).returncode == 1
    assert daemon.run(["udevadm", "control", "--start-exec-queue"]).returncode == 0
    settle(daemon)
    assert daemon.run(["test", "-e", "/run/udev/queue"]).returncode != 0


def test_watch_close_after_write_synthesizes_change(daemon: Sandbox) -> None:
    daemon.sh("truncate -s 8M /run/dmwatch.img")
    loop = daemon.run(["losetup", "-f", "--show", "/run/dmwatch.img"]).stdout.strip()
    name = loop.rsplit("/", 1)[1]
    try:
        settle(daemon)
        minor = int(name[4:])
        assert daemon.run(["readlink", f"/run/udev/watch/b7:{minor}"]).returncode == 0
        script = textwrap.dedent(f"""
            import pyudev
            mon = pyudev.Monitor.from_netlink(pyudev.Context(), source='udev'); mon.filter_by('block'); mon.start()
            open('{loop}', 'wb').close()
            d = mon.poll(timeout=10)
            print(d.sys_name, d.action)
        """)
        r = daemon.python(script, timeout=30)
        assert r.stdout.split() == [name, "change"], r.stderr
    finally:
        daemon.run(["losetup", "-d", loop])
        settle(daemon)


def test_rules_edited_on_disk_are_picked_up(daemon: Sandbox) -> None:
    daemon.write("/run/udev/rules.d/01-dmlate.rules", 'SUBSYSTEM=="net", KERNEL=="lo", ENV{DMLATE}="yes"\n')
    try:
        time.sleep(3.2)  # udevd looks at the rules files at most every 3 seconds
        change(daemon, "/sys/class/net/lo")
        settle(daemon)
        prop = daemon.run(["udevadm", "info", "-q", "property", "--property=DMLATE", "--value", "/sys/class/net/lo"])
        assert prop.stdout.strip() == "yes"
    finally:
        daemon.run(["rm", "-f", "/run/udev/rules.d/01-dmlate.rules"])


def test_ready_notification_and_flags() -> None:
    script = textwrap.dedent(f"""
        import os, socket, subprocess, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind('/run/notify'); s.settimeout(20)
        env = dict(os.environ, NOTIFY_SOCKET='/run/notify')
        # --debug logs every uevent that arrives meanwhile: a file, as a pipe nobody reads fills up
        log = open('/run/dm-debug.log', 'w+')
        p = subprocess.Popen([{PYTHON!r}, '-m', 'sysmasterd.devmaster.main', '--debug', '--children-max=3',
                              '--resolve-names=late', '--event-timeout=7'], env=env, stderr=log, text=True)
        try:
            print(s.recv(4096).decode().splitlines()[0])
            subprocess.run(['udevadm', 'control', '--exit'], check=True)
            p.wait(10)
        finally:  # a daemon left running would outlive the sandbox and handle every uevent
            if p.poll() is None:
                p.kill()
                p.wait()
        log.seek(0)
        print('children_max=3' in log.read(), p.returncode)
    """)
    with sandbox() as box:
        r = box.python(script, timeout=60)
    assert r.stdout.split() == ["READY=1", "True", "0"], r.stderr


def test_backward_goto_and_bad_lines_do_not_hang(daemon: Sandbox) -> None:
    daemon.write("/run/udev/rules.d/02-dmloop.rules",
                 'LABEL="back"\nKERNEL=="lo", ENV{DMLOOP}="1", GOTO="back"\nKERNEL=="lo", BOGUS="x"\n')
    try:
        assert daemon.run(["udevadm", "control", "--reload"]).returncode == 0
        change(daemon, "/sys/class/net/lo")
        settle(daemon)
        prop = daemon.run(["udevadm", "info", "-q", "property", "--property=DMLOOP", "--value", "/sys/class/net/lo"])
        assert prop.stdout.strip() == "1"
        assert "02-dmloop.rules:2" in daemon.log()
    finally:
        daemon.run(["rm", "-f", "/run/udev/rules.d/02-dmloop.rules"])
        daemon.run(["udevadm", "control", "--reload"])


def test_sighup_reloads_rules(daemon: Sandbox, devmaster: subprocess.Popen[str]) -> None:
    daemon.write("/run/udev/rules.d/03-dmhup.rules", 'SUBSYSTEM=="net", KERNEL=="lo", ENV{DMHUP}="1"\n')
    try:
        devmaster.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        change(daemon, "/sys/class/net/lo")
        settle(daemon)
        prop = daemon.run(["udevadm", "info", "-q", "property", "--property=DMHUP", "--value", "/sys/class/net/lo"])
        assert prop.stdout.strip() == "1"
    finally:
        daemon.run(["rm", "-f", "/run/udev/rules.d/03-dmhup.rules"])


def test_real_udevadm_trigger_settle_and_wait(daemon: Sandbox) -> None:
    r = daemon.run(["udevadm", "trigger", "--settle", "-c", "change", "/sys/class/net/lo", "/dev/null"])
    assert r.returncode == 0, r.stderr
    r = daemon.run(["udevadm", "wait", "-t", "5", "/sys/class/net/lo", "/dev/null"])
    assert r.returncode == 0, r.stderr


def test_daemon_flag_detaches() -> None:
    with sandbox() as box:
        r = box.run([PYTHON, "-m", "sysmasterd.devmaster.main", "--daemon"], timeout=30)
        assert r.returncode == 0
        deadline = time.monotonic() + 20
        while box.run(["udevadm", "control", "--ping", "-t", "1"]).returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert box.run(["udevadm", "control", "--exit"]).returncode == 0


def test_node_permissions(daemon: Sandbox) -> None:
    daemon.sh("truncate -s 8M /run/dmperm.img")
    loop = daemon.run(["losetup", "-f", "--show", "/run/dmperm.img"]).stdout.strip()
    try:
        settle(daemon)
        # GROUP="disk" of 50-udev-default.rules applies on "add" only
        daemon.sh(f"echo add > /sys/class/block/{loop[5:]}/uevent")
        settle(daemon)
        owner = daemon.run(["stat", "-c", "%U %G %a", loop]).stdout.split()
        assert owner == ["nobody", "disk", "640"]
    finally:
        daemon.run(["losetup", "-d", loop])
        settle(daemon)


def test_symlink_priority_stacking(daemon: Sandbox) -> None:
    daemon.sh("truncate -s 8M /run/dmlo.img /run/dmhi.img")
    low = daemon.run(["losetup", "-f", "--show", "/run/dmlo.img"]).stdout.strip()
    high = ""
    try:
        settle(daemon)
        assert daemon.run(["readlink", "/dev/dmshared"]).stdout.strip() == low.replace("/dev/", "")
        high = daemon.run(["losetup", "-f", "--show", "/run/dmhi.img"]).stdout.strip()
        settle(daemon)
        assert daemon.run(["readlink", "/dev/dmshared"]).stdout.strip() == high.replace("/dev/", "")
        daemon.run(["losetup", "-d", high])
        settle(daemon)
        assert daemon.run(["readlink", "/dev/dmshared"]).stdout.strip() == low.replace("/dev/", "")
        daemon.run(["losetup", "-d", low])
        settle(daemon)
        assert daemon.run(["test", "-e", "/dev/dmshared"]).returncode != 0
    finally:
        for dev in (low, high):
            if dev:
                daemon.run(["losetup", "-d", dev])
        settle(daemon)


def test_mark_read_only_sets_the_kernel_flag(box: Sandbox) -> None:
    # udev.blockdev_read_only skips loop devices, so the ioctl path is exercised on one directly
    box.sh("truncate -s 1M /run/dmro.img")
    loop = box.run(["losetup", "-f", "--show", "/run/dmro.img"]).stdout.strip()
    assert loop.startswith("/dev/loop")
    try:
        r = box.python(textwrap.dedent(f"""
            from sysmasterd.devmaster.device import Device
            from sysmasterd.devmaster.framework.processing import mark_read_only
            mark_read_only(Device.from_syspath('/sys/class/block/{loop.rsplit('/', 1)[1]}'))
        """))
        assert r.returncode == 0, r.stderr
        assert box.run(["blockdev", "--getro", loop]).stdout.strip() == "1"
    finally:
        box.run(["blockdev", "--setrw", loop])  # the mark outlives the binding: the host's loop device stays as found
        box.run(["losetup", "-d", loop])
