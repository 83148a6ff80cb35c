"""/proc/self/mountinfo parsing (pure) and the fstab option helpers mount units use."""

from __future__ import annotations

from compat import fstab
from sysmasterd.core import mountinfo

SAMPLE = (
    "22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
    "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard\n"
    r"91 27 0:50 / /mnt/with\040space\011tab rw,relatime shared:40 master:3 - tmpfs my\134src rw,size=1024k" "\n"
    "92 27 0:51 / /mnt/x ro,relatime - tmpfs tmpfs ro,mode=700\n"
    "garbage line\n"
)


def test_parse_fields_and_escapes() -> None:
    entries = mountinfo.parse(SAMPLE)
    assert [e.target for e in entries] == ["/proc", "/", "/mnt/with space\ttab", "/mnt/x"]
    spaced = entries[2]
    assert (spaced.mount_id, spaced.parent_id, spaced.fstype, spaced.source) == (91, 27, "tmpfs", "my\\src")
    # libmount's merge: the super block's leading rw/ro repeats the mount's and is dropped
    assert spaced.options == "rw,relatime,size=1024k"
    assert entries[1].options == "rw,relatime,discard"
    assert entries[3].options == "ro,relatime,mode=700"


def test_utf8_paths_come_back_whole() -> None:
    line = "93 27 0:52 / /mnt/caf\303\251 rw - tmpfs tmpfs rw\n"
    assert mountinfo.parse(line)[0].target == "/mnt/café"


def test_fstab_options() -> None:
    opts = "defaults,nofail,x-systemd.requires=a.service,x-systemd.requires=b.service,noauto"
    assert fstab.test_option(opts, ("nofail",))
    assert fstab.option_values(opts, "x-systemd.requires") == ["a.service", "b.service"]
    assert fstab.filter_options(opts, ("nofail", "noauto", "auto")) == (
        "defaults,x-systemd.requires=a.service,x-systemd.requires=b.service")
    assert fstab.test_yes_no_option("nofail,fail", "nofail", "fail") is False
    assert fstab.test_yes_no_option("fail,nofail", "nofail", "fail") is True
    assert fstab.is_network("_netdev", "ext4") and fstab.is_network(None, "fuse.sshfs")
    assert not fstab.is_network("defaults", "ext4")
    assert fstab.is_extrinsic("/usr", None) and fstab.is_extrinsic("/sys/kernel/debug", None)
    assert not fstab.is_extrinsic("/tmp", None)
    assert fstab.mount_point_is_api("/sys/fs/cgroup/memory") and fstab.mount_point_ignore("/run/host/incoming")
    assert fstab.path_prefixes("/a/b") == ["/", "/a", "/a/b"]
