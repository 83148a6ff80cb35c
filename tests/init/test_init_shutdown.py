"""Shutdown: core's request or a signal ends the namespace through reboot(2)."""

import signal
from pathlib import Path

import pytest
from init_harness import namespace

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_reboot_requested_by_core_kills_the_rest_and_ends_the_namespace(short_tmp: Path) -> None:
    with namespace(short_tmp) as ns:
        ns.wait_event("ready")
        ns.command("stubborn")  # ignores SIGTERM: needs the SIGKILL round
        ns.command("orphan 60 0")
        ns.wait_event("orphan", 2)
        ns.command("shutdown reboot")
        # reboot(2) in a PID namespace kills its init with SIGHUP (poweroff/halt: SIGINT),
        # which unshare passes on.
        assert ns.wait() == -signal.SIGHUP
        log = ns.init_log()
        assert "reboot requested by core" in log
        assert "sending SIGKILL to all processes" in log


def test_poweroff_signal_asks_core_to_stop_units_first(short_tmp: Path) -> None:
    with namespace(short_tmp) as ns:
        ns.wait_event("ready")
        ns.signal_init(signal.SIGRTMIN + 4)
        assert ns.wait_event("act")[0]["kind"] == "poweroff"
        assert ns.wait() == -signal.SIGINT
        assert "sending SIGKILL" not in ns.init_log()  # everyone left on SIGTERM


@pytest.mark.parametrize(("sig", "action"), [(signal.SIGTERM, "reexec"), (signal.SIGINT, "ctrl-alt-del"),
                                             (signal.SIGRTMIN + 1, "rescue")])
def test_other_signals_go_to_core_as_systemd_lists_them(short_tmp: Path, sig: int, action: str) -> None:
    (short_tmp / "ignore-stop").touch()  # the fake core only logs what it was asked
    with namespace(short_tmp) as ns:
        ns.wait_event("ready")
        ns.signal_init(sig)
        assert ns.wait_event("act")[0]["kind"] == action
        assert "requested by signal" in ns.init_log()


def test_immediate_poweroff_signal_does_not_wait_for_core(short_tmp: Path) -> None:
    (short_tmp / "ignore-stop").touch()
    with namespace(short_tmp) as ns:
        ns.wait_event("ready")
        ns.signal_init(signal.SIGRTMIN + 14)
        assert ns.wait() == -signal.SIGINT
        assert "did not stop the units in time" not in ns.init_log()


def test_halt_goes_on_when_core_does_not_answer(short_tmp: Path) -> None:
    (short_tmp / "ignore-stop").touch()
    with namespace(short_tmp, {"shutdown_timeout": 0.5}) as ns:
        ns.wait_event("ready")
        ns.signal_init(signal.SIGRTMIN + 3)
        ns.wait_event("act", kind="halt")
        assert ns.wait() == -signal.SIGINT
        assert "did not stop the units in time" in ns.init_log()


def test_not_pid1_init_is_a_subreaper_and_exits_on_poweroff(short_tmp: Path) -> None:
    """Under another PID 1 (here a shell), init adopts orphans and exits 0 instead of reboot(2)."""
    with namespace(short_tmp, under_shell=True) as ns:
        ns.wait_event("ready")
        ns.command("orphan 0 6")  # re-parented to init, a subreaper, not to the shell
        assert ns.wait_event("exit")[0]["status"] == 6
        ns.command("stubborn")
        ns.wait_event("orphan", 2)
        ns.command("shutdown poweroff")
        assert ns.wait() == 0
        log = ns.init_log()
        assert "not PID 1, exiting" in log and "init exited 0" in log
        assert "sending SIGKILL to all processes" in log
