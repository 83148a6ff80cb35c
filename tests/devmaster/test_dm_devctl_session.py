"""A scripted session of udevadm commands run twice against one devmaster — through
/usr/bin/udevadm and through devctl — and compared command by command: exit code, stdout and
stderr, with only the program name, timestamps and sequence numbers masked. That includes the
debug trace of test and test-builtin (builtin set-up with the container detection the naming
scheme asks for, rules files, each rule that does something, node, db, teardown). Read-only
verbs, or (test) ones that write the same state twice, so the order of the runs does not matter."""

from __future__ import annotations

import difflib
import os
import re
import select
import shlex
import subprocess
import time
from collections.abc import Iterator

import pytest
from dm_sandbox import LOOP, PYTHON, Sandbox

pytestmark = pytest.mark.root
DEVCTL = [PYTHON, "-m", "sysmasterd.cli.devctl"]

# The sandbox adds the veth pair dmv0/dmv1 to its network namespace before the session.
SESSION = """
info -q name /dev/null
info -q symlink /dev/null
info -q path /dev/null
info -q property /dev/null
info -q all /dev/null
info -q all /sys/class/net/dmv0
info -r -q name /dev/null
info -r -q symlink /dev/null
info -q path -n /dev/null
info -q name -p /devices/virtual/mem/null
info -q property -p /sys/devices/virtual/mem/null
info -q property --export-prefix=X_ /dev/null
info -q property -x /dev/null
info -a /dev/null
info -a /sys/class/net/dmv0
info --attribute-walk --path=/devices/virtual/net/lo
info -q name -n /dev/nosuch
info -q path /sys/nonexistent
info -p /devices/nonexistent
info -n nosuch
info -q property
info -e --subsystem-match=net
info -q wrong /dev/null
info /sys/bus
info -q property /sys/kernel/mm
info -q all /sys/module/loop
info -a /sys/bus/pci/drivers
info /sys
info /tmp
info /dev/
info foo
info sys/class/net/lo
info sda.device
info dev-null.device
info -q property sys-devices-virtual-mem-null.device
info /dev/block/250:99
trigger --dry-run -v --subsystem-match=net
trigger --dry-run -v --subsystem-match=mem --subsystem-nomatch=block
trigger --dry-run -v --attr-match=dev=1:3
trigger --dry-run -v --attr-nomatch=dev=1:3 --subsystem-match=mem
trigger --dry-run -v --property-match=INTERFACE=dmv0
trigger --dry-run -v --tag-match=systemd --subsystem-match=net
trigger --dry-run -v --sysname-match=dmv*
trigger --dry-run -v --parent-match=/sys/devices/virtual/net/dmv0
trigger --dry-run -v --action=change --subsystem-match=net
trigger --dry-run -v --action=bogus
trigger --dry-run -v --type=subsystems --subsystem-match=net
trigger --dry-run -v --type=subsystems
trigger --dry-run -v --type=subsystems --attr-match=drivers_autoprobe=1
trigger --dry-run -v --type=subsystems --attr-match=drivers_autoprobe --attr-match=drivers_autoprobe=0
trigger --dry-run -v --type=subsystems --attr-nomatch=drivers_autoprobe --subsystem-match=subsystem
trigger --dry-run -v --type=subsystems --attr-match=initstate=live --sysname-match=l*
trigger --dry-run -v --type=subsystems --property-match=SUBSYSTEM=drivers
trigger --dry-run -v --type=subsystems --property-match=DEV*=/bus/n* --property-match=NOSUCH
trigger --dry-run -v --type=subsystems --property-match=NOSUCH
trigger --dry-run -v --type=subsystems --tag-match=systemd
trigger --dry-run -v --type=subsystems --sysname-match=pci* --sysname-match=net*
trigger --dry-run -v --type=subsystems --parent-match=/sys/bus/pci
trigger --dry-run -v --type=subsystems --parent-match=/sys/bus/pci/drivers --sysname-match=[a-m]*
trigger --dry-run -v --type=subsystems --name-match=/dev/null
trigger --dry-run -v --type=subsystems /sys/class/net/dmv0
trigger --dry-run -v --type=subsystems --initialized-match
trigger --dry-run -v --type=subsystems --initialized-nomatch --subsystem-match=module --sysname-match=v*
trigger --dry-run -v --type=subsystems --prioritized-subsystem=module,drivers --sysname-match=p*
trigger --dry-run -v --type=all --subsystem-match=net --subsystem-match=module --sysname-match=l*
trigger --dry-run -v --property-match=INTERFACE
trigger --dry-run -v --prioritized-subsystem=net,mem --subsystem-match=net --subsystem-match=mem
trigger --dry-run -v /sys/class/net/dmv0
trigger --dry-run -v nosuchdevice
trigger --dry-run -v --type=bogus
trigger --dry-run -v --name-match=/dev/null
trigger --dry-run -v --parent-match=/sys/nonexistent
trigger --dry-run -v /sys/bus
trigger --dry-run -v -b /sys/bus/pci/drivers
trigger --dry-run -v --type=subsystems /sys/bus/pci
trigger --dry-run -v dev-null.device
trigger --dry-run -v -b x.device
settle -t 5
settle -t 0
settle -t bogus
control --ping
control -l info
control -l debug
control -l nosuchlevel
control --children-max=x
control --bogus
test-builtin path_id /sys/class/net/lo
test-builtin input_id /sys/class/net/lo
test-builtin net_id /sys/class/net/lo
test-builtin net_id /sys/class/net/dmv0
test-builtin blkid /dev/nosuch
test-builtin blkid /sys/devices/virtual/block/loop0
test-builtin net_setup_link /sys/class/net/lo
test-builtin net_setup_link /sys/class/net/dmv0
test-builtin --action=change net_setup_link /sys/class/net/dmv0
test-builtin hwdb /sys/devices/virtual/mem/null
test-builtin kmod /sys/devices/virtual/mem/null
test-builtin
test-builtin nosuchbuiltin /sys/class/net/lo
test-builtin path_id /sys
test-builtin path_id /sys/fs/cgroup
test-builtin path_id /sys/devices/virtual/mem/null/dev
test-builtin path_id class/net/lo
test-builtin path_id x.device
test-builtin path_id dev-null.device
test /sys/kernel/mm
test /sys/class/block/{loop}
test --action=change /sys/class/block/{loop}
test /sys/class/net/dmv0
test /sys/class/net/lo
test --action=change /sys/class/net/lo
test --action=bogus /sys/class/net/lo
test /sys/nonexistent
test -N never /sys/devices/virtual/mem/null
test /sys/devices/virtual/mem/null
test --action=change /sys/devices/virtual/mem/null
info -q all -r /dev/null
info --query=symlink --root /dev/null
info -x -q property -P FOO_ /dev/null
info --property=DEVNAME,MAJOR /dev/null
info --property=DEVNAME --value /dev/null
info -q property --value /dev/null
info -d /dev/null
info -d /etc/passwd
info -d /nonexist
info -t /sys/class/net/lo
info --tree /sys/devices/virtual/net
info -w /dev/null
info -w1 /dev/null
info --wait-for-initialization=0.5 /dev/null
info -a -r /dev/null
info --export /dev/null
info /dev/null /dev/zero
info -q all /dev/null /dev/zero
info -q name /dev/null /dev/nosuch /dev/zero
info -p devices/virtual/mem/null
info -p /sys/devices/virtual/mem/null
info -n null
info -n /dev/null
info -r
info -x
info -q
info -q all -q name /dev/null
info -e -x
info -a /dev/null /dev/zero
info -t /dev/null /dev/zero
info --initialized-match /dev/null
info -e --initialized-match
info -e --initialized-nomatch
info -e --subsystem-match=mem --property-match=DEVNAME=/dev/null
info -e --subsystem-nomatch=net
info -e --attr-match=dev=1:3
info -e --sysname-match=null
info -e --tag-match=systemd
info -e --property-match=SUBSYSTEM=net --property-match=INTERFACE=lo
trigger --dry-run -v -c add --subsystem-match=mem
trigger --dry-run -v -c help
trigger --dry-run -v --action=help
trigger --dry-run -v -t devices --subsystem-match=mem
trigger --dry-run -v -t all --subsystem-match=mem
trigger --dry-run -v -t subsystems --sysname-match=mem
trigger --dry-run -q --subsystem-match=mem
trigger --dry-run --subsystem-match=mem
trigger --dry-run -v -y null -y zero
trigger --dry-run -v -s mem -S block
trigger --dry-run -v -a dev=1:3 -a subsystem
trigger --dry-run -v -A dev=1:3 -s mem
trigger --dry-run -v -p DEVNAME=/dev/null -p DEVNAME=/dev/zero
trigger --dry-run -v -g systemd -s net
trigger --dry-run -v --initialized-match -s mem
trigger --dry-run -v --initialized-nomatch -s mem
trigger --dry-run -v --uuid -s mem
trigger --dry-run -v -w -s mem
trigger --dry-run -v --settle -s mem
trigger --dry-run -v --wait-daemon -s mem
trigger --dry-run -v --wait-daemon=1 -s mem
trigger --dry-run -v --name-match=/dev/nosuch
trigger --dry-run -v -b /sys/devices/virtual/mem -b /sys/devices/virtual/net/lo
trigger --dry-run -v /dev/null
trigger --dry-run -v null
trigger --dry-run -v -s mem --prioritized-subsystem=
trigger --dry-run -v --prioritized-subsystem=block,mem -s mem -s block
trigger --dry-run -v --sysname-match=
trigger --dry-run -v --attr-match=
trigger --dry-run -v --property-match=
trigger --dry-run -v --tag-match=
settle -t 1 -E /nonexist
settle -E /etc/passwd
settle --timeout=0.5
settle -t -1
settle foo
control -t 1 --ping
control --timeout=bogus --ping
control -m 0
control --children-max=-1
control -l 99
control
control -p FOO
control --reload-rules --ping
test-builtin path_id /sys/class/block/{loop}
test-builtin path_id /dev/{loop}
test-builtin blkid /sys/class/block/{loop}
test-builtin btrfs ready /dev/{loop}
test-builtin btrfs
test-builtin hwdb 'dmi:bvn*'
test-builtin hwdb --subsystem=pci /sys/devices/virtual/mem/null
test-builtin hwdb --lookup-prefix=usb: /sys/devices/virtual/mem/null
test-builtin hwdb 'pci:v00008086d00001237*' /sys/devices/virtual/mem/null
test-builtin keyboard /sys/devices/virtual/mem/null
test-builtin input_id /sys/devices/virtual/mem/null
test-builtin usb_id /sys/devices/virtual/mem/null
test-builtin uaccess /sys/devices/virtual/mem/null
test-builtin net_id /sys/devices/virtual/mem/null
test-builtin net_setup_link /sys/devices/virtual/mem/null
test-builtin kmod /sys/devices/virtual/mem/null
test-builtin kmod bogus /sys/devices/virtual/mem/null
test-builtin -a remove path_id /sys/class/net/lo
test-builtin -a help path_id /sys/class/net/lo
test-builtin path_id
test-builtin 'path_id extra' /sys/class/net/lo
wait -t 1 /dev/null
wait --timeout=0.2 /dev/nosuch
wait --initialized=no -t 1 /dev/null
wait --removed -t 0.2 /dev/null
wait --settle -t 2 /dev/null
wait
wait -t bogus /dev/null
wait /sys/devices/virtual/mem/null -t 1
wait --initialized=bogus /dev/null
lock --help
lock
lock --device=/dev/nosuch true
lock -d /dev/null true
hwdb
hwdb --test='pci:v00008086d00001237*'
hwdb -t 'usb:v1D6Bp0002*'
hwdb --help
--debug info -q name /dev/null
-V
-h
help
info --help
monitor -p -k -s bogus --bogus
info --que=all /dev/null
info --quer name /dev/null
info -qname /dev/null
info -qall -r /dev/null
info --root -q name -- /dev/null
info -- -q
info --exp -q property /dev/null
info --ex /dev/null
info -a /sys/class/net/lo /sys/class/net/dmv0
info -a -q name /dev/null
info -t
info -t -a /dev/null
info --wait-for-initialization /dev/null
info -w bogus /dev/null
info -P X_ -q property /dev/null
info -x -q name /dev/null
info --value /dev/null
info --property=DEVNAME
info -q property --property= /dev/null
info -q property --property=,, /dev/null
info -e -q name
info --export-db --bogus
info -V extra
info /sys/class/net/lo /dev/nosuch /dev/null
info -q path -p
info -p
info -n
info -d
info -d /dev/null -q name
info -d /dev/null /dev/zero
trigger --dry-run -v --action=remove -s mem
trigger --dry-run -v -c change -c add -s mem
trigger --dry-run --verbose --subsystem-match=mem
trigger -n -v -s mem
trigger --dry-run -v -s 'me*' -S 'n*'
trigger --dry-run -v -a 'dev=1:*'
trigger --dry-run -v --attr-match=dev --attr-nomatch=dev=1:3 -s mem
trigger --dry-run -v -p 'DEVNAME=/dev/n*'
trigger --dry-run -v -p DEVNAME
trigger --dry-run -v -y 'n*' -y 'z*' -s mem
trigger --dry-run -v -t subsystems -s subsystem
trigger --dry-run -v -t subsystems -s module -y 'loo*'
trigger --dry-run -v -t subsystems -s drivers -y 'e*'
trigger --dry-run -v -t all -s mem -s module -y 'n*'
trigger --dry-run -v -g systemd -t all
trigger --dry-run -v -g nosuchtag
trigger --dry-run -v --initialized-match --initialized-nomatch -s mem
trigger --dry-run -v --prioritized-subsystem=net,block
trigger --dry-run -v -b /sys/devices/virtual/net/lo -s mem
trigger --dry-run -v --name-match=/dev/null --name-match=/dev/zero
trigger --dry-run -v --name-match=null
trigger --dry-run -v -b lo
trigger --dry-run -v -b /sys/class/net/lo -b /sys/class/net/dmv0
trigger --dry-run -v --parent-match=/dev/null
trigger --dry-run -v -c
trigger --dry-run -v -t
trigger --dry-run -v --sysname-match=dmv* --attr-match=ifindex
trigger --dry-run -v /sys/class/net/lo /sys/class/net/dmv0
trigger --dry-run -q -v -s mem
test -a move /sys/devices/virtual/mem/null
test -a bind /sys/devices/virtual/mem/null
test -a help /sys/devices/virtual/mem/null
test -N late /sys/devices/virtual/mem/null
test -N bogus /sys/devices/virtual/mem/null
test --resolve-names=early /sys/devices/virtual/mem/null
test
test /sys/devices/virtual/mem/null extra
test /dev/null
test null
test -a change /sys/class/net/dmv0
test /sys/bus/pci
test /sys/module/loop
test-builtin net_id /sys/class/net/dmv0
test-builtin -a change net_id /sys/class/net/dmv0
test-builtin -a remove net_id /sys/class/net/dmv0
test-builtin 'net_id bogus' /sys/class/net/dmv0
test-builtin path_id /sys/devices/virtual/net/dmv0
test-builtin 'path_id x' /sys/devices/virtual/mem/null
test-builtin 'hwdb --device=/sys/devices/virtual/mem/null' /sys/devices/virtual/mem/null
test-builtin 'hwdb --filter=ID_*' /sys/devices/virtual/mem/null
test-builtin 'hwdb bogus --bogus' /sys/devices/virtual/mem/null
test-builtin 'kmod load' /sys/devices/virtual/mem/null
test-builtin 'keyboard x' /sys/devices/virtual/mem/null
test-builtin 'input_id x' /sys/devices/virtual/mem/null
test-builtin 'blkid --offset=10' /sys/class/block/{loop}
test-builtin 'blkid --noraid' /sys/class/block/{loop}
test-builtin 'blkid --bogus' /sys/class/block/{loop}
test-builtin 'btrfs ready' /sys/devices/virtual/mem/null
test-builtin 'btrfs ready /dev/nosuch' /sys/devices/virtual/mem/null
test-builtin usb_id /sys/class/block/{loop}
test-builtin net_setup_link /sys/class/net/lo
test-builtin 'net_setup_link x' /sys/class/net/lo
test-builtin uaccess
settle -E /nonexist -t 1
settle --exit-if-exists=/etc/passwd
settle -s 1
settle --seq-start=1 --seq-end=2
settle -q
settle -t 1 extra
control -R
control --reload
control -S
control -s -S --ping
control -l 7
control --log-level=info
control --log-priority=info
control -p FOO=bar -p FOO=
control -t 0 --ping
control --timeout=5s --ping
control -e --bogus
control -m 18446744073709551616
control -m 0x10
control -m 010
control -V
control --ping extra
hwdb -t 'usb:v1D6B*'
hwdb --test=
hwdb -r /nonexist -t 'usb:v1D6B*'
hwdb -s
hwdb --usr
hwdb -V
wait --settle -t 1 /dev/null /dev/zero
wait -t 0 /dev/null
wait -t 0.3 /sys/devices/virtual/mem/nosuch
wait --initialized=no -t 0.3 /dev/nosuch
wait --initialized=y -t 0.3 /dev/null
wait /tmp/x
wait dev/null
wait /dev/../dev/null
wait -t 0.1 /dev/./null
wait --removed -t 0.1 /dev/nosuch
lock -p -d /dev/nosuch
lock -t bogus -d /dev/null true
lock -p
lock -p -d /dev/null extra
lock -b /etc/passwd -p
monitor --bogus
monitor -s
info -q symlink -r /dev/{loop}
info -q all /dev/{loop}
info -a /dev/{loop}
info -x -q property /dev/{loop}
info -q property --property=DEVNAME,DISKSEQ --value /dev/{loop}
info /sys/class/block/{loop}
info -t /sys/devices/virtual/block/{loop}
info -d /dev/{loop}
info -w0 /dev/{loop}
trigger --dry-run -v -s block -y '{loop}'
trigger --dry-run -v --name-match=/dev/{loop}
trigger --dry-run -v -b /sys/devices/virtual/block
trigger --dry-run -v -a size -s block -y '{loop}'
trigger --dry-run -v -p DEVTYPE=disk -s block -y 'loop*'
trigger --dry-run -v -g systemd -s block
test-builtin path_id /sys/class/block/{loop}
test-builtin 'blkid --hint=session_offset=0' /dev/{loop}
test-builtin 'blkid -o 0' /dev/{loop}
test-builtin 'blkid -o x' /dev/{loop}
test-builtin 'blkid -o -5' /dev/{loop}
test-builtin 'blkid -R' /dev/{loop}
test-builtin 'hwdb --subsystem=block' /dev/{loop}
test-builtin input_id /sys/class/net/lo
test-builtin keyboard /sys/class/net/lo
lock --print --backing=/etc/passwd
wait -t 1 /dev/{loop}
wait --initialized=no -t 1 /sys/class/block/{loop}
info --help
trigger --help
info -h
trigger -h
settle -h
control -h
monitor -h
test -h
test-builtin -h
info --version
trigger --version
settle --version
control --version
monitor --version
test --version
test-builtin --version
--version
frobnicate
--bogus
info --bogus
trigger --bogus
monitor --bogus
settle --bogus
test --bogus
test-builtin --bogus
"""

