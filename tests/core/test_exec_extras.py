"""More of the exec context, and the job modes systemctl passes (--job-mode=...)."""

from __future__ import annotations

import dataclasses
import os
import resource
import signal
from pathlib import Path

import pytest
from core_harness import Harness

from compat.model import JobMode, ResourceLimit
from sysmasterd.core import errors
from sysmasterd.core.states import JobResult, JobType


def test_process_attributes(h: Harness) -> None:
    out = h.tmp / "attrs"
    h.write("attrs.service", f"""
        [Service]
        Type=oneshot
        OOMScoreAdjust=300
        CPUAffinity=0
        IOSchedulingClass=idle
        SupplementaryGroups=daemon
        ExecStart=/bin/sh -c 'cat /proc/self/oom_score_adj > {out}'
        ExecStart=/bin/sh -c 'grep Cpus_allowed_list /proc/self/status >> {out}; id -G >> {out}'
    """)
    assert h.start("attrs.service") is JobResult.DONE
    lines = out.read_text().splitlines()
    assert lines[0] == "300"
    assert lines[1].split()[-1] == "0"
    assert "1" in lines[2].split()  # daemon's gid on Debian


def test_runtime_directory_created_and_removed(h: Harness) -> None:
    out = h.tmp / "rd"
    h.write("rd.service", f"""
        [Service]
        RuntimeDirectory=demo-rd
        RuntimeDirectoryMode=0750
        ExecStart=/bin/sh -c 'echo "$RUNTIME_DIRECTORY" > {out}; exec sleep 1000'
    """)
    assert h.start("rd.service") is JobResult.DONE
    h.wait(out.exists, 5, "service output")
    path = out.read_text().strip()
    assert path == str(h.tmp / "demo-rd")
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o750)
    h.stop("rd.service")
    assert not os.path.exists(path)


def test_standard_input_text_and_environment_passing(h: Harness) -> None:
    out = h.tmp / "stdin"
    h.manager.settings.environ["FROM_MANAGER"] = "passed"
    h.write("in.service", f"""
        [Service]
        Type=oneshot
        StandardInput=data
        StandardInputText=hello
        StandardInputText=world
        PassEnvironment=FROM_MANAGER
        Environment=DROPME=1 KEEP=1
        UnsetEnvironment=DROPME
        ExecStart=/bin/sh -c 'cat > {out}; echo "$FROM_MANAGER ${{DROPME:-unset}} $KEEP" >> {out}'
    """)
    assert h.start("in.service") is JobResult.DONE
    assert out.read_text().splitlines() == ["hello", "world", "passed unset 1"]


