"""Fixtures for compat tests (helpers live in compat_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from compat_helpers import write


@pytest.fixture
def units(tmp_path: Path) -> Callable[..., Path]:
    """units("foo.service", "[Service]...") writes into <tmp>/units (or the subdir `where`)."""

    def make(name: str, text: str = "", where: str = "units") -> Path:
        return write(tmp_path / where / name, text)

    return make
