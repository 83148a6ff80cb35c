"""Pure pieces: hashes, wire formats, db format, config parsing, command splitting."""

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sysmasterd.devmaster import config
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.framework import db
from sysmasterd.devmaster.framework.control_wire import WIRE_SIZE, ControlMessage, ControlType, pack, unpack
from sysmasterd.devmaster.framework.message import HEADER_SIZE, MessageError, decode, encode_udev
from sysmasterd.devmaster.framework.murmur import murmur_hash2, string_bloom64
from sysmasterd.devmaster.rules.format import replace_chars, replace_whitespace
from sysmasterd.devmaster.rules.spawn import split_command


@pytest.mark.parametrize(("text", "hash32", "bloom"), [
    # pinned after real libudev filters (pyudev filter_by/filter_by_tag, test_dm_daemon) accepted them;
    # they cover the 0-3 byte tails of the algorithm
    ("net", 0xA74D3CC8, 0x8000000080100), ("block", 0xF0031DB7, 0xC2000000000001),
    ("systemd", 0xA75F972A, 0x200040010800000), ("usb_device", 0x27F8F50C, 0x4000000000109000),
    ("abcd", 0x26873021, 0x8000200000001),
])
def test_murmur_known_values(text: str, hash32: int, bloom: int) -> None:
    assert murmur_hash2(text.encode()) == hash32
    assert string_bloom64(text) == bloom
    assert murmur_hash2(b"") == 0


def test_udev_message_roundtrip() -> None:
    props = {"ACTION": "add", "DEVPATH": "/devices/x", "SUBSYSTEM": "block", "SEQNUM": "7", "DEVTYPE": "disk"}
    data = encode_udev(props, {"systemd"})
    assert data[:8] == b"libudev\0"
    assert struct.unpack_from(">I", data, 8)[0] == 0xFEEDCAFE
    assert struct.unpack_from("=I", data, 16)[0] == HEADER_SIZE == 40
    assert data[HEADER_SIZE:].startswith(b"UDEV_DATABASE_VERSION=1\0ACTION=add\0")
    back, header = decode(data)
    assert back == props
    assert header is not None and header.tag_bloom == string_bloom64("systemd")


def test_kernel_message_decode() -> None:
    raw = b"change@/devices/virtual/net/lo\0ACTION=change\0DEVPATH=/devices/virtual/net/lo\0SUBSYSTEM=net\0SEQNUM=5\0"
    props, header = decode(raw)
    assert header is None and props["SEQNUM"] == "5"


@pytest.mark.parametrize("raw", [
    b"", b"short", b"x" * 64, b"libudev\0" + b"\0" * 40, b"add@/x\0ACTION=add\0DEVPATH=/x\0" + b"A=1\0" * 4,
    b"libudev\0\xfe\xed\xca\xfe" + struct.pack("=III", 40, 9999, 10) + b"\0" * 16 + b"ACTION=add\0",
])
def test_malformed_messages_rejected(raw: bytes) -> None:
    with pytest.raises(MessageError):
        decode(raw)


@given(st.binary(max_size=600))
def test_decode_never_crashes(raw: bytes) -> None:
    try:
        decode(raw)
    except MessageError:
        pass


def test_control_wire() -> None:
    assert WIRE_SIZE == 280
    for msg in (ControlMessage(ControlType.PING), ControlMessage(ControlType.SET_LOG_LEVEL, 7),
                ControlMessage(ControlType.SET_ENV, text="FOO=bar")):
        assert unpack(pack(msg)) == msg
    bad = bytearray(pack(ControlMessage(ControlType.EXIT)))
    bad[16:20] = b"\0\0\0\0"
    with pytest.raises(ValueError, match="magic"):
        unpack(bytes(bad))
    with pytest.raises(ValueError, match="short"):
        unpack(b"\0" * 10)


