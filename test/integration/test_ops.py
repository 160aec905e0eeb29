"""One test per filesystem operation: what the mount shows and does must
match the backing directory on the server side."""

import ctypes
import errno
import os
import random
import stat
import time

from harness import (assert_same_stat, assert_errno, read_file, wait_for,
                     write_file)

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


class Timespec(ctypes.Structure):
    _fields_ = [('tv_sec', ctypes.c_long), ('tv_nsec', ctypes.c_long)]


def renameat2(old, new, flags):
    libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                               ctypes.c_char_p, ctypes.c_uint]
    if libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new),
                      flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


def utimensat(path, atime, mtime):
    """atime/mtime: (sec, nsec); nsec may be UTIME_OMIT or UTIME_NOW."""
    times = (Timespec * 2)(Timespec(*atime), Timespec(*mtime))
    if libc.utimensat(AT_FDCWD, os.fsencode(path), times, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)


def rand_bytes(n, seed):
    return random.Random(seed).randbytes(n)


# -- lookup / getattr --------------------------------------------------------

def test_getattr(rfs, remote):
    write_file(remote / 'f.txt', b'hello world\n', 0o640)
    os.chown(remote / 'f.txt', 1234, 4321)
    os.utime(remote / 'f.txt', (1_000_000_000, 1_234_567_890))
    (remote / 'd').mkdir()
    os.chmod(remote / 'd', 0o751)
    os.symlink('f.txt', remote / 'l')
    write_file(remote / 'exe', b'#!/bin/sh\n', 0o4755)
    m = rfs.mount()
    assert_same_stat(m.mnt, remote)
    for name in ('f.txt', 'd', 'l', 'exe'):
        assert_same_stat(m.path(name), remote / name)
    assert_same_stat(m.path('l'), remote / 'l', follow=True)
    st = os.stat(m.path('f.txt'))
    assert (st.st_uid, st.st_gid, st.st_size) == (1234, 4321, 12)
    assert int(st.st_mtime) == 1_234_567_890
    assert stat.S_ISLNK(os.lstat(m.path('l')).st_mode)
    assert stat.S_ISDIR(os.stat(m.path('d')).st_mode)
    assert_errno(errno.ENOENT, os.stat, m.path('missing'))
    assert_errno(errno.ENOENT, os.stat, m.path('d', 'missing'))
    assert_errno(errno.ENOTDIR, os.stat, m.path('f.txt', 'x'))


# -- readdir -------------------------------------------------------------------

NAMES = ['plain.txt', 'with space.txt', '  two  spaces  ',
         'ünïcödé-ファイル.txt', '.hidden', 'tab\there', 'ends-with-dot.']


def test_readdir(rfs, remote):
    for i, name in enumerate(NAMES):
        write_file(remote / name, name.encode() * (i + 1), 0o600 + i)
    (remote / 'dir one').mkdir()
    os.symlink('plain.txt', remote / 'link to plain')
    os.mkfifo(remote / 'fifo')
    many = remote / 'many'
    many.mkdir()
    for i in range(450):  # several READDIR replies' worth
        write_file(many / ('entry-%04d' % i), b'x' * (i % 7))
    m = rfs.mount()
    listed = os.listdir(m.mnt)
    assert sorted(listed) == sorted(os.listdir(remote))
    assert len(listed) == len(set(listed)), 'duplicate names'
    for name in listed:  # what `ls -l` shows
        assert_same_stat(m.path(name), remote / name)
    with os.scandir(m.mnt) as it:
        types = {e.name: (e.is_dir(follow_symlinks=False),
                          e.is_symlink()) for e in it}
    assert types['dir one'] == (True, False)
    assert types['link to plain'] == (False, True)
    assert types['plain.txt'] == (False, False)
    inner = os.listdir(m.path('many'))
    assert sorted(inner) == sorted(os.listdir(many))
    assert len(inner) == 450
    for name in random.Random(1).sample(inner, 40):
        assert_same_stat(m.path('many', name), many / name)
    assert os.listdir(m.path('dir one')) == []
    assert_errno(errno.ENOENT, os.listdir, m.path('nope'))
    assert_errno(errno.ENOTDIR, os.listdir, m.path('plain.txt'))


