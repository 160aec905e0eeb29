#!/bin/sh
# Demo: install what is missing, build, start a throwaway sshd on 127.0.0.1
# (random port, keys generated here, nothing of ~/.ssh touched), mount a
# directory of it with rfs, show it working, then unmount and stop sshd.
#   contrib/demo.sh            (as root on a fresh Debian 12)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/contrib/install-deps.sh"
"$top/contrib/build.sh" "$top/build" >/dev/null
rfs=$top/build/rfs

d=$(mktemp -d /tmp/rfs-demo.XXXXXX)
chmod 755 "$d"
sshd_pid=""
cleanup() {
	fusermount3 -u "$d/mnt" 2>/dev/null || true
	[ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true
	rm -rf "$d"
}
trap cleanup EXIT INT TERM

mkdir -p "$d/remote" "$d/mnt" "$d/keys"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ssh-keygen -q -t ed25519 -N '' -f "$d/keys/host"
ssh-keygen -q -t ed25519 -N '' -f "$d/keys/user"
cp "$d/keys/user.pub" "$d/keys/authorized_keys"
cat >"$d/sshd_config" <<EOC
ListenAddress 127.0.0.1
Port $port
HostKey $d/keys/host
AuthorizedKeysFile $d/keys/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp /usr/lib/openssh/sftp-server
SetEnv SHLVL=1
EOC
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$d/keys/host.pub")" >"$d/known_hosts"
/usr/sbin/sshd -D -f "$d/sshd_config" -E "$d/sshd.log" &
sshd_pid=$!
for _ in 1 2 3 4 5 6 7 8 9 10; do
	/usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
	sleep 0.2
done

echo "hello from the remote side" >"$d/remote/hello.txt"
mkdir -p "$d/remote/project/src"
printf 'int main(void) { return 0; }\n' >"$d/remote/project/src/main.c"

echo "== rfs 127.0.0.1:$d/remote $d/mnt -p $port ..."
"$rfs" "127.0.0.1:$d/remote" "$d/mnt" -p "$port" -F /dev/null \
	-o "User=$(id -un),IdentityFile=$d/keys/user,IdentitiesOnly=yes" \
	-o "UserKnownHostsFile=$d/known_hosts,StrictHostKeyChecking=yes"
echo "== mount:"; grep " $d/mnt " /proc/mounts
echo "== ls -lR $d/mnt:"; ls -lR "$d/mnt"
echo "== cat hello.txt:"; cat "$d/mnt/hello.txt"
echo "written through rfs" >"$d/mnt/new.txt"
echo "== the server now has new.txt: $(cat "$d/remote/new.txt")"
echo "== df:"; df -h "$d/mnt" | tail -n 1
if [ -t 0 ]; then
	printf "Mounted on %s. Press Enter to unmount... " "$d/mnt"
	read -r _
fi
fusermount3 -u "$d/mnt"
echo "== unmounted; demo done"