def normalize(text: str) -> str:
    text = re.sub(r"^(\S*udevadm|\S*devctl)\b", "PROG", text, flags=re.M)
    text = re.sub(r"^See the (udevadm\(8\)|devctl\(1\)) man page", "See the MAN man page", text, flags=re.M)
    text = re.sub(r"(USEC_INITIALIZED=)\d+", r"\1USEC", text)
    text = re.sub(r"(SEQNUM=)\d+", r"\1SEQ", text)
    text = re.sub(r"\[\d+\.\d+\]", "[TIME]", text)
    text = re.sub(r"(forked off '\(spawn\)' as PID )\d+", r"\1PID", text)
    # udevd's spawned child renames itself "(spawn)", which the sandbox does not allow; ours does not try
    text = re.sub(r"^PR_SET_MM_ARG_START failed: Operation not permitted\n", "", text, flags=re.M)
    return re.sub(r"(E: (?:TAGS|CURRENT_TAGS)=|^(?:TAGS|CURRENT_TAGS)=)(\S*)",
                  lambda m: m.group(1) + ":" + ":".join(sorted(filter(None, m.group(2).split(":")))) + ":",
                  text, flags=re.M)


# programs that `test` runs on the mem devices: their spawn trace (start, output lines, exit)
SESSION_RULES = "/run/udev/rules.d/60-dmsession.rules"
PROGRAMS = (
    'SUBSYSTEM=="mem", PROGRAM=="/bin/sh -c \'echo found; echo warned >&2\'", ENV{DMSESSION}="%c"\n'
    'SUBSYSTEM=="mem", PROGRAM=="/bin/false", ENV{DMSESSION_NEVER}="1"\n'
    'SUBSYSTEM=="mem", IMPORT{program}="/bin/echo DMSESSION_IMPORTED=yes"\n'
)