# -- open + read ---------------------------------------------------------------

def test_open_read(rfs, remote):
    data = rand_bytes(3 * 1024 * 1024 + 123, 'read')
    write_file(remote / 'big', data)
    write_file(remote / 'empty', b'')
    m = rfs.mount()
    assert read_file(m.path('big')) == data
    assert read_file(m.path('empty')) == b''
    fd = os.open(m.path('big'), os.O_RDONLY)
    try:
        rnd = random.Random(2)
        for _ in range(50):
            off = rnd.randrange(len(data))
            n = rnd.randrange(1, 200000)
            assert os.pread(fd, n, off) == data[off:off + n]
        assert os.pread(fd, 100, len(data) - 10) == data[-10:]
        assert os.pread(fd, 100, len(data)) == b''
        assert os.pread(fd, 100, len(data) + 5000) == b''
    finally:
        os.close(fd)
    assert_same_stat(m.path('big'), remote / 'big')
    assert_errno(errno.ENOENT, os.open, m.path('missing'), os.O_RDONLY)
    assert_errno(errno.EISDIR, os.open, m.mnt, os.O_WRONLY)


# -- create ----------------------------------------------------------------------

def test_create(rfs, remote):
    write_file(remote / 'pre', b'existing content')
    m = rfs.mount()
    fd = os.open(m.path('new'), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640)
    try:
        assert os.path.exists(remote / 'new'), 'not created on the server'
        os.write(fd, b'fresh')
    finally:
        os.close(fd)
    assert read_file(remote / 'new') == b'fresh'
    assert stat.S_IMODE(os.stat(remote / 'new').st_mode) == 0o640
    assert_same_stat(m.path('new'), remote / 'new')
    assert 'new' in os.listdir(m.mnt)
    # O_EXCL on a name that exists: made through the mount, and only on the
    # server side before the mount.
    for name in ('new', 'pre'):
        assert_errno(errno.EEXIST, os.open, m.path(name),
                     os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    assert read_file(remote / 'pre') == b'existing content'
    # O_TRUNC empties an existing file.
    os.close(os.open(m.path('pre'), os.O_WRONLY | os.O_TRUNC))
    assert read_file(remote / 'pre') == b''
    assert os.stat(m.path('pre')).st_size == 0
    write_file(remote / 'pre2', b'more content')
    fd = os.open(m.path('pre2'), os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o600)
    try:
        assert os.fstat(fd).st_size == 0
        os.write(fd, b'ab')
    finally:
        os.close(fd)
    assert read_file(remote / 'pre2') == b'ab'
    assert_same_stat(m.path('pre2'), remote / 'pre2')
    assert_errno(errno.ENOENT, os.open, m.path('nodir', 'x'),
                 os.O_CREAT | os.O_WRONLY, 0o600)


# -- write -----------------------------------------------------------------------

def test_write(rfs, remote):
    write_file(remote / 'w', b'0123456789')
    m = rfs.mount()
    fd = os.open(m.path('w'), os.O_WRONLY)
    try:
        assert os.pwrite(fd, b'AB', 2) == 2
        assert os.pwrite(fd, b'XYZ', 12) == 3  # leaves a 2-byte hole
    finally:
        os.close(fd)
    want = b'01AB456789\0\0XYZ'
    assert read_file(remote / 'w') == want
    assert read_file(m.path('w')) == want
    assert_same_stat(m.path('w'), remote / 'w')
    # A bigger sequential write in odd-sized pieces.
    data = rand_bytes(5 * 1024 * 1024 + 17, 'write')
    fd = os.open(m.path('seq'), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        pos = 0
        while pos < len(data):
            pos += os.write(fd, data[pos:pos + 100_003])
    finally:
        os.close(fd)
    assert read_file(remote / 'seq') == data
    assert_same_stat(m.path('seq'), remote / 'seq')


def test_append(rfs, remote):
    write_file(remote / 'log', b'hello\n')
    m = rfs.mount()
    fd = os.open(m.path('log'), os.O_WRONLY | os.O_APPEND)
    fd2 = os.open(m.path('log'), os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b'one\n')
        os.write(fd, b'two\n')
        os.write(fd2, b'three\n')  # lands after the others' appends
    finally:
        os.close(fd)
        os.close(fd2)
    assert read_file(remote / 'log') == b'hello\none\ntwo\nthree\n'
    assert read_file(m.path('log')) == b'hello\none\ntwo\nthree\n'
    assert_same_stat(m.path('log'), remote / 'log')


# -- truncate / ftruncate ------------------------------------------------------

def test_truncate(rfs, remote):
    write_file(remote / 't', b'abcdefghij')
    m = rfs.mount()
    os.truncate(m.path('t'), 4)
    assert read_file(remote / 't') == b'abcd'
    assert_same_stat(m.path('t'), remote / 't')
    os.truncate(m.path('t'), 100)
    want = b'abcd' + b'\0' * 96
    assert read_file(remote / 't') == want
    assert read_file(m.path('t')) == want
    assert_same_stat(m.path('t'), remote / 't')
    os.truncate(m.path('t'), 0)
    assert os.stat(remote / 't').st_size == 0
    assert os.stat(m.path('t')).st_size == 0


def test_ftruncate(rfs, remote):
    m = rfs.mount()
    fd = os.open(m.path('ft'), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.write(fd, b'1234567890')
        os.ftruncate(fd, 3)
        assert os.fstat(fd).st_size == 3
        assert os.pread(fd, 100, 0) == b'123'
        os.ftruncate(fd, 50)
        assert os.fstat(fd).st_size == 50
        assert os.pread(fd, 100, 0) == b'123' + b'\0' * 47
        os.fsync(fd)
        assert read_file(remote / 'ft') == b'123' + b'\0' * 47
    finally:
        os.close(fd)
    assert read_file(remote / 'ft') == b'123' + b'\0' * 47
    assert_same_stat(m.path('ft'), remote / 'ft')


# -- flush / close, fsync ------------------------------------------------------

def test_flush_close(rfs, remote):
    data = rand_bytes(1024 * 1024 + 5, 'flush')
    m = rfs.mount()
    fd = os.open(m.path('fc'), os.O_CREAT | os.O_WRONLY, 0o644)
    fd2 = os.dup(fd)
    os.write(fd, data)
    os.close(fd2)  # flush: the data is on the server, no waiting
    assert read_file(remote / 'fc') == data
    os.write(fd, b'tail')
    os.close(fd)
    assert read_file(remote / 'fc') == data + b'tail'
    assert_same_stat(m.path('fc'), remote / 'fc')


def test_fsync(rfs, remote):
    data = rand_bytes(256 * 1024 + 3, 'fsync')
    m = rfs.mount()
    fd = os.open(m.path('fs'), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
        assert read_file(remote / 'fs') == data  # while still open
        os.write(fd, b'more')
        os.fdatasync(fd)
        assert read_file(remote / 'fs') == data + b'more'
    finally:
        os.close(fd)
    dfd = os.open(m.mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)  # fsyncdir must not fail
    finally:
        os.close(dfd)
    assert_same_stat(m.path('fs'), remote / 'fs')


# -- mkdir / rmdir / unlink ----------------------------------------------------

def test_mkdir(rfs, remote):
    (remote / 'old').mkdir()
    write_file(remote / 'file', b'')
    m = rfs.mount()
    os.mkdir(m.path('d'), 0o750)
    assert os.path.isdir(remote / 'd')
    assert stat.S_IMODE(os.stat(remote / 'd').st_mode) == 0o750
    assert_same_stat(m.path('d'), remote / 'd')
    os.mkdir(m.path('d', 'e f'))
    assert os.path.isdir(remote / 'd' / 'e f')
    assert os.listdir(m.path('d')) == ['e f']
    for name in ('d', 'old', 'file'):
        assert_errno(errno.EEXIST, os.mkdir, m.path(name))
    assert_errno(errno.ENOENT, os.mkdir, m.path('no', 'such'))


def test_rmdir(rfs, remote):
    (remote / 'empty').mkdir()
    (remote / 'full').mkdir()
    write_file(remote / 'full' / 'x', b'x')
    write_file(remote / 'file', b'')
    m = rfs.mount()
    os.rmdir(m.path('empty'))
    assert not os.path.exists(remote / 'empty')
    assert 'empty' not in os.listdir(m.mnt)
    assert_errno(errno.ENOENT, os.stat, m.path('empty'))
    assert_errno(errno.ENOTEMPTY, os.rmdir, m.path('full'))
    assert os.path.exists(remote / 'full' / 'x')
    assert_errno(errno.ENOENT, os.rmdir, m.path('missing'))
    assert_errno(errno.ENOTDIR, os.rmdir, m.path('file'))


def test_unlink(rfs, remote):
    write_file(remote / 'f', b'data')
    write_file(remote / 'target', b'target')
    os.symlink('target', remote / 'sl')
    m = rfs.mount()
    os.unlink(m.path('f'))
    assert not os.path.exists(remote / 'f')
    assert_errno(errno.ENOENT, os.stat, m.path('f'))
    assert 'f' not in os.listdir(m.mnt)
    os.unlink(m.path('sl'))  # removes the link, not its target
    assert not os.path.lexists(remote / 'sl')
    assert read_file(remote / 'target') == b'target'
    assert_errno(errno.ENOENT, os.unlink, m.path('missing'))
    (remote / 'dir').mkdir()
    assert_errno((errno.EISDIR, errno.EPERM), os.unlink, m.path('dir'))
    assert os.path.isdir(remote / 'dir')


# -- rename --------------------------------------------------------------------

def test_rename(rfs, remote):
    write_file(remote / 'a', b'content A')
    write_file(remote / 'b', b'content B')
    (remote / 'dir1').mkdir()
    write_file(remote / 'dir1' / 'x', b'inside')
    write_file(remote / 'c', b'C')
    m = rfs.mount()
    assert read_file(m.path('b')) == b'content B'  # b is known to the kernel
    os.rename(m.path('a'), m.path('b'))  # overwrites b
    assert not os.path.exists(remote / 'a')
    assert read_file(remote / 'b') == b'content A'
    assert read_file(m.path('b')) == b'content A'
    assert_errno(errno.ENOENT, os.stat, m.path('a'))
    os.rename(m.path('dir1'), m.path('dir2'))  # a directory
    assert not os.path.exists(remote / 'dir1')
    assert read_file(remote / 'dir2' / 'x') == b'inside'
    assert read_file(m.path('dir2', 'x')) == b'inside'
    assert_errno(errno.ENOENT, os.stat, m.path('dir1'))
    os.rename(m.path('c'), m.path('dir2', 'c'))  # across directories
    assert read_file(remote / 'dir2' / 'c') == b'C'
    assert sorted(os.listdir(m.mnt)) == sorted(os.listdir(remote)) == \
        ['b', 'dir2']
    assert sorted(os.listdir(m.path('dir2'))) == ['c', 'x']
    assert_errno(errno.ENOENT, os.rename, m.path('nope'), m.path('nope2'))


def test_rename_noreplace(rfs, remote):
    write_file(remote / 'p', b'P')
    write_file(remote / 'q', b'Q')
    m = rfs.mount()
    assert_errno(errno.EEXIST, renameat2, m.path('p'), m.path('q'),
                 RENAME_NOREPLACE)
    assert read_file(remote / 'p') == b'P'
    assert read_file(remote / 'q') == b'Q'


def test_rename_exchange(rfs, remote):
    write_file(remote / 'p', b'P')
    write_file(remote / 'q', b'Q')
    m = rfs.mount()
    assert_errno((errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP), renameat2,
                 m.path('p'), m.path('q'), RENAME_EXCHANGE)
    assert read_file(remote / 'p') == b'P'
    assert read_file(remote / 'q') == b'Q'


# -- symlink / readlink / link -------------------------------------------------

def test_symlink_readlink(rfs, remote):
    (remote / 'sub').mkdir()
    write_file(remote / 'sub' / 'file', b'through the link')
    os.symlink('sub/file', remote / 'srvlink')
    m = rfs.mount(extra_o=['symlinks=raw'])   # the default: test_paths
    assert os.readlink(m.path('srvlink')) == 'sub/file'
    assert read_file(m.path('srvlink')) == b'through the link'
    os.symlink('sub/file', m.path('rel'))
    assert os.readlink(remote / 'rel') == 'sub/file'
    assert os.readlink(m.path('rel')) == 'sub/file'
    assert read_file(m.path('rel')) == b'through the link'
    assert_same_stat(m.path('rel'), remote / 'rel')
    for target in ('../up/and over', '/abs/path/nowhere', 'dangling'):
        name = 'l%d' % len(target)
        os.symlink(target, m.path(name))
        assert os.readlink(remote / name) == target  # unchanged
        assert os.readlink(m.path(name)) == target
        assert os.lstat(m.path(name)).st_size == len(target)
    assert_errno(errno.EEXIST, os.symlink, 'x', m.path('rel'))
    assert_errno(errno.EINVAL, os.readlink, m.path('sub', 'file'))


def test_link(rfs, remote):
    write_file(remote / 'orig', b'hard link data')
    m = rfs.mount()
    os.link(m.path('orig'), m.path('hard'))
    s1, s2 = os.stat(remote / 'orig'), os.stat(remote / 'hard')
    assert s1.st_ino == s2.st_ino
    assert s1.st_nlink == 2
    assert read_file(m.path('hard')) == b'hard link data'
    assert read_file(m.path('orig')) == b'hard link data'
    assert os.stat(m.path('hard')).st_nlink == 2
    assert os.stat(m.path('orig')).st_nlink == 2
    assert_same_stat(m.path('hard'), remote / 'hard')
    assert_errno(errno.EEXIST, os.link, m.path('orig'), m.path('hard'))



def test_link_then_unlink_open_name(rfs, remote):
    """A link made through the mount is the source's inode. The name a
    file is open by, unlinked while another name made through the mount
    is left, is removed on the server as it is (no hidden name): the data
    stays readable and writable through the descriptor and the other
    name."""
    write_file(remote / 'orig', b'hard link data')
    m = rfs.mount()
    os.link(m.path('orig'), m.path('hard'))
    ino = os.stat(m.path('orig')).st_ino
    assert os.stat(m.path('hard')).st_ino == ino
    fd = os.open(m.path('orig'), os.O_RDWR)
    try:
        os.unlink(m.path('orig'))
        assert os.listdir(remote) == ['hard']
        assert os.listdir(m.mnt) == ['hard']
        assert os.pread(fd, 100, 0) == b'hard link data'
        assert read_file(m.path('hard')) == b'hard link data'
        assert os.pwrite(fd, b'HARD', 0) == 4
        os.fsync(fd)
        assert read_file(remote / 'hard') == b'HARD link data'
        assert read_file(m.path('hard')) == b'HARD link data'
        st = os.fstat(fd)
        assert (st.st_ino, st.st_nlink) == (ino, 1)
        os.fchmod(fd, 0o600)
        assert stat.S_IMODE(os.stat(m.path('hard')).st_mode) == 0o600
    finally:
        os.close(fd)
    assert os.listdir(remote) == ['hard']
    assert os.listdir(m.mnt) == ['hard']
    assert stat.S_IMODE(os.stat(remote / 'hard').st_mode) == 0o600
    st = os.stat(m.path('hard'))
    assert (st.st_ino, st.st_nlink) == (ino, 1)


def test_link_other_name_looked_up_after_change(rfs, remote):
    """The kernel looks a name up again once its entry expires: rfs then
    answers a hard link's other name with the attributes the change made
    through the first name left, not with the ones a listing cached under
    the other name before the change."""
    write_file(remote / 'a', b'x', 0o644)
    (remote / 'd').mkdir()
    m = rfs.mount(extra_o=['cache_timeout=4'])
    os.link(m.path('a'), m.path('d', 'b'))      # d/b's entry: 4 s
    time.sleep(2.5)
    assert os.listdir(m.path('d')) == ['b']     # cached until 6.5 s
    os.chmod(m.path('a'), 0o600)
    time.sleep(2.3)                             # the entry expired
    assert stat.S_IMODE(os.stat(m.path('d', 'b')).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(m.path('a')).st_mode) == 0o600
    assert os.stat(m.path('d', 'b')).st_ino == os.stat(m.path('a')).st_ino



def test_link_first_name_removed_on_server(rfs, remote):
    """Requests about a file linked through the mount go by its first
    name. Removed on the server by someone else, that name fails one
    request (ENOENT); the other name stands for the file from then on."""
    write_file(remote / 'a', b'data')
    m = rfs.mount(extra_o=['cache_timeout=1'])
    os.link(m.path('a'), m.path('b'))
    os.unlink(remote / 'a')                     # behind the mount's back
    time.sleep(1.5)                             # the kernel's entries expire

    def readable():
        try:
            return read_file(m.path('b')) == b'data'
        except FileNotFoundError:
            return False
    assert readable() or readable()
    assert 'stands for it' in m.stderr()
    assert os.stat(m.path('b')).st_nlink == 1
    assert not os.path.exists(m.path('a'))
    assert os.listdir(m.mnt) == ['b']


# -- chmod / chown / utimens ---------------------------------------------------

def test_chmod(rfs, remote):
    write_file(remote / 'f', b'x', 0o644)
    (remote / 'd').mkdir()
    m = rfs.mount()
    for mode in (0o600, 0o751, 0o4755, 0o000, 0o1777):
        os.chmod(m.path('f'), mode)
        assert stat.S_IMODE(os.stat(remote / 'f').st_mode) == mode
        assert stat.S_IMODE(os.stat(m.path('f')).st_mode) == mode
        assert_same_stat(m.path('f'), remote / 'f')
    os.chmod(m.path('d'), 0o700)
    assert stat.S_IMODE(os.stat(remote / 'd').st_mode) == 0o700
    assert_same_stat(m.path('d'), remote / 'd')


def test_chown(rfs, remote):
    write_file(remote / 'f', b'x')
    m = rfs.mount()
    os.chown(m.path('f'), 1234, 5678)
    s = os.stat(remote / 'f')
    assert (s.st_uid, s.st_gid) == (1234, 5678)
    assert_same_stat(m.path('f'), remote / 'f')
    os.chown(m.path('f'), -1, 4242)  # group only
    s = os.stat(remote / 'f')
    assert (s.st_uid, s.st_gid) == (1234, 4242)
    os.chown(m.path('f'), 0, -1)  # owner only
    s = os.stat(remote / 'f')
    assert (s.st_uid, s.st_gid) == (0, 4242)
    assert_same_stat(m.path('f'), remote / 'f')


def test_utimens(rfs, remote):
    write_file(remote / 'f', b'x')
    write_file(remote / 'g', b'y')
    os.utime(remote / 'g', (1_111_111_111, 1_222_222_222))
    m = rfs.mount()
    os.utime(m.path('f'), (1_500_000_000, 1_600_000_000))
    s = os.stat(remote / 'f')
    assert (int(s.st_atime), int(s.st_mtime)) == (1_500_000_000, 1_600_000_000)
    assert_same_stat(m.path('f'), remote / 'f')
    # UTIME_OMIT for atime: only mtime changes.
    utimensat(m.path('g'), (0, UTIME_OMIT), (1_700_000_000, 0))
    s = os.stat(remote / 'g')
    assert int(s.st_mtime) == 1_700_000_000
    assert int(s.st_atime) == 1_111_111_111, 'atime changed'
    assert int(os.stat(m.path('g')).st_mtime) == 1_700_000_000
    # times=None: both become now.
    os.utime(m.path('f'))
    s = os.stat(remote / 'f')
    assert abs(s.st_mtime - time.time()) < 10
    assert abs(s.st_atime - time.time()) < 10
    assert_same_stat(m.path('f'), remote / 'f')


# -- statfs / access -----------------------------------------------------------

def test_statfs(rfs, remote):
    m = rfs.mount()
    v, s = os.statvfs(m.mnt), os.statvfs(remote)
    assert v.f_bsize > 0 and v.f_frsize > 0
    assert v.f_blocks > 0
    total_m, total_s = v.f_blocks * v.f_frsize, s.f_blocks * s.f_frsize
    assert abs(total_m - total_s) <= total_s * 0.01, (total_m, total_s)
    avail_m, avail_s = v.f_bavail * v.f_frsize, s.f_bavail * s.f_frsize
    assert abs(avail_m - avail_s) <= total_s * 0.05, (avail_m, avail_s)
    assert v.f_bfree >= v.f_bavail
    assert v.f_namemax > 0


def test_access(rfs, remote):
    write_file(remote / 'r', b'', 0o644)
    write_file(remote / 'x', b'', 0o755)
    write_file(remote / 'none', b'', 0o000)
    write_file(remote / 'uonly', b'', 0o700)
    (remote / 'd').mkdir(0o700)
    m = rfs.mount()
    for name in ('r', 'x', 'none', 'uonly', 'd'):  # root reads, writes all
        assert os.access(m.path(name), os.R_OK), name
        assert os.access(m.path(name), os.W_OK), name
    assert os.access(m.path('x'), os.X_OK)
    assert os.access(m.path('uonly'), os.X_OK)
    assert os.access(m.path('d'), os.X_OK)
    assert not os.access(m.path('r'), os.X_OK)
    assert not os.access(m.path('none'), os.X_OK)
    assert os.access(m.path('r'), os.F_OK)
    assert not os.access(m.path('missing'), os.F_OK)


# -- open, then unlink -------------------------------------------------------

def test_hidden_names_unpredictable_and_ours_only(rfs, remote):
    """A file unlinked while open is kept under a name nobody can guess
    (not its inode number: two mounts would pick the same), which the
    mount hides; a file of the server's own with a name of that pattern
    shows and opens as any other (issue 15: any server user could hide
    files from the mount)."""
    write_file(remote / '.rfs-unlinked-1234', b'not hidden')
    write_file(remote / 'f', b'open')
    m = rfs.mount()
    assert sorted(os.listdir(m.mnt)) == ['.rfs-unlinked-1234', 'f']
    assert read_file(m.path('.rfs-unlinked-1234')) == b'not hidden'
    fd = os.open(m.path('f'), os.O_RDONLY)
    try:
        ino = os.fstat(fd).st_ino
        os.unlink(m.path('f'))
        names = [n for n in os.listdir(remote)
                 if n.startswith('.rfs-unlinked-') and n != '.rfs-unlinked-1234']
        assert len(names) == 1, os.listdir(remote)
        tail = names[0][len('.rfs-unlinked-'):]
        assert len(tail) == 16 and tail != '%x' % ino, names
        assert sorted(os.listdir(m.mnt)) == ['.rfs-unlinked-1234']
        assert_errno(errno.ENOENT, os.stat, m.path(names[0]))
        assert os.pread(fd, 100, 0) == b'open'
    finally:
        os.close(fd)
    assert wait_for(lambda: sorted(os.listdir(remote)) ==
                    ['.rfs-unlinked-1234'], 5), os.listdir(remote)


def test_open_unlink(rfs, remote):
    write_file(remote / 'f', b'hello')
    m = rfs.mount()
    fd = os.open(m.path('f'), os.O_RDWR)
    try:
        os.unlink(m.path('f'))
        assert 'f' not in os.listdir(m.mnt)
        assert not os.path.lexists(remote / 'f')
        assert_errno(errno.ENOENT, os.stat, m.path('f'))
        assert os.pread(fd, 100, 0) == b'hello'
        assert os.pwrite(fd, b'WORLD', 5) == 5
        assert os.pread(fd, 100, 0) == b'helloWORLD'
        assert os.fstat(fd).st_size == 10
    finally:
        os.close(fd)
    assert os.listdir(m.mnt) == []
    # close() returns before the kernel's RELEASE reaches rfs, which then
    # removes the hidden name on the server
    assert wait_for(lambda: os.listdir(remote) == [], 5), os.listdir(remote)
