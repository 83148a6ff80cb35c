"""The host conditions a .link [Match] section may carry, evaluated like systemd 252's condition code.

Host=, Virtualization=, KernelCommandLine=, KernelVersion=, Credential=,
Architecture= and Firmware=. Each `check_*` function is pure (parameter and the
host fact in, True/False out, None when udev would call the condition
malformed); `condition_holds` gathers the fact from the running system.
A condition that cannot be decided fails, whatever its `!`, as in udev.
"""

import os
import sys
from collections.abc import Callable, Mapping

from udev_rules_translator.glob import fnmatch

LINK_CONDITIONS = ("Host", "Virtualization", "KernelCommandLine", "KernelVersion", "Credential", "Architecture",
                   "Firmware")
_CONTAINERS = frozenset(("openvz", "lxc", "lxc-libvirt", "systemd-nspawn", "docker", "podman", "rkt", "wsl",
                         "proot", "pouch"))
_TRUE, _FALSE = ("1", "yes", "y", "true", "t", "on"), ("0", "no", "n", "false", "f", "off")
# uname machine -> systemd's architecture name (mips depends on the byte order, see _architecture)
_ARCHITECTURES = {
    "aarch64": "arm64", "aarch64_be": "arm64-be", "arc": "arc", "arceb": "arc-be", "crisv32": "cris",
    "x86_64": "x86-64", "i686": "x86", "i586": "x86", "i486": "x86", "i386": "x86", "ia64": "ia64",
    "parisc64": "parisc64", "parisc": "parisc", "loongarch64": "loongarch64", "m68k": "m68k", "nios2": "nios2",
    "ppc64le": "ppc64-le", "ppc64": "ppc64", "ppcle": "ppc-le", "ppc": "ppc", "riscv64": "riscv64",
    "riscv32": "riscv32", "s390x": "s390x", "s390": "s390", "sh5": "sh64", "sh4a": "sh", "sh4": "sh", "sh3": "sh",
    "sh2a": "sh", "sh2": "sh", "sparc64": "sparc64", "sparc": "sparc", "tilegx": "tilegx", "alpha": "alpha",
}
ARCHITECTURE_NAMES = frozenset(_ARCHITECTURES.values()) | {"mips", "mips-le", "mips64", "mips64-le"}
# parse_compare_operator() with fnmatch allowed and "="/"!=" comparing strings; longest first
_OPERATORS = ("$=", "!$=", "<>", "<=", ">=", "<", ">", "==", "=", "!=")


def split_words(value: str) -> list[str]:
    """Whitespace-separated words with shell quoting; unbalanced quotes are taken literally."""
    import shlex  # here: only .link files with such values need it, not devctl's start-up

    try:
        return shlex.split(value)
    except ValueError:
        return value.split()


def strverscmp_improved(a: str, b: str) -> int:
    """systemd's version comparison (the UAPI version format spec): -1, 0 or 1."""
    def valid(c: str) -> bool:
        return c.isascii() and (c.isalnum() or c in "~-^.")

    def cmp(x: object, y: object) -> int:
        return (x > y) - (x < y)  # type: ignore[operator]

    i = j = 0
    while True:
        while i < len(a) and not valid(a[i]):
            i += 1
        while j < len(b) and not valid(b[j]):
            j += 1
        ca, cb = a[i:i + 1], b[j:j + 1]
        if "~" in (ca, cb):
            if r := cmp(ca != "~", cb != "~"):
                return r
            i, j = i + 1, j + 1
            ca, cb = a[i:i + 1], b[j:j + 1]
        if not ca or not cb:
            return cmp(ca, cb)
        for mark in "-^.":
            if mark in (ca, cb):
                if r := cmp(ca != mark, cb != mark):
                    return r
                i, j = i + 1, j + 1
                ca, cb = a[i:i + 1], b[j:j + 1]
        if ca.isdigit() or cb.isdigit():
            ia, jb = i, j
            while ia < len(a) and a[ia].isascii() and a[ia].isdigit():
                ia += 1
            while jb < len(b) and b[jb].isascii() and b[jb].isdigit():
                jb += 1
            if r := cmp(ia != i, jb != j):
                return r
            na, nb = a[i:ia].lstrip("0"), b[j:jb].lstrip("0")
            if r := cmp(len(na), len(nb)) or cmp(na, nb):
                return r
        else:
            ia, jb = i, j
            while ia < len(a) and a[ia].isascii() and a[ia].isalpha():
                ia += 1
            while jb < len(b) and b[jb].isascii() and b[jb].isalpha():
                jb += 1
            n = min(ia - i, jb - j)
            if r := cmp(a[i:i + n], b[j:j + n]) or cmp(ia - i, jb - j):
                return r
        i, j = ia, jb


