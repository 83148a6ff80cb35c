"""`devctl test` against `udevadm test` on this machine's devices with Debian's stock rules.

One device per subsystem (the whole machine is compared by bench/bench_devmaster.py --compare-all).
Property sets, links and tags must be identical; order inside DEVLINKS/TAGS is a hash order in udev.
"""

import os
import textwrap

import pytest
from dm_sandbox import PYTHON, Sandbox

pytestmark = pytest.mark.root


def _parse(text: str) -> tuple[dict[str, object], list[str]]:
    props: dict[str, object] = {}
    runs = []
    for line in text.splitlines():
        if line.startswith("run: "):
            runs.append(line)
            continue
        key, sep, value = line.partition("=")
        if not sep or " " in key or key == "USEC_INITIALIZED":
            continue
        if key in ("DEVLINKS",):
            props[key] = set(value.split())
        elif key in ("TAGS", "CURRENT_TAGS"):
            props[key] = set(value.strip(":").split(":"))
        else:
            props[key] = value
    return props, sorted(runs)


def _sample() -> list[str]:
    chosen: dict[str, str] = {}
    for root, _, files in os.walk("/sys/devices"):
        if "uevent" not in files or os.path.islink(root):
            continue
        try:
            subsystem = os.path.basename(os.readlink(os.path.join(root, "subsystem")))
        except OSError:
            continue
        if "/net/" in root and not root.endswith("/net/lo"):
            continue  # other interfaces are not visible in the test's network namespace
        chosen.setdefault(subsystem, root)
    return sorted(chosen.values())


@pytest.mark.parametrize("syspath", _sample())
def test_same_result_as_udevadm_test(box: Sandbox, syspath: str) -> None:
    real = box.sh(f"udevadm test {syspath} 2>/dev/null")
    ours = box.sh(f"{PYTHON} -m sysmasterd.cli.devctl test {syspath} 2>/dev/null")
    assert ours.returncode == real.returncode == 0
    assert _parse(ours.stdout) == _parse(real.stdout)


MBR_IMAGE = textwrap.dedent("""
    import struct, subprocess
    path = '/run/dmpart.img'
    with open(path, 'wb') as f:
        f.truncate(32 << 20)
        entry = struct.pack('<B3sB3sII', 0, b'\\0\\0\\0', 0x83, b'\\0\\0\\0', 2048, (30 << 20) // 512)
        f.seek(446); f.write(entry); f.seek(510); f.write(b'\\x55\\xaa')
    subprocess.run(['mkfs.ext4', '-q', '-F', '-L', 'dmpart', '-E', 'offset=1048576', path, '30M'], check=True)
""")


def test_partition_imports_parent_like_udevadm(box: Sandbox) -> None:
    assert box.python(MBR_IMAGE).returncode == 0
    loop = box.run(["losetup", "-f", "--show", "-P", "/run/dmpart.img"]).stdout.strip()
    try:
        name = loop.rsplit("/", 1)[1]
        # this kernel reads no MBR itself; add the partition the table describes (BLKPG)
        box.run(["addpart", loop, "1", "2048", str((30 << 20) // 512)])
        # the sandbox's /dev is a copy, not devtmpfs: make the new node ourselves
        major, minor = box.run(["cat", f"/sys/class/block/{name}p1/dev"]).stdout.strip().split(":")
        box.run(["mknod", f"/dev/{name}p1", "b", major, minor])
        disk, part = f"/sys/class/block/{name}", f"/sys/class/block/{name}/{name}p1"
        assert box.run(["test", "-e", part]).returncode == 0
        box.sh(f"udevadm test {disk} >/dev/null 2>&1")  # the disk's db record, which the partition imports
        real = box.sh(f"udevadm test {part} 2>/dev/null")
        ours = box.sh(f"{PYTHON} -m sysmasterd.cli.devctl test {part} 2>/dev/null")
        props, _ = _parse(ours.stdout)
        assert props["ID_PART_TABLE_TYPE"] == "dos" and props["ID_FS_LABEL"] == "dmpart"
        assert _parse(ours.stdout) == _parse(real.stdout)
    finally:
        box.run(["losetup", "-d", loop])
