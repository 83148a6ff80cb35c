"""Routes method calls from any connection to the interface implementations of the addressed object.

Handles the standard interfaces itself (Properties with GetAll("") merging, Introspectable, Peer)
and turns every failure into a D-Bus error reply: bad arguments never reach the model unchecked
and no exception escapes to the connection.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import DBusError, Message, MessageFlag, SignatureTree, Variant

from sysmasterd.bus import errors, spec
from sysmasterd.bus.connection import Connection
from sysmasterd.bus.fairness import Fairness
from sysmasterd.bus.iface import Interface
from sysmasterd.bus.selfpath import SELF_PATH, UnitPathOfPid, resolve_self
from sysmasterd.bus.transient_methods import close_message_fds

log = logging.getLogger(__name__)

PROPERTIES = "org.freedesktop.DBus.Properties"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
PEER = "org.freedesktop.DBus.Peer"
_STANDARD = [PEER, INTROSPECTABLE, PROPERTIES]
UID_CACHE = 1024


@dataclass
class BusObject:
    """What a path resolved to: the model object and the interfaces it answers on."""

    target: Any
    interfaces: list[Interface]
    children: tuple[str, ...] = ()

    def find(self, name: str) -> Interface | None:
        for iface in self.interfaces:
            if iface.name == name:
                return iface
        return None


Resolver = Callable[[str], BusObject | None]
Authorizer = Callable[["Call", str], Any]  # async: raises AccessDenied


@dataclass
class Call:
    """One incoming method call and where it came from."""

    conn: Connection
    msg: Message
    router: Router
    _uid: int | None = field(default=None, repr=False)

    async def caller_uid(self) -> int:
        if self._uid is None:
            if self.conn.peer_uid is not None:
                self._uid = self.conn.peer_uid
            elif self.msg.sender in self.router.uids:
                self._uid = self.router.uids[self.msg.sender]
            else:
                reply = await self.conn.call(
                    Message(
                        destination="org.freedesktop.DBus",
                        path="/org/freedesktop/DBus",
                        interface="org.freedesktop.DBus",
                        member="GetConnectionUnixUser",
                        signature="s",
                        body=[self.msg.sender],
                    )
                )
                if reply.error_name:
                    raise errors.bus_error(errors.ACCESS_DENIED, "Cannot determine the caller.")
                self._uid = int(reply.body[0])
                self.router.remember_uid(self.msg.sender, self._uid)
        return self._uid

    async def authorize(self, action: str) -> None:
        await self.router.authorize(self, action)


def _machine_id() -> str:
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            continue
    return ""


class Router:
    def __init__(self, resolve: Resolver, authorize: Authorizer) -> None:
        self.resolve = resolve
        self._authorize = authorize
        self._tasks: set[asyncio.Task[None]] = set()
        # The unit path of a PID, for calls on /org/freedesktop/systemd1/unit/self.
        self.unit_path_of_pid: UnitPathOfPid | None = None
        self.fairness = Fairness()
        # Unique bus names are never reused, so a name's uid stays true while the name lives.
        self.uids: dict[str | None, int] = {}

    def remember_uid(self, sender: str | None, uid: int) -> None:
        if len(self.uids) >= UID_CACHE:
            del self.uids[next(iter(self.uids))]
        self.uids[sender] = uid

    async def authorize(self, call: Call, action: str) -> None:
        await self._authorize(call, action)

    # --- entry point -------------------------------------------------------------------------

    def handle(self, conn: Connection, msg: Message) -> None:
        if msg.path == SELF_PATH and self.unit_path_of_pid is not None:
            task = asyncio.ensure_future(self._handle_self(conn, msg, self.unit_path_of_pid))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        call = Call(conn, msg, self)
        try:
            result = self._dispatch(call)
        except Exception as exc:
            close_message_fds(msg)
            self._reply_error(call, exc)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(self._finish(call, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        close_message_fds(msg)
        if result is not None:
            self._reply(call, result)

    async def _handle_self(self, conn: Connection, msg: Message, unit_path_of_pid: UnitPathOfPid) -> None:
        try:
            await resolve_self(conn, msg, unit_path_of_pid)
        except Exception as exc:
            close_message_fds(msg)
            self._reply_error(Call(conn, msg, self), exc)
            return
        self.handle(conn, msg)

    async def _finish(self, call: Call, pending: Any) -> None:
        try:
            reply = await pending
        except Exception as exc:
            self._reply_error(call, exc)
            return
        finally:
            close_message_fds(call.msg)
        if reply is not None:
            self._reply(call, reply)

    def _reply(self, call: Call, reply: Message) -> None:
        if not call.msg.flags & MessageFlag.NO_REPLY_EXPECTED:
            call.conn.send(reply)

    def _reply_error(self, call: Call, exc: Exception) -> None:
        error = errors.from_exception(exc)
        if error is None:
            log.exception("%s.%s failed", call.msg.interface, call.msg.member, exc_info=exc)
            error = DBusError(errors.FAILED, f"Internal error: {type(exc).__name__}.")
        self._reply(call, error._as_message(call.msg))

    # --- dispatch ----------------------------------------------------------------------------

    def _dispatch(self, call: Call) -> Any:
        msg = call.msg
        obj = self.resolve(msg.path or "/")
        if obj is None:
            raise errors.bus_error(errors.UNKNOWN_OBJECT, f"Unknown object '{msg.path}'.")
        iface_name = msg.interface
        if iface_name == PROPERTIES:
            return self._properties(call, obj)
        if iface_name == INTROSPECTABLE and msg.member == "Introspect":
            names = _STANDARD + [i.name for i in obj.interfaces]
            return Message.new_method_return(msg, "s", [spec.node_xml(names, obj.children)])
        if iface_name == PEER or (iface_name is None and msg.member in ("Ping", "GetMachineId")):
            if msg.member == "Ping":
                return Message.new_method_return(msg)
            if msg.member == "GetMachineId":
                return Message.new_method_return(msg, "s", [_machine_id()])
        candidates = [i for i in obj.interfaces if iface_name in (None, i.name)]
        for iface in candidates:
            mspec = iface.spec.methods.get(msg.member or "")
            if mspec is None:
                continue
            if msg.signature != mspec.in_signature:
                raise errors.invalid_args(
                    f"Invalid arguments '{msg.signature}' to call {iface.name}.{msg.member}(), "
                    f"expecting '{mspec.in_signature}'."
                )
            handler = iface.methods.get(mspec.name)
            if handler is None:
                raise errors.not_supported(f"{iface.name}.{mspec.name}")
            result = handler(call, obj.target, *msg.body)
            if inspect.isawaitable(result):
                return self._wrap(msg, mspec.out_signature, result)
            return _method_return(msg, mspec.out_signature, result)
        raise errors.bus_error(
            errors.UNKNOWN_METHOD,
            f"Unknown method {msg.member} or interface {iface_name}.",
        )

    async def _wrap(self, msg: Message, out_signature: str, pending: Any) -> Message:
        return _method_return(msg, out_signature, await pending)

    def _properties(self, call: Call, obj: BusObject) -> Any:
        msg = call.msg
        member, sig, body = msg.member, msg.signature, msg.body
        if member == "GetAll" and sig == "s":
            values: dict[str, Variant] = {}
            if body[0] == "":
                for iface in obj.interfaces:
                    iface.get_all(obj.target, values)
            else:
                found = obj.find(body[0])
                if found is not None:
                    found.get_all(obj.target, values)
                elif body[0] not in _STANDARD:
                    raise errors.bus_error(errors.UNKNOWN_INTERFACE, f"Unknown interface {body[0]}.")
            return Message.new_method_return(msg, "a{sv}", [values])
        if member == "Get" and sig == "ss":
            iface = self._property_owner(obj, body[0], body[1])
            return Message.new_method_return(msg, "v", [iface.get(obj.target, body[1])])
        if member == "Set" and sig == "ssv":
            iface = self._property_owner(obj, body[0], body[1])
            handler = iface.setters.get(body[1])
            if handler is None:
                raise errors.bus_error(errors.PROPERTY_READ_ONLY, f"Property {body[1]} is read-only.")
            expected = iface.spec.properties[body[1]].signature
            if body[2].signature != expected:
                raise errors.invalid_args(f"Property {body[1]} expects type '{expected}'.")
            result = handler(call, obj.target, body[2].value)
            if inspect.isawaitable(result):
                return self._wrap(msg, "", result)
            return Message.new_method_return(msg)
        raise errors.invalid_args(f"Invalid arguments '{sig}' to call {PROPERTIES}.{member}().")

    def _property_owner(self, obj: BusObject, iface_name: str, prop: str) -> Interface:
        for iface in obj.interfaces:
            if iface_name in ("", iface.name) and prop in iface.spec.properties:
                return iface
        where = iface_name or "any interface"
        raise errors.bus_error(errors.UNKNOWN_PROPERTY, f"Unknown property {prop} in {where}.")


def _method_return(msg: Message, out_signature: str, result: Any) -> Message:
    if out_signature == "":
        body: list[Any] = []
    elif len(SignatureTree(out_signature).types) == 1:
        body = [result]
    else:
        body = list(result)
    # A handler answers an 'h' with an fd it gives away: it travels in the message's fd array.
    fds: list[int] = []
    for i, t in enumerate(SignatureTree(out_signature).types):
        if t.token == "h":
            fds.append(body[i])
            body[i] = len(fds) - 1
    return Message.new_method_return(msg, out_signature, body, fds)
