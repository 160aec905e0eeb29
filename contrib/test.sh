#!/bin/sh
# Install what is missing, build, and run every test (unit + integration)
# through `meson test`, twice: in BUILDDIR (default build) and in
# BUILDDIR-asan, built with AddressSanitizer + UndefinedBehaviorSanitizer
# (any report aborts rfs and fails the test). Ends with "N passed, N failed".
#   contrib/test.sh [BUILDDIR]        (as root on a fresh Debian 12)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=${1:-$top/build}
"$top/contrib/install-deps.sh"
"$top/contrib/build.sh" "$b"
"$top/contrib/build.sh" "$b-asan" -Db_sanitize=address,undefined \
	-Db_lundef=false -Dbuildtype=debug
rc=0
echo "== tests (build: $b)"
meson test -C "$b" --print-errorlogs --num-processes 1 || rc=$?
echo "== tests under ASan+UBSan (build: $b-asan)"
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
	meson test -C "$b-asan" --print-errorlogs --num-processes 1 || rc=$?
/usr/bin/python3 "$top/contrib/test-summary.py" "$b" "$b-asan" || rc=1
exit $rc
