"""POSIX conformance: every check of posix_checks.py runs on a local
directory and on an rfs mount, and the two results must be equal, key by
key, except for the differences listed in ALLOWED. An allowed difference
must still differ: a stale entry fails too, so the table stays true.
doc/conformance.md has the results, with sshfs's, and the reasons."""

import json
import os
import shutil
import tempfile

import pytest

from posix_checks import CHECKS, run_check
from harness import PYTHON, TempUser, as_user, run

HERE = os.path.dirname(os.path.abspath(__file__))

SFTP_TIMES = 'SFTP v3 carries times in whole seconds'
LONG_PATH = ('every SFTP request names the whole path on the server, '
             'which takes no more than PATH_MAX: ENAMETOOLONG past it')
TIME_RANGE = ('SFTP v3 carries times as unsigned 32-bit seconds: a time '
              'past 2106 (or before 1970) is EOVERFLOW, the file unchanged')
NO_BLOCKS = ('SFTP v3 has no block count: rfs shows the size rounded up '
             'to 512-byte blocks')
NO_NLINK = ('SFTP v3 attributes have no link count: rfs knows it only from '
            'a listing (longname) or from link() through the mount')
NO_HOLES = ('SFTP cannot ask where holes are: without an lseek op the kernel '
            'treats the whole file as data, which POSIX allows')
NO_FALLOCATE = ('SFTP has no fallocate: EOPNOTSUPP, and posix_fallocate(3) '
                'falls back to writing zeros')
NO_TMPFILE = 'SFTP cannot create an unnamed file: O_TMPFILE is EOPNOTSUPP'
NO_XATTR = 'SFTP v3 has no extended attributes'
NO_LCHMOD = ('Linux has no lchmod; glibc emulates fchmodat(AT_SYMLINK_'
             'NOFOLLOW) through /proc/self/fd, which FUSE cannot serve '
             'for an O_PATH descriptor of a symlink')
# (check, key) -> why rfs's result cannot equal the local one.
ALLOWED = {
    ('subsecond', 'atime_ns'): SFTP_TIMES,
    ('subsecond', 'mtime_ns'): SFTP_TIMES,
    ('long_path', 'deep_mkdir'): LONG_PATH,
    ('time_range', 'utime_2200'): TIME_RANGE,
    ('time_range', 'mtime_after'): TIME_RANGE,
    ('sparse', 'sparse'): NO_BLOCKS,
    ('nlink_existing', 'stat_first'): NO_NLINK,
    ('seek_hole', 'data_0'): NO_HOLES,
    ('seek_hole', 'hole_0'): NO_HOLES,
    ('fallocate', 'fallocate'): NO_FALLOCATE,
    ('fallocate', 'punch_hole'): NO_FALLOCATE,
    ('tmpfile', 'tmpfile'): NO_TMPFILE,
    ('xattr', 'set'): NO_XATTR,
    ('xattr', 'get'): NO_XATTR,
    ('xattr', 'list'): NO_XATTR,
}


def compare(name, local, remote):
    """Equal except for ALLOWED keys, which must differ."""
    keys = list(local) + [k for k in remote if k not in local]
    diff = [k for k in keys if local.get(k, '<missing>') !=
            remote.get(k, '<missing>')]
    allowed = [k for (c, k) in ALLOWED if c == name]
    unexpected = [k for k in diff if k not in allowed]
    stale = [k for k in allowed if k not in diff]
    lines = ['%s: local %r, rfs %r' % (k, local.get(k, '<missing>'),
                                       remote.get(k, '<missing>'))
             for k in unexpected]
    assert not unexpected, '%s differs from a local directory:\n%s' % (
        name, '\n'.join(lines))
    assert not stale, ('%s: %s listed in ALLOWED but equal now (%r): drop '
                       'them from ALLOWED and doc/conformance.md' % (
                           name, stale, [remote.get(k) for k in stale]))


ROOT_CHECKS = [n for n, c in CHECKS.items() if not c.as_user]
USER_CHECKS = [n for n, c in CHECKS.items() if c.as_user]


def test_allowed_names_exist():
    for (c, k) in ALLOWED:
        assert c in CHECKS, c


@pytest.mark.timeout_s(120)
@pytest.mark.parametrize('name', ROOT_CHECKS)
def test_posix(name, rfs, remote, tmp_path):
    c = CHECKS[name]
    local = tmp_path / 'local'
    local.mkdir()
    if c.setup:
        c.setup(str(local), None)
        c.setup(str(remote), None)
    m = rfs.mount()
    want = run_check(c, str(local))
    got = run_check(c, m.mnt)
    compare(name, want, got)


# -- as a non-root caller on an allow_other,default_permissions mount -------

@pytest.fixture
def user():
    u = TempUser('rfsposix')
    try:
        yield u
    finally:
        u.remove()


@pytest.fixture
def open_dir():
    """A directory under /tmp that every user can traverse (pytest's
    tmp_path is root's, 0700)."""
    d = tempfile.mkdtemp(prefix='rfs-posix-', dir='/tmp')
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run_as(user, name, base):
    r = run(as_user(user.name, [PYTHON, os.path.join(HERE, 'posix_checks.py'),
                                name, base]), check=False, timeout=60)
    assert r.returncode == 0, '%s as %s failed: %s' % (name, user.name,
                                                       r.stderr)
    return json.loads(r.stdout)


@pytest.mark.parametrize('name', USER_CHECKS)
def test_posix_nonroot(name, rfs, remote, user, open_dir):
    c = CHECKS[name]
    local = os.path.join(open_dir, 'local')
    mnt = os.path.join(open_dir, 'mnt')
    os.mkdir(local)
    os.mkdir(mnt)
    c.setup(local, (user.uid, user.gid))
    c.setup(str(remote), (user.uid, user.gid))
    m = rfs.mount(mnt=mnt, extra_o=['allow_other,default_permissions'])
    want = run_as(user, name, local)
    got = run_as(user, name, m.mnt)
    compare(name, want, got)

