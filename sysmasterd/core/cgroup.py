"""Process tracking: one cgroup per unit under the core's subtree.

cgroup v2 where writable (a pure v2 mount, or the "unified" mount of a hybrid host), else the
v1 `name=systemd` hierarchy, else no cgroup at all: then processes are tracked as the tree below
the unit's main/control PIDs via psutil. The backend is chosen once at start.

Resource control rides on the same tree: realizing a unit's cgroup also makes it in the v1
controller hierarchies it needs (hybrid and legacy hosts), or enables the controllers down the
slices (cgroup2 with controllers), and writes its settings there (core/cgroup_apply.py).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sysmasterd.core import bpf_devices, bpf_firewall, cgroup_apply, cgroup_devices, cgroup_v1
from sysmasterd.core.owner import owner_ids

if TYPE_CHECKING:
    from compat.model import CGroupContext, ExecContext
    from sysmasterd.core.runtime import FdHolder

V2_MOUNTS = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
V1_MOUNT = "/sys/fs/cgroup/systemd"
INIT_SCOPE = "init.scope"
COUNTERS_PREFIX = "ipacct:"  # IPAccounting='s maps, kept by init for the next core


def _own_cgroup(hierarchy: str) -> str | None:
    """This process's path in the v2 hierarchy ("0::") or a named v1 one ("name=systemd")."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                idx, controllers, path = line.rstrip("\n").split(":", 2)
                if hierarchy == "v2" and idx == "0" and controllers == "":
                    return path
                if hierarchy != "v2" and hierarchy in controllers.split(","):
                    return path
    except OSError:
        pass
    return None


def _is_cgroup2(mount: str) -> bool:
    try:
        return os.path.exists(os.path.join(mount, "cgroup.controllers")) and os.access(mount, os.W_OK)
    except OSError:
        return False


@dataclass
class CGroupRoot:
    mode: str  # "v2", "v1" or "none"
    mount: str  # filesystem path of the hierarchy's root
    base: str  # our subtree, relative to the hierarchy root, e.g. "/sysmaster.user-1a2b"
    v1: dict[str, cgroup_v1.Hierarchy] = field(default_factory=dict)  # controller -> hierarchy

    def unit_dir(self, path: str) -> str:
        """The directory of a cgroup given relative to our subtree ("system.slice/foo.service")."""
        return self.mount + self.unit_path(path)

    def unit_path(self, path: str) -> str:
        """The cgroup path as ControlGroup= shows it (relative to the hierarchy root)."""
        if self.mode == "none":
            return ""
        return _join(self.base, path) if path else self.base or "/"


def detect(instance: str | None) -> CGroupRoot:
    """Pick a hierarchy and the subtree for our units: `<own cgroup>/<instance>`, or with no
    instance our own cgroup itself (the scope's real manager, whose tree it is), less the
    init.scope a previous core moved the manager into."""
    for mode, mount, hierarchy in [*(("v2", m, "v2") for m in V2_MOUNTS if _is_cgroup2(m)),
                                   *([("v1", V1_MOUNT, "name=systemd")]
                                     if os.path.isdir(V1_MOUNT) and os.access(V1_MOUNT, os.W_OK) else [])]:
        own = _own_cgroup(hierarchy)
        if own is None:
            continue
        base = _join(own, instance) if instance else (own.removesuffix("/" + INIT_SCOPE) or "/")
        if _try_make(mount + base):
            return CGroupRoot(mode, mount, base, cgroup_v1.detect(instance))
    return CGroupRoot("none", "", "")


def _join(a: str, b: str) -> str:
    return (a.rstrip("/") + "/" + b) if a != "/" else "/" + b


