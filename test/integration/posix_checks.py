"""POSIX checks that run the same way on any directory: a local one, an rfs
mount, an sshfs mount. test_posix.py compares the local and the rfs
results; conformance_table.py prints the table of doc/conformance.md.

A check is a function check(base, o) that works inside the directory base
(which exists and is empty, or holds what its setup made) and records what
it observed in the dict o: an errno name ('EEXIST'), 'ok', or a value. It
must record only what a correct filesystem makes identical everywhere (no
inode numbers, no absolute times unless set by the check).

setup(base, user), if any, runs as root before the check on the backing
directory (the local directory itself, or the server's directory behind the
mount), so that a check can start from files it could not make itself.
Checks with as_user=True run as an unprivileged user in a subprocess:
    python3 posix_checks.py NAME BASE      (prints the dict as JSON)
"""

import ctypes
import errno
import json
import os
import socket
import stat
import sys
import threading
import time

CHECKS = {}

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
GiB = 1 << 30


class Check:
    def __init__(self, name, fn, setup=None, as_user=False, what=''):
        self.name, self.fn, self.setup = name, fn, setup
        self.as_user, self.what = as_user, what


def check(what, setup=None, as_user=False):
    """Register fn as a check named after it (without the 'c_' prefix)."""
    def reg(fn):
        name = fn.__name__[2:]
        CHECKS[name] = Check(name, fn, setup, as_user, what)
        return fn
    return reg


def ev(fn, *args, **kw):
    """fn(*args): 'ok' (or its result if not None), else the errno name."""
    try:
        r = fn(*args, **kw)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    return 'ok' if r is None else r


def run_check(c, base):
    o = {}
    c.fn(base, o)
    return o


def write(path, data, mode=0o644):
    with open(path, 'wb') as f:
        f.write(data)
    os.chmod(path, mode)


def create(path, data):
    """Write a new file without a chmod: its owner may not be the caller."""
    with open(path, 'wb') as f:
        f.write(data)


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def mode_of(path, follow=False):
    st = os.stat(path) if follow else os.lstat(path)
    return '%o' % stat.S_IMODE(st.st_mode)


class Timespec(ctypes.Structure):
    _fields_ = [('tv_sec', ctypes.c_long), ('tv_nsec', ctypes.c_long)]


def utimensat(path, atime, mtime, flags=0):
    """atime/mtime: (sec, nsec); nsec may be UTIME_OMIT or UTIME_NOW."""
    times = (Timespec * 2)(Timespec(*atime), Timespec(*mtime))
    if libc.utimensat(AT_FDCWD, os.fsencode(path), times, flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)


def lchmod(path, mode):
    """fchmodat(AT_SYMLINK_NOFOLLOW): Python refuses it on Linux."""
    libc.fchmodat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint,
                              ctypes.c_int]
    if libc.fchmodat(AT_FDCWD, os.fsencode(path), mode,
                     AT_SYMLINK_NOFOLLOW) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)


def j(base, *parts):
    return os.path.join(base, *parts)


# ---- open flags ------------------------------------------------------------

@check('open O_CREAT|O_EXCL: new, existing file, directory, dangling link')
def c_open_excl(b, o):
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY
    o['new'] = ev(lambda: os.close(os.open(j(b, 'f'), flags, 0o644)))
    o['again'] = ev(lambda: os.close(os.open(j(b, 'f'), flags, 0o644)))
    os.mkdir(j(b, 'd'))
    o['dir'] = ev(lambda: os.close(os.open(j(b, 'd'), flags, 0o644)))
    os.symlink('nowhere', j(b, 'dangling'))
    o['dangling'] = ev(lambda: os.close(os.open(j(b, 'dangling'), flags)))
    o['target_made'] = os.path.lexists(j(b, 'nowhere'))
    # Without O_EXCL, O_CREAT through a dangling link creates its target.
    o['creat_via_link'] = ev(lambda: os.close(
        os.open(j(b, 'dangling'), os.O_CREAT | os.O_WRONLY, 0o600)))
    o['target_after'] = os.path.isfile(j(b, 'nowhere'))
    o['missing_no_creat'] = ev(os.open, j(b, 'missing'), os.O_RDONLY)
    o['creat_in_missing_dir'] = ev(os.open, j(b, 'no', 'f'),
                                   os.O_CREAT | os.O_WRONLY)
    o['open_dir_for_write'] = ev(os.open, j(b, 'd'), os.O_WRONLY)
    o['o_directory_on_file'] = ev(os.open, j(b, 'f'),
                                  os.O_RDONLY | os.O_DIRECTORY)


@check('open O_TRUNC: size 0, old data gone; O_RDONLY|O_TRUNC')
def c_open_trunc(b, o):
    write(j(b, 'f'), b'x' * 10000)
    fd = os.open(j(b, 'f'), os.O_WRONLY | os.O_TRUNC)
    o['size_open'] = os.fstat(fd).st_size
    os.write(fd, b'new')
    os.close(fd)
    o['content'] = read(j(b, 'f')).decode()
    o['size'] = os.stat(j(b, 'f')).st_size


@check('O_APPEND from two fds, two threads: no record lost or torn')
def c_append_concurrent(b, o):
    write(j(b, 'log'), b'')
    n, size = 300, 64
    fds = [os.open(j(b, 'log'), os.O_WRONLY | os.O_APPEND) for _ in range(2)]

    def writer(k):
        for i in range(n):
            rec = ('%s%05d' % ('AB'[k], i)).encode().ljust(size - 1, b'.')
            os.write(fds[k], rec + b'\n')
    ts = [threading.Thread(target=writer, args=(k,)) for k in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for fd in fds:
        os.close(fd)
    data = read(j(b, 'log'))
    recs = data.split(b'\n')[:-1]
    o['size'] = len(data)
    o['records'] = len(recs)
    o['intact'] = all(len(r) == size - 1 for r in recs)
    o['each_once'] = sorted(r[:6] for r in recs) == sorted(
        ('%s%05d' % (c, i)).encode() for c in 'AB' for i in range(n))
    # A writer's own records stay in its order.
    o['ordered'] = all(
        [r[:6] for r in recs if r[:1] == c] ==
        [('%s%05d' % (c.decode(), i)).encode() for i in range(n)]
        for c in (b'A', b'B'))


@check('O_APPEND: a write goes to the end even after lseek/pwrite offset')
def c_append_seek(b, o):
    write(j(b, 'f'), b'0123456789')
    fd = os.open(j(b, 'f'), os.O_RDWR | os.O_APPEND)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, b'END')
    o['offset_after'] = os.lseek(fd, 0, os.SEEK_CUR)
    os.close(fd)
    o['content'] = read(j(b, 'f')).decode()


