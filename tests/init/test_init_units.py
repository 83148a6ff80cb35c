"""The pure parts of sysmaster-init, and the core-side client over a real socketpair."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sysmasterd.core.mount_into import image_option_attributes
from sysmasterd.init import protocol
from sysmasterd.init.client import Disconnected, InitClient
from sysmasterd.init.config import InitConfig, load_config, parse_config
from sysmasterd.init.main import main
from sysmasterd.init.protocol import ChildExit, Hello, ProtocolError, StoredFds
from sysmasterd.init.state import CoreProcess, InitState, load, write_memfd
from sysmasterd.init.state import dump as dump_state
from sysmasterd.init.supervisor import describe_status
from sysmasterd.init.switchroot import mounts
from sysmasterd.init.system import plan_unmounts

REPO = Path(__file__).resolve().parents[2]

# -- protocol -------------------------------------------------------------------------------

texts = st.text(max_size=40)
ints = st.integers(min_value=-(2**62), max_value=2**62)
messages = st.one_of(
    st.builds(protocol.Connect, ints), st.builds(protocol.Heartbeat), st.builds(protocol.Ready),
    st.builds(protocol.RemoveFds, texts),
    st.builds(protocol.Ack, ints), st.builds(protocol.ShutdownRequest, texts),
    st.builds(protocol.SwitchRootRequest, texts, texts),
    st.builds(Hello, ints, ints, ints, st.lists(texts, max_size=5)),
    st.builds(ChildExit, ints, ints, texts, ints, ints), st.builds(protocol.ActionRequest, texts),
    st.builds(protocol.InitError, texts),
)


@given(messages)
def test_every_message_survives_encode_decode(msg: protocol.Message) -> None:
    packet, fds = protocol.encode(msg)
    assert fds == []
    assert protocol.decode(packet, []) == msg


@pytest.mark.parametrize("packet", [
    b"\xff", b"[]", b'{"type":"nope"}', b'{"type":"ack"}', b'{"type":"ack","seq":"1"}',
    b'{"type":"ack","seq":true}', b'{"type":"hello","version":1,"init_pid":1,"starts":1,"fd_names":[1]}',
])
def test_bad_packets_are_rejected(packet: bytes) -> None:
    with pytest.raises(ProtocolError):
        protocol.decode(packet, [])


def test_fds_on_a_message_that_carries_none_are_rejected() -> None:
    with pytest.raises(ProtocolError, match="must not carry"):
        protocol.decode(b'{"type":"heartbeat"}', [0])


# -- client -----------------------------------------------------------------------------------

def test_client_is_a_no_op_without_init() -> None:
    client = InitClient.from_environ({})
    assert not client.enabled and client.fileno() == -1
    client.send_heartbeat()
    client.send_ready()
    client.store_fds("x", [0])
    client.ack(1)
    client.request_shutdown("poweroff")
    assert client.read_messages() == [] and client.handshake(0.01) == []
    assert client.exec_environ() == {}


def test_client_ignores_a_variable_that_names_no_seqpacket_socket() -> None:
    r, w = os.pipe()
    try:
        for value in ("garbage", str(r)):
            assert not InitClient.from_environ({protocol.ENV_SOCKET: value}).enabled
        os.fstat(r)  # not closed by the client
    finally:
        os.close(r)
        os.close(w)


def test_client_talks_the_protocol_with_fds_both_ways(tmp_path: Path) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    env = {protocol.ENV_SOCKET: str(theirs.detach()), protocol.ENV_HEARTBEAT: "2.5", "OTHER": "1"}
    client = InitClient.from_environ(env)
    assert client.enabled and client.heartbeat_interval == 2.5
    assert env == {"OTHER": "1"} and not os.get_inheritable(client.fileno())

    data = tmp_path / "data"
    data.write_text("x")
    with open(data) as f:
        client.store_fds("state", [f.fileno()])
    client.send_heartbeat()
    client.ack(7)
    client.request_shutdown("halt")
    with pytest.raises(ValueError):
        client.request_shutdown("explode")
    received = []
    while (got := protocol.receive(ours)) is not None:
        received.append(protocol.decode(*got))
        if isinstance(received[-1], protocol.ShutdownRequest):
            break
    store = received[0]
    assert isinstance(store, protocol.StoreFds) and store.name == "state"
    assert os.fstat(store.fds[0]).st_ino == data.stat().st_ino
    assert received[1:] == [protocol.Heartbeat(), protocol.Ack(7), protocol.ShutdownRequest("halt")]

    protocol.send(ours, Hello(1, 1, 2, ["state"]))  # as if answering the handshake's "connect"
    protocol.send(ours, StoredFds("state", store.fds))
    protocol.send(ours, ChildExit(3, 42, "killed", 9, 0))
    ours.send(b"not json")
    events = client.handshake(timeout=2)
    assert events[0] == Hello(1, 1, 2, ["state"])
    assert isinstance(events[1], StoredFds) and os.fstat(events[1].fds[0]).st_ino == data.stat().st_ino
    assert events[2:] == [ChildExit(3, 42, "killed", 9, 0)]  # the bad packet was skipped
    assert protocol.decode(*protocol.receive(ours) or (b"", [])) == protocol.Connect(protocol.VERSION)
    protocol.close_fds(store.fds + events[1].fds)
    ours.close()
    assert client.read_messages()[-1] == Disconnected() and not client.enabled


# -- config -----------------------------------------------------------------------------------

def test_config_values_and_diagnostics_with_line_numbers() -> None:
    text = ("binary = /usr/lib/sysmasterd\nargs = --system --log-level debug\n"
            "heartbeat_interval = fast\nrestart_tries = 0\nheartbeat_misses = 0\nbogus = 1\n"
            'emergency_shell = "/bin/sh -l"\n')
    config, diags = parse_config(text, "init.conf")
    assert config.binary == "/usr/lib/sysmasterd"
    assert config.args == ("--system", "--log-level", "debug")
    assert config.restart_tries == 0 and config.emergency_shell == ("/bin/sh", "-l")
    assert config.heartbeat_interval == 5.0 and config.heartbeat_misses == 3
    assert diags == [
        "init.conf:3: heartbeat_interval: bad value 'fast' (could not convert string to float: "
        "'fast'); using 5.0",
        "init.conf:5: heartbeat_misses: bad value '0' (out of range); using 3",
        "init.conf:6: unknown setting 'bogus' ignored",
    ]


def test_config_syntax_error_keeps_defaults() -> None:
    config, diags = parse_config("a = 1\n[section\n", "x.conf")
    assert config == InitConfig() and diags[0].startswith("x.conf:2: ")


def test_config_file_missing(tmp_path: Path) -> None:
    assert load_config(str(tmp_path / "none"))[1] == [f"{tmp_path}/none: not found; using defaults"]
    assert load_config(None)[0].args == ("--system",)  # no /etc/sysmaster/init.conf here


# -- state, status, unmount plan, command line -----------------------------------------------

def test_state_round_trip() -> None:
    state = InitState("c.conf", ["--x"], starts=3, core=CoreProcess(5, 7, 1.5, last_seen=2.0),
                      store={"a": [8, 9]}, exits={4: ChildExit(4, 10, "exited", 1, 99)}, next_seq=5,
                      outbox=[("hello",), ("exit", "4")])
    assert load(dump_state(state)) == state
    with pytest.raises(ValueError):
        load(b'{"version": 1}')


def test_describe_status() -> None:
    assert describe_status(3 << 8) == ("exited", 3)
    assert describe_status(signal.SIGKILL) == ("killed", 9)
    assert describe_status(signal.SIGSEGV | 0x80) == ("dumped", 11)


def test_unmount_plan_keeps_api_filesystems_and_goes_deepest_first() -> None:
    mountinfo = "\n".join([
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw", "2 1 0:5 / /proc rw - proc proc rw",
        "3 1 0:6 / /dev rw - devtmpfs dev rw", "4 3 0:7 / /dev/pts rw - devpts pts rw",
        "5 1 8:2 / /home rw - ext4 /dev/sda2 rw", r"6 5 8:3 / /home/my\040disk rw - ext4 x rw",
        "7 1 0:8 / /run rw - tmpfs run rw", "8 1 0:9 / /runner rw - tmpfs t rw",
    ])
    assert plan_unmounts(mountinfo) == ["/runner", "/home/my disk", "/home"]


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_help_runs_without_installing() -> None:
    out = subprocess.run([sys.executable, "-m", "sysmasterd.init.main", "--help"], capture_output=True,
                         text=True, env={"PYTHONPATH": str(REPO)}, check=True).stdout
    assert "--config FILE" in out and "--deserialize" not in out


def test_check_mode_loads_the_code_and_the_state() -> None:
    """init runs it before re-executing itself: the new image must start and read the state."""
    assert main(["--check"]) == 0
    good = write_memfd(InitState(None, ["--x"]))
    assert main(["--check", "--deserialize", str(good)]) == 0
    bad = os.memfd_create("bad")
    os.write(bad, b"{}")
    assert main(["--check", "--deserialize", str(bad)]) == 1


@pytest.mark.root
def test_missing_api_filesystems_are_mounted() -> None:
    """In a private mount namespace (never the host's): /run is no mount point on this machine."""
    code = ("import os; from sysmasterd.init.system import mount_api_filesystems as m; "
            "was = os.path.ismount('/run'); m(); print(was, os.path.ismount('/run'), "
            "os.statvfs('/run').f_blocks > 0)")
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, "-c", code],
                          capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}, check=True)
    if done.stdout.split()[0] == "True":
        pytest.skip("/run is already a mount point here")
    assert done.stdout.split() == ["False", "True", "True"], done.stderr


