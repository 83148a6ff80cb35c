"""Seccomp filters of a sandboxed child through the host's libseccomp (libseccomp2).

Why ctypes: libseccomp is on every Debian and openEuler host (systemd itself links it), while
its Python binding (`seccomp`, built from libseccomp's sources) is not packaged on PyPI for our
interpreters; the dozen calls used here have a stable C ABI. No BPF is generated here: every
filter is built and compiled by libseccomp, as systemd's seccomp-util.c does.

As systemd does, one filter per local architecture (x86-64 also runs x86 and x32 code, so a
deny list for the native one alone could be bypassed), each letting other architectures pass;
filters never set NO_NEW_PRIVS themselves (the caller decides). Called only in the forked child.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as errnos
import os
import platform
import socket
from collections.abc import Callable, Iterable

from compat import syscallsets
from compat.model import AddressFamilies, ExecContext, SyscallFilter

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_LOG = 0x7FFC0000
SCMP_FLTATR_ACT_BADARCH = 2
SCMP_FLTATR_CTL_NNP = 3
SCMP_CMP_NE, SCMP_CMP_EQ, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ = 1, 4, 6, 7
_LOCAL_ARCHS = {"x86_64": ("x86_64", "x86", "x32"), "aarch64": ("aarch64", "arm"), "i686": ("x86",),
                "s390x": ("s390x", "s390"), "ppc64le": ("ppc64le",), "riscv64": ("riscv64",)}


def act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class _Cmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


_lib: ctypes.CDLL | None = None
_SONAME = "libseccomp.so.2"  # the ABI these declarations are for


def library() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL(_SONAME, use_errno=True)
        except OSError:  # another soname: find_library() runs ldconfig, too slow for every child
            lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or _SONAME, use_errno=True)
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_remove.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_native.restype = ctypes.c_uint32
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                               ctypes.POINTER(_Cmp)]
        _lib = lib
    return _lib


def known_syscall(name: str) -> bool:
    """Whether libseccomp has a number for this name (systemd drops the names it has none for)."""
    return bool(library().seccomp_syscall_resolve_name(name.encode()) != -1)


def available() -> bool:
    try:
        library()
        return True
    except OSError:
        return False


def local_archs() -> list[int]:
    lib = library()
    names = _LOCAL_ARCHS.get(platform.machine(), ())
    out = [lib.seccomp_arch_native()]
    for name in names:
        token = lib.seccomp_arch_resolve_name(name.encode())
        if token and token not in out:
            out.append(token)
    return out


Rule = tuple[int, str, tuple[tuple[int, int, int, int], ...]]  # action, syscall, (arg, op, a, b)...


# A rule as libseccomp takes it: action, system call number, comparison count, comparisons.
_Prepared = tuple[int, int, int, "ctypes.Array[_Cmp] | None"]


def _prepare(rules: Iterable[Rule]) -> list[_Prepared]:
    """Names resolved and comparisons packed once for all architectures' filters (names the
    library does not know are dropped)."""
    lib = library()
    out: list[_Prepared] = []
    for action, name, cmps in rules:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr != -1:
            out.append((action, nr, len(cmps), (_Cmp * len(cmps))(*(_Cmp(*c) for c in cmps)) if cmps else None))
    return out


def _load(arch: int, default: int, rules: list[_Prepared]) -> None:
    lib = library()
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise OSError(errnos.ENOMEM, "seccomp_init failed")
    try:
        native = lib.seccomp_arch_native()
        if arch != native:
            if lib.seccomp_arch_add(ctx, arch) < 0:
                return  # the kernel or library does not know it: nothing to filter there
            lib.seccomp_arch_remove(ctx, native)
        lib.seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW)
        lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        add = lib.seccomp_rule_add_array
        for action, nr, count, array in rules:
            add(ctx, action, nr, count, array)  # unknown on this arch: skipped
        r = lib.seccomp_load(ctx)
        if r < 0:
            raise OSError(-r, f"seccomp_load: {os.strerror(-r)}")
    finally:
        lib.seccomp_release(ctx)


def load_everywhere(default: int, rules: list[Rule]) -> None:
    """The native filter goes last: once it is loaded, seccomp(2) itself may be denied."""
    archs = local_archs()
    prepared = _prepare(rules)
    for arch in [*archs[1:], archs[0]]:
        _load(arch, default, prepared)


def _deny(names: Iterable[str], code: int) -> list[Rule]:
    return [(act_errno(code), n, ()) for n in names]


def kill_action(ctx: ExecContext) -> int:
    return SCMP_ACT_KILL_PROCESS if ctx.syscall_errno is None else act_errno(ctx.syscall_errno)


def syscall_filter(ctx: ExecContext) -> None:
    flt = ctx.syscall_filter
    if flt is None:
        return
    negative = kill_action(ctx)

    def action(code: int | None) -> int:
        if code is None:
            return SCMP_ACT_ALLOW if flt.allow else negative
        return SCMP_ACT_KILL_PROCESS if code == -1 else act_errno(code)

    rules: list[Rule] = [(action(code), name, ()) for name, code in flt.calls.items()]
    load_everywhere(negative if flt.allow else SCMP_ACT_ALLOW, rules)


def syscall_log(log: SyscallFilter) -> None:
    """SystemCallLog=: the listed calls (or all but them) are allowed and logged by the kernel's
    audit (type=1326 records with the action LOG)."""
    listed = SCMP_ACT_LOG if log.allow else SCMP_ACT_ALLOW
    load_everywhere(SCMP_ACT_ALLOW if log.allow else SCMP_ACT_LOG, [(listed, name, ()) for name in log.calls])


def restrict_archs(names: list[str]) -> None:
    """SystemCallArchitectures=: other architectures' system calls kill the process."""
    lib = library()
    native = lib.seccomp_arch_native()
    allowed = {native if n == "native" else lib.seccomp_arch_resolve_name(n.encode()) for n in names}
    blocked = [a for a in local_archs() if a not in allowed and a != native]
    if not blocked:
        return
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    try:
        for a in local_archs():
            if a in allowed and a != native:
                lib.seccomp_arch_add(ctx, a)
        lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        r = lib.seccomp_load(ctx)
        if r < 0:
            raise OSError(-r, f"seccomp_load: {os.strerror(-r)}")
    finally:
        lib.seccomp_release(ctx)