def test_db_roundtrip(tmp_path: Path) -> None:
    dev = Device("/sys/devices/virtual/block/loop9", {"MAJOR": "7", "MINOR": "9", "SUBSYSTEM": "block",
                                                     "DEVNAME": "/dev/loop9"})
    dev.set_property("ID_FS_TYPE", "ext4")
    dev.set_property(".HIDDEN", "x")
    dev.tags.add("systemd")
    dev.current_tags.add("systemd")
    dev.devlinks.add("/dev/disk/by-label/foo")
    dev.devlink_priority = -100
    dev.usec_initialized = 123
    db.write_db(dev, str(tmp_path))
    text = (tmp_path / "data" / "b7:9").read_text()
    assert text == "S:disk/by-label/foo\nL:-100\nI:123\nE:ID_FS_TYPE=ext4\nG:systemd\nQ:systemd\nV:1\n"
    rec = db.read_db("b7:9", str(tmp_path))
    assert rec is not None and rec.properties == {"ID_FS_TYPE": "ext4"} and rec.devlink_priority == -100
    db.update_tag_index("b7:9", set(), {"systemd"}, str(tmp_path))
    assert (tmp_path / "tags" / "systemd" / "b7:9").exists()
    db.update_tag_index("b7:9", {"systemd"}, set(), str(tmp_path))
    assert not (tmp_path / "tags" / "systemd" / "b7:9").exists()


def test_db_without_info_is_empty_file(tmp_path: Path) -> None:
    dev = Device("/sys/devices/virtual/net/lo", {"IFINDEX": "1", "SUBSYSTEM": "net"})
    dev.usec_initialized = 5
    db.write_db(dev, str(tmp_path))
    assert (tmp_path / "data" / "n1").read_text() == ""


def test_udev_conf_parsing() -> None:
    cfg = config.Config()
    config.parse_udev_conf('udev_log="debug"\nchildren_max=4\nevent_timeout=30\nbogus\n'
                           'timeout_signal=SIGTERM\nresolve_names=sometimes\n', cfg, "udev.conf")
    assert (cfg.log_level, cfg.children_max, cfg.event_timeout, cfg.timeout_signal) == (7, 4, 30.0, 15)
    assert "udev.conf:4: missing '=', ignoring line" in cfg.diagnostics
    assert any(d.startswith("udev.conf:6: invalid value for resolve_names") for d in cfg.diagnostics)


def test_devmaster_conf_and_cmdline(tmp_path: Path) -> None:
    conf = tmp_path / "devmaster.conf"
    conf.write_text("children_max = 3\nlog_level = info\nrules_d = /a, /b\n")
    cfg = config.Config()
    config.parse_devmaster_conf(str(conf), cfg)
    assert cfg.children_max == 3 and cfg.rules_dirs == ["/a", "/b"]
    config.parse_kernel_cmdline("quiet udev.children_max=9 rd.udev.log_level=3 udev.event_timeout=x", cfg)
    assert cfg.children_max == 9 and cfg.log_level == 3
    assert "kernel command line: invalid value for event_timeout: 'x', ignoring" in cfg.diagnostics


def test_sysmaster_style_devmaster_conf(tmp_path: Path) -> None:
    conf = tmp_path / "devmaster.conf"
    conf.write_text('rules_d = ["/etc/udev/rules.d", "/lib/udev/rules.d"]\nmax_workers = 5\nbogus = 1\n')
    cfg = config.Config()
    config.parse_devmaster_conf(str(conf), cfg)
    assert cfg.rules_dirs == ["/etc/udev/rules.d", "/lib/udev/rules.d"] and cfg.children_max == 5
    assert cfg.diagnostics == [f"{conf}:3: unknown setting 'bogus', ignoring"]
    conf.write_text("children_max = 2\n[section]\nx = 1\nbroken line\n")
    cfg = config.Config()
    config.parse_devmaster_conf(str(conf), cfg)
    assert cfg.diagnostics and "line 4" in cfg.diagnostics[0]


def test_default_children_max() -> None:
    assert 10 <= config.default_children_max() <= 2048