def _parse_operator(text: str) -> tuple[str | None, str]:
    for op in _OPERATORS:
        if text.startswith(op):
            return op, text[len(op):]
    return None, text


def version_or_fnmatch(op: str, actual: str, expected: str) -> bool:
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    if op in ("$=", "!$="):
        return fnmatch(expected, actual) == (op == "$=")
    k = strverscmp_improved(actual, expected)
    return {"<>": k != 0, "<=": k <= 0, ">=": k >= 0, "<": k < 0, ">": k > 0, "==": k == 0}[op]


def check_kernel_version(parameter: str, release: str) -> bool | None:
    """Every space-separated expression ("5.10", ">=5.10", "!$=*-rt*") must hold for the release."""
    words = split_words(parameter)
    index = 0
    while index < len(words):
        op, value = _parse_operator(words[index].strip())
        value = value.lstrip(" \t\n\r")
        if not value:
            # only the first expression may put a space between operator and value
            if index != 0 or len(words) < 2:
                return None
            index += 1
            value = words[index]
        if not version_or_fnmatch(op or "$=", release, value):
            return False
        index += 1
    return True


def check_kernel_command_line(parameter: str, cmdline: str) -> bool:
    if "=" in parameter:
        return parameter in split_words(cmdline)
    return any(w == parameter or w.startswith(parameter + "=") for w in split_words(cmdline))


def _id128(text: str) -> str | None:
    plain = text.replace("-", "") if len(text) == 36 and [len(p) for p in text.split("-")] == [8, 4, 4, 4, 12] \
        else text
    return plain.lower() if len(plain) == 32 and all(c in "0123456789abcdefABCDEF" for c in plain) else None


def check_host(parameter: str, hostname: str, machine_id: str | None) -> bool | None:
    wanted = _id128(parameter)
    if wanted is not None:
        return None if machine_id is None else wanted == machine_id.lower()
    return fnmatch(parameter.lower(), hostname.lower())


def check_virtualization(parameter: str, virtualization: str, in_user_namespace: bool) -> bool:
    if parameter == "private-users":
        return in_user_namespace
    virtualized = virtualization != "none"
    if parameter.lower() in _TRUE or parameter.lower() in _FALSE:
        return (parameter.lower() in _TRUE) == virtualized
    if parameter == "vm":
        return virtualized and virtualization not in _CONTAINERS
    if parameter == "container":
        return virtualization in _CONTAINERS
    return virtualized and parameter == virtualization


def check_architecture(parameter: str, architecture: str | None) -> bool | None:
    if architecture is None:
        return None
    # "native" is the architecture udev was built for; ours is the interpreter's, i.e. the machine's
    return parameter in ("native", architecture)


def check_credential(parameter: str, environ: Mapping[str, str]) -> bool:
    if not parameter or len(parameter) > 255 or "/" in parameter or parameter in (".", ".."):
        return False
    for variable in ("CREDENTIALS_DIRECTORY", "ENCRYPTED_CREDENTIALS_DIRECTORY"):
        directory = environ.get(variable)
        if directory and os.path.lexists(os.path.join(directory, parameter)):
            return True
    return False


