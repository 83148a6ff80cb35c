"""A path unit survives core deaths under sysmaster-init: the new core watches again, a file that
appeared while no core ran fires it, and its unit keeps being triggered afterwards."""

from __future__ import annotations

from pathlib import Path

from recovery_harness import namespace, wait_until

UNITS = {
    "boot.target": "[Unit]\nDefaultDependencies=no\nWants=flag.path\n",
    "flag.path": "[Unit]\nDefaultDependencies=no\n[Path]\nPathExists=@RUN@/spool/flag\n",
    "flag.service": "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\n"
                    "ExecStart=/bin/sh -c 'echo run >> @RUN@/log; rm -f @RUN@/spool/flag'\n",
}


def _runs(run: Path) -> int:
    log = run / "log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_path_unit_keeps_working_across_core_kills() -> None:
    with namespace(UNITS) as ns:
        (ns.run / "spool").mkdir()

        def waiting() -> bool:
            return ns.prop("flag.path", "Unit", "SubState") == "waiting"

        def fire_and_wait(n: int) -> None:
            (ns.run / "spool" / "flag").touch()
            wait_until(lambda: _runs(ns.run) == n, 15, f"run {n}")
            wait_until(waiting, 15, "waiting again")

        wait_until(waiting, 15, "flag.path waiting")
        fire_and_wait(1)

        ns.wait_ready(ns.kill_core())
        wait_until(waiting, 15, "waiting after the core came back")
        fire_and_wait(2)

        # The file appears while no core runs: the next core's re-check sees it.
        old = ns.kill_core()
        (ns.run / "spool" / "flag").touch()
        ns.wait_ready(old)
        wait_until(lambda: _runs(ns.run) == 3, 15, "the run for the file that came while no core ran")
        wait_until(waiting, 15, "waiting")

        # The watched directory itself goes and comes back while no core runs.
        old = ns.kill_core()
        (ns.run / "spool").rmdir()
        ns.wait_ready(old)
        wait_until(waiting, 15, "waiting on the parent")
        (ns.run / "spool").mkdir()
        fire_and_wait(4)
        assert ns.prop("flag.path", "Path", "Result") == "success"
