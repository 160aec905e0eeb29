"""Life cycle of a mount as root and as an ordinary user: checks before
connecting, the terminal let go, kill -9 leaves no dead mountpoint."""

import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from harness import (as_user, find_pids_with_arg, fusermount_u, is_mounted,
                     keygen, pid_alive, pty_preexec, read_pub, rfs_bin,
                     run_rfs, start_mount, track, wait_for, write_file,
                     RfsArgs, TempUser, EXIT_MOUNT)


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
        kw.setdefault('user', self.user.name)
        kw.setdefault('identity', self.key)
        a = RfsArgs(self.sshd, self.user.home).argv(
            self.backing, mnt or self.mnt, known_hosts=self.kh, **kw)
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


def control_files(mnt):
    """The socket and snapshot a daemon killed leaves, to remove."""
    r = run_rfs([rfs_bin(), 'status', str(mnt)])
    snap = [ln.split(': ', 1)[1].split(' (')[0] for ln in
            r.stdout.splitlines() if ln.startswith('SIGUSR1 snapshot: ')]
    assert snap, r
    return [snap[0], snap[0][:-len('.stats')] + '.sock']


def test_kill9_root_mount_leaves_no_dead_mountpoint(rfs):
    m = rfs.mount()
    os.listdir(m.mnt)
    stale = control_files(m.mnt)
    try:
        os.kill(m.pid, signal.SIGKILL)
        m.proc.wait(5)
        m.unmounted = True
        assert wait_for(lambda: plain_empty_dir(m.mnt), 2), \
            'still a mount 2 s after kill -9: %s' % m.mnt
    finally:
        for f in stale:
            if os.path.exists(f):
                os.unlink(f)


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


# -- checks before connecting ---------------------------------------------------

def run_on_pty(argv, env, timeout=20):
    """Run argv with a pty as its controlling terminal and stdio; returns
    (exit status, everything it wrote). The terminal must be let go:
    reading the master ends (EIO) once rfs has returned, so no process it
    left behind still holds the pty."""
    master, slave = os.openpty()
    try:
        proc = track(subprocess.Popen(argv, env=env, stdin=slave,
                                      stdout=slave, stderr=slave,
                                      start_new_session=True,
                                      preexec_fn=pty_preexec))
        os.close(slave)
        slave = None
        out = b''
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                try:
                    data = os.read(master, 4096)
                except OSError:    # EIO: no one has the slave open
                    break
                if not data:
                    break
                out += data
            elif proc.poll() is not None and \
                    time.monotonic() > proc_exit_time(proc) + 2:
                raise AssertionError('rfs exited %s but its terminal is '
                                     'still held 2 s later:\n%s'
                                     % (proc.returncode, out.decode()))
        else:
            raise AssertionError('no EOF on the terminal within %ss:\n%s'
                                 % (timeout, out.decode()))
        return proc.wait(5), out.decode(errors='replace')
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)


_exit_seen = {}


def proc_exit_time(proc):
    return _exit_seen.setdefault(proc.pid, time.monotonic())


@pytest.fixture
def pw_user():
    u = TempUser('rfspw', password='Pw-%d' % os.getpid())
    try:
        yield u
    finally:
        u.remove()


def test_bad_mountpoint_fails_before_the_password_prompt(rfs, pw_user):
    missing = rfs.tmp / 'no' / 'mnt'
    argv = rfs.argv(mnt=missing, user=pw_user.name, identity=None,
                    extra_o=['PreferredAuthentications=password'])
    t0 = time.monotonic()
    rc, out = run_on_pty(argv, rfs.env)
    assert rc == EXIT_MOUNT, out
    assert out.strip() == 'rfs: %s: no such directory' % missing, out
    assert 'password' not in out.lower(), out
    assert time.monotonic() - t0 < 5


def test_unwritable_mountpoint_fails_before_login(umount_env, pw_user):
    """As fusermount3 would refuse it, but before the password prompt."""
    u = umount_env
    theirs = u.mkdir()      # root's, 0755
    argv = as_user(u.user.name, ['/usr/bin/env'] + [
        '%s=%s' % kv for kv in u.env.items()] + u.argv(
            mnt=theirs, user=pw_user.name, identity=None,
            extra_o=['PreferredAuthentications=password']))
    rc, out = run_on_pty(argv, None)
    assert rc == EXIT_MOUNT, out
    assert out.strip() == ('rfs: %s: no write permission (fusermount3 '
                           'mounts only where you may write)' % theirs), out
    sticky = u.mkdir(u.user)
    os.chmod(sticky, 0o1777)
    os.chown(sticky, 0, 0)
    argv = as_user(u.user.name, ['/usr/bin/env'] + [
        '%s=%s' % kv for kv in u.env.items()] + u.argv(mnt=sticky))
    rc, out = run_on_pty(argv, None)
    assert rc == EXIT_MOUNT, out
    assert 'not your directory' in out, out