def _smbios_field(expression: str, dmi_dir: str) -> bool | None:
    cut = next((i for i, c in enumerate(expression) if c in "!<=>$"), len(expression))
    field, rest = expression[:cut].rstrip(" \t\n\r"), expression[cut:]
    op, rest = _parse_operator(rest)
    words = split_words(rest)
    if not field or op is None or len(words) != 1 or "/" in field or field in (".", ".."):
        return None
    try:
        with open(os.path.join(dmi_dir, field)) as f:
            actual = f.read().rstrip(" \t\n\r")
    except FileNotFoundError:
        return False
    except OSError:
        return None
    return version_or_fnmatch(op, actual, words[0])


def check_firmware(parameter: str, sysfs: str = "/sys", proc: str = "/proc", in_container: bool = False
                  ) -> bool | None:
    if parameter == "device-tree":
        return os.path.exists(os.path.join(sysfs, "firmware/devicetree"))
    if parameter == "uefi":
        return not in_container and os.path.exists(os.path.join(sysfs, "firmware/efi"))
    for prefix in ("device-tree-compatible(", "smbios-field("):
        if parameter.startswith(prefix):
            if not parameter.endswith(")"):
                return False if prefix.startswith("device") else None
            inner = parameter[len(prefix):-1]
            if prefix.startswith("smbios"):
                return _smbios_field(inner, os.path.join(sysfs, "class/dmi/id"))
            try:
                with open(os.path.join(proc, "device-tree/compatible"), "rb") as f:
                    data = f.read()
            except OSError:
                return False
            return data.endswith(b"\0") and inner.encode() in data[:-1].split(b"\0")
    return False


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return None


def _cmdline(virtualization: str) -> str:
    """What udev's proc_cmdline() reads: $SYSTEMD_PROC_CMDLINE, PID 1's argv in a container, /proc/cmdline."""
    if "SYSTEMD_PROC_CMDLINE" in os.environ:
        return os.environ["SYSTEMD_PROC_CMDLINE"]
    if virtualization in _CONTAINERS:
        return (_read("/proc/1/cmdline") or "").rstrip("\0").replace("\0", " ")
    return _read("/proc/cmdline") or ""


def _architecture() -> str | None:
    machine = os.uname().machine
    if machine in ("mips", "mips64"):
        return machine + ("-le" if sys.byteorder == "little" else "")
    return _ARCHITECTURES.get(machine)


def detected_virtualization() -> str:
    # Imported here: test-builtin loads every builtin's configuration, and the rules executor
    # (with the rules compiler behind it) is needed only once a .link file asks this.
    from sysmasterd.devmaster.rules.executor import detected_virtualization as detect
    return detect()


def _in_user_namespace() -> bool:
    uid_map = (_read("/proc/self/uid_map") or "").split()
    return uid_map != ["0", "0", "4294967295"]


def _machine_id() -> str | None:
    text = (_read("/etc/machine-id") or "").strip()
    return _id128(text)


_LIVE: dict[str, Callable[[str], bool | None]] = {
    "Host": lambda p: check_host(p, os.uname().nodename or "localhost", _machine_id()),
    "Virtualization": lambda p: check_virtualization(p, detected_virtualization(), _in_user_namespace()),
    "KernelCommandLine": lambda p: check_kernel_command_line(p, _cmdline(detected_virtualization())),
    "KernelVersion": lambda p: check_kernel_version(p, os.uname().release),
    "Credential": lambda p: check_credential(p, os.environ),
    "Architecture": lambda p: check_architecture(p, _architecture()),
    "Firmware": lambda p: check_firmware(p, in_container=detected_virtualization() in _CONTAINERS),
}


def condition_holds(kind: str, parameter: str, negate: bool) -> bool:
    """One [Match] condition on this host; an undecidable one fails even when negated."""
    result = _LIVE[kind](parameter)
    return result is not None and result != negate