def _family_number(name: str) -> int | None:
    value = getattr(socket, name, None)
    if isinstance(value, int):
        return value
    return {"AF_LOCAL": 1, "AF_FILE": 1, "AF_ROUTE": 16, "AF_IB": 27, "AF_MPLS": 28, "AF_KCM": 41, "AF_QIPCRTR": 42,
            "AF_SMC": 43, "AF_XDP": 44, "AF_MCTP": 45}.get(name)


AF_MAX = 46


def address_families(fams: AddressFamilies) -> None:
    """socket(2) of a family not allowed fails with EAFNOSUPPORT."""
    numbers = {n for n in (_family_number(f) for f in fams.families) if n is not None}
    deny = act_errno(errnos.EAFNOSUPPORT)
    rules: list[Rule]
    if fams.allow:
        rules = [(deny, "socket", ((0, SCMP_CMP_EQ, af, 0),)) for af in range(AF_MAX) if af not in numbers]
        rules.append((deny, "socket", ((0, SCMP_CMP_GT, AF_MAX - 1, 0),)))
    else:
        rules = [(deny, "socket", ((0, SCMP_CMP_EQ, af, 0),)) for af in sorted(numbers)]
    load_everywhere(SCMP_ACT_ALLOW, rules)


def restrict_namespaces(allowed: int) -> None:
    from compat.config_sandbox import NAMESPACE_FLAGS_ALL

    eperm = act_errno(errnos.EPERM)
    rules: list[Rule] = [(act_errno(errnos.ENOSYS), "clone3", ())]
    if allowed == 0:
        rules.append((eperm, "setns", ()))
    for flag in (1 << i for i in range(64)):
        if not NAMESPACE_FLAGS_ALL & flag or allowed & flag:
            continue
        rules += [(eperm, "unshare", ((0, SCMP_CMP_MASKED_EQ, flag, flag),)),
                  (eperm, "clone", ((0 if platform.machine() != "s390x" else 1, SCMP_CMP_MASKED_EQ, flag, flag),)),
                  (eperm, "setns", ((1, SCMP_CMP_MASKED_EQ, flag, flag),))]
    load_everywhere(SCMP_ACT_ALLOW, rules)


