"""sysmaster-init as PID 1 of a PID namespace, driving the fake core."""

import itertools
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from init_harness import namespace, wait_until

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_init_is_pid1_and_starts_core_with_args(short_tmp: Path) -> None:
    with namespace(short_tmp, core_args=["--extra", "x"]) as ns:
        start = ns.wait_event("start")[0]
        hello = ns.wait_event("hello")[0]
        assert start["ppid"] == 1
        assert hello["init_pid"] == 1 and hello["starts"] == 1
        assert start["argv"] == [str(short_tmp), "--extra", "x"]
        assert start["enabled"] and start["interval"] == 0.2
        assert not start["env_leak"]
        ns.wait_event("ready")


def test_orphans_are_reaped_and_reported_to_core(short_tmp: Path) -> None:
    with namespace(short_tmp) as ns:
        ns.wait_event("ready")
        for code in (0, 1, 7):
            ns.command(f"orphan 0.1 {code}")
        ns.command("orphan 60 0")
        orphans = ns.wait_event("orphan", 4)
        os.kill(ns.host_pid(orphans[3]["child"]), signal.SIGKILL)
        exits = ns.wait_event("exit", 4)
        reported = {(e["child"], e["code"], e["status"]) for e in exits}
        expected = {(o["child"], "exited", c) for o, c in zip(orphans, (0, 1, 7), strict=False)}
        assert reported == expected | {(orphans[3]["child"], "killed", signal.SIGKILL)}
        assert sorted(e["seq"] for e in exits) == [1, 2, 3, 4]
        assert ns.zombies() == []


def test_exits_while_core_is_down_reach_the_next_core_and_unacked_ones_are_resent(short_tmp: Path
                                                                                  ) -> None:
    with namespace(short_tmp, {"restart_backoff": 1.0}) as ns:
        ns.wait_event("ready")
        ns.command("orphan 0.3 5")
        orphan = ns.wait_event("orphan")[0]["child"]
        ns.command("exit 0")
        second = ns.wait_event("hello", 2)[1]
        assert second["starts"] == 2
        got = ns.wait_event("exit", child=orphan)[0]
        assert got["pid"] == second["pid"] and got["status"] == 5
        # A report the core never acknowledged is sent again to the next core, same seq.
        ns.command("noack")
        ns.command("orphan 0 9")
        unacked = ns.wait_event("exit", status=9)[0]
        ns.command("crash")
        third = ns.wait_event("hello", 3)[2]
        again = ns.wait_event("exit", 2, status=9)[1]
        assert again["pid"] == third["pid"] and again["seq"] == unacked["seq"]
        # ... but an acknowledged one is not.
        assert [e["pid"] for e in ns.events("exit") if e["child"] == orphan] == [second["pid"]]
        assert ns.zombies() == []


def test_core_is_restarted_after_sigkill_crash_and_hang(short_tmp: Path) -> None:
    with namespace(short_tmp) as ns:
        first = ns.wait_event("ready")[0]
        os.kill(ns.host_pid(first["pid"]), signal.SIGKILL)
        second = ns.wait_event("ready", 2)[1]
        ns.command("crash")
        third = ns.wait_event("ready", 3)[2]
        stopped_at = time.monotonic()
        os.kill(ns.host_pid(third["pid"]), signal.SIGSTOP)
        fourth = ns.wait_event("ready", 4)[3]
        assert fourth["t"] - stopped_at >= 0.2 * 3
        ns.command("mute")
        ns.wait_event("ready", 5)
        log = ns.init_log()
        assert "killed with signal 9" in log
        assert "exited with status 1" in log  # the unhandled exception
        assert log.count("missed its heartbeats") == 2
        assert [h["starts"] for h in ns.events("hello")] == [1, 2, 3, 4, 5]
        assert len({first["pid"], second["pid"], third["pid"], fourth["pid"]}) == 4
        assert ns.zombies() == []


def test_backoff_then_emergency_mode_then_recovery(short_tmp: Path) -> None:
    shell = short_tmp / "shell.sh"
    shell.write_text(f"#!/bin/sh\necho $$ >> {short_tmp}/shell.log\nexec sleep 60\n")
    shell.chmod(0o755)
    (short_tmp / "crash-at-start").touch()
    config = {"restart_tries": 4, "restart_backoff": 0.2, "restart_backoff_max": 0.4,
              "emergency_retry": 1.5, "emergency_shell": shell}
    with namespace(short_tmp, config) as ns:
        starts = ns.wait_event("start", 6, timeout=15)
        gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(starts)]
        # delays: 0 (first failure), 0.2, 0.4, 0.4 (capped, not 0.8), then 1.5 in emergency mode
        assert gaps[0] < gaps[1] - 0.1, gaps  # first restart at once
        assert gaps[1] >= 0.2 and gaps[2] >= 0.4 and gaps[3] >= 0.4 and gaps[4] >= 1.5, gaps
        assert gaps[3] < 0.75, gaps
        assert (short_tmp / "shell.log").exists()
        assert "emergency mode" in ns.init_log()
        (short_tmp / "crash-at-start").unlink()
        ns.wait_event("ready", timeout=5)
        assert "leaving emergency mode" in ns.init_log()
        assert len((short_tmp / "shell.log").read_text().split()) == 1  # started once


