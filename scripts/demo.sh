#!/usr/bin/env bash
# The main job: sysmasterd as a user manager with examples/units on a private D-Bus session bus,
# driven by Debian's unmodified systemctl. Sets everything up first (scripts/setup.sh).
#   bash scripts/demo.sh          run the tour, then stop everything
#   bash scripts/demo.sh --keep   leave the manager running and print how to reach it
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
keep=${1:-}
work=$(mktemp -d /tmp/sysmaster-demo.XXXXXX)
mkdir -m 700 "$work/xdg"
bus_pid= core_pid=
cleanup() {
    [ -n "$core_pid" ] && kill -TERM "$core_pid" 2>/dev/null && wait "$core_pid" 2>/dev/null || true
    [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null || true
    rm -rf "$work"
}
[ "$keep" = "--keep" ] || trap cleanup EXIT

dbus-daemon --session --fork --print-address=3 --print-pid=4 3>"$work/address" 4>"$work/bus.pid"
bus_pid=$(cat "$work/bus.pid")
export DBUS_SESSION_BUS_ADDRESS=$(cat "$work/address") XDG_RUNTIME_DIR="$work/xdg"
.venv/bin/sysmasterd --user --unit-path "$PWD/examples/units" --runtime-dir "$work/run" \
    --log-target "file:$work/sysmasterd.log" &
core_pid=$!
for _ in $(seq 100); do systemctl --user show -p Version >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.5

run() { echo; echo "\$ systemctl --user $*"; systemctl --user --no-pager "$@" || echo "(exit status $?)"; }
run list-units --all
run status web.service
run show -p MainPID -p NRestarts -p StatusText worker.service
run start flaky.service
run is-failed flaky.service
run restart web.service
run stop worker.service
run is-active worker.service
run list-dependencies default.target
# (cat, list-unit-files and enable run client-side here, on the default unit directories:
#  systemctl asks the manager for them only when /run/systemd/system exists, and the demo leaves
#  the host's /run alone. The tests run systemctl in a mount namespace where it exists.)
echo; echo "== sysmasterd's log"; cat "$work/sysmasterd.log"
if [ "$keep" = "--keep" ]; then
    echo
    echo "sysmasterd (PID $core_pid) keeps running. To drive it:"
    echo "  export DBUS_SESSION_BUS_ADDRESS='$DBUS_SESSION_BUS_ADDRESS' XDG_RUNTIME_DIR='$work/xdg'"
    echo "  systemctl --user status web.service"
    echo "Stop it with: kill $core_pid $bus_pid"
fi