# ---- rename ------------------------------------------------------------------

def setup_rename(b, user):
    write(j(b, 'a'), b'A')
    write(j(b, 'b'), b'B')
    for d in ('d1', 'd2', 'full', 'full/sub', 'e1', 'e2'):
        os.mkdir(j(b, d))
    write(j(b, 'full', 'x'), b'x')


@check('rename over files and directories, and its errors', setup_rename)
def c_rename(b, o):
    o['file_over_file'] = ev(os.rename, j(b, 'a'), j(b, 'b'))
    o['content'] = read(j(b, 'b')).decode()
    o['old_gone'] = not os.path.lexists(j(b, 'a'))
    o['file_over_dir'] = ev(os.rename, j(b, 'b'), j(b, 'd1'))
    o['dir_over_file'] = ev(os.rename, j(b, 'd1'), j(b, 'b'))
    o['dir_over_nonempty'] = ev(os.rename, j(b, 'd1'), j(b, 'full'))
    o['dir_over_empty'] = ev(os.rename, j(b, 'e1'), j(b, 'e2'))
    o['e1_gone'] = not os.path.lexists(j(b, 'e1'))
    o['dir_into_itself'] = ev(os.rename, j(b, 'full'), j(b, 'full', 'in'))
    o['dir_into_child'] = ev(os.rename, j(b, 'full'),
                             j(b, 'full', 'sub', 'in'))
    o['missing'] = ev(os.rename, j(b, 'nope'), j(b, 'x'))
    o['into_missing_dir'] = ev(os.rename, j(b, 'b'), j(b, 'nodir', 'b'))
    o['through_file'] = ev(os.rename, j(b, 'b'), j(b, 'b', 'c'))
    o['same_name'] = ev(os.rename, j(b, 'b'), j(b, 'b'))
    os.link(j(b, 'b'), j(b, 'b2'))
    # Two names of one file: rename does nothing, both stay.
    o['onto_own_link'] = ev(os.rename, j(b, 'b'), j(b, 'b2'))
    o['both_stay'] = sorted(n for n in os.listdir(b) if n.startswith('b'))
    o['dir_moves_with_content'] = ev(os.rename, j(b, 'full'), j(b, 'd2', 'f'))
    o['moved_child'] = read(j(b, 'd2', 'f', 'x')).decode()
    o['listing'] = sorted(os.listdir(b))


@check('unlink and rmdir errors')
def c_unlink_rmdir(b, o):
    os.mkdir(j(b, 'd'))
    os.mkdir(j(b, 'full'))
    write(j(b, 'full', 'f'), b'')
    write(j(b, 'f'), b'')
    o['unlink_dir'] = ev(os.unlink, j(b, 'd'))
    o['unlink_missing'] = ev(os.unlink, j(b, 'missing'))
    o['unlink_through_file'] = ev(os.unlink, j(b, 'f', 'x'))
    o['rmdir_file'] = ev(os.rmdir, j(b, 'f'))
    o['rmdir_nonempty'] = ev(os.rmdir, j(b, 'full'))
    o['rmdir_missing'] = ev(os.rmdir, j(b, 'missing'))
    o['rmdir_dot'] = ev(os.rmdir, j(b, 'd', '.'))
    o['rmdir_ok'] = ev(os.rmdir, j(b, 'd'))
    o['unlink_ok'] = ev(os.unlink, j(b, 'f'))
    o['listing'] = sorted(os.listdir(b))
    o['mkdir_existing'] = ev(os.mkdir, j(b, 'full'))
    o['mkdir_in_missing'] = ev(os.mkdir, j(b, 'no', 'd'))


# ---- symlinks, hard links ------------------------------------------------------

@check('symlink/readlink: relative, dangling, long targets, errors')
def c_symlink(b, o):
    write(j(b, 'f'), b'data')
    o['make'] = ev(os.symlink, 'f', j(b, 'l'))
    o['readlink'] = os.readlink(j(b, 'l'))
    o['follow'] = read(j(b, 'l')).decode()
    o['lstat_size'] = os.lstat(j(b, 'l')).st_size
    o['lstat_is_link'] = stat.S_ISLNK(os.lstat(j(b, 'l')).st_mode)
    o['dangling'] = ev(os.symlink, 'no/such', j(b, 'dang'))
    o['dangling_stat'] = ev(lambda: os.stat(j(b, 'dang')) and None)
    o['dangling_readlink'] = os.readlink(j(b, 'dang'))
    o['exists'] = ev(os.symlink, 'x', j(b, 'f'))
    o['readlink_file'] = ev(os.readlink, j(b, 'f'))
    long_target = ('a/' * 2047) + 'b'          # 4095 bytes: PATH_MAX - 1
    o['long_make'] = ev(os.symlink, long_target, j(b, 'long'))
    o['long_readlink'] = os.readlink(j(b, 'long')) == long_target
    o['long_size'] = os.lstat(j(b, 'long')).st_size
    o['too_long'] = ev(os.symlink, 'x' * 4096, j(b, 'toolong'))
    o['odd_target'] = ev(os.symlink, ' sp ace\nnl é', j(b, 'odd'))
    o['odd_readlink'] = os.readlink(j(b, 'odd'))
    o['loop'] = ev(os.symlink, 'loop', j(b, 'loop'))
    o['loop_stat'] = ev(lambda: os.stat(j(b, 'loop')) and None)
    o['mode'] = mode_of(j(b, 'l'))


