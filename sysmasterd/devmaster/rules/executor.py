"""Run the translator's compiled RuleSet on one event (udev_rules_apply_to_event)."""

import bisect
import errno
import grp
import logging
import operator
import os
import platform
import pwd
import re
import stat
import subprocess
import time
from collections.abc import Callable, Iterable
from functools import cache

from sysmasterd.devmaster.builtin.registry import init_builtins, run_builtin
from sysmasterd.devmaster.config import python_log_level
from sysmasterd.devmaster.device import Device
from sysmasterd.devmaster.event import UdevEvent
from sysmasterd.devmaster.framework import db
from sysmasterd.devmaster.gaps import NOT_APPLIED_TOKENS
from sysmasterd.devmaster.node import apply_static_node
from sysmasterd.devmaster.rules.candidates import LineSelector, LiteralEnv
from sysmasterd.devmaster.rules.format import (
    ALLOWED_CHARS_INPUT,
    apply_format,
    replace_chars,
    resolve_subsys_path,
    resolve_subsys_value,
)
from sysmasterd.devmaster.rules.spawn import spawn
from sysmasterd.timespan import USEC_PER_SEC, format_timespan
from udev_rules_translator import LoadedRules, rules_changed
from udev_rules_translator.glob import compiled, fnmatch, is_glob
from udev_rules_translator.model import (
    AttrForm,
    LineFlags,
    MatchKind,
    Operator,
    Pattern,
    RuleLine,
    RuleSet,
    Token,
    TokenType,
)

log = logging.getLogger("devmaster")
T = TokenType
_ARCH = {"x86_64": "x86-64", "i686": "x86", "i386": "x86", "aarch64": "arm64", "armv7l": "arm",
         "ppc64le": "ppc64-le", "ppc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
         "loongarch64": "loongarch64"}
_TAG_CHARS = re.compile(r"[A-Za-z0-9_-]*")
_ASSIGN_FINAL = (Operator.ASSIGN, Operator.ASSIGN_FINAL)
_SUBSYSTEM_WORDS = frozenset(("subsystem", "class", "bus"))
# value matches whose value is a plain field of the event or device
_FIELD_GETTERS: dict[TokenType, Callable[[UdevEvent, Device], str | None]] = {
    T.M_ACTION: lambda e, d: d.action,
    T.M_DEVPATH: lambda e, d: d.devpath,
    T.M_KERNEL: lambda e, d: d.sysname,
    T.M_PARENTS_KERNEL: lambda e, d: d.sysname,
    T.M_NAME: lambda e, d: e.name,
    T.M_SUBSYSTEM: lambda e, d: d.subsystem,
    T.M_PARENTS_SUBSYSTEM: lambda e, d: d.subsystem,
    T.M_DRIVER: lambda e, d: d.driver,
    T.M_PARENTS_DRIVER: lambda e, d: d.driver,
    T.M_RESULT: lambda e, d: e.program_result,
}


def _pattern_test(pattern: Pattern | str) -> Callable[[str], bool]:
    """Pattern.matches for a present-or-empty value, with the alternatives bound once."""
    if isinstance(pattern, str):  # the one alternative (Token.body)
        return compiled(pattern) if is_glob(pattern) else pattern.__eq__
    if pattern.kind is MatchKind.EMPTY:
        return operator.not_
    if pattern.kind is MatchKind.SUBSYSTEM:
        return _SUBSYSTEM_WORDS.__contains__
    if pattern.kind is MatchKind.PLAIN:
        test: Callable[[str], bool] = frozenset(pattern.alternatives).__contains__
    else:
        globs = [compiled(alt) for alt in pattern.alternatives]
        test = globs[0] if len(globs) == 1 else (lambda text: any(g(text) for g in globs))
    if pattern.match_empty:
        inner = test
        return lambda text: not text or inner(text)
    return test


FastMatcher = Callable[[UdevEvent, Device], bool]
WARM_TOKENS = 20_000


