"""A supervised background task never vanishes silently."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sysmasterd.tasks import one_shot, supervised


def test_a_failing_task_is_logged_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    failures: list[BaseException] = []

    async def broken() -> None:
        raise ValueError("boom")

    async def main() -> None:
        task = supervised(broken(), "the broken part", failures.append)
        with pytest.raises(ValueError):
            await task
        await asyncio.sleep(0)  # done callbacks run on the next turn

    with caplog.at_level(logging.ERROR, logger="sysmasterd"):
        asyncio.run(main())
    assert [str(e) for e in failures] == ["boom"]
    assert "the broken part failed: boom" in caplog.text
    assert caplog.records[0].exc_info is not None


def test_a_task_that_returns_counts_as_failed_and_a_cancelled_one_does_not() -> None:
    failures: list[BaseException] = []

    async def quits() -> None:
        return None

    async def main() -> None:
        done = supervised(quits(), "quitter", failures.append)
        await done
        forever = supervised(asyncio.sleep(3600), "sleeper", failures.append)
        forever.cancel()
        await asyncio.sleep(0.01)

    asyncio.run(main())
    assert [str(e) for e in failures] == ["quitter ended on its own"]


def test_a_failed_one_shot_task_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async def broken() -> None:
            raise KeyError("lost")

        task = one_shot(broken(), "a query")
        with pytest.raises(KeyError):
            await task
        await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR, logger="sysmasterd"):
        asyncio.run(main())
    assert "a query failed: 'lost'" in caplog.text
    assert caplog.records[0].exc_info is not None


CRASHING_CALLBACK = """
import asyncio, logging, sys
from sysmasterd.tasks import crash_on_loop_exception
logging.basicConfig(stream=sys.stderr)
async def main():
    asyncio.get_running_loop().set_exception_handler(crash_on_loop_exception(logging.getLogger("x")))
    asyncio.get_running_loop().call_soon(lambda: 1 / 0)
    await asyncio.sleep(5)
asyncio.run(main())
"""


def test_an_exception_escaping_a_callback_ends_a_supervised_daemon() -> None:
    r = subprocess.run([sys.executable, "-c", CRASHING_CALLBACK], capture_output=True, text=True, timeout=30)
    assert r.returncode == 70
    assert "unhandled exception in the event loop" in r.stderr and "ZeroDivisionError" in r.stderr


BROKEN_DEVMASTER = """
import asyncio, sys
from sysmasterd.devmaster import main
async def run(self):
    asyncio.get_running_loop().call_later(0.1, lambda: 1 / 0)  # a watchdog tick gone wrong
    await asyncio.sleep(5)
main.Manager.run = run
sys.exit(main.main([]))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="devmaster needs root")
def test_devmaster_ends_when_a_callback_fails() -> None:
    r = subprocess.run([sys.executable, "-c", BROKEN_DEVMASTER], capture_output=True, text=True, timeout=30)
    assert r.returncode == 70, r.stderr
    assert "ZeroDivisionError" in r.stderr


def test_a_private_socket_peer_whose_setup_fails_is_logged_and_others_are_served(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from sysmasterd.bus.connection import Connection
    from sysmasterd.bus.private import PrivateServer
    from sysmasterd.cli.dbuswire import Connection as Client

    adopted: list[Connection] = []

    def adopt(conn: Connection) -> None:
        if not adopted:
            adopted.append(conn)
            raise RuntimeError("adoption broken")
        adopted.append(conn)

    def connect() -> bool:
        try:
            Client(f"unix:path={tmp_path}/private", bus=False, timeout=5).close()
        except OSError:
            return False
        return True

    async def main() -> None:
        server = PrivateServer(tmp_path / "private", adopt)
        server.start()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, connect)
            await asyncio.sleep(0.2)
            assert not server.peers  # the broken one was closed, not kept half set up
            await loop.run_in_executor(None, connect)
            await asyncio.sleep(0.2)
        finally:
            server.stop()

    with caplog.at_level(logging.ERROR):
        asyncio.run(main())
    assert len(adopted) == 2
    assert "private#1: handshake failed: adoption broken" in caplog.text