@check('hard links: nlink counts, shared data, errors')
def c_hardlink(b, o):
    write(j(b, 'a'), b'one')
    o['link'] = ev(os.link, j(b, 'a'), j(b, 'b'))
    o['nlink_a'] = os.stat(j(b, 'a')).st_nlink
    o['nlink_b'] = os.stat(j(b, 'b')).st_nlink
    o['link2'] = ev(os.link, j(b, 'b'), j(b, 'c'))
    o['nlink_3'] = [os.stat(j(b, n)).st_nlink for n in 'abc']
    with open(j(b, 'c'), 'ab') as f:
        f.write(b' two')
    o['shared'] = read(j(b, 'a')).decode()
    os.unlink(j(b, 'a'))
    o['after_unlink'] = [os.stat(j(b, n)).st_nlink for n in 'bc']
    o['exists'] = ev(os.link, j(b, 'b'), j(b, 'c'))
    o['missing'] = ev(os.link, j(b, 'a'), j(b, 'z'))
    os.mkdir(j(b, 'd'))
    o['dir'] = ev(os.link, j(b, 'd'), j(b, 'dl'))
    o['listing'] = sorted(os.listdir(b))


@check('hard links: one inode; a change through one name shows through the '
       'other at once; rename onto another link; unlink while open')
def c_hardlink_inode(b, o):
    write(j(b, 'a'), b'one')
    os.mkdir(j(b, 'd'))
    os.link(j(b, 'a'), j(b, 'd', 'b'))
    ino = os.stat(j(b, 'a')).st_ino
    o['same_ino'] = os.stat(j(b, 'd', 'b')).st_ino == ino
    o['listed_ino'] = [e.inode() == ino for e in os.scandir(j(b, 'd'))]
    os.chmod(j(b, 'd', 'b'), 0o600)
    o['chmod_other'] = mode_of(j(b, 'a'))
    os.chown(j(b, 'a'), 1234, 4321)
    st = os.stat(j(b, 'd', 'b'))
    o['chown_other'] = (st.st_uid, st.st_gid)
    os.utime(j(b, 'a'), (1_000_000_000, 1_100_000_000))
    o['utime_other'] = os.stat(j(b, 'd', 'b')).st_mtime_ns
    os.truncate(j(b, 'd', 'b'), 2)
    o['truncate_other'] = os.stat(j(b, 'a')).st_size
    with open(j(b, 'd', 'b'), 'ab') as f:
        f.write(b'xyz')
    o['write_other'] = (os.stat(j(b, 'a')).st_size, read(j(b, 'a')).decode())
    o['ctime_same'] = (os.stat(j(b, 'a')).st_ctime ==
                       os.stat(j(b, 'd', 'b')).st_ctime)
    # Two names of one file: rename does nothing, both stay.
    o['rename_onto_link'] = ev(os.rename, j(b, 'a'), j(b, 'd', 'b'))
    o['both_stay'] = [os.path.exists(j(b, 'a')),
                      os.path.exists(j(b, 'd', 'b'))]
    o['nlink'] = [os.stat(j(b, n)).st_nlink for n in ('a', 'd/b')]
    # The name it is open by goes: the data stays, through the other too.
    fd = os.open(j(b, 'a'), os.O_RDWR)
    try:
        os.unlink(j(b, 'a'))
        o['listing'] = sorted(os.listdir(b))
        o['fd_read'] = os.pread(fd, 100, 0).decode()
        os.pwrite(fd, b'O', 0)
        os.fsync(fd)
        o['other_read'] = read(j(b, 'd', 'b')).decode()
        st = os.fstat(fd)
        o['fd_nlink'] = st.st_nlink
        o['fd_same_ino'] = st.st_ino == os.stat(j(b, 'd', 'b')).st_ino
    finally:
        os.close(fd)
    o['after_close'] = (sorted(os.listdir(b)), os.listdir(j(b, 'd')),
                        os.stat(j(b, 'd', 'b')).st_nlink)


def setup_nlink_server(b, user):
    write(j(b, 'a'), b'x')
    os.link(j(b, 'a'), j(b, 'b'))
    os.link(j(b, 'a'), j(b, 'c'))
    os.mkdir(j(b, 'd'))
    os.mkdir(j(b, 'd', 's1'))
    os.mkdir(j(b, 'd', 's2'))


@check('link counts of files linked elsewhere: after a listing, and not',
       setup_nlink_server)
def c_nlink_existing(b, o):
    o['stat_first'] = os.stat(j(b, 'c')).st_nlink
    os.listdir(b)
    o['after_listing'] = [os.stat(j(b, n)).st_nlink for n in 'ab']
    o['dir'] = os.stat(j(b, 'd')).st_nlink


# ---- attributes --------------------------------------------------------------

