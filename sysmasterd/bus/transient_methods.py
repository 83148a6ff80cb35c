"""The Manager methods that make and hold units at run time: StartTransientUnit, RefUnit/UnrefUnit,
AbandonScope, AttachProcessesToUnit (systemd's dbus-manager.c and dbus-unit.c).

References are held by a client: a bus name until it leaves the bus (its NameOwnerChanged), or a
private-socket connection until it closes. A transient unit made over the private socket is held
by that connection too: systemd-run talks to the manager directly and cannot send AddRef= there,
and without a reference a short-lived unit could be collected before the client read its result.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dbus_fast import Message

from compat import unitname
from compat.model import UnitKind
from sysmasterd.bus import actions, errors
from sysmasterd.bus.iface import method
from sysmasterd.bus.subscriptions import match_call, name_owner_change, owner_rule
from sysmasterd.bus.transient_props import TRANSIENT_KINDS, convert
from sysmasterd.core.states import JobType

if TYPE_CHECKING:
    from sysmasterd.bus.connection import Connection
    from sysmasterd.bus.router import Call
    from sysmasterd.bus.subscriptions import Subscriptions
    from sysmasterd.core.manager import Manager
    from sysmasterd.core.unit import Unit


class ClientRefs:
    """Which bus names we watch for leaving the bus, because they hold unit references.

    A holder on the bus also counts as subscribed: systemd sends a unit's signals to the bus when
    someone holds a reference on it (bus_foreach_bus() with the unit's bus_track), and systemd-run
    --wait, which never calls Subscribe(), waits for its unit's PropertiesChanged. Here every unit's
    signals go to the bus until the holder leaves it, a few more broadcasts than systemd sends."""

    def __init__(self, manager: Manager, subscriptions: Subscriptions) -> None:
        self.manager = manager
        self.subscriptions = subscriptions
        self._names: set[str] = set()
        self.changed: Callable[[], None] = lambda: None  # kept across core restarts (bus/clientstate.py)

    def token(self, call: Call) -> object:
        if not call.conn.is_bus:
            conn = call.conn
            conn.closed.add_done_callback(lambda _: self.manager.transient.release(conn))
            return conn
        return self.watch(call.conn, call.msg.sender or "")

    def watch(self, conn: Connection, name: str) -> str:
        """The reference token of a bus name, watched for leaving the bus."""
        self.subscriptions.subscribe(conn, name)
        if name not in self._names:
            self._names.add(name)
            conn.send(match_call("AddMatch", owner_rule(name)))
        return name

    def on_signal(self, conn: Connection, msg: Message) -> None:
        change = name_owner_change(msg)
        if change is not None and change[1] is None and change[0] in self._names:
            self._names.discard(change[0])
            conn.send(match_call("RemoveMatch", owner_rule(change[0])))
            self.manager.transient.release(change[0])
            self.changed()

    def reset(self) -> None:
        """The bus connection was lost: every name that held a reference is gone with it."""
        for name in self._names:
            self.manager.transient.release(name)
        self._names.clear()


def _kind(name: str) -> UnitKind:
    if not unitname.is_valid(name, template=False):
        raise errors.invalid_args("Invalid unit name or type.")
    kind = unitname.kind_of(name)
    if kind not in TRANSIENT_KINDS:
        raise errors.invalid_args(f"Unit type {kind.value if kind else '?'} does not support transient units.")
    return kind


class TransientMethods:
    manager: Manager
    subscriptions: Subscriptions

    def __init__(self) -> None:
        self.client_refs = ClientRefs(self.manager, self.subscriptions)
        super().__init__()

    @method("StartTransientUnit")
    async def start_transient_unit(self, call: Call, m: Manager, name: str, mode: str, props: list[Any],
                                   aux: list[Any]) -> str:
        from sysmasterd.bus.manager_iface import job_mode

        mode_value = job_mode(mode)
        fds = call.msg.unix_fds
        units = [(name, convert(_kind(name), props, fds))]
        units += [(aux_name, convert(_kind(aux_name), aux_props, fds)) for aux_name, aux_props in aux]
        for unit_name, settings in units:
            if unitname.kind_of(unit_name) is UnitKind.SCOPE and not settings.pids:
                raise errors.invalid_args("Scope has no PIDs. Refusing.")
        await call.authorize(actions.MANAGE_UNITS)
        for unit_name, _ in units:  # again: the world may have moved while we waited for polkit
            m.transient.check_pristine(unit_name)
        written: list[str] = []
        try:
            for unit_name, settings in units:
                m.transient.write(unit_name, settings.text(unit_name))
                written.append(unit_name)
            loaded = [m.transient.load(unit_name) for unit_name, _ in units]
        except BaseException as exc:
            for unit_name in written:
                m.transient.discard(unit_name)
            if isinstance(exc, OSError):
                raise errors.bus_error(errors.FAILED, f"Failed to write transient unit: {exc.strerror}") from None
            raise
        for u, (_, settings) in zip(loaded, units, strict=True):
            if settings.pids:
                m.transient.start_pids[u.id] = settings.pids
            if settings.stdio_fds:
                m.transient.keep_stdio(u, settings.stdio_fds)
            if settings.add_ref or not call.conn.is_bus:
                m.transient.ref(u, self.client_refs.token(call))
        self.client_refs.changed()
        job = m.engine.add_job(name, JobType.START, mode_value)
        return job.path

    @method("RefUnit")
    async def ref_unit(self, call: Call, m: Manager, name: str) -> None:
        # As systemd: loaded on demand and refused unless it loaded well (systemctl freeze and
        # clean ref their unit first, often one that was collected since it ran).
        if not unitname.is_valid(name, template=False):
            raise errors.invalid_args(f"Unit name {name} is not valid.")
        u = m.load_unit(name)
        u.check_loaded_for_job()
        await call.authorize(actions.MANAGE_UNITS)
        m.transient.ref(u, self.client_refs.token(call))
        self.client_refs.changed()

    @method("UnrefUnit")
    async def unref_unit(self, call: Call, m: Manager, name: str) -> None:
        u = self._loaded(m, name)
        await call.authorize(actions.MANAGE_UNITS)
        m.transient.unref(u, call.msg.sender if call.conn.is_bus else call.conn)
        self.client_refs.changed()

    @method("AbandonScope")
    async def abandon_scope(self, call: Call, m: Manager, name: str) -> None:
        from sysmasterd.bus.scope_iface import abandon

        await abandon(call, self._loaded(m, name))

    @method("AttachProcessesToUnit")
    async def attach_processes_to_unit(self, call: Call, m: Manager, name: str, subcgroup: str,
                                       pids: list[int]) -> None:
        from sysmasterd.units.scope import attach_pids

        u = self._loaded(m, name)
        if subcgroup and (subcgroup.startswith("/") is False or ".." in subcgroup.split("/")):
            raise errors.invalid_args("Control group path is not valid: " + subcgroup)
        if not u.active_state.is_active_or_activating() or u.kind not in (UnitKind.SERVICE, UnitKind.SCOPE):
            raise errors.bus_error(errors.PREFIX + "UnitInactive",
                                   f"Unit {name} is not active, cannot attach processes.")
        await call.authorize(actions.MANAGE_UNITS)
        for pid in pids:
            if pid <= 0 or not os.path.exists(f"/proc/{pid}"):
                raise errors.bus_error(errors.NO_SUCH_PROCESS, f"Process {pid} does not exist.")
        failed = attach_pids(u, list(pids), subcgroup)
        if failed:
            raise errors.bus_error(errors.FAILED, f"Failed to attach process {failed[0]} to the unit.")

    def _loaded(self, m: Manager, name: str) -> Unit:
        if not unitname.is_valid(name, template=False):
            raise errors.invalid_args(f"Unit name {name} is not valid.")
        u = m.get_unit(name)
        if u is None:
            raise errors.bus_error(errors.NO_SUCH_UNIT, f"Unit {name} not loaded.")
        return u


def close_message_fds(msg: Message) -> None:
    """The descriptors a call carried, once it was handled: whoever keeps one made its own copy."""
    for fd in msg.unix_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    msg.unix_fds = []

