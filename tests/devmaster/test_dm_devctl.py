"""devctl behaves like udevadm 252: same output, same exit codes; compared with the real one."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dm_sandbox import LOOP, PYTHON, REPO, Sandbox, sandbox

pytestmark = pytest.mark.root
DEVCTL = [PYTHON, "-m", "sysmasterd.cli.devctl"]


@pytest.fixture(scope="module")
def daemon(box: Sandbox) -> Iterator[Sandbox]:
    proc = box.start_devmaster()
    assert box.run(["udevadm", "trigger", "--action=add"]).returncode == 0
    assert box.run(["udevadm", "settle", "-t", "60"]).returncode == 0
    yield box
    box.stop_devmaster(proc)


def both(box: Sandbox, *args: str) -> tuple["subprocess.CompletedProcess[str]", "subprocess.CompletedProcess[str]"]:
    return box.run(["udevadm", *args]), box.run([*DEVCTL, *args])


def _props(text: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for line in text.splitlines():
        line = line.removeprefix("E: ")
        key, sep, value = line.partition("=")
        if not sep or key == "USEC_INITIALIZED":
            continue
        out[key] = set(value.strip(":").split(":" if "TAGS" in key else " ")) if key.endswith(("TAGS", "DEVLINKS")) \
            else value
    return out


@pytest.mark.parametrize("args", [
    ["info", "/sys/class/net/lo"], ["info", "-q", "path", "/dev/null"], ["info", "-q", "name", "/dev/null"],
    ["info", "-q", "property", "-x", "/dev/null"], ["info", "--property=DEVNAME,MAJOR", "--value", "/dev/null"],
    ["info", "-P", "P_", "-q", "property", "/sys/class/net/lo"], ["info", "-a", "/sys/class/net/lo"],
    ["info", "-d", "/"], ["info", "-r", "-q", "name", "/dev/null"], ["info", "-t", "/sys/class/net/lo"],
    ["info", "/sys/bus/acpi", "/sys/module/8250"],
])
def test_info_same_output(daemon: Sandbox, args: list[str]) -> None:
    real, ours = both(daemon, *args)
    assert ours.returncode == real.returncode == 0
    assert sorted(ours.stdout.splitlines()) == sorted(real.stdout.splitlines())


def _sorted_lists(text: str) -> str:
    """udevadm prints a device's tags and links in the order of a hash table seeded per process."""
    out = []
    for line in text.splitlines():
        head, sep, value = line.partition("E: ")
        key, eq, items = value.partition("=")
        if sep and eq and key in ("TAGS", "CURRENT_TAGS"):
            line = f"{head}E: {key}=:" + ":".join(sorted(items.strip(":").split(":"))) + ":"
        elif sep and eq and key == "DEVLINKS":
            line = f"{head}E: {key}=" + " ".join(sorted(items.split()))
        out.append(line)
    return "\n".join(out)


def test_info_tree_identical(daemon: Sandbox) -> None:
    # the tree is global state: other jobs on the machine may add or drop devices in between
    for _ in range(3):
        real, ours = both(daemon, "info", "--tree")
        if _sorted_lists(ours.stdout) == _sorted_lists(real.stdout):
            break
    assert _sorted_lists(ours.stdout) == _sorted_lists(real.stdout)


def test_info_record_of_block_device(daemon: Sandbox) -> None:
    real, ours = both(daemon, "info", "/dev/vda")
    assert _props(ours.stdout) == _props(real.stdout)
    assert [line[:2] for line in ours.stdout.splitlines() if not line.startswith(("E:", "S:"))] == \
        [line[:2] for line in real.stdout.splitlines() if not line.startswith(("E:", "S:"))]


@pytest.mark.parametrize("args", [
    ["info", "--foo"], ["info", "-q", "bogus", "/dev/null"], ["info"], ["info", "/sys/nonexistent"],
    ["bogus"], [], ["trigger", "--action=bogus"], ["control"], ["settle", "--timeout=x"],
    ["test-builtin", "nosuch", "/sys/class/net/lo"], ["info", "-x", "--value", "/dev/null"],
])
def test_errors_same_exit_code(daemon: Sandbox, args: list[str]) -> None:
    real, ours = both(daemon, *args)
    assert (ours.returncode, bool(ours.stderr)) == (real.returncode, bool(real.stderr)), ours.stderr
    assert ours.returncode == 1


def test_unrecognized_option_message(daemon: Sandbox) -> None:
    real, ours = both(daemon, "info", "--foo")
    assert ours.stderr.strip() == real.stderr.strip() == "info: unrecognized option '--foo'"


@pytest.mark.parametrize("args", [
    ["info", "--subsystem-match=block", "-e"], ["--bogus=1"], ["monitor", "--foo=bar"],
    ["test-builtin", "blkid", "/sys/class/net/lo"], ["test-builtin", "path_id", "/sys/nonexistent"],
])
def test_failure_messages(daemon: Sandbox, args: list[str]) -> None:
    """Our message is one of udevadm's stderr lines; test-builtin logs its debug trace around it, as
    udevadm does (test_dm_devctl_session compares that trace line for line)."""
    real, ours = both(daemon, *args)
    assert ours.returncode == real.returncode == 1
    lines = ours.stderr.strip().splitlines()
    assert len(lines) == 1 or args[0] == "test-builtin", lines
    assert all(line.replace("devctl", "udevadm") in real.stderr.splitlines() for line in lines), lines


