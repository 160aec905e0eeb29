#!/bin/sh
# libssh2's own test suite, on the bundled libssh2 with rfs's patches:
#   contrib/libssh2-tests.sh BUILDDIR      (as root; meson suite 'libssh2')
# Builds the patched source that contrib/build-libssh2.sh unpacked
# (BUILDDIR/libssh2.work/src/libssh2-*) a second time, with BUILD_TESTING=ON
# and the same options (OpenSSL, static), into BUILDDIR/libssh2-tests: built
# once, rebuilt from scratch when the patches change (PREFIX/rfs-patches).
#
# libssh2's tests expect its docker image (tests/openssh_server/Dockerfile):
# an sshd with its host keys, authorized keys and user CA, and a user
# "libssh2" whose password is "my test password". Here that is a private
# sshd on 127.0.0.1 and a free port, in a mount namespace of its own where
# /etc/passwd, /etc/group and /etc/shadow have that user added (an
# unprivileged uid that exists nowhere else) and /etc/pam.d/sshd is pam_unix
# alone (password and keyboard-interactive logins need PAM). The system's
# files are never written; the sshd lets in no one else (AllowUsers), and it
# is stopped by its PID however the script ends.
#
# Runs every ctest test but test_sshd (its test_ssh2 starts an sshd of its
# own on the fixed port 4711; its other test is test_auth_pubkey_ok_ed25519
# again), including the test_read matrix of tests/test_read_algos.txt (one
# ctest test per cipher and per MAC). Upstream's MAC tests leave the cipher
# at libssh2's default, chacha20-poly1305, which has no MAC: so each MAC runs
# again under aes128-ctr and aes256-cbc, the whole-packet crypt() paths of
# patch 0001, and chacha20-poly1305 is named explicitly (patch 0002).
# Prints one TAP line a test (contrib/test-summary.py counts them) and a
# summary; exits 1 if any test failed, 77 (skipped) when not root.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=$(cd "${1:?usage: libssh2-tests.sh BUILDDIR}" && pwd)
if [ "$(id -u)" != 0 ]; then
	echo "libssh2-tests: needs root (its sshd runs in a mount namespace)"
	exit 77
fi
prefix=$b/libssh2
t=$b/libssh2-tests
"$top/contrib/build-libssh2.sh" "$prefix"      # nothing to do when current
src=$(find "$prefix.work/src" -maxdepth 1 -type d -name 'libssh2-*' | head -n 1)

# Build (again when the patches built into PREFIX changed).
if ! cmp -s "$prefix/rfs-patches" "$t/rfs-patches"; then
	rm -rf "$t"
	mkdir -p "$t"
	cmake -S "$src" -B "$t" -DCMAKE_BUILD_TYPE=Release \
		-DBUILD_SHARED_LIBS=OFF -DBUILD_STATIC_LIBS=ON \
		-DBUILD_EXAMPLES=OFF -DBUILD_TESTING=ON \
		-DCRYPTO_BACKEND=OpenSSL -DENABLE_ZLIB_COMPRESSION=ON \
		-DCMAKE_EXPORT_NO_PACKAGE_REGISTRY=ON >"$t/cmake.log" 2>&1 || {
		cat "$t/cmake.log" >&2; exit 1; }
fi
cmake --build "$t" -j "$(nproc)" >"$t/build.log" 2>&1 || {
	tail -n 50 "$t/build.log" >&2; exit 1; }
cp "$prefix/rfs-patches" "$t/rfs-patches"

# The docker image's sshd, in a private directory (removed at exit).
d=$(mktemp -d "${TMPDIR:-/tmp}/rfs-libssh2-tests.XXXXXX")
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$d"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
chmod 755 "$d"
o=$src/tests/openssh_server
for k in ssh_host_rsa_key ssh_host_ecdsa_key ssh_host_ed25519_key \
	ca_user_keys.pub; do
	install -m 600 "$o/$k" "$d/$k"
done
# Read by sshd as the user: world-readable.
install -m 644 "$src/tests/key_rsa.pub" "$d/key_rsa.pub"
install -m 644 "$o/authorized_keys" "$d/authorized_keys"
mkdir -m 755 "$d/home"
uid=$(awk -F: '{ u[$3] = 1 } END { for (i = 60100; u[i]; i++); print i }' \
	/etc/passwd /etc/group)
{ cat /etc/passwd
  echo "libssh2:x:$uid:$uid:libssh2 tests:$d/home:/bin/sh"; } >"$d/passwd"
{ cat /etc/group; echo "libssh2:x:$uid:"; } >"$d/group"
# "my test password" (openssl passwd -6 -salt libssh2test); only this user.
# shellcheck disable=SC2016
echo 'libssh2:$6$libssh2test$6iUXtdRBtnVbZolXxQNKYeBaQN5zr/lCPxF3k/S1aSTVK0buXTYKxlZjFnGsu8XGJd0/SBBpOrOWHKBy.4D0L0:19000:0:99999:7:::' >"$d/shadow"
chmod 644 "$d/passwd" "$d/group"
chmod 600 "$d/shadow"
printf '%s\n' 'auth required pam_unix.so' 'account required pam_unix.so' \
	'session required pam_permit.so' 'password required pam_deny.so' \
	>"$d/pam-sshd"
