"""Handing freed memory back to the kernel, shared by the service manager and devmaster: after a
spike neither the cyclic collector nor glibc's allocator returns it by themselves."""

from __future__ import annotations

import ctypes
import functools
import gc
from collections.abc import Callable
from typing import cast


def release_memory() -> None:
    """Collect the cycles now and hand the allocator's free pages back to the kernel."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    # looked up once: each CDLL() makes new classes, garbage that would land in the freed memory
    try:
        return cast("Callable[[int], int]", ctypes.CDLL(None).malloc_trim)
    except (OSError, AttributeError):  # not glibc: the collection alone is what we can do
        return None
