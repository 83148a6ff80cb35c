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