[ -d /run/sshd ] || mkdir -m 0755 /run/sshd

# A free port: bound to port 0 and read back; if another process takes it
# before sshd binds it, sshd exits and the next try has another.
start_sshd() {
	port=$(/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	: >"$d/sshd.log"
	# unshare and sh exec: $! is sshd's PID.
	# shellcheck disable=SC2016
	unshare -m --propagation private sh -c '
		mount --bind "$1/passwd" /etc/passwd &&
		mount --bind "$1/group" /etc/group &&
		mount --bind "$1/shadow" /etc/shadow &&
		mount --bind "$1/pam-sshd" /etc/pam.d/sshd || exit 1
		shift; exec "$@"' sh "$d" \
		/usr/sbin/sshd -D -E "$d/sshd.log" -f "$o/sshd_config" \
		-o "ListenAddress 127.0.0.1" -o "Port $port" \
		-o "PidFile $d/sshd.pid" \
		-h "$d/ssh_host_rsa_key" -h "$d/ssh_host_ecdsa_key" \
		-h "$d/ssh_host_ed25519_key" \
		-o "TrustedUserCAKeys $d/ca_user_keys.pub" \
		-o "AuthorizedKeysFile $d/key_rsa.pub $d/authorized_keys" \
		-o "StrictModes no" -o "UsePAM yes" -o "AllowUsers libssh2" \
		-o "PasswordAuthentication yes" \
		-o "KbdInteractiveAuthentication yes" &
	pid=$!
	i=0
	while [ $i -lt 100 ]; do
		grep -q "Server listening" "$d/sshd.log" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
	return 1
}
tries=0
until start_sshd; do
	tries=$((tries + 1))
	if [ $tries -ge 3 ]; then
		cat "$d/sshd.log" >&2
		echo "libssh2-tests: the test sshd did not start" >&2
		exit 1
	fi
done

unset FIXTURE_TEST_CRYPT FIXTURE_TEST_MAC FIXTURE_XFER_COUNT \
	OPENSSH_SERVER_HOST OPENSSH_SERVER_IMAGE DOCKER_MACHINE_NAME
export OPENSSH_NO_DOCKER=1 OPENSSH_SERVER_PORT="$port" USER=libssh2
export srcdir="$src/tests"

# libssh2's ctest tests. Excluded:
#   test_sshd   runs test_ssh2 against an sshd it starts on port 4711
#               (fixed in test_ssh2.c), and test_auth_pubkey_ok_ed25519,
#               which runs here anyway.
exclude='test_sshd'
n=0 failed=0 skipped=0
rm -f "$t/ctest.xml"
(cd "$t" && ctest -j "$(nproc)" --timeout 120 -E "^($exclude)\$" \
	--output-junit "$t/ctest.xml") >"$t/ctest.log" 2>&1 || true
if [ ! -s "$t/ctest.xml" ]; then
	cat "$t/ctest.log" >&2
	echo "libssh2-tests: ctest did not report" >&2
	exit 1
fi
# name, status (run, fail, notrun, disabled), and the output of failures.
/usr/bin/python3 - "$t/ctest.xml" >"$t/ctest.results" <<'EOP'
import sys
import xml.etree.ElementTree as ET
for c in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    print(c.get("name"), c.get("status"))
EOP
while read -r name status; do
	n=$((n + 1))
	case $status in
	run) echo "ok $n - $name" ;;
	disabled|notrun)
		echo "ok $n - $name # SKIP $status"
		skipped=$((skipped + 1)) ;;
	*)
		echo "not ok $n - $name"
		failed=$((failed + 1)) ;;
	esac
done <"$t/ctest.results"
for e in $(echo "$exclude" | tr '|' ' '); do
	n=$((n + 1)) skipped=$((skipped + 1))
	echo "ok $n - $e # SKIP needs port 4711"
done
if grep -qv ' run$' "$t/ctest.results"; then
	(cd "$t" && ctest --rerun-failed --output-on-failure) >&2 || true
fi

# test_read over the MACs with ciphers that use them, and chacha20-poly1305.
macs=$(grep -e '^hmac-' -e '^umac-' "$src/tests/test_read_algos.txt")
runs="chacha20-poly1305@openssh.com/"
for c in aes128-ctr aes256-cbc; do
	for m in $macs; do
		runs="$runs $c/$m"
	done
done
for r in $runs; do
	c=${r%%/*} m=${r#*/}
	n=$((n + 1))
	if env FIXTURE_TEST_CRYPT="$c" ${m:+FIXTURE_TEST_MAC="$m"} \
		"$t/tests/test_read" >"$t/test_read.log" 2>&1; then
		echo "ok $n - test_read $c${m:+ $m}"
	else
		echo "not ok $n - test_read $c${m:+ $m}"
		failed=$((failed + 1))
		sed 's/^/# /' "$t/test_read.log" >&2
	fi
done
echo "1..$n"
if [ $failed != 0 ]; then
	echo "== sshd log" >&2
	tail -n 40 "$d/sshd.log" >&2
fi
echo "libssh2-tests: $((n - failed - skipped)) passed, $failed failed," \
	"$skipped skipped (libssh2 $(basename "$src")," \
	"patches: $(awk '{ print $2 }' "$prefix/rfs-patches" | paste -sd ' '))"
[ $failed = 0 ]
