"""A storm of kernel uevents: every seqnum processed once, in order, memory bounded."""

import json
import subprocess
import textwrap
import time

import pytest
from dm_sandbox import PYTHON, Sandbox

pytestmark = [pytest.mark.root, pytest.mark.slow]
EVENTS = 20000

MONITOR = textwrap.dedent("""
    import json, select, sys
    from sysmasterd.devmaster.framework import netlink
    k = netlink.open_uevent_socket(netlink.GROUP_KERNEL, 512 << 20)
    u = netlink.open_uevent_socket(netlink.GROUP_UDEV, 512 << 20)
    print('ready', flush=True)
    kernel, udev, failed = [], [], 0
    while True:
        for s in select.select([k, u], [], [], 120)[0]:
            try:
                props = netlink.receive(s, netlink.GROUP_KERNEL if s is k else netlink.GROUP_UDEV).properties
            except BlockingIOError:
                continue
            if props['DEVPATH'] == '/devices/virtual/net/lo':
                (kernel if s is k else udev).append(int(props['SEQNUM']))
                failed += 'UDEV_WORKER_FAILED' in props
            elif s is u and props['DEVPATH'] == '/devices/virtual/mem/null':
                print(json.dumps({'kernel': kernel, 'udev': udev, 'failed': failed}))
                sys.exit(0)
""")


def test_storm(box: Sandbox) -> None:
    proc = box.start_devmaster()
    mon = box.popen([PYTHON, "-c", MONITOR], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert mon.stdout is not None and mon.stdout.readline().strip() == "ready"
        start = time.monotonic()
        box.python(f"""
fd = open('/sys/class/net/lo/uevent', 'w', buffering=1)
for _ in range({EVENTS}):
    fd.write('change\\n'); fd.flush()
""", timeout=120)
        assert box.run(["udevadm", "settle", "-t", "120"], timeout=150).returncode == 0
        elapsed = time.monotonic() - start
        box.sh("echo change > /sys/devices/virtual/mem/null/uevent")
        out, _ = mon.communicate(timeout=60)
        result = json.loads(out)
        status = box.run(["cat", f"/proc/{proc.pid}/status"]).stdout
    finally:
        if mon.poll() is None:
            mon.kill()
        box.stop_devmaster(proc)
    kernel, udev = result["kernel"], result["udev"]
    assert len(kernel) == EVENTS
    first = next((i for i, (k, u) in enumerate(zip(kernel, udev, strict=False)) if k != u), None)
    assert udev == kernel, f"every kernel seqnum broadcast once, in order: {len(udev)} broadcasts, " \
        f"first difference at {first}: {udev[first:first + 5] if first is not None else udev[-5:]} for " \
        f"{kernel[first:first + 5] if first is not None else kernel[-5:]}"
    assert result["failed"] == 0
    hwm_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    assert hwm_kb < 150 * 1024, f"manager peak RSS {hwm_kb} kB"
    print(f"\nstorm: {EVENTS} events in {elapsed:.1f}s ({EVENTS / elapsed:.0f}/s), manager VmHWM {hwm_kb} kB")
