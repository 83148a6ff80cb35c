"""What happens while no core runs is applied by the next one: exits with their real status,
timers with the time that passed; a hung or crashed core is replaced; re-execs touch nothing;
a poweroff stops the units in order and ends the namespace."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

from recovery_harness import (
    MANAGED_UNITS,
    Churn,
    Namespace,
    expect_consistent,
    mixed_units,
    namespace,
    proc_state,
    service,
    wait_until,
)

EXIT_ON_USR1 = ("/usr/bin/python3 -c \"import signal,sys,time; "
                "signal.signal(signal.SIGUSR1, lambda *a: sys.exit({code})); time.sleep(1000)\" {token}")


def _main_pid(ns: Namespace, name: str) -> int:
    """MainPID, as the host numbers it."""
    ns_pid = int(ns.prop(name, "Service", "MainPID") or 0)
    return ns.host_pid(ns_pid) if ns_pid else 0


def _boot(*names: str) -> str:
    return f"[Unit]\nDefaultDependencies=no\nWants={' '.join(names)}\n"


def test_exits_while_core_is_down_keep_their_status() -> None:
    units = {
        "killed.service": service("ExecStart=/bin/sleep 20001\nRestart=on-failure\nRestartSec=0.1"),
        "clean.service": service("ExecStart=" + EXIT_ON_USR1.format(code=0, token=20002) + "\nRestart=on-failure"),
        "failing.service": service("ExecStart=" + EXIT_ON_USR1.format(code=7, token=20003)),
    }
    units["boot.target"] = _boot(*units)
    with namespace(units) as ns:
        ns.settle()
        pids = {n: _main_pid(ns, n) for n in ("killed.service", "clean.service", "failing.service")}
        assert all(pids.values())
        core = ns.kill_core(signal.SIGSTOP)  # a core that cannot reap: its children stay zombies
        os.kill(pids["killed.service"], signal.SIGKILL)
        os.kill(pids["clean.service"], signal.SIGUSR1)
        os.kill(pids["failing.service"], signal.SIGUSR1)
        wait_until(lambda: all(proc_state(p) == "Z" for p in pids.values()), 5, "the services to die")
        os.kill(core, signal.SIGKILL)  # the zombies go to init, which reaps them and keeps the reports
        ns.wait_ready(core)
        wait_until(lambda: _main_pid(ns, "killed.service") not in (0, pids["killed.service"]), 10,
                   "Restart=on-failure after SIGKILL")
        assert int(ns.prop("killed.service", "Service", "NRestarts")) == 1
        table = ns.settle()
        assert table["clean.service"][:2] == ("inactive", "dead")  # exit 0: on-failure does not restart
        assert table["failing.service"][:2] == ("failed", "failed")
        assert ns.prop("failing.service", "Service", "Result") == "exit-code"
        assert int(ns.prop("failing.service", "Service", "ExecMainStatus")) == 7
        assert not ns.zombies()
        assert "exit status is lost" not in ns.log.read_text()


def test_hung_and_crashed_cores_are_replaced_services_untouched() -> None:
    units, tokens = mixed_units()
    with namespace(units) as ns:
        ns.settle()
        before = {n: ns.sleepers(tokens[n]) for n in ("simple1.service", "simple2.service", "simple3.service")}
        assert all(len(p) == 1 for p in before.values())
        for signo in (signal.SIGSTOP, signal.SIGSEGV, signal.SIGABRT):
            t0 = time.monotonic()
            old = ns.kill_core(signo)
            ns.wait_ready(old)
            if signo == signal.SIGSTOP:  # found by its missing heartbeats: 0.5 s x 4
                assert 1.5 < time.monotonic() - t0 < 6
        log = ns.log.read_text()
        assert log.count("missed its heartbeats: killing it") == 1
        after = {n: ns.sleepers(tokens[n]) for n in before}
        assert after == before
        assert log.count("started core (pid") == 4


def test_timers_count_the_time_spent_without_core() -> None:
    units = {
        "again.service": service("ExecStart=/bin/sh -c 'date +%%s.%%N >> @RUN@/again.log; sleep 0.3; exit 1'\n"
                                 "Restart=always\nRestartSec=3"),
        "slow.service": service("Type=notify\nExecStart=/bin/sleep 20004\nTimeoutStartSec=3"),
    }
    units["boot.target"] = _boot("again.service")
    with namespace(units) as ns:
        runs = ns.run / "again.log"
        wait_until(lambda: runs.exists(), 10, "the first run")
        assert ns.call("StartUnit", "ss", "slow.service", "replace") is not None
        t_start = time.monotonic()
        time.sleep(1.5)  # again.service now waits in auto-restart, slow.service in start
        old = ns.kill_core()
        ns.wait_ready(old)
        wait_until(lambda: len(runs.read_text().split()) >= 2, 10, "the restart")
        first, second = (float(x) for x in runs.read_text().split()[:2])
        # 0.3 s run + 3 s RestartSec; a restarted timer would add the 1.2 s spent before the kill
        assert 3.2 < second - first < 4.2, second - first
        assert int(ns.prop("again.service", "Service", "NRestarts")) == 1  # counted on, not from 0
        wait_until(lambda: ns.units_table().get("slow.service", ("",))[0] == "failed", 10, "the start timeout")
        assert time.monotonic() - t_start < 4.4
        assert ns.prop("slow.service", "Service", "Result") == "timeout"


def test_reexec_of_core_and_init_during_churn_keeps_services() -> None:
    units, tokens = mixed_units()
    stable = ["simple1.service", "simple2.service", "simple3.service"]
    with namespace(units) as ns:
        ns.settle()
        before = {n: (_main_pid(ns, n), ns.sleepers(tokens[n])) for n in stable}
        churned = [n for n in MANAGED_UNITS if n not in stable]
        with Churn(ns, churned, seed=3) as churn:
            for i in range(4):
                time.sleep(0.4)
                core = ns.core_pid()
                if i % 2 == 0:
                    assert ns.call("Reexecute") is not None
                    wait_until(lambda: "Reexecuting." in ns.log.read_text(), 5, "the re-exec")
                else:
                    os.kill(ns.init_pid, signal.SIGUSR1)
                time.sleep(0.3)
                wait_until(lambda: ns.call("GetUnit", "s", "boot.target") is not None, 10, "the core")
                assert ns.core_pid() == core  # re-exec in place: same PID, not a restart
        ns.settle()
        expect_consistent(ns, churn, tokens, churned)
        after = {n: (_main_pid(ns, n), ns.sleepers(tokens[n])) for n in stable}
        assert after == before
        assert ns.log.read_text().count("started core (pid") == 1


def test_poweroff_stops_units_in_order_and_ends_the_namespace() -> None:
    units = {
        "db.service": service("ExecStart=/bin/sleep 20005", unit="Description=Database\n"),
        "app.service": service("ExecStart=/bin/sleep 20006",
                               unit="Description=Application\nRequires=db.service\nAfter=db.service\n"),
    }
    units["boot.target"] = _boot("app.service")
    with namespace(units) as ns:
        ns.settle()
        ns.call("PowerOff")
        assert ns.proc is not None
        assert ns.proc.wait(20) == -signal.SIGINT  # the namespace ended with init's reboot(2)
        log = ns.log.read_text()
        assert log.index("Stopped Application.") < log.index("Stopped Database.")
        assert "asking sysmaster-init to poweroff" in log


def _forget_start(db: str, name: str) -> None:
    """Make the store look as if the core died right after forking: the unit's record from before
    the start (dead, old invocation), its start job still queued, the intent already written."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        (data,) = con.execute("SELECT data FROM unit WHERE id = ?", (name,)).fetchone()
        rec = json.loads(data)
        rec["invocation_id"] = "00" * 16
        rec["impl"].update(state="dead", main_pid=0, main_pid_start=None, control_pid=0, timer_deadline=0.0)
        con.execute("UPDATE unit SET data = ? WHERE id = ?", (json.dumps(rec), name))
        (next_id,) = con.execute("SELECT COALESCE(MAX(id), 0) + 100 FROM job").fetchone()
        con.execute("INSERT INTO job (id, data) VALUES (?, ?)", (next_id, json.dumps(
            {"id": next_id, "unit": name, "type": "start", "state": "running", "irreversible": False,
             "ignore_order": False, "begin_usec": 0})))
    finally:
        con.close()


