"""Memory comes back after a spike of on-demand loads (issue "Hostile callers": RSS within 20% of
its baseline afterwards)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import psutil
import pytest
from bus_harness import Manager, make_manager
from dbus_fast import Message
from dbus_fast.aio import MessageBus

LOADS = 20000


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("memory"), "user", {})


def _daemon_rss(m: Manager) -> int:
    assert m.proc is not None
    procs = [p for p in psutil.Process(m.proc.pid).children(recursive=True)
             if "sysmasterd.core.main" in " ".join(p.cmdline())]
    return procs[0].memory_info().rss


async def _load_many(address: str, count: int) -> None:
    bus = await MessageBus(bus_address=address).connect()
    try:
        for start in range(0, count, 20):  # pipelined, in batches the daemon answers in turn
            await asyncio.gather(*(bus.call(Message(
                destination="org.freedesktop.systemd1", path="/org/freedesktop/systemd1",
                interface="org.freedesktop.systemd1.Manager", member="LoadUnit", signature="s",
                body=[f"spike{i}.service"])) for i in range(start, min(start + 20, count))))
    finally:
        bus.disconnect()


def test_rss_returns_after_a_load_spike(um: Manager) -> None:
    time.sleep(1)
    baseline = _daemon_rss(um)
    asyncio.run(_load_many(um.bus_address, LOADS))
    peak = _daemon_rss(um)
    deadline = time.monotonic() + 10
    while _daemon_rss(um) > baseline * 1.2 and time.monotonic() < deadline:
        time.sleep(0.5)
    after = _daemon_rss(um)
    assert after <= baseline * 1.2, (baseline, peak, after)
    assert um.systemctl("is-system-running").rc in (0, 1)