def test_command_split_like_udev() -> None:
    assert split_command("/bin/sh -c 'echo a b' \"x y\" z\\ w") == ["/bin/sh", "-c", "echo a b", "x y", "z\\", "w"]
    assert split_command("prog 'unterminated") == ["prog", "unterminated"]


def test_replace_chars() -> None:
    assert replace_chars("a b/c\\x20ü*", "/ ") == "a b/c\\x20ü_"
    assert replace_chars("a b/c", None) == "a_b_c"
    assert replace_whitespace("  a  b \t c ") == "a_b_c"


def test_siphash24_reference_vectors() -> None:
    from sysmasterd.devmaster.builtin.hw_addr import siphash24

    key = bytes(range(16))  # the SipHash paper's vectors
    assert siphash24(b"", key) == 0x726FDB47DD0E0E31
    assert siphash24(bytes(range(8)), key) == 0x93F5F5799A932462
    assert siphash24(bytes(range(15)), key) == 0xA129CA6149BE45E5


@pytest.mark.parametrize(("text", "raw"), [
    ("00:11:22:aa:BB:cc", "001122aabbcc"), ("00-11-22-aa-bb-cc", "001122aabbcc"), ("0011.22aa.bbcc", "001122aabbcc"),
    ("0:1:2:3:4:5", "000102030405"), ("192.168.1.2", "c0a80102"), ("00:11:22", None), ("00:11:22:33:44:5g", None),
    ("001122aabbcc", None), ("", None),
])
def test_parse_hw_addr(text: str, raw: str | None) -> None:
    from sysmasterd.devmaster.builtin.hw_addr import parse_hw_addr

    assert parse_hw_addr(text) == (bytes.fromhex(raw) if raw else None)


def test_mac_address_policies() -> None:
    import logging

    from sysmasterd.devmaster.builtin.hw_addr import ARPHRD_ETHER, LinkAddress, new_hw_addr

    debug, warning = logging.DEBUG, logging.WARNING
    perm = LinkAddress(ARPHRD_ETHER, bytes.fromhex("525400123456"), 0, "enp1s0")
    rand = LinkAddress(ARPHRD_ETHER, bytes.fromhex("8ac6ea70ae90"), 1, "veth0")
    mid = bytes(range(16))
    # persistent leaves a burnt-in address alone, random leaves a random one alone
    assert new_hw_addr(perm, "persistent", None, mid) == (
        None, [(debug, 'MAC address on the device already matches policy "persistent".')])
    assert new_hw_addr(rand, "random", None, mid) == (
        None, [(debug, 'MAC address on the device already matches policy "random".')])
    # what userspace set stays
    assert new_hw_addr(LinkAddress(ARPHRD_ETHER, perm.hw_addr, 3, "x"), "persistent", None, mid) == (
        None, [(debug, "MAC address on the device already set by userspace.")])
    # random on a burnt-in address: unicast, locally administered, retried until valid
    draws = iter([bytes(6), b"\xff" * 6, bytes.fromhex("0100000000ff")])
    assert new_hw_addr(perm, "random", None, mid, lambda n: next(draws)) == (bytes.fromhex("0200000000ff"), [])
    # persistent is a pure function of machine id and name
    first, _ = new_hw_addr(rand, "persistent", None, mid)
    assert first is not None and first[0] & 3 == 2 and new_hw_addr(rand, "persistent", None, mid)[0] == first
    assert new_hw_addr(rand, "persistent", None, None)[0] is None
    # none: MACAddress= as given, multicast bit cleared with a warning; refused when null
    static = (debug, "Using static MAC address.")
    assert new_hw_addr(rand, "none", None, mid) == (None, [static])
    addr, notes = new_hw_addr(rand, "none", bytes.fromhex("03005eaabbcc"), mid)
    assert addr == bytes.fromhex("02005eaabbcc") and notes[0] == static and "multicast" in notes[1][1]
    assert new_hw_addr(rand, "none", bytes(6), mid)[0] is None
    assert new_hw_addr(rand, "none", bytes(4), mid) == (None, [static, (
        warning, "Specified MAC address with invalid length (4, expected 6), refusing.")])


