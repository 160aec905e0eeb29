#!/bin/sh
# Build the libFuzzer targets in test/fuzz/ with clang and run each for a
# bounded time. Exits 1 if any target crashed, leaked, hung or broke one of
# its invariants, after printing the report and the reproducer's path.
#   contrib/fuzz.sh [BUILDDIR] [SECONDS_PER_TARGET]
# BUILDDIR (default build) gets fuzz/: the binaries, a log per target, the
# working corpus (the seeds of test/fuzz/corpus/ copied in, then grown by
# every run; the repository is never written) and artifacts/ (crash-*,
# leak-*, timeout-*, oom-*). SECONDS_PER_TARGET defaults to 20, or to the
# variable of that name; `meson test --suite fuzz` runs 10 s each.
#
# A longer campaign, an hour per target, two processes each:
#   SECONDS_PER_TARGET=3600 FUZZ_JOBS=2 contrib/fuzz.sh
# Other knobs: FUZZ_RUNS=N (N inputs per target instead of a time limit),
# FUZZ_TARGETS="fuzz_conf" (a subset), FUZZ_ARGS="-max_len=65536" (more
# libFuzzer flags), FUZZ_CC=clang-14.
#
# Reproduce a finding, with the sanitizer's report:
#   build/fuzz/fuzz_conf build/fuzz/artifacts/fuzz_conf/crash-...
# Shrink it: build/fuzz/fuzz_conf -minimize_crash=1 -runs=100000 FILE
# Keep it: copy it to test/fuzz/crashes/<target>-<name>.
# Needs clang and libclang-rt-dev (contrib/install-deps.sh installs them).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
b=${1:-$top/build}
secs=${2:-${SECONDS_PER_TARGET:-20}}
out=$b/fuzz
cc=${FUZZ_CC:-clang}
targets=${FUZZ_TARGETS:-fuzz_buf fuzz_conf fuzz_khosts fuzz_sftp_wire fuzz_mount_opts}

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz: $cc not found; install clang and libclang-rt-dev" \
		"(contrib/install-deps.sh)" >&2
	exit 1
fi
mkdir -p "$out" || exit 1

flags="-std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -g -O1
-fno-omit-frame-pointer -Wall -Wextra
-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
glib=$(pkg-config --cflags --libs glib-2.0) || exit 1

# Build fuzz_X from test/fuzz/fuzz_X.c, src/X.c and src/util.c (pure
# modules, see pure_src in meson.build), unless it is newer than every
# source it could use.
build() {
	bin=$out/$1
	srcs="src/${1#fuzz_}.c src/util.c"
	case $1 in		# the pure modules each one needs besides
	fuzz_conf) srcs="$srcs src/conf_expand.c src/conf_match.c
		src/conf_print.c" ;;
	fuzz_buf) srcs="$srcs src/bpool.c" ;;
	fuzz_sftp_wire) srcs="$srcs src/buf.c src/bpool.c" ;;
	fuzz_mount_opts) srcs="src/mount_helper.c src/util.c" ;;
	esac
	if [ -x "$bin" ] && [ -z "$(find "$top/src" "$top/include" \
	    "$top/test/fuzz" -newer "$bin" -name '*.[ch]' 2>/dev/null)" ]
	then
		return 0
	fi
	echo "fuzz: building $1"
	# shellcheck disable=SC2086
	(cd "$top" && "$cc" $flags -Iinclude -o "$bin.tmp" \
		"test/fuzz/$1.c" $srcs $glib) || {
		echo "fuzz: building $1 failed" >&2
		return 1
	}
	mv "$bin.tmp" "$bin"
}

# ASan/UBSan settings of our own, whatever the caller exported (test.sh
# turns leak checking off for its ASan build).
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0:symbolize=1
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS UBSAN_OPTIONS

rc=0
for t in $targets; do
	build "$t" || { rc=1; continue; }
	corpus=$out/corpus/$t
	art=$out/artifacts/$t
	log=$out/$t.log
	mkdir -p "$corpus" "$art"
	cp -R "$top/test/fuzz/corpus/$t/." "$corpus/"
	set -- -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$art/"
	[ -f "$top/test/fuzz/$t.dict" ] &&
		set -- "$@" -dict="$top/test/fuzz/$t.dict"
	if [ -n "${FUZZ_RUNS:-}" ]; then
		set -- "$@" -runs="$FUZZ_RUNS"
	else
		set -- "$@" -max_total_time="$secs"
	fi
	if [ -n "${FUZZ_JOBS:-}" ]; then
		set -- "$@" -fork="$FUZZ_JOBS" -ignore_crashes=0
	fi
	# shellcheck disable=SC2086
	"$out/$t" "$@" ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1
	st=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
		tail -n 1)
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" |
		tail -n 1)
	cov=$(sed -n 's/^#[0-9]*[[:space:]]*DONE[[:space:]]*cov: \([0-9]*\).*/\1/p' \
		"$log" | tail -n 1)
	if [ "$st" -eq 0 ]; then
		echo "fuzz: $t ok: ${runs:-?} runs, ${speed:-?} exec/s," \
			"cov ${cov:-?}, corpus $(find "$corpus" -type f | wc -l) files"
		continue
	fi
	rc=1
	echo "fuzz: $t FAILED (exit $st); log $log; last lines:"
	tail -n 60 "$log" | sed 's/^/  | /'
	repro=$(sed -n "s/.*Test unit written to \(.*\)$/\1/p" "$log" |
		tail -n 1)
	if [ -n "$repro" ]; then
		echo "fuzz: $t reproducer: $repro"
		echo "fuzz: replay with: $out/$t $repro"
	fi
done
[ "$rc" -eq 0 ] && echo "fuzz: all targets ran clean"
exit $rc
