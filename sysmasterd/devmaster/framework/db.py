"""The udev database under /run/udev: data/<id>, tags/<tag>/<id>, with libudev's line format."""

import contextlib
import os

from sysmasterd.devmaster.device import Device

RUN_UDEV = "/run/udev"


# A plain class, not a dataclass: devctl's start-up does not pay for dataclasses (and inspect).
class DbRecord:
    def __init__(self) -> None:
        self.devlinks: list[str] = []
        self.devlink_priority = 0
        self.usec_initialized = 0
        self.properties: dict[str, str] = {}
        self.tags: list[str] = []
        self.current_tags: list[str] = []
        self.version = 0


def parse_db(text: str) -> DbRecord:
    rec = DbRecord()
    for line in text.splitlines():
        if len(line) < 2 or line[1] != ":":
            continue
        kind, value = line[0], line[2:]
        if kind == "S":
            rec.devlinks.append("/dev/" + value)
        elif kind == "L":
            rec.devlink_priority = _int(value)
        elif kind == "I":
            rec.usec_initialized = _int(value)
        elif kind == "E":
            key, sep, val = value.partition("=")
            if sep:
                rec.properties[key] = val
        elif kind == "G":
            rec.tags.append(value)
        elif kind == "Q":
            rec.current_tags.append(value)
        elif kind == "V":
            rec.version = _int(value)
    return rec


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def format_db(dev: Device) -> str:
    lines: list[str] = []
    devnum = dev.devnum
    if devnum is not None and devnum[0] > 0:
        lines += [f"S:{link.removeprefix('/dev/')}" for link in sorted(dev.devlinks)]
        if dev.devlink_priority:
            lines.append(f"L:{dev.devlink_priority}")
    if dev.usec_initialized:
        lines.append(f"I:{dev.usec_initialized}")
    lines += [f"E:{k}={dev.properties[k]}" for k in dev.properties if k in dev.db_keys]
    lines += [f"G:{t}" for t in sorted(dev.tags)]
    lines += [f"Q:{t}" for t in sorted(dev.current_tags)]
    lines.append("V:1")
    return "\n".join(lines) + "\n"


def db_path(device_id: str, run_dir: str = RUN_UDEV) -> str:
    return os.path.join(run_dir, "data", device_id)


def read_db(device_id: str, run_dir: str = RUN_UDEV) -> DbRecord | None:
    try:
        with open(db_path(device_id, run_dir)) as f:
            return parse_db(f.read())
    except OSError:
        return None


def load_into(dev: Device, rec: DbRecord) -> None:
    """Give a fresh sysfs snapshot its stored udev state (for info, IMPORT{db}, tests)."""
    dev.devlinks.update(rec.devlinks)
    dev.devlink_priority = rec.devlink_priority
    dev.usec_initialized = rec.usec_initialized
    if rec.usec_initialized:
        # sd-device adds it while reading the I: line, before the E: lines
        dev.properties["USEC_INITIALIZED"] = str(rec.usec_initialized)
    for key, value in rec.properties.items():
        dev.properties[key] = value
        dev.db_keys.add(key)
    dev.tags.update(rec.tags)
    dev.current_tags.update(rec.current_tags)


def has_info(dev: Device) -> bool:
    return bool(dev.db_keys or dev.tags or dev.current_tags or dev.devlinks or dev.devlink_priority)


def write_db(dev: Device, run_dir: str = RUN_UDEV) -> None:
    path = db_path(dev.device_id, run_dir)
    devnum = dev.devnum
    if not has_info(dev) and (devnum is None or devnum[0] == 0) and not dev.ifindex:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    import tempfile  # here: devctl's read-only verbs import this module and never write

    fd, tmp = tempfile.mkstemp(prefix=".#", dir=os.path.dirname(path))
    try:
        os.fchmod(fd, 0o1644 if dev.db_persist else 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(format_db(dev) if has_info(dev) else "")
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    import logging  # as tempfile: only writers pay for it

    logging.getLogger("devmaster").debug("%s: sd-device: Created %s file '%s' for '%s'", dev.sysname,
                                         "db" if has_info(dev) else "empty", path, dev.devpath)


def delete_db(device_id: str, run_dir: str = RUN_UDEV) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(db_path(device_id, run_dir))


def update_tag_index(device_id: str, old: set[str], new: set[str], run_dir: str = RUN_UDEV) -> None:
    """Tag files for `new`, removed for tags only in `old`."""
    for tag in old - new:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(run_dir, "tags", tag, device_id))
    for tag in new:
        tagdir = os.path.join(run_dir, "tags", tag)
        os.makedirs(tagdir, mode=0o755, exist_ok=True)
        fd = os.open(os.path.join(tagdir, device_id), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o444)
        os.close(fd)
