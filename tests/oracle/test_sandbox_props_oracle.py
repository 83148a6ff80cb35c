"""Issue 14: the sandbox settings as the bus shows them, side by side with Debian's `systemd --user`
(252) on the same unit files (oracle_runner.py): `systemctl show` of each sandbox property, and
`systemd-analyze security`, which scores a unit from those properties, must print the same table and
exposure level against both managers. Debian's own daemons' unit files are among the units.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from oracle_runner import run_script
from test_systemd_oracle import SYSTEMD, pytestmark  # noqa: F401

SANDBOXED = """[Service]
ExecStart=/bin/sleep 1000
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=read-only
NoNewPrivileges=yes
CapabilityBoundingSet=CAP_NET_ADMIN CAP_SYS_TIME
AmbientCapabilities=CAP_NET_ADMIN
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
SystemCallLog=@clock read nosuchcall
SystemCallLog=~read
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_NETLINK AF_LOCAL
RestrictNamespaces=net ipc
BindPaths=/tmp:/mnt/x -/nonexist
BindReadOnlyPaths=/etc:/mnt/etc:norbind
TemporaryFileSystem=/var:ro /srv
ReadWritePaths=-/var/lib/foo +/run
ReadOnlyPaths=/usr
InaccessiblePaths=/boot
ExecPaths=/usr/bin
NoExecPaths=/
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
PrivateDevices=yes
PrivateNetwork=yes
PrivateIPC=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictRealtime=yes
ProtectProc=invisible
ProcSubset=pid
PrivateUsers=yes
SecureBits=keep-caps noroot
LoadCredential=foo:/etc/hostname
SetCredential=bar:hello
DevicePolicy=closed
DeviceAllow=/dev/null rw
DeviceAllow=char-pts r
IPAccounting=yes
IPAddressAllow=localhost 10.1.2.3/8
IPAddressDeny=any
"""

DENYING = """[Service]
ExecStart=/bin/sleep 1000
SystemCallFilter=~@mount:EACCES @clock
SystemCallFilter=~kexec_load:EDEADLK kexec_file_load:EOPNOTSUPP reboot:EWOULDBLOCK swapon:kill
SystemCallErrorNumber=kill
SystemCallLog=~@system-service
SystemCallLog=write
RestrictAddressFamilies=~AF_PACKET AF_ROUTE AF_FILE
RestrictNamespaces=~user
CapabilityBoundingSet=~CAP_SYS_ADMIN
ProtectSystem=full
ProtectHome=tmpfs
PrivateDevices=yes
IPAddressAllow=192.168.1.7/16 ::1 link-local multicast
"""

DEBIAN = ("systemd-logind.service", "systemd-timesyncd.service", "systemd-networkd.service",
          "systemd-journald.service", "systemd-udevd.service", "systemd-hostnamed.service")



UNITS = {
    "default.target": "[Unit]\nDescription=Default\n",
    "basic.target": "[Unit]\nDescription=Basic\n",
    "sb.service": SANDBOXED,
    "deny.service": DENYING,
    "plain.service": "[Service]\nExecStart=/bin/sleep 1000\n",
    # every ProtectProc=/ProcSubset= value, each alone (sb.service has invisible + pid)
    "procnoaccess.service": "[Service]\nExecStart=/bin/sleep 1000\nProtectProc=noaccess\n",
    "procptrace.service": "[Service]\nExecStart=/bin/sleep 1000\nProtectProc=ptraceable\nProtectProc=invisible\n"
                          "ProtectProc=ptraceable\n",
    "procsubset.service": "[Service]\nExecStart=/bin/sleep 1000\nProcSubset=pid\nProtectProc=default\n",
    "procall.service": "[Service]\nExecStart=/bin/sleep 1000\nProcSubset=pid\nProcSubset=all\n",
    # MountAPIVFS= as in effect: as set, else yes with RootDirectory=
    "apivfs.service": "[Service]\nExecStart=/bin/sleep 1000\nMountAPIVFS=yes\n",
    "chroot.service": "[Service]\nExecStart=/bin/sleep 1000\nRootDirectory=/srv/none\nMountAPIVFS=no\n"
                      "MountAPIVFS=\n",
    "chrootno.service": "[Service]\nExecStart=/bin/sleep 1000\nRootDirectory=/srv/none\nMountAPIVFS=no\n",
    "dyn.service": "[Service]\nExecStart=/bin/sleep 1000\nDynamicUser=yes\nProtectHome=tmpfs\n",
    "9dyn.service": "[Service]\nExecStart=/bin/sleep 1000\nDynamicUser=yes\nUser=someone\n",
    **{name: Path("/lib/systemd/system", name).read_text() for name in DEBIAN
       if os.path.exists(os.path.join("/lib/systemd/system", name))},
}

_SHOWN = """
    SystemCallFilter SystemCallLog SystemCallArchitectures SystemCallErrorNumber RestrictAddressFamilies
    RestrictNamespaces
    BindPaths BindReadOnlyPaths TemporaryFileSystem CapabilityBoundingSet AmbientCapabilities ProtectSystem
    ProtectHome PrivateTmp ReadWritePaths ReadOnlyPaths InaccessiblePaths ExecPaths NoExecPaths SecureBits
    DevicePolicy DeviceAllow IPAccounting IPAddressAllow IPAddressDeny PrivateDevices ProtectKernelTunables
    NoNewPrivileges RestrictSUIDSGID LockPersonality MemoryDenyWriteExecute RestrictRealtime PrivateNetwork
    PrivateIPC ProtectHostname ProtectClock ProtectKernelLogs ProtectKernelModules ProtectControlGroups
    ProtectProc ProcSubset PrivateUsers DynamicUser User Group MountAPIVFS RootDirectory
"""
PROPS = " ".join(f"-p {p}" for p in _SHOWN.split())

SERVICES = [u for u in UNITS if u.endswith(".service")]
STEPS = [*(f"show {PROPS} {u}" for u in SERVICES),
         f"RUN systemd-analyze --user security --no-pager {' '.join(SERVICES)}"]


def normalize(text: str) -> str:
    # systemd keeps IP prefixes in a hash set: their order is its hash order.
    lines = []
    for line in text.splitlines():
        if line.startswith("IPAddress"):
            key, _, value = line.partition("=")
            line = f"{key}={' '.join(sorted(value.split()))}"
        lines.append(line)
    return "\n".join(lines)


def test_sandbox_properties_and_security_score_match_systemd(tmp_path: Path) -> None:
    ours = run_script(tmp_path, "sysmasterd",
                      [sys.executable, "-m", "sysmasterd.core.main", "--user", "--runtime-dir",
                       str(tmp_path / "sysmasterd" / "run")], UNITS, STEPS)
    theirs = run_script(tmp_path, "systemd", [SYSTEMD, "--user"], UNITS, STEPS)
    assert [s for s, _ in ours] == [s for s, _ in theirs] == STEPS
    diffs = [f"$ {step}\n--- systemd:\n{b}\n--- sysmasterd:\n{a}"
             for (step, a), (_s, b) in zip(ours, theirs, strict=True) if normalize(a) != normalize(b)]
    assert not diffs, "\n\n".join(diffs)
    security = dict(ours)[STEPS[-1]]
    assert "Overall exposure level for sb.service: 1.6 OK" in security, security
    assert security.count("Overall exposure level") == len(SERVICES)
