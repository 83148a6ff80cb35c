"""Which cgroup layout the machine running the tests has."""

from __future__ import annotations

import os

CGROUP2 = "/sys/fs/cgroup"


def unified() -> bool:
    """Every controller the tests need is on the cgroup2 mount (a unified host, e.g. the VM of
    tests/vm), rather than on v1 hierarchies as on this hybrid host."""
    try:
        with open(os.path.join(CGROUP2, "cgroup.controllers")) as f:
            return {"memory", "pids", "cpu"} <= set(f.read().split())
    except OSError:
        return False
