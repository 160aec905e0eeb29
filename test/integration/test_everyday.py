"""Everyday use by a local user whose uid is not the remote login's.

Two accounts on this machine play the two sides: `local` mounts (not
root) and runs the programs, `login` is the SSH login, with another uid
and gid, and owns the remote directory. Each behaviour is checked in each
idmap mode. The server's truth is read as root from the backing
directory.
"""

import io
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tarfile
import tempfile

import pytest

from harness import (EXIT_USAGE, RfsArgs, assert_fails, TempGroup, TempUser, as_user, is_mounted,
                     keygen, pty_preexec, read_file, read_pub, rfs_bin,
                     start_mount, write_file)

MODES = ['none', 'user', 'file', 'default']
PAST = 1500000000  # whole seconds: SFTP v3 carries no nanoseconds


class World:
    """The two users, their key, known_hosts and map files, and a scratch
    tree every party can traverse: bin/ (rfs), local/ (the local user's),
    srv/ (the login's backing directories)."""

    def __init__(self, sshd):
        self.sshd = sshd
        self.base = tempfile.mkdtemp(prefix='rfs-everyday-', dir='/tmp')
        os.chmod(self.base, 0o755)
        self.ak, self.parties = None, []
        try:
            self.setup()
        except BaseException:
            self.remove()
            raise

    def setup(self):
        self.local = TempUser('rfsxl')
        self.parties.append(self.local)
        self.login = TempUser('rfsxr')
        self.parties.append(self.login)
        # The local user is in this group here; the login is not. A check
        # made with the local caller's groups would call its 0664 file
        # writable; the server will not let the login write it.
        self.group = TempGroup('rfsxg', members=[self.local.name])
        self.parties.append(self.group)
        self.bin = os.path.join(self.base, 'bin', 'rfs')
        os.mkdir(os.path.dirname(self.bin), 0o755)
        shutil.copy(rfs_bin(), self.bin)  # /root is 0700
        os.chmod(self.bin, 0o755)
        self.home = self.mkdir('local', self.local)
        self.key = keygen(os.path.join(self.home, 'id_ed25519'))
        self.kh = self.sshd.write_known_hosts(
            os.path.join(self.home, 'known_hosts'))
        # sshfs's idmap=file: "local name:remote id" per line. Every id the
        # server shows is listed, so nomap= never comes into play.
        self.uidfile = write_file(os.path.join(self.home, 'uidmap'),
                                  '%s:%d\nroot:0\n' % (self.local.name,
                                                       self.login.uid))
        self.gidfile = write_file(os.path.join(self.home, 'gidmap'),
                                  '%s:%d\nroot:0\n%s:%d\n' % (
                                      self.local.name, self.login.gid,
                                      self.group.name, self.group.gid))
        self.chown_tree(self.home, self.local)
        self.ak = self.sshd.authorize(self.login.name, [read_pub(self.key)])
        self.srv = self.mkdir('srv', self.login)
        self.count = 0

    def mkdir(self, path, owner=None, mode=0o755):
        path = os.path.join(self.base, path)
        os.mkdir(path)
        os.chmod(path, mode)
        if owner:
            os.chown(path, owner.uid, owner.gid)
        return path

    @staticmethod
    def chown_tree(top, user):
        for d, dirs, files in os.walk(top):
            for name in [d] + [os.path.join(d, n) for n in dirs + files]:
                os.lchown(name, user.uid, user.gid)

    def new_dirs(self):
        """A fresh backing directory (the login's) and mountpoint."""
        self.count += 1
        backing = self.mkdir('srv/d%d' % self.count, self.login)
        mnt = self.mkdir('local/mnt%d' % self.count, self.local)
        return backing, mnt

    def remove(self):
        if self.ak:
            os.unlink(self.ak)
        for p in self.parties:
            p.remove()
        shutil.rmtree(self.base, ignore_errors=True)


def idmap_opts(world, mode):
    if mode == 'default':
        return []
    if mode == 'file':
        return ['idmap=file,uidfile=%s,gidfile=%s' % (world.uidfile,
                                                      world.gidfile)]
    return ['idmap=' + mode]


def populate(world, d):
    """The server side: files as the login would have them."""
    login, group = world.login, world.group

    def put(name, data, mode, uid=login.uid, gid=login.gid):
        write_file(os.path.join(d, name), data, mode)
        os.chown(os.path.join(d, name), uid, gid)
    put('notes.txt', 'line one\n', 0o644)
    os.mkdir(os.path.join(d, 'private'), 0o700)
    os.chown(os.path.join(d, 'private'), login.uid, login.gid)
    put('private/inside.txt', 'hidden\n', 0o600)
    put('rootfile', 'root owns this\n', 0o644, 0, 0)
    put('groupfile', 'group may write\n', 0o664, 0, group.gid)


def run_as(user, mnt, cmd, tty=False, input=None, timeout=30):
    """Run cmd as user with the mountpoint as its cwd: (rc, out, err).
    tty: stdin is a pty holding the answer "n", so a prompt that should
    not appear leaves its mark on stderr and its file in place."""
    argv = as_user(user.name, [
        '/usr/bin/env', 'LC_ALL=C.UTF-8', 'TERM=dumb', '/bin/sh', '-c',
        'cd "$0" && exec "$@"', mnt] + list(cmd))
    kw = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
              cwd='/', start_new_session=True)
    if not tty:
        r = subprocess.run(argv, input=(input or '').encode(), **kw)
        return r.returncode, r.stdout.decode(), r.stderr.decode()
    master, slave = os.openpty()
    try:
        os.write(master, b'n\n')
        r = subprocess.run(argv, stdin=slave, preexec_fn=pty_preexec, **kw)
        return r.returncode, r.stdout.decode(), r.stderr.decode()
    finally:
        os.close(master)
        os.close(slave)


class Mounted:
    """One mount of a fresh backing directory, made by the local user."""

    def __init__(self, world, mode, rfs):
        self.world, self.mode = world, mode
        self.backing, self.mnt = world.new_dirs()
        populate(world, self.backing)
        argv = RfsArgs(world.sshd, world.home).argv(
            self.backing, self.mnt, user=world.login.name,
            identity=world.key, known_hosts=world.kh,
            extra_o=idmap_opts(world, mode))
        argv[argv.index(rfs_bin())] = world.bin
        self.m = start_mount(argv, self.mnt, user=world.local.name,
                             env={'HOME': world.home, 'LC_ALL': 'C.UTF-8'})
        rfs.watchdog.watch(self.m.pid)

    def run(self, *cmd, **kw):
        return run_as(self.world.local, self.mnt, cmd, **kw)

    def srv(self, *parts):
        return os.path.join(self.backing, *parts)

    def local_tree(self, name):
        """A source tree of the local user's (see make_tree)."""
        top = os.path.join(self.world.home,
                           '%s%d' % (name, self.world.count))
        make_tree(top)
        World.chown_tree(top, self.world.local)
        return top

    def stderr(self):
        return self.m.stderr()


@pytest.fixture(scope='module')
def world(sshd):
    w = World(sshd)
    try:
        yield w
    finally:
        w.remove()


@pytest.fixture(params=MODES)
def mounted(request, world, fuse_for_all, rfs):
    m = Mounted(world, request.param, rfs)
    try:
        yield m
    finally:
        try:
            m.m.unmount()
        finally:
            m.m.kill()


def make_tree(top):
    """Files of modes 0600/0755, a relative symlink, a subdirectory, all
    with distinct mtimes in the past (the symlink's too: a time set on it
    must not land on its target)."""
    os.mkdir(top)
    write_file(os.path.join(top, 'a600'), 'secret\n', 0o600)
    write_file(os.path.join(top, 'b755'), '#!/bin/sh\necho hi\n', 0o755)
    os.mkdir(os.path.join(top, 'sub'), 0o750)
    write_file(os.path.join(top, 'sub', 'c644'), 'in sub\n', 0o644)
    os.symlink('a600', os.path.join(top, 'link'))
    for i, name in enumerate(['a600', 'b755', 'sub/c644', 'link', 'sub',
                              '.']):
        t = PAST + 1000 * i
        os.utime(os.path.join(top, name), (t, t), follow_symlinks=False)


def assert_tree_equal(src, dst):
    """dst (on the server) has src's names, contents, modes and mtimes
    (symlinks: their target; SFTP cannot time a symlink itself)."""
    for d, dirs, files in os.walk(src):
        rel = os.path.relpath(d, src)
        got = sorted(os.listdir(os.path.join(dst, rel)))
        assert got == sorted(dirs + files), (rel, got)
        for name in ['.'] + dirs + files:
            s = os.path.join(d, name)
            t = os.path.normpath(os.path.join(dst, rel, name))
            ss, ts = os.lstat(s), os.lstat(t)
            assert stat.S_IFMT(ss.st_mode) == stat.S_IFMT(ts.st_mode), t
            if stat.S_ISLNK(ss.st_mode):
                assert os.readlink(t) == os.readlink(s), t
                continue
            assert oct(stat.S_IMODE(ts.st_mode)) == \
                oct(stat.S_IMODE(ss.st_mode)), t
            assert int(ts.st_mtime) == int(ss.st_mtime), t
            if stat.S_ISREG(ss.st_mode):
                assert read_file(t) == read_file(s), t


