"""Builtins on hardware this VM lacks (ATA disk, USB NIC, keyboard, mouse), on a synthetic sysfs.

The expected values are what udev 252 computes for the same topology.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sysmasterd.devmaster import device
from sysmasterd.devmaster.builtin import input_id, net_id, path_id, usb_id
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import EventSettings, UdevEvent


class FakeSysfs:
    def __init__(self, root: Path) -> None:
        self.root = root

    def dev(self, path: str, subsystem: str | None, uevent: str = "", **attrs: str) -> Path:
        d = self.root / path.lstrip("/")
        d.mkdir(parents=True, exist_ok=True)
        (d / "uevent").write_text(uevent)
        if subsystem:
            target = self.root / "bus" / subsystem
            target.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.relpath(target, d), d / "subsystem")
        for name, value in attrs.items():
            (d / name.replace("__", "/")).parent.mkdir(parents=True, exist_ok=True)
            (d / name.replace("__", "/")).write_text(value + "\n")
        return d

    def link(self, path: str, target: Path) -> None:
        link = self.root / path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(target, link.parent), link)


@pytest.fixture
def sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSysfs]:
    root = tmp_path / "sys"
    root.mkdir()
    monkeypatch.setattr(device, "SYSFS", str(root))
    yield FakeSysfs(root)


def _run(module: object, syspath: Path, command: str = "") -> dict[str, str]:
    dev = Device.from_syspath(str(syspath))
    dev.properties["ACTION"] = "add"
    event = UdevEvent(dev, EventSettings())
    assert module.run(event, command.split(), False) == 0  # type: ignore[attr-defined]
    return {k: v for k, v in dev.properties.items() if k.startswith("ID_")}


def test_ata_disk_path(sysfs: FakeSysfs) -> None:
    pci = "/devices/pci0000:00/0000:00:1f.2"
    sysfs.dev(pci, "pci")
    sysfs.dev(f"{pci}/ata3", None)
    port = sysfs.dev(f"{pci}/ata3/ata_port/ata3", "ata_port", port_no="3")
    sysfs.link("/class/ata_port/ata3", port)
    sysfs.dev(f"{pci}/ata3/host2", "scsi", "DEVTYPE=scsi_host\n")
    sysfs.dev(f"{pci}/ata3/host2/target2:0:0", "scsi", "DEVTYPE=scsi_target\n")
    sysfs.dev(f"{pci}/ata3/host2/target2:0:0/2:0:0:0", "scsi", "DEVTYPE=scsi_device\n")
    disk = sysfs.dev(f"{pci}/ata3/host2/target2:0:0/2:0:0:0/block/sda", "block",
                     "MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n")
    assert _run(path_id, disk) == {"ID_PATH": "pci-0000:00:1f.2-ata-3.0", "ID_PATH_TAG": "pci-0000_00_1f_2-ata-3_0",
                                   "ID_PATH_ATA_COMPAT": "pci-0000:00:1f.2-ata-3"}


def test_usb_nic_names_and_path(sysfs: FakeSysfs) -> None:
    pci = "/devices/pci0000:00/0000:00:14.0"
    sysfs.dev(pci, "pci")
    sysfs.dev(f"{pci}/usb1", "usb", "DEVTYPE=usb_device\n")
    sysfs.dev(f"{pci}/usb1/1-2", "usb", "DEVTYPE=usb_device\n", idVendor="0bda", idProduct="8153",
              manufacturer="Realtek", product="USB 10/100/1000 LAN", serial="000001", bcdDevice="3000")
    sysfs.dev(f"{pci}/usb1/1-2/1-2:1.0", "usb", "DEVTYPE=usb_interface\nDRIVER=r8152\n", bInterfaceClass="ff",
              bInterfaceNumber="00")
    nic = sysfs.dev(f"{pci}/usb1/1-2/1-2:1.0/net/eth1", "net", "INTERFACE=eth1\nIFINDEX=3\n", ifindex="3",
                    iflink="3", type="1", addr_assign_type="0", address="00:e0:4c:68:00:01")
    assert _run(path_id, nic) == {"ID_PATH": "pci-0000:00:14.0-usb-0:2:1.0",
                                  "ID_PATH_TAG": "pci-0000_00_14_0-usb-0_2_1_0"}
    names = _run(net_id, nic, "net_id")
    assert names["ID_NET_NAME_MAC"] == "enx00e04c680001"
    assert names["ID_NET_NAME_PATH"] == "enp0s20u2"
    ids = _run(usb_id, nic, "usb_id")
    assert (ids["ID_VENDOR"], ids["ID_MODEL"], ids["ID_SERIAL"]) == (
        "Realtek", "USB_10_100_1000_LAN", "Realtek_USB_10_100_1000_LAN_000001")
    assert (ids["ID_VENDOR_ID"], ids["ID_MODEL_ID"], ids["ID_BUS"]) == ("0bda", "8153", "usb")


@pytest.mark.parametrize(("caps", "expected"), [
    # a full keyboard: EV_KEY, ESC..D in the first word
    ({"ev": "120013", "key": "e080ffdf01cfffff fffffffffffffffe", "rel": "0", "abs": "0"},
     {"ID_INPUT", "ID_INPUT_KEY", "ID_INPUT_KEYBOARD"}),
    # a mouse: EV_REL with X/Y, BTN_LEFT
    ({"ev": "17", "key": "70000 0 0 0 0", "rel": "903", "abs": "0"}, {"ID_INPUT", "ID_INPUT_MOUSE"}),
    # a touchpad: ABS X/Y, BTN_TOOL_FINGER, BTN_TOUCH
    ({"ev": "b", "key": "e520 10000 0 0 0 0", "rel": "0", "abs": "2608000 3"}, {"ID_INPUT", "ID_INPUT_TOUCHPAD"}),
])
def test_input_classification(sysfs: FakeSysfs, caps: dict[str, str], expected: set[str]) -> None:
    attrs = {f"capabilities__{k}": v for k, v in caps.items()}
    sysfs.dev("/devices/platform/i8042/serio0/input/input3", "input", "", properties="0", id__bustype="0011", **attrs)
    ev = sysfs.dev("/devices/platform/i8042/serio0/input/input3/event3", "input", "MAJOR=13\nMINOR=67\n")
    assert set(_run(input_id, ev, "input_id")) == expected



def _scsi_chain(sysfs: FakeSysfs, parent: str, target: str, lun: int) -> Path:
    """target/H:C:T:L/block/sdb below `parent`; returns the disk."""
    hctl = f"{target.removeprefix('target')}:{lun}"
    sysfs.dev(f"{parent}/{target}", "scsi", "DEVTYPE=scsi_target\n")
    sysfs.dev(f"{parent}/{target}/{hctl}", "scsi", "DEVTYPE=scsi_device\n")
    return sysfs.dev(f"{parent}/{target}/{hctl}/block/sdb", "block", "MAJOR=8\nMINOR=16\nDEVNAME=sdb\nDEVTYPE=disk\n")


def _class_dev(sysfs: FakeSysfs, path: str, subsystem: str, **attrs: str) -> None:
    sysfs.link(f"/class/{subsystem}/{os.path.basename(path)}", sysfs.dev(path, subsystem, **attrs))


def test_fibre_channel_path(sysfs: FakeSysfs) -> None:
    pci = "/devices/pci0000:00/0000:00:03.0"
    sysfs.dev(pci, "pci")
    sysfs.dev(f"{pci}/host5", "scsi", "DEVTYPE=scsi_host\n")
    rport = f"{pci}/host5/rport-5:0-2"
    sysfs.dev(rport, None)
    disk = _scsi_chain(sysfs, rport, "target5:0:1", 300)
    _class_dev(sysfs, f"{rport}/target5:0:1/fc_transport/target5:0:1", "fc_transport",
               port_name="0x500601663ee0025a")
    # LUN 300 does not fit peripheral addressing: the 64-bit layout
    assert _run(path_id, disk)["ID_PATH"] == "pci-0000:00:03.0-fc-0x500601663ee0025a-lun-0x012c000000000000"


@pytest.mark.parametrize(("num_phys", "expander", "expected"), [
    ("1", True, "pci-0000:00:04.0-sas-exp0x500304801f3d39ff-phy7-lun-0"),
    ("1", False, "pci-0000:00:04.0-sas-phy7-lun-0"),
    ("4", True, "pci-0000:00:04.0-sas-0x5000c50012345678-lun-0"),
])
def test_sas_paths(sysfs: FakeSysfs, num_phys: str, expander: bool, expected: str) -> None:
    pci = "/devices/pci0000:00/0000:00:04.0"
    sysfs.dev(pci, "pci")
    sysfs.dev(f"{pci}/host6", "scsi", "DEVTYPE=scsi_host\n")
    top = f"{pci}/host6/port-6:0"
    sysfs.dev(top, None)
    if expander:
        top = f"{top}/expander-6:0"
        sysfs.dev(top, None)
        _class_dev(sysfs, f"{top}/sas_device/expander-6:0", "sas_device", sas_address="0x500304801f3d39ff")
    port = f"{top}/port-6:0:7"
    sysfs.dev(port, None)
    _class_dev(sysfs, f"{port}/sas_port/port-6:0:7", "sas_port", num_phys=num_phys)
    end = f"{port}/end_device-6:0:7"
    sysfs.dev(end, None)
    _class_dev(sysfs, f"{end}/sas_device/end_device-6:0:7", "sas_device", sas_address="0x5000c50012345678",
               phy_identifier="7")
    disk = _scsi_chain(sysfs, end, "target6:0:7", 0)
    assert _run(path_id, disk)["ID_PATH"] == expected


def test_iscsi_path(sysfs: FakeSysfs) -> None:
    # the session's host sits on the platform root, which has no subsystem: the path is the session
    session = "/devices/platform/host7/session3"
    sysfs.dev("/devices/platform", None)
    sysfs.dev("/devices/platform/host7", "scsi", "DEVTYPE=scsi_host\n")
    sysfs.dev(session, None)
    _class_dev(sysfs, f"{session}/iscsi_session/session3", "iscsi_session", targetname="iqn.2003-01.org.x:disk1")
    _class_dev(sysfs, f"{session}/connection3:0/iscsi_connection/connection3:0", "iscsi_connection",
               persistent_address="192.0.2.10", persistent_port="3260")
    disk = _scsi_chain(sysfs, session, "target7:0:0", 1)
    assert _run(path_id, disk)["ID_PATH"] == \
        "ip-192.0.2.10:3260-iscsi-iqn.2003-01.org.x:disk1-lun-1"


def test_hyperv_scsi_path(sysfs: FakeSysfs) -> None:
    vmbus = "/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0004:00/VMBUS:00/ba6163d9-04a1-4d29-b605-72e2ffb1dc7f"
    sysfs.dev("/devices/LNXSYSTM:00", "acpi")
    sysfs.dev(vmbus, "vmbus", device_id="{ba6163d9-04a1-4d29-b605-72e2ffb1dc7f}")
    sysfs.dev(f"{vmbus}/host0", "scsi", "DEVTYPE=scsi_host\n")
    disk = _scsi_chain(sysfs, f"{vmbus}/host0", "target0:0:0", 2)
    assert _run(path_id, disk)["ID_PATH"] == "acpi-LNXSYSTM:00-vmbus-ba6163d904a14d29b60572e2ffb1dc7f-lun-2"


def test_usb_storage_takes_scsi_inquiry_data(sysfs: FakeSysfs) -> None:
    pci = "/devices/pci0000:00/0000:00:14.0"
    sysfs.dev(pci, "pci")
    sysfs.dev(f"{pci}/usb2", "usb", "DEVTYPE=usb_device\n")
    sysfs.dev(f"{pci}/usb2/2-1", "usb", "DEVTYPE=usb_device\n", idVendor="0781", idProduct="5567",
              manufacturer="SanDisk", product="Cruzer Blade", serial="4C530001", bcdDevice="0100")
    iface = f"{pci}/usb2/2-1/2-1:1.0"
    sysfs.dev(iface, "usb", "DEVTYPE=usb_interface\nDRIVER=usb-storage\n", bInterfaceClass="08",
              bInterfaceSubClass="06", bInterfaceNumber="00")
    sysfs.dev(f"{iface}/host3", "scsi", "DEVTYPE=scsi_host\n")
    sysfs.dev(f"{iface}/host3/target3:0:0", "scsi", "DEVTYPE=scsi_target\n")
    sysfs.dev(f"{iface}/host3/target3:0:0/3:0:0:1", "scsi", "DEVTYPE=scsi_device\n", vendor="SanDisk'",
              model="Cruzer Blade    ", type="0", rev="1.00")
    disk = sysfs.dev(f"{iface}/host3/target3:0:0/3:0:0:1/block/sdc", "block",
                     "MAJOR=8\nMINOR=32\nDEVNAME=sdc\nDEVTYPE=disk\n")
    props = _run(usb_id, disk)
    assert {k: props[k] for k in ("ID_VENDOR", "ID_VENDOR_ENC", "ID_MODEL", "ID_MODEL_ENC", "ID_REVISION",
                                  "ID_TYPE", "ID_INSTANCE", "ID_SERIAL", "ID_SERIAL_SHORT")} == {
        "ID_VENDOR": "SanDisk_", "ID_VENDOR_ENC": "SanDisk\\x27", "ID_MODEL": "Cruzer_Blade",
        "ID_MODEL_ENC": "Cruzer\\x20Blade\\x20\\x20\\x20\\x20", "ID_REVISION": "1.00", "ID_TYPE": "disk",
        "ID_INSTANCE": "0:1", "ID_SERIAL": "SanDisk__Cruzer_Blade_4C530001-0:1", "ID_SERIAL_SHORT": "4C530001"}


def _nic(sysfs: FakeSysfs, parent: str, name: str, ifindex: str, **attrs: str) -> Path:
    return sysfs.dev(f"{parent}/net/{name}", "net", f"INTERFACE={name}\nIFINDEX={ifindex}\n", ifindex=ifindex,
                     iflink=ifindex, type="1", addr_assign_type="1", address="02:00:00:00:00:01", **attrs)


def test_sriov_virtual_function_and_onboard_names(sysfs: FakeSysfs) -> None:
    pf = "/devices/pci0000:00/0000:00:02.0/0000:03:00.0"
    sysfs.dev("/devices/pci0000:00/0000:00:02.0", "pci")
    sysfs.dev(pf, "pci", acpi_index="0", label="Onboard LAN")
    vf = sysfs.dev("/devices/pci0000:00/0000:00:02.0/0000:03:10.2", "pci")
    os.symlink(os.path.relpath(sysfs.root / pf.lstrip("/"), vf), vf / "physfn")
    sysfs.link(f"{pf}/virtfn5", vf)
    pf_nic = _nic(sysfs, pf, "eth0", "2", dev_port="1")
    vf_nic = _nic(sysfs, "/devices/pci0000:00/0000:00:02.0/0000:03:10.2", "eth1", "3")
    pf_names = _run(net_id, pf_nic, "net_id")
    # acpi_index 0 is an index (scheme v252), the label comes without the "en" prefix
    assert (pf_names["ID_NET_NAME_ONBOARD"], pf_names["ID_NET_LABEL_ONBOARD"]) == ("eno0d1", "Onboard LAN")
    assert pf_names["ID_NET_NAME_PATH"] == "enp3s0d1"
    vf_names = _run(net_id, vf_nic, "net_id")
    assert (vf_names["ID_NET_NAME_ONBOARD"], vf_names["ID_NET_NAME_PATH"]) == ("eno0v5", "enp3s0v5")
    assert "ID_NET_LABEL_ONBOARD" not in vf_names


def test_ari_function_numbers(sysfs: FakeSysfs) -> None:
    sysfs.dev("/devices/pci0000:00/0000:00:03.0", "pci")
    pci = "/devices/pci0000:00/0000:00:03.0/0000:05:01.2"
    sysfs.dev(pci, "pci", ari_enabled="1")
    assert _run(net_id, _nic(sysfs, pci, "eth2", "4"), "net_id")["ID_NET_NAME_PATH"] == "enp5s1f10"


def test_devicetree_alias_names(sysfs: FakeSysfs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "devicetree/base"
    (base / "soc/ethernet@ff540000").mkdir(parents=True)
    (base / "aliases").mkdir()
    (base / "aliases/ethernet1").write_bytes(b"/soc/ethernet@ff540000\0")
    (base / "aliases/serial0").write_bytes(b"/soc/serial@ff180000\0")
    monkeypatch.setattr(net_id, "DEVICETREE", str(base))
    plat = sysfs.dev("/devices/platform/ff540000.ethernet", "platform")
    os.symlink(base / "soc/ethernet@ff540000", plat / "of_node")
    names = _run(net_id, _nic(sysfs, "/devices/platform/ff540000.ethernet", "eth0", "2"), "net_id")
    assert names["ID_NET_NAME_ONBOARD"] == "end1"
