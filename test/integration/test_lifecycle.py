"""Life cycle of a mount as root and as an ordinary user: checks before
connecting, the terminal let go, kill -9 leaves no dead mountpoint."""

import errno
import os
import shutil
import signal
import tempfile
import time

import pytest

from harness import (as_user, is_mounted, keygen, read_pub, rfs_bin,
                     start_mount, wait_for, write_file, RfsArgs)


class UserMount:
    """What an ordinary user needs to mount: a copy of rfs outside /root,
    a key, known_hosts, a mountpoint and a backing directory it owns."""

    def __init__(self, sshd, user):
        self.sshd, self.user = sshd, user
        self.dirs = []
        bindir = self.mkdir()
        self.binary = os.path.join(bindir, 'rfs')
        shutil.copy(rfs_bin(), self.binary)
        os.chmod(self.binary, 0o755)
        self.work = self.mkdir(user)
        self.key = keygen(os.path.join(self.work, 'id_ed25519'))
        for p in (self.key, self.key + '.pub'):
            os.chown(p, user.uid, user.gid)
        self.kh = sshd.write_known_hosts(os.path.join(self.work,
                                                      'known_hosts'))
        os.chown(self.kh, user.uid, user.gid)
        self.mnt = os.path.join(self.work, 'mnt')
        os.mkdir(self.mnt)
        os.chown(self.mnt, user.uid, user.gid)
        self.backing = self.mkdir(user)
        self.ak = sshd.authorize(user.name, [read_pub(self.key)])
        self.env = {'HOME': user.home, 'LC_ALL': 'C.UTF-8'}

    def mkdir(self, owner=None):
        d = tempfile.mkdtemp(prefix='rfs-life-', dir='/tmp')
        self.dirs.append(d)
        os.chmod(d, 0o755)
        if owner:
            os.chown(d, owner.uid, owner.gid)
        return d

    def argv(self, mnt=None, **kw):
        a = RfsArgs(self.sshd, self.user.home).argv(
            self.backing, mnt or self.mnt, user=self.user.name,
            identity=self.key, known_hosts=self.kh, **kw)
        a[0] = self.binary
        return a

    def cleanup(self):
        if is_mounted(self.mnt):
            os.system('fusermount3 -u -z %s' % self.mnt)
        os.unlink(self.ak)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def umount_env(sshd, user, fuse_for_all):
    u = UserMount(sshd, user)
    try:
        yield u
    finally:
        u.cleanup()


def plain_empty_dir(path):
    """Not in mountinfo, stat works (no ENOTCONN), the directory is empty.
    (Root may not stat a user's mount without allow_other: mountinfo
    first.)"""
    if is_mounted(path):
        return False
    os.stat(path)
    return os.listdir(path) == []


def test_kill9_root_mount_leaves_no_dead_mountpoint(rfs):
    m = rfs.mount()
    os.listdir(m.mnt)
    os.kill(m.pid, signal.SIGKILL)
    m.proc.wait(5)
    m.unmounted = True
    assert wait_for(lambda: plain_empty_dir(m.mnt), 2), \
        'still a mount 2 s after kill -9: %s' % m.mnt


def test_kill9_user_mount_leaves_no_dead_mountpoint(umount_env, rfs):
    u = umount_env
    m = start_mount(u.argv(), u.mnt, user=u.user.name, env=u.env)
    rfs.watchdog.watch(m.pid)
    try:
        os.kill(m.pid, signal.SIGKILL)
        m.proc.wait(5)
        assert wait_for(lambda: plain_empty_dir(u.mnt), 2), \
            'still a mount 2 s after kill -9: %s' % u.mnt
    finally:
        m.kill()
