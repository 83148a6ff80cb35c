"""[Socket] directives -> SocketSection, the listen addresses as systemd 252 parses and prints them,
and the checks systemd applies once a socket unit is loaded (socket_verify)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from compat.config_exec import valid_user_group_name
from compat.model import ExecCommand, UnitConfig
from compat.settings import Handler, Invalid, ParseContext, checked_path, exec_list, plain, setter
from compat.values import (
    parse_boolean,
    parse_int,
    parse_mode,
    parse_sec_fix_0,
    parse_size,
    parse_timespan,
    parse_unsigned,
)

# systemd's defaults (socket_init): SOMAXCONN_DELUXE, and the trigger limit picked in
# socket_add_extras: a low burst for Accept=no, where the service must drain the queue itself.
DEFAULT_BACKLOG = (1 << 31) - 1
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_TRIGGER_LIMIT_INTERVAL_USEC = 2_000_000
DEFAULT_TRIGGER_LIMIT_BURST = 20
DEFAULT_TRIGGER_LIMIT_BURST_ACCEPT = 200
UNIX_PATH_MAX = 108
VMADDR_CID_ANY = 0xFFFFFFFF

# Listen*= kinds as the D-Bus Listen property and `systemctl status` name them.
STREAM, DATAGRAM, SEQPACKET = "Stream", "Datagram", "SequentialPacket"
FIFO, SPECIAL, MQUEUE, NETLINK = "FIFO", "Special", "MessageQueue", "Netlink"
_SOCK_TYPES = {STREAM: socket.SOCK_STREAM, DATAGRAM: socket.SOCK_DGRAM, SEQPACKET: socket.SOCK_SEQPACKET}
_DIRECTIVE_KIND = {"ListenStream": STREAM, "ListenDatagram": DATAGRAM, "ListenSequentialPacket": SEQPACKET,
                   "ListenFIFO": FIFO, "ListenSpecial": SPECIAL, "ListenMessageQueue": MQUEUE,
                   "ListenNetlink": NETLINK}

# systemd's netlink_family table (the names ListenNetlink= takes).
NETLINK_FAMILIES = {
    "route": 0, "firewall": 3, "inet-diag": 4, "nflog": 5, "xfrm": 6, "selinux": 7, "iscsi": 8, "audit": 9,
    "fib-lookup": 10, "connector": 11, "netfilter": 12, "ip6-fw": 13, "dnrtmsg": 14, "kobject-uevent": 15,
    "generic": 16, "scsitransport": 18, "ecryptfs": 19, "rdma": 20,
}  # fmt: skip


@dataclass(frozen=True)
class ListenPort:
    """One Listen*= entry. `family` is 0 for FIFO/Special/MessageQueue, which use `path` only."""

    kind: str  # STREAM ... NETLINK
    family: int = 0
    path: str = ""  # AF_UNIX (a leading NUL: abstract), or the FIFO/special file/queue name
    host: str = ""  # AF_INET/AF_INET6 address, as given (normalized)
    port: int = 0  # also the vsock port
    cid: int = VMADDR_CID_ANY  # AF_VSOCK
    group: int = 0  # AF_NETLINK multicast group; the protocol is in `port`

    @property
    def sock_type(self) -> int:
        if self.family == socket.AF_NETLINK:
            return socket.SOCK_RAW
        return _SOCK_TYPES.get(self.kind, 0)

    @property
    def is_socket(self) -> bool:
        return self.family != 0

    @property
    def can_accept(self) -> bool:
        """socket_address_can_accept(): connection-oriented sockets."""
        return self.family != socket.AF_NETLINK and self.kind in (STREAM, SEQPACKET)

    @property
    def fs_path(self) -> str | None:
        """The file-system node the port creates, if any (what SocketUser=, Symlinks= act on)."""
        if self.family == socket.AF_UNIX:
            return self.path if not self.path.startswith("\0") else None
        return self.path if self.kind in (FIFO, SPECIAL) else None

    def address(self) -> str:
        """socket_address_print(), as the Listen property and `systemctl status` show it."""
        if self.family == socket.AF_UNIX:
            return "@" + self.path[1:] if self.path.startswith("\0") else self.path
        if self.family == socket.AF_INET:
            return f"{self.host}:{self.port}"
        if self.family == socket.AF_INET6:
            return f"[{self.host}]:{self.port}"
        if self.family == socket.AF_VSOCK:
            return f"vsock:{self.cid}:{self.port}"
        if self.family == socket.AF_NETLINK:
            name = next((n for n, v in NETLINK_FAMILIES.items() if v == self.port), str(self.port))
            return f"{name} {self.group}"
        return self.path


def parse_socket_address(text: str, kind: str) -> ListenPort:
    """socket_address_parse(): a path, `@abstract`, `vsock:CID:PORT`, `[v6]:PORT`, `v4:PORT` or a
    bare port (IPv6 any, dual-stack unless BindIPv6Only= says otherwise). ValueError if bad."""
    if text.startswith("/"):
        if len(text.encode()) >= UNIX_PATH_MAX:
            raise ValueError("path too long")
        return ListenPort(kind, socket.AF_UNIX, path=text)
    if text.startswith("@"):
        if len(text.encode()) > UNIX_PATH_MAX:
            raise ValueError("path too long")
        return ListenPort(kind, socket.AF_UNIX, path="\0" + text[1:])
    if text.startswith("vsock:"):
        cid, sep, port = text[6:].rpartition(":")
        if not sep:
            cid, port = "", text[6:]
        return ListenPort(kind, socket.AF_VSOCK, port=_port(port, allow_zero=True),
                          cid=int(cid) if cid else VMADDR_CID_ANY)
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError("bad IPv6 address")
        return ListenPort(kind, socket.AF_INET6, host=str(ipaddress.IPv6Address(host)), port=_port(port))
    if ":" in text:
        host, _, port = text.rpartition(":")
        return ListenPort(kind, socket.AF_INET, host=str(ipaddress.IPv4Address(host)), port=_port(port))
    if socket.has_ipv6:
        return ListenPort(kind, socket.AF_INET6, host="::", port=_port(text))
    return ListenPort(kind, socket.AF_INET, host="0.0.0.0", port=_port(text))


def _port(text: str, allow_zero: bool = False) -> int:
    if not text.isdigit():
        raise ValueError("bad port")
    port = int(text)
    if port > 65535 or (port == 0 and not allow_zero):
        raise ValueError("port out of range")
    return port


def parse_netlink(text: str) -> ListenPort:
    """`FAMILY [GROUP]` (socket_address_parse_netlink)."""
    words = text.split()
    if not 1 <= len(words) <= 2:
        raise ValueError("bad netlink address")
    family = NETLINK_FAMILIES.get(words[0])
    if family is None:
        family = int(words[0]) if words[0].isdigit() else -1
    if family < 0:
        raise ValueError("unknown netlink family")
    group = int(words[1]) if len(words) == 2 and words[1].isdigit() else 0
    if len(words) == 2 and not words[1].isdigit():
        raise ValueError("bad netlink group")
    return ListenPort(NETLINK, socket.AF_NETLINK, port=family, group=group)


@dataclass
class SocketSection:
    ports: list[ListenPort] = field(default_factory=list)  # in file order: the fds' order
    exec_start_pre: list[ExecCommand] = field(default_factory=list)
    exec_start_post: list[ExecCommand] = field(default_factory=list)
    exec_stop_pre: list[ExecCommand] = field(default_factory=list)
    exec_stop_post: list[ExecCommand] = field(default_factory=list)
    timeout_usec: int | None = None  # None: the manager's DefaultTimeoutStartSec=
    bind_ipv6_only: str = "default"  # default | both | ipv6-only
    backlog: int = DEFAULT_BACKLOG
    bind_to_device: str = ""
    socket_user: str = ""
    socket_group: str = ""
    socket_mode: int = 0o666
    directory_mode: int = 0o755
    accept: bool = False
    flush_pending: bool = False
    writable: bool = False
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_connections_per_source: int = 0
    keep_alive: bool = False
    keep_alive_time_usec: int = 0
    keep_alive_interval_usec: int = 0
    keep_alive_probes: int = 0
    defer_accept_usec: int = 0
    no_delay: bool = False
    priority: int = -1
    receive_buffer: int = 0
    send_buffer: int = 0
    iptos: int = -1
    ipttl: int = -1
    mark: int = -1
    pipe_size: int = 0
    free_bind: bool = False
    transparent: bool = False
    broadcast: bool = False
    pass_credentials: bool = False
    pass_security: bool = False
    pass_packet_info: bool = False
    timestamping: str = "off"  # off | us | ns
    tcp_congestion: str = ""
    reuse_port: bool = False
    message_queue_max_messages: int = 0
    message_queue_message_size: int = 0
    remove_on_stop: bool = False
    symlinks: list[str] = field(default_factory=list)
    file_descriptor_name: str = ""  # "": the unit's name
    service: str | None = None  # Service=; None: the .service of the same name
    socket_protocol: int = 0  # IPPROTO_SCTP / IPPROTO_UDPLITE, or 0
    trigger_limit_interval_usec: int | None = None
    trigger_limit_burst: int | None = None

    def trigger_limit(self) -> tuple[int, int]:
        """(interval usec, burst) with systemd's defaults filled in."""
        interval = self.trigger_limit_interval_usec
        burst = self.trigger_limit_burst
        if burst is None:
            burst = DEFAULT_TRIGGER_LIMIT_BURST_ACCEPT if self.accept else DEFAULT_TRIGGER_LIMIT_BURST
        return (DEFAULT_TRIGGER_LIMIT_INTERVAL_USEC if interval is None else interval), burst

    def has_non_accept_port(self) -> bool:
        """have_non_accept_socket(): whether one service takes all ports (Accept=no semantics)."""
        return not self.accept or any(not p.can_accept for p in self.ports)


