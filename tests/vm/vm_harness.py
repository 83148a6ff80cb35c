"""A throwaway virtual machine of this host, for what its own kernel set-up cannot show.

This host binds its cgroup controllers to v1 hierarchies (the hybrid layout), so the unified layout
(every controller on cgroup2, as on a host booted with systemd.unified_cgroup_hierarchy=1) is tried
in qemu: Debian's own kernel (package linux-image-amd64) booted with `cgroup_no_v1=all`, the host's
root file system shared read-only over 9p under a tmpfs overlay (so the checkout, its venv,
systemctl and dbus-daemon are all there, and nothing the VM does reaches the host), and a small
initramfs of our own (busybox plus the virtio, 9p and overlay modules) that assembles that root.

The VM runs `stage2`, a busybox shell script, once the root is assembled at /new with /proc, /sys,
/dev, a cgroup2 /sys/fs/cgroup and a tmpfs /run; its output directory (a second 9p share) is
/new/mnt. The script ends by making /new the root (switch_root, so that setns() into a mount
namespace lands in it, not in the initramfs) and executing a PID 1 there: `command()` gives one
that runs a shell command and powers off. Software emulation only: nested KVM on this kind of
machine accepts a VM but never runs its kernel past real mode.
"""

from __future__ import annotations

import glob
import gzip
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

QEMU = "qemu-system-x86_64"
BUSYBOX = "/bin/busybox"
MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")

# stage1: mount what the kernel gives, load the modules, assemble the root, hand over to stage2
INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do insmod "$m" || echo "vm: insmod $m failed"; done
mkdir -p /host /rw /new
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose host /host || echo "vm: no host root"
mount -t tmpfs tmpfs /rw && mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /new || echo "vm: no overlay"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /new/mnt || echo "vm: no output share"
mount -t proc proc /new/proc; mount -t sysfs sys /new/sys; mount -t devtmpfs dev /new/dev
mount -t cgroup2 cgroup2 /new/sys/fs/cgroup
mount -t tmpfs -o mode=755 tmpfs /new/run
. /new/mnt/stage2
poweroff -f
"""


def kernel() -> tuple[str, str] | None:
    """(vmlinuz, release) of the newest installed kernel image whose modules are installed too."""
    found = []
    for image in glob.glob("/boot/vmlinuz-*"):
        release = image.removeprefix("/boot/vmlinuz-")
        if os.path.isdir(f"/lib/modules/{release}/kernel"):
            found.append((os.stat(image).st_mtime, image, release))
    return max(found)[1:] if found else None


def missing() -> str | None:
    """Why no VM can be run here, or None."""
    if shutil.which(QEMU) is None:
        return f"{QEMU} missing (apt-get install qemu-system-x86)"
    if not os.path.exists(BUSYBOX):
        return f"{BUSYBOX} missing (apt-get install busybox-static)"
    if kernel() is None:
        return "no kernel image in /boot (apt-get install linux-image-amd64)"
    return None


def _module_files(release: str) -> list[str]:
    """The .ko files of MODULES with their dependencies, in load order, each once."""
    order: list[str] = []
    for module in MODULES:
        out = subprocess.run(["modprobe", "--show-depends", "-S", release, module], check=True,
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "insmod" and words[1] not in order:
                order.append(words[1])
    return order


def _cpio_newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """An initramfs archive: (path, mode, data) entries in the kernel's "newc" format."""
    out = bytearray()

    def pad() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        encoded = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
        pad()
        out.extend(data)
        pad()
    return bytes(out)


def build_initrd(dest: Path, release: str) -> Path:
    dirs = ["bin", "mods", "proc", "sys", "dev", "host", "rw", "new"]
    entries = [(d, 0o40755, b"") for d in dirs]
    entries.append(("bin/busybox", 0o100755, Path(BUSYBOX).read_bytes()))
    names = []
    for i, path in enumerate(_module_files(release)):
        data = Path(path).read_bytes()
        if path.endswith(".xz"):
            import lzma
            data = lzma.decompress(data)
        elif path.endswith(".zst"):
            raise RuntimeError(f"cannot unpack {path} (zstd) for busybox insmod")
        names.append(f"/mods/{i}.ko")
        entries.append((names[-1][1:], 0o100644, data))
    entries.append(("mods/order", 0o100644, ("\n".join(names) + "\n").encode()))
    entries.append(("init", 0o100755, INIT.encode()))
    dest.write_bytes(gzip.compress(_cpio_newc(entries), compresslevel=1))
    return dest


def command(shell: str) -> str:
    """A stage2 ending in `shell` run by /bin/sh as PID 1 of the new root; its exit status goes
    to /mnt/rc, then the VM powers off at once (sysrq: there is no init to ask)."""
    script = f"{shell}\necho $? > /mnt/rc\necho o > /proc/sysrq-trigger\n"
    return f"exec switch_root /new /bin/sh -c {shlex.quote(script)}\n"


@dataclass
class Result:
    console: str  # the kernel's and stage1's output (serial console)
    out: Path  # the output share, as the VM left it
    timed_out: bool

    def read(self, name: str) -> str:
        p = self.out / name
        return p.read_text(errors="replace") if p.exists() else ""


def run(stage2: str, out: Path, timeout: float, cmdline: str = "", memory_mib: int = 2048) -> Result:
    """Boot the VM with `stage2` (run by busybox sh as PID 1 once the root is assembled), and wait
    until it powers off or `timeout` seconds pass (then it is killed)."""
    found = kernel()
    assert found is not None, missing()
    image, release = found
    out.mkdir(parents=True, exist_ok=True)
    (out / "stage2").write_text(stage2)
    with tempfile.TemporaryDirectory(prefix="sysmaster-vm.") as work:
        initrd = build_initrd(Path(work) / "initrd.gz", release)
        argv = [QEMU, "-accel", "tcg,thread=multi", "-cpu", "max", "-m", str(memory_mib), "-smp", "2",
                "-nographic", "-no-reboot", "-nic", "none", "-kernel", image, "-initrd", str(initrd),
                "-append", f"console=ttyS0 quiet panic=-1 cgroup_no_v1=all {cmdline}".strip(),
                "-virtfs", "local,path=/,mount_tag=host,security_model=passthrough,readonly=on,multidevs=remap",
                "-virtfs", f"local,path={out},mount_tag=out,security_model=passthrough"]
        with open(Path(work) / "console", "w+b") as console:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            deadline = time.monotonic() + timeout
            timed_out = False
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            console.seek(0)
            text = console.read().decode(errors="replace")
    return Result(text, out, timed_out)