def test_dev_fuse_unusable_fails_before_login(umount_env):
    """/dev/fuse refused (here: a root-only file bound over it in a mount
    namespace of the test's own) is named, with what to check."""
    u = umount_env
    fake = os.path.join(u.mkdir(), 'fuse')
    write_file(fake, b'')
    os.chmod(fake, 0o600)
    argv = ['unshare', '-m', '--propagation', 'private', 'sh', '-c',
            'mount --bind "$0" /dev/fuse && exec "$@"', fake] + as_user(
                u.user.name, ['/usr/bin/env'] + ['%s=%s' % kv for kv in
                                                 u.env.items()] + u.argv())
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert r.returncode == EXIT_MOUNT, r
    assert r.stderr == ('rfs: cannot open /dev/fuse: Permission denied (is '
                        'the fuse3 package installed and are you allowed to '
                        'use it?)\n'), r


def test_nonempty_mountpoint_warns(rfs, remote):
    (remote / 'r').write_text('remote')
    (rfs.mnt / 'hidden').write_text('local')
    m = rfs.mount()
    assert os.listdir(m.mnt) == ['r']
    warn = 'rfs: warning: mountpoint %s is not empty; its files are ' \
        'hidden while mounted' % m.mnt
    assert warn in m.stderr().splitlines(), m.stderr()
    m.unmount()
    assert os.listdir(rfs.mnt) == ['hidden']
    m = rfs.mount(extra_o=['nonempty'])
    assert os.listdir(m.mnt) == ['r']
    assert 'warning' not in m.stderr(), m.stderr()


# -- the terminal, after rfs returns --------------------------------------------

def leftovers_hold_no_tty(mnt):
    pids = find_pids_with_arg(mnt)
    for pid in pids:
        for fd in ('0', '1', '2'):
            target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            assert not target.startswith(('/dev/pts', '/dev/tty')), \
                (pid, fd, target)
    return pids


@pytest.mark.parametrize('opt', [None, 'auto_unmount'])
def test_daemon_lets_the_terminal_go(rfs, remote, opt):
    """Also with -o auto_unmount: rfs does it, not libfuse's helper."""
    (remote / 'f').write_text('x')
    argv = rfs.argv(foreground=False, extra_o=[opt] if opt else [])
    rc, out = run_on_pty(argv, rfs.env)
    assert rc == 0, out
    pids = leftovers_hold_no_tty(str(rfs.mnt))
    rfs.extra_pids += pids
    assert len(pids) == 2, pids      # the daemon and rfs-unmount
    assert os.listdir(rfs.mnt) == ['f']
    assert fusermount_u(rfs.mnt).returncode == 0
    assert wait_for(lambda: not any(pid_alive(p) for p in pids), 5)


def test_user_daemon_lets_the_terminal_go(umount_env, rfs):
    u = umount_env
    write_file(os.path.join(u.backing, 'f'), b'x')
    argv = as_user(u.user.name, ['/usr/bin/env'] + [
        '%s=%s' % kv for kv in u.env.items()] + u.argv(foreground=False))
    rc, out = run_on_pty(argv, None)
    assert rc == 0, out
    pids = leftovers_hold_no_tty(u.mnt)
    rfs.extra_pids += pids
    assert len(pids) == 2, pids
    assert is_mounted(u.mnt)
    # rfs status as the mounting user: found without touching the mount.
    r = run_rfs(as_user(u.user.name, [u.binary, 'status', u.mnt]))
    assert r.rc == 0 and 'state: up since' in r.stdout, r
    assert 'mountpoint: %s\n' % u.mnt in r.stdout, r
    assert fusermount_u(u.mnt, user=u.user.name).returncode == 0
    assert wait_for(lambda: not any(pid_alive(p) for p in pids), 5)


def test_unmount_stops_io_threads_within_the_loop_contract(rfs, remote):
    """Unmount stops each connection's I/O thread without changing its
    loop's hooks while the loop runs (loop.h: a data race; loop.c warns).
    Three connections: three I/O threads to stop."""
    write_file(remote / 'f', b'hello')
    m = rfs.mount(extra_o=['max_conns=3'])
    with open(m.path('f'), 'rb') as f:
        assert f.read() == b'hello'
    m.unmount()
    err = m.stderr()
    assert 'while the loop runs' not in err, err
