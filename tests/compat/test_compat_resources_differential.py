"""Differential test: resource-control directives through compat and through systemd-analyze
verify — the same warnings on the same lines for good, bad and edge values."""

from __future__ import annotations

from pathlib import Path

from compat_helpers import compat_view, needs_analyze, verify_batch

VALUES = {
    "CPUWeight": ["100", "idle", "0", "10001", "x", ""],
    "StartupCPUWeight": ["1", "idle", "10000", "-1", "abc", ""],
    "CPUQuota": ["20%", "250%", "0%", "1.5%", "20", "-5%", ""],
    "CPUQuotaPeriodSec": ["10ms", "infinity", "1x", ""],
    "AllowedCPUs": ["0", "0-1 3", "1,2", "x", "3-1", ""],
    "MemoryMin": ["1M", "0", "10%", "infinity", "-1", "1Q", ""],
    "MemoryLow": ["0", "64K", ""],
    "MemoryHigh": ["0", "1G", "200%", "infinity", ""],
    "MemoryMax": ["0", "100M", ""],  # percentages: the helpers' host facts have no memory
    "MemorySwapMax": ["0", "1G", "bad", ""],
    "MemoryLimit": ["1G", "0"],
    "IOWeight": ["1", "10000", "0", "10001", "w", ""],
    "StartupIOWeight": ["500", "0", ""],
    "IODeviceWeight": ["/dev/sda 200", "/dev/sda", "/dev/sda 0", "rel 10", "/dev/sda x", ""],
    "IOReadBandwidthMax": ["/dev/sda 1M", "/dev/sda infinity", "/dev/sda 0", "/dev/sda", "dev 5", ""],
    "IOWriteIOPSMax": ["/dev/vda 1K", "/dev/vda -3", ""],
    "DeviceAllow": ["/dev/null rw", "char-pts r", "block-loop", "/dev/zero x", "/tmp/x r", "dev/null", "'/dev/a b' m",
                    "/dev/../dev/null w", ""],
    "DevicePolicy": ["closed", "strict", "auto", "open", ""],
    "IPAccounting": ["yes", "maybe"],
    "IPAddressAllow": ["localhost", "10.1.2.3/8", "any link-local multicast", "::1", "10.0.0.0/33", "x", "1.2.3.4/x",
                       ""],
    "IPAddressDeny": ["any", "fe80::1/64 localhost.localdomain", "300.1.1.1"],
}


@needs_analyze
def test_resource_directives_match_systemd(tmp_path: Path) -> None:
    names = []
    for key, values in VALUES.items():
        name = f"r-{key.lower()}.service"
        body = "".join(f"{key}={v}\n" for v in values)
        (tmp_path / name).write_text(f"[Service]\nExecStart=/bin/true\n{body}")
        names.append(name)
    assert compat_view(tmp_path, names) == verify_batch(tmp_path, names)
