"""Load the compiled rules through udev_rules_translator and wrap them for execution.

A reload compiles in a forked child: the parse's garbage and the compiled program's growth never
land in devmaster itself, which receives the finished program as a pickle. That lets it drop the
old program before building the new one, so the new one does not settle into the old one's
freed memory and pin it (one 9 MB rules file is hundreds of MiB of program, kept for good).
"""

import gc
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
from udev_rules_translator.diagnostics import Diagnostic, Severity

log = logging.getLogger("devmaster")


_LEVELS = {Severity.ERROR: logging.ERROR, Severity.WARNING: logging.WARNING, Severity.NOTICE: logging.INFO,
           Severity.DEBUG: logging.DEBUG}
# udevd prints these after the whole file is read, as "file:line: message"; the others, which it
# prints while parsing a line, as "file:line message"
_AFTER_THE_FILE = ("Line is too long", "GOTO=", "The line takes no effect any more")


def diagnostic_text(d: Diagnostic) -> str:
    """A load diagnostic as udevd words it in its log."""
    if not d.line:
        return d.message
    if d.message.startswith(_AFTER_THE_FILE):
        return f"{d.path}:{d.line}: {d.message}"
    return f"{d.path}:{d.line} {d.message}"


def _log_diagnostic(d: Diagnostic) -> None:
    log.log(_LEVELS[d.severity], "%s", diagnostic_text(d))


def _wrap(loaded: LoadedRules) -> RuleExecutor:
    """The load's messages in udevd's trace: each file's right after it is read (also when the
    compiled program came from the cache)."""
    by_file: dict[str, list[Diagnostic]] = {}
    for d in loaded.diagnostics:
        by_file.setdefault(d.path, []).append(d)
    read = {s.path for s in loaded.rules.sources}
    for d in loaded.diagnostics:
        if d.path not in read:  # a file that could not be read
            _log_diagnostic(d)
    for source in loaded.rules.sources:
        log.debug("%s: %s", "Reading rules file" if source.size else "Skipping empty file", source.path)
        for d in by_file.get(source.path, ()):
            _log_diagnostic(d)
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
        # each worker's spawn froze the collector's view of the old program (framework/worker.py):
        # its cycles (the executor's bound matchers) are collected only once thawed
        gc.unfreeze()
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
