"""Timer units asked of systemd itself: the same timers under Debian's `systemd --user` and under
sysmasterd --user, and `systemctl list-timers --all` / `systemctl show` must agree (run as in
test_systemd_oracle.py: each daemon in its own mount namespace, cgroup and session bus)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import test_systemd_oracle as oracle

pytestmark = oracle.pytestmark

ONESHOT = "[Service]\nType=oneshot\nExecStart=/bin/true\n"
UNITS = {
    "cal.timer": "[Timer]\nOnCalendar=*-*-* 04:00:00\nAccuracySec=1us\n",
    "cal.service": ONESHOT,
    "mono.timer": "[Timer]\nOnActiveSec=1h\nOnCalendar=monthly\n",
    "mono.service": ONESHOT,
    "quick.timer": "[Timer]\nOnActiveSec=1\nAccuracySec=1us\n",
    "quick.service": ONESHOT,
    # Half a second after quick.timer: two timers due in the same instant list in whichever order
    # each manager happened to start them.
    "gone.timer": "[Timer]\nOnActiveSec=1.5\nAccuracySec=1us\nRemainAfterElapse=no\n",
    "gone.service": ONESHOT,
    "other.timer": "[Timer]\nOnUnitInactiveSec=2h\nUnit=mono.service\nPersistent=yes\nRandomizedDelaySec=5\n",
    "idle.timer": "[Timer]\nOnBootSec=3h\n",
    "idle.service": ONESHOT,
}
TIMER_PROPS = ("-p ActiveState -p SubState -p Result -p Unit -p TimersCalendar -p Persistent -p AccuracyUSec "
               "-p RemainAfterElapse -p RandomizedDelayUSec -p FixedRandomDelay -p WakeSystem -p OnClockChange "
               "-p Triggers -p Before -p After -p Requires -p Conflicts")
STEPS = [
    "start cal.timer mono.timer quick.timer gone.timer other.timer",
    "list-timers",
    "SLEEP 2.5",
    "list-timers --all",
    *(f"show {TIMER_PROPS} {t}" for t in ("cal.timer", "mono.timer", "quick.timer", "gone.timer", "other.timer",
                                           "idle.timer")),
    "show -p LastTriggerUSec quick.timer",
    "show -p NextElapseUSecRealtime quick.timer",
    "is-active gone.timer",
    "stop cal.timer",
    "list-timers --all",
]

_STAMP = re.compile(r"\w{3} \d{4}-\d\d-\d\d (\d\d:\d\d:\d\d) \w+")
_RELATIVE = re.compile(r"((\d+(y|month|w|d|h|min|s|ms|us) )*\d+(y|month|w|d|h|min|s|ms|us)) (left|ago)")


def normalize(text: str) -> list[list[str]]:
    """Instants that depend on when each run happened become placeholders; fixed calendar
    events (04:00:00 every day, monthly) stay, as do the columns, their order and the rows."""
    rows = []
    for line in text.splitlines():
        line = _STAMP.sub(lambda m: m.group(0) if m.group(1) == "04:00:00" or
                          (m.group(0).split()[1].endswith("-01") and m.group(1) == "00:00:00") else "<T>", line)
        line = _RELATIVE.sub(lambda m: "<rel> " + m.group(5), line)
        line = re.sub(r"^(LastTriggerUSec=).+", r"\1<T>", line)
        key, eq, value = line.partition("=")
        if eq and key in ("Before", "After", "Requires", "Conflicts", "Triggers"):
            line = key + "=" + " ".join(sorted(value.split()))  # systemd lists them in hash order
        rows.append(line.split())
    return rows


def test_list_timers_like_systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oracle, "UNITS", UNITS)
    monkeypatch.setattr(oracle, "STEPS", STEPS)
    ours = oracle.run_flavor(tmp_path, "sysmasterd", [sys.executable, "-m", "sysmasterd.core.main", "--user",
                                                      "--runtime-dir", str(tmp_path / "sysmasterd" / "run")])
    theirs = oracle.run_flavor(tmp_path, "systemd", [oracle.SYSTEMD, "--user"])
    assert [s for s, _ in ours] == [s for s, _ in theirs]
    diffs = [f"$ systemctl --user {step}\n--- systemd:\n{b}\n--- sysmasterd:\n{a}"
             for (step, a), (_s, b) in zip(ours, theirs, strict=True) if normalize(a) != normalize(b)]
    assert not diffs, "\n\n".join(diffs)
    shown = dict(ours)
    assert "5 timers listed." in shown["list-timers"]
    # Persistent= under the user manager's HOME, as systemd keeps it.
    assert (tmp_path / "sysmasterd" / "home" / ".local/share/systemd/timers/stamp-other.timer").exists()