def test_help_imports_nothing_it_does_not_need() -> None:
    """sysmaster-init --help and usage errors stay cheap: no supervisor, state or config modules."""
    code = ("import runpy, sys\nsys.argv = ['sysmaster-init', '--help']\n"
            "try:\n    runpy.run_module('sysmasterd.init.main', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('sysmasterd.init.')), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    loaded = out.stderr.strip().splitlines()[-1]
    for heavy in ("supervisor", "state", "config", "protocol"):
        assert f"sysmasterd.init.{heavy}'" not in loaded, loaded


def test_switch_root_reads_mount_points_and_their_types() -> None:
    info = ("22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
            "30 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs devtmpfs rw\n"
            "31 22 0:26 / /run/a\\040b rw - tmpfs tmpfs rw\n"
            "40 22 0:30 / / rw - tmpfs tmpfs rw\n")
    assert mounts(info) == {"/": "tmpfs", "/dev": "devtmpfs", "/run/a b": "tmpfs"}


def test_image_partition_options_become_mount_attributes() -> None:
    assert image_option_attributes("ro,nosuid") == (0x3, 0)
    assert image_option_attributes("ro,rw") == (0, 0x1)  # the last word counts, as in mount(8)
    assert image_option_attributes("noatime") == (0x10, 0x70)
    assert image_option_attributes("") == (0, 0)
    with pytest.raises(ValueError, match="data=journal"):
        image_option_attributes("nodev,data=journal")