class FastMatchers:
    """Closures for the commonest tokens: most candidate lines fail on their first match, so the
    per-token cost of dispatch and pattern lookups is most of the rule work per event.

    Built on a token's first use, and shared by every token that reads the same field the same
    way: a large rules file mostly repeats its keys (SUBSYSTEM=="block" on every line), and most
    of its lines never see an event, so building one closure per token up front made the program
    twice the size of the parsed rules."""

    def __init__(self) -> None:
        self._by_token: dict[int, FastMatcher | None] = {}  # id(token): the token lives as long as we do
        self._by_key: dict[tuple[TokenType, str | None, Operator, Pattern | str], FastMatcher | None] = {}
        self._tests: dict[Pattern | str, Callable[[str], bool]] = {}

    def get(self, token: Token) -> FastMatcher | None:
        try:
            return self._by_token[id(token)]
        except KeyError:
            pass
        fn = None
        pattern = token.pattern_body
        if pattern is not None:
            key = (token.type, token.attr, token.op, pattern)
            if key in self._by_key:
                fn = self._by_key[key]
            else:
                fn = self._by_key[key] = self._build(token, pattern)
        self._by_token[id(token)] = fn
        return fn

    def _build(self, token: Token, pattern: Pattern | str) -> FastMatcher | None:
        test = self._tests.get(pattern)
        if test is None:
            test = self._tests[pattern] = _pattern_test(pattern)
        want = token.op is Operator.MATCH
        if token.type is T.M_ENV:
            key = token.attr or ""
            return lambda e, d: test(d.properties.get(key) or "") == want
        get = _FIELD_GETTERS.get(token.type)
        if get is None:
            return None
        return lambda e, d: test(get(e, d) or "") == want


