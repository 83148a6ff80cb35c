"""udev_rules_translator: udev rules text -> compiled rule program + diagnostics (pure).

Semantics are systemd-udevd 252's (src/udev/udev-rules.c, udev-event.c). Nothing here touches a
device: executing the program is devmaster's job. This package never imports sysmasterd.

Public API (stable; devmaster builds on it)
-------------------------------------------

Loading::

    load_rules(dirs=None, *, cache_path=DEFAULT_CACHE_PATH, resolve_names=ResolveNames.EARLY,
               resolver=None) -> LoadedRules
        Finds ``*.rules`` in ``dirs`` (default DEFAULT_DIRS: /etc/devmaster/rules.d,
        /etc/udev/rules.d, /run/udev/rules.d, /usr/local/lib/udev/rules.d, /usr/lib/udev/rules.d,
        /lib/udev/rules.d), one lexical order by file name, an earlier directory winning for the
        same name, empty files and /dev/null symlinks masking. Uses the cache at ``cache_path``
        when it is keyed by the same files (path, size, mtime), otherwise compiles and rewrites
        it. ``cache_path=None`` disables caching.
    LoadedRules: .rules (RuleSet), .diagnostics (tuple[Diagnostic]), .errors, .from_cache
    rules_changed(loaded) -> bool      the rules files changed since (udevd's should_reload)
    compile_text(path, data: bytes, CompileOptions()) -> CompiledFile   one file, for tests
    Diagnostic(path, line, severity: Severity, message); str() gives "file:line: error: message"

The program (model.py; frozen dataclasses, safe to share between worker processes)::

    RuleSet.lines: tuple[RuleLine, ...]       every line of every file, in execution order
    RuleLine: filename, line_number, flags: LineFlags, tokens: tuple[Token, ...],
              label, goto_label, goto: int | None (index into RuleSet.lines of the LABEL line;
              the three are kept in RuleLine.jump, None on most lines)
    Token: type: TokenType (IntEnum in udevd's order; tokens of a line are sorted by it),
           op: Operator, value (raw), attr (the {...} part), and pre-parsed (properties over
           the compact Token.body and Token.extra; make_token() builds them):
             pattern: Pattern       for matches (ACTION .. TAGS, RESULT); Pattern.matches(value)
                                    is pure; Token.matches(value) applies == / !=.  A value "?*"
                                    was turned into the inverted empty match, as udevd does.
             template: Template     for values substituted per event (PROGRAM, IMPORT, TEST,
                                    RUN, ENV=, SYMLINK=, NAME=, ...)
             attr_form/attr_template/attr_ref   how to read ATTR{}/ATTRS{}/SYSCTL{} names
             number                 uid/gid/mode/link priority/log level/watch flag
             builtin: Builtin       for IMPORT{builtin} and RUN{builtin} (Builtin.run_once)
    Template.parts: Literal(text) | Substitution(kind: SubstKind, arg, result_index,
              result_rest); Template.error: formatting stops there with a warning, as udevd.
    parse_subsys_ref("[net/eth0]address") -> SubsysRef  for TEST paths formatted at run time
    glob.fnmatch(pattern, text)           glibc fnmatch(3) with flags 0

Executing (what devmaster implements; udevd's udev_rules_apply_to_event): for each line in
order, skip it unless its flags intersect HAS_GOTO|UPDATE_SOMETHING, plus HAS_DEVLINK when the
device has a devnum and HAS_NAME when it has an ifindex (neither on "remove"). Evaluate tokens
in order; the consecutive M_PARENTS_* tokens are one group tried on the device, then each
ancestor, until all match on the same one. A failing token ends the line. When all pass and
``goto`` is set, continue at ``lines[goto]`` (which is evaluated too).
"""

# The names below load on first use (PEP 562): devmaster's enumerator needs only glob.fnmatch, and
# importing the package must not make it pay for the compiler, the cache and the model's dataclasses.
_HOMES = {
    "DEFAULT_CACHE_PATH": "cache",
    "CompiledFile": "compiler", "CompileOptions": "compiler", "compile_text": "compiler",
    "Diagnostic": "diagnostics", "Severity": "diagnostics",
    "DEFAULT_DIRS": "files",
    "LoadedRules": "loader", "load_rules": "loader", "rules_changed": "loader",
    "AttrForm": "model", "Builtin": "model", "LineFlags": "model", "Literal": "model", "MatchKind": "model",
    "Operator": "model", "Pattern": "model", "ResolveNames": "model", "RuleLine": "model", "RuleSet": "model",
    "SourceFile": "model", "Substitution": "model", "SubstKind": "model", "SubsysRef": "model",
    "Template": "model", "Token": "model", "TokenType": "model", "parse_subsys_ref": "model",
    "NameResolver": "names",
}

TYPE_CHECKING = False  # typing's import is what this module avoids; mypy knows the name
if TYPE_CHECKING:
    from udev_rules_translator.cache import DEFAULT_CACHE_PATH
    from udev_rules_translator.compiler import CompiledFile, CompileOptions, compile_text
    from udev_rules_translator.diagnostics import Diagnostic, Severity
    from udev_rules_translator.files import DEFAULT_DIRS
    from udev_rules_translator.loader import LoadedRules, load_rules, rules_changed
    from udev_rules_translator.model import (
        AttrForm,
        Builtin,
        LineFlags,
        Literal,
        MatchKind,
        Operator,
        Pattern,
        ResolveNames,
        RuleLine,
        RuleSet,
        SourceFile,
        Substitution,
        SubstKind,
        SubsysRef,
        Template,
        Token,
        TokenType,
        parse_subsys_ref,
    )
    from udev_rules_translator.names import NameResolver


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        # AttributeError lets `from udev_rules_translator import lexer` fall back to the submodule.
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


__all__ = [
    "DEFAULT_CACHE_PATH",
    "DEFAULT_DIRS",
    "AttrForm",
    "Builtin",
    "CompileOptions",
    "CompiledFile",
    "Diagnostic",
    "LineFlags",
    "Literal",
    "LoadedRules",
    "MatchKind",
    "NameResolver",
    "Operator",
    "Pattern",
    "ResolveNames",
    "RuleLine",
    "RuleSet",
    "Severity",
    "SourceFile",
    "SubstKind",
    "Substitution",
    "SubsysRef",
    "Template",
    "Token",
    "TokenType",
    "compile_text",
    "load_rules",
    "parse_subsys_ref",
    "rules_changed",
]
