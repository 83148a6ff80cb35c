"""Which container this runs in, as systemd 252's detect_container() finds it, and the kernel
command line udev reads from there (in a container, PID 1's, not /proc/cmdline).

udevd asks once, when it reads net.naming-scheme= from the command line; its debug trace
(what a probe could not read, then "Found container virtualization ...") is logged alike.
"""

import functools
import logging
import os

log = logging.getLogger("devmaster")
_KNOWN = ("lxc", "lxc-libvirt", "systemd-nspawn", "docker", "podman", "rkt", "wsl", "proot", "pouch")
_FILES = (("/run/.containerenv", "podman"), ("/.dockerenv", "docker"))  # docker last: see _files()


def _first_line(path: str) -> str:
    with open(path) as f:
        return f.readline().strip()


def _files() -> str:
    """Marker files, checked only after the container managers' own word: /.dockerenv can end up
    in any image."""
    for path, name in _FILES:
        try:
            os.stat(path)
            return name
        except FileNotFoundError:
            continue
        except OSError as e:
            log.debug("Checking if %s exists failed, ignoring: %s", path, e.strerror)
    return "none"


def _name(value: str) -> str:
    if value == "oci":  # says nothing about the manager: its files may
        found = _files()
        return "container-other" if found == "none" else found
    return value if value in _KNOWN else "container-other"


def _in_cgroupns() -> bool:
    """running_in_cgroupns(), for the hierarchies systemd knows by their files: a nested cgroup2
    root has cgroup.events but no cgroup.type on old kernels, a v1 systemd root no release_agent."""
    if not os.path.exists("/proc/self/ns/cgroup"):
        return False
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        if not os.path.exists("/sys/fs/cgroup/cgroup.events"):
            return False
        return os.path.exists("/sys/fs/cgroup/cgroup.type") or not os.path.exists("/sys/kernel/cgroup/features")
    return os.path.isdir("/sys/fs/cgroup/systemd") and not os.path.exists("/sys/fs/cgroup/systemd/release_agent")


def _probe() -> str | None:
    """The container's name, "none", or None when a read failed in a way systemd gives up on."""
    if os.path.exists("/proc/vz") and not os.path.exists("/proc/bc"):
        return "openvz"
    try:
        release = _first_line("/proc/sys/kernel/osrelease")
        if "Microsoft" in release or "WSL" in release:
            return "wsl"
    except OSError as e:
        log.debug("Failed to read /proc/sys/kernel/osrelease, ignoring: %s", e.strerror)
    if _traced_by_proot():
        return "proot"
    manager = _marker("/run/host/container-manager")
    if manager is None or manager:
        return manager and _name(manager)
    if os.getpid() == 1:  # our own environment is authoritative
        value = os.environ.get("container")  # noqa: SIM112 - the name container managers set
        if value is None:
            return _files_or_cgroupns()
        return _name(value) if value else "none"
    # what a systemd PID 1 wrote down, then (any other PID 1) its environment
    manager = _marker("/run/systemd/container")
    if manager is None or manager:
        return manager and _name(manager)
    try:
        with open("/proc/1/environ", "rb") as f:
            env = dict(item.partition(b"=")[::2] for item in f.read().split(b"\0") if item)
        if env.get(b"container"):
            return _name(env[b"container"].decode(errors="replace"))
    except OSError as e:  # needs CAP_SYS_PTRACE
        log.debug("Failed to read $container of PID 1, ignoring: %s", e.strerror)
    return _files_or_cgroupns()


def _marker(path: str) -> str | None:
    """A container manager's name from a file: "" when it has none, None when unreadable."""
    try:
        return _first_line(path)
    except FileNotFoundError:
        return ""
    except OSError as e:
        log.debug("Failed to read %s: %s", path, e.strerror)
        return None


def _traced_by_proot() -> bool:
    try:
        with open("/proc/self/status") as f:
            tracer = next((line.split()[1] for line in f if line.startswith("TracerPid:")), "0")
    except OSError as e:
        log.debug("Failed to read our own trace PID, ignoring: %s", e.strerror)
        return False
    if tracer == "0":
        return False
    try:
        return _first_line(f"/proc/{tracer}/comm").startswith("proot")
    except OSError as e:
        log.debug("Failed to read /proc/%s/comm, ignoring: %s", tracer, e.strerror)
        return False


def _files_or_cgroupns() -> str:
    found = _files()
    if found != "none":
        return found
    return "container-other" if _in_cgroupns() else "none"


@functools.cache
def detect_container() -> str:
    found = _probe()
    if found is None:
        return "none"
    log.debug("Found container virtualization %s.", found)
    return found


def kernel_command_line() -> str:
    """proc_cmdline(): $SYSTEMD_PROC_CMDLINE, else PID 1's arguments in a container, else
    /proc/cmdline; empty when unreadable."""
    override = os.environ.get("SYSTEMD_PROC_CMDLINE")
    if override is not None:
        return override
    try:
        if detect_container() != "none":
            with open("/proc/1/cmdline", "rb") as f:
                return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open("/proc/cmdline") as f:
            return f.read()
    except OSError:
        return ""