def _try_make(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        return True
    except OSError:
        return False


class CGroups:
    """The cgroups of units, by unit name; ``path_of`` places a unit in the tree (its slices),
    as systemd lays it out, relative to our subtree."""

    def __init__(self, root: CGroupRoot, path_of: Callable[[str], str] = str) -> None:
        self.root = root
        self.path_of = path_of
        # The unit's resource settings (None: no cgroup context, nothing to apply) and whether
        # the manager is starting up (Startup*= settings count then); the manager sets both.
        self.context_of: Callable[[str], CGroupContext | None] = lambda _name: None
        self.exec_of: Callable[[str], ExecContext | None] = lambda _name: None  # for implied device rules
        self.starting: Callable[[], bool] = lambda: False
        self.oom_group_of: Callable[[str], bool] = lambda _name: False  # OOMPolicy=kill
        # Told of each unit cgroup made (create) and removed: the manager follows their OOM kills.
        self.on_created: Callable[[str], None] = lambda _name: None
        self.on_removed: Callable[[str], None] = lambda _name: None
        # Who keeps fds for the next core (IPAccounting='s counters go there), if anyone.
        self.fd_holder: Callable[[], FdHolder | None] = lambda: None
        # cgroup path -> the counter maps (ingress, egress) a previous core kept counting in
        self._kept_counters: dict[str, list[int]] = {}
        self.log = logging.getLogger("sysmasterd")
        # cgroup path -> (settings object applied, starting, controllers): applied once per change
        self._applied: dict[str, tuple[object, bool, frozenset[str]]] = {}
        # slice path -> the v1 controllers its members' cgroups have (systemd's members mask)
        self._members: dict[str, frozenset[str]] = {}
        # cgroup path -> (the settings objects compiled, the programs attached): IPAddressAllow= ...
        self._firewalls: dict[str, tuple[tuple[object, ...], bpf_firewall.Firewall | None]] = {}
        # cgroup path -> (the settings object compiled, the device program's fd or -1)
        self._device_programs: dict[str, tuple[object, int]] = {}

    def unit_dir(self, unit: str) -> str:
        return self.root.unit_dir(self.path_of(unit))

    def unit_path(self, unit: str) -> str:
        return self.root.unit_path(self.path_of(unit))

    @property
    def enabled(self) -> bool:
        return self.root.mode != "none"

    def create(self, unit: str) -> str | None:
        """Make the unit's cgroup; returns the cgroup.procs path a child writes itself into."""
        if not self.enabled:
            return None
        d = self.unit_dir(unit)
        try:
            os.makedirs(d, exist_ok=True)
        except OSError:
            return None
        self.realize(unit)
        self.on_created(unit)
        return os.path.join(d, "cgroup.procs")

    # -- resource control ------------------------------------------------------------------------

    def realize(self, unit: str) -> None:
        """The unit's cgroup and its slices' in the controllers they need, with their settings
        written, parents first (systemd's unit_realize_cgroup)."""
        path = self.path_of(unit)
        parts = [p for p in path.split("/") if p]
        own = self.context_of(unit)
        own_mask = self._mask(own, unit) if own is not None else frozenset()
        if self.root.v1 and parts:
            own_mask = self._with_siblings("/".join(parts[:-1]), path, own_mask)
        chain: list[CGroupContext] = []
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            name = parts[depth - 1] if depth < len(parts) else unit
            ctx = own if depth == len(parts) else self.context_of(name)
            mask = own_mask | (self._mask(ctx, name) if ctx is not None else frozenset())
            self._realize_one(name, sub, ctx, mask)
            if ctx is not None:
                chain.append(ctx)
                if cgroup_devices.uses_ip_firewall(ctx):
                    self._firewall(name, sub, chain)
        if own is not None and own.delegate:
            self._delegate(unit, path)
        if own is not None and not self.root.v1:
            self._device_program(unit, path, own)

    def _with_siblings(self, parent: str, sub: str, mask: frozenset[str]) -> frozenset[str]:
        """On v1, a unit's cgroup is made in every controller its slice's members use, and so are
        its running siblings' when it brings a new one: otherwise the processes left in the
        slice's own cgroup of a weighted controller would compete with whole groups (systemd's
        siblings mask). Returns the unit's mask with its siblings' added."""
        before = self._members.get(parent, frozenset())
        wanted = self._members[parent] = before | mask
        if wanted != before:
            for other, (ctx, _starting, other_mask) in list(self._applied.items()):
                if other != sub and other.rpartition("/")[0] == parent and not wanted <= other_mask:
                    name = other.rsplit("/", 1)[-1]
                    self._realize_one(name, other, ctx, other_mask | wanted)  # type: ignore[arg-type]
                    if not name.endswith(".slice"):  # a slice's members move when they are realized
                        self._migrate(other, wanted - other_mask)
        return mask | wanted

    def _migrate(self, sub: str, controllers: frozenset[str]) -> None:
        """Move a running unit's processes into its cgroups of controllers it just gained."""
        pids: list[str] = []
        for dirpath, _dirs, _files in os.walk(self.root.unit_dir(sub)):
            with contextlib.suppress(OSError), open(os.path.join(dirpath, "cgroup.procs")) as f:
                pids += f.read().split()
        for c in controllers & frozenset(self.root.v1):
            for pid in pids:
                try:
                    with open(os.path.join(self.root.v1[c].dir(sub), "cgroup.procs"), "w") as f:
                        f.write(pid)
                except OSError as e:  # it may have exited meanwhile
                    self.log.debug("Failed to move %s to the %s cgroup of %s: %s", pid, c, sub, e.strerror)

    def startup_finished(self) -> None:
        """StartupCPUWeight=/StartupIOWeight= hold while the manager starts up; once it is done
        the plain values apply (systemd's manager_startup_finished re-realizes those units)."""
        for sub, (ctx, starting, mask) in list(self._applied.items()):
            if starting and (getattr(ctx, "startup_cpu_weight", None) is not None
                             or getattr(ctx, "startup_io_weight", None) is not None):
                self._realize_one(sub.rsplit("/", 1)[-1], sub, ctx, mask)  # type: ignore[arg-type]

    def refresh(self, unit: str) -> None:
        """Settings changed at runtime (set-property): apply them now if the cgroup exists."""
        if self.enabled and os.path.isdir(self.unit_dir(unit)):
            self.realize(unit)

    def _mask(self, ctx: CGroupContext, name: str) -> frozenset[str]:
        if self.root.v1:
            devices = {"devices"} if cgroup_devices.restricts_devices(ctx, self.exec_of(name)) else set()
            wanted = cgroup_apply.needed(ctx, unified=False) | devices | _delegated(ctx, _V1_DELEGATE)
            return wanted & frozenset(self.root.v1)
        if self.root.mode == "v2":
            return (cgroup_apply.needed(ctx, unified=True) | _delegated(ctx, _V2_DELEGATE)) & self._v2_available()
        return frozenset()

    def _v2_available(self) -> frozenset[str]:
        try:
            with open(os.path.join(self.root.mount + self.root.base, "cgroup.controllers")) as f:
                return frozenset(f.read().split())
        except OSError:
            return frozenset()

    def _realize_one(self, name: str, sub: str, ctx: CGroupContext | None, mask: frozenset[str]) -> None:
        starting = self.starting()
        done = self._applied.get(sub)
        if done is not None and done[0] is ctx and done[1] == starting and done[2] >= mask:
            return
        if self.root.v1:
            dirs = {c: self.root.v1[c].dir(sub) for c in mask}
            for d in set(dirs.values()):
                try:
                    os.makedirs(d, exist_ok=True)
                except OSError as e:
                    self.log.warning("%s: Failed to create cgroup %s: %s", name, d, e.strerror)
        else:
            self._enable_v2(sub, mask)
            dirs = {c: self.root.unit_dir(sub) for c in mask}
        if ctx is not None:
            for w in cgroup_apply.attributes(ctx, unified=not self.root.v1, mask=mask, startup=starting,
                                             warn=lambda text: self.log.warning("%s: %s", name, text),
                                             oom_group=self.oom_group_of(name)):
                if w.controller in dirs:
                    cgroup_apply.write(dirs[w.controller], w, self.log, name, "/" + sub)
            if "devices" in dirs:
                for w in cgroup_devices.v1_writes(ctx, self.exec_of(name), name):
                    cgroup_apply.write(dirs["devices"], w, self.log, name, "/" + sub)
        self._applied[sub] = (ctx, starting, mask)

    def _delegate(self, unit: str, sub: str) -> None:
        """Delegate=: the unit's cgroups, and the files that move processes and enable
        controllers in them, belong to its User=/Group=, which may then manage the subtree (as
        systemd's cg_set_access() hands them over)."""
        ex = self.exec_of(unit)
        uid, gid = owner_ids(ex.user, ex.group) if ex is not None else (None, None)
        if not uid:  # no User= (or root, or unknown): nothing to hand over
            return
        done = self._applied.get(sub)
        dirs = {self.root.unit_dir(sub), *(self.root.v1[c].dir(sub) for c in (done[2] if done else ())
                                           if c in self.root.v1)}
        for d in dirs:
            for path in (d, *(os.path.join(d, f) for f in ("cgroup.procs", "cgroup.subtree_control",
                                                            "cgroup.threads", "tasks"))):
                try:
                    os.chown(path, uid, -1 if gid is None else gid)
                except FileNotFoundError:
                    continue
                except OSError as e:
                    self.log.warning("%s: Failed to delegate %s: %s", unit, path, e.strerror)

    def _device_program(self, unit: str, sub: str, ctx: CGroupContext) -> None:
        """DevicePolicy=/DeviceAllow= without a v1 devices controller: a BPF device program on
        the unit's cgroup (bpf_devices.py); where none can be attached, systemd's warning."""
        done = self._device_programs.get(sub)
        if done is not None and done[0] is ctx:
            return
        self._drop_device_program(sub)
        lines = cgroup_devices.allow_lines(ctx, self.exec_of(unit), unit)
        prog = -1
        if lines is not None and self.root.mode == "v2":
            try:
                prog = bpf_devices.install(self.root.unit_dir(sub), lines)
            except OSError as e:
                self.log.debug("%s: cannot attach the device program: %s", unit, e.strerror)
        if lines is not None and prog < 0:
            cgroup_devices.warn_unenforced(ctx, self.exec_of(unit), unit, unified=True)
        self._device_programs[sub] = (ctx, prog)

    def _drop_device_program(self, sub: str) -> None:
        done = self._device_programs.pop(sub, None)
        if done is not None and done[1] >= 0:
            os.close(done[1])  # the cgroup keeps it attached until replaced or removed

    def _firewall(self, name: str, sub: str, chain: list[CGroupContext]) -> None:
        """The IP access lists of a cgroup with settings of its own: its lists and its slices'
        combined, as systemd compiles them (bpf_firewall.py); once per change of any of them."""
        key = tuple(chain)
        done = self._firewalls.get(sub)
        if done is not None and len(done[0]) == len(key) and all(a is b for a, b in zip(done[0], key, strict=True)):
            return
        if done is not None and done[1] is not None:
            done[1].close()
        wall = None
        if self.root.mode == "v2":
            allow = [p for ctx in chain for p in ctx.ip_address_allow]
            deny = [p for ctx in chain for p in ctx.ip_address_deny]
            try:
                wall = bpf_firewall.install(self.root.unit_dir(sub), allow, deny, chain[-1].ip_accounting,
                                            self._kept_counters.pop(sub, None))
            except OSError as e:
                self.log.debug("%s: cannot attach the IP firewall: %s", name, e.strerror)
        holder = self.fd_holder()
        if holder is not None:
            if wall is not None and wall.accounting:
                holder.store_fds(COUNTERS_PREFIX + sub, list(wall.accounting.values()))
            else:
                holder.remove_fds(COUNTERS_PREFIX + sub)
        if wall is None:
            cgroup_devices.warn_ip_unenforced(name)
        self._firewalls[sub] = (key, wall)

    def ip_counters(self, unit: str, ingress: bool) -> tuple[int, int] | None:
        """IPAccounting='s (bytes, packets) of the unit's cgroup, None when not counted."""
        sub = self.path_of(unit)
        done = self._firewalls.get(sub)
        try:
            if done is not None and done[1] is not None:
                return done[1].counters(ingress)
            kept = self._kept_counters.get(sub)
            return bpf_firewall.read_counters(kept[0 if ingress else 1]) if kept and len(kept) == 2 else None
        except OSError:
            return None

    def adopt_counters(self, units: Iterable[str]) -> None:
        """After a core restart: the IPAccounting= counters the previous core kept counting in
        (its programs are still attached); the next firewall of the cgroup goes on with them."""
        holder = self.fd_holder()
        if holder is None:
            return
        for unit in units:
            sub = self.path_of(unit)
            if fds := holder.take_fds(COUNTERS_PREFIX + sub):
                self._kept_counters[sub] = fds

    def _drop_firewalls(self, prefix: str) -> None:
        holder = self.fd_holder()
        for sub in [s for s in self._firewalls if _within(s, prefix)]:
            wall = self._firewalls.pop(sub)[1]
            if wall is not None:
                if wall.accounting and holder is not None:
                    holder.remove_fds(COUNTERS_PREFIX + sub)
                wall.close()
        for sub in [s for s in self._kept_counters if _within(s, prefix)]:
            for fd in self._kept_counters.pop(sub):
                os.close(fd)
            if holder is not None:
                holder.remove_fds(COUNTERS_PREFIX + sub)

    def _enable_v2(self, sub: str, mask: frozenset[str]) -> None:
        """Enable the controllers in each parent's subtree_control, down from our subtree."""
        if not mask:
            return
        parts = sub.split("/")
        for depth in range(len(parts)):
            parent = self.root.unit_dir("/".join(parts[:depth]))
            try:
                with open(os.path.join(parent, "cgroup.subtree_control")) as f:
                    enabled = set(f.read().split())
            except OSError:
                return
            for c in sorted(mask - enabled):
                try:
                    with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                        f.write("+" + c)
                except OSError as e:
                    level = logging.DEBUG if e.errno in (errno.EBUSY, errno.ENOENT, errno.EROFS) else logging.WARNING
                    self.log.log(level, "Failed to enable controller %s for %s: %s", c, parent, e.strerror)

    def controller_procs(self, unit: str) -> tuple[str, ...]:
        """The cgroup.procs files of the unit's cgroups in the v1 controller hierarchies, which a
        process of the unit joins besides the tracking one."""
        done = self._applied.get(self.path_of(unit))
        if done is None or not self.root.v1:
            return ()
        dirs = {self.root.v1[c].dir(self.path_of(unit)) for c in done[2]}
        return tuple(sorted(os.path.join(d, "cgroup.procs") for d in dirs))

    def controller_dir(self, unit: str, controller: str) -> str | None:
        """The unit's cgroup in a v1 controller's hierarchy, while it exists there."""
        hierarchy = self.root.v1.get(controller) if self.enabled else None
        sub = self.path_of(unit)
        if hierarchy is None or not sub:
            return None
        d = hierarchy.dir(sub)
        return d if os.path.isdir(d) else None

    def pids(self, unit: str) -> list[int]:
        if not self.enabled:
            return []
        out: list[int] = []
        for dirpath, _dirs, _files in os.walk(self.unit_dir(unit)):
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    out.extend(int(x) for x in f.read().split())
            except (OSError, ValueError):
                continue
        return out

    def is_empty(self, unit: str) -> bool:
        return not self.pids(unit)

    def kill(self, unit: str, signo: int, exclude: frozenset[int] = frozenset()) -> list[int]:
        sent = []
        for pid in self.pids(unit):
            if pid in exclude:
                continue
            if send_signal(pid, signo):
                sent.append(pid)
            if signo not in (signal.SIGKILL, signal.SIGCONT, signal.SIGSTOP):
                send_signal(pid, signal.SIGCONT)
        return sent

    def memory_events(self, unit: str) -> str | None:
        """The unit's cgroup2 memory.events, where the memory controller is on cgroup2 for it."""
        if self.root.mode != "v2" or "memory" in self.root.v1:
            return None
        path = os.path.join(self.unit_dir(unit), "memory.events")
        return path if os.path.exists(path) else None

    def remove(self, unit: str) -> None:
        if not self.enabled:
            return
        self.on_removed(unit)
        sub = self.path_of(unit)
        _remove_tree(self.unit_dir(unit))
        for d in {h.dir(sub) for h in self.root.v1.values()} if sub else ():
            _remove_tree(d)
        self._applied.pop(sub, None)
        if sub:
            self._drop_firewalls(sub)
            self._drop_device_program(sub)

    def remove_base(self) -> None:
        """Our subtree, with the slice directories left in it, once everything in it stopped."""
        if self.enabled and self.root.base not in ("", "/"):  # never the hierarchy's root itself
            _remove_tree(self.root.mount + self.root.base)
        for h in self.root.v1.values() if self.enabled else ():
            if h.base not in ("", "/"):
                _remove_tree(h.dir(""))
        self._applied.clear()
        self._drop_firewalls("")
        for sub in list(self._device_programs):
            self._drop_device_program(sub)

    def unit_of_pid(self, pid: int) -> str | None:
        """Which of our units' cgroups holds the PID (for GetUnitByPID and notify messages)."""
        if not self.enabled:
            return None
        hierarchy = "v2" if self.root.mode == "v2" else "name=systemd"
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                for line in f:
                    idx, controllers, path = line.rstrip("\n").split(":", 2)
                    ok = (idx == "0" and controllers == "") if hierarchy == "v2" else hierarchy in controllers
                    if ok and path.startswith(self.root.base.rstrip("/") + "/"):
                        return unit_of_path(path[len(self.root.base.rstrip("/")) + 1:])
        except OSError:
            pass
        return None


# Delegate=: the controllers a name hands over, in each layout (systemd's delegatable mask).
_V1_DELEGATE = {"cpu": {"cpu", "cpuacct"}, "cpuacct": {"cpuacct"}, "io": {"blkio"}, "blkio": {"blkio"},
                "memory": {"memory"}, "pids": {"pids"}, "cpuset": {"cpuset"}}
_V2_DELEGATE = {"cpu": {"cpu"}, "cpuacct": {"cpu"}, "io": {"io"}, "blkio": {"io"}, "memory": {"memory"},
                "pids": {"pids"}, "cpuset": {"cpuset"}}


def _within(sub: str, prefix: str) -> bool:
    """The cgroup path is `prefix` or below it ("" holds all)."""
    return not prefix or sub == prefix or sub.startswith(prefix + "/")


def _delegated(ctx: CGroupContext, table: dict[str, set[str]]) -> frozenset[str]:
    if not ctx.delegate:
        return frozenset()
    names = table if ctx.delegate_controllers is None else ctx.delegate_controllers
    return frozenset(c for name in names for c in table.get(name, ()))


def _remove_tree(top: str) -> None:
    """A cgroup and its children, deepest first; a populated one stays (rmdir says EBUSY)."""
    for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


def unit_of_path(path: str) -> str | None:
    """The unit a cgroup path (relative to our subtree) belongs to: the first component that is
    not a slice, or the innermost slice (systemd's cg_path_get_unit)."""
    parts = [p for p in path.split("/") if p]
    for part in parts:
        if not part.endswith(".slice"):
            return part
    return parts[-1] if parts else None


def process_tree(pid: int) -> list[int]:
    """The psutil fallback: the PID and its descendants."""
    import psutil  # only hosts without a usable cgroup need it
    try:
        p = psutil.Process(pid)
        return [pid] + [c.pid for c in p.children(recursive=True)]
    except (psutil.Error, OSError):
        return []


def send_signal(pid: int, signo: int) -> bool:
    if pid <= 1:
        return False
    try:
        os.kill(pid, signo)
        return True
    except OSError:
        return False


def process_name(pid: int) -> str:
    """/proc/PID/comm ("" when the process is gone)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def process_alive(pid: int) -> bool:
    """Running, not a zombie: a zombie only waits for its reaper."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rfind(b")") + 2:data.rfind(b")") + 3] != b"Z"
    except OSError:
        return False


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot): tells a PID from its reuse."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2:].split()
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None
