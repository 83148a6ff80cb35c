"""Load the compiled rules through udev_rules_translator and wrap them for execution.

A reload compiles in a forked child: the parse's garbage and the compiled program's growth never
land in devmaster itself, which receives the finished program as a pickle. That lets it drop the
old program before building the new one, so the new one does not settle into the old one's
freed memory and pin it (one 9 MB rules file is hundreds of MiB of program, kept for good).
"""

import logging
import os
import pickle
import re
import signal
from collections.abc import Callable

from sysmasterd.devmaster.rules.executor import RuleExecutor
from sysmasterd.memory import release_memory
from udev_rules_translator import DEFAULT_CACHE_PATH, LoadedRules, ResolveNames, glob
from udev_rules_translator import load_rules as translate

log = logging.getLogger("devmaster")


def _wrap(loaded: LoadedRules) -> RuleExecutor:
    for diag in loaded.diagnostics:
        log.warning("%s", diag)
    if log.isEnabledFor(logging.DEBUG):
        # udevd's trace of a load, also when the compiled program came from the cache
        for source in loaded.rules.sources:
            log.debug("%s: %s", "Reading rules file" if source.size else "Skipping empty file", source.path)
    return RuleExecutor(loaded.rules, loaded=loaded)


def load_rules(dirs: list[str] | None, resolve_names: str = "early",
               cache_path: str | None = DEFAULT_CACHE_PATH) -> RuleExecutor:
    return _wrap(translate(dirs or None, cache_path=cache_path, resolve_names=ResolveNames(resolve_names)))


def _compile_in_child(dirs: list[str] | None, resolve_names: str, cache_path: str | None) -> bytes:
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child leaves through os._exit
        status = 1
        try:
            os.close(rfd)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            loaded = translate(dirs or None, cache_path=cache_path, resolve_names=ResolveNames(resolve_names))
            with os.fdopen(wfd, "wb") as out:
                pickle.dump(loaded, out, protocol=pickle.HIGHEST_PROTOCOL)
            status = 0
        finally:
            os._exit(status)
    os.close(wfd)
    try:
        with os.fdopen(rfd, "rb") as pipe:
            data = pipe.read()
    finally:
        _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        raise RuntimeError(f"rules compiler process failed (wait status {status})")
    return data


def compile_rules(dirs: list[str] | None, resolve_names: str = "early",
                  cache_path: str | None = DEFAULT_CACHE_PATH) -> Callable[[], RuleExecutor]:
    """Compile aside (raises when that fails); the returned call builds the program here."""
    data = _compile_in_child(dirs, resolve_names, cache_path)

    def build() -> RuleExecutor:
        nonlocal data
        # compile-time caches filled by the previous program would pin its memory as well
        glob.compiled.cache_clear()
        re.purge()
        release_memory()
        loaded = pickle.loads(data)
        data = b""  # the pickle is as large as the program: not kept beside it
        if not isinstance(loaded, LoadedRules):
            raise TypeError(f"rules compiler sent {type(loaded).__name__}")
        return _wrap(loaded)

    return build
