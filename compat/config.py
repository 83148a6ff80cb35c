"""Assignments of one unit (fragment + drop-ins, in order) -> UnitConfig + diagnostics.

Dispatch per section and key: implemented directives go to their handler; names systemd 252
knows but sysmaster does not implement load with a "not supported" warning; unknown names get
systemd's own "Unknown key" warning. Type sections of types that do not run yet (socket, timer,
...) are kept raw, in file order, for the unit types that will read them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from compat import directives, sandbox_implied
from compat.config_automount import AUTOMOUNT_HANDLERS, AutomountSection, init_automount, verify_automount
from compat.config_exec import CGROUP_HANDLERS, EXEC_HANDLERS, KILL_HANDLERS
from compat.config_mount import MOUNT_HANDLERS, MountSection, init_mount, verify_mount
from compat.config_path import PATH_HANDLERS, PathSection, verify_path
from compat.config_service import SERVICE_HANDLERS, verify_service
from compat.config_socket import SOCKET_HANDLERS, SocketSection, verify_socket
from compat.config_swap import SWAP_HANDLERS, SwapSection, init_swap, verify_swap
from compat.config_timer import TIMER_HANDLERS, TimerSection, verify_timer
from compat.config_unit import INSTALL_HANDLERS, LEGACY_SERVICE_HANDLERS, UNIT_HANDLERS
from compat.model import Diagnostic, ServiceSection, Severity, UnitConfig, UnitKind
from compat.settings import Handler, Invalid, ParseContext, Refuse
from compat.specifiers import HostFacts
from compat.syntax import Assignment

# The type-specific section of each unit type (systemd's UnitVTable.sections).
TYPE_SECTION: dict[UnitKind, str | None] = {
    UnitKind.SERVICE: "Service",
    UnitKind.SOCKET: "Socket",
    UnitKind.TIMER: "Timer",
    UnitKind.PATH: "Path",
    UnitKind.MOUNT: "Mount",
    UnitKind.AUTOMOUNT: "Automount",
    UnitKind.SWAP: "Swap",
    UnitKind.SLICE: "Slice",
    UnitKind.SCOPE: "Scope",
    UnitKind.TARGET: None,
    UnitKind.DEVICE: None,
}

SERVICE_TABLE: dict[str, Handler] = {
    **EXEC_HANDLERS,
    **KILL_HANDLERS,
    **CGROUP_HANDLERS,
    **LEGACY_SERVICE_HANDLERS,
    **SERVICE_HANDLERS,
}


@dataclass(frozen=True)
class TypeConfig:
    """How compat reads a unit type's own section: its directive table (with the shared context
    tables it has), the UnitConfig field the parsed section lands in, and the checks systemd
    applies to a completely read unit of the type."""

    handlers: dict[str, Handler]
    field: str
    new_section: Callable[[], object]
    verify: Callable[[UnitConfig], str | None] | None = None
    # Defaults the type sets before the files are read (systemd's init() of the type).
    init: Callable[[UnitConfig], None] | None = None


TYPE_CONFIG: dict[UnitKind, TypeConfig] = {
    UnitKind.SERVICE: TypeConfig(SERVICE_TABLE, "service", ServiceSection, verify_service),
    UnitKind.PATH: TypeConfig(PATH_HANDLERS, "path", PathSection, verify_path),
    UnitKind.TIMER: TypeConfig(TIMER_HANDLERS, "timer", TimerSection, verify_timer),
    UnitKind.SOCKET: TypeConfig({**EXEC_HANDLERS, **KILL_HANDLERS, **CGROUP_HANDLERS, **SOCKET_HANDLERS}, "socket",
                                SocketSection, verify_socket),
    UnitKind.MOUNT: TypeConfig({**EXEC_HANDLERS, **KILL_HANDLERS, **CGROUP_HANDLERS, **MOUNT_HANDLERS}, "mount",
                               MountSection, verify_mount, init_mount),
    UnitKind.SWAP: TypeConfig({**EXEC_HANDLERS, **KILL_HANDLERS, **CGROUP_HANDLERS, **SWAP_HANDLERS}, "swap",
                              SwapSection, verify_swap, init_swap),
    UnitKind.AUTOMOUNT: TypeConfig(AUTOMOUNT_HANDLERS, "automount", AutomountSection, verify_automount, init_automount),
}


def sections_for(kind: UnitKind) -> frozenset[str]:
    section = TYPE_SECTION[kind]
    return frozenset({"Unit", "Install"} | ({section} if section else set()))


@dataclass
class BuildResult:
    config: UnitConfig
    diagnostics: list[Diagnostic] = field(default_factory=list)
    refused: str | None = None  # systemd would refuse the unit, with this message
    # None: refused as bad-setting; otherwise LoadState=error with this errno text as the reason.
    refused_errno: str | None = None
    refused_at: Assignment | None = None  # the assignment systemd stopped reading at, if any


def _table(section: str, kind: UnitKind) -> dict[str, Handler] | None:
    """Handlers for a section of this unit kind; None: keep the section raw."""
    if section == "Unit":
        return UNIT_HANDLERS
    if section == "Install":
        return INSTALL_HANDLERS
    typed = TYPE_CONFIG.get(kind)
    return typed.handlers if typed is not None and section == TYPE_SECTION[kind] else None


def _not_supported(cfg: UnitConfig, a: Assignment, ctx: ParseContext) -> None:
    ctx.warn(f"{a.key}= is not supported by sysmaster yet, ignoring.")
    store = cfg.cgroup.unsupported if a.key in directives.CGROUP_CONTEXT else cfg.exec.unsupported
    store[a.key] = a.value if a.value or a.key not in store else ""


def build_config(
    name: str,
    kind: UnitKind,
    assignments: Iterable[Assignment],
    facts: HostFacts,
    fragment_path: str | None = None,
    *,
    verify: bool = True,
) -> BuildResult:
    """Apply assignments in order; stops at the first setting that makes systemd refuse the unit.

    `verify`: run the per-type checks that systemd applies to a completely read unit.
    """
    cfg = UnitConfig(name=name, kind=kind)
    typed = TYPE_CONFIG.get(kind)
    if typed is not None:
        setattr(cfg, typed.field, typed.new_section())
        if typed.init is not None:
            typed.init(cfg)
    ctx = ParseContext(name, facts, fragment_path)
    result = BuildResult(cfg, ctx.diagnostics)
    for a in assignments:
        ctx.current = a
        known = directives.SECTIONS.get(a.section, frozenset())
        if a.key not in known:
            if not a.key.startswith("X-"):
                ctx.warn(f"Unknown key '{a.key}' in section [{a.section}], ignoring.")
            continue
        if a.key in directives.REMOVED:
            ctx.warn(f"Support for option {a.key}= has been removed and it is ignored")
            continue
        table = _table(a.section, kind)
        if table is None:
            cfg.raw_type_section.setdefault(a.key, []).append(a.value)
            continue
        handler = table.get(a.key)
        if handler is None:
            _not_supported(cfg, a, ctx)
            continue
        try:
            handler(cfg, a.value, ctx)
        except Invalid as e:
            ctx.warn(e.render(a.value))
        except Refuse as e:
            ctx.warn(str(e), Severity.ERROR)
            result.refused = str(e)
            result.refused_errno = e.errno_text
            result.refused_at = a
            return result
    ctx.current = None
    sandbox_implied.patch_dynamic_user(cfg.exec, name)
    if verify and typed is not None and typed.verify is not None:
        reason = typed.verify(cfg)
        if reason:
            ctx.warn(reason, Severity.ERROR)
            result.refused = reason
    return result
