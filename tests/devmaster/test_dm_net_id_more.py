"""net_id beyond PCI and USB: s390 CCW, VIO, ACPI platform, netdevsim, Xen, BCMA, InfiniBand and naming schemes.

This VM has none of that hardware: each test builds the sysfs topology the kernel
creates and expects the names udev 252 derives from it. Every result is also
compared with Debian's real `udevadm test-builtin net_id` run on the same tree,
bind-mounted over /sys in a private mount namespace. The real eth0 is compared
under several naming schemes.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_dm_fake_sysfs import FakeSysfs, _nic, _run

from sysmasterd.devmaster import device
from sysmasterd.devmaster.builtin import naming_scheme, net_id
from sysmasterd.devmaster.builtin.naming_scheme import choose

PCI = "/devices/pci0000:00/0000:00:01.0"
UDEVADM = shutil.which("udevadm")
UNSHARE = shutil.which("unshare")


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSysfs]:
    root = tmp_path / "sys"
    root.mkdir()
    monkeypatch.setattr(device, "SYSFS", str(root))
    monkeypatch.setattr(net_id, "DEVICETREE", str(tmp_path / "no-devicetree"))
    use_scheme(monkeypatch, "v252")
    yield FakeSysfs(root)


def use_scheme(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    scheme = naming_scheme.by_name(name)
    assert scheme is not None
    monkeypatch.setattr(naming_scheme, "current", lambda: scheme)


def udevadm_names(syspath: Path, scheme: str) -> dict[str, str]:
    """What the real udevadm 252 says about `syspath`, its fake sysfs root mounted over /sys."""
    assert UDEVADM and UNSHARE
    root = Path(device.SYSFS)
    target = "/sys/" + str(syspath.relative_to(root))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NET_NAMING_SCHEME": scheme,
           # sd-device refuses a /sys that is not sysfs unless told not to check
           "SYSTEMD_DEVICE_VERIFY_SYSFS": "0"}
    script = 'mount --bind "$1" /sys && '
    if (root / "firmware/devicetree/base").is_dir():
        # udev finds the devicetree through /proc/device-tree, a link into sysfs
        script += "mount -t tmpfs none /proc && ln -s /sys/firmware/devicetree/base /proc/device-tree && "
    r = subprocess.run([UNSHARE, "--mount", "--propagation", "private", "sh", "-c",
                        script + 'exec "$2" test-builtin net_id "$3"', "sh", str(root), UDEVADM, target],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr[-2000:]
    return dict(line.split("=", 1) for line in r.stdout.splitlines() if line.startswith("ID_"))


def names(path: Path) -> dict[str, str]:
    ours = _run(net_id, path, "net_id")
    if UDEVADM and UNSHARE and os.geteuid() == 0:
        assert ours == udevadm_names(path, naming_scheme.current().name)
    return ours


@pytest.mark.parametrize(("parent", "subsystem", "expected"), [
    ("/devices/qeth/0.0.f5f0", "ccwgroup", "encf5f0"),  # qeth: a grouped CCW device
    ("/devices/css0/0.0.0001/0.1.0600", "ccw", "enc1.0600"),  # leading zeros and dots go, the rest stays
])
def test_ccw_bus_id_is_the_path_name(fake: FakeSysfs, parent: str, subsystem: str, expected: str) -> None:
    fake.dev(parent, subsystem)
    assert names(_nic(fake, parent, "eth0", "2")) == {"ID_NET_NAMING_SCHEME": "v252",
                                                        "ID_NET_NAME_PATH": expected}


def test_virtio_ccw_all_zero_bus_id_keeps_one_zero(fake: FakeSysfs) -> None:
    fake.dev("/devices/css0/0.0.0000/0.0.0000", "ccw")
    fake.dev("/devices/css0/0.0.0000/0.0.0000/virtio0", "virtio")
    assert names(_nic(fake, "/devices/css0/0.0.0000/0.0.0000/virtio0", "eth0", "2"))["ID_NET_NAME_PATH"] == "enc0"


def test_ccw_bus_id_of_wrong_length_gives_no_name(fake: FakeSysfs) -> None:
    fake.dev("/devices/qeth/0.0.f5f0a1", "ccwgroup")
    assert "ID_NET_NAME_PATH" not in names(_nic(fake, "/devices/qeth/0.0.f5f0a1", "eth0", "2"))


def test_vio_slot_name(fake: FakeSysfs) -> None:
    fake.dev("/devices/vio/30000002", "vio")
    assert names(_nic(fake, "/devices/vio/30000002", "eth1", "2"))["ID_NET_NAME_SLOT"] == "env2"
    fake.dev("/devices/vio/3000000a", "vio")
    assert names(_nic(fake, "/devices/vio/3000000a", "eth3", "4"))["ID_NET_NAME_SLOT"] == "env10"


@pytest.mark.parametrize(("vio_dir", "ifname"), [
    ("30000003", "ibmveth0"),  # udev only parses kernel "eth<N>" names
    ("300", "eth0"),  # too short for a bus and a slot: scanf's %4x%4x takes "300" whole
])
def test_vio_path_that_does_not_fit_gives_no_name(fake: FakeSysfs, vio_dir: str, ifname: str) -> None:
    fake.dev(f"/devices/vio/{vio_dir}", "vio")
    assert "ID_NET_NAME_SLOT" not in names(_nic(fake, f"/devices/vio/{vio_dir}", ifname, "2"))


@pytest.mark.parametrize(("acpi", "expected"), [
    ("HISI00C2:00", "enahisic2i0"),  # 4-character ACPI vendor id, model 00C2 loses its zeros
    ("PNP0C14:0a", "enapnpc14i10"),  # 3-character PNP id; the instance is hex, printed in decimal
])
def test_acpi_platform_path_name(fake: FakeSysfs, acpi: str, expected: str) -> None:
    fake.dev(f"/devices/platform/{acpi}", "platform")
    assert names(_nic(fake, f"/devices/platform/{acpi}", "eth0", "2")) == {"ID_NET_NAMING_SCHEME": "v252",
                                                                            "ID_NET_NAME_PATH": expected}


@pytest.mark.parametrize("acpi", ["hisi00C2:00", "PNp0C14:00", "HIS:00"])
def test_platform_device_without_acpi_id_gives_no_name(fake: FakeSysfs, acpi: str) -> None:
    fake.dev(f"/devices/platform/{acpi}", "platform")
    assert "ID_NET_NAME_PATH" not in names(_nic(fake, f"/devices/platform/{acpi}", "eth0", "2"))


def test_netdevsim_port_name(fake: FakeSysfs, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.dev("/devices/netdevsim3", "netdevsim")
    port = _nic(fake, "/devices/netdevsim3", "eth0", "2", phys_port_name="p1")
    assert names(port)["ID_NET_NAME_PATH"] == "eni3np1"
    # without a port name there is no netdevsim name; before v243 there is none at all
    assert "ID_NET_NAME_PATH" not in names(_nic(fake, "/devices/netdevsim3", "eth1", "3"))
    use_scheme(monkeypatch, "v241")
    assert names(port) == {"ID_NET_NAMING_SCHEME": "v241"}


def test_xen_netfront_slot_name(fake: FakeSysfs, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.dev("/devices/vif-0", "xen")
    fake.dev("/devices/vif-12", "xen")
    fake.dev("/devices/vif-07", "xen")
    assert names(_nic(fake, "/devices/vif-0", "eth0", "2"))["ID_NET_NAME_SLOT"] == "enX0"
    vif12 = _nic(fake, "/devices/vif-12", "eth1", "3")
    assert names(vif12)["ID_NET_NAME_SLOT"] == "enX12"
    assert "ID_NET_NAME_SLOT" not in names(_nic(fake, "/devices/vif-07", "eth2", "4"))
    use_scheme(monkeypatch, "v249")  # Xen names came with v250
    assert "ID_NET_NAME_SLOT" not in names(vif12)


def test_xen_backend_keeps_its_own_names(fake: FakeSysfs) -> None:
    fake.dev("/devices/vif-3", "xen-backend")
    assert "ID_NET_NAME_SLOT" not in names(_nic(fake, "/devices/vif-3", "eth0", "2"))


@pytest.mark.parametrize(("core", "expected"), [("1", "enp1s0b1"), ("0", "enp1s0")])
def test_bcma_core_suffix(fake: FakeSysfs, core: str, expected: str) -> None:
    fake.dev(PCI, "pci")
    fake.dev(f"{PCI}/0000:01:00.0", "pci")
    fake.dev(f"{PCI}/0000:01:00.0/bcma0:{core}", "bcma")
    nic = _nic(fake, f"{PCI}/0000:01:00.0/bcma0:{core}", "eth0", "2")
    assert names(nic) == {"ID_NET_NAMING_SCHEME": "v252", "ID_NET_NAME_PATH": expected}


def test_infiniband_prefix_and_no_mac_name(fake: FakeSysfs, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.dev(PCI, "pci")
    fake.dev(f"{PCI}/0000:05:00.0", "pci")
    nic = _nic(fake, f"{PCI}/0000:05:00.0", "ib0", "2", dev_port="0", dev_id="1")
    # an IPoIB device: 20-byte address, permanent; older kernels put the port in dev_id
    (nic / "type").write_text("32\n")
    (nic / "addr_assign_type").write_text("0\n")
    (nic / "address").write_text(":".join(["80"] + ["00"] * 19) + "\n")
    assert names(nic) == {"ID_NET_NAMING_SCHEME": "v252", "ID_NET_NAME_PATH": "ibp5s0d1"}
    use_scheme(monkeypatch, "v239")  # the "ib" prefix came with v240: nothing before
    assert names(nic) == {}


@pytest.mark.parametrize(("uevent", "attrs", "expected"), [
    # a permanent MAC: the MAC name and the vendor from the OUI database
    ("", {"addr_assign_type": "0", "address": "00:e0:4c:68:00:01"},
     {"ID_NET_NAME_MAC": "enx00e04c680001", "ID_OUI_FROM_DATABASE": "REALTEK SEMICONDUCTOR CORP.",
      "ID_NET_NAME_PATH": "enp2s0"}),
    ("DEVTYPE=wlan\n", {}, {"ID_NET_NAME_PATH": "wlp2s0"}),
    ("DEVTYPE=wwan\n", {}, {"ID_NET_NAME_PATH": "wwp2s0"}),
    ("", {"type": "256"}, {"ID_NET_NAME_PATH": "slp2s0"}),  # serial line IP
    ("", {"phys_port_name": "p0"}, {"ID_NET_NAME_PATH": "enp2s0np0"}),
])
def test_prefixes_and_mac_names(fake: FakeSysfs, uevent: str, attrs: dict[str, str],
                                expected: dict[str, str]) -> None:
    nic = _pci_nic(fake, "0000:02:00.0", "eth0", "2")
    (nic / "uevent").write_text(f"INTERFACE=eth0\nIFINDEX=2\n{uevent}")
    for name, value in attrs.items():
        (nic / name).write_text(value + "\n")
    assert names(nic) == {"ID_NET_NAMING_SCHEME": "v252", **expected}


@pytest.mark.parametrize("attrs", [{"iflink": "7"}, {"type": "772"}])  # a VLAN on top of a link; loopback
def test_stacked_and_other_types_get_nothing(fake: FakeSysfs, attrs: dict[str, str]) -> None:
    nic = _pci_nic(fake, "0000:02:00.0", "eth0", "2")
    for name, value in attrs.items():
        (nic / name).write_text(value + "\n")
    assert names(nic) == {}


def test_virtio_between_pci_and_interface_is_skipped(fake: FakeSysfs) -> None:
    fake.dev(f"{PCI}/0000:00:03.0", "pci")
    fake.dev(f"{PCI}/0000:00:03.0/virtio0", "virtio")
    assert names(_nic(fake, f"{PCI}/0000:00:03.0/virtio0", "eth0", "2"))["ID_NET_NAME_PATH"] == "enp0s3"


def test_usb_configuration_and_interface_suffixes(fake: FakeSysfs) -> None:
    fake.dev(PCI, "pci")
    fake.dev(f"{PCI}/0000:00:14.0", "pci")
    fake.dev(f"{PCI}/0000:00:14.0/usb1", "usb", "DEVTYPE=usb_device\n")
    usb = f"{PCI}/0000:00:14.0/usb1/1-2/1-2.4"
    fake.dev(usb, "usb", "DEVTYPE=usb_device\n")
    fake.dev(f"{usb}/1-2.4:2.1", "usb", "DEVTYPE=usb_interface\n")
    assert names(_nic(fake, f"{usb}/1-2.4:2.1", "eth0", "2"))["ID_NET_NAME_PATH"] == "enp0s20u2u4c2i1"


@pytest.mark.parametrize(("aliases", "expected"), [
    ({"ethernet1": "/soc/ethernet@ff540000"}, "end1"),
    ({"ethernet": "/soc/ethernet@ff540000"}, "end0"),  # no index means 0 ...
    ({"ethernet": "/soc/ethernet@ff540000", "ethernet0": "/soc/other"}, None),  # ... unless that is ambiguous
    ({"ethernet010": "/soc/ethernet@ff540000"}, "end8"),  # an index with a leading 0 is octal to udev
    ({"ethernet2": "/soc/other", "serial0": "/soc/ethernet@ff540000"}, None),
])
def test_devicetree_aliases(fake: FakeSysfs, monkeypatch: pytest.MonkeyPatch, aliases: dict[str, str],
                            expected: str | None) -> None:
    base = fake.root / "firmware/devicetree/base"
    (base / "soc/ethernet@ff540000").mkdir(parents=True)
    (base / "aliases").mkdir()
    for name, target in aliases.items():
        (base / "aliases" / name).write_bytes(target.encode() + b"\0")
    monkeypatch.setattr(net_id, "DEVICETREE", str(base))
    plat = fake.dev("/devices/platform/ff540000.ethernet", "platform")
    os.symlink(os.path.relpath(base / "soc/ethernet@ff540000", plat), plat / "of_node")
    nic = _nic(fake, "/devices/platform/ff540000.ethernet", "eth0", "2")
    assert names(nic).get("ID_NET_NAME_ONBOARD") == expected
    use_scheme(monkeypatch, "v251")  # aliases came with v252
    assert "ID_NET_NAME_ONBOARD" not in names(nic)


def test_names_too_long_for_an_interface_name_are_dropped(fake: FakeSysfs) -> None:
    fake.dev("/devices/netdevsim1", "netdevsim")
    assert "ID_NET_NAME_PATH" not in names(_nic(fake, "/devices/netdevsim1", "eth0", "2",
                                                phys_port_name="p" * 130))


def _pci_nic(fake: FakeSysfs, address: str, ifname: str, ifindex: str, **pci_attrs: str) -> Path:
    fake.dev(PCI, "pci")
    fake.dev(f"{PCI}/{address}", "pci", **pci_attrs)
    return _nic(fake, f"{PCI}/{address}", ifname, ifindex)


@pytest.mark.parametrize(("scheme", "onboard", "label"), [
    ("v239", None, None),  # index 0 is not an index yet, and the label comes only with an index
    ("v240", "eno0", "enOnboard"),  # the label gets the type prefix until v243
    ("v243", "eno0", "Onboard"),
])
def test_onboard_index_zero_and_label_prefix_follow_the_scheme(
        fake: FakeSysfs, monkeypatch: pytest.MonkeyPatch, scheme: str, onboard: str | None,
        label: str | None) -> None:
    use_scheme(monkeypatch, scheme)
    got = names(_pci_nic(fake, "0000:02:00.0", "eth0", "2", acpi_index="0", label="Onboard"))
    assert (got.get("ID_NET_NAME_ONBOARD"), got.get("ID_NET_LABEL_ONBOARD")) == (onboard, label)


@pytest.mark.parametrize(("scheme", "index", "onboard"), [
    ("v247", "20000", None),  # beyond 2^14-1 until v249
    ("v249", "20000", "eno20000"),
    ("v252", "70000", None),  # beyond 2^16-1
    ("v252", "0x10", "eno16"),  # udev reads indexes like C: hex and octal prefixes count
    ("v252", "010", "eno8"),
])
def test_onboard_index_range_and_format(fake: FakeSysfs, monkeypatch: pytest.MonkeyPatch, scheme: str, index: str,
                                        onboard: str | None) -> None:
    use_scheme(monkeypatch, scheme)
    got = names(_pci_nic(fake, "0000:02:00.0", "eth0", "2", acpi_index=index))
    assert got.get("ID_NET_NAME_ONBOARD") == onboard


def test_ari_and_sriov_suffix_follow_the_scheme(fake: FakeSysfs, monkeypatch: pytest.MonkeyPatch) -> None:
    ari = _pci_nic(fake, "0000:05:01.2", "eth2", "4", ari_enabled="1")
    pf = fake.dev(f"{PCI}/0000:03:00.0", "pci")
    vf = fake.dev(f"{PCI}/0000:03:10.2", "pci")
    os.symlink(os.path.relpath(pf, vf), vf / "physfn")
    fake.link(f"{PCI}/0000:03:00.0/virtfn5", vf)
    vf_nic = _nic(fake, f"{PCI}/0000:03:10.2", "eth1", "3")
    assert (names(ari)["ID_NET_NAME_PATH"], names(vf_nic)["ID_NET_NAME_PATH"]) == ("enp5s1f10", "enp3s0v5")
    use_scheme(monkeypatch, "v238")  # neither ARI function numbers nor "v<N>" yet
    assert (names(ari)["ID_NET_NAME_PATH"], names(vf_nic)["ID_NET_NAME_PATH"]) == ("enp5s1f2", "enp3s16f2")


def _slot_behind_bridge(fake: FakeSysfs, multifunction: bool) -> Path:
    bridge = fake.dev(PCI, "pci", modalias="pci:v00008086d00001901sv00000000sd00000000bc06sc04i00")
    fake.dev("/bus/pci/slots/7", None, address="0000:00:01")
    (bridge / "uevent").write_text("")
    config = bytearray(64)
    config[14] = 0x80 if multifunction else 0
    nic_pci = fake.dev(f"{PCI}/0000:06:00.0", "pci")
    (nic_pci / "config").write_bytes(bytes(config))
    return _nic(fake, f"{PCI}/0000:06:00.0", "eth0", "2")


@pytest.mark.parametrize(("scheme", "multifunction", "slot"), [
    ("v245", False, "ens7"),  # before v247 a bridge's slot is used
    ("v247", True, None),  # v247: never from a bridge
    ("v251", False, None),  # v251: from a bridge only for a multifunction device
    ("v251", True, "ens7f0"),
])
def test_bridge_slot_follows_the_scheme(fake: FakeSysfs, monkeypatch: pytest.MonkeyPatch, scheme: str,
                                        multifunction: bool, slot: str | None) -> None:
    use_scheme(monkeypatch, scheme)
    assert names(_slot_behind_bridge(fake, multifunction)).get("ID_NET_NAME_SLOT") == slot


def test_s390_function_id_slot_needs_v249(fake: FakeSysfs, monkeypatch: pytest.MonkeyPatch) -> None:
    nic = _pci_nic(fake, "0001:00:00.0", "eth0", "2", function_id="0x00000305")
    fake.dev("/bus/pci/slots/00000305", None, address="0001:00:00")
    # the slot is the function id, printed in decimal, without the domain
    assert names(nic)["ID_NET_NAME_SLOT"] == "ens773"
    # before v249 the slot is found by address; udev reads the directory name "00000305" as octal
    use_scheme(monkeypatch, "v247")
    assert names(nic)["ID_NET_NAME_SLOT"] == "enP1s197"


@pytest.mark.parametrize(("cmdline", "env", "expected", "complaint"), [
    ("quiet", None, "v252", False),
    ("net.naming-scheme=v240 net.naming_scheme=v247", None, "v247", False),  # last wins, '_' is '-'
    ("net.naming-scheme=v240", "v249", "v249", False),  # the environment wins ...
    ("net.naming-scheme=v240", ":v249", "v240", False),  # ... unless it starts with ':'
    ("quiet", ":v249", "v249", False),
    ("net.naming-scheme=latest", None, "v252", False),
    ("net.naming-scheme=v242", None, "v252", True),  # no such scheme: the default, with a warning
])
def test_scheme_choice(cmdline: str, env: str | None, expected: str, complaint: bool) -> None:
    scheme, diagnostics = choose(cmdline, env)
    assert scheme.name == expected
    assert bool(diagnostics) == complaint


@pytest.mark.skipif(not os.path.exists("/sys/class/net/eth0"), reason="no eth0 here")
@pytest.mark.parametrize("env", [None, "v238", "v247", "latest", ":v250", "no-such-scheme"])
def test_real_eth0_matches_udevadm(env: str | None) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "NET_NAMING_SCHEME"}
    if env is not None:
        environ["NET_NAMING_SCHEME"] = env
    argv = ["test-builtin", "net_id", "/sys/class/net/eth0"]
    real = subprocess.run(["udevadm", *argv], env=environ, capture_output=True, text=True, timeout=30)
    ours = subprocess.run([sys.executable, "-m", "sysmasterd.cli.devctl", *argv], env=environ,
                          capture_output=True, text=True, timeout=30)
    assert ours.returncode == real.returncode == 0
    assert sorted(ours.stdout.splitlines()) == sorted(real.stdout.splitlines())
    assert any(line.startswith("ID_NET_NAMING_SCHEME=") for line in ours.stdout.splitlines())