def test_link_config_parse_and_match() -> None:
    from sysmasterd.devmaster.builtin.link_config import LinkFacts, link_matches, parse_link_config

    text = ("[Match]\nOriginalName=!dmx*\nOriginalName=eth*\nProperty=ID_BUS=pci* A!=1\nProperty=!ID_DROP=1\n"
            "MACAddress=00:11:22:33:44:55 zz\n[Link]\nMACAddressPolicy=bogus\n"
            "NamePolicy=path mac sideways\nMTUBytes=9K\nSpeed=1\n")
    config, diags = parse_link_config("/x/a.link", [("/x/a.link", text)])
    assert config is not None
    assert [d.split(": ", 1)[0] for d in diags] == ["/x/a.link:4", "/x/a.link:6", "/x/a.link:8", "/x/a.link:9",
                                                "/x/a.link:11"]
    assert config.name_policy == ["path", "mac"] and config.mtu == 9216 and config.mac_address_policy == "none"
    facts = LinkFacts("eth0", bytes.fromhex("001122334455"), None, "virtio_net", "ether", {"ID_BUS": "pci"})
    assert link_matches(config, facts)
    assert not link_matches(config, LinkFacts("dmx0", facts.hw_addr, None, None, "ether", {"ID_BUS": "pci"}))
    assert not link_matches(config, LinkFacts("eth0", facts.hw_addr, None, None, "ether",
                                              {"ID_BUS": "pci", "ID_DROP": "1"}))
    assert not link_matches(config, LinkFacts("eth0", bytes(6), None, None, "ether", {"ID_BUS": "pci"}))
    empty, diags = parse_link_config("/x/b.link", [("/x/b.link", "[Link]\nName=foo\n")])
    assert empty is None and "No valid settings found in the [Match] section" in diags[-1]


@pytest.mark.parametrize(("cmdline", "expected"), [
    ("quiet udev.blockdev_read_only", True), ("rd.udev.blockdev_read_only=1", True),
    ("udev.blockdev_read_only=no", False), ("udev.blockdev_read_only=maybe", False), ("quiet", False),
])
def test_blockdev_read_only_cmdline(cmdline: str, expected: bool) -> None:
    cfg = config.Config()
    config.parse_kernel_cmdline(cmdline, cfg)
    assert cfg.blockdev_read_only is expected
    assert bool(cfg.diagnostics) is ("maybe" in cmdline)


def test_blockdev_read_only_only_physical_disks_on_add() -> None:
    from sysmasterd.devmaster.event import EventSettings
    from sysmasterd.devmaster.framework.processing import wants_read_only

    on, off = EventSettings(blockdev_read_only=True), EventSettings()

    def dev(name: str, action: str = "add", subsystem: str = "block") -> Device:
        return Device.from_uevent({"DEVPATH": f"/devices/virtual/block/{name}", "ACTION": action,
                                   "SUBSYSTEM": subsystem, "DEVNAME": name, "MAJOR": "8", "MINOR": "0"})

    assert wants_read_only(dev("sda"), on) and wants_read_only(dev("nvme0n1p1"), on)
    assert not wants_read_only(dev("sda"), off)
    assert not wants_read_only(dev("sda", "change"), on)
    assert not any(wants_read_only(dev(n), on) for n in ("loop0", "dm-1", "md0", "nbd0", "zram0", "drbd1"))
    assert not wants_read_only(dev("ttyS0", subsystem="tty"), on)


@given(st.text("ab*", max_size=8), st.text("ab", max_size=10))
def test_hwdb_star_glob_equals_fnmatch(pattern: str, text: str) -> None:
    import fnmatch as stdlib_fnmatch

    from sysmasterd.devmaster.builtin.hwdb_trie import glob_match

    assert glob_match(pattern, text) == stdlib_fnmatch.fnmatchcase(text, pattern)
