#!/usr/bin/env python3
"""Benchmark: compile the stock udev rules cold, and load them from the cache warm.

Usage: python bench/bench_udev_rules.py [RULES_DIR ...]   (default: /usr/lib/udev/rules.d)
Prints a table of median/min/max over repeated runs; goals: cold < 300 ms, cache < 30 ms.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from udev_rules_translator import load_rules
from udev_rules_translator.glob import compiled

RUNS = 30


def timed(fn: Callable[[], object], runs: int = RUNS) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def fresh_process_ms(dirs: list[str], cache: str) -> list[float]:
    """Wall time of a new interpreter importing the package and loading from the cache."""
    code = (
        "import time; t = time.perf_counter(); from udev_rules_translator import load_rules; "
        f"r = load_rules({dirs!r}, cache_path={cache!r}); assert r.from_cache; "
        "print((time.perf_counter() - t) * 1000)"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root}
    return [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout)
        for _ in range(10)
    ]


def main() -> int:
    dirs = sys.argv[1:] or ["/usr/lib/udev/rules.d"]
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "rules.cache")

        def cold() -> None:
            compiled.cache_clear()
            load_rules(dirs, cache_path=None)

        def warm() -> None:
            assert load_rules(dirs, cache_path=cache).from_cache

        loaded = load_rules(dirs, cache_path=cache)
        rows = [
            ("cold compile (no cache)", timed(cold), 300.0),
            ("warm load from cache", timed(warm), 30.0),
            ("cache load, new process incl. import", fresh_process_ms(dirs, cache), None),
        ]
        size = os.path.getsize(cache)
    print(
        f"rules: {', '.join(dirs)}: {len(loaded.rules.sources)} files, {len(loaded.rules.lines)} lines, "
        f"{loaded.rules.token_count} tokens, {len(loaded.errors)} errors; cache file {size} bytes"
    )
    print(f"{'measure':<38} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'goal ms':>8}  ok")
    for name, samples, goal in rows:
        med = statistics.median(samples)
        ok = "" if goal is None else ("yes" if med < goal else "NO")
        goal_text = "" if goal is None else f"{goal:.0f}"
        print(f"{name:<38} {med:>10.2f} {min(samples):>8.2f} {max(samples):>8.2f} {goal_text:>8}  {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
