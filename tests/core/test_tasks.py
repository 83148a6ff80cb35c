"""A supervised background task never vanishes silently."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sysmasterd.core.tasks import supervised


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
