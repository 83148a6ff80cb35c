"""net_setup_link applies .link files like udev 252: compared with the real `udevadm test-builtin`.

Each case creates a veth pair in the sandbox's network namespace, lets the real
udevadm configure it, records what the kernel reports, recreates the pair under
the same names and lets devctl do the same. .link files live on a tmpfs over
/etc/systemd/network inside the sandbox's mount namespace.
"""

import json
from collections.abc import Iterator

import pytest
from dm_sandbox import PYTHON, Sandbox, sandbox

pytestmark = pytest.mark.root
DEVCTL = [PYTHON, "-m", "sysmasterd.cli.devctl"]
STATIC = """\
[Match]
OriginalName=dmlk*

[Link]
MACAddressPolicy=none
MACAddress=03:00:5e:aa:bb:cc
Alias=devmaster test link
MTUBytes=1400
TransmitQueueLength=321
AlternativeName=dmlkalt0
"""
RANDOM = "[Match]\nOriginalName=dmlk*\n[Link]\nMACAddressPolicy=random\nNamePolicy=kernel\nName=dmlknew\n"


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with sandbox() as b:
        b.run(["mount", "-t", "tmpfs", "tmpfs", "/etc/systemd/network"], check=True)
        yield b


def _state(box: Sandbox, ifname: str) -> dict[str, object]:
    link = json.loads(box.run(["ip", "-d", "-j", "link", "show", ifname], check=True).stdout)[0]
    assign = box.run(["cat", f"/sys/class/net/{ifname}/addr_assign_type"]).stdout.strip()
    return {k: link.get(k) for k in ("address", "ifalias", "mtu", "txqlen", "altnames")} | {"assign": assign}


def _configure(box: Sandbox, tool: list[str]) -> tuple[dict[str, object], str, dict[str, object]]:
    box.run(["ip", "link", "add", "dmlk0", "type", "veth", "peer", "name", "dmlk1"], check=True)
    try:
        before = _state(box, "dmlk0")
        r = box.run([*tool, "test-builtin", "net_setup_link", "/sys/class/net/dmlk0"])
        assert r.returncode == 0, r.stderr
        return before, r.stdout, _state(box, "dmlk0")
    finally:
        box.run(["ip", "link", "del", "dmlk0"])


def _compare(box: Sandbox, link_file: str | None,
             random_address: bool = False) -> tuple[dict[str, object], dict[str, object]]:
    """Configure with udevadm, then with devctl; the results must agree (kept random addresses differ)."""
    box.run(["sh", "-c", "rm -f /etc/systemd/network/*"])
    if link_file is not None:
        box.write("/etc/systemd/network/10-dmlk.link", link_file)
    real_before, real_out, real_after = _configure(box, ["udevadm"])
    before, out, after = _configure(box, DEVCTL)
    assert out == real_out
    if random_address:
        assert (after["address"], real_after["address"]) == (before["address"], real_before["address"])
        after, real_after = after | {"address": None}, real_after | {"address": None}
    assert after == real_after
    return real_before, real_after


def test_persistent_policy_from_stock_default_link(box: Sandbox) -> None:
    # 99-default.link: MACAddressPolicy=persistent; a veth's random address is replaced by
    # siphash(machine-id + name), the same on every run and in both tools
    before, after = _compare(box, None)
    assert before["assign"] == "1" and after["assign"] == "3"
    assert after["address"] != before["address"]
    assert int(str(after["address"])[:2], 16) & 0x3 == 0x2  # locally administered, unicast


def test_static_address_alias_mtu_txqlen_altname(box: Sandbox) -> None:
    _, after = _compare(box, STATIC)
    # the multicast bit of MACAddress= is cleared, as udev does
    assert after["address"] == "02:00:5e:aa:bb:cc"
    assert (after["ifalias"], after["mtu"], after["txqlen"]) == ("devmaster test link", 1400, 321)
    assert after["altnames"] == ["dmlkalt0"]


def test_random_policy_keeps_a_random_address_and_names_from_name(box: Sandbox) -> None:
    before, after = _compare(box, RANDOM, random_address=True)
    assert after["assign"] == before["assign"] == "1"


def test_bad_link_file_reported_with_location(box: Sandbox) -> None:
    bad = "[Match]\nOriginalName=dmlk*\n[Link]\nMACAddress=zz:00\nMTUBytes=12\nFrobnicate=1\n"
    box.run(["sh", "-c", "rm -f /etc/systemd/network/*"])
    box.write("/etc/systemd/network/10-dmlk.link", bad)
    box.run(["ip", "link", "add", "dmlk0", "type", "veth", "peer", "name", "dmlk1"], check=True)
    try:
        r = box.run([*DEVCTL, "test-builtin", "net_setup_link", "/sys/class/net/dmlk0"])
    finally:
        box.run(["ip", "link", "del", "dmlk0"])
    assert r.returncode == 0
    assert "ID_NET_LINK_FILE=/etc/systemd/network/10-dmlk.link" in r.stdout
    for line in (4, 5, 6):
        assert f"/etc/systemd/network/10-dmlk.link:{line}:" in r.stderr


def test_daemon_applies_persistent_address(box: Sandbox) -> None:
    box.run(["sh", "-c", "rm -f /etc/systemd/network/*"])
    box.write("/run/udev/rules.d/80-dmlk.rules",
              'SUBSYSTEM=="net", ACTION=="add", IMPORT{builtin}="net_setup_link"\n')
    # what the real udevadm makes of this interface name
    _, _, expected = _configure(box, ["udevadm"])
    proc = box.start_devmaster()
    try:
        box.run(["ip", "link", "add", "dmlk0", "type", "veth", "peer", "name", "dmlk1"], check=True)
        assert box.run(["udevadm", "settle", "-t", "30"]).returncode == 0
        assert _state(box, "dmlk0")["address"] == expected["address"]
        info = box.run(["udevadm", "info", "-q", "property", "/sys/class/net/dmlk0"]).stdout
        assert "ID_NET_LINK_FILE=/usr/lib/systemd/network/99-default.link" in info
    finally:
        box.run(["ip", "link", "del", "dmlk0"])
        box.stop_devmaster(proc)
