#!/usr/bin/env bash
# Boot this machine's root in two containers, under systemd and under sysmaster-init, and print
# the units side by side (issue 12's acceptance tool). Needs root and systemd-nspawn
# (apt-get install systemd-container). Options: scripts/boot_compare.py --help.
#
#   bash scripts/boot-compare.sh                  # table + counts on stdout
#   bash scripts/boot-compare.sh --json out.json  # also the report as JSON
#   bash scripts/boot-compare.sh --json -         # only JSON on stdout
#
# Everything happens in a private mount namespace (unshare -m): the work happens on tmpfs
# mounts and nspawn's volatile overlay. scripts/boot_compare.py stops the containers it started
# (by PID), unmounts and removes its work dir and cgroups, and reports anything left behind.
# This wrapper creates nothing itself; its trap only forwards an interrupt to the helper, which
# then cleans up.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
py=${PYTHON:-$root/.venv/bin/python}
if [[ ! -x $py ]]; then
    echo "boot-compare: no venv python at $py (run scripts/setup.sh or set PYTHON=)" >&2
    exit 77
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "boot-compare: needs root" >&2
    exit 77
fi
if ! command -v systemd-nspawn >/dev/null; then
    echo "boot-compare: systemd-nspawn missing (apt-get install systemd-container)" >&2
    exit 77
fi

helper=""
forward() {
    if [[ -n $helper ]] && kill -0 "$helper" 2>/dev/null; then
        kill -TERM "$helper" 2>/dev/null || true
        wait "$helper" 2>/dev/null || true
    fi
}
trap forward INT TERM

"$py" "$here/boot_compare.py" "$@" &
helper=$!
set +e
wait "$helper"
rc=$?
# a trapped signal interrupts wait: wait again for the helper's own clean-up and status
while kill -0 "$helper" 2>/dev/null; do
    wait "$helper"
    rc=$?
done
exit "$rc"
