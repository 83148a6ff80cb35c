"""The compiled rule program: what devmaster executes, with every value pre-parsed.

Everything here is immutable data plus pure helpers; nothing touches a device.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass, field

from udev_rules_translator.glob import compiled, fnmatch, is_glob


class Operator(enum.Enum):
    MATCH = "=="
    NOMATCH = "!="
    ADD = "+="
    REMOVE = "-="
    ASSIGN = "="
    ASSIGN_FINAL = ":="


class TokenType(enum.IntEnum):
    """Token kinds in udevd's evaluation order: a line's tokens are sorted by this value."""

    # matches on the device itself
    M_ACTION = enum.auto()
    M_DEVPATH = enum.auto()
    M_KERNEL = enum.auto()
    M_DEVLINK = enum.auto()
    M_NAME = enum.auto()
    M_ENV = enum.auto()
    M_CONST = enum.auto()
    M_TAG = enum.auto()
    M_SUBSYSTEM = enum.auto()
    M_DRIVER = enum.auto()
    M_ATTR = enum.auto()
    M_SYSCTL = enum.auto()
    # matches on the device or one of its ancestors (all on the same one)
    M_PARENTS_KERNEL = enum.auto()
    M_PARENTS_SUBSYSTEM = enum.auto()
    M_PARENTS_DRIVER = enum.auto()
    M_PARENTS_ATTR = enum.auto()
    M_PARENTS_TAG = enum.auto()
    # matches with side effects
    M_TEST = enum.auto()
    M_PROGRAM = enum.auto()
    M_IMPORT_FILE = enum.auto()
    M_IMPORT_PROGRAM = enum.auto()
    M_IMPORT_BUILTIN = enum.auto()
    M_IMPORT_DB = enum.auto()
    M_IMPORT_CMDLINE = enum.auto()
    M_IMPORT_PARENT = enum.auto()
    M_RESULT = enum.auto()
    # assignments
    A_OPTIONS_STRING_ESCAPE_NONE = enum.auto()
    A_OPTIONS_STRING_ESCAPE_REPLACE = enum.auto()
    A_OPTIONS_DB_PERSIST = enum.auto()
    A_OPTIONS_INOTIFY_WATCH = enum.auto()
    A_OPTIONS_DEVLINK_PRIORITY = enum.auto()
    A_OPTIONS_LOG_LEVEL = enum.auto()
    A_OWNER = enum.auto()
    A_GROUP = enum.auto()
    A_MODE = enum.auto()
    A_OWNER_ID = enum.auto()
    A_GROUP_ID = enum.auto()
    A_MODE_ID = enum.auto()
    A_TAG = enum.auto()
    A_OPTIONS_STATIC_NODE = enum.auto()
    A_SECLABEL = enum.auto()
    A_ENV = enum.auto()
    A_NAME = enum.auto()
    A_DEVLINK = enum.auto()
    A_ATTR = enum.auto()
    A_SYSCTL = enum.auto()
    A_RUN_BUILTIN = enum.auto()
    A_RUN_PROGRAM = enum.auto()

    @property
    def is_match(self) -> bool:
        return self <= TokenType.M_RESULT

    @property
    def is_parent_match(self) -> bool:
        return TokenType.M_PARENTS_KERNEL <= self <= TokenType.M_PARENTS_TAG


# matches whose value is a template run or read per event, not a pattern
TEMPLATE_MATCHES = frozenset({TokenType.M_TEST, TokenType.M_PROGRAM, TokenType.M_IMPORT_FILE,
                              TokenType.M_IMPORT_PROGRAM, TokenType.M_IMPORT_BUILTIN, TokenType.M_IMPORT_PARENT})


class Builtin(enum.Enum):
    """udevd's builtin commands, in udevd's lookup order."""

    BLKID = "blkid"
    BTRFS = "btrfs"
    HWDB = "hwdb"
    INPUT_ID = "input_id"
    KEYBOARD = "keyboard"
    KMOD = "kmod"
    NET_ID = "net_id"
    NET_SETUP_LINK = "net_setup_link"
    PATH_ID = "path_id"
    USB_ID = "usb_id"
    UACCESS = "uaccess"

    @property
    def run_once(self) -> bool:
        """An IMPORT of this builtin runs once per event; later IMPORTs reuse its result."""
        return self in (Builtin.BLKID, Builtin.PATH_ID, Builtin.USB_ID)


def lookup_builtin(command: str) -> Builtin | None:
    """udevd's lookup: the command's first word must be a prefix of a builtin's name."""
    word = re.split(r"[ \t\n\r]", command.lstrip(" \t\n\r"), maxsplit=1)[0]
    for builtin in Builtin:
        if builtin.value.startswith(word):
            return builtin
    return None


