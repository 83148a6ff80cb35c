"""Stopping a unit's processes the way KillMode= says (systemd's unit_kill_context()), shared by
every type that runs processes: which signal a stop phase sends, to whom, and when the unit's
processes count as gone."""

from __future__ import annotations

import enum
import signal
from typing import TYPE_CHECKING

from compat.model import KillContext, KillMode
from sysmasterd.core.cgroup import send_signal

if TYPE_CHECKING:
    from sysmasterd.core.unit import Unit


class KillPhase(enum.Enum):
    TERMINATE = "terminate"  # KillSignal= (and SIGHUP after it with SendSIGHUP=)
    KILL = "kill"  # FinalKillSignal=
    WATCHDOG = "watchdog"  # WatchdogSignal=


def _context(unit: Unit) -> KillContext | None:
    return unit.config.kill if unit.config is not None else None


def phase_signal(kill: KillContext | None, phase: KillPhase) -> int:
    if phase is KillPhase.TERMINATE:
        return kill.kill_signal if kill else signal.SIGTERM
    if phase is KillPhase.WATCHDOG:
        return kill.watchdog_signal if kill else signal.SIGABRT
    return kill.final_kill_signal if kill else signal.SIGKILL


def kill_unit(unit: Unit, phase: KillPhase, tracked: list[int]) -> bool:
    """Signal for a stop phase: the ``tracked`` main/control processes that still run, and, as
    KillMode= says, the rest of the unit. True if anything is left to wait for."""
    kill = _context(unit)
    mode = kill.kill_mode if kill else KillMode.CONTROL_GROUP
    left = _send(unit, mode, phase_signal(kill, phase), phase is KillPhase.KILL, tracked)
    if kill and kill.send_sighup and phase is KillPhase.TERMINATE:
        _send(unit, mode, signal.SIGHUP, False, tracked)
    return left


def _send(unit: Unit, mode: KillMode, signo: int, final: bool, tracked: list[int]) -> bool:
    if mode is KillMode.NONE:
        return bool(tracked)
    targets = set(tracked)
    for pid in targets:
        send_signal(pid, signo)
        if signo not in (signal.SIGKILL, signal.SIGCONT):
            send_signal(pid, signal.SIGCONT)  # a stopped process must wake to die
    runtime = unit.manager.runtime
    if mode is KillMode.CONTROL_GROUP or (mode is KillMode.MIXED and final):
        targets |= set(runtime.kill_unit_processes(unit, signo, exclude=frozenset(targets), roots=tracked))
    return bool(targets) or (mode is KillMode.CONTROL_GROUP and not runtime.cgroups_empty(unit))


def group_settled(unit: Unit) -> bool:
    """Whether what KillMode= waits for beyond the tracked processes is gone."""
    kill = _context(unit)
    if kill is not None and kill.kill_mode in (KillMode.PROCESS, KillMode.NONE):
        return True
    return unit.manager.runtime.cgroups_empty(unit)
