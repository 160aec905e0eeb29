#!/bin/sh
# Install what is missing, build, and run the tests through `meson test`.
#   contrib/test.sh [BUILDDIR]          (as root on a fresh Debian 12)
#   contrib/test.sh --quick [BUILDDIR]  (day-to-day: about 15 s)
# Full run, two builds, each test once where it finds the most:
#   BUILDDIR        unit tests, static analysis (contrib/lint.sh), fuzzing
#                   (contrib/fuzz.sh, 10 s a target),
#                   the operations under valgrind (suite 'valgrind') and
#                   the memory bounds of test_limits.py (suite 'limits'),
#                   libssh2's own tests on the bundled, patched libssh2
#                   (contrib/libssh2-tests.sh, suite 'libssh2', about 1 min)
#   BUILDDIR-asan   AddressSanitizer + UndefinedBehaviorSanitizer: unit
#                   tests and the whole integration suite (any report
#                   aborts rfs and fails the test)
# The integration suite runs once, in the sanitizer build: the plain build
# adds nothing there that valgrind's smoke run does not. --quick builds
# BUILDDIR only and runs the unit tests and suite 'quick' (operations,
# POSIX conformance, error paths). Ends with "N passed, N failed, N skipped".
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
quick=0
if [ "${1:-}" = --quick ]; then
	quick=1
	shift
fi
b=${1:-$top/build}
"$top/contrib/install-deps.sh"
"$top/contrib/build.sh" "$b"
rc=0
if [ "$quick" = 1 ]; then
	echo "== quick tests (build: $b)"
	meson test -C "$b" --print-errorlogs --num-processes 1 \
		--suite unit --suite quick || rc=$?
	/usr/bin/python3 "$top/contrib/test-summary.py" "$b" || rc=1
	exit $rc
fi
"$top/contrib/build.sh" "$b-asan" -Db_sanitize=address,undefined \
	-Db_lundef=false -Dbuildtype=debug
echo "== unit tests, static analysis, fuzzing, valgrind smoke, libssh2's tests (build: $b)"
meson test -C "$b" --print-errorlogs --num-processes 1 \
	--suite unit --suite lint --suite fuzz --suite valgrind \
	--suite limits --suite libssh2 || rc=$?
echo "== unit and integration tests under ASan+UBSan (build: $b-asan)"
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
	meson test -C "$b-asan" --print-errorlogs --num-processes 1 \
	--suite unit --suite integration || rc=$?
/usr/bin/python3 "$top/contrib/test-summary.py" "$b" "$b-asan" || rc=1
exit $rc
