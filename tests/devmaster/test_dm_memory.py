"""devmaster with a large rules file (issue 15): 9 MB of rules is compiled, then replaced by one
line and reloaded, and the daemon's RSS comes back to what it was before; while it is loaded,
events are handled in well under a second and the forked workers stay small."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import psutil
import pytest
from dm_sandbox import Sandbox

pytestmark = pytest.mark.root

RULES = "/run/udev/rules.d/50-dmmemory.rules"
LINE = ('SUBSYSTEM=="block", KERNEL=="dmmem{0}*", ENV{{ID_SERIAL}}=="serial-{0}", '
        'SYMLINK+="disk/by-dmmem/{0}", TAG+="dmmem{0}"\n')
BIG_BYTES = 9 << 20


def big_rules() -> str:
    lines = []
    size = n = 0
    while size < BIG_BYTES:
        lines.append(LINE.format(n))
        size += len(lines[-1])
        n += 1
    return "".join(lines)


@pytest.fixture(scope="module")
def devmaster(box: Sandbox) -> Iterator[subprocess.Popen[str]]:
    box.write(RULES, LINE.format("small"))
    proc = box.start_devmaster()
    yield proc
    box.stop_devmaster(proc)
    box.run(["rm", "-f", RULES])


def reload(box: Sandbox) -> None:
    # the control socket is served in order: the ping answers once the reload is done
    assert box.run(["udevadm", "control", "--reload"], timeout=300).returncode == 0
    assert box.run(["udevadm", "control", "--ping", "-t", "300"], timeout=310).returncode == 0


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / (1 << 20)


def test_rss_returns_after_a_large_rules_file(box: Sandbox, devmaster: subprocess.Popen[str]) -> None:
    daemon = psutil.Process(devmaster.pid)
    assert "python" in daemon.name() or any("devmaster" in a for a in daemon.cmdline())
    # a first reload of the small file: what the reload path itself loads once is not the spike
    reload(box)
    time.sleep(0.5)
    baseline = rss_mib(devmaster.pid)

    box.write(RULES, big_rules())
    reload(box)
    loaded = rss_mib(devmaster.pid)
    assert "rules reloaded" in box.log() or loaded > baseline * 2, "the large file was not loaded"

    box.write(RULES, LINE.format("small"))
    reload(box)
    time.sleep(0.5)
    after = rss_mib(devmaster.pid)
    print(f"devmaster RSS: baseline {baseline:.1f} MiB, with 9 MB of rules {loaded:.1f} MiB, after {after:.1f} MiB")
    # issue 15's measure (within 20%; 1 MiB for the noise of one RSS reading): a few MiB of the
    # allocator's arenas stay pinned by what the daemon allocated meanwhile (1.14-1.18x here)
    assert after <= baseline * 1.2 + 1, (baseline, loaded, after)
    assert devmaster.poll() is None


def test_events_stay_quick_and_workers_small_with_a_large_rules_file(
        box: Sandbox, devmaster: subprocess.Popen[str]) -> None:
    box.write(RULES, big_rules())
    reload(box)
    # the file's lines are for block devices: one of this machine's goes through them
    block = "/sys/class/block/" + sorted(os.listdir("/sys/class/block"))[0]
    try:
        took = []
        for device in (block, "/sys/class/net/lo", block):
            start = time.monotonic()
            r = box.run(["udevadm", "trigger", "--settle", "-c", "change", device], timeout=120)
            took.append(time.monotonic() - start)
            assert r.returncode == 0, r.stderr
        workers = psutil.Process(devmaster.pid).children()
        assert workers, "no worker handled the events"
        private = max(w.memory_full_info().uss for w in workers) / (1 << 20)
        print(f"event times {[round(t, 2) for t in took]} s, largest worker USS {private:.1f} MiB "
              f"(daemon RSS {rss_mib(devmaster.pid):.1f} MiB)")
        # each worker was copying the whole program on its first event: 6 s and 200 MiB
        assert max(took) < 5, took
        assert private < 40, private
    finally:
        box.write(RULES, LINE.format("small"))
        reload(box)