class MatchKind(enum.Enum):
    EMPTY = "empty"  # matches the empty (or absent) value only
    PLAIN = "plain"  # alternatives compared literally
    GLOB = "glob"  # alternatives are fnmatch() globs
    SUBSYSTEM = "subsystem"  # SUBSYSTEM=="subsystem|bus|class" written as one of those words


@dataclass(frozen=True, slots=True)
class Pattern:
    """A match value: ``|``-separated alternatives, glob-ness decided for the whole value."""

    kind: MatchKind
    alternatives: tuple[str, ...] = ()
    match_empty: bool = False  # an empty alternative ("|foo", "foo|", "a||b") also matches ""

    def matches(self, value: str | None) -> bool:
        """Whether ``value`` (None: absent) matches, before the operator is applied."""
        text = value or ""
        if self.kind is MatchKind.EMPTY:
            return not text
        if self.kind is MatchKind.SUBSYSTEM:
            return text in ("subsystem", "class", "bus")
        if self.match_empty and not text:
            return True
        if self.kind is MatchKind.PLAIN:
            return text in self.alternatives
        return any(fnmatch(alt, text) for alt in self.alternatives)


class SubstKind(enum.Enum):
    """``$name`` / ``%c`` substitutions (udev_event_apply_format)."""

    DEVNODE = "devnode"  # %N $devnode
    ATTR = "attr"  # %s{file} $attr{file}
    ENV = "env"  # %E{key} $env{key}
    KERNEL = "kernel"  # %k $kernel
    KERNEL_NUMBER = "number"  # %n $number
    DRIVER = "driver"  # %d $driver
    DEVPATH = "devpath"  # %p $devpath
    ID = "id"  # %b $id
    MAJOR = "major"  # %M $major
    MINOR = "minor"  # %m $minor
    RESULT = "result"  # %c $result, %c{N} %c{N+}
    PARENT = "parent"  # %P $parent
    NAME = "name"  # %D $name
    LINKS = "links"  # %L $links
    ROOT = "root"  # %r $root
    SYS = "sys"  # %S $sys


@dataclass(frozen=True, slots=True)
class Literal:
    text: str


@dataclass(frozen=True, slots=True)
class Substitution:
    kind: SubstKind
    arg: str | None = None  # the {...} argument: attribute file, property name, or RESULT index
    result_index: int = 0  # RESULT only: 0 = whole result, N = N-th whitespace-separated word
    result_rest: bool = False  # RESULT only: {N+} = from the N-th word to the end


@dataclass(frozen=True, slots=True)
class Template:
    """A value substituted per event. ``parts`` alternate literal text and substitutions."""

    raw: str
    parts: tuple[Literal | Substitution, ...]
    # udevd stops formatting at an invalid substitution and logs a warning per event; the
    # parts before it are still used.
    error: str | None = None

    @property
    def is_plain(self) -> bool:
        return self.error is None and all(isinstance(p, Literal) for p in self.parts)


@dataclass(frozen=True, slots=True)
class SubsysRef:
    """``[subsystem/sysname]attribute`` — an attribute of another device."""

    subsystem: str
    sysname: str
    attr: str | None


def parse_subsys_ref(text: str) -> SubsysRef | None:
    """Parse ``[subsys/sysname]attr`` (udev_resolve_subsys_kernel's syntax); None if not that form."""
    if not text.startswith("["):
        return None
    slash = text.find("/", 1)
    if slash < 0:
        return None
    close = text.find("]", slash + 1)
    if close < 0:
        return None
    attr = text[close + 1 :]
    if attr.startswith("/"):
        attr = attr[1:]
    return SubsysRef(text[1:slash], text[slash + 1 : close], attr or None)


class AttrForm(enum.Enum):
    """How the attribute name of ATTR/ATTRS matches and SYSCTL is to be read."""

    PLAIN = "plain"  # a sysfs attribute name, used as is
    FORMAT = "format"  # contains substitutions: see Token.attr_template
    SUBSYS = "subsys"  # "[subsys/sysname]attr": see Token.attr_ref