def test_a_start_the_store_did_not_see_finish_is_adopted_not_repeated() -> None:
    units = {
        "plain.service": service("ExecStart=/bin/sleep 20007"),
        "daemon.service": service("Type=forking\nPIDFile=@RUN@/daemon.pid\n"
                                  "ExecStart=/bin/sh -c '/bin/sleep 20008 & echo $! > @RUN@/daemon.pid'"),
        "gone.service": service("ExecStart=/bin/sleep 20009"),
    }
    units["boot.target"] = _boot(*units)
    with namespace(units) as ns:
        ns.settle()
        before = {n: ns.sleepers(t) for n, t in (("plain.service", "20007"), ("daemon.service", "20008"))}
        core = ns.kill_core(signal.SIGSTOP)
        for name in units:
            if name.endswith(".service"):
                _forget_start(str(ns.run / "state.db"), name)
        (gone,) = ns.sleepers("20009")
        os.kill(gone, signal.SIGKILL)  # died before anyone knew it was there
        os.kill(core, signal.SIGKILL)
        ns.wait_ready(core)
        table = ns.settle()
        assert all(table[n][0] == "active" for n in units if n.endswith(".service")), table
        after = {n: ns.sleepers(t) for n, t in (("plain.service", "20007"), ("daemon.service", "20008"))}
        assert after == before  # adopted, not started a second time
        assert _main_pid(ns, "plain.service") == before["plain.service"][0]
        assert _main_pid(ns, "daemon.service") == before["daemon.service"][0]
        assert len(ns.sleepers("20009")) == 1  # nothing to adopt: the queued start job ran it again
        assert ns.log.read_text().count("start was interrupted by the core's death") == 2


