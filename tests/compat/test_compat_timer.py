"""[Timer]: directive parsing, systemd's warnings for bad values (checked against
systemd-analyze verify), the refusal of a timer without timers, Unit= and its default."""

from __future__ import annotations

from pathlib import Path

import pytest
from compat_helpers import FACTS, compat_view, needs_analyze, verify_batch, write

from compat.config_timer import DEFAULT_ACCURACY_USEC, TimerBase, trigger_unit
from compat.loader import UnitLoader
from compat.model import USEC_INFINITY, Scope

CASES = {
    "good.timer": "[Timer]\nOnActiveSec=1\nOnBootSec=2min\nOnCalendar=*:*:0/2\nOnUnitActiveSec=1s\n"
    "AccuracySec=1us\nRandomizedDelaySec=3\nPersistent=yes\nFixedRandomDelay=yes\nRemainAfterElapse=no\n"
    "OnClockChange=yes\nOnTimezoneChange=no\nUnit=other.service\n",
    "bad-values.timer": "[Timer]\nOnActiveSec=abc\nOnCalendar=Mon..Bogus\nOnCalendar=*-*-* 25:00\n"
    "AccuracySec=x\nRandomizedDelaySec=\nPersistent=perhaps\nRemainAfterElapse=\nOnBootSec=1\n",
    "units.timer": "[Timer]\nOnActiveSec=1\nUnit=a.service\nUnit=b.service\n",
    "unit-self.timer": "[Timer]\nOnActiveSec=1\nUnit=unit-self.timer\n",
    "unit-type.timer": "[Timer]\nOnActiveSec=1\nUnit=foo.bogus\nUnit=foo\n",
    "unit-template.timer": "[Timer]\nOnActiveSec=1\nUnit=foo@.service\n",
    "empty.timer": "[Timer]\nAccuracySec=1s\n",
    "reset.timer": "[Timer]\nOnActiveSec=1\nOnCalendar=daily\nOnCalendar=\n",
    "clock-only.timer": "[Timer]\nOnClockChange=yes\n",
    "unknown.timer": "[Timer]\nOnActiveSec=1\nOnSomething=1\n[Service]\nExecStart=/bin/true\n",
}


@needs_analyze
def test_warnings_and_refusals_match_systemd(tmp_path: Path) -> None:
    for name, text in CASES.items():
        write(tmp_path / name, text)
    write(tmp_path / "a.service", "[Service]\nExecStart=/bin/true\n")
    names = sorted(CASES)
    theirs = verify_batch(tmp_path, names)
    ours = compat_view(tmp_path, names)
    assert ours[1] == theirs[1]
    for n in names:
        # Ours warns about WakeSystem=yes (not implemented); no case here sets it.
        assert ours[0][n] == theirs[0][n], n


def test_parsed_values(tmp_path: Path) -> None:
    write(tmp_path / "good.timer", CASES["good.timer"])
    write(tmp_path / "reset.timer", CASES["reset.timer"])
    write(tmp_path / "t@x.timer", "[Timer]\nOnActiveSec=1\n")
    write(tmp_path / "wake.timer", "[Timer]\nOnActiveSec=1\nWakeSystem=yes\n")
    loader = UnitLoader(Scope.SYSTEM, unit_path=[str(tmp_path)], facts=FACTS)
    cfg = loader.load("good.timer").config
    assert cfg is not None and cfg.timer is not None
    t = cfg.timer
    assert [v.base for v in t.values] == [TimerBase.ACTIVE, TimerBase.BOOT, TimerBase.CALENDAR, TimerBase.UNIT_ACTIVE]
    assert [v.usec for v in t.values if v.base is not TimerBase.CALENDAR] == [1_000_000, 120_000_000, 1_000_000]
    cal = t.values[2].calendar
    assert cal is not None and cal.normalized() == "*-*-* *:*:00/2"
    assert (t.accuracy_usec, t.randomized_delay_usec) == (1, 3_000_000)
    assert (t.persistent, t.fixed_random_delay, t.remain_after_elapse, t.on_clock_change) == (True, True, False, True)
    assert trigger_unit(cfg) == "other.service"
    reset = loader.load("reset.timer")
    assert reset.load_state == "bad-setting"
    inst = loader.load("t@x.timer").config
    assert inst is not None and inst.timer is not None
    assert trigger_unit(inst) == "t@x.service"
    assert inst.timer.accuracy_usec == DEFAULT_ACCURACY_USEC and inst.timer.remain_after_elapse
    wake = loader.load("wake.timer")
    assert wake.config is not None and wake.config.timer is not None and wake.config.timer.wake_system
    assert any("WakeSystem= is not supported" in d.message for d in wake.diagnostics)


@pytest.mark.parametrize("text", ["infinity"])
def test_accuracy_infinity(tmp_path: Path, text: str) -> None:
    write(tmp_path / "i.timer", f"[Timer]\nOnActiveSec=1\nAccuracySec={text}\n")
    cfg = UnitLoader(Scope.SYSTEM, unit_path=[str(tmp_path)], facts=FACTS).load("i.timer").config
    assert cfg is not None and cfg.timer is not None and cfg.timer.accuracy_usec == USEC_INFINITY