def test_export_db_acts_at_once(daemon: Sandbox) -> None:
    """udevadm info exports the database the moment it reads -e: options after it are never parsed."""
    real, ours = both(daemon, "info", "-e", "--subsystem-match=block")
    assert ours.returncode == real.returncode == 0
    assert ours.stdout.count("\nP: ") == real.stdout.count("\nP: ") > 0


def test_invoked_as_udevadm(tmp_path: Path, daemon: Sandbox) -> None:
    wrapper = tmp_path / "udevadm"
    wrapper.write_text(f"#!{PYTHON}\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
                       "from sysmasterd.cli.devctl import main\nsys.exit(main())\n")
    wrapper.chmod(0o755)
    help_text = subprocess.run([str(wrapper), "--help"], capture_output=True, text=True).stdout
    assert help_text.startswith("udevadm [--help]")
    out = daemon.run([str(wrapper), "info", "-q", "path", "/dev/null"]).stdout
    assert out == "/devices/virtual/mem/null\n"


def test_trigger_lists_same_devices(daemon: Sandbox) -> None:
    for args in (["trigger", "-n", "-v"], ["trigger", "-n", "-v", "-t", "subsystems"],
                 ["trigger", "-n", "-v", "-s", "mem", "-S", "block"], ["trigger", "-n", "-v", "-s", "b*"],
                 ["trigger", "-n", "-v", "-S", "[bm]*"], ["trigger", "-n", "-v", "-y", "tty1*"],
                 ["trigger", "-n", "-v", "--attr-match=dev=1:3"], ["trigger", "-n", "-v", "-p", "DEVNAME=/dev/null"],
                 ["trigger", "-n", "-v", "-g", "systemd"], ["trigger", "-n", "-v", "--initialized-nomatch"]):
        real, ours = both(daemon, *args)
        assert ours.returncode == real.returncode == 0
        assert sorted(ours.stdout.split()) == sorted(real.stdout.split()), args


def test_trigger_settle_and_uuid(daemon: Sandbox) -> None:
    r = daemon.run([*DEVCTL, "trigger", "--settle", "--uuid", "-c", "change", "-s", "mem", "-y", "null"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert len(lines) == 3 and lines[1] == "settle" and lines[2] == lines[0]


def test_control_and_settle_with_devctl(daemon: Sandbox) -> None:
    for args in (["control", "--ping"], ["control", "-R"], ["control", "-l", "info"], ["control", "-m", "8"],
                 ["settle", "-t", "10"], ["settle", "-E", "/dev/null"]):
        assert daemon.run([*DEVCTL, *args]).returncode == 0, args
    r = daemon.run([*DEVCTL, "wait", "-t", "5", "/sys/class/net/lo", "/dev/null"])
    assert r.returncode == 0, r.stderr


def test_control_without_daemon() -> None:
    with sandbox() as empty:
        real, ours = both(empty, "control", "--ping")
        assert ours.returncode == real.returncode == 1
        assert ours.stderr == real.stderr
        real, ours = both(empty, "settle", "-t", "1")
        assert ours.returncode == real.returncode == 0


BUILTINS = [("path_id", "/sys/class/block/vda"), ("path_id", "/sys/bus/pci/devices/0000:00:03.0"),
            ("net_id", "/sys/class/net/lo"), ("hwdb", "/sys/bus/pci/devices/0000:00:00.0"),
            ("hwdb 'usb:v1D6Bp0002:'", "/sys/class/net/lo"), ("blkid", f"/sys/class/block/{LOOP}"),
            ("net_setup_link", "/sys/class/net/lo"), ("input_id", "/sys/class/net/lo"),
            ("uaccess", "/sys/class/net/lo")]


@pytest.mark.parametrize(("command", "path"), BUILTINS)
def test_test_builtin_same_output(daemon: Sandbox, command: str, path: str) -> None:
    if daemon.run(["test", "-e", path]).returncode != 0:
        pytest.skip(f"{path} not on this machine")
    real = daemon.sh(f"udevadm test-builtin {command} {path} 2>/dev/null")
    ours = daemon.sh(f"{PYTHON} -m sysmasterd.cli.devctl test-builtin {command} {path} 2>/dev/null")
    assert ours.returncode == real.returncode
    assert sorted(ours.stdout.splitlines()) == sorted(real.stdout.splitlines())


def test_hwdb_query(daemon: Sandbox) -> None:
    real = daemon.run(["systemd-hwdb", "query", "pci:v00008086d00007000*"]).stdout
    ours = daemon.run([*DEVCTL, "hwdb", "--test=pci:v00008086d00007000*"]).stdout
    assert ours == real and ours


def test_lock_print(daemon: Sandbox) -> None:
    r = daemon.run([*DEVCTL, "lock", "--print", "-d", f"/dev/{LOOP}"])
    assert r.stdout.strip() == f"/dev/{LOOP}"
    assert daemon.run([*DEVCTL, "lock", "-d", f"/dev/{LOOP}", "true"]).returncode == 0
