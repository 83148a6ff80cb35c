"""Defects the container boot showed (issue "A real host boots"), each as systemd 252 behaves."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from core_harness import Harness

from sysmasterd.core.states import JobResult


def test_oneshot_without_exec_start_completes_and_fires_success_action(h: Harness) -> None:
    # systemd-poweroff.service is built this way: no ExecStart=, only SuccessAction=.
    h.write("x.service", "[Unit]\nSuccessAction=exit\n[Service]\nType=oneshot\n")
    exits: list[int] = []
    h.manager.on_exit_request = lambda: exits.append(1)
    assert h.start("x.service", timeout=5) is JobResult.DONE
    assert h.state("x.service") == ("inactive", "dead")
    assert exits == [1]


def test_restart_sec_zero_restarts_at_once(h: Harness) -> None:
    flag = h.tmp / "runs"
    h.write("again.service", f"""
        [Service]
        ExecStart=/bin/sh -c 'echo x >> {flag}; exit 1'
        Restart=on-failure
        RestartSec=0
        StartLimitBurst=3
        """)
    h.start("again.service")
    h.wait(lambda: h.state("again.service") == ("failed", "failed"), 5, "the start limit")
    assert flag.read_text().count("x") == 3
    assert h.unit("again.service").impl.n_restarts == 3  # type: ignore[union-attr]  # the last one hit the limit


def test_messages_finished_for_oneshot_and_none_for_a_skipped_start(h: Harness,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    h.write("once.service", "[Unit]\nDescription=Once\n[Service]\nType=oneshot\nExecStart=/bin/true\n")
    h.write("skipped.service", "[Unit]\nDescription=Skipped\nConditionPathExists=/nonexistent/x\n"
                               "[Service]\nExecStart=/bin/sleep 10\n")
    h.write("daemon.service", "[Unit]\nDescription=Daemon\n[Service]\nExecStart=/bin/sleep 10\n")
    with caplog.at_level(logging.INFO, logger="sysmasterd"):
        for name in ("once.service", "skipped.service", "daemon.service"):
            assert h.start(name) is JobResult.DONE
    text = caplog.text
    assert "Finished Once." in text and "Started Once." not in text
    assert "was skipped because of an unmet condition check" in text and "Skipped." not in text
    assert "Started Daemon." in text


def test_first_boot_flag_goes_when_startup_finishes(tmp_path: Path) -> None:
    from sysmasterd.core.main import _FirstBootDone

    (tmp_path / "first-boot").touch()
    _FirstBootDone(str(tmp_path)).startup_finished()
    assert not (tmp_path / "first-boot").exists()
    _FirstBootDone(str(tmp_path)).startup_finished()  # gone already: nothing to do


def test_no_device_units_where_sys_is_read_only(tmp_path: Path) -> None:
    from sysmasterd.units.device import devices_supported

    assert devices_supported("/proc/self")  # any writable mount is "supported"
    assert not devices_supported(str(tmp_path / "missing"))


def _analyze_condition(text: str) -> bool:
    import subprocess

    r = subprocess.run(["systemd-analyze", "condition", text], capture_output=True, text=True, timeout=30)
    return r.returncode == 0


@pytest.mark.parametrize("stamp_age", [None, -3600, 3600])
def test_needs_update_reads_the_updated_stamp_like_systemd(tmp_path: Path, stamp_age: int | None) -> None:
    import os

    from compat.model import Condition, ConditionKind
    from sysmasterd.core.conditions import evaluate_one

    if stamp_age is not None:  # the stamp written before (-) or after (+) /usr last changed
        stamp = tmp_path / ".updated"
        stamp.write_text("")
        when = os.stat("/usr").st_mtime + stamp_age
        os.utime(stamp, (when, when))
    ours = evaluate_one(Condition(ConditionKind.CONDITION, "NeedsUpdate", str(tmp_path)), {}).result
    assert ours == _analyze_condition(f"ConditionNeedsUpdate={tmp_path}")
    assert ours == (stamp_age is None or stamp_age < 0)