def test_stored_fds_come_back_after_restart(short_tmp: Path) -> None:
    with namespace(short_tmp, {"restart_backoff": 0.5}) as ns:
        first = ns.wait_event("ready")[0]
        ns.command(f"listen sock {short_tmp}/svc.sock")
        ns.command(f"store file {short_tmp}/data")
        stored = {e["name"]: e["inode"] for e in ns.wait_event("stored", 2)}
        os.kill(ns.host_pid(first["pid"]), signal.SIGKILL)
        # While no core runs, init holds the listening socket: a client connects anyway.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(short_tmp / "svc.sock"))
            client.sendall(b"queued while core was down")
            hello = ns.wait_event("hello", 2)[1]
            assert sorted(hello["fd_names"]) == ["file", "sock"]
            restored = {e["name"]: e["inodes"] for e in ns.wait_event("fds", 2)}
            assert restored == {name: [inode] for name, inode in stored.items()}
            ns.wait_event("ready", 2)  # the new core's control socket is bound after its hello
            ns.command("accept sock")
            assert ns.wait_event("accepted")[0]["data"] == "queued while core was down"


def test_init_reexec_keeps_core_children_fds_and_reports(short_tmp: Path) -> None:
    with namespace(short_tmp) as ns:
        core = ns.wait_event("ready")[0]["pid"]
        ns.command(f"store file {short_tmp}/data")
        inode = ns.wait_event("stored")[0]["inode"]
        ns.command("noack")
        ns.command("orphan 0 3")  # reported, never acknowledged: must survive the re-exec
        ns.wait_event("exit", status=3)
        ns.command("orphan 1.0 4")  # exits after the re-exec
        ns.wait_event("orphan", 2)
        for round_ in (1, 2):
            ns.signal_init(signal.SIGUSR1)
            wait_until(lambda: ns.init_log().count("re-executed") == round_, 5, "re-exec")  # noqa: B023
        with open(f"/proc/{ns.init_pid}/cmdline", "rb") as f:
            assert b"--deserialize" in f.read()
        ns.wait_event("exit", status=4)
        time.sleep(1.0)  # longer than the hang timeout: heartbeats still reach the new image
        assert [e["pid"] for e in ns.events("start")] == [core]
        assert ns.zombies() == []
        ns.command("crash")
        hello = ns.wait_event("hello", 2)[1]
        assert hello["init_pid"] == 1 and hello["starts"] == 2
        assert ns.wait_event("fds", name="file")[0]["inodes"] == [inode]
        assert ns.wait_event("exit", 2, status=3)[1]["pid"] == hello["pid"]


def test_core_reexec_in_place_gets_its_fds_and_pending_reports_again(short_tmp: Path) -> None:
    with namespace(short_tmp) as ns:
        core = ns.wait_event("ready")[0]["pid"]
        ns.command(f"store file {short_tmp}/data")
        inode = ns.wait_event("stored")[0]["inode"]
        ns.command("noack")
        ns.command("orphan 0 8")
        ns.wait_event("exit", status=8)
        ns.command("reexec")
        hello = ns.wait_event("hello", 2)[1]
        assert hello["pid"] == core and hello["starts"] == 1  # not a restart
        assert ns.wait_event("fds", name="file")[0]["inodes"] == [inode]
        assert ns.wait_event("exit", 2, status=8)[1]["pid"] == core
        time.sleep(1.0)  # the re-executed core keeps the heartbeat going on the same channel
        assert [e["pid"] for e in ns.events("start")] == [core, core]
        assert "missed its heartbeats" not in ns.init_log()


def test_a_flood_of_exits_fills_the_channel_and_all_arrive(short_tmp: Path) -> None:
    """The fake core does not read while it forks, so init's sends hit EAGAIN and must queue."""
    with namespace(short_tmp) as ns:
        ns.wait_event("ready")
        ns.command("orphans 600")
        exits = ns.wait_event("exit", 600, timeout=60)
        assert sorted(e["seq"] for e in exits) == list(range(1, 601))
        assert {e["child"] for e in exits} == {o["child"] for o in ns.events("orphan")}
        assert ns.zombies() == []
