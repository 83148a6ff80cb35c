"""sctl and the real systemctl side by side on the same sysmasterd: same output, same exit codes."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_harness import REPO, Manager, Result, make_manager, wait_for

UNITS = {
    "sleepy.service": "[Unit]\nDescription=Sleepy test\n[Service]\nExecStart=/bin/sleep 1000\n",
    "fail.service": "[Unit]\nDescription=Failing\n[Service]\nType=oneshot\nExecStart=/bin/false\n",
    "quiet.service": "[Unit]\nDescription=Never started\n[Service]\nExecStart=/bin/sleep 1000\n",
    "slow.service": "[Unit]\nDescription=Slow\n[Service]\nType=oneshot\nExecStart=/bin/sleep 2\n",
    "after-slow.service": "[Unit]\nDescription=After slow\nAfter=slow.service\n[Service]\nType=oneshot\n"
                          "ExecStart=/bin/true\n",
    "dropin.service": "[Unit]\nDescription=With drop-in\n[Service]\nExecStart=/bin/sleep 1000\n",
    "dropin.service.d/override.conf": "[Unit]\nDescription=Overridden\n",
}


@pytest.fixture(scope="module")
def um(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    yield from make_manager(tmp_path_factory.mktemp("sctl"), "user", UNITS)


def both(um: Manager, *args: str) -> tuple[Result, Result]:
    return um.systemctl(*args), um.sctl(*args)


def same(um: Manager, *args: str) -> Result:
    real, ours = both(um, *args)
    assert (ours.rc, ours.out, ours.err) == (real.rc, real.out, real.err), args
    return real


def test_job_verbs_and_errors(um: Manager) -> None:
    assert um.sctl("start", "sleepy.service").rc == 0
    same(um, "is-active", "sleepy.service", "quiet.service", "nope.service")
    same(um, "is-active", "quiet.service")
    same(um, "start", "nope.service")
    assert um.systemctl("reset-failed").rc == 0
    ours = um.sctl("start", "fail.service")
    assert um.systemctl("reset-failed").rc == 0
    real = um.systemctl("start", "fail.service")
    assert (ours.rc, ours.err) == (real.rc, real.err)
    same(um, "is-failed", "fail.service")
    assert um.sctl("reset-failed", "fail.service").rc == 0
    same(um, "is-failed", "fail.service")
    same(um, "isolate", "quiet.service")
    assert um.sctl("stop", "sleepy.service").rc == 0
    same(um, "is-active", "sleepy.service")
    assert um.sctl("start", "sleepy").rc == 0  # a bare name means a service
    same(um, "is-active", "sleepy")


def test_show_and_status(um: Manager) -> None:
    assert um.sctl("start", "sleepy.service").rc == 0
    same(um, "show", "-p", "MainPID", "--value", "sleepy.service")
    same(um, "show", "-p", "Id,Description,LoadState,ActiveState,SubState,MainPID,TimeoutStartUSec,UMask,"
         "CanReload,NRestarts,Result,Names", "sleepy.service")
    same(um, "show", "-P", "ExecStart", "quiet.service")
    same(um, "status", "nope.service")
    real, ours = both(um, "status", "quiet.service")
    assert (ours.rc, ours.out) == (real.rc, real.out)
    real, ours = both(um, "status", "sleepy.service")
    assert ours.rc == real.rc == 0

    def head(text: str) -> list[str]:
        # The relative time ("12ms ago") moves between the two runs.
        return [re.sub(r"; .* ago$", "", line) for line in text.splitlines()[:4]]

    assert head(ours.out) == head(real.out)
    same(um, "cat", "dropin.service")
    real, ours = both(um, "status")
    assert ours.rc == real.rc == 0
    # Host, state, jobs, failed. (The unit count moves: systemctl's own lookups load units.)
    assert [ours.out.splitlines()[i] for i in (0, 1, 3, 4)] == [real.out.splitlines()[i] for i in (0, 1, 3, 4)]


def test_lists(um: Manager) -> None:
    assert um.sctl("start", "sleepy.service").rc == 0
    same(um, "list-units")
    same(um, "list-units", "--all", "--no-legend")
    same(um, "list-units", "--no-legend", "sleep*")
    assert um.sctl("start", "--no-block", "slow.service").rc == 0
    assert um.sctl("start", "--no-block", "after-slow.service").rc == 0
    same(um, "list-jobs")
    same(um, "list-jobs", "--after")
    wait_for(lambda: um.sctl("list-jobs").out == "No jobs running.\n", "jobs", 10)
    same(um, "list-jobs")


def test_environment_and_kill(um: Manager) -> None:
    assert um.sctl("set-environment", "SCTL_TEST=1").rc == 0
    same(um, "show-environment")
    assert um.sctl("unset-environment", "SCTL_TEST").rc == 0
    same(um, "show-environment")
    assert um.sctl("start", "sleepy.service").rc == 0
    assert um.sctl("kill", "-s", "SIGKILL", "--kill-whom=main", "sleepy.service").rc == 0
    wait_for(lambda: um.sctl("is-active", "sleepy.service").rc != 0, "the kill")
    same(um, "is-failed", "sleepy.service")


def test_usage_errors(um: Manager) -> None:
    bad_verb = um.sctl("frobnicate")
    assert (bad_verb.rc, bad_verb.err) == (1, um.systemctl("frobnicate").err)
    bad_option = um.sctl("--bogus-option", "status")
    assert bad_option.rc == 1 and "--bogus-option" in bad_option.err


def test_invoked_as_systemctl(um: Manager, tmp_path: Path) -> None:
    link = tmp_path / "systemctl"
    link.symlink_to(Path(sys.executable).parent / "sctl")
    ours = um.ns.run([str(link), "--user", "is-active", "quiet.service"], um.env)
    assert (ours.rc, ours.out) == (3, "inactive\n")
    assert str(REPO)  # the package is importable from the checkout (PYTHONPATH)


def test_analyze_verbs(um: Manager) -> None:
    blame = um.sctl("blame")
    assert blame.rc == 0
    chain = um.sctl("critical-chain")
    assert chain.rc == 0 and "default.target" in chain.out
    svg = um.sctl("plot")
    assert svg.rc == 0 and svg.out.startswith("<svg") and svg.out.rstrip().endswith("</svg>")
    assert "default.target" in svg.out


def test_colours_like_systemctl(um: Manager) -> None:
    um.systemctl("reset-failed")
    um.systemctl("start", "fail.service")
    env = {**um.env, "SYSTEMD_COLORS": "1"}
    real = um.ns.run(["systemctl", "--user", "status", "fail.service"], env).out
    ours = um.ns.run([sys.executable, "-m", "sysmasterd.cli.sctl", "--user", "status", "fail.service"], env).out

    def normalize(text: str) -> str:
        text = re.sub(r"\x1b]8;;[^\x07]*\x07", "", text)  # systemctl's file:// hyperlinks
        return re.sub(r"; [^;]* ago", "", text)

    assert "\x1b[0;1;31mfailed\x1b[0m (Result: exit-code)" in ours
    assert normalize(ours) == normalize(real)
