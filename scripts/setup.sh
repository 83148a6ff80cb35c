#!/usr/bin/env bash
# Installs what sysmaster-py needs on a fresh Debian 12 (run as root): Debian packages for the
# real peers the tests drive (dbus-daemon, systemctl, udevadm, supervisord for benchmarks) and a
# venv at .venv with the project installed in editable mode plus its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=(dbus-daemon systemd udev libdbus-1-dev libglib2.0-dev pkg-config iproute2 util-linux
          procps kmod supervisor python3-venv linux-libc-dev rpm help2man systemd-container
          gcc python3-dev libsystemd-dev)  # pystemd has no wheel: built against libsystemd
# scripts/test.sh adds the parts of its throwaway VM (qemu, a kernel, busybox): tests/vm
read -r -a extra <<< "${SETUP_EXTRA_PKGS:-}"
apt_pkgs+=("${extra[@]}")
missing=()
for p in "${apt_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps package scripts from starting daemons on the host.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
fi

py=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q -e '.[test]' wheel