@check('chmod, chown, utimens (whole seconds, UTIME_OMIT, UTIME_NOW)')
def c_attrs(b, o):
    write(j(b, 'f'), b'x')
    for m in (0o600, 0o751, 0o4755, 0o2755, 0o1777, 0):
        os.chmod(j(b, 'f'), m)
        o['chmod_%o' % m] = mode_of(j(b, 'f'))
    os.mkdir(j(b, 'd'))
    os.chmod(j(b, 'd'), 0o3750)
    o['chmod_dir'] = mode_of(j(b, 'd'))
    os.chmod(j(b, 'f'), 0o644)
    os.chown(j(b, 'f'), 1234, 4321)
    st = os.stat(j(b, 'f'))
    o['chown'] = (st.st_uid, st.st_gid)
    os.chown(j(b, 'f'), -1, 99)
    st = os.stat(j(b, 'f'))
    o['chgrp_only'] = (st.st_uid, st.st_gid)
    os.utime(j(b, 'f'), (1_000_000_000, 1_100_000_000))
    st = os.stat(j(b, 'f'))
    o['utime'] = (st.st_atime_ns, st.st_mtime_ns)
    utimensat(j(b, 'f'), (0, UTIME_OMIT), (1_200_000_000, 0))
    st = os.stat(j(b, 'f'))
    o['omit_atime'] = (st.st_atime_ns, st.st_mtime_ns)
    utimensat(j(b, 'f'), (1_300_000_000, 0), (0, UTIME_OMIT))
    st = os.stat(j(b, 'f'))
    o['omit_mtime'] = (st.st_atime_ns, st.st_mtime_ns)
    utimensat(j(b, 'f'), (0, UTIME_OMIT), (0, UTIME_OMIT))
    st = os.stat(j(b, 'f'))
    o['omit_both'] = (st.st_atime_ns, st.st_mtime_ns)
    utimensat(j(b, 'f'), (0, UTIME_OMIT), (0, UTIME_NOW))
    st = os.stat(j(b, 'f'))
    o['now_mtime'] = (st.st_atime_ns, abs(st.st_mtime - time.time()) < 5)
    o['utime_dir'] = ev(os.utime, j(b, 'd'), (1_000_000_000, 1_000_000_000))
    o['utime_dir_mtime'] = os.stat(j(b, 'd')).st_mtime_ns
    o['chmod_missing'] = ev(os.chmod, j(b, 'missing'), 0o600)


@check('sub-second times (SFTP v3 carries whole seconds)')
def c_subsecond(b, o):
    write(j(b, 'f'), b'x')
    os.utime(j(b, 'f'), ns=(1_000_000_000_250_000_000,
                            1_100_000_000_500_000_000))
    st = os.stat(j(b, 'f'))
    o['atime_ns'] = st.st_atime_ns
    o['mtime_ns'] = st.st_mtime_ns


@check('ctime moves on chmod (SFTP v3 has no ctime)')
def c_ctime(b, o):
    write(j(b, 'f'), b'x')
    os.utime(j(b, 'f'), (1_000_000_000, 1_000_000_000))
    os.chmod(j(b, 'f'), 0o600)
    o['ctime_is_recent'] = abs(os.stat(j(b, 'f')).st_ctime - time.time()) < 60


def recent(t):
    return abs(t - time.time()) < 60


def aged(path):
    """Set path's times to 2001, so that a ctime or mtime that moves
    shows as recent."""
    os.utime(path, (1_000_000_000, 1_000_000_000))


@check('ctime moves on chown, link, rename, truncate, write, unlink of '
       'another name; never goes back')
def c_ctime_changes(b, o):
    for n in ('own', 'lnk', 'ren', 'trunc', 'wr', 'other'):
        write(j(b, n), b'data')
        aged(j(b, n))
    os.link(j(b, 'other'), j(b, 'other2'))
    before = {n: os.stat(j(b, n)).st_ctime
              for n in ('own', 'lnk', 'ren', 'trunc', 'wr', 'other')}
    time.sleep(1.1)             # ctimes have whole seconds on rfs
    os.chown(j(b, 'own'), 1234, 1234)
    os.link(j(b, 'lnk'), j(b, 'lnk2'))
    os.rename(j(b, 'ren'), j(b, 'ren2'))
    os.truncate(j(b, 'trunc'), 1)
    with open(j(b, 'wr'), 'r+b') as f:
        f.write(b'D')
    os.unlink(j(b, 'other2'))
    for k, n, was in (('chown', 'own', 'own'), ('link', 'lnk', 'lnk'),
                      ('rename', 'ren2', 'ren'),
                      ('truncate', 'trunc', 'trunc'), ('write', 'wr', 'wr'),
                      ('unlink_other', 'other', 'other')):
        o[k] = os.stat(j(b, n)).st_ctime > before[was]
    st = os.stat(j(b, 'own'))
    os.utime(j(b, 'own'), (1_000_000_000, 1_000_000_000))
    o['not_back'] = os.stat(j(b, 'own')).st_ctime >= st.st_ctime
    # a listing (readdirplus: attributes too) does not take it back
    st = os.stat(j(b, 'own'))
    for e in os.scandir(b):
        e.stat(follow_symlinks=False)
    o['not_back_listing'] = os.stat(j(b, 'own')).st_ctime >= st.st_ctime


@check('a directory\'s mtime after entries are made, linked, renamed and '
       'removed in it')
def c_parent_mtime(b, o):
    os.mkdir(j(b, 'd'))
    os.mkdir(j(b, 'e'))
    write(j(b, 'd', 'x'), b'x')
    os.mkdir(j(b, 'd', 'sub'))
    steps = (('create', lambda: write(j(b, 'd', 'new'), b'n')),
             ('mkdir', lambda: os.mkdir(j(b, 'd', 'dir2'))),
             ('link', lambda: os.link(j(b, 'd', 'x'), j(b, 'd', 'y'))),
             ('symlink', lambda: os.symlink('x', j(b, 'd', 'l'))),
             ('rename', lambda: os.rename(j(b, 'd', 'y'), j(b, 'd', 'z'))),
             ('rename_out', lambda: os.rename(j(b, 'd', 'z'),
                                              j(b, 'e', 'z'))),
             ('unlink', lambda: os.unlink(j(b, 'd', 'new'))),
             ('rmdir', lambda: os.rmdir(j(b, 'd', 'sub'))))
    for k, fn in steps:
        os.stat(j(b, 'd'))          # cached, if anything caches it
        aged(j(b, 'd'))
        os.stat(j(b, 'd'))
        fn()
        o[k] = recent(os.stat(j(b, 'd')).st_mtime)


@check('directory link counts: made here, after mkdir, rmdir and rename '
       'of subdirectories')
