#!/usr/bin/env bash
# Builds the RPMs from an sdist of this checkout: sdist -> rpmbuild -bb in a temporary topdir.
# Prints the path of each built rpm, one a line, and nothing else on stdout.
#
#   packaging/rpm/build.sh [OUTDIR]      (default OUTDIR: dist/rpm)
#
# On openEuler the distribution's python-rpm-macros are used and rpmbuild checks BuildRequires.
# Where they are missing (Debian's rpm package, as in CI) debian-ci.macros stands in for them,
# with $PYTHON's packages (default: the project's .venv) serving the build offline, and --nodeps
# because such a host has no rpm database to check BuildRequires against.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/dist/rpm}
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$repo/.venv/bin/python" ]; then PYTHON=$repo/.venv/bin/python; else PYTHON=python3; fi
fi
command -v rpmbuild >/dev/null || { echo "build.sh: rpmbuild not found (dnf/apt-get install rpm-build/rpm)" >&2; exit 1; }

top=$(mktemp -d "${TMPDIR:-/tmp}/sysmaster-rpm.XXXXXX")
trap 'rm -rf "$top"' EXIT
mkdir -p "$top"/{SOURCES,SPECS,BUILD,BUILDROOT,RPMS,SRPMS} "$out"

# egg_info goes to the temp dir so the shared checkout is left as it was.
(cd "$repo" && "$PYTHON" setup.py -q egg_info --egg-base "$top" sdist --dist-dir "$top/SOURCES") \
    >"$top/sdist.log" 2>&1 || { cat "$top/sdist.log" >&2; exit 1; }
sdist=$(basename "$(ls "$top"/SOURCES/*.tar.gz)" .tar.gz)
cp "$here/sysmaster.spec" "$top/SPECS/"

args=(-bb --define "_topdir $top" --define "sdist_name $sdist")
if [ "$(rpm --eval '%{?python3_sitelib:1}')" != 1 ]; then
    # The build interpreter sees $PYTHON's packages through a plain path entry, not its
    # site-packages' .pth hooks: an editable install of this checkout there would otherwise
    # shadow the buildroot's modules in help2man and %check.
    "$PYTHON" -m venv --without-pip "$top/python"
    "$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("purelib"))' \
        >"$("$top/python/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/build-deps.pth"
    # No rpm database to check against: rpm would create an empty one at its default path.
    args+=(--nodeps --define "_dbpath $top/rpmdb" --define "__python3 $top/python/bin/python"
           --load "$here/debian-ci.macros")
fi
rpmbuild "${args[@]}" "$top/SPECS/sysmaster.spec" >"$top/rpmbuild.log" 2>&1 || {
    tail -n 60 "$top/rpmbuild.log" >&2; echo "build.sh: rpmbuild failed" >&2; exit 1; }

for rpm in "$top"/RPMS/*/*.rpm; do
    cp "$rpm" "$out/"
    echo "$out/$(basename "$rpm")"
done