@pytest.fixture(scope="module")
def daemon(box: Sandbox) -> Iterator[Sandbox]:
    box.write(SESSION_RULES, PROGRAMS)
    assert box.run(["ip", "link", "add", "dmv0", "type", "veth", "peer", "name", "dmv1"]).returncode == 0
    proc = box.start_devmaster()
    assert box.run(["udevadm", "trigger", "--action=add"]).returncode == 0
    assert box.run(["udevadm", "settle", "-t", "60"]).returncode == 0
    yield box
    box.stop_devmaster(proc)
    box.run(["rm", "-f", SESSION_RULES])


def run(box: Sandbox, tool: list[str], line: str) -> tuple[int, str, str]:
    r = box.run([*tool, *shlex.split(line)], timeout=60)
    return r.returncode, normalize(r.stdout), normalize(r.stderr)


def test_session_same_output(daemon: Sandbox) -> None:
    diffs = []
    lines = SESSION.strip().splitlines()
    for line in lines:
        if "{loop}" in line:
            # the host may have given its loop device a new disk sequence number since the
            # database was written: a first run settles the links, so both tools see one state
            line = line.replace("{loop}", LOOP)
            run(daemon, ["udevadm"], line)
        a = run(daemon, ["udevadm"], line)
        b = run(daemon, DEVCTL, line)
        if line == "--version" or line.endswith(" --version"):
            same = a[0] == b[0] == 0 and a[1].strip().isdigit() and b[1].strip().isdigit()
        else:
            same = a == b
        if same:
            continue
        diff = [f"=== {line}: exit {a[0]} (udevadm) vs {b[0]} (devctl)"]
        for x, y, name in ((a[1], b[1], "stdout"), (a[2], b[2], "stderr")):
            diff += difflib.unified_diff(x.splitlines(), y.splitlines(), f"udevadm {name}", f"devctl {name}",
                                         lineterm="", n=1)
        diffs.append("\n".join(diff))
    assert not diffs, f"{len(diffs)} of {len(lines)} commands differ:\n" + "\n".join(diffs)


