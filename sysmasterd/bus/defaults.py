"""What systemd 252 reports for properties sysmasterd does not track, where that is not zero.

UINT64_MAX means "unset / not measured" on the wire; systemctl status hides lines (IP, IO,
memory limits) whose value is UINT64_MAX and would print "0B" for a zero.
"""

from __future__ import annotations

from typing import Any

UINT64_MAX = (1 << 64) - 1
UINT32_MAX = (1 << 32) - 1

_UNSET_U64 = (
    "MemoryAvailable", "IPIngressBytes", "IPIngressPackets", "IPEgressBytes", "IPEgressPackets",
    "IOReadBytes", "IOReadOperations", "IOWriteBytes", "IOWriteOperations", "CPUWeight", "StartupCPUWeight",
    "CPUShares", "StartupCPUShares", "CPUQuotaPerSecUSec", "CPUQuotaPeriodUSec", "IOWeight",
    "StartupIOWeight", "BlockIOWeight", "StartupBlockIOWeight", "MemoryHigh", "MemorySwapMax",
    "MemoryLimit", "CapabilityBoundingSet", "TimeoutCleanUSec", "RestrictNamespaces", "MemoryCurrent",
    "TasksCurrent", "CPUUsageNSec", "RuntimeMaxUSec", "JobTimeoutUSec", "JobRunningTimeoutUSec",
)

NEUTRAL: dict[str, Any] = {
    **dict.fromkeys(_UNSET_U64, UINT64_MAX),
    "UID": UINT32_MAX,
    "GID": UINT32_MAX,
    "OOMPolicy": "stop",
    "CPUAccounting": True,
    "MemoryAccounting": True,
    "TasksAccounting": True,
    "DevicePolicy": "auto",
    "ManagedOOMSwap": "auto",
    "ManagedOOMMemoryPressure": "auto",
    "ManagedOOMPreference": "none",
    "CoredumpFilter": 51,
    "NUMAPolicy": -1,
    "TimerSlackNSec": 50_000,
    "TTYRows": 65535,
    "TTYColumns": 65535,
    "SyslogPriority": 30,
    "SyslogLevelPrefix": True,
    "SyslogLevel": 6,
    "SyslogFacility": 3,
    "LogLevelMax": -1,
    "ProtectHome": "no",
    "ProtectSystem": "no",
    "UtmpMode": "init",
    "SystemCallErrorNumber": 2147483646,
    "KeyringMode": "inherit",
    "ProtectProc": "default",
    "ProcSubset": "all",
    "CleanResult": "success",
    "FreezerState": "running",
    "OnSuccessJobMode": "fail",
    "ExitType": "main",
}