def owner_shown(m):
    """The local uid/gid the login's files show as, per idmap mode."""
    w = m.world
    if m.mode == 'none':
        return w.login.uid, w.login.gid
    # 'default' assumes the lead's choice: idmap=user when the mount is not
    # allow_other. Change this line if the default is decided otherwise.
    return w.local.uid, w.local.gid


# --------------------------------------------------------------------------
# One behaviour per test, each in every mode


def test_vim_saves(mounted):
    # -V1: ex -s without a terminal prints its messages (W10, E45) only so.
    rc, out, err = mounted.run('ex', '-s', '-u', 'NONE', '-i', 'NONE', '-V1',
                               '-c', 'normal Gofoo', '-c', 'wq', 'notes.txt')
    assert 'readonly' not in err.lower(), err
    assert rc == 0 and 'written' in err, err + mounted.stderr()
    assert read_file(mounted.srv('notes.txt')) == b'line one\nfoo\n'


def test_rm_does_not_prompt(mounted):
    rc, out, err = mounted.run('sh', '-c', 'echo hi > made-here')
    assert (rc, err) == (0, ''), err
    rc, out, err = mounted.run('rm', 'made-here', tty=True)
    assert 'write-protected' not in err, err
    assert (rc, err) == (0, ''), err
    assert not os.path.lexists(mounted.srv('made-here'))


def test_cd_into_private_dir(mounted):
    rc, out, err = mounted.run('sh', '-c', 'cd private && ls')
    assert (rc, out, err) == (0, 'inside.txt\n', ''), err


def test_cp_a(mounted):
    src = mounted.local_tree('cpsrc')
    rc, out, err = mounted.run('cp', '-a', src, 'cpdst')
    assert 'failed to close' not in err, err
    if mounted.mode == 'none':
        # The copies show as the login's, not the caller's: the kernel
        # itself refuses the caller an ACL on them (EPERM before rfs is
        # asked), and the server a chown to the caller's ids. cp says so
        # for each and exits 1; contents, modes and times are kept.
        assert rc == 1, err
        for line in err.splitlines():
            assert re.match(r"cp: (preserving permissions for|failed to "
                            r"preserve ownership for) .*: Operation not "
                            r"permitted$", line), err
    else:
        assert (rc, err) == (0, ''), err + mounted.stderr()
    assert_tree_equal(src, mounted.srv('cpdst'))


def test_tar_x(mounted):
    arch = os.path.join(mounted.world.home,
                        'tree%d.tar' % mounted.world.count)
    with tarfile.open(arch, 'w') as tf:
        for name, mode, data in [('t', 0o755, None),
                                 ('t/x640', 0o640, b'forty\n'),
                                 ('t/y755', 0o755, b'#!/bin/sh\n'),
                                 ('t/sub', 0o700, None),
                                 ('t/sub/z600', 0o600, b'deep\n')]:
            ti = tarfile.TarInfo(name)
            ti.mode, ti.mtime = mode, PAST + len(name)
            if data is None:
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    os.chmod(arch, 0o644)
    rc, out, err = mounted.run('tar', 'xf', arch)
    os.unlink(arch)
    assert (rc, err) == (0, ''), err + mounted.stderr()
    for name, mode, data in [('t/x640', 0o640, b'forty\n'),
                             ('t/y755', 0o755, b'#!/bin/sh\n'),
                             ('t/sub/z600', 0o600, b'deep\n'),
                             ('t/sub', 0o700, None), ('t', 0o755, None)]:
        st = os.lstat(mounted.srv(name))
        assert oct(stat.S_IMODE(st.st_mode)) == oct(mode), name
        assert int(st.st_mtime) == PAST + len(name), name
        if data is not None:
            assert read_file(mounted.srv(name)) == data, name


@pytest.mark.timeout_s(90)
def test_rsync_a_twice(mounted):
    src = mounted.local_tree('rssrc')
    flags = ['-a']
    if owner_shown(mounted)[1] != mounted.world.local.gid:
        # Unmapped, the files show the login's gid, a group the local user
        # is not in: -g asks the server to chgrp to the local user's gid,
        # which it refuses (exit 23; sshfs alike). Nothing to keep.
        flags.append('--no-g')
    rc, out, err = mounted.run('rsync', *flags, src + '/', 'rsdst/')
    assert (rc, err) == (0, ''), err + mounted.stderr()
    assert_tree_equal(src, mounted.srv('rsdst'))
    # The second run must find nothing to do.
    rc, out, err = mounted.run('rsync', *flags, '--itemize-changes',
                               src + '/', 'rsdst/')
    assert (rc, out, err) == (0, '', ''), out + err


def test_sqlite3(mounted):
    script = ('create table t(n integer);\nbegin;\n' +
              ''.join('insert into t values(%d);\n' % i for i in range(100)) +
              'commit;\nselect count(*) from t;\n')
    rc, out, err = mounted.run('sqlite3', 'db.sqlite', input=script)
    assert (rc, out, err) == (0, '100\n', ''), err + mounted.stderr()
    con = sqlite3.connect(mounted.srv('db.sqlite'))
    try:
        assert con.execute('select sum(n) from t').fetchone() == (4950,)
    finally:
        con.close()


def test_server_file_seen_after_listing(mounted):
    rc, out, err = mounted.run('ls')
    assert (rc, err) == (0, '') and 'fresh.txt' not in out.split(), out
    # Made on the server right after the listing, with no pause.
    path = write_file(mounted.srv('fresh.txt'), 'made on the server\n')
    os.chown(path, mounted.world.login.uid, mounted.world.login.gid)
    rc, out, err = mounted.run('sh', '-c',
                               'stat -c %s fresh.txt && cat fresh.txt')
    assert (rc, out, err) == (0, '19\nmade on the server\n', ''), err


# What the server lets the login do, and what `test` must answer.
ACCESS = [('-w', 'notes.txt', True),     # the login's own file
          ('-w', '.', True),             # the login's directory
          ('-r', 'rootfile', True),
          ('-w', 'rootfile', False),     # root's, 0644
          ('-r', 'groupfile', True),
          ('-w', 'groupfile', False),    # 0664 of a group not the login's
          ('-x', 'private', True),       # the login's 0700 directory
          ('-r', 'private', True),
          ('-w', 'private', True)]


def test_test_w_agrees_with_server(mounted):
    wrong = [(op, name, 'wanted %s' % want) for op, name, want in ACCESS
             if (mounted.run('test', op, name)[0] == 0) != want]
    assert not wrong, 'test disagrees with the server: %s' % wrong


def test_ls_ln_owner(mounted):
    rc, out, err = mounted.run('ls', '-ln', 'notes.txt')
    assert (rc, err) == (0, ''), err
    fields = out.split()
    assert (int(fields[2]), int(fields[3])) == owner_shown(mounted), out


# --------------------------------------------------------------------------
# A shared mount


def test_allow_other_refuses_suid_and_dev(rfs, remote):
    """suid or dev with allow_other would let every local user run the
    server's setuid files or open device nodes it made: refused with
    one line unless trust_suid_dev says the server is trusted."""
    for o in (['allow_other', 'suid'], ['dev', 'allow_other'],
              ['allow_other', 'nosuid', 'suid', 'nodev']):
        res = rfs.run(extra_o=o)
        assert_fails(res, EXIT_USAGE, "with 'allow_other'", 'trust_suid_dev',
                     mnt=rfs.mnt)
    m = rfs.mount(extra_o=['allow_other', 'suid', 'nosuid'])
    m.unmount()
    m = rfs.mount(extra_o=['allow_other', 'suid', 'trust_suid_dev'])
    opts = [ln.split()[5] for ln in open('/proc/self/mountinfo')
            if ln.split()[4] == m.mnt]
    assert 'nosuid' not in opts[0].split(','), opts
    m.unmount()


def test_allow_other_kernel_checks_modes(world, rfs):
    """Mounted by root with allow_other, default_permissions is implied:
    the kernel checks each local user against the modes and owners shown,
    so another local user may read the login's 0644 file, not write it."""
    backing, mnt = world.new_dirs()
    populate(world, backing)
    os.chown(mnt, 0, 0)
    m = rfs.mount(backing, mnt=mnt, user=world.login.name,
                  identity=world.key, known_hosts=world.kh,
                  extra_o=['allow_other'])
    opts = [ln.split(' - ')[1].split()[2] for ln in
            open('/proc/self/mountinfo') if ln.split()[4] == mnt]
    assert 'default_permissions' in opts[0].split(','), opts
    assert 'allow_other' in opts[0].split(','), opts
    rc, out, err = run_as(world.local, mnt, ['cat', 'notes.txt'])
    assert (rc, out) == (0, 'line one\n'), err
    rc, out, err = run_as(world.local, mnt, ['test', '-w', 'notes.txt'])
    assert rc == 1, (out, err)
    rc, out, err = run_as(world.local, mnt, [
        '/usr/bin/python3', '-c', 'import errno\ntry:\n'
        ' open("notes.txt", "a")\nexcept OSError as e:\n'
        ' print(errno.errorcode[e.errno])'])
    assert (rc, out, err) == (0, 'EACCES\n', ''), err
    assert read_file(os.path.join(backing, 'notes.txt')) == b'line one\n'
    m.unmount()
    assert not is_mounted(mnt)
