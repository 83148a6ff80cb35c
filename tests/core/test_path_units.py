"""Path units in a real manager: real inotify on a temp dir, real services triggered by it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core_harness import Harness

from sysmasterd.core.dependency import Dep
from sysmasterd.core.states import JobResult


def _runs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _service(h: Harness, name: str, log: Path, then: str = "", extra: str = "") -> None:
    """A oneshot that logs each run, then does `then` (removing what triggered it, mostly)."""
    h.write(name, f"""
        [Service]
        Type=oneshot
        ExecStart=/bin/sh -c 'echo run >> {log}; {then or 'true'}'
        {extra}
        """)


def _path(h: Harness, name: str, settings: str) -> None:
    h.write(name, "[Path]\n" + settings)


def _waiting(h: Harness, name: str) -> None:
    h.wait(lambda: h.state(name) == ("active", "waiting"), 10, f"{name} waiting")


def test_path_exists_triggers_and_rearms(h: Harness) -> None:
    watched = h.tmp / "flag"
    log = h.tmp / "log"
    _service(h, "flag.service", log, then=f"rm -f {watched}")
    _path(h, "flag.path", f"PathExists={watched}\n")
    assert h.start("flag.path") is JobResult.DONE
    assert h.state("flag.path") == ("active", "waiting")
    for n in (1, 2, 3):
        watched.touch()
        h.wait(lambda n=n: _runs(log) == n, 10, f"run {n}")
        _waiting(h, "flag.path")
    assert h.unit("flag.path").impl.result() == "success"


def test_path_exists_already_there_triggers_at_start(h: Harness) -> None:
    watched = h.tmp / "early"
    watched.touch()
    log = h.tmp / "log"
    _service(h, "early.service", log, then=f"rm -f {watched}")
    _path(h, "early.path", f"PathExists={watched}\n")
    assert h.start("early.path") is JobResult.DONE
    h.wait(lambda: _runs(log) == 1, 10, "the run at start")
    _waiting(h, "early.path")


def test_path_exists_glob(h: Harness) -> None:
    spool = h.tmp / "spool"
    spool.mkdir()
    log = h.tmp / "log"
    _service(h, "glob.service", log, then=f"rm -f {spool}/*.req")
    _path(h, "glob.path", f"PathExistsGlob={spool}/*.req\n")
    assert h.start("glob.path") is JobResult.DONE
    (spool / "other.txt").touch()
    h.sleep(0.3)
    assert _runs(log) == 0
    assert h.state("glob.path") == ("active", "waiting")
    (spool / "job1.req").touch()
    h.wait(lambda: _runs(log) == 1, 10, "glob run")
    _waiting(h, "glob.path")


def test_path_changed_on_close_write_not_on_modify(h: Harness) -> None:
    watched = h.tmp / "conf"
    watched.write_text("a\n")
    log = h.tmp / "log"
    _service(h, "conf.service", log)
    _path(h, "conf.path", f"PathChanged={watched}\n")
    assert h.start("conf.path") is JobResult.DONE
    h.sleep(0.2)
    assert _runs(log) == 0  # existing at start is no change
    fd = os.open(watched, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"b\n")
        h.sleep(0.3)
        assert _runs(log) == 0  # written, not yet closed
    finally:
        os.close(fd)
    h.wait(lambda: _runs(log) == 1, 10, "run on close")
    _waiting(h, "conf.path")
    watched.unlink()  # a removal is a change too
    h.wait(lambda: _runs(log) == 2, 10, "run on removal")
    _waiting(h, "conf.path")
    watched.write_text("c\n")  # ... and so is a creation
    h.wait(lambda: _runs(log) >= 3, 10, "run on creation")


def test_path_modified_on_write(h: Harness) -> None:
    watched = h.tmp / "data"
    watched.write_text("")
    log = h.tmp / "log"
    _service(h, "data.service", log)
    _path(h, "data.path", f"PathModified={watched}\n")
    assert h.start("data.path") is JobResult.DONE
    fd = os.open(watched, os.O_WRONLY)
    try:
        os.write(fd, b"x")
        h.wait(lambda: _runs(log) == 1, 10, "run on write before close")
    finally:
        os.close(fd)


def test_directory_not_empty(h: Harness) -> None:
    queue = h.tmp / "queue"
    queue.mkdir()
    log = h.tmp / "log"
    _service(h, "queue.service", log, then=f"rm -f {queue}/*")
    _path(h, "queue.path", f"DirectoryNotEmpty={queue}\n")
    assert h.start("queue.path") is JobResult.DONE
    (queue / ".hidden").touch()  # hidden files do not count, as in systemd
    (queue / "x.dpkg-old").touch()
    h.sleep(0.3)
    assert _runs(log) == 0
    (queue / "job").touch()
    h.wait(lambda: _runs(log) == 1, 10, "run on entry")
    _waiting(h, "queue.path")


def test_rearmed_when_ancestors_are_created_and_removed(h: Harness) -> None:
    top = h.tmp / "a"
    watched = top / "b" / "c" / "file"
    log = h.tmp / "log"
    _service(h, "deep.service", log, then=f"rm -f {watched}")
    _path(h, "deep.path", f"PathExists={watched}\n")
    assert h.start("deep.path") is JobResult.DONE
    for n in (1, 2):
        (top / "b").mkdir(parents=True)
        h.sleep(0.05)
        (top / "b" / "c").mkdir()
        watched.touch()
        h.wait(lambda n=n: _runs(log) == n, 10, f"run {n}")
        _waiting(h, "deep.path")
        (watched.parent).rmdir()
        (top / "b").rmdir()
        top.rmdir()
        h.sleep(0.1)
        assert h.state("deep.path") == ("active", "waiting")
    # Moved into place in one step: the parent's IN_MOVED_TO.
    staging = h.tmp / "staging"
    (staging / "b" / "c").mkdir(parents=True)
    (staging / "b" / "c" / "file").touch()
    os.rename(staging, top)
    h.wait(lambda: _runs(log) == 3, 10, "run after rename")


def test_make_directory_and_mode(h: Harness) -> None:
    made = h.tmp / "made" / "inbox"
    log = h.tmp / "log"
    _service(h, "inbox.service", log)
    _path(h, "inbox.path", f"DirectoryNotEmpty={made}\nMakeDirectory=yes\nDirectoryMode=0700\n")
    assert h.start("inbox.path") is JobResult.DONE
    assert made.is_dir()
    assert stat.S_IMODE(made.stat().st_mode) == 0o700 & ~_umask()
    _waiting(h, "inbox.path")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_unit_setting_and_stop(h: Harness) -> None:
    watched = h.tmp / "go"
    log = h.tmp / "log"
    _service(h, "worker.service", log, then=f"rm -f {watched}")
    _path(h, "trig.path", f"PathExists={watched}\nUnit=worker.service\n")
    assert h.start("trig.path") is JobResult.DONE
    assert "worker.service" in h.unit("trig.path").deps[Dep.TRIGGERS]
    watched.touch()
    h.wait(lambda: _runs(log) == 1, 10, "run of Unit=")
    _waiting(h, "trig.path")
    assert h.stop("trig.path") is JobResult.DONE
    assert h.state("trig.path") == ("inactive", "dead")
    watched.touch()
    h.sleep(0.3)
    assert _runs(log) == 1


def test_trigger_limit(h: Harness) -> None:
    watched = h.tmp / "stays"
    watched.touch()
    log = h.tmp / "log"
    _service(h, "stays.service", log, extra="StartLimitIntervalSec=0")
    _path(h, "stays.path", f"PathExists={watched}\nTriggerLimitBurst=3\nTriggerLimitIntervalSec=1h\n")
    h.start("stays.path")
    h.wait(lambda: h.state("stays.path") == ("failed", "failed"), 10, "trigger limit")
    assert h.unit("stays.path").impl.result() == "trigger-limit-hit"
    h.wait(lambda: _runs(log) == 3, 10, "three runs")


def test_unmet_condition_of_the_unit_hits_the_trigger_limit(h: Harness) -> None:
    # The triggered unit's start is skipped without a state change: only the job's end tells the
    # path unit, which then re-checks, as systemd does, until its trigger limit stops it.
    watched = h.tmp / "cond"
    watched.touch()
    h.write("cond.service", f"""
        [Unit]
        ConditionPathExists={h.tmp}/never
        [Service]
        Type=oneshot
        ExecStart=/bin/true
        """)
    _path(h, "cond.path", f"PathExists={watched}\nTriggerLimitBurst=4\n")
    h.start("cond.path")
    h.wait(lambda: h.state("cond.path") == ("failed", "failed"), 10, "trigger limit")
    assert h.unit("cond.path").impl.result() == "trigger-limit-hit"


def test_running_while_unit_runs(h: Harness) -> None:
    watched = h.tmp / "slow"
    log = h.tmp / "log"
    h.write("slow.service", f"""
        [Service]
        ExecStart=/bin/sh -c 'echo run >> {log}; rm -f {watched}; exec sleep 30'
        """)
    _path(h, "slow.path", f"PathExists={watched}\n")
    h.start("slow.path")
    watched.touch()
    h.wait(lambda: h.state("slow.path") == ("active", "running"), 10, "running")
    h.wait(lambda: h.state("slow.service") == ("active", "running"), 10, "service")
    h.wait(lambda: not watched.exists(), 10, "the service's rm")  # else it fires again, rightly
    assert h.stop("slow.service") is JobResult.DONE
    _waiting(h, "slow.path")
    assert _runs(log) == 1


def test_daemon_reload_keeps_waiting_and_takes_new_paths(h: Harness) -> None:
    first, second = h.tmp / "first", h.tmp / "second"
    log = h.tmp / "log"
    _service(h, "rl.service", log, then=f"rm -f {first} {second}")
    _path(h, "rl.path", f"PathExists={first}\n")
    h.start("rl.path")
    h.manager.reload()
    h.sleep(0.1)
    assert h.state("rl.path") == ("active", "waiting")
    first.touch()
    h.wait(lambda: _runs(log) == 1, 10, "run after reload")
    _waiting(h, "rl.path")
    _path(h, "rl.path", f"PathExists={second}\n")
    h.manager.reload()
    h.sleep(0.1)
    _waiting(h, "rl.path")
    first.touch()
    h.sleep(0.3)
    assert _runs(log) == 1  # no longer watched
    second.touch()
    h.wait(lambda: _runs(log) == 2, 10, "run on the new path")


def test_empty_assignment_resets_and_no_path_refuses(h: Harness) -> None:
    _service(h, "none.service", h.tmp / "log")
    _path(h, "none.path", f"PathExists={h.tmp}/x\nPathExists=\n")
    u = h.unit("none.path")
    assert u.load_state.value == "bad-setting"
    assert any("Path unit lacks path setting. Refusing." in d for d in u.diagnostics)
