"""What several test harnesses need: waiting for a condition, and a process's children and status."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Under software emulation (tests/vm) everything is several times slower; the VM says how much.
TIMEOUT_SCALE = float(os.environ.get("SYSMASTER_TEST_TIMEOUT_SCALE") or 1)


def wait_until(pred: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll until `pred` returns something true, and return that; AssertionError on timeout."""
    deadline = time.monotonic() + timeout * TIMEOUT_SCALE
    while True:
        result = pred()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def proc_children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids.extend(int(k) for k in f.read().split())
    return kids


def proc_status(pid: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields
