"""mount.rfs: mount(8)'s helper convention, fstab lines, umount.

mount(8) looks for helpers only in /sbin, /sbin/fs.d and /sbin/fs (fixed
when util-linux is built; mount -i skips helpers altogether). So the tests
that go through mount(8) link a helper under a random type name,
/sbin/mount.rfsNNNN -> rfs under test (and mount.fuse.rfsNNNN), and remove
it in a finally block; nothing named mount.rfs is touched. The rest run
the helper directly through a symlink named mount.rfs in a temp dir.

The daemon a helper leaves behind is not our child: the test process is
made a child subreaper while it runs, so the daemon is reparented to us
and its exit status can be read with waitpid after umount.
"""

import contextlib
import ctypes
import errno
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from harness import (as_user, assert_errno, find_pids_with_arg, fusermount_u,
                     is_mounted, keygen, mounts, pid_alive, proc_argv,
                     read_pub, rfs_bin, run, EXIT_OK, EXIT_USAGE)

MOUNT = '/usr/bin/mount'
UMOUNT = '/usr/bin/umount'
PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def subreaper():
    assert _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def reap(pid, timeout=10):
    """Exit status of pid (reparented to us), None if it did not end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            p, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 'not our child' if pid_alive(pid) else 'gone'
        if p == pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    return None


def mount_opts(mnt):
    """(per-mount options, fstype, superblock options) of mnt."""
    with open('/proc/self/mountinfo') as f:
        for line in f:
            left, right = line.split(' - ', 1)
            fields = left.split()
            if fields[4] == str(mnt):
                r = right.split()
                return (set(fields[5].split(',')), r[0],
                        set(r[2].split(',')))
    return None


class Helper:
    """One mount through mount.rfs; finds, watches and reaps the daemon."""

    def __init__(self, rfs, watchdog):
        self.rfs, self.watchdog = rfs, watchdog
        self.sshd = rfs.sshd
        self.pids = []
        self.daemon_pid = None

    def ssh_opts(self, user='root', key=None, kh=None):
        s = self.sshd
        return ','.join([
            'User=' + user, 'Port=%d' % s.port,
            'IdentityFile=' + (key or s.keys.user_ed25519),
            'IdentitiesOnly=yes',
            'UserKnownHostsFile=' + (kh or s.known_hosts),
            'GlobalKnownHostsFile=/dev/null', 'StrictHostKeyChecking=yes',
            'ssh_config=/dev/null'])

    def source(self):
        return '127.0.0.1:%s' % self.rfs.remote

    def daemon_started(self):
        """After a helper returned 0: the processes serving the mount."""
        pids = find_pids_with_arg(self.rfs.mnt)
        for p in pids:
            self.watchdog.watch(p)
        self.rfs.extra_pids += pids
        self.pids += pids
        ds = [p for p in pids if os.path.basename(
            (proc_argv(p) or [''])[0]).startswith(('mount.', 'rfs')) and
            comm(p) != 'rfs-unmount']    # its unmount watcher
        assert len(ds) == 1, {p: proc_argv(p) for p in pids}
        self.daemon_pid = ds[0]
        return pids

    def daemon(self):
        return self.daemon_pid

    def reap_all(self):
        """Exit status of the daemon; the others (its rfs-unmount
        watcher) are reaped too."""
        d = self.daemon()
        rc = reap(d)
        for p in self.pids:
            if p != d:
                reap(p, 5)
        return rc


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''


@pytest.fixture
def helper(rfs, watchdog):
    with subreaper():
        h = Helper(rfs, watchdog)
        try:
            yield h
        finally:
            if is_mounted(rfs.mnt):
                fusermount_u(rfs.mnt, lazy=True)
            for p in h.pids:
                if pid_alive(p):
                    try:
                        os.kill(p, 9)
                    except ProcessLookupError:
                        pass
                reap(p, 2)


@pytest.fixture
def link_dir():
    d = tempfile.mkdtemp(prefix='rfs-helper-', dir='/tmp')
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def mount_rfs(link_dir):
    """A symlink named mount.rfs to the rfs under test."""
    path = os.path.join(link_dir, 'mount.rfs')
    os.symlink(rfs_bin(), path)
    return path


@pytest.fixture
def sbin_type():
    """A random filesystem type with /sbin/mount.TYPE and
    /sbin/mount.fuse.TYPE linked to rfs; removed afterwards."""
    t = 'rfst%s' % os.urandom(4).hex()
    links = ['/sbin/mount.' + t, '/sbin/mount.fuse.' + t]
    try:
        for link in links:
            os.symlink(rfs_bin(), link)
        yield t
    finally:
        for link in links:
            try:
                os.unlink(link)
            except FileNotFoundError:
                pass


def run_cmd(argv, env, timeout=30):
    return subprocess.run(argv, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_helper_mounts_with_options_then_umount(helper, mount_rfs, rfs):
    (rfs.remote / 'hello').write_text('via mount.rfs\n')
    r = run_cmd([mount_rfs, helper.source(), str(rfs.mnt), '-n', '-o',
                 helper.ssh_opts() + ',ro,noexec,nosuid,nodev,allow_other,'
                 '_netdev,nofail,users,noauto,defaults,x-systemd.automount,'
                 'comment=fstab,idmap=user'], rfs.env)
    assert r.returncode == EXIT_OK, r
    # The helper returns once the mount answers.
    assert os.path.ismount(rfs.mnt)
    helper.daemon_started()
    assert (rfs.mnt / 'hello').read_text() == 'via mount.rfs\n'
    per_mount, fstype, sb = mount_opts(rfs.mnt)
    assert fstype == 'fuse.rfs'
    assert {'ro', 'noexec', 'nosuid', 'nodev'} <= per_mount, per_mount
    # allow_other brings default_permissions along.
    assert {'allow_other', 'default_permissions'} <= sb, sb
    assert_errno(errno.EROFS, (rfs.mnt / 'new').write_text, 'x')
    r = run_cmd([UMOUNT, str(rfs.mnt)], rfs.env)
    assert r.returncode == 0, r
    assert helper.reap_all() == 0
    assert not is_mounted(rfs.mnt)
    assert not any(pid_alive(p) for p in helper.pids)


def test_no_default_permissions(helper, mount_rfs, rfs):
    r = run_cmd([mount_rfs, helper.source(), str(rfs.mnt), '-o',
                 helper.ssh_opts() + ',allow_other,no_default_permissions'],
                rfs.env)
    assert r.returncode == EXIT_OK, r
    helper.daemon_started()
    _, _, sb = mount_opts(rfs.mnt)
    assert 'allow_other' in sb and 'default_permissions' not in sb, sb
    assert fusermount_u(rfs.mnt).returncode == 0
    assert helper.reap_all() == 0


@pytest.mark.parametrize('opts,needle', [
    ('bogus', "unknown option 'bogus'"),
    ('loglevel=loud', "'loglevel'"),
    ('reconnect_timeout=-1', "'reconnect_timeout'"),
    ('default_permissions,no_default_permissions', 'contradict'),
])
def test_helper_rejects_bad_options(helper, mount_rfs, rfs, opts, needle):
    r = run_cmd([mount_rfs, helper.source(), str(rfs.mnt), '-o',
                 helper.ssh_opts() + ',' + opts], rfs.env)
    assert r.returncode == EXIT_USAGE, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('rfs: '), r
    assert needle in lines[0], r
    assert not is_mounted(rfs.mnt)


@pytest.mark.parametrize('argv,needle', [
    (['-x'], "'-x'"),
    (['-t', 'nfs'], "'nfs'"),
    (['-o'], 'needs a value'),
])
def test_helper_rejects_bad_flags(helper, mount_rfs, rfs, argv, needle):
    r = run_cmd([mount_rfs, helper.source(), str(rfs.mnt)] + argv, rfs.env)
    assert r.returncode == EXIT_USAGE, r
    assert r.stderr.startswith('rfs: ') and needle in r.stderr, r
    assert len(r.stderr.strip().splitlines()) == 1, r


def test_helper_sloppy_and_fake(helper, mount_rfs, rfs):
    # -f: everything checked, nothing mounted, exit 0.
    r = run_cmd([mount_rfs, helper.source(), str(rfs.mnt), '-f', '-o',
                 helper.ssh_opts()], rfs.env)
    assert r.returncode == 0, r
    assert not is_mounted(rfs.mnt)
    # -s: an unknown option is a warning; the mount goes on.
    r = run_cmd([mount_rfs, helper.source(), str(rfs.mnt), '-s', '-o',
                 helper.ssh_opts() + ',nonsense=1'], rfs.env)
    assert r.returncode == 0, r
    assert "ignoring unknown option 'nonsense'" in r.stderr, r
    helper.daemon_started()
    assert os.path.ismount(rfs.mnt)
    assert run_cmd([UMOUNT, str(rfs.mnt)], rfs.env).returncode == 0
    assert helper.reap_all() == 0


def test_mount_t_type(helper, sbin_type, rfs):
    """mount -t TYPE -o ... SRC DIR runs /sbin/mount.TYPE."""
    (rfs.remote / 'f').write_text('typed\n')
    r = run_cmd([MOUNT, '-t', sbin_type, '-o',
                 helper.ssh_opts() + ',nosuid,_netdev', helper.source(),
                 str(rfs.mnt)], rfs.env)
    assert r.returncode == 0, r
    helper.daemon_started()
    assert (rfs.mnt / 'f').read_text() == 'typed\n'
    assert 'nosuid' in mount_opts(rfs.mnt)[0]
    # A plain umount ends the daemon, exit 0, nothing left running.
    assert run_cmd([UMOUNT, str(rfs.mnt)], rfs.env).returncode == 0
    assert helper.reap_all() == 0
    assert not any(pid_alive(p) for p in helper.pids)


def test_mount_t_fuse_type(helper, sbin_type, rfs):
    """fstab type fuse.TYPE runs /sbin/mount.fuse.TYPE."""
    r = run_cmd([MOUNT, '-t', 'fuse.' + sbin_type, '-o', helper.ssh_opts(),
                 helper.source(), str(rfs.mnt)], rfs.env)
    assert r.returncode == 0, r
    helper.daemon_started()
    assert os.path.ismount(rfs.mnt)
    assert fusermount_u(rfs.mnt).returncode == 0
    assert helper.reap_all() == 0


def test_mount_t_bad_option(helper, sbin_type, rfs):
    r = run_cmd([MOUNT, '-t', sbin_type, '-o', helper.ssh_opts() +
                 ',frobnicate', helper.source(), str(rfs.mnt)], rfs.env)
    assert r.returncode == EXIT_USAGE, r
    assert "rfs: unknown option 'frobnicate'" in r.stderr, r
    assert not is_mounted(rfs.mnt)


def write_fstab(path, helper, rfs, fstype, extra):
    line = '%s %s %s %s 0 0\n' % (helper.source(), rfs.mnt, fstype,
                                  helper.ssh_opts() + ',' + extra)
    with open(path, 'w') as f:
        f.write('# test fstab\n' + line)
    return str(path)


def test_mount_from_fstab(helper, sbin_type, rfs, tmp_path):
    """mount DIR with a temporary fstab (the real one is not touched)."""
    (rfs.remote / 'f').write_text('fstab\n')
    fstab = write_fstab(
        tmp_path / 'fstab', helper, rfs, sbin_type,
        'noauto,x-systemd.automount,_netdev,nofail,users,comment=x,'
        'reconnect_timeout=30,cache_timeout=5,allow_other,ro')
    # mount -f: fake, nothing mounted.
    r = run_cmd([MOUNT, '-f', '--fstab', fstab, str(rfs.mnt)], rfs.env)
    assert r.returncode == 0, r
    assert not is_mounted(rfs.mnt)
    r = run_cmd([MOUNT, '--fstab', fstab, str(rfs.mnt)], rfs.env)
    assert r.returncode == 0, r
    helper.daemon_started()
    assert (rfs.mnt / 'f').read_text() == 'fstab\n'
    per_mount, _, sb = mount_opts(rfs.mnt)
    assert 'ro' in per_mount and 'default_permissions' in sb
    # umount -l while a file is open: the daemon still ends, exit 0.
    fd = os.open(rfs.mnt / 'f', os.O_RDONLY)
    try:
        r = run_cmd([UMOUNT, '-l', str(rfs.mnt)], rfs.env)
        assert r.returncode == 0, r
        assert os.read(fd, 100) == b'fstab\n'
    finally:
        os.close(fd)
    assert helper.reap_all() == 0
    assert not is_mounted(rfs.mnt)


def test_fstab_bad_option(helper, sbin_type, rfs, tmp_path):
    fstab = write_fstab(tmp_path / 'fstab', helper, rfs, sbin_type,
                        'noauto,cache=maybe')
    r = run_cmd([MOUNT, '--fstab', fstab, str(rfs.mnt)], rfs.env)
    assert r.returncode == EXIT_USAGE, r
    assert "rfs: bad value for option 'cache': 'maybe'" in r.stderr, r
    assert not is_mounted(rfs.mnt)


# -- a user mount --------------------------------------------------------




def test_user_mount_as_mount8_runs_it(sshd, user, fuse_for_all, helper,
                                      link_dir, rfs):
    """A `user` fstab entry: mount(8) runs the helper as the user with a
    sanitized environment (no HOME, no PATH) and adds user=LOGIN.

    mount(8) only honours `user` entries of the real /etc/fstab (--fstab
    is root only), which a test must not edit: so the helper is run the
    way mount(8) would run it. The user's key and known_hosts are found
    in ~/.ssh through the password database, not $HOME.
    """
    binary = os.path.join(link_dir, 'rfs')
    shutil.copy(rfs_bin(), binary)  # /root is 0700: copy it out
    os.chmod(binary, 0o755)
    helper_path = os.path.join(link_dir, 'mount.rfs')
    os.symlink(binary, helper_path)
    ssh = os.path.join(user.home, '.ssh')
    os.mkdir(ssh, 0o700)
    key = keygen(os.path.join(ssh, 'id_ed25519'))
    sshd.write_known_hosts(os.path.join(ssh, 'known_hosts'))
    for dirpath, _, files in os.walk(ssh):
        os.chown(dirpath, user.uid, user.gid)
        for f in files:
            os.chown(os.path.join(dirpath, f), user.uid, user.gid)
    mnt = os.path.join(user.home, 'mnt')
    os.mkdir(mnt)
    os.chown(mnt, user.uid, user.gid)
    backing = tempfile.mkdtemp(prefix='rfs-usermnt-', dir='/tmp')
    os.chmod(backing, 0o755)
    os.chown(backing, user.uid, user.gid)
    with open(os.path.join(backing, 'mine'), 'w') as f:
        f.write('user data\n')
    ak = sshd.authorize(user.name, [read_pub(key)])
    helper.rfs.mnt = type(helper.rfs.mnt)(mnt)
    try:
        # user=root would be the SSH login if it were read as User=: the
        # key is authorized for the user only, so the mount proves it is
        # mount(8)'s user=LOGIN and ignored.
        argv = as_user(user.name, [
            '/usr/bin/env', '-i', helper_path, '127.0.0.1:' + backing, mnt,
            '-o', 'user=root,nosuid,nodev,noexec,Port=%d,'
            'StrictHostKeyChecking=yes,GlobalKnownHostsFile=/dev/null,'
            'ssh_config=/dev/null' % sshd.port])
        r = run(argv, check=False, timeout=30)
        assert r.returncode == 0, r.stderr
        helper.daemon_started()
        assert is_mounted(mnt)
        check = run(as_user(user.name, ['/bin/cat', os.path.join(
            mnt, 'mine')]), check=False, timeout=15)
        assert check.stdout == 'user data\n', check.stderr
        daemon = helper.daemon()
        assert os.stat('/proc/%d' % daemon).st_uid == user.uid
        r = fusermount_u(mnt, user=user.name)
        assert r.returncode == 0, r.stderr
        assert helper.reap_all() == 0
        assert not is_mounted(mnt)
    finally:
        if is_mounted(mnt):
            fusermount_u(mnt, lazy=True)
        os.unlink(ak)
        shutil.rmtree(backing, ignore_errors=True)
