"""Host conditions in .link [Match] sections (Host=, Virtualization=, KernelCommandLine=, KernelVersion=,
Credential=, Architecture=, Firmware=), evaluated like systemd 252.

The pure part checks each condition against given host facts; the sandbox part
writes a conditioned .link file and a fallback for a veth and asks both the real
`udevadm test-builtin net_setup_link` and devctl which file applies.
"""

import os
import platform
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dm_sandbox import PYTHON, Sandbox, sandbox
from hypothesis import given, settings
from hypothesis import strategies as st

from sysmasterd.devmaster.builtin import link_config
from sysmasterd.devmaster.builtin.link_conditions import (
    check_architecture,
    check_credential,
    check_firmware,
    check_host,
    check_kernel_command_line,
    check_kernel_version,
    check_virtualization,
    strverscmp_improved,
)
from sysmasterd.devmaster.builtin.link_config import load_link_configs, parse_link_config

DEVCTL = [PYTHON, "-m", "sysmasterd.cli.devctl"]
MACHINE_ID = "3d1219c7c4c5404aaa1f6d2a48adfda4"


@settings(max_examples=40, deadline=None)
@given(st.text("0123456789.~-^_ab", max_size=7), st.text("0123456789.~-^_ab", max_size=7))
def test_version_order_same_as_systemd_analyze(a: str, b: str) -> None:
    out = subprocess.run(["systemd-analyze", "compare-versions", "--", a or "0", b or "0"],
                         capture_output=True, text=True).stdout
    ours = strverscmp_improved(a or "0", b or "0")
    assert out.split()[-2] == {-1: "<", 0: "==", 1: ">"}[ours], out


@pytest.mark.parametrize("parameter,expected", [
    ("6.1.0-28-amd64", True), ("6.1.*", True), ("6.2*", False), (">=6.1", True), (">= 6.1", True),
    ("<6.1", False), (">=5 <7", True), (">=5 <6.1", False), ("=6.1.0-28-amd64", True), ("!=6.1.0-28-amd64", False),
    ("!$=*-rt*", True), ("$=*amd64", True), ("==6.1.0-28-amd64", True), ("<>6.1.0-28-amd64", False),
    (">=", None), (">=5 <", None),
])
def test_kernel_version(parameter: str, expected: bool | None) -> None:
    assert check_kernel_version(parameter, "6.1.0-28-amd64") is expected


def test_kernel_command_line() -> None:
    cmdline = 'quiet root=/dev/vda1 "dmlm.q=a b" rd.flag'
    assert [check_kernel_command_line(p, cmdline) for p in ("quiet", "root", "root=/dev/vda1", "root=/dev/vda",
                                                           "dmlm.q=a b", "rd.flag", "flag", "qui")] == \
        [True, True, True, False, True, True, False, False]


def test_host_name_glob_and_machine_id() -> None:
    assert check_host("build*", "BuildHost", MACHINE_ID)
    assert not check_host("other", "buildhost", MACHINE_ID)
    assert check_host(MACHINE_ID.upper(), "buildhost", MACHINE_ID)
    assert check_host("3d1219c7-c4c5-404a-aa1f-6d2a48adfda4", "buildhost", MACHINE_ID)
    assert not check_host("00000000000000000000000000000001", "buildhost", MACHINE_ID)
    assert check_host(MACHINE_ID, "buildhost", None) is None


@pytest.mark.parametrize("virt,expected", [
    ("docker", {"yes": True, "no": False, "container": True, "vm": False, "docker": True, "kvm": False}),
    ("kvm", {"yes": True, "no": False, "container": False, "vm": True, "docker": False, "kvm": True}),
    ("none", {"yes": False, "no": True, "container": False, "vm": False, "docker": False, "none": False}),
])
def test_virtualization(virt: str, expected: dict[str, bool]) -> None:
    assert {p: check_virtualization(p, virt, False) for p in expected} == expected
    assert check_virtualization("private-users", virt, True)


def test_architecture_credential_firmware(tmp_path: Path) -> None:
    assert check_architecture("x86-64", "x86-64") and check_architecture("native", "x86-64")
    assert not check_architecture("arm64", "x86-64") and not check_architecture("amd64", "x86-64")
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "token").write_text("x")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}
    assert check_credential("token", env) and not check_credential("other", env)
    assert not check_credential("../creds/token", env) and not check_credential("token", {})
    sysfs, proc = tmp_path / "sys", tmp_path / "proc"
    (sysfs / "class/dmi/id").mkdir(parents=True)
    (sysfs / "class/dmi/id/sys_vendor").write_text("QEMU\n")
    (sysfs / "firmware/efi").mkdir(parents=True)
    (proc / "device-tree").mkdir(parents=True)
    (proc / "device-tree/compatible").write_bytes(b"raspberrypi,4-model-b\0brcm,bcm2711\0")

    def fw(parameter: str, in_container: bool = False) -> bool | None:
        return check_firmware(parameter, str(sysfs), str(proc), in_container)
    assert [fw("smbios-field(sys_vendor = QEMU)"), fw("smbios-field(sys_vendor $= Q*)"),
            fw("smbios-field(sys_vendor != QEMU)"), fw("smbios-field(board_name = x)")] == [True, True, False, False]
    assert fw("smbios-field(sys_vendor)") is None and fw("smbios-field(sys_vendor = a b)") is None
    assert fw("device-tree-compatible(brcm,bcm2711)") and not fw("device-tree-compatible(brcm,bcm2835)")
    assert fw("uefi") and not fw("uefi", in_container=True)
    assert not fw("device-tree") and not fw("bios")


