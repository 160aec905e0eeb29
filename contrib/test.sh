#!/bin/sh
# Install what is missing, build, and run every test (unit + integration)
# through `meson test`; ends with a line "N passed, N failed".
#   contrib/test.sh [BUILDDIR]        (as root on a fresh Debian 12)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=${1:-$top/build}
"$top/contrib/install-deps.sh"
"$top/contrib/build.sh" "$b"
rc=0
meson test -C "$b" --print-errorlogs --num-processes 1 || rc=$?
/usr/bin/python3 "$top/contrib/test-summary.py" "$b" || rc=1
exit $rc