def _read_events(proc: subprocess.Popen[str], out: str, until: float, want: int) -> str:
    """`out` and what the monitor printed after it until `want` event blocks (ending in a blank
    line) arrived. Raw reads: select() cannot see what a text wrapper has buffered."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    while time.monotonic() < until and out.count("\n\n") < want + 1:  # +1: the banner's blank line
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out += chunk.decode()
    return out


@pytest.mark.parametrize(("subsystem", "devpath"), [
    ("net", "/devices/virtual/net/dmv0"),
    # a node: the kernel's DEVNAME=null is shown as /dev/null (as sd_device reports it)
    ("mem", "/devices/virtual/mem/null"),
])
def test_monitor_same_events(daemon: Sandbox, subsystem: str, devpath: str) -> None:
    """Both monitors see one `change`: the kernel uevent and devmaster's event."""
    args = ["monitor", "--property", "--kernel", "--udev", f"--subsystem-match={subsystem}"]
    procs = [daemon.popen([*tool, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for tool in (["udevadm"], DEVCTL)]
    try:
        banners = [_read_events(p, "", time.monotonic() + 20, 0) for p in procs]
        assert all(b.startswith("monitor will print") for b in banners), banners
        time.sleep(0.3)  # the banner is printed before the last socket is bound
        assert daemon.sh(f"echo change > /sys{devpath}/uevent").returncode == 0
        outs = [_read_events(p, b, time.monotonic() + 20, 2) for b, p in zip(banners, procs, strict=True)]
    finally:
        for p in procs:
            p.terminate()
            p.communicate(timeout=10)
    real, ours = (normalize(o) for o in outs)
    # two sockets: which of the KERNEL and UDEV blocks comes first is a race in both tools
    blocks = [sorted(text.split("\n\n")) for text in (real, ours)]
    assert blocks[0] == blocks[1], "\n".join(difflib.unified_diff(real.splitlines(), ours.splitlines(),
                                                                   "udevadm", "devctl", lineterm=""))
    assert ours.count(f"DEVPATH={devpath}\n") == 2, ours