def test_ignore_dependencies_mode_starts_only_the_unit(h: Harness) -> None:
    h.write("dep.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    h.write("top.service", "[Unit]\nRequires=dep.service\n[Service]\nExecStart=/bin/sleep 1000\n")
    assert h.run_job("top.service", JobType.START, JobMode.IGNORE_DEPENDENCIES) is JobResult.DONE
    assert h.state("dep.service")[0] == "inactive"


def test_flush_mode_cancels_other_jobs(h: Harness) -> None:
    h.write("slow.service", "[Service]\nType=notify\nExecStart=/bin/sleep 1000\n")
    h.write("other.service", "[Service]\nExecStart=/bin/sleep 1000\n")
    slow = h.enqueue("slow.service")
    assert h.run_job("other.service", JobType.START, JobMode.FLUSH) is JobResult.DONE
    assert h.jobs.removed[slow.id] is JobResult.CANCELED


def test_replace_irreversibly_cannot_be_replaced(h: Harness) -> None:
    h.write("x.service", "[Service]\nExecStart=/bin/sleep 1000\nExecStop=/bin/sleep 0.5\n")
    h.start("x.service")
    h.enqueue("x.service", JobType.STOP, JobMode.REPLACE_IRREVERSIBLY)
    with pytest.raises(errors.TransactionIsDestructive):
        h.enqueue("x.service", JobType.START, JobMode.REPLACE)


def test_try_restart_and_reload_or_restart(h: Harness) -> None:
    h.write("t.service", "[Service]\nExecStart=/bin/sleep 1000\nExecReload=/bin/true\n")
    assert h.run_job("t.service", JobType.TRY_RESTART) is JobResult.DONE
    assert h.state("t.service")[0] == "inactive"  # try-restart leaves a stopped unit alone
    h.start("t.service")
    assert h.run_job("t.service", JobType.RELOAD_OR_START) is JobResult.DONE
    assert h.state("t.service")[0] == "active"


def test_user_manager_runs_services_in_home_by_default(h: Harness) -> None:
    out = h.tmp / "cwd"
    h.write("cwd.service", f"[Service]\nType=oneshot\nExecStart=/bin/sh -c 'pwd > {out}'\n")
    assert h.start("cwd.service") is JobResult.DONE
    assert out.read_text().strip() == str(h.tmp)  # the harness's HOME


def _proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def test_posix_spawn_path_gives_the_same_process_as_fork(h: Harness) -> None:
    # Same command twice: once eligible for posix_spawn (nothing to set up, already in the working
    # directory), once forced through fork by a setting (Nice=0 changes nothing but needs the child).
    cwd = os.getcwd()
    h.write("fast.service", f"[Service]\nWorkingDirectory={cwd}\nExecStart=/bin/sleep 1000\n")
    h.write("slow.service", f"[Service]\nWorkingDirectory={cwd}\nNice=0\nExecStart=/bin/sleep 1000\n")
    pids = {}
    for name in ("fast.service", "slow.service"):
        assert h.start(name) is JobResult.DONE
        pid = h.unit(name).impl.main_pid()
        h.wait(lambda pid=pid: Path(f"/proc/{pid}/comm").read_text().strip() == "sleep", 5, "exec")
        pids[name] = pid
        assert h.manager.runtime.unit_of_pid(pid) is h.unit(name)  # in the unit's cgroup
        assert os.getsid(pid) == pid
        assert os.readlink(f"/proc/{pid}/cwd") == cwd
        assert Path(f"/proc/{pid}/cmdline").read_text() == "/bin/sleep\x001000\x00"
    fast, slow = (_proc_status(pids[n]) for n in ("fast.service", "slow.service"))
    for key in ("SigBlk", "Uid", "Gid", "Groups"):
        assert fast[key] == slow[key], key
    # glibc's internal signals 32 and 33 stay ignored after posix_spawn (see fastspawn's docstring).
    glibc_internal = (1 << 31) | (1 << 32)
    assert int(fast["SigIgn"], 16) & ~glibc_internal == int(slow["SigIgn"], 16) == 1 << (signal.SIGPIPE - 1)
    fast_fds = sorted(os.listdir(f"/proc/{pids['fast.service']}/fd"))
    slow_fds = sorted(os.listdir(f"/proc/{pids['slow.service']}/fd"))
    assert fast_fds == slow_fds == ["0", "1", "2"]


def test_fds_the_core_inherited_do_not_reach_services(tmp_path: Path) -> None:
    # posix_spawn() would pass on every fd not marked close-on-exec: the core marks what it
    # inherited when it starts running units.
    leaked = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(leaked, True)
    h = Harness(tmp_path)
    try:
        cwd = os.getcwd()
        h.write("fast.service", f"[Service]\nWorkingDirectory={cwd}\nExecStart=/bin/sleep 1000\n")
        assert h.start("fast.service") is JobResult.DONE
        pid = h.unit("fast.service").impl.main_pid()
        h.wait(lambda: Path(f"/proc/{pid}/comm").read_text().strip() == "sleep", 5, "exec")
        assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]
    finally:
        h.close()
        os.close(leaked)


def _nofile(pid: int) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    raise AssertionError("no NOFILE line")


def test_default_nofile_limit_reaches_fast_and_forked_services(tmp_path: Path) -> None:
    """Services get the manager's DefaultLimitNOFILE= (systemd: soft 1024), not the manager's own
    raised limit, whether posix_spawn or fork starts them; the unit's LimitNOFILE= wins."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    h = Harness(tmp_path)
    h.settings = dataclasses.replace(h.settings, default_limits={"NOFILE": ResourceLimit(321, hard)})
    cwd = os.getcwd()
    h.write("fast.service", f"[Service]\nWorkingDirectory={cwd}\nExecStart=/bin/sleep 1000\n")
    h.write("slow.service", f"[Service]\nWorkingDirectory={cwd}\nNice=0\nExecStart=/bin/sleep 1000\n")
    h.write("own.service", f"[Service]\nWorkingDirectory={cwd}\nLimitNOFILE=100:200\nExecStart=/bin/sleep 1000\n")
    try:
        got = {}
        for name in ("fast.service", "slow.service", "own.service"):
            assert h.start(name) is JobResult.DONE
            pid = h.unit(name).impl.main_pid()
            h.wait(lambda pid=pid: Path(f"/proc/{pid}/comm").read_text().strip() == "sleep", 5, "exec")
            got[name] = _nofile(pid)
        assert got == {"fast.service": ("321", str(hard)), "slow.service": ("321", str(hard)),
                       "own.service": ("100", "200")}
    finally:
        h.close()


def test_variables_in_command_lines(h: Harness) -> None:
    """systemd 252's rules, seen by the program: `$FOO` alone is split into words, `${FOO}` is
    substituted anywhere, `$$` is a `$`, and a `$name` inside a word (a shell variable of a
    `sh -c` script) reaches the program untouched."""
    out = h.tmp / "vars"
    h.write("vars.service", f"""
        [Service]
        Type=oneshot
        Environment="WORDS=one two" LOOP=from-the-unit
        ExecStart=/bin/sh -c '{{ for LOOP in a b; do printf "%%s," "$LOOP"; done; \\
printf "%%s|" "$$" "${{WORDS}}" "$@"; }} > {out}' sh $WORDS
    """)
    assert h.start("vars.service") is JobResult.DONE
    assert out.read_text() == "a,b,$|one two|one|two|"