# Takes a bus name and keeps it until SIGUSR1.
HOLDER = Path(__file__).resolve().parents[1] / "support" / "bus_name_holder.py"


def test_a_dbus_service_keeps_running_and_is_still_followed_after_a_core_kill() -> None:
    units = {"named.service": service("Type=dbus\nBusName=org.example.Kept\n"
                                      "Environment=DBUS_SESSION_BUS_ADDRESS=unix:path=@RUN@/../bus\n"
                                      f"ExecStart={sys.executable} {HOLDER} org.example.Kept")}
    units["boot.target"] = _boot(*units)
    with namespace(units) as ns:
        assert ns.settle()["named.service"][:2] == ("active", "running")
        pid = _main_pid(ns, "named.service")
        core = ns.kill_core()
        ns.wait_ready(core)
        assert ns.settle()["named.service"][:2] == ("active", "running")
        assert _main_pid(ns, "named.service") == pid
        # The new core watches the name again: giving it up stops the service.
        os.kill(pid, signal.SIGUSR1)
        wait_until(lambda: ns.units_table()["named.service"][:2] == ("inactive", "dead"), 10,
                   "named.service to stop once its name is gone")


def test_a_units_namespaces_outlive_a_core_kill() -> None:
    """PrivateNetwork=/PrivateIPC=: after the core was killed, a JoinsNamespaceOf= unit started by
    the next core joins the namespaces the running unit's processes are in (the storage sockets
    are kept by init)."""
    record = "readlink /proc/self/ns/net /proc/self/ns/ipc >> @RUN@/seen"
    settings = "PrivateNetwork=yes\nPrivateIPC=yes\n"
    units = {
        "boot.target": _boot("a.service"),
        "a.service": service(f"{settings}ExecStart=/bin/sh -c '{record}; exec sleep 7781'"),
        "b.service": service(f"Type=oneshot\n{settings}ExecStart=/bin/sh -c '{record}'",
                             unit="JoinsNamespaceOf=a.service\n"),
    }
    with namespace(units) as ns:
        seen = ns.run / "seen"
        wait_until(lambda: seen.exists() and len(seen.read_text().split()) == 2, 10, "a.service's namespaces")
        first = seen.read_text().split()
        assert first[0] != os.readlink("/proc/self/ns/net")
        old = ns.kill_core()
        ns.wait_ready(old)
        assert ns.call("StartUnit", "ss", "b.service", "replace") is not None
        wait_until(lambda: len(seen.read_text().split()) == 4, 10, "b.service's namespaces")
        assert seen.read_text().split()[2:] == first, ns.log.read_text()[-2000:]
        assert "ns:" not in ns.log.read_text()  # nothing about unclaimed or missing stores


def test_ip_accounting_counts_on_across_a_core_kill() -> None:
    """IPAccounting=: the counters live in BPF maps init keeps for the next core, which reads on
    from them (the programs stay attached to the cgroup and keep counting meanwhile)."""
    sender = ("/usr/bin/python3 -c \"import socket,time\\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\\n"
              "while True: s.sendto(b'x', ('127.0.0.1', 9)); time.sleep(0.05)\" 7791")
    units = {"boot.target": _boot("acct.service"),
             "acct.service": service(f"IPAccounting=yes\nExecStart={sender}")}
    with namespace(units) as ns:
        def egress() -> int:
            got = ns.prop("acct.service", "Service", "IPEgressPackets")
            return int(got) if got is not None else -1

        wait_until(lambda: 0 < egress() < 1 << 63, 10, "counted packets")
        before = egress()
        old = ns.kill_core()
        ns.wait_ready(old)
        after = wait_until(lambda: (n := egress()) > before and n < 1 << 63 and n, 10, "counting on")
        assert after > before, (before, after, ns.log.read_text()[-2000:])
