"""Sandboxing, capability, system call filter and credential directives of the exec context
(systemd.exec(5); load-fragment.c's parsers of systemd 252), merged into EXEC_HANDLERS.

Merging rules follow systemd: capability sets replace on the first (or an empty) assignment and
merge afterwards; SystemCallFilter=/RestrictAddressFamilies= take their list kind (allow or deny)
from the first assignment, later ones add to or take from that list; RestrictNamespaces= merges
with AND for `~` lists and OR otherwise.
"""

from __future__ import annotations

import base64
import errno
import functools
import os
import re
from collections.abc import Callable

from compat import syscallsets
from compat.capnames import CAP_ALL, capability_from_name
from compat.cint import c_integer
from compat.model import AddressFamilies, BindMount, Credential, SyscallFilter, TmpfsMount, UnitConfig
from compat.settings import Handler, Invalid, ParseContext, Refuse, path_setting, setter, words
from compat.values import parse_boolean
from compat.words import Extract, cunescape

# linux/sched.h
NAMESPACE_FLAGS: dict[str, int] = {
    "cgroup": 0x02000000, "ipc": 0x08000000, "net": 0x40000000, "mnt": 0x00020000,
    "pid": 0x20000000, "user": 0x10000000, "uts": 0x04000000,
}  # fmt: skip
NAMESPACE_FLAGS_ALL = sum(NAMESPACE_FLAGS.values())

_FAMILY_NAMES = """
    AF_UNIX AF_LOCAL AF_INET AF_AX25 AF_IPX AF_APPLETALK AF_NETROM AF_BRIDGE AF_ATMPVC AF_X25 AF_INET6
    AF_ROSE AF_DECnet AF_NETBEUI AF_SECURITY AF_KEY AF_NETLINK AF_ROUTE AF_PACKET AF_ASH AF_ECONET
    AF_ATMSVC AF_RDS AF_SNA AF_IRDA AF_PPPOX AF_WANPIPE AF_LLC AF_IB AF_MPLS AF_CAN AF_TIPC AF_BLUETOOTH
    AF_IUCV AF_RXRPC AF_ISDN AF_PHONET AF_IEEE802154 AF_CAIF AF_ALG AF_NFC AF_VSOCK AF_KCM AF_QIPCRTR
    AF_SMC AF_XDP AF_MCTP
"""
ADDRESS_FAMILIES = frozenset(_FAMILY_NAMES.split()) | {"AF_FILE"}
# Aliases stored (and shown on the bus) under the name systemd's af_to_name() gives their number.
_FAMILY_ALIASES = {"AF_LOCAL": "AF_UNIX", "AF_FILE": "AF_UNIX", "AF_ROUTE": "AF_NETLINK"}


def _exec(cfg: UnitConfig) -> object:
    return cfg.exec


def _bool(value: str, ctx: ParseContext) -> bool:
    try:
        return parse_boolean(value)
    except ValueError:
        raise Invalid("Failed to parse boolean value") from None


def _choice(extra: tuple[str, ...], what: str) -> Callable[[str, ParseContext], str]:
    """ProtectSystem=/ProtectHome=: a boolean or one of the named modes."""

    def parse(value: str, ctx: ParseContext) -> str:
        if value in extra:
            return value
        try:
            return "yes" if parse_boolean(value) else "no"
        except ValueError:
            raise Invalid(f"Failed to parse {what} value") from None

    return parse


