"""Exit status names as systemd 252 knows them (`systemd-analyze exit-status`).

Used both ways: SuccessExitStatus=NOTINSTALLED parses through it, and status lines print
`status=203/EXEC` through it.
"""

from __future__ import annotations

from compat.cint import c_integer

EXIT_STATUS_NAMES: dict[int, str] = {
    0: "SUCCESS", 1: "FAILURE",
    # LSB init-script codes
    2: "INVALIDARGUMENT", 3: "NOTIMPLEMENTED", 4: "NOPERMISSION", 5: "NOTINSTALLED",
    6: "NOTCONFIGURED", 7: "NOTRUNNING",
    # BSD sysexits.h
    64: "USAGE", 65: "DATAERR", 66: "NOINPUT", 67: "NOUSER", 68: "NOHOST", 69: "UNAVAILABLE",
    70: "SOFTWARE", 71: "OSERR", 72: "OSFILE", 73: "CANTCREAT", 74: "IOERR", 75: "TEMPFAIL",
    76: "PROTOCOL", 77: "NOPERM", 78: "CONFIG",
    # systemd's own, set by the child between fork and exec
    200: "CHDIR", 201: "NICE", 202: "FDS", 203: "EXEC", 204: "MEMORY", 205: "LIMITS",
    206: "OOM_ADJUST", 207: "SIGNAL_MASK", 208: "STDIN", 209: "STDOUT", 210: "CHROOT",
    211: "IOPRIO", 212: "TIMERSLACK", 213: "SECUREBITS", 214: "SETSCHEDULER", 215: "CPUAFFINITY",
    216: "GROUP", 217: "USER", 218: "CAPABILITIES", 219: "CGROUP", 220: "SETSID", 221: "CONFIRM",
    222: "STDERR", 224: "PAM", 225: "NETWORK", 226: "NAMESPACE", 227: "NO_NEW_PRIVILEGES",
    228: "SECCOMP", 229: "SELINUX_CONTEXT", 230: "PERSONALITY", 231: "APPARMOR",
    232: "ADDRESS_FAMILIES", 233: "RUNTIME_DIRECTORY", 235: "CHOWN", 236: "SMACK_PROCESS_LABEL",
    237: "KEYRING", 238: "STATE_DIRECTORY", 239: "CACHE_DIRECTORY", 240: "LOGS_DIRECTORY",
    241: "CONFIGURATION_DIRECTORY", 242: "NUMA_POLICY", 243: "CREDENTIALS", 244: "BPF",
    255: "EXCEPTION",
}  # fmt: skip

_BY_NAME = {name: code for code, name in EXIT_STATUS_NAMES.items()}


def exit_status_from_string(text: str) -> int:
    """A name from the table or a number 0..255."""
    if text in _BY_NAME:
        return _BY_NAME[text]
    value = c_integer(text, signed=False)  # safe_atou8(): "0x10" and "010" are numbers too
    if value > 255:
        raise ValueError(f"exit status out of range: {text}")
    return value


def exit_status_name(code: int) -> str | None:
    return EXIT_STATUS_NAMES.get(code)
