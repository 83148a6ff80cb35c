"""Which rules files load, and in which order (udevd's conf_files_list for ``.rules``)."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from udev_rules_translator.model import SourceFile

# Earlier directories win for files of the same name. devmaster's own directory comes first so
# rules written by `udev-rules-translate translate` override the stock ones.
DEFAULT_DIRS: tuple[str, ...] = (
    "/etc/devmaster/rules.d",
    "/etc/udev/rules.d",
    "/run/udev/rules.d",
    "/usr/local/lib/udev/rules.d",
    "/usr/lib/udev/rules.d",
    "/lib/udev/rules.d",
)
SUFFIX = ".rules"


@dataclass(frozen=True)
class RulesFile:
    path: str
    source: SourceFile
    empty: bool  # an empty file or a /dev/null symlink: masks the name, loads nothing


def _identity(path: str, st: os.stat_result) -> SourceFile:
    return SourceFile(path, st.st_size, st.st_mtime_ns)


def _entry(path: str) -> RulesFile | None:
    """What udevd makes of a directory entry with the right name: whatever it is, it takes the
    name; only a non-empty regular file (or a symlink to one) has rules to load."""
    try:
        lst = os.lstat(path)
    except OSError:
        return None
    try:
        st = os.stat(path)
    except OSError:  # a dangling symlink
        return RulesFile(path, _identity(path, lst), True)
    return RulesFile(path, _identity(path, st), not stat.S_ISREG(st.st_mode) or st.st_size == 0)


def list_rules_files(dirs: Sequence[str] = DEFAULT_DIRS) -> list[RulesFile]:
    """All ``*.rules`` of ``dirs`` in one lexical order by file name, first directory winning."""
    chosen: dict[str, RulesFile] = {}
    for directory in dirs:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if name in chosen or not name.endswith(SUFFIX) or name.startswith("."):
                continue
            entry = _entry(os.path.join(directory, name))
            if entry is not None:
                chosen[name] = entry
    return [chosen[name] for name in sorted(chosen, key=os.fsencode)]


def file_identity(path: str) -> SourceFile | None:
    try:
        return _identity(path, os.stat(path))
    except OSError:
        return None
