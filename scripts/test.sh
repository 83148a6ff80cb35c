#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the checks: ruff, mypy, pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# tests/vm boots this host's root in qemu under Debian's kernel (the unified cgroup layout)
SETUP_EXTRA_PKGS="qemu-system-x86 linux-image-amd64 busybox-static" bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check .
echo "== mypy"; mypy
echo "== pytest"
set +e
pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
# pytest exits 5 when nothing was collected: that is a failure for CI, not a pass.
exit $rc