def _socket(cfg: UnitConfig) -> SocketSection:
    assert cfg.socket is not None  # handlers of this table only run for .socket units
    return cfg.socket


def _listen(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    section = _socket(cfg)
    if value == "":
        section.ports.clear()
        return
    key = ctx.current.key if ctx.current else "ListenStream"
    kind = _DIRECTIVE_KIND[key]
    text = ctx.printf(value)
    try:
        if kind == NETLINK:
            port = parse_netlink(text)
        elif kind in (FIFO, SPECIAL):
            port = ListenPort(kind, path=checked_path(text, key))
        elif kind == MQUEUE:
            if not text.startswith("/") or "/" in text[1:]:
                raise ValueError("bad queue name")
            port = ListenPort(kind, path=text)
        else:
            port = parse_socket_address(text, kind)
            if kind == SEQPACKET and port.family != socket.AF_UNIX:
                raise ValueError("sequential packets need AF_UNIX")
    except ValueError:
        raise Invalid(f"Failed to parse address value in '{value}', ignoring", complete=True) from None
    section.ports.append(port)


def _bind_ipv6_only(value: str, ctx: ParseContext) -> str:
    if value in ("default", "both", "ipv6-only"):
        return value
    try:
        return "ipv6-only" if parse_boolean(value) else "both"
    except ValueError:
        raise Invalid("Failed to parse bind IPv6 only value") from None


def _timestamping(value: str, ctx: ParseContext) -> str:
    words = {"off": "off", "us": "us", "usec": "us", "μs": "us", "ns": "ns", "nsec": "ns"}
    if value not in words:
        raise Invalid("Failed to parse timestamping precision")
    return words[value]


def _socket_protocol(value: str, ctx: ParseContext) -> int:
    protocols = {"udplite": socket.IPPROTO_UDPLITE, "sctp": socket.IPPROTO_SCTP}
    if value not in protocols:
        raise Invalid("Failed to parse socket protocol")
    return protocols[value]


def _user_group(value: str, ctx: ParseContext) -> str:
    name = ctx.printf(value)
    if name and not valid_user_group_name(name):
        raise Invalid(f"Invalid user/group name or numeric ID, ignoring: {name}", complete=True)
    return name


def _fd_name(value: str, ctx: ParseContext) -> str:
    name = ctx.printf(value)
    if name and (len(name) > 255 or ":" in name or not all(" " < c < "\x7f" for c in name)):
        raise Invalid(f"Invalid file descriptor name, ignoring: {name}", complete=True)
    return name


def _service(value: str, ctx: ParseContext) -> str:
    name = ctx.name_printf(value)
    if not name.endswith(".service"):
        raise Invalid(f"Unit must be of type service, ignoring: {value}", complete=True)
    return name


def _symlinks(cfg: UnitConfig, value: str, ctx: ParseContext) -> None:
    section = _socket(cfg)
    if value == "":
        section.symlinks.clear()
        return
    for word in value.split():
        section.symlinks.append(checked_path(ctx.printf(word), "Symlinks"))


def _iptos(value: str, ctx: ParseContext) -> int:
    names = {"low-delay": 0x10, "throughput": 0x08, "reliability": 0x04, "low-cost": 0x02}
    if value in names:
        return names[value]
    return _int(0, 0xFF)(value, ctx)


def _int(lo: int, hi: int) -> Callable[[str, ParseContext], int]:
    return plain(lambda v: parse_int(v, lo, hi), "Failed to parse integer value")


_bool = plain(parse_boolean, "Failed to parse boolean value")
_sec = plain(parse_timespan, "Failed to parse sec value")
_unsigned = plain(parse_unsigned, "Failed to parse unsigned integer value")
_size = plain(parse_size, "Failed to parse size value")


def _flag(attr: str) -> Handler:
    return setter(_socket, attr, _bool)


SOCKET_HANDLERS: dict[str, Handler] = {
    **{key: _listen for key in _DIRECTIVE_KIND},
    "ExecStartPre": exec_list(_socket, "exec_start_pre"),
    "ExecStartPost": exec_list(_socket, "exec_start_post"),
    "ExecStopPre": exec_list(_socket, "exec_stop_pre"),
    "ExecStopPost": exec_list(_socket, "exec_stop_post"),
    "TimeoutSec": setter(_socket, "timeout_usec", plain(parse_sec_fix_0, "Failed to parse sec value")),
    "BindIPv6Only": setter(_socket, "bind_ipv6_only", _bind_ipv6_only),
    "Backlog": setter(_socket, "backlog", _unsigned),
    "BindToDevice": setter(_socket, "bind_to_device", lambda v, ctx: ctx.printf(v), reset=True),
    "SocketUser": setter(_socket, "socket_user", _user_group, reset=True),
    "SocketGroup": setter(_socket, "socket_group", _user_group, reset=True),
    "SocketMode": setter(_socket, "socket_mode", plain(parse_mode, "Failed to parse mode value")),
    "DirectoryMode": setter(_socket, "directory_mode", plain(parse_mode, "Failed to parse mode value")),
    "Accept": _flag("accept"),
    "FlushPending": _flag("flush_pending"),
    "Writable": _flag("writable"),
    "MaxConnections": setter(_socket, "max_connections", _unsigned),
    "MaxConnectionsPerSource": setter(_socket, "max_connections_per_source", _unsigned),
    "KeepAlive": _flag("keep_alive"),
    "KeepAliveTimeSec": setter(_socket, "keep_alive_time_usec", _sec),
    "KeepAliveIntervalSec": setter(_socket, "keep_alive_interval_usec", _sec),
    "KeepAliveProbes": setter(_socket, "keep_alive_probes", _unsigned),
    "DeferAcceptSec": setter(_socket, "defer_accept_usec", _sec),
    "NoDelay": _flag("no_delay"),
    "Priority": setter(_socket, "priority", _int(-(1 << 31), (1 << 31) - 1)),
    "ReceiveBuffer": setter(_socket, "receive_buffer", _size),
    "SendBuffer": setter(_socket, "send_buffer", _size),
    "IPTOS": setter(_socket, "iptos", _iptos),
    "IPTTL": setter(_socket, "ipttl", _int(0, 255)),
    "Mark": setter(_socket, "mark", _int(-(1 << 31), (1 << 31) - 1)),
    "PipeSize": setter(_socket, "pipe_size", _size),
    "FreeBind": _flag("free_bind"),
    "Transparent": _flag("transparent"),
    "Broadcast": _flag("broadcast"),
    "PassCredentials": _flag("pass_credentials"),
    "PassSecurity": _flag("pass_security"),
    "PassPacketInfo": _flag("pass_packet_info"),
    "Timestamping": setter(_socket, "timestamping", _timestamping),
    "TCPCongestion": setter(_socket, "tcp_congestion", lambda v, ctx: v, reset=True),
    "ReusePort": _flag("reuse_port"),
    "MessageQueueMaxMessages": setter(_socket, "message_queue_max_messages", _int(0, (1 << 63) - 1)),
    "MessageQueueMessageSize": setter(_socket, "message_queue_message_size", _int(0, (1 << 63) - 1)),
    "RemoveOnStop": _flag("remove_on_stop"),
    "Symlinks": _symlinks,
    "FileDescriptorName": setter(_socket, "file_descriptor_name", _fd_name, reset=True),
    "Service": setter(_socket, "service", _service),
    "SocketProtocol": setter(_socket, "socket_protocol", _socket_protocol),
    "TriggerLimitIntervalSec": setter(_socket, "trigger_limit_interval_usec", _sec),
    "TriggerLimitBurst": setter(_socket, "trigger_limit_burst", _unsigned),
}


def service_name(cfg: UnitConfig) -> str | None:
    """The one service an Accept=no socket activates: Service=, else the one of the same name;
    None for Accept=yes (a new instance per connection)."""
    s = _socket(cfg)
    if not s.has_non_accept_port():
        return None
    return s.service or cfg.name.rsplit(".", 1)[0] + ".service"


def verify_socket(cfg: UnitConfig) -> str | None:
    """systemd's socket_verify(): the reason a loaded socket unit is refused, or None."""
    s = _socket(cfg)
    if not s.ports:
        return "Unit has no Listen setting (ListenStream=, ListenDatagram=, ListenFIFO=, ...). Refusing."
    if s.accept and any(not p.can_accept for p in s.ports):
        return "Unit configured for accepting sockets, but sockets are non-accepting. Refusing."
    if s.accept and s.max_connections <= 0:
        return "MaxConnection= setting too small. Refusing."
    if s.accept and s.service:
        return "Explicit service configuration for accepting socket units not supported. Refusing."
    if s.symlinks and len([p for p in s.ports if p.kind != SPECIAL and p.fs_path]) != 1:
        return "Unit has symlinks set but none or more than one node in the file system. Refusing."
    return None