# slots on the per-line classes: a 9 MB rules file is ~90k lines of them, and a __dict__ each
# (without key sharing once unpickled from the cache or a compiler process) costs a third more.
@dataclass(frozen=True, slots=True)
class TokenExtra:
    """The parts of a token that few keys set, kept aside so that the others do not pay a slot
    for each (issue 15: the bytes per compiled line)."""

    attr_form: AttrForm | None = None
    attr_template: Template | None = None
    attr_ref: SubsysRef | None = None
    number: int | None = None
    builtin: Builtin | None = None
    remove_trailing_whitespace: bool = False


@dataclass(frozen=True, slots=True)
class Token:
    """One key/operator/value of a rule line, ready to execute.

    ``body`` is the pre-parsed value: a Pattern for matches (ACTION ... PARENTS_TAG, RESULT), a
    Template for values substituted per event (TEST, PROGRAM, IMPORT{program,builtin,file,parent}
    and every A_* value with a string). The commonest of both is the plain ``value`` string
    itself, with no object per line: a pattern of one literal or glob alternative, a template
    without substitutions. Read it through the ``pattern`` and ``template`` properties (or
    ``body`` where the plain string is worth the speed). The rest, through properties too:
      - ``attr``: the ``{...}`` part as written (ENV/ATTR/ATTRS/SYSCTL/SECLABEL name, CONST key);
        ``attr_form``/``attr_template``/``attr_ref`` say how to read ATTR/ATTRS/SYSCTL names.
      - ``number``: uid (OWNER_ID), gid (GROUP_ID), mode (MODE_ID, TEST's optional mode),
        link priority, log level (-1: reset), watch (1 watch / 0 nowatch). None for an OWNER_ID /
        GROUP_ID whose name did not resolve (udevd's invalid id), or TEST without mode.
      - ``builtin``: for IMPORT_BUILTIN and RUN_BUILTIN.
      - ``value``: the raw value string (IMPORT{db}/IMPORT{cmdline} property name,
        static_node path, and for display).
      - ``remove_trailing_whitespace``: ATTR/ATTRS matches strip the attribute's trailing
        whitespace unless the pattern ends in one.
    Build tokens with make_token(), which picks the compact forms.
    """

    type: TokenType
    op: Operator
    value: str | None = None
    attr: str | None = None
    body: Pattern | Template | str | None = None
    extra: TokenExtra | None = None

    @property
    def _plain_pattern(self) -> bool:
        return self.type.is_match and self.type not in TEMPLATE_MATCHES

    @property
    def pattern_body(self) -> Pattern | str | None:
        """The pattern as stored: a Pattern, or its one alternative as a string."""
        return self.body if self._plain_pattern and not isinstance(self.body, Template) else None

    @property
    def pattern(self) -> Pattern | None:
        body = self.body
        if isinstance(body, str):
            if not self._plain_pattern:
                return None
            return Pattern(MatchKind.GLOB if is_glob(body) else MatchKind.PLAIN, (body,))
        return body if isinstance(body, Pattern) else None

    @property
    def template(self) -> Template | None:
        body = self.body
        if isinstance(body, str):
            return None if self._plain_pattern else Template(body, (Literal(body),) if body else ())
        return body if isinstance(body, Template) else None

    @property
    def attr_form(self) -> AttrForm | None:
        return self.extra.attr_form if self.extra is not None else None

    @property
    def attr_template(self) -> Template | None:
        return self.extra.attr_template if self.extra is not None else None

    @property
    def attr_ref(self) -> SubsysRef | None:
        return self.extra.attr_ref if self.extra is not None else None

    @property
    def number(self) -> int | None:
        return self.extra.number if self.extra is not None else None

    @property
    def builtin(self) -> Builtin | None:
        return self.extra.builtin if self.extra is not None else None

    @property
    def remove_trailing_whitespace(self) -> bool:
        return self.extra is not None and self.extra.remove_trailing_whitespace

    def matches(self, value: str | None) -> bool:
        """The token's verdict for ``value`` (operator applied); only for tokens with a pattern."""
        body = self.body
        if isinstance(body, str):  # one alternative, the commonest case: no Pattern built
            text = value or ""
            found = compiled(body)(text) if is_glob(body) else text == body
        else:
            assert isinstance(body, Pattern)
            found = body.matches(value)
        return found == (self.op is Operator.MATCH)


