#!/bin/sh
# Install what rfs needs to build and test from Debian's packages (Debian 12
# or newer), as root. Does nothing when everything is there already.
set -eu
pkgs="build-essential meson ninja-build pkg-config cmake dpkg-dev
libfuse3-dev fuse3 libglib2.0-dev libssl-dev zlib1g-dev
openssh-client openssh-server openssh-sftp-server python3 python3-pytest
sshfs procps psmisc util-linux passwd attr man-db clang libclang-rt-dev llvm
fio git valgrind cppcheck clang-tidy vim sqlite3 rsync sudo"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "install-deps: installing$missing"
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: run as root (or with sudo) to install packages" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi
# sshd's privilege separation directory (created by the service normally).
[ -d /run/sshd ] || mkdir -p -m 0755 /run/sshd 2>/dev/null || true
