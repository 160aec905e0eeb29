#!/bin/sh
# rfs versus sshfs benchmark: one command, as root, on Debian 12.
#   test/bench/run.sh [--quick] [--rtt 0,10,50] [--repeat N] [--json FILE]
# Installs what is missing (contrib/install-deps.sh), then runs bench.py
# with Debian's python3 (stdlib only). --help lists every option; results
# and what each workload measures: doc/performance.md.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PATH="$PATH:/usr/sbin:/sbin"
if [ "$(id -u)" != 0 ]; then
	echo "run.sh: run as root (FUSE mounts, a private sshd)" >&2
	exit 1
fi
for c in sshfs fio git fusermount3 sshd; do
	if ! command -v "$c" >/dev/null 2>&1; then
		"$repo/contrib/install-deps.sh"
		break
	fi
done
if [ ! -x "$repo/build/rfs" ]; then
	echo "run.sh: $repo/build/rfs is missing; build it first:" >&2
	echo "    meson setup build && ninja -C build" >&2
	exit 1
fi
exec /usr/bin/python3 "$here/bench.py" "$@"