def memory_deny_write_execute() -> None:
    eperm = act_errno(errnos.EPERM)
    prot_write, prot_exec, shm_exec = 2, 4, 0o100000
    load_everywhere(SCMP_ACT_ALLOW, [
        (eperm, "mmap", ((2, SCMP_CMP_MASKED_EQ, prot_write | prot_exec, prot_write | prot_exec),)),
        (eperm, "mmap2", ((2, SCMP_CMP_MASKED_EQ, prot_write | prot_exec, prot_write | prot_exec),)),
        (eperm, "mprotect", ((2, SCMP_CMP_MASKED_EQ, prot_exec, prot_exec),)),
        (eperm, "pkey_mprotect", ((2, SCMP_CMP_MASKED_EQ, prot_exec, prot_exec),)),
        (eperm, "shmat", ((2, SCMP_CMP_MASKED_EQ, shm_exec, shm_exec),)),
    ])


def restrict_realtime() -> None:
    """sched_setscheduler() to anything but SCHED_OTHER, SCHED_BATCH, SCHED_IDLE fails."""
    eperm = act_errno(errnos.EPERM)
    reset_on_fork = 0x40000000
    rules: list[Rule] = [(eperm, "sched_setscheduler", ((1, SCMP_CMP_MASKED_EQ, ~reset_on_fork & 0xFFFFFFFF, p),))
                         for p in (1, 2, 4, 6)]
    rules.append((eperm, "sched_setscheduler", ((1, SCMP_CMP_GT, 6 | reset_on_fork, 0),)))
    load_everywhere(SCMP_ACT_ALLOW, rules)


def restrict_suid_sgid() -> None:
    eperm = act_errno(errnos.EPERM)
    rules: list[Rule] = []
    o_creat = os.O_CREAT
    for bit in (0o4000, 0o2000):
        rules += [(eperm, "chmod", ((1, SCMP_CMP_MASKED_EQ, bit, bit),)),
                  (eperm, "fchmod", ((1, SCMP_CMP_MASKED_EQ, bit, bit),)),
                  (eperm, "fchmodat", ((2, SCMP_CMP_MASKED_EQ, bit, bit),)),
                  (eperm, "mkdir", ((1, SCMP_CMP_MASKED_EQ, bit, bit),)),
                  (eperm, "mkdirat", ((2, SCMP_CMP_MASKED_EQ, bit, bit),)),
                  (eperm, "mknod", ((1, SCMP_CMP_MASKED_EQ, bit, bit),)),
                  (eperm, "mknodat", ((2, SCMP_CMP_MASKED_EQ, bit, bit),)),
                  (eperm, "creat", ((1, SCMP_CMP_MASKED_EQ, bit, bit),)),
                  (eperm, "open", ((1, SCMP_CMP_MASKED_EQ, o_creat, o_creat), (2, SCMP_CMP_MASKED_EQ, bit, bit))),
                  (eperm, "openat", ((2, SCMP_CMP_MASKED_EQ, o_creat, o_creat), (3, SCMP_CMP_MASKED_EQ, bit, bit)))]
    load_everywhere(SCMP_ACT_ALLOW, rules)


def lock_personality(current: int) -> None:
    load_everywhere(SCMP_ACT_ALLOW, [(act_errno(errnos.EPERM), "personality",
                                      ((0, SCMP_CMP_NE, current, 0), (0, SCMP_CMP_NE, 0xFFFFFFFF, 0)))])


