#!/bin/sh
# Configure (once) and build rfs in BUILDDIR (default: build).
# libssh2 >= 1.11.1 is taken from the system, or Debian 13's source package
# is built into BUILDDIR/libssh2 by meson (see contrib/build-libssh2.sh).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=${1:-$top/build}
[ $# -gt 0 ] && shift
if [ ! -f "$b/build.ninja" ]; then
	meson setup "$b" "$top" "$@"
fi
ninja -C "$b"
