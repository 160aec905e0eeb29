#!/bin/sh
# Build Debian 13's libssh2 source package (1.11.1 with Debian's security
# patches) and rfs's patches to it (contrib/libssh2/series, applied in that
# order) into a private static prefix: build-libssh2.sh PREFIX
#
# Debian 12 ships libssh2 1.10, which cannot sign with rsa-sha2, lacks
# AES-GCM/chacha20-poly1305 and the strict-KEX (Terrapin) fix; Debian 13's
# 1.11.1 spends two to three times OpenSSH's CPU per byte, which the patches
# fix (see contrib/libssh2/*.patch and doc/performance.md). The apt
# configuration used here is private to this script: a deb-src line only, in
# its own list directory, so apt never offers trixie binaries to the system.
#
# PREFIX/rfs-patches records the patches built in: when the series or a patch
# changes, the library is built again (from the source package already
# downloaded, if any).
set -eu
prefix=${1:?usage: build-libssh2.sh PREFIX}
work=$prefix.work
patchdir=$(cd "$(dirname "$0")" && pwd)/libssh2
series=$(grep -v -e '^#' -e '^[[:space:]]*$' "$patchdir/series" || true)
stamp=$(cd "$patchdir" && for p in $series; do sha256sum "$p"; done)
if [ -f "$prefix/lib/libssh2.a" ] && [ -f "$prefix/rfs-patches" ] &&
	[ "$(cat "$prefix/rfs-patches")" = "$stamp" ]; then
	exit 0
fi
rm -rf "$prefix"
mkdir -p "$work/src"
dsc=$(find "$work/src" -maxdepth 1 -name 'libssh2_*.dsc' | head -n 1)
if [ -n "$dsc" ]; then
	# A rebuild for other patches: unpack the source package we have.
	find "$work/src" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
	rm -rf "$work/build"
	(cd "$work/src" && dpkg-source -x "$(basename "$dsc")") \
		>"$work/apt.log" 2>&1 || {
		cat "$work/apt.log" >&2
		echo "build-libssh2: dpkg-source -x $dsc failed" >&2
		exit 1
	}
else
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
fi
srcdir=$(find "$work/src" -maxdepth 1 -type d -name 'libssh2-*' | head -n 1)
for p in $series; do
	if ! patch -p1 -N --batch -d "$srcdir" <"$patchdir/$p" \
		>"$work/patch.log" 2>&1; then
		cat "$work/patch.log" >&2
		echo "build-libssh2: contrib/libssh2/$p does not apply to" \
			"$(basename "$srcdir") (see above)" >&2
		exit 1
	fi
done
cmake -S "$srcdir" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
	-DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON -DBUILD_EXAMPLES=OFF \
	-DBUILD_TESTING=OFF -DCRYPTO_BACKEND=OpenSSL \
	-DENABLE_ZLIB_COMPRESSION=ON -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
	-DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_EXPORT_NO_PACKAGE_REGISTRY=ON >"$work/cmake.log" 2>&1 || {
	cat "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" -j "$(nproc)" >"$work/build.log" 2>&1 || {
	tail -n 50 "$work/build.log" >&2; exit 1; }
cmake --install "$work/build" >/dev/null
echo "$stamp" >"$prefix/rfs-patches"
echo "build-libssh2: $(sed -n 's/^Version: //p' "$prefix/lib/pkgconfig/libssh2.pc") in $prefix, patches: $(echo $series)"
