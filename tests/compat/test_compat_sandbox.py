"""The sandbox, capability, system call filter and credential directives: merged as systemd 252's
parsers merge them, and loaded without the "not supported" warning."""

from __future__ import annotations

from pathlib import Path

from compat_helpers import FACTS

from compat import syscallsets
from compat.capnames import names_of
from compat.config_sandbox import NAMESPACE_FLAGS, SANDBOX_HANDLERS
from compat.loader import UnitLoader
from compat.model import BindMount, Credential, Scope, TmpfsMount


def load(tmp_path: Path, body: str) -> UnitLoader:
    (tmp_path / "t.service").write_text("[Service]\nExecStart=/bin/true\n" + body)
    return UnitLoader(Scope.SYSTEM, unit_path=[str(tmp_path)], facts=FACTS)


def test_merging_and_no_warnings(tmp_path: Path) -> None:
    u = load(tmp_path, """
CapabilityBoundingSet=CAP_FOWNER
CapabilityBoundingSet=CAP_KILL CAP_CHOWN
AmbientCapabilities=CAP_CHOWN
AmbientCapabilities=CAP_NET_RAW
SystemCallFilter=ioperm
SystemCallFilter=~ioperm
SystemCallFilter=ioperm
RestrictNamespaces=mnt pid
RestrictNamespaces=~mnt
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths=-/var/lib/foo +/x
LoadCredential=foo:/etc/hostname
SetCredential=bar:hello\\n
RestrictAddressFamilies=AF_UNIX AF_INET
RestrictAddressFamilies=~AF_INET
TemporaryFileSystem=/var:ro,mode=0700
BindPaths=/tmp:/tmp/b -/nonexist:/y:norbind
PrivateTmp=yes
NoNewPrivileges=yes
""").load("t.service")
    assert u.diagnostics == []
    assert u.config is not None
    ex = u.config.exec
    assert names_of(ex.capability_bounding_set or 0) == ["cap_chown", "cap_fowner", "cap_kill"]
    assert ex.ambient_capabilities == 0x2001
    assert ex.syscall_filter is not None and ex.syscall_filter.allow
    assert set(ex.syscall_filter.calls) == set(syscallsets.expand("@default")) | {"ioperm"}
    assert ex.restrict_namespaces == NAMESPACE_FLAGS["pid"]
    assert (ex.protect_system, ex.protect_home) == ("strict", "read-only")
    assert ex.read_write_paths == ["-/var/lib/foo", "+/x"]
    assert ex.credentials == [Credential("foo", path="/etc/hostname"), Credential("bar", data=b"hello\n")]
    assert ex.address_families is not None and ex.address_families.families == {"AF_UNIX"}
    assert ex.tmpfs_mounts == [TmpfsMount("/var", "ro,mode=0700")]
    assert ex.bind_mounts == [BindMount("/tmp", "/tmp/b", False, False),
                              BindMount("/nonexist", "/y", False, True, False)]
    assert ex.private_tmp and ex.no_new_privileges
    assert ex.unsupported == {}


def test_resets_and_deny_lists(tmp_path: Path) -> None:
    u = load(tmp_path, """
CapabilityBoundingSet=CAP_FOWNER CAP_KILL
CapabilityBoundingSet=
SystemCallFilter=~@mount uname:EILSEQ
SystemCallErrorNumber=EACCES
RestrictNamespaces=yes
""").load("t.service")
    assert u.config is not None
    ex = u.config.exec
    assert ex.capability_bounding_set == 0
    assert ex.syscall_filter is not None and not ex.syscall_filter.allow
    assert ex.syscall_filter.calls["uname"] == 84 and ex.syscall_filter.calls["mount"] is None
    assert ex.syscall_errno == 13
    assert ex.restrict_namespaces == 0


def test_syscall_log_kind_from_the_first_assignment(tmp_path: Path) -> None:
    """SystemCallLog=: a plain list logs those calls only, a `~` list all others; later
    assignments add to or take from the list; no @default is implied (unlike SystemCallFilter=)."""
    u = load(tmp_path, "SystemCallLog=@clock read\nSystemCallLog=~read\n").load("t.service")
    assert u.config is not None and u.diagnostics == []
    log = u.config.exec.syscall_log
    assert log is not None and log.allow and set(log.calls) == set(syscallsets.expand("@clock"))
    u = load(tmp_path, "SystemCallLog=~@default\nSystemCallLog=read\n").load("t.service")
    assert u.config is not None
    log = u.config.exec.syscall_log
    assert log is not None and not log.allow and set(log.calls) == set(syscallsets.expand("@default")) - {"read"}
    u = load(tmp_path, "SystemCallLog=~@default\nSystemCallLog=\n").load("t.service")
    assert u.config is not None and u.config.exec.syscall_log is None


def test_every_handled_directive_is_known_to_systemd() -> None:
    from compat import directives

    assert set(SANDBOX_HANDLERS) <= directives.EXEC_CONTEXT
