"""Our broadcast against systemd-udevd's, byte field by byte field, for the same kernel event."""

import struct
import subprocess
import textwrap
import time

import pytest
from dm_sandbox import LOOP, PYTHON, Sandbox

pytestmark = pytest.mark.root
CAPTURE = textwrap.dedent(f"""
    import socket, sys
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 15); s.bind((0, 2)); s.settimeout(20)
    open('/sys/class/block/{LOOP}/uevent', 'w').write('change')
    sys.stdout.write(s.recv(65536).hex())
""")


def _capture(box: Sandbox, daemon: list[str]) -> bytes:
    proc = box.popen(["sh", "-c", "exec " + " ".join(daemon) + " 2>/dev/null"])
    try:
        deadline = time.monotonic() + 20
        while box.run(["udevadm", "control", "--ping", "-t", "1"]).returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        out = box.python(CAPTURE, timeout=60).stdout
    finally:
        box.run(["udevadm", "control", "--exit"])
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return bytes.fromhex(out)


def _split(data: bytes) -> tuple[tuple[int, ...], dict[str, str]]:
    header = struct.unpack_from("=8s4sIII4s4s4s4s", data)
    assert header[0] == b"libudev\0"
    off, length = header[3], header[4]
    props = dict(item.decode().split("=", 1) for item in data[off : off + length].split(b"\0") if item)
    for volatile in ("SEQNUM", "USEC_INITIALIZED", "SYNTH_UUID"):
        props.pop(volatile, None)
    fixed = (header[1], header[2], header[3], header[5], header[6], header[7], header[8])
    return fixed, props


def test_broadcast_identical_to_udevd(box: Sandbox) -> None:
    theirs = _capture(box, ["/lib/systemd/systemd-udevd"])
    ours = _capture(box, [PYTHON, "-m", "sysmasterd.devmaster.main"])
    header_theirs, props_theirs = _split(theirs)
    header_ours, props_ours = _split(ours)
    assert header_ours == header_theirs  # magic, sizes, subsystem/devtype hashes, tag bloom
    assert next(iter(props_ours)) == next(iter(props_theirs)) == "UDEV_DATABASE_VERSION"
    for key in ("DEVLINKS", "TAGS", "CURRENT_TAGS"):  # hash order in udevd
        for props in (props_ours, props_theirs):
            if key in props:
                props[key] = " ".join(sorted(props[key].replace(":", " ").split()))
    assert props_ours == props_theirs


def test_monitor_socket_filter_drops_in_kernel(box: Sandbox) -> None:
    # libudev's BPF program, built by us: only broadcasts that can match reach the socket
    script = textwrap.dedent("""
        import socket
        from sysmasterd.devmaster.framework import netlink
        from sysmasterd.devmaster.framework.message import encode_udev
        from sysmasterd.devmaster.framework.socket_filter import attach_filter, build_filter
        def props(n, sub, devtype=None):
            p = {"ACTION": "change", "DEVPATH": f"/devices/dm{n}", "SUBSYSTEM": sub, "SEQNUM": str(n)}
            return p | ({"DEVTYPE": devtype} if devtype else {})
        filtered, plain = netlink.open_uevent_socket(netlink.GROUP_UDEV), netlink.open_uevent_socket(netlink.GROUP_UDEV)
        attach_filter(filtered, build_filter([("dmsub", None), ("dmblk", "disk")], ["dmtag", "other"]))
        tx = netlink.open_uevent_socket(netlink.GROUP_NONE)
        sent = [(props(1, "dmsub"), []), (props(2, "dmnot"), ["dmtag"]), (props(3, "dmsub"), ["dmtag"]),
                (props(4, "dmblk", "partition"), ["other"]), (props(5, "dmblk", "disk"), ["x", "other"])]
        for p, tags in sent:
            netlink.broadcast(tx, encode_udev(p, tags))
        for rx in (filtered, plain):
            rx.settimeout(0.5)
            got = []
            try:
                while True:
                    got.append(rx.recv(65536).split(b"SEQNUM=")[1].split(b"\\0")[0].decode())
            except TimeoutError:
                pass
            print(",".join(got))
    """)
    r = box.python(script)
    assert r.returncode == 0, r.stderr
    # both the tag bloom and the subsystem[/devtype] hash must match; unfiltered, all five arrive
    assert r.stdout.split() == ["3,5", "1,2,3,4,5"]
