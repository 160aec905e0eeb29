#!/bin/sh
# Build Debian 13's libssh2 source package (1.11.1 with Debian's security
# patches) into a private static prefix: build-libssh2.sh PREFIX
#
# Debian 12 ships libssh2 1.10, which cannot sign with rsa-sha2, lacks
# AES-GCM/chacha20-poly1305 and the strict-KEX (Terrapin) fix. The apt
# configuration used here is private to this script: a deb-src line only, in
# its own list directory, so apt never offers trixie binaries to the system.
set -eu
prefix=${1:?usage: build-libssh2.sh PREFIX}
work=$prefix.work
if [ -f "$prefix/lib/libssh2.a" ]; then
	exit 0
fi
rm -rf "$work"
mkdir -p "$work/lists/partial" "$work/src"
cat >"$work/sources.list" <<EOS
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
EOS
apt_private() {
	apt-get -q -o Dir::Etc::SourceList="$work/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$work/lists" \
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "$@"
}
apt_private update >"$work/apt.log" 2>&1 || {
	cat "$work/apt.log" >&2
	echo "build-libssh2: cannot read trixie sources (see above)" >&2
	exit 1
}
(cd "$work/src" && apt_private source libssh2) >>"$work/apt.log" 2>&1 || {
	cat "$work/apt.log" >&2
	echo "build-libssh2: apt-get source libssh2 failed" >&2
	exit 1
}
srcdir=$(find "$work/src" -maxdepth 1 -type d -name 'libssh2-*' | head -n 1)
cmake -S "$srcdir" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
	-DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON -DBUILD_EXAMPLES=OFF \
	-DBUILD_TESTING=OFF -DCRYPTO_BACKEND=OpenSSL \
	-DENABLE_ZLIB_COMPRESSION=ON -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
	-DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_EXPORT_NO_PACKAGE_REGISTRY=ON >"$work/cmake.log" 2>&1 || {
	cat "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" -j "$(nproc)" >"$work/build.log" 2>&1 || {
	tail -n 50 "$work/build.log" >&2; exit 1; }
cmake --install "$work/build" >/dev/null
echo "build-libssh2: $(sed -n 's/^Version: //p' "$prefix/lib/pkgconfig/libssh2.pc") in $prefix"
