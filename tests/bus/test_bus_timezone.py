"""A change of the local time zone reaches the timers, driven and observed with the real systemctl.

The namespace gets its own /etc: an overlay over the host's, so /etc/localtime can be rewritten
and replaced there while the host's stays as it is. The daemon watches it (core/timezone.py):
writing another zone into the file, and replacing the file by a symlink as timedatectl does, each
fire the OnTimezoneChange=yes timer once and move the calendar timer's next elapse to 12:00 of
the new zone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from bus_harness import SYSTEMCTL, Manager, make_manager, wait_for

ZONES = Path("/usr/share/zoneinfo")
SERVICE = "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo run >> {log}'\n"
UNITS = {
    "tzfire.timer": "[Unit]\nDefaultDependencies=no\n[Timer]\nOnTimezoneChange=yes\n",
    "noon.timer": "[Unit]\nDefaultDependencies=no\n[Timer]\nOnCalendar=*-*-* 12:00:00\n",
    "noon.service": "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
}

pytestmark = pytest.mark.skipif(not (ZONES / "Asia/Tokyo").exists(), reason="needs tzdata")


@pytest.fixture
def sm(tmp_path: Path) -> Iterator[Manager]:
    upper, work = tmp_path / "etc-upper", tmp_path / "etc-work"
    upper.mkdir()
    work.mkdir()
    units = {**UNITS, "tzfire.service": SERVICE.format(log=tmp_path / "runs.log")}
    setup = [["mount", "-t", "overlay", "overlay", "-o", f"lowerdir=/etc,upperdir={upper},workdir={work}", "/etc"],
             ["rm", "-f", "/etc/localtime"], ["cp", str(ZONES / "UTC"), "/etc/localtime"]]
    yield from make_manager(tmp_path, "user", units, setup=setup)


def runs(sm: Manager) -> int:
    log = sm.root / "runs.log"
    return len(log.read_text().split()) if log.exists() else 0


def usec(sm: Manager, prop: str, unit: str) -> int:
    """A timestamp property as systemctl shows it, in whole seconds (TZ=UTC for systemctl
    itself: the zone under test is the daemon's)."""
    r = sm.ns.run([SYSTEMCTL, "--user", "show", "--timestamp=unix", "-P", prop, unit], {**sm.env, "TZ": "UTC"})
    assert r.rc == 0, r.err
    text = r.out.strip()
    if not text:
        return 0
    if text.startswith("@"):
        return int(text[1:]) * 1_000_000
    return int(datetime.strptime(text, "%a %Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC).timestamp()) * 1_000_000


def noon_after(base_usec: int, zone: str) -> int:
    """12:00 in `zone` next after `base_usec`, as OnCalendar=*-*-* 12:00:00 there elapses."""
    tz = ZoneInfo(zone)
    base = datetime.fromtimestamp(base_usec / 1e6, tz)
    noon = base.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon <= base:
        noon = (noon + timedelta(days=1)).replace(hour=12)
    return int(noon.timestamp()) * 1_000_000


def test_zone_change_fires_and_recomputes(sm: Manager) -> None:
    assert sm.systemctl("start", "tzfire.timer", "noon.timer").rc == 0
    assert sm.systemctl("show", "-P", "SubState", "tzfire.timer").out.strip() == "waiting"
    assert usec(sm, "LastTriggerUSec", "tzfire.timer") == 0
    base = usec(sm, "InactiveExitTimestamp", "noon.timer")
    before = usec(sm, "NextElapseUSecRealtime", "noon.timer")
    assert before == noon_after(base, "UTC")

    # The file's content rewritten in place (a close after writing).
    assert sm.ns.run(["cp", str(ZONES / "Asia/Tokyo"), "/etc/localtime"], sm.env).rc == 0
    wait_for(lambda: runs(sm) == 1, "tzfire.service run after the first change")
    wait_for(lambda: usec(sm, "NextElapseUSecRealtime", "noon.timer") == noon_after(base, "Asia/Tokyo"),
             "noon.timer at 12:00 Tokyo time")
    assert usec(sm, "LastTriggerUSec", "tzfire.timer") > 0
    wait_for(lambda: sm.systemctl("show", "-P", "SubState", "tzfire.timer").out.strip() == "waiting",
             "tzfire.timer waiting again")

    # The file replaced by a symlink into the zone database (timedatectl's way).
    assert sm.ns.run(["ln", "-sf", str(ZONES / "America/New_York"), "/etc/localtime"], sm.env).rc == 0
    wait_for(lambda: runs(sm) == 2, "tzfire.service run after the second change")
    wait_for(lambda: usec(sm, "NextElapseUSecRealtime", "noon.timer") == noon_after(base, "America/New_York"),
             "noon.timer at 12:00 New York time")

    # An event that leaves the mtime as it was (a chown of the link itself) is no change; nothing
    # to wait for but a moment. (Never a write through the link: its target is the host's
    # zone database.)
    wait_for(lambda: sm.systemctl("show", "-P", "SubState", "tzfire.timer").out.strip() == "waiting",
             "tzfire.timer waiting again")
    assert sm.ns.run(["chown", "-h", "root:root", "/etc/localtime"], sm.env).rc == 0
    time.sleep(0.5)
    assert runs(sm) == 2
    assert usec(sm, "NextElapseUSecRealtime", "noon.timer") == noon_after(base, "America/New_York")
    assert sm.ns.run(["ln", "-sf", str(ZONES / "UTC"), "/etc/localtime"], sm.env).rc == 0
    wait_for(lambda: runs(sm) == 3, "tzfire.service run after the third change")
    wait_for(lambda: usec(sm, "NextElapseUSecRealtime", "noon.timer") == noon_after(base, "UTC"),
             "noon.timer at 12:00 UTC again")
    assert usec(sm, "LastTriggerUSec", "noon.timer") == 0
    assert "Failed to create timezone change event source" not in sm.log
