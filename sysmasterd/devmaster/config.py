"""devmaster settings: udev.conf, /etc/devmaster/devmaster.conf, the kernel command line, argv.

Precedence as in systemd-udevd: config files, then command-line flags, then
the kernel command line (udev.* / rd.udev.*) overrides both.
"""

import logging
import os
import signal

UDEV_CONF = "/etc/udev/udev.conf"
DEVMASTER_CONF = "/etc/devmaster/devmaster.conf"
LOG_LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}
_PY_LEVELS = {0: logging.CRITICAL, 1: logging.CRITICAL, 2: logging.CRITICAL, 3: logging.ERROR,
              4: logging.WARNING, 5: logging.INFO, 6: logging.INFO, 7: logging.DEBUG}


# A plain class, not a dataclass: devctl's start-up does not pay for dataclasses (and inspect).
class Config:
    def __init__(self) -> None:
        self.log_level = 6
        self.children_max = 0
        self.exec_delay = 0.0
        self.event_timeout = 180.0
        self.resolve_names = "early"
        self.timeout_signal: int = signal.SIGKILL
        self.rules_dirs: list[str] = []
        # udev.blockdev_read_only: physical block devices are made read-only when they appear
        self.blockdev_read_only = False
        self.diagnostics: list[str] = []


def python_log_level(level: int) -> int:
    return _PY_LEVELS.get(max(0, min(level, 7)), logging.INFO)


def parse_log_level(text: str) -> int:
    text = text.strip().lower()
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text in LOG_LEVELS:
        return LOG_LEVELS[text]
    if text == "error":
        return 3
    raise ValueError(f"invalid log level {text!r}")


def parse_signal(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        return signal.Signals(int(text)).value
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    return signal.Signals[name].value


def parse_seconds(text: str) -> float:
    value = float(text.strip())
    if value < 0:
        raise ValueError(f"negative time {text!r}")
    return value


def default_children_max() -> int:
    cpus = os.cpu_count() or 1
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return min(cpus * 2 + 16, max(mem // (128 * 1024 * 1024), 10))


def _apply(cfg: Config, key: str, value: str, where: str) -> None:
    try:
        if key in ("udev_log", "log_level", "log_priority"):
            cfg.log_level = parse_log_level(value)
        elif key in ("children_max", "max_workers"):
            cfg.children_max = int(value)
            if cfg.children_max < 0:
                raise ValueError(value)
        elif key == "exec_delay":
            cfg.exec_delay = parse_seconds(value)
        elif key == "event_timeout":
            cfg.event_timeout = parse_seconds(value)
        elif key == "resolve_names":
            if value not in ("early", "late", "never"):
                raise ValueError(value)
            cfg.resolve_names = value
        elif key == "timeout_signal":
            cfg.timeout_signal = parse_signal(value)
        elif key == "rules_d":
            # "a, b" (configobj) or sysMaster's ["a", "b"]
            cfg.rules_dirs = [d.strip("'\"") for d in value.strip("[]").replace(",", " ").split() if d.strip("'\"")]
        else:
            cfg.diagnostics.append(f"{where}: unknown setting '{key}', ignoring")
    except (ValueError, KeyError):
        cfg.diagnostics.append(f"{where}: invalid value for {key}: '{value}', ignoring")


def parse_udev_conf(text: str, cfg: Config, filename: str = UDEV_CONF) -> None:
    """udev.conf is an environment-style file: KEY=VALUE, optional quotes, # comments."""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            cfg.diagnostics.append(f"{filename}:{lineno}: missing '=', ignoring line")
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        _apply(cfg, key.strip(), value, f"{filename}:{lineno}")


def _key_lines(text: str) -> dict[str, int]:
    """Where each top-level key is defined: configobj does not keep line numbers."""
    lines: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        key = line.split("=", 1)[0].strip().strip("[]")
        if key and not key.startswith("#"):
            lines.setdefault(key, number)
    return lines


def parse_devmaster_conf(path: str, cfg: Config) -> None:
    text = read_optional(path)
    if text is None:
        return
    # Imported here: the .link file readers (devctl test-builtin) share this module's file helpers.
    from configobj import ConfigObj, ConfigObjError

    try:
        conf = ConfigObj(text.splitlines(), list_values=False, interpolation=False)
    except ConfigObjError as e:
        cfg.diagnostics.append(f"{path}: {e}")
        return
    where = _key_lines(text)
    for key, value in conf.items():
        if isinstance(value, str):
            _apply(cfg, key, value, f"{path}:{where.get(key, 0)}")
        else:
            cfg.diagnostics.append(f"{path}:{where.get(key, 0)}: section [{key}] is not supported, ignoring")


_TRUE, _FALSE = ("1", "yes", "y", "true", "t", "on"), ("0", "no", "n", "false", "f", "off")


def parse_kernel_cmdline(cmdline: str, cfg: Config) -> None:
    for word in cmdline.split():
        key, sep, value = word.partition("=")
        if key in ("udev.blockdev_read_only", "rd.udev.blockdev_read_only"):
            if not sep or value.lower() in _TRUE + _FALSE:
                cfg.blockdev_read_only = not sep or value.lower() in _TRUE
            else:
                cfg.diagnostics.append(f"kernel command line: Failed to parse udev.blockdev-read-only argument, "
                                       f"ignoring: {value}")
            continue
        for prefix in ("rd.udev.", "udev."):
            if key.startswith(prefix) and value:
                name = key[len(prefix) :]
                if name in ("log_level", "log_priority", "children_max", "exec_delay",
                            "event_timeout", "timeout_signal"):
                    _apply(cfg, name, value, "kernel command line")


def read_optional(path: str) -> str | None:
    """A config file's text; None when it cannot be read (most are optional)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def load(udev_conf: str = UDEV_CONF, devmaster_conf: str = DEVMASTER_CONF) -> Config:
    cfg = Config()
    text = read_optional(udev_conf)
    if text is not None:
        parse_udev_conf(text, cfg, udev_conf)
    parse_devmaster_conf(devmaster_conf, cfg)
    return cfg


def finish(cfg: Config, cmdline_path: str = "/proc/cmdline") -> Config:
    """After argv: the kernel command line wins, then fill in the computed default."""
    parse_kernel_cmdline(read_optional(cmdline_path) or "", cfg)
    if cfg.children_max <= 0:
        cfg.children_max = default_children_max()
    return cfg