def c_dir_nlink(b, o):
    os.mkdir(j(b, 'd'))
    os.mkdir(j(b, 'e'))
    o['new'] = os.stat(j(b, 'd')).st_nlink
    os.mkdir(j(b, 'd', 's1'))
    os.mkdir(j(b, 'd', 's2'))
    o['two_subdirs'] = os.stat(j(b, 'd')).st_nlink
    os.rmdir(j(b, 'd', 's1'))
    o['rmdir'] = os.stat(j(b, 'd')).st_nlink
    os.rename(j(b, 'd', 's2'), j(b, 'e', 's2'))
    o['moved_from'] = os.stat(j(b, 'd')).st_nlink
    o['moved_to'] = os.stat(j(b, 'e')).st_nlink


@check('an open file unlinked: fstat shows nlink 0, data still readable')
def c_unlinked_open(b, o):
    write(j(b, 'f'), b'still here')
    fd = os.open(j(b, 'f'), os.O_RDWR)
    try:
        os.unlink(j(b, 'f'))
        o['nlink'] = os.fstat(fd).st_nlink
        o['data'] = os.pread(fd, 100, 0).decode()
    finally:
        os.close(fd)


def mkdir_deep(base, depth=20, name='d' * 250):
    """Directories made one in the other through dir fds (no path of the
    caller's is long): 'ok', or the errno name of the first that failed.
    20 x 250 bytes: past PATH_MAX."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            r = ev(os.mkdir, name, dir_fd=fd)
            if r != 'ok':
                return r
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)
    return 'ok'


@check('a path longer than PATH_MAX, made one directory at a time')
def c_long_path(b, o):
    o['deep_mkdir'] = mkdir_deep(b)


@check('mmap: a shared writable mapping reaches the file; a private one '
       'does not')
def c_mmap(b, o):
    import mmap
    write(j(b, 'f'), b'0123456789' * 1000)
    with open(j(b, 'f'), 'r+b') as f:
        m = mmap.mmap(f.fileno(), 10000, mmap.MAP_SHARED)
        m[0:5] = b'SHARE'
        m.flush()
        m.close()
        p = mmap.mmap(f.fileno(), 10000, mmap.MAP_PRIVATE)
        p[5:10] = b'PRIVT'
        p.close()
    o['after'] = read(j(b, 'f'))[:12].decode()


@check('flock and fcntl locks between two descriptors of this machine')
def c_locks(b, o):
    import fcntl
    write(j(b, 'f'), b'x')
    a = os.open(j(b, 'f'), os.O_RDWR)
    c = os.open(j(b, 'f'), os.O_RDWR)
    try:
        fcntl.flock(a, fcntl.LOCK_EX)
        o['flock_busy'] = ev(fcntl.flock, c, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(a, fcntl.LOCK_UN)
        o['flock_free'] = ev(fcntl.flock, c, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.lockf(a, fcntl.LOCK_EX)
        o['lockf_own'] = ev(fcntl.lockf, c, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(a)
        os.close(c)


@check('times beyond 2106 (SFTP v3: unsigned 32-bit seconds)')
def c_time_range(b, o):
    write(j(b, 'f'), b'x')
    aged(j(b, 'f'))
    o['utime_2200'] = ev(os.utime, j(b, 'f'), (7_258_118_400, 7_258_118_400))
    o['mtime_after'] = os.stat(j(b, 'f')).st_mtime_ns


@check('chown and utimens of a symlink itself (lsetstat)')
def c_symlink_attrs(b, o):
    write(j(b, 'f'), b'x')
    os.utime(j(b, 'f'), (1_000_000_000, 1_000_000_000))
    os.symlink('f', j(b, 'l'))
    o['lchown'] = ev(os.chown, j(b, 'l'), 1234, 4321, follow_symlinks=False)
    st = os.lstat(j(b, 'l'))
    o['link_owner'] = (st.st_uid, st.st_gid)
    st = os.stat(j(b, 'f'))
    o['target_owner'] = (st.st_uid, st.st_gid)
    o['lutimes'] = ev(os.utime, j(b, 'l'), (1_500_000_000, 1_600_000_000),
                      follow_symlinks=False)
    st = os.lstat(j(b, 'l'))
    o['link_times'] = (int(st.st_atime), int(st.st_mtime))
    st = os.stat(j(b, 'f'))
    o['target_times'] = (int(st.st_atime), int(st.st_mtime))
    o['lchmod'] = ev(lchmod, j(b, 'l'), 0o600)
    o['link_mode'] = mode_of(j(b, 'l'))
    o['target_mode'] = mode_of(j(b, 'f'))
    # chmod through the link changes the target only.
    os.chmod(j(b, 'l'), 0o640)
    o['chmod_follows'] = (mode_of(j(b, 'l')), mode_of(j(b, 'f')))


@check('suid/sgid as root: kept on write, cleared on chown')
def c_suid_root(b, o):
    write(j(b, 'f'), b'x', 0o6755)
    with open(j(b, 'f'), 'ab') as f:
        f.write(b'y')
    o['after_write'] = mode_of(j(b, 'f'))
    os.chown(j(b, 'f'), 1234, 1234)
    o['after_chown'] = mode_of(j(b, 'f'))
    write(j(b, 'g'), b'x', 0o2745)      # sgid without group x: a lock mark
    os.chown(j(b, 'g'), 1234, 1234)
    o['sgid_no_gx_after_chown'] = mode_of(j(b, 'g'))
    os.mkdir(j(b, 'd'))
    os.chmod(j(b, 'd'), 0o2755)
    os.chown(j(b, 'd'), 1234, 1234)
    o['dir_sgid_after_chown'] = mode_of(j(b, 'd'))


@check('create and mkdir modes are exact with umask 0 (server umask ignored)')
def c_create_mode(b, o):
    old = os.umask(0)
    try:
        os.close(os.open(j(b, 'f777'), os.O_CREAT | os.O_WRONLY, 0o777))
        os.close(os.open(j(b, 'f666'), os.O_CREAT | os.O_WRONLY, 0o666))
        os.mkdir(j(b, 'd777'), 0o777)
        os.mkdir(j(b, 'd1777'), 0o1777)
        os.mknod(j(b, 'n'), stat.S_IFREG | 0o757)
    finally:
        os.umask(old)
    for n in ('f777', 'f666', 'd777', 'd1777', 'n'):
        o[n] = mode_of(j(b, n))
    os.close(os.open(j(b, 'umask022'), os.O_CREAT | os.O_WRONLY, 0o777))
    o['umask022'] = mode_of(j(b, 'umask022'))


# ---- sizes -----------------------------------------------------------------

@check('truncate grow and shrink; holes read as zeros')
def c_truncate(b, o):
    write(j(b, 'f'), b'abcdef')
    os.truncate(j(b, 'f'), 100000)
    data = read(j(b, 'f'))
    o['grown'] = (len(data), data[:6].decode(), data[6:] == bytes(99994))
    os.truncate(j(b, 'f'), 3)
    o['shrunk'] = read(j(b, 'f')).decode()
    fd = os.open(j(b, 'f'), os.O_RDWR)
    os.ftruncate(fd, 10)
    o['ftruncate_read'] = os.pread(fd, 100, 0)
    os.pwrite(fd, b'Z', 20)
    os.close(fd)
    o['after'] = read(j(b, 'f'))
    o['negative'] = ev(os.truncate, j(b, 'f'), -1)
    o['missing'] = ev(os.truncate, j(b, 'missing'), 0)
    os.mkdir(j(b, 'd'))
    o['dir'] = ev(os.truncate, j(b, 'd'), 0)


@check('absurd truncate sizes: EFBIG/EINVAL, file unchanged')
def c_truncate_absurd(b, o):
    write(j(b, 'f'), b'keep')
    o['max'] = ev(os.truncate, j(b, 'f'), (1 << 63) - 1)
    o['2^62'] = ev(os.truncate, j(b, 'f'), 1 << 62)
    o['content'] = read(j(b, 'f')).decode()


@check('sparse file: data far out, hole reads as zeros, blocks allocated')
def c_sparse(b, o):
    fd = os.open(j(b, 'f'), os.O_CREAT | os.O_RDWR, 0o644)
    os.pwrite(fd, b'tail', 8 << 20)
    os.close(fd)
    st = os.stat(j(b, 'f'))
    o['size'] = st.st_size
    o['sparse'] = st.st_blocks * 512 < st.st_size // 2
    with open(j(b, 'f'), 'rb') as f:
        f.seek(4 << 20)
        o['hole'] = f.read(65536) == bytes(65536)
        f.seek((8 << 20) - 2)
        o['edge'] = f.read(10)


@check('file larger than 4 GiB: sparse, written at the end offset')
def c_big_file(b, o):
    fd = os.open(j(b, 'f'), os.O_CREAT | os.O_RDWR, 0o644)
    end = 5 * GiB + 12345
    o['pwrite'] = os.pwrite(fd, b'end!', end)
    o['fstat_size'] = os.fstat(fd).st_size
    o['read_end'] = os.pread(fd, 10, end)
    o['read_4g'] = os.pread(fd, 8, 4 * GiB) == bytes(8)
    os.close(fd)
    o['size'] = os.stat(j(b, 'f')).st_size
    os.truncate(j(b, 'f'), 4 * GiB + 1)
    o['truncated'] = os.stat(j(b, 'f')).st_size
    with open(j(b, 'f'), 'rb') as f:
        f.seek(4 * GiB - 1)
        o['read_tail'] = f.read(10)


@check('500 files open at once, each written and read back')
def c_many_open(b, o):
    fds = []
    try:
        for i in range(500):
            fds.append(os.open(j(b, 'f%03d' % i), os.O_CREAT | os.O_RDWR,
                               0o644))
        for i, fd in enumerate(fds):
            os.write(fd, b'file %d' % i)
        o['read_back'] = all(os.pread(fd, 100, 0) == b'file %d' % i
                             for i, fd in enumerate(fds))
    finally:
        for fd in fds:
            os.close(fd)
    o['opened'] = len(fds)
    o['after_close'] = all(read(j(b, 'f%03d' % i)) == b'file %d' % i
                           for i in range(500))
    o['listed'] = len(os.listdir(b))


# ---- names -------------------------------------------------------------------

NAMES = ['with space', ' lead and trail ', 'new\nline', 'tab\there',
         'utf8-\u00e9\u00e8\u4e2d\U0001f600', 'x' * 255,
         '\u00e9' * 127 + 'x', '-dash', '.dot', 'back\\slash',
         'quote"\'', 'latin1-\udce9']     # the last: byte 0xe9, not UTF-8


@check('names: spaces, newlines, UTF-8, invalid UTF-8, 255-byte components')
def c_names(b, o):
    os.mkdir(j(b, 'dirs'))
    for i, n in enumerate(NAMES):
        k = 'name%d' % i
        o[k + '_create'] = ev(write, j(b, n), n.encode('utf-8',
                                                        'surrogateescape'))
        o[k + '_read'] = ev(lambda: read(j(b, n)) == n.encode(
            'utf-8', 'surrogateescape'))
        o[k + '_mkdir'] = ev(os.mkdir, j(b, 'dirs', n))
    listing = os.listdir(b)
    o['all_listed'] = all(n in listing for n in NAMES)
    o['dirs_listed'] = sorted(os.listdir(j(b, 'dirs'))) == sorted(NAMES)
    o['count'] = len(listing)
    o['rename_odd'] = ev(os.rename, j(b, NAMES[2]), j(b, NAMES[4] + '2'))
    o['unlink_all'] = [ev(os.unlink, j(b, n)) for n in NAMES[3:]]


@check('ENAMETOOLONG for a 256-byte component, in every operation')
def c_name_too_long(b, o):
    long_ = 'y' * 256
    utf = '\u00e9' * 128            # 256 bytes in 128 characters
    write(j(b, 'f'), b'x')
    os.mkdir(j(b, 'd'))
    for tag, n in (('ascii', long_), ('utf8', utf)):
        o[tag + '_create'] = ev(os.open, j(b, n), os.O_CREAT | os.O_WRONLY)
        o[tag + '_stat'] = ev(lambda: os.stat(j(b, n)) and None)
        o[tag + '_mkdir'] = ev(os.mkdir, j(b, n))
        o[tag + '_symlink'] = ev(os.symlink, 'f', j(b, n))
        o[tag + '_link'] = ev(os.link, j(b, 'f'), j(b, n))
        o[tag + '_rename'] = ev(os.rename, j(b, 'f'), j(b, n))
        o[tag + '_rename_dir'] = ev(os.rename, j(b, 'd'), j(b, 'd', n))
        o[tag + '_unlink'] = ev(os.unlink, j(b, n))
        o[tag + '_rmdir'] = ev(os.rmdir, j(b, n))
        o[tag + '_mknod'] = ev(os.mknod, j(b, n), stat.S_IFREG | 0o644)
    o['path_max'] = ev(os.stat, j(b, *(['z' * 200] * 21)))
    o['listing'] = sorted(os.listdir(b))


# ---- undecided corners -------------------------------------------------------

@check('mknod: regular files, fifos, sockets, devices; modes; names taken')
def c_mknod(b, o):
    o['regular'] = ev(os.mknod, j(b, 'r'), stat.S_IFREG | 0o600)
    o['regular_mode'] = mode_of(j(b, 'r'))
    o['regular_exists'] = ev(os.mknod, j(b, 'r'), stat.S_IFREG | 0o600)
    o['fifo'] = ev(os.mkfifo, j(b, 'p'))
    o['socket'] = ev(os.mknod, j(b, 's'), stat.S_IFSOCK | 0o600)
    o['chardev'] = ev(os.mknod, j(b, 'c'), stat.S_IFCHR | 0o600,
                      os.makedev(1, 3))
    o['blockdev'] = ev(os.mknod, j(b, 'k'), stat.S_IFBLK | 0o640,
                       os.makedev(7, 0))
    o['modes'] = [mode_of(j(b, n)) for n in 'psck']
    old = os.umask(0)
    try:
        o['fifo_sticky'] = ev(os.mkfifo, j(b, 'sticky'), 0o1751)
    finally:
        os.umask(old)
    o['fifo_sticky_mode'] = mode_of(j(b, 'sticky'))
    o['fifo_exists'] = ev(os.mkfifo, j(b, 'p'))
    o['socket_exists'] = ev(os.mknod, j(b, 'p'), stat.S_IFSOCK | 0o600)
    o['chardev_exists'] = ev(os.mknod, j(b, 'r'), stat.S_IFCHR | 0o600,
                             os.makedev(1, 3))
    o['fifo_no_dir'] = ev(os.mkfifo, j(b, 'none', 'p'))
    srv = socket.socket(socket.AF_UNIX)
    try:
        o['bind'] = ev(srv.bind, j(b, 'bound'))
        o['bound_type'] = stat.S_ISSOCK(os.lstat(j(b, 'bound')).st_mode)
    finally:
        srv.close()
    o['listing'] = sorted(os.listdir(b))


# Names a shell would take apart, run, or read as options.
SHELL_NAMES = ["it's", '$(touch PWNED)', '`touch PWNED`', 'x; touch PWNED',
               'two words', 'new\nline', '-rf', 'back\\slash\\\'', '*',
               '$HOME']


@check('fifos and sockets with names a shell would take apart or run')
def c_special_names(b, o):
    for n in SHELL_NAMES:
        o['fifo ' + n] = ev(os.mkfifo, j(b, 'p' + n))
        o['socket ' + n] = ev(os.mknod, j(b, 's' + n), stat.S_IFSOCK | 0o600)
    o['types'] = sorted((n, stat.S_IFMT(os.lstat(j(b, n)).st_mode))
                        for n in os.listdir(b))


@check('fallocate(2) and posix_fallocate(3)')
def c_fallocate(b, o):
    fd = os.open(j(b, 'f'), os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, b'abc')
    # posix_fallocate: glibc writes zeros itself where fallocate fails.
    o['posix_fallocate'] = ev(os.posix_fallocate, fd, 0, 100000)
    o['size'] = os.fstat(fd).st_size
    o['data'] = os.pread(fd, 4, 0)
    fallocate = libc.fallocate
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long,
                          ctypes.c_long]

    def fa(mode, off, ln):
        if fallocate(fd, mode, off, ln) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    o['fallocate'] = ev(fa, 0, 0, 200000)
    o['punch_hole'] = ev(fa, 0x01 | 0x02, 0, 4096)  # KEEP_SIZE|PUNCH_HOLE
    os.close(fd)


@check('SEEK_DATA and SEEK_HOLE on a sparse file')
def c_seek_hole(b, o):
    fd = os.open(j(b, 'f'), os.O_CREAT | os.O_RDWR, 0o644)
    os.pwrite(fd, b'x', 1 << 20)
    size = (1 << 20) + 1
    o['data_0'] = ev(os.lseek, fd, 0, os.SEEK_DATA)
    o['hole_0'] = ev(os.lseek, fd, 0, os.SEEK_HOLE)
    o['data_end'] = ev(os.lseek, fd, size, os.SEEK_DATA)
    o['hole_end'] = ev(os.lseek, fd, size, os.SEEK_HOLE)
    o['hole_last'] = ev(os.lseek, fd, size - 1, os.SEEK_HOLE)
    os.close(fd)


@check('O_TMPFILE')
def c_tmpfile(b, o):
    o['tmpfile'] = ev(lambda: os.close(os.open(b, os.O_TMPFILE | os.O_RDWR,
                                               0o600)))
    o['listing'] = sorted(os.listdir(b))


@check('extended attributes')
def c_xattr(b, o):
    write(j(b, 'f'), b'x')
    o['set'] = ev(os.setxattr, j(b, 'f'), 'user.rfs', b'v')
    o['get'] = ev(os.getxattr, j(b, 'f'), 'user.rfs')
    o['list'] = ev(os.listxattr, j(b, 'f'))


# ---- non-root callers (allow_other,default_permissions) ------------------------

def setup_perm(b, user):
    """Files of root and of the user, as a non-root caller finds them."""
    uid, gid = user
    os.chmod(b, 0o755)
    write(j(b, 'rootfile'), b'root', 0o644)
    write(j(b, 'secret'), b'secret', 0o600)
    os.mkdir(j(b, 'rootdir'))
    write(j(b, 'rootdir', 'f'), b'f', 0o666)
    os.mkdir(j(b, 'sticky'))
    os.chmod(j(b, 'sticky'), 0o1777)
    write(j(b, 'sticky', 'rootf'), b'', 0o666)
    os.mkdir(j(b, 'mine'))
    os.chown(j(b, 'mine'), uid, gid)
    for n, mode in (('userfile', 0o644), ('suid', 0o6775),
                    ('suid_t', 0o6775), ('sgid_nx', 0o2664)):
        write(j(b, 'mine', n), b'data', mode)
        os.chown(j(b, 'mine', n), uid, gid)
        os.chmod(j(b, 'mine', n), mode)     # chown cleared the bits


@check('a non-root caller: EACCES/EPERM where a local filesystem gives them',
       setup_perm, as_user=True)
def c_nonroot(b, o):
    o['read_rootfile'] = ev(lambda: read(j(b, 'rootfile')).decode())
    o['read_secret'] = ev(lambda: read(j(b, 'secret')))
    o['write_rootfile'] = ev(os.open, j(b, 'rootfile'), os.O_WRONLY)
    o['create_in_rootdir'] = ev(os.open, j(b, 'rootdir', 'new'),
                                os.O_CREAT | os.O_WRONLY, 0o644)
    o['mkdir_in_rootdir'] = ev(os.mkdir, j(b, 'rootdir', 'nd'))
    o['unlink_in_rootdir'] = ev(os.unlink, j(b, 'rootdir', 'f'))
    o['rename_in_rootdir'] = ev(os.rename, j(b, 'rootdir', 'f'),
                                j(b, 'rootdir', 'g'))
    o['write_0666_in_rootdir'] = ev(create, j(b, 'rootdir', 'f'), b'w')
    o['chmod_rootfile'] = ev(os.chmod, j(b, 'rootfile'), 0o666)
    o['chown_rootfile'] = ev(os.chown, j(b, 'rootfile'), os.getuid(), -1)
    o['utime_rootfile'] = ev(os.utime, j(b, 'rootfile'), (1, 1))
    o['touch_rootfile'] = ev(os.utime, j(b, 'rootfile'))
    o['truncate_rootfile'] = ev(os.truncate, j(b, 'rootfile'), 0)
    o['access_w_rootfile'] = os.access(j(b, 'rootfile'), os.W_OK)
    o['access_r_secret'] = os.access(j(b, 'secret'), os.R_OK)
    o['unlink_sticky_root'] = ev(os.unlink, j(b, 'sticky', 'rootf'))
    o['create_in_sticky'] = ev(create, j(b, 'sticky', 'u'), b'u')
    # Own files.
    mine = j(b, 'mine')
    o['chmod_own'] = ev(os.chmod, j(mine, 'userfile'), 0o600)
    o['chown_own_to_root'] = ev(os.chown, j(mine, 'userfile'), 0, -1)
    o['chgrp_own_to_own'] = ev(os.chown, j(mine, 'userfile'), -1,
                               os.getgid())
    o['chgrp_own_to_root'] = ev(os.chown, j(mine, 'userfile'), -1, 0)
    o['utime_own'] = ev(os.utime, j(mine, 'userfile'), (1, 100))
    o['utime_own_mtime'] = int(os.stat(j(mine, 'userfile')).st_mtime)
    o['setgid_own_group'] = ev(os.chmod, j(mine, 'userfile'), 0o2644)
    o['setgid_kept'] = mode_of(j(mine, 'userfile'))
    o['new_file'] = ev(create, j(mine, 'new'), b'n')
    o['new_mkdir'] = ev(os.mkdir, j(mine, 'newd'))
    # suid/sgid: cleared by a write and by truncate of a non-root caller.
    with open(j(mine, 'suid'), 'ab') as f:
        f.write(b'more')
    o['suid_after_write'] = mode_of(j(mine, 'suid'))
    os.truncate(j(mine, 'suid_t'), 1)
    o['suid_after_truncate'] = mode_of(j(mine, 'suid_t'))
    with open(j(mine, 'sgid_nx'), 'ab') as f:
        f.write(b'more')
    o['sgid_nogx_after_write'] = mode_of(j(mine, 'sgid_nx'))


@check('files made by a non-root caller: owner and group',
       setup_perm, as_user=True)
def c_nonroot_owner(b, o):
    mine = j(b, 'mine')
    create(j(mine, 'new'), b'n')
    st = os.stat(j(mine, 'new'))
    o['owner_is_caller'] = st.st_uid == os.getuid()
    o['group_is_caller'] = st.st_gid == os.getgid()
    # Then its own file is its own: it may chmod it.
    o['chmod_new'] = ev(os.chmod, j(mine, 'new'), 0o600)
    # mkdir, symlink, mknod, and a setgid file (chown clears the bit:
    # the mode must be set again after it)
    os.mkdir(j(mine, 'dir'))
    os.symlink('new', j(mine, 'link'))
    os.mknod(j(mine, 'node'), 0o640 | stat.S_IFREG)
    os.mkfifo(j(mine, 'fifo'), 0o640)
    fd = os.open(j(mine, 'sg'), os.O_CREAT | os.O_WRONLY, 0o2750)
    os.close(fd)
    o['others'] = [(os.lstat(j(mine, n)).st_uid == os.getuid(),
                    os.lstat(j(mine, n)).st_gid == os.getgid())
                   for n in ('dir', 'link', 'node', 'fifo', 'sg')]
    o['setgid_kept'] = oct(os.stat(j(mine, 'sg')).st_mode & 0o7777)


if __name__ == '__main__':
    c = CHECKS[sys.argv[1]]
    json.dump(run_check(c, sys.argv[2]), sys.stdout)
