"""SIGKILL the core again and again while a client drives it and services crash on purpose:
every kill is recovered from, no service runs twice, none is lost, Restart= still applies."""

from __future__ import annotations

import os
import random
import signal
import time

from recovery_harness import MANAGED_UNITS, Churn, expect_consistent, mixed_units, namespace

KILLS = int(os.environ.get("SMR_KILLS", "25"))


def test_sigkill_churn() -> None:
    units, tokens = mixed_units()
    rng = random.Random(6)
    with namespace(units) as ns:
        ns.settle()
        kills = 0
        with Churn(ns, MANAGED_UNITS, seed=6) as churn:
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.05, 0.5))
                victim = rng.choice(["simple4.service", "simple5.service", "simple6.service"])
                for pid in ns.sleepers(tokens[victim]):
                    os.kill(pid, signal.SIGKILL)  # a crash Restart=on-failure must repair
                old = ns.kill_core()
                ns.wait_ready(old)
                kills += 1
            answered_during = churn.answered
        assert kills == KILLS
        assert answered_during > KILLS  # the client really was busy all along
        starts = ns.log.read_text().count("started core (pid")
        assert starts == KILLS + 1, "every kill was followed by exactly one new core"
        ns.settle(60)  # twenty core kills leave restarts to finish; a loaded machine needs longer
        expect_consistent(ns, churn, tokens)
        lingering = set(ns.zombies())
        time.sleep(0.5)
        assert not lingering & set(ns.zombies()), "zombies left unreaped"
        for name in ("crash17.service", "crash18.service"):
            assert int(ns.prop(name, "Service", "NRestarts") or 0) > 0
        assert "Traceback" not in ns.log.read_text()