def _dynamic_user(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    """The one boolean systemd parses as fatal: a bad value refuses the unit."""
    try:
        cfg.exec.dynamic_user = parse_boolean(value)
    except ValueError:
        raise Refuse(f"Failed to parse boolean value: {value}") from None


def _enum(names: tuple[str, ...], what: str) -> Callable[[str, ParseContext], str]:
    """ProtectProc=/ProcSubset=: exactly one of the names (no boolean, an empty value is bad)."""

    def parse(value: str, ctx: ParseContext) -> str:
        if value not in names:
            raise Invalid(f"Failed to parse {what}")
        return value

    return parse


def _capabilities(attr: str, initial: int) -> Handler:
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        invert = value.startswith("~")
        text = value[1:] if invert else value
        total = 0
        for word in words(text):
            try:  # unknown names are skipped without a word, as capability_set_from_string() does
                total |= 1 << capability_from_name(word)
            except ValueError:
                continue
        current = getattr(cfg.exec, attr)
        if current is None:
            current = initial
        if total == 0 or current == initial:
            new = (~total & ((1 << 64) - 1)) if invert else total
        else:
            new = current & ~total if invert else current | total
        setattr(cfg.exec, attr, new)

    return handle


def _secure_bits(value: str, ctx: ParseContext) -> int:
    names = {"keep-caps": 1 << 4, "keep-caps-locked": 1 << 5, "no-setuid-fixup": 1 << 2,
             "no-setuid-fixup-locked": 1 << 3, "noroot": 1 << 0, "noroot-locked": 1 << 1}
    return sum(names.get(word, 0) for word in set(words(value)))  # unknown words skipped, as systemd


def _path_list(attr: str) -> Handler:
    """ReadWritePaths= and friends: absolute paths, each with optional "-" and "+" prefixes."""

    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        target: list[str] = getattr(cfg.exec, attr)
        if value == "":
            target.clear()
            return
        for word in words(value, Extract.UNQUOTE | Extract.CUNESCAPE):
            prefix = ""
            rest = word
            while rest[:1] in ("-", "+") and rest[:1] not in prefix:
                prefix += rest[0]
                rest = rest[1:]
            path = _checked(rest, ctx)
            if path is not None:
                target.append(prefix + path)

    return handle


def _search_path(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    """ExecSearchPath=: colon-separated, appended; empty resets. As systemd, the first bad path
    drops the rest of the line (the ones before it stay)."""
    target = cfg.exec.exec_search_path
    if value == "":
        target.clear()
        return
    for word in value.split(":"):
        path = _checked(word, ctx, _SINGLE)
        if path is None:
            return
        target.append(os.path.normpath(path).replace("//", "/"))


_PLAIN, _IGNORING, _DOUBLE, _SINGLE = "{}: {}", "{}, ignoring: {}", '"{}", ignoring: {}', "'{}', ignoring: {}"


def _checked(text: str, ctx: ParseContext, wording: str = _PLAIN) -> str | None:
    """A path of a namespace setting with specifiers expanded; None (warned) when unusable.
    `wording`: how this parser of systemd words a specifier failure (the text, the reason)."""
    key = ctx.current.key if ctx.current else "Path"
    try:
        path = ctx.expand_or_reason(text)
    except ValueError as e:
        ctx.warn("Failed to resolve unit specifiers in " + wording.format(text, e))
        return None
    if not path.startswith("/"):
        ctx.warn(f"{key}= path is not absolute, ignoring: {path}")
        return None
    if ".." in path.split("/"):
        ctx.warn(f"{key}= path is not normalized, ignoring: {path}")
        return None
    return path


def _tmpfs(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if value == "":
        cfg.exec.tmpfs_mounts.clear()
        return
    for word in words(value):
        raw, _, options = word.partition(":")
        path = _checked(raw, ctx, _IGNORING)
        if path is not None:
            cfg.exec.tmpfs_mounts.append(TmpfsMount(path, options))


def _bind_paths(read_only: bool) -> Handler:
    def handle(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
        if value == "":
            cfg.exec.bind_mounts.clear()
            return
        for word in words(value, Extract.UNQUOTE | Extract.CUNESCAPE):
            fields = word.split(":")
            optional = fields[0].startswith("-")
            source = _checked(fields[0][1:] if optional else fields[0], ctx, _DOUBLE)
            if source is None:
                continue
            destination = _checked(fields[1], ctx, _DOUBLE) if len(fields) > 1 and fields[1] else source
            if destination is None:
                continue
            options = fields[2] if len(fields) > 2 else ""
            if options not in ("", "rbind", "norbind"):
                ctx.warn(f"Invalid option string, ignoring setting: {options}")
                continue
            cfg.exec.bind_mounts.append(BindMount(source, destination, read_only, optional, options != "norbind"))

    return handle


def parse_errno(text: str) -> int | None:
    """An errno name (EPERM) or number (read as strtol() does: `010` is 8, `0999` nothing);
    None when it is neither."""
    value = getattr(errno, text, None)
    if isinstance(value, int) and text.startswith("E"):
        return value
    try:
        number = c_integer(text)
    except ValueError:
        return None
    return number if 0 < number < 4096 else None


def _syscall_filter(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    ex = cfg.exec
    if value == "":
        ex.syscall_filter = None
        return
    invert = value.startswith("~")
    text = value[1:] if invert else value
    if ex.syscall_filter is None:
        ex.syscall_filter = SyscallFilter(allow=not invert)
        if not invert:
            ex.syscall_filter.calls.update(dict.fromkeys(syscallsets.expand("@default")))
    flt = ex.syscall_filter
    for word in words(text, Extract(0)):
        name, colon, err = word.partition(":")
        number = None
        if colon:
            number = parse_errno(err) if err != "kill" else -1
            if number is None:
                ctx.warn(f"Failed to parse syscall:errno, ignoring: {word}")
                continue
        if not invert and number is not None:
            ctx.warn(f"Allow-listed system calls cannot take error number, ignoring: {word}")
            continue
        for call in _syscalls(name, ctx):
            # A `~name:errno` taken from an allow list stays in it, denied with that errno.
            if invert != flt.allow or number is not None:
                flt.calls[call] = number
            else:
                flt.calls.pop(call, None)


def _syscalls(name: str, ctx: ParseContext) -> list[str]:
    """The calls a name or @group stands for; none (warned) for an unknown one."""
    try:
        calls = syscallsets.expand(name)
    except KeyError:
        ctx.warn(f"Unknown system call group, ignoring: {name}")
        return []
    if not name.startswith("@") and name not in syscallsets.KNOWN:
        ctx.warn(f"Failed to parse system call, ignoring: {name}")
        return []
    return calls


def _syscall_log(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    """SystemCallLog=: the first assignment's kind decides (a plain list logs only those calls, a
    `~` list all but those); later ones add to or take from it. No errno suffixes, no @default."""
    ex = cfg.exec
    if value == "":
        ex.syscall_log = None
        return
    invert = value.startswith("~")
    if ex.syscall_log is None:
        ex.syscall_log = SyscallFilter(allow=not invert)
    log = ex.syscall_log
    for word in words(value[1:] if invert else value, Extract(0)):
        for call in _syscalls(word, ctx):
            if invert != log.allow:
                log.calls[call] = None
            else:
                log.calls.pop(call, None)


_ARCHITECTURES = frozenset({
    "native", "x86", "x86-64", "x32", "arm", "arm64", "mips", "mips64", "mips64-n32", "mips-le", "mips64-le",
    "mips64-le-n32", "ppc", "ppc64", "ppc64-le", "s390", "s390x", "parisc", "parisc64", "riscv64", "loongarch64",
})


def _syscall_errno(value: str, ctx: ParseContext) -> int | None:
    if value == "kill":
        return None
    number = parse_errno(value)
    if number is None:
        raise Invalid("Failed to parse error number")
    return number


def _architectures(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    if value == "":
        cfg.exec.system_call_architectures.clear()
        return
    for word in words(value):
        if word not in _ARCHITECTURES:
            ctx.warn(f'Failed to parse system call architecture "{word}", ignoring: Invalid argument')
            continue
        if word not in cfg.exec.system_call_architectures:
            cfg.exec.system_call_architectures.append(word)


def _address_families(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    ex = cfg.exec
    if value == "":
        ex.address_families = None
        return
    if value == "none":
        ex.address_families = AddressFamilies(allow=True)
        return
    invert = value.startswith("~")
    text = value[1:] if invert else value
    if ex.address_families is None:
        ex.address_families = AddressFamilies(allow=not invert)
    fams = ex.address_families
    for word in words(text):
        if word not in ADDRESS_FAMILIES:
            ctx.warn(f"Failed to parse address family, ignoring: {word}")
            continue
        word = _FAMILY_ALIASES.get(word, word)
        if invert != fams.allow:
            fams.families.add(word)
        else:
            fams.families.discard(word)


def _restrict_namespaces(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    ex = cfg.exec
    if value == "":
        ex.restrict_namespaces = None
        return
    try:
        ex.restrict_namespaces = 0 if parse_boolean(value) else NAMESPACE_FLAGS_ALL
        return
    except ValueError:
        pass
    invert = value.startswith("~")
    text = value[1:] if invert else value
    flags = 0
    for word in words(text):
        if word not in NAMESPACE_FLAGS:
            raise Invalid("Failed to parse namespace type string")
        flags |= NAMESPACE_FLAGS[word]
    if ex.restrict_namespaces is None:
        ex.restrict_namespaces = (~flags & NAMESPACE_FLAGS_ALL) if invert else flags
    elif invert:
        ex.restrict_namespaces &= ~flags
    else:
        ex.restrict_namespaces |= flags


_CREDENTIAL_NAME = re.compile(r"[^/\x00]{1,255}")


def _credential_name_valid(name: str) -> bool:
    return bool(_CREDENTIAL_NAME.fullmatch(name)) and name not in (".", "..")


def _replace_credential(cfg: UnitConfig, cred: Credential) -> None:
    loads = cred.path is not None
    creds = cfg.exec.credentials
    for i, old in enumerate(creds):
        if old.id == cred.id and (old.path is not None) == loads:
            creds[i] = cred
            return
    creds.append(cred)


def _load_credential(cfg: UnitConfig, value: str, ctx: ParseContext, encrypted: bool = False) -> None:
    if value == "":
        cfg.exec.credentials[:] = [c for c in cfg.exec.credentials if c.path is None]
        return
    name, _, source = value.partition(":")
    name = ctx.printf(name)
    if not _credential_name_valid(name):
        raise Invalid(f'Credential name "{name}" not valid, ignoring.', complete=True)
    path = ctx.printf(source) if source else name
    if not path.startswith("/") and not _credential_name_valid(path):
        raise Invalid(f'Credential source "{path}" not valid, ignoring.', complete=True)
    _replace_credential(cfg, Credential(name, path=path, encrypted=encrypted))


def _set_credential(cfg: UnitConfig, value: str, ctx: ParseContext, encrypted: bool = False) -> None:
    if value == "":
        cfg.exec.credentials[:] = [c for c in cfg.exec.credentials if c.data is None]
        return
    name, colon, data = value.partition(":")
    if not colon or not data:
        raise Invalid("Invalid syntax")
    name = ctx.printf(name)
    if not _credential_name_valid(name):
        raise Invalid(f'Credential name "{name}" not valid, ignoring.', complete=True)
    if encrypted:
        try:
            blob = base64.b64decode("".join(data.split()), validate=True)
        except ValueError:
            raise Invalid("Encrypted credential data not valid Base64 data, ignoring.", complete=True) from None
        _replace_credential(cfg, Credential(name, data=blob, encrypted=True))
        return
    try:
        raw = cunescape(data)
    except ValueError:
        raise Invalid(f'Can\'t unescape "{data}", ignoring: Invalid argument', complete=True) from None
    _replace_credential(cfg, Credential(name, data=raw.encode("utf-8", "surrogateescape")))


_BOOLEANS = (
    "NoNewPrivileges", "PrivateTmp", "PrivateDevices", "PrivateNetwork", "PrivateIPC", "PrivateMounts",
    "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
    "ProtectClock", "ProtectHostname", "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute",
    "RestrictRealtime", "PrivateUsers", "RemoveIPC",
)
_FIELDS = {"RestrictSUIDSGID": "restrict_suidsgid", "PrivateIPC": "private_ipc", "RemoveIPC": "remove_ipc"}


def _snake(name: str) -> str:
    return _FIELDS.get(name) or re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()


SANDBOX_HANDLERS: dict[str, Handler] = {
    **{name: setter(_exec, _snake(name), _bool) for name in _BOOLEANS},
    "CapabilityBoundingSet": _capabilities("capability_bounding_set", CAP_ALL),
    "AmbientCapabilities": _capabilities("ambient_capabilities", 0),
    "SecureBits": setter(_exec, "secure_bits", _secure_bits, reset=True),
    "ProtectSystem": setter(_exec, "protect_system", _choice(("full", "strict"), "protect system")),
    "ProtectHome": setter(_exec, "protect_home", _choice(("read-only", "tmpfs"), "protect home")),
    "ProtectProc": setter(_exec, "protect_proc", _enum(("default", "noaccess", "invisible", "ptraceable"),
                                                        "/proc/ protection mode")),
    "DynamicUser": _dynamic_user,
    "NetworkNamespacePath": path_setting(_exec, "network_namespace_path"),
    "IPCNamespacePath": path_setting(_exec, "ipc_namespace_path"),
    "MountAPIVFS": setter(_exec, "mount_apivfs", _bool, reset=True),
    "ProcSubset": setter(_exec, "proc_subset", _enum(("all", "pid"), "/proc/ subset mode")),
    **{name: _path_list(attr) for name, attr in (
        ("ReadWritePaths", "read_write_paths"), ("ReadOnlyPaths", "read_only_paths"),
        ("InaccessiblePaths", "inaccessible_paths"), ("ReadWriteDirectories", "read_write_paths"),
        ("ReadOnlyDirectories", "read_only_paths"), ("InaccessibleDirectories", "inaccessible_paths"),
        ("ExecPaths", "exec_paths"), ("NoExecPaths", "no_exec_paths"))},
    "ExecSearchPath": _search_path,
    "TemporaryFileSystem": _tmpfs,
    "BindPaths": _bind_paths(read_only=False),
    "BindReadOnlyPaths": _bind_paths(read_only=True),
    "SystemCallFilter": _syscall_filter,
    "SystemCallLog": _syscall_log,
    "SystemCallErrorNumber": setter(_exec, "syscall_errno", _syscall_errno, reset=True),
    "SystemCallArchitectures": _architectures,
    "RestrictAddressFamilies": _address_families,
    "RestrictNamespaces": _restrict_namespaces,
    "LoadCredential": _load_credential,
    "LoadCredentialEncrypted": functools.partial(_load_credential, encrypted=True),
    "SetCredential": _set_credential,
    "SetCredentialEncrypted": functools.partial(_set_credential, encrypted=True),
}
