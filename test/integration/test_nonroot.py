"""Smoke test as an ordinary user: mount via fusermount3, read, write,
unmount."""

import os
import shutil
import tempfile


from harness import (as_user, keygen, read_file, read_pub, rfs_bin, run,
                     start_mount, write_file, RfsArgs)

SCRIPT = r'''
import os, sys
mnt = sys.argv[1]
print(sorted(os.listdir(mnt)))
print(open(os.path.join(mnt, 'from-server')).read())
with open(os.path.join(mnt, 'from-user'), 'w') as f:
    f.write('written by %d' % os.getuid())
print(open(os.path.join(mnt, 'from-user')).read())
'''


def test_nonroot_mount(sshd, user, fuse_for_all, rfs):
    dirs = []

    def mkdir(owner=None):
        d = tempfile.mkdtemp(prefix='rfs-nonroot-', dir='/tmp')
        dirs.append(d)
        os.chmod(d, 0o755)
        if owner:
            os.chown(d, owner.uid, owner.gid)
        return d
    ak = None
    m = None
    try:
        bindir = mkdir()  # /root is 0700: the binary must be elsewhere
        binary = os.path.join(bindir, 'rfs')
        shutil.copy(rfs_bin(), binary)
        os.chmod(binary, 0o755)
        work = mkdir(user)
        key = keygen(os.path.join(work, 'id_ed25519'))
        os.chown(key, user.uid, user.gid)
        os.chown(key + '.pub', user.uid, user.gid)
        kh = sshd.write_known_hosts(os.path.join(work, 'known_hosts'))
        os.chown(kh, user.uid, user.gid)
        mnt = os.path.join(work, 'mnt')
        os.mkdir(mnt)
        os.chown(mnt, user.uid, user.gid)
        backing = mkdir(user)
        write_file(os.path.join(backing, 'from-server'), b'hello user')
        ak = sshd.authorize(user.name, [read_pub(key)])

        argv = RfsArgs(sshd, user.home).argv(
            backing, mnt, user=user.name, identity=key, known_hosts=kh)
        argv[0] = binary
        m = start_mount(argv, mnt, user=user.name,
                        env={'HOME': user.home, 'LC_ALL': 'C.UTF-8'})
        rfs.watchdog.watch(m.pid)
        r = run(as_user(user.name, ['/usr/bin/python3', '-c', SCRIPT, mnt]),
                check=False, timeout=30)
        assert r.returncode == 0, r.stderr + m.stderr()
        lines = r.stdout.splitlines()
        assert lines[0] == "['from-server']"
        assert lines[1] == 'hello user'
        assert lines[2] == 'written by %d' % user.uid
        path = os.path.join(backing, 'from-user')
        assert read_file(path) == b'written by %d' % user.uid
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (user.uid, user.gid)
        m.unmount()  # fusermount3 -u as the user; rfs must exit 0
        assert not os.path.ismount(mnt)
    finally:
        if m is not None:
            m.kill()
        if ak:
            os.unlink(ak)
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