def _deny_groups(*groups: str) -> Callable[[], None]:
    def load() -> None:
        names = [n for g in groups for n in syscallsets.expand(g)]
        load_everywhere(SCMP_ACT_ALLOW, _deny(names, errnos.EPERM))

    return load


protect_kernel_modules = _deny_groups("@module")
protect_clock = _deny_groups("@clock")
private_devices = _deny_groups("@raw-io")


def protect_sysctl() -> None:
    """ProtectKernelTunables='s filter part: _sysctl(2), where the architecture has it."""
    load_everywhere(SCMP_ACT_ALLOW, _deny(["_sysctl"], errnos.EPERM))


def protect_kernel_logs() -> None:
    load_everywhere(SCMP_ACT_ALLOW, _deny(["syslog"], errnos.EPERM))


def protect_hostname() -> None:
    load_everywhere(SCMP_ACT_ALLOW, _deny(["sethostname", "setdomainname"], errnos.EPERM))


def uses_seccomp(ctx: ExecContext) -> bool:
    """Any setting that installs a filter (what makes systemd imply NoNewPrivileges= for an
    unprivileged process)."""
    return bool(
        ctx.lock_personality or ctx.memory_deny_write_execute or ctx.private_devices or ctx.protect_clock
        or ctx.protect_hostname or ctx.protect_kernel_tunables or ctx.protect_kernel_modules
        or ctx.protect_kernel_logs or ctx.address_families is not None or ctx.restrict_namespaces is not None
        or ctx.restrict_realtime or ctx.restrict_suidsgid or ctx.system_call_architectures
        or ctx.syscall_filter is not None or ctx.syscall_log is not None
    )


def apply_all(ctx: ExecContext) -> None:
    """The filters in exec_child()'s order; the system call filter last."""
    if ctx.address_families is not None:
        _step("restrict address families", lambda: address_families(ctx.address_families))  # type: ignore[arg-type]
    if ctx.memory_deny_write_execute:
        _step("disable writing to executable memory", memory_deny_write_execute)
    if ctx.restrict_realtime:
        _step("apply realtime restrictions", restrict_realtime)
    if ctx.restrict_suidsgid:
        _step("apply SUID/SGID restrictions", restrict_suid_sgid)
    if ctx.restrict_namespaces is not None:
        from compat.config_sandbox import NAMESPACE_FLAGS_ALL

        if ctx.restrict_namespaces != NAMESPACE_FLAGS_ALL:
            allowed = ctx.restrict_namespaces
            _step("apply namespace restrictions", lambda: restrict_namespaces(allowed))
    if ctx.protect_kernel_tunables:
        _step("apply sysctl restrictions", protect_sysctl)
    if ctx.protect_kernel_modules:
        _step("apply module loading restrictions", protect_kernel_modules)
    if ctx.protect_kernel_logs:
        _step("apply kernel log restrictions", protect_kernel_logs)
    if ctx.protect_clock:
        _step("apply clock restrictions", protect_clock)
    if ctx.private_devices:
        _step("set up private devices", private_devices)
    if ctx.system_call_architectures:
        _step("apply syscall architecture restrictions", lambda: restrict_archs(ctx.system_call_architectures))
    if ctx.lock_personality:
        _step("lock personalities", lambda: lock_personality(_current_personality()))
    if ctx.protect_hostname:
        _step("apply hostname restrictions", protect_hostname)
    if ctx.syscall_log is not None:
        log = ctx.syscall_log
        _step("apply system call log filters", lambda: syscall_log(log))
    if ctx.syscall_filter is not None:
        _step("apply system call filters", lambda: syscall_filter(ctx))


class SeccompError(Exception):
    pass


def _step(what: str, fn: Callable[[], None]) -> None:
    try:
        fn()
    except OSError as e:
        raise SeccompError(f"Failed to {what}: {e.strerror or e}") from e


def _current_personality() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    value: int = libc.personality(ctypes.c_ulong(0xFFFFFFFF))
    return value & 0xFFFFFFFF