def _is_plain_value(body: Pattern | Template | None, value: str | None) -> bool:
    """Whether ``value`` alone says what ``body`` does (see Token.body)."""
    if isinstance(body, Pattern):
        return body.kind in (MatchKind.PLAIN, MatchKind.GLOB) and not body.match_empty and body.alternatives == (value,)
    return body is not None and body.error is None and body.parts == ((Literal(value),) if value else ())


def make_token(token_type: TokenType, op: Operator, value: str | None = None, attr: str | None = None,
               pattern: Pattern | None = None, template: Template | None = None, **extra: object) -> Token:
    """A token in its compact form: a one-alternative pattern or a template without
    substitutions becomes the value string itself, and TokenExtra is only there when used."""
    parsed = pattern if pattern is not None else template
    body: Pattern | Template | str | None = value if _is_plain_value(parsed, value) else parsed
    used = any(v is not None and v is not False for v in extra.values())
    side = TokenExtra(**extra) if used else None  # type: ignore[arg-type]
    return Token(token_type, op, value, attr, body, side)


class LineFlags(enum.Flag):
    """What a line can do; udevd skips lines whose flags are irrelevant to the event."""

    NONE = 0
    HAS_NAME = enum.auto()  # NAME= (only matters for network interfaces)
    HAS_DEVLINK = enum.auto()  # SYMLINK=, OWNER=, GROUP=, MODE= (only matters with a device node)
    HAS_STATIC_NODE = enum.auto()  # OPTIONS+="static_node=..."
    HAS_GOTO = enum.auto()
    HAS_LABEL = enum.auto()
    UPDATE_SOMETHING = enum.auto()  # any other assignment, PROGRAM or IMPORT


@dataclass(frozen=True, slots=True)
class Jump:
    """A line's LABEL and GOTO: few lines have them, so they are not three slots on every line."""

    label: str | None = None
    goto_label: str | None = None
    goto: int | None = None  # index in RuleSet.lines of the LABEL line to continue with


@dataclass(frozen=True, slots=True)
class RuleLine:
    filename: str
    line_number: int
    flags: LineFlags
    tokens: tuple[Token, ...]
    jump: Jump | None = None

    @property
    def label(self) -> str | None:
        return self.jump.label if self.jump is not None else None

    @property
    def goto_label(self) -> str | None:
        return self.jump.goto_label if self.jump is not None else None

    @property
    def goto(self) -> int | None:
        return self.jump.goto if self.jump is not None else None

    def with_jump(self, **changes: str | int | None) -> RuleLine:
        """This line with its label, goto_label or goto changed."""
        jump = dataclasses.replace(self.jump or Jump(), **changes)  # type: ignore[arg-type]
        return dataclasses.replace(self, jump=None if jump == Jump() else jump)


def make_line(filename: str, line_number: int, flags: LineFlags, tokens: tuple[Token, ...],
              label: str | None = None, goto_label: str | None = None) -> RuleLine:
    jump = Jump(label, goto_label) if label is not None or goto_label is not None else None
    return RuleLine(filename, line_number, flags, tokens, jump)


@dataclass(frozen=True)
class SourceFile:
    """Identity of one loaded rules file (the cache key)."""

    path: str
    size: int
    mtime_ns: int


class ResolveNames(enum.Enum):
    """udev.conf resolve_names=: when OWNER/GROUP names become ids."""

    EARLY = "early"  # at compile time
    LATE = "late"  # per event
    NEVER = "never"  # OWNER/GROUP names are ignored


@dataclass(frozen=True)
class RuleSet:
    """All lines of all files, in execution order.

    Execution (udevd's): for each line in order, skip it unless its flags intersect
    HAS_GOTO|UPDATE_SOMETHING (plus HAS_DEVLINK for devices with a node, HAS_NAME for network
    interfaces, neither on "remove"); evaluate tokens in order, parent tokens as one group on the
    device or its first matching ancestor; the first failing token ends the line; when all
    tokens pass and ``goto`` is set, continue at ``lines[goto]``.
    """

    lines: tuple[RuleLine, ...]
    sources: tuple[SourceFile, ...] = ()
    resolve_names: ResolveNames = ResolveNames.EARLY
    static_nodes: tuple[int, ...] = field(default=())  # indexes of lines with HAS_STATIC_NODE

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def token_count(self) -> int:
        return sum(len(line.tokens) for line in self.lines)

    def __reduce__(self) -> tuple[object, ...]:
        from udev_rules_translator import packing  # it builds on this module

        return packing.unpack, packing.pack(self)
