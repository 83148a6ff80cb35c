"""Opening and closing the listen ports of a socket unit (socket_address_listen(), the FIFO,
special file and message queue creators, socket options and symlinks of systemd's socket.c).

Everything here is a syscall away from the kernel; the state machine is in units/socket.py."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import socket
import stat
from collections.abc import Callable
from typing import Any

from compat.config_socket import FIFO, MQUEUE, SPECIAL, ListenPort, SocketSection

log = logging.getLogger("sysmasterd")

# Options Python's socket module does not name.
SO_PASSSEC = 34
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
IP_FREEBIND = 15
IPV6_FREEBIND = 78
IP_TRANSPARENT = 19
IPV6_TRANSPARENT = 75
IPV6_RECVPKTINFO = 49
NETLINK_PKTINFO = 3
SOL_NETLINK = 270
TCP_CONGESTION = 13
IP_PKTINFO = 8
SO_TIMESTAMP = 29
SO_TIMESTAMPNS = 35


def open_port(p: ListenPort, cfg: SocketSection, warn: Callable[[str], None]) -> int:
    """The listening fd of one port (non-blocking, close-on-exec). OSError if it cannot be had."""
    if p.kind == FIFO:
        return _fifo(p.path, cfg)
    if p.kind == SPECIAL:
        return _special(p.path, cfg.writable)
    if p.kind == MQUEUE:
        return _mqueue(p.path, cfg)
    protocol = cfg.socket_protocol if cfg.socket_protocol in (socket.IPPROTO_SCTP, socket.IPPROTO_UDPLITE) else 0
    if p.family == socket.AF_NETLINK:
        protocol = p.port
    s = socket.socket(p.family, p.sock_type | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, protocol)
    try:
        _prepare(s, p, cfg, warn)
        if p.family == socket.AF_UNIX and not p.path.startswith("\0"):
            _bind_path(s, p.path, cfg)
        else:
            s.bind(_sockaddr(p))
        if p.can_accept:
            s.listen(min(cfg.backlog, (1 << 31) - 1))
        return s.detach()
    except OSError:
        s.close()
        raise


def _sockaddr(p: ListenPort) -> tuple[Any, ...] | bytes:
    if p.family == socket.AF_UNIX:
        return p.path.encode()
    if p.family == socket.AF_INET:
        return (p.host, p.port)
    if p.family == socket.AF_INET6:
        return (p.host, p.port, 0, 0)
    if p.family == socket.AF_VSOCK:
        return (p.cid, p.port)
    return (0, p.group)  # netlink: our port id chosen by the kernel, the multicast groups


def _prepare(s: socket.socket, p: ListenPort, cfg: SocketSection, warn: Callable[[str], None]) -> None:
    """What socket_address_listen() sets before bind()."""
    inet = p.family in (socket.AF_INET, socket.AF_INET6)
    if p.family == socket.AF_INET6 and cfg.bind_ipv6_only != "default":
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(cfg.bind_ipv6_only == "ipv6-only"))
    if inet:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if cfg.reuse_port:
        _opt(s, socket.SOL_SOCKET, socket.SO_REUSEPORT, 1, "SO_REUSEPORT", warn)
    if cfg.free_bind and inet:
        level, name = (socket.IPPROTO_IP, IP_FREEBIND) if p.family == socket.AF_INET else (
            socket.IPPROTO_IPV6, IPV6_FREEBIND)
        _opt(s, level, name, 1, "IP_FREEBIND", warn)
    if cfg.transparent and inet:
        level, name = (socket.IPPROTO_IP, IP_TRANSPARENT) if p.family == socket.AF_INET else (
            socket.IPPROTO_IPV6, IPV6_TRANSPARENT)
        s.setsockopt(level, name, 1)  # systemd fails the port when this is refused
    if cfg.bind_to_device:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, cfg.bind_to_device.encode())


def _bind_path(s: socket.socket, path: str, cfg: SocketSection) -> None:
    _mkdir_parents(path, cfg.directory_mode)
    # A stale node of an earlier run is in the way; only sockets are removed, never other files.
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    old = os.umask(~cfg.socket_mode & 0o777)
    try:
        s.bind(path)
    finally:
        os.umask(old)


def _mkdir_parents(path: str, mode: int) -> None:
    parent = os.path.dirname(path)
    missing = []
    while parent and parent != "/" and not os.path.isdir(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, mode)


def _fifo(path: str, cfg: SocketSection) -> int:
    _mkdir_parents(path, cfg.directory_mode)
    old = os.umask(~cfg.socket_mode & 0o777)
    try:
        os.mkfifo(path, cfg.socket_mode)
    except FileExistsError:
        pass
    finally:
        os.umask(old)
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK | os.O_NOFOLLOW)
    st = os.fstat(fd)
    if not stat.S_ISFIFO(st.st_mode) or st.st_uid != os.getuid() or st.st_gid != os.getgid():
        os.close(fd)
        raise OSError(errno.EEXIST, f"{path} exists and is not our FIFO")
    if cfg.pipe_size:
        try:
            import fcntl

            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, cfg.pipe_size)
        except OSError as e:
            log.warning("Setting pipe size failed, ignoring: %s", e.strerror)
    return fd


def _special(path: str, writable: bool) -> int:
    fd = os.open(path, (os.O_RDWR if writable else os.O_RDONLY) | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK
                 | os.O_NOFOLLOW)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISCHR(st.st_mode):
        os.close(fd)
        raise OSError(errno.EEXIST, f"{path} is not a regular file or character device")
    return fd


class _MqAttr(ctypes.Structure):
    _fields_ = [("mq_flags", ctypes.c_long), ("mq_maxmsg", ctypes.c_long), ("mq_msgsize", ctypes.c_long),
                ("mq_curmsgs", ctypes.c_long), ("reserved", ctypes.c_long * 4)]


def _librt() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("rt") or "librt.so.1", use_errno=True)


def _mqueue(name: str, cfg: SocketSection) -> int:
    rt = _librt()
    attr = None
    if cfg.message_queue_max_messages > 0 and cfg.message_queue_message_size > 0:
        attr = ctypes.byref(_MqAttr(os.O_NONBLOCK, cfg.message_queue_max_messages, cfg.message_queue_message_size))
    old = os.umask(~cfg.socket_mode & 0o777)
    try:
        fd = rt.mq_open(name.encode(), os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_CREAT,
                        ctypes.c_uint(cfg.socket_mode), attr)
    finally:
        os.umask(old)
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return int(fd)


def apply_options(fd: int, p: ListenPort, cfg: SocketSection, warn: Callable[[str], None]) -> None:
    """socket_apply_socket_options(): each refused option is a warning, not a failure."""
    if not p.is_socket:
        return
    s = socket.socket(fileno=fd)
    try:
        tcp = p.family in (socket.AF_INET, socket.AF_INET6) and p.sock_type == socket.SOCK_STREAM
        if cfg.keep_alive:
            _opt(s, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1, "SO_KEEPALIVE", warn)
        for usec, name, label in ((cfg.keep_alive_time_usec, socket.TCP_KEEPIDLE, "TCP_KEEPIDLE"),
                                  (cfg.keep_alive_interval_usec, socket.TCP_KEEPINTVL, "TCP_KEEPINTVL"),
                                  (cfg.defer_accept_usec, socket.TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT")):
            if usec and tcp:
                _opt(s, socket.IPPROTO_TCP, name, usec // 1_000_000, label, warn)
        if cfg.keep_alive_probes and tcp:
            _opt(s, socket.IPPROTO_TCP, socket.TCP_KEEPCNT, cfg.keep_alive_probes, "TCP_KEEPCNT", warn)
        if cfg.no_delay and tcp:
            _opt(s, socket.IPPROTO_TCP, socket.TCP_NODELAY, 1, "TCP_NODELAY", warn)
        if cfg.broadcast:
            _opt(s, socket.SOL_SOCKET, socket.SO_BROADCAST, 1, "SO_BROADCAST", warn)
        if cfg.pass_credentials:
            _opt(s, socket.SOL_SOCKET, socket.SO_PASSCRED, 1, "SO_PASSCRED", warn)
        if cfg.pass_security:
            _opt(s, socket.SOL_SOCKET, SO_PASSSEC, 1, "SO_PASSSEC", warn)
        if cfg.pass_packet_info:
            pktinfo: dict[int, tuple[int, int]] = {socket.AF_INET: (socket.IPPROTO_IP, IP_PKTINFO),
                                                   socket.AF_INET6: (socket.IPPROTO_IPV6, IPV6_RECVPKTINFO),
                                                   socket.AF_NETLINK: (SOL_NETLINK, NETLINK_PKTINFO)}
            level, name = pktinfo.get(p.family, (0, 0))
            if level or name:
                _opt(s, level, name, 1, "packet info socket option", warn)
        if cfg.timestamping != "off":
            _opt(s, socket.SOL_SOCKET, SO_TIMESTAMPNS if cfg.timestamping == "ns" else SO_TIMESTAMP, 1,
                 "timestamping socket option", warn)
        if cfg.priority >= 0:
            _opt(s, socket.SOL_SOCKET, socket.SO_PRIORITY, cfg.priority, "SO_PRIORITY", warn)
        for size, force, plain_opt, label in ((cfg.receive_buffer, SO_RCVBUFFORCE, socket.SO_RCVBUF, "SO_RCVBUF"),
                                              (cfg.send_buffer, SO_SNDBUFFORCE, socket.SO_SNDBUF, "SO_SNDBUF")):
            if size:
                try:
                    s.setsockopt(socket.SOL_SOCKET, force, size)
                except OSError:
                    _opt(s, socket.SOL_SOCKET, plain_opt, size, label, warn)
        if cfg.mark >= 0:
            _opt(s, socket.SOL_SOCKET, socket.SO_MARK, cfg.mark, "SO_MARK", warn)
        if cfg.iptos >= 0 and p.family == socket.AF_INET:
            _opt(s, socket.IPPROTO_IP, socket.IP_TOS, cfg.iptos, "IP_TOS", warn)
        if cfg.ipttl >= 0 and p.family in (socket.AF_INET, socket.AF_INET6):
            level, name = (socket.IPPROTO_IP, socket.IP_TTL) if p.family == socket.AF_INET else (
                socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS)
            _opt(s, level, name, cfg.ipttl, "IP_TTL/IPV6_UNICAST_HOPS", warn)
        if cfg.tcp_congestion and tcp:
            try:
                s.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, cfg.tcp_congestion.encode() + b"\0")
            except OSError as e:
                warn(f"TCP_CONGESTION failed: {e.strerror}")
    finally:
        s.detach()


def _opt(s: socket.socket, level: int, name: int, value: int, label: str, warn: Callable[[str], None]) -> None:
    try:
        s.setsockopt(level, name, value)
    except OSError as e:
        warn(f"{label} failed: {e.strerror}")


def make_symlinks(target: str, links: list[str], cfg: SocketSection, warn: Callable[[str], None]) -> None:
    for link in links:
        _mkdir_parents(link, cfg.directory_mode)
        try:
            _symlink_idempotent(target, link)
        except FileExistsError:
            if cfg.remove_on_stop:
                with contextlib.suppress(OSError):
                    os.unlink(link)
                    _symlink_idempotent(target, link)
                    continue
            warn(f"Failed to create symlink {target} → {link}, ignoring: File exists")
        except OSError as e:
            warn(f"Failed to create symlink {target} → {link}, ignoring: {e.strerror}")


def _symlink_idempotent(target: str, link: str) -> None:
    try:
        os.symlink(target, link)
    except FileExistsError:
        if os.readlink(link) != target:
            raise


def remove_nodes(ports: list[ListenPort], links: list[str]) -> None:
    """RemoveOnStop=: the file-system nodes and queues the ports made, and the symlinks."""
    for p in ports:
        path = p.fs_path
        if path and p.kind != SPECIAL:
            with contextlib.suppress(OSError):
                os.unlink(path)
        elif p.kind == MQUEUE:
            with contextlib.suppress(OSError):
                _librt().mq_unlink(p.path.encode())
    for link in links:
        with contextlib.suppress(OSError):
            os.unlink(link)
