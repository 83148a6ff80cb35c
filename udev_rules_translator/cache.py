"""The compiled program on disk, valid while the rules files' identities are unchanged.

The file is a pickle, so it is only ever read when it is owned by us and writable by nobody
else; any problem reading it means "no cache" and the rules are compiled again.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import stat
import tempfile
from dataclasses import dataclass

from udev_rules_translator.diagnostics import Diagnostic
from udev_rules_translator.model import RuleSet

DEFAULT_CACHE_PATH = "/run/devmaster/udev-rules.cache"
_MAGIC = b"udev-rules-translator cache v3\n"

CacheKey = tuple[object, ...]


@dataclass(frozen=True)
class CacheEntry:
    key: CacheKey
    rules: RuleSet
    diagnostics: tuple[Diagnostic, ...]


def read(path: str, key: CacheKey) -> CacheEntry | None:
    """The cached entry for ``key``, or None (missing, stale, foreign or unreadable)."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None
            if f.read(len(_MAGIC)) != _MAGIC:
                return None
            stored_key = pickle.load(f)
            if stored_key != key:
                return None
            entry = pickle.load(f)
    except Exception:  # any damage to the file only costs a recompile
        return None
    return entry if isinstance(entry, CacheEntry) else None


def write(path: str, entry: CacheEntry) -> bool:
    """Store atomically (temp file + rename); False when the directory is not writable."""
    directory = os.path.dirname(path) or "."
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".udev-rules-cache.", dir=directory)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC)
            # the key first, so a stale cache is rejected without unpickling the program
            pickle.dump(entry.key, f, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(entry, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True