def test_parse_last_assignment_wins_and_empty_clears() -> None:
    text = "[Match]\nHost=a\nHost=!b\nKernelVersion=>=5\nKernelVersion=\nArchitecture=x86-64\n[Link]\nName=x\n"
    config, diags = parse_link_config("/x/10.link", [("/x/10.link", text)])
    assert diags == [] and config is not None
    assert config.conditions == {"Host": ("b", True), "Architecture": ("x86-64", False)}
    # conditions alone are a valid [Match]
    config, diags = parse_link_config("/x/11.link", [("/x/11.link", "[Match]\nVirtualization=yes\n")])
    assert config is not None and diags == []


def test_files_whose_conditions_fail_are_not_loaded(tmp_path: Path) -> None:
    host, release = socket.gethostname(), platform.release()
    files = {"10-host.link": f"Host={host.upper()}", "11-nothost.link": f"Host=!{host}",
             "12-kver.link": f"KernelVersion=>={release}", "13-kver-bad.link": "KernelVersion=<1",
             "14-arch.link": "Architecture=!native", "15-virt.link": "Virtualization=vm container"}
    for name, condition in files.items():
        (tmp_path / name).write_text(f"[Match]\nOriginalName=*\n{condition}\n[Link]\nNamePolicy=kernel\n")
    configs, _ = load_link_configs((str(tmp_path),))
    assert [os.path.basename(c.filename) for c in configs] == ["10-host.link", "12-kver.link"]


# -- against the real udevadm ------------------------------------------------------------------

@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with sandbox() as b:
        b.run(["mount", "-t", "tmpfs", "tmpfs", "/etc/systemd/network"], check=True)
        b.run(["ip", "link", "add", "dmlm0", "type", "veth", "peer", "name", "dmlm1"], check=True)
        b.write("/etc/systemd/network/20-fallback.link", "[Match]\nOriginalName=dmlm*\n[Link]\nMACAddressPolicy=none\n")
        b.write("/run/creds/dmlm-token", "secret")
        yield b


def _which_file(box: Sandbox, tool: list[str], env: dict[str, str]) -> str:
    r = box.run([*tool, "test-builtin", "net_setup_link", "/sys/class/net/dmlm0"], env=os.environ | env)
    assert r.returncode == 0, r.stderr
    return next(line.split("=", 1)[1] for line in r.stdout.splitlines() if line.startswith("ID_NET_LINK_FILE="))


def _virt() -> str:
    return subprocess.run(["systemd-detect-virt"], capture_output=True, text=True).stdout.strip()


CMDLINE = {"SYSTEMD_PROC_CMDLINE": 'quiet dmlm.flag=on "dmlm.q=a b"'}
CASES = [
    (f"Host={socket.gethostname().upper()}", {}, True),
    (f"Host=!{socket.gethostname()}", {}, False),
    (f"Host={MACHINE_ID}" if os.path.exists("/etc/machine-id") else "Host=nomatch", {}, None),
    (f"Virtualization={_virt()}", {}, _virt() != "none"),
    ("Virtualization=vm", {}, None),
    ("Virtualization=!container", {}, None),
    ("KernelCommandLine=dmlm.flag", CMDLINE, True),
    ("KernelCommandLine=dmlm.flag=off", CMDLINE, False),
    ("KernelCommandLine=dmlm.q=a b", CMDLINE, True),
    ("KernelCommandLine=!quiet", CMDLINE, False),
    ("KernelCommandLine=quiet", {}, None),
    (f"KernelVersion=>={platform.release()}", {}, True),
    ("KernelVersion=>= 3 <1000", {}, True),
    ("KernelVersion=<2.6", {}, False),
    ("KernelVersion=>=", {}, False),
    ("Architecture=native", {}, True),
    ("Architecture=!x86-64", {}, None),
    ("Architecture=arm64-be", {}, False),
    ("Credential=dmlm-token", {"CREDENTIALS_DIRECTORY": "/run/creds"}, True),
    ("Credential=dmlm-token", {}, False),
    ("Firmware=uefi", {}, None),
    ("Firmware=smbios-field(sys_vendor $= *)", {}, None),
]


@pytest.mark.root
@pytest.mark.parametrize("condition,env,expected", CASES)
def test_condition_decides_like_udevadm(box: Sandbox, condition: str, env: dict[str, str],
                                        expected: bool | None) -> None:
    box.write("/etc/systemd/network/10-cond.link",
              f"[Match]\nOriginalName=dmlm*\n{condition}\n[Link]\nMACAddressPolicy=none\n")
    real = _which_file(box, ["udevadm"], env)
    ours = _which_file(box, DEVCTL, env)
    assert ours == real
    if expected is not None:
        assert ours.endswith("10-cond.link" if expected else "20-fallback.link")


def test_cache_key_is_the_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # conditions are decided when files are (re)loaded, like udev; an unchanged file is not re-evaluated
    calls: list[str] = []

    def holds(kind: str, parameter: str, negate: bool) -> bool:
        calls.append(kind)
        return True
    monkeypatch.setattr(link_config, "condition_holds", holds)
    (tmp_path / "10-a.link").write_text("[Match]\nKernelVersion=>=1\n")
    load_link_configs((str(tmp_path),))
    load_link_configs((str(tmp_path),))
    assert calls == ["KernelVersion"]
