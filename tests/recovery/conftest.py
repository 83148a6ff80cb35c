import os
import shutil
import sys
from pathlib import Path

import pytest

# The harness sits beside the tests.
sys.path.insert(0, os.path.dirname(__file__))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "dbus-daemon", "busctl"))
    if missing:
        skip = pytest.mark.skip(reason="needs root, unshare(1), dbus-daemon and busctl")
        here = Path(__file__).parent
        for item in items:
            if here in item.path.parents:
                item.add_marker(skip)
