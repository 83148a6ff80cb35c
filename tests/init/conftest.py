import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# The harness sits beside the tests; the repository root makes the package importable even when
# it is not installed into the venv.
sys.path.insert(0, os.path.dirname(__file__))
sys.path.append(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temp dir with a short path: unix socket paths are limited to 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="smi-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        skip = pytest.mark.skip(reason="needs root and unshare(1)")
        here = Path(__file__).parent
        for item in items:
            if "root" in item.keywords and here in item.path.parents:
                item.add_marker(skip)
