"""The edge that reads files: find the rules, compile them or take them from the cache."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass

from udev_rules_translator import cache
from udev_rules_translator.compiler import CompiledFile, CompileOptions, compile_text, link
from udev_rules_translator.diagnostics import Diagnostic, Severity
from udev_rules_translator.files import DEFAULT_DIRS, RulesFile, file_identity, list_rules_files
from udev_rules_translator.model import ResolveNames, RuleSet, SourceFile
from udev_rules_translator.names import NameResolver

FORMAT_VERSION = 1
_NAME_DATABASES = ("/etc/passwd", "/etc/group")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _code_identity() -> tuple[SourceFile | None, ...]:
    """The translator's own modules: an upgraded compiler must not read an old program."""
    return tuple(
        file_identity(os.path.join(_PACKAGE_DIR, name))
        for name in sorted(os.listdir(_PACKAGE_DIR))
        if name.endswith(".py")
    )


@dataclass(frozen=True)
class LoadedRules:
    rules: RuleSet
    diagnostics: tuple[Diagnostic, ...]
    from_cache: bool
    dirs: tuple[str, ...] = ()
    key: cache.CacheKey = ()

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)


def _cache_key(dirs: Sequence[str], files: Sequence[RulesFile], resolve_names: ResolveNames) -> cache.CacheKey:
    names: tuple[object, ...] = ()
    if resolve_names is ResolveNames.EARLY:
        # names were resolved to ids at compile time: a changed passwd/group invalidates them
        names = tuple(file_identity(p) for p in _NAME_DATABASES)
    return (FORMAT_VERSION, _code_identity(), tuple(dirs), resolve_names.value, tuple(f.source for f in files), names)


def read_file(path: str, options: CompileOptions) -> CompiledFile:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        diag = Diagnostic(path, 0, Severity.WARNING, f"Failed to open {path}, ignoring: {e.strerror}")
        return CompiledFile(path, (), (diag,))
    return compile_text(path, data, options)


def compile_files(files: Sequence[RulesFile], options: CompileOptions) -> LoadedRules:
    """Compile exactly ``files`` (no cache), in the given order."""
    compiled = [read_file(f.path, options) for f in files if not f.empty]
    rules = link(compiled, tuple(f.source for f in files), options.resolve_names)
    diagnostics = tuple(d for c in compiled for d in c.diagnostics)
    return LoadedRules(rules, diagnostics, False)


def load_rules(
    dirs: Sequence[str] | None = None,
    *,
    cache_path: str | None = cache.DEFAULT_CACHE_PATH,
    resolve_names: ResolveNames = ResolveNames.EARLY,
    resolver: NameResolver | None = None,
) -> LoadedRules:
    """Load the rules of ``dirs`` (default: the standard directories), from the cache when fresh.

    ``cache_path=None`` disables the cache. A cache that cannot be written is not an error.
    """
    dirs = tuple(DEFAULT_DIRS if dirs is None else dirs)
    files = list_rules_files(dirs)
    key = _cache_key(dirs, files, resolve_names)
    if cache_path is not None:
        entry = cache.read(cache_path, key)
        if entry is not None:
            return LoadedRules(entry.rules, entry.diagnostics, True, dirs, key)
    options = CompileOptions(resolve_names, resolver or NameResolver())
    loaded = dataclasses.replace(compile_files(files, options), dirs=dirs, key=key)
    if cache_path is not None:
        cache.write(cache_path, cache.CacheEntry(key, loaded.rules, loaded.diagnostics))
    return loaded


def rules_changed(loaded: LoadedRules) -> bool:
    """Whether the rules files changed since ``loaded`` was made (udev_rules_should_reload)."""
    files = list_rules_files(loaded.dirs)
    return _cache_key(loaded.dirs, files, loaded.rules.resolve_names) != loaded.key