@cache
def detected_virtualization() -> str:
    try:
        out = subprocess.run(["systemd-detect-virt"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "none"
    except (OSError, subprocess.TimeoutExpired):
        return "none"


def _rule_debug(event: UdevEvent, fmt: str, *args: object) -> None:
    """udevd's log_rule_debug(): "sysname: file:line message"."""
    if log.isEnabledFor(logging.DEBUG):
        line = event.rule_line
        where = f"{line.filename}:{line.line_number} " if line is not None else ""
        log.debug("%s: %s" + fmt, event.dev.sysname, where, *args)


def _octal(mode: int) -> str:
    return f"0{mode:o}" if mode else "0"  # C's %#o


def _spawn_timeout(event: UdevEvent) -> float:
    """A little over event_timeout: in the daemon the manager's kill of the whole worker comes first."""
    return event.settings.event_timeout + 1.0


def _with_db(event: UdevEvent, dev: Device) -> Device:
    """Parents are read from sysfs; their tags and properties live in the db (read once)."""
    if dev is not event.dev and dev.syspath not in event.parents_with_db:
        event.parents_with_db.add(dev.syspath)
        rec = db.read_db(dev.device_id, event.settings.run_dir)
        if rec is not None:
            db.load_into(dev, rec)
    return dev


def _sysctl_path(name: str) -> str:
    # sysctl_normalize(): dots are separators unless the name already uses slashes first
    name = name.lstrip("/")
    first_slash, first_dot = name.find("/"), name.find(".")
    if first_dot >= 0 and (first_slash < 0 or first_dot < first_slash):
        name = name.replace(".", "\0").replace("/", ".").replace("\0", "/")
    return "/proc/sys/" + name


def _subst_subdir(path: str) -> str | None:
    """attr_subst_subdir(): "a/*/b" becomes the first "a/<entry>/b" that exists."""
    head, sep, tail = path.partition("/*/")
    if not sep:
        return path
    try:
        entries = sorted(os.listdir(head))
    except OSError:
        return None
    for entry in entries:
        if entry.startswith("."):
            continue
        candidate = os.path.join(head, entry, tail)
        if os.path.lexists(candidate):
            return candidate
    return None


def _property_line(line: str) -> tuple[str, str] | None:
    """get_property_from_string(): KEY=VALUE with optional quotes; comments/blank skipped."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    key, sep, value = line.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key:
        return None
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return key, value


class RuleExecutor:
    def __init__(self, rules: RuleSet, loaded: LoadedRules | None = None) -> None:
        self.rules = rules
        self._loaded = loaded
        self._parent_tokens = frozenset(t for t in TokenType if t.is_parent_match)
        self._matchers = self._build_matchers()
        self._fast = FastMatchers()
        self._selector = LineSelector(rules.lines)
        self._env = LiteralEnv(rules.lines)

    def prepare(self) -> None:
        """Work done once before workers fork: builtins' data, host facts for CONST{}, and the
        matchers of an ordinary rule set (up to WARM_TOKENS tokens: Debian's has 1,400), so that
        workers start warm while a huge rules file costs only what its events use."""
        init_builtins()
        detected_virtualization()
        tokens = [t for line in self.rules.lines for t in line.tokens]
        for token in tokens if len(tokens) <= WARM_TOKENS else ():
            self._fast.get(token)

    def changed(self) -> bool:
        """The rules files changed on disk since loading (udevd reloads on its own then)."""
        return self._loaded is not None and rules_changed(self._loaded)

    def apply_static_nodes(self, run_dir: str) -> None:
        for devnode, mode, uid, gid, tags in static_node_permissions(self.rules):
            try:
                apply_static_node(devnode, mode, uid, gid, tags, run_dir)
            except OSError as e:
                log.error("Failed to apply permissions on static device node %s: %s", devnode, e.strerror)

    # ---- lines --------------------------------------------------------------
    def apply(self, event: UdevEvent) -> None:
        dev = event.dev
        mask = LineFlags.HAS_GOTO | LineFlags.UPDATE_SOMETHING
        if event.action != "remove":
            if dev.devnum is not None:
                mask |= LineFlags.HAS_DEVLINK
            if dev.ifindex is not None:
                mask |= LineFlags.HAS_NAME
        candidates = self._selector.select(event.action, dev.subsystem, mask.value, dev.sysname)
        lines = self.rules.lines
        env_keys, env_rejects = self._env.keys, self._env.rejects
        k = 0
        while k < len(candidates):
            index = candidates[k]
            k += 1
            if env_keys[index] >= 0 and env_rejects(index, dev.properties):
                continue
            line = lines[index]
            if self._apply_line(event, line) and line.goto is not None and line.goto >= index:
                # labels resolve forward only, so a GOTO can never loop
                k = bisect.bisect_left(candidates, line.goto)

    def _apply_line(self, event: UdevEvent, line: RuleLine) -> bool:
        event.esc = "unset"
        event.rule_line = line
        event.dev_parent = event.dev
        parents_done = False
        tokens = line.tokens
        parent_types = self._parent_tokens
        for k, token in enumerate(tokens):
            if token.type in parent_types:
                if parents_done:
                    continue
                if not self._apply_parents(event, line, tokens[k:]):
                    return False
                parents_done = True
                continue
            try:
                if not self._token(event, event.dev, token):
                    return False
            except Exception:
                log.exception("%s:%d: failed to apply token %s",
                              line.filename, line.line_number, token.type.name)
                return False
        return True

    def _apply_parents(self, event: UdevEvent, line: RuleLine, tokens: tuple[Token, ...]) -> bool:
        group = []
        for token in tokens:
            if token.type not in self._parent_tokens:
                break
            group.append(token)
        dev: Device | None = event.dev
        while dev is not None:
            event.dev_parent = dev
            if all(self._token(event, dev, t) for t in group):
                return True
            dev = dev.parent
        event.dev_parent = None
        return False

    # ---- tokens -------------------------------------------------------------
    def _fmt(self, event: UdevEvent, token: Token, replace_ws: bool = False) -> str:
        body = token.body
        assert body is not None and not isinstance(body, Pattern)
        return apply_format(event, body, replace_ws)

    def _match_attr(self, event: UdevEvent, dev: Device, token: Token) -> bool:
        value: str | None
        if token.attr_form is AttrForm.SUBSYS:
            value = resolve_subsys_value(token.attr or "")
        else:
            name = token.attr or ""
            if token.attr_form is AttrForm.FORMAT and token.attr_template is not None:
                name = apply_format(event, token.attr_template)
            value = dev.attr(name)
        if value is None:
            return False
        if token.remove_trailing_whitespace:
            value = value.rstrip(" \t\n\r")
        return token.matches(value)

    def _token(self, event: UdevEvent, dev: Device, token: Token) -> bool:
        fast = self._fast.get(token)
        if fast is not None:
            return fast(event, dev)
        handler = self._matchers.get(token.type)
        if handler is not None:
            return handler(event, dev, token)
        self._assign(event, dev, token)
        return True

    def _build_matchers(self) -> dict[TokenType, Callable[[UdevEvent, Device, Token], bool]]:
        def by_value(get: Callable[[UdevEvent, Device, Token], str | None]) -> Callable[
                [UdevEvent, Device, Token], bool]:
            return lambda e, d, t: t.matches(get(e, d, t))

        return {
            T.M_ACTION: by_value(lambda e, d, t: d.action),
            T.M_DEVPATH: by_value(lambda e, d, t: d.devpath),
            T.M_KERNEL: by_value(lambda e, d, t: d.sysname),
            T.M_PARENTS_KERNEL: by_value(lambda e, d, t: d.sysname),
            T.M_DEVLINK: lambda e, d, t: self._match_set(t, (x.removeprefix("/dev/") for x in d.devlinks)),
            T.M_NAME: by_value(lambda e, d, t: e.name),
            T.M_ENV: by_value(lambda e, d, t: d.properties.get(t.attr or "")),
            T.M_CONST: by_value(lambda e, d, t: _ARCH.get(platform.machine(), platform.machine())
                                if t.attr == "arch" else detected_virtualization()),
            T.M_TAG: lambda e, d, t: self._match_set(t, d.current_tags),
            T.M_PARENTS_TAG: lambda e, d, t: self._match_set(t, _with_db(e, d).current_tags),
            T.M_SUBSYSTEM: by_value(lambda e, d, t: d.subsystem),
            T.M_PARENTS_SUBSYSTEM: by_value(lambda e, d, t: d.subsystem),
            T.M_DRIVER: by_value(lambda e, d, t: d.driver),
            T.M_PARENTS_DRIVER: by_value(lambda e, d, t: d.driver),
            T.M_ATTR: self._match_attr,
            T.M_PARENTS_ATTR: self._match_attr,
            T.M_SYSCTL: by_value(self._sysctl_value),
            T.M_TEST: self._test,
            T.M_PROGRAM: lambda e, d, t: self._program(e, t),
            T.M_IMPORT_FILE: lambda e, d, t: self._import_file(e, t),
            T.M_IMPORT_PROGRAM: lambda e, d, t: self._import_program(e, t),
            T.M_IMPORT_BUILTIN: lambda e, d, t: self._import_builtin(e, t),
            T.M_IMPORT_DB: self._import_db,
            T.M_IMPORT_CMDLINE: lambda e, d, t: self._import_cmdline(e, t),
            T.M_IMPORT_PARENT: self._import_parent,
            T.M_RESULT: by_value(lambda e, d, t: e.program_result),
        }

    @staticmethod
    def _match_set(token: Token, values: Iterable[str]) -> bool:
        """DEVLINK/TAG: == matches if any value matches, != if none does."""
        want = token.op is Operator.MATCH
        for value in values:
            if token.matches(value) == want:
                return want
        return not want

    @staticmethod
    def _sysctl_value(event: UdevEvent, dev: Device, token: Token) -> str | None:
        name = apply_format(event, token.attr_template) if token.attr_template else token.attr or ""
        try:
            with open(_sysctl_path(name)) as f:
                return f.read().strip()
        except OSError:
            return None

    @staticmethod
    def _import_db(event: UdevEvent, dev: Device, token: Token) -> bool:
        key = token.value or ""
        old = event.old
        if old is None or key not in old.properties:
            return token.op is Operator.NOMATCH
        dev.set_property(key, old.properties[key])
        return token.op is Operator.MATCH

    def _import_parent(self, event: UdevEvent, dev: Device, token: Token) -> bool:
        parent = dev.parent
        if parent is None:
            return token.op is Operator.NOMATCH
        _with_db(event, parent)
        pattern = self._fmt(event, token)
        for key, value in parent.all_properties().items():
            if fnmatch(pattern, key):
                dev.set_property(key, value)
        return token.op is Operator.MATCH

    def _test(self, event: UdevEvent, dev: Device, token: Token) -> bool:
        path = self._fmt(event, token)
        if not path.startswith("/"):
            resolved = resolve_subsys_path(path)
            path = resolved if resolved is not None else os.path.join(dev.syspath, path)
        found = _subst_subdir(path)
        if found is None:
            return token.op is Operator.NOMATCH
        try:
            st = os.stat(found)
        except OSError:
            return token.op is Operator.NOMATCH
        if token.number is None:
            return token.op is Operator.MATCH
        return (bool(st.st_mode & token.number)) == (token.op is Operator.MATCH)

    def _run(self, event: UdevEvent, command: str) -> tuple[int, str]:
        result = spawn(command, event.dev.all_properties(), _spawn_timeout(event),
                       event.settings.timeout_signal, device=event.dev.sysname)
        return result.returncode, result.stdout

    def _output_of(self, event: UdevEvent, token: Token, what: str) -> str | None:
        """Run the token's command: its output when it exits 0, None when it fails to."""
        command = self._fmt(event, token)
        _rule_debug(event, "%s '%s'", what, command)
        try:
            code, out = self._run(event, command)
        except ValueError as e:
            log.warning("%s: %s", event.dev.sysname, e)
            return None
        if code != 0:
            _rule_debug(event, 'Command "%s" returned %d (error)%s', command, code,
                        "" if token.type is T.M_PROGRAM else ", ignoring")
            return None
        return out

    def _program(self, event: UdevEvent, token: Token) -> bool:
        event.program_result = None
        out = self._output_of(event, token, "Running PROGRAM")
        if out is None:
            return token.op is Operator.NOMATCH
        event.program_result = replace_chars(out.rstrip("\n"), ALLOWED_CHARS_INPUT)
        return token.op is Operator.MATCH

    def _add_lines(self, event: UdevEvent, text: str) -> None:
        for raw in text.splitlines():
            kv = _property_line(raw)
            if kv is not None:
                event.dev.set_property(*kv)

    def _import_file(self, event: UdevEvent, token: Token) -> bool:
        path = self._fmt(event, token)
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            return token.op is Operator.NOMATCH
        except OSError as e:
            log.error("%s: Failed to open '%s': %s", event.dev.sysname, path, e.strerror)
            return False
        self._add_lines(event, text)
        return token.op is Operator.MATCH

    def _import_program(self, event: UdevEvent, token: Token) -> bool:
        out = self._output_of(event, token, "Importing properties from results of")
        if out is None:
            return token.op is Operator.NOMATCH
        self._add_lines(event, out)
        return token.op is Operator.MATCH

    def _import_builtin(self, event: UdevEvent, token: Token) -> bool:
        assert token.builtin is not None
        name = token.builtin.value
        if token.builtin.run_once:
            if name in event.builtins_run:
                _rule_debug(event, "Skipping builtin '%s' in IMPORT key", name)
                failed = name in event.builtins_failed
                return token.op is (Operator.NOMATCH if failed else Operator.MATCH)
            event.builtins_run.add(name)
        command = self._fmt(event, token)
        _rule_debug(event, "Importing properties from results of builtin command '%s'", command)
        rc = run_builtin(name, event, command)
        if rc < 0:
            _rule_debug(event, "Failed to run builtin '%s': %s", command, os.strerror(-rc))
            event.builtins_failed.add(name)
        return token.op is (Operator.MATCH if rc >= 0 else Operator.NOMATCH)

    def _import_cmdline(self, event: UdevEvent, token: Token) -> bool:
        key = token.value or ""
        try:
            with open("/proc/cmdline") as f:
                words = f.read().split()
        except OSError:
            words = []
        found: str | None = None
        for word in words:
            name, sep, value = word.partition("=")
            if name == key:
                found = value if sep else "1"
        if found is None:
            return token.op is Operator.NOMATCH
        event.dev.set_property(key, found or "1")
        return token.op is Operator.MATCH

    # ---- assignments --------------------------------------------------------
    def _final(self, event: UdevEvent, token: Token, what: str) -> bool:
        """True when an earlier := froze this key; a := now freezes it."""
        if what in event.final_keys:
            return True
        if token.op is Operator.ASSIGN_FINAL:
            event.final_keys.add(what)
        return False

    def _assign(self, event: UdevEvent, dev: Device, token: Token) -> None:
        kind = token.type
        if kind is T.A_OPTIONS_STRING_ESCAPE_NONE:
            event.esc = "none"
        elif kind is T.A_OPTIONS_STRING_ESCAPE_REPLACE:
            event.esc = "replace"
        elif kind is T.A_OPTIONS_DB_PERSIST:
            dev.db_persist = True
        elif kind is T.A_OPTIONS_INOTIFY_WATCH:
            if not self._final(event, token, "watch"):
                event.inotify_watch = bool(token.number)
        elif kind is T.A_OPTIONS_DEVLINK_PRIORITY:
            dev.devlink_priority = token.number or 0
        elif kind is T.A_OPTIONS_LOG_LEVEL:
            # -1 restores the daemon's level; process() restores it after the event anyway
            level = token.number if token.number is not None and token.number >= 0 else None
            log.setLevel(python_log_level(level) if level is not None else logging.NOTSET)
        elif kind is T.A_OWNER:
            if not self._final(event, token, "owner"):
                owner = self._fmt(event, token)
                uid = _resolve_id(dev, owner, "user", lambda n: pwd.getpwnam(n).pw_uid)
                if uid is not None:
                    event.uid = uid
                    _rule_debug(event, "OWNER %s(%d)", owner, uid)
        elif kind is T.A_GROUP:
            if not self._final(event, token, "group"):
                group = self._fmt(event, token)
                gid = _resolve_id(dev, group, "group", lambda n: grp.getgrnam(n).gr_gid)
                if gid is not None:
                    event.gid = gid
                    _rule_debug(event, "GROUP %s(%d)", group, gid)
        elif kind is T.A_MODE:
            if not self._final(event, token, "mode"):
                text = self._fmt(event, token)
                try:
                    event.mode = int(text, 8)
                except ValueError:
                    log.error("%s: Failed to parse mode '%s', ignoring", dev.sysname, text)
                else:
                    _rule_debug(event, "MODE %s", _octal(event.mode))
        elif kind is T.A_OWNER_ID:
            if not self._final(event, token, "owner") and token.number is not None:
                event.uid = token.number
                _rule_debug(event, "OWNER %d", token.number)
        elif kind is T.A_GROUP_ID:
            if not self._final(event, token, "group") and token.number is not None:
                event.gid = token.number
                _rule_debug(event, "GROUP %d", token.number)
        elif kind is T.A_MODE_ID:
            if not self._final(event, token, "mode") and token.number is not None:
                event.mode = token.number
                _rule_debug(event, "MODE %s", _octal(token.number))
        elif kind is T.A_SECLABEL:
            label = self._fmt(event, token) or (token.value or "")
            if token.op is Operator.ASSIGN:
                event.seclabels.clear()
            event.seclabels[token.attr or ""] = label
            log.debug("%s: SECLABEL{%s}='%s' %s", dev.sysname, token.attr, label, NOT_APPLIED_TOKENS[T.A_SECLABEL])
        elif kind is T.A_ENV:
            self._assign_env(event, dev, token)
        elif kind is T.A_TAG:
            self._assign_tag(event, dev, token)
        elif kind is T.A_NAME:
            if self._final(event, token, "name"):
                return
            if dev.ifindex is None:
                log.error("%s: Only network interfaces can be renamed, ignoring NAME=\"%s\".",
                          dev.sysname, token.value)
                return
            name = self._fmt(event, token)
            if event.esc in ("unset", "replace"):
                name = replace_chars(name, "/")
            event.name = name
            _rule_debug(event, "NAME '%s'", name)
        elif kind is T.A_DEVLINK:
            self._assign_devlink(event, dev, token)
        elif kind is T.A_ATTR:
            self._write_attr(event, dev, token)
        elif kind is T.A_SYSCTL:
            name = apply_format(event, token.attr_template) if token.attr_template else token.attr or ""
            value, path = self._fmt(event, token), _sysctl_path(name)
            _rule_debug(event, "SYSCTL '%s' writing '%s'", path[len("/proc/sys/"):], value)
            self._write(event, path, value, f"SYSCTL{{{name}}}")
        elif kind in (T.A_RUN_BUILTIN, T.A_RUN_PROGRAM):
            if self._final(event, token, "run"):
                return
            if token.op in _ASSIGN_FINAL:
                event.run.clear()
            command = self._fmt(event, token)
            entry = ("builtin" if kind is T.A_RUN_BUILTIN else "program", command)
            if entry not in event.run:
                event.run.append(entry)
                _rule_debug(event, "RUN '%s'", token.value)

    def _assign_env(self, event: UdevEvent, dev: Device, token: Token) -> None:
        name = token.attr or ""
        if not token.value:
            if token.op is not Operator.ADD:
                dev.set_property(name, None)
            return
        value = self._fmt(event, token)
        if event.esc == "replace":
            value = replace_chars(value, None)
        if token.op is Operator.ADD and name in dev.properties:
            value = dev.properties[name] + " " + value
        dev.set_property(name, value)

    def _assign_tag(self, event: UdevEvent, dev: Device, token: Token) -> None:
        tag = self._fmt(event, token)
        if token.op is Operator.ASSIGN:
            dev.tags.clear()
            dev.current_tags.clear()
        if not _TAG_CHARS.fullmatch(tag):
            log.error("%s: Invalid tag name '%s', ignoring", dev.sysname, tag)
            return
        if token.op is Operator.REMOVE:
            dev.current_tags.discard(tag)
        else:
            dev.tags.add(tag)
            dev.current_tags.add(tag)

    def _assign_devlink(self, event: UdevEvent, dev: Device, token: Token) -> None:
        if "devlink" in event.final_keys or dev.devnum is None:
            return
        if token.op is Operator.ASSIGN_FINAL:
            event.final_keys.add("devlink")
        if token.op in _ASSIGN_FINAL:
            dev.devlinks.clear()
        text = self._fmt(event, token, replace_ws=event.esc != "none")
        if event.esc == "unset":
            text = replace_chars(text, "/ ")
        elif event.esc == "replace":
            text = replace_chars(text, "/")
        for name in text.split(" "):
            if not name:
                continue
            if token.op is Operator.REMOVE:
                dev.devlinks.discard("/dev/" + name)
            else:
                dev.devlinks.add(os.path.normpath("/dev/" + name))
                _rule_debug(event, "LINK '%s'", name)

    def _write_attr(self, event: UdevEvent, dev: Device, token: Token) -> None:
        key = token.attr or ""
        path = resolve_subsys_path(key) if key.startswith("[") else None
        if path is None:
            path = os.path.join(dev.syspath, key)
        found = _subst_subdir(path)
        if found is None:
            log.error("%s: Could not find file matches '%s', ignoring", dev.sysname, path)
            return
        value = self._fmt(event, token)
        _rule_debug(event, "ATTR '%s' writing '%s'", found, value)
        self._write(event, found, value, f"ATTR{{{found}}}")

    def _write(self, event: UdevEvent, path: str, value: str, what: str) -> None:
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            log.error("%s: Failed to write %s='%s', ignoring: %s", event.dev.sysname, what, value, e.strerror)

    # ---- RUN ----------------------------------------------------------------
    def execute_run(self, event: UdevEvent) -> None:
        """udev_event_execute_run(), with its trace."""
        sysname = event.dev.sysname
        for kind, command in event.run:
            if kind == "builtin":
                log.debug('%s: Running built-in command "%s"', sysname, command)
                name = command.split(None, 1)[0] if command else ""
                rc = run_builtin(name, event, command, False)
                if rc < 0:
                    log.debug('%s: Failed to run built-in command "%s", ignoring: %s', sysname, command,
                              os.strerror(-rc))
                continue
            if event.settings.exec_delay:
                log.debug('%s: Delaying execution of "%s" for %s.', sysname, command,
                          format_timespan(int(event.settings.exec_delay * USEC_PER_SEC), USEC_PER_SEC))
                time.sleep(event.settings.exec_delay)
            log.debug('%s: Running command "%s"', sysname, command)
            try:
                result = spawn(command, event.dev.all_properties(), _spawn_timeout(event),
                               event.settings.timeout_signal, capture=False, device=sysname, accept_failure=False)
            except ValueError:  # nothing to run (udevd: "Invalid command", -EINVAL)
                log.warning("%s: Failed to execute '%s', ignoring: %s", sysname, command, os.strerror(errno.EINVAL))
                continue
            if result.returncode < 0:  # killed, or not started: udevd's -EIO
                log.warning("%s: Failed to execute '%s', ignoring: %s", sysname, command, os.strerror(errno.EIO))
            elif result.returncode > 0:
                log.debug('%s: Command "%s" returned %d (error), ignoring.', sysname, command, result.returncode)


def static_node_permissions(rules: RuleSet) -> list[tuple[str, int | None, int | None, int | None, set[str]]]:
    """OPTIONS+="static_node=" lines: (path, mode, uid, gid, tags) for nodes that exist at start."""
    found = []
    for index in rules.static_nodes:
        line = rules.lines[index]
        mode = uid = gid = None
        tags: set[str] = set()
        path = None
        for token in line.tokens:
            if token.type is T.A_MODE_ID:
                mode = token.number
            elif token.type is T.A_OWNER_ID:
                uid = token.number
            elif token.type is T.A_GROUP_ID:
                gid = token.number
            elif token.type is T.A_TAG and token.template is not None and token.template.is_plain:
                tags.add(token.template.raw)
            elif token.type is T.A_OPTIONS_STATIC_NODE:
                path = token.value
        if path is None:
            continue
        node = path if path.startswith("/") else "/dev/" + path
        try:
            if stat.S_ISCHR(os.stat(node).st_mode) or stat.S_ISBLK(os.stat(node).st_mode):
                found.append((node, mode, uid, gid, tags))
        except OSError:
            continue
    return found


def _resolve_id(dev: Device, name: str, what: str, lookup: Callable[[str], int]) -> int | None:
    """OWNER=/GROUP= at run time: a number, or a name looked up now; unknown names are logged."""
    try:
        return int(name) if name.isdigit() else lookup(name)
    except KeyError:
        log.error("%s: Unknown %s '%s', ignoring", dev.sysname, what, name)
        return None
