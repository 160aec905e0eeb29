"""Write-behind and readahead: a write is answered before the server has
it, so the first error must come back from a later write, fsync or close,
never vanish; reads see our own writes; readahead returns the right bytes
at any offset."""

import errno
import hashlib
import os
import random
import subprocess
import time

import pytest

from harness import read_file, rfs_stats


@pytest.fixture
def tiny_fs(remote):
    """A 1 MiB tmpfs inside the served directory: writes past it fail
    on the server with ENOSPC."""
    d = remote / 'tiny'
    d.mkdir()
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs',
                    str(d)], check=True)
    try:
        yield d
    finally:
        subprocess.run(['umount', '-l', str(d)], check=False)


def write_until_error(path, total, block, flags=0):
    """Write total bytes in blocks, then fsync and close; return (bytes
    written, where the first error came: 'write', 'fsync', 'close' or
    None). The error stays sticky: close after a failed write fails too."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | flags, 0o644)
    done, where = 0, None
    try:
        while done < total:
            done += os.write(fd, b'x' * block)
        os.fsync(fd)
    except OSError as e:
        assert e.errno in (errno.EIO, errno.ENOSPC), e
        where = 'write' if done < total else 'fsync'
    try:
        os.close(fd)
    except OSError as e:
        assert e.errno in (errno.EIO, errno.ENOSPC), e
        where = where or 'close'
    else:
        assert where is None, 'close succeeded after a failed write'
    return done, where


def test_write_error_is_never_lost(mount, tiny_fs):
    m = mount()
    done, where = write_until_error(os.path.join(m.mnt, 'tiny', 'big'),
                                    4 << 20, 128 << 10)
    assert where is not None, 'wrote 4 MiB into a 1 MiB filesystem'


def test_write_error_reaches_close(mount, tiny_fs):
    """Without fsync: close(2) must still report it."""
    m = mount()
    path = os.path.join(m.mnt, 'tiny', 'big2')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    failed = False
    try:
        for _ in range(32):
            os.write(fd, b'y' * (128 << 10))
    except OSError:
        failed = True
    try:
        os.close(fd)
    except OSError:
        failed = True
    assert failed, '4 MiB into 1 MiB: neither write nor close failed'


def test_osync_write_fails_at_the_write(mount, tiny_fs):
    m = mount()
    done, where = write_until_error(os.path.join(m.mnt, 'tiny', 'sync'),
                                    4 << 20, 256 << 10, os.O_SYNC)
    assert where == 'write'
    assert done <= 1 << 20


def test_read_sees_own_writes(mount, remote):
    m = mount()
    path = os.path.join(m.mnt, 'rw')
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for i in range(100):
            os.pwrite(fd, b'%04d' % i, i * 4)    # small: coalesced
        assert os.pread(fd, 400, 0) == b''.join(b'%04d' % i
                                                for i in range(100))
        assert os.fstat(fd).st_size == 400
        assert os.stat(path).st_size == 400
    finally:
        os.close(fd)
    assert read_file(str(remote / 'rw'))[:8] == b'00000001'


def test_readahead_random_offsets(mount, remote):
    data = random.Random(7).randbytes(24 << 20)
    (remote / 'ra').write_bytes(data)
    m = mount()
    rnd = random.Random(11)
    with open(os.path.join(m.mnt, 'ra'), 'rb', buffering=0) as f:
        # sequential runs (readahead grows) mixed with random jumps
        for _ in range(60):
            off = rnd.randrange(0, len(data))
            for _ in range(rnd.randrange(1, 20)):
                n = rnd.choice([1, 4096, 65536, 131072, 1 << 20])
                f.seek(off)
                got = f.read(n)
                assert got == data[off:off + n], (off, n)
                off += len(got)
                if off >= len(data):
                    break
        f.seek(0)
        assert hashlib.sha256(f.read()).digest() == \
            hashlib.sha256(data).digest()


def test_read_past_eof_of_growing_file(mount, remote):
    (remote / 'grow').write_bytes(b'a' * 1000)
    m = mount(extra_o=['cache_timeout=1'])
    with open(os.path.join(m.mnt, 'grow'), 'rb', buffering=0) as f:
        assert f.read() == b'a' * 1000
        assert f.read() == b''
        with open(remote / 'grow', 'ab') as w:
            w.write(b'b' * 500)
        # The kernel trusts its cached size for cache_timeout (here 1 s):
        # after that a stat brings the new size and reads go on.
        time.sleep(1.2)
        assert os.fstat(f.fileno()).st_size == 1500
        f.seek(1000)
        assert f.read() == b'b' * 500


def test_copy_file_range_server_side(mount, remote):
    data = random.Random(3).randbytes((8 << 20) + 123)
    (remote / 'src').write_bytes(data)
    m = mount(extra_args=['-d'])
    src = os.open(os.path.join(m.mnt, 'src'), os.O_RDONLY)
    dst = os.open(os.path.join(m.mnt, 'dst'), os.O_WRONLY | os.O_CREAT,
                  0o644)
    try:
        os.write(dst, b'head')                 # buffered write goes first
        reads_before = m.stderr().count(' type 5 ')
        n = os.copy_file_range(src, dst, 1 << 30, 0, 4)   # past the end
        assert n == len(data)
        assert os.copy_file_range(src, dst, 10, len(data), 4 + n) == 0
        # the data did not cross the network: no READ of it
        assert m.stderr().count(' type 5 ') == reads_before
    finally:
        os.close(src)
        os.close(dst)
    assert read_file(str(remote / 'dst')) == b'head' + data


def test_untar_keeps_content_modes_times_owner(mount, remote, tmp_path):
    """tar's create, write, fchown, fchmod, futimens, close per file (the
    attribute changes are sent behind the writes without waiting): every
    file ends up on the server with the right bytes, mode, mtime, owner."""
    import tarfile
    src = tmp_path / 'src.tar'
    rng = random.Random(7)
    want = {}
    with tarfile.open(src, 'w') as t:
        for d in range(3):
            for i in range(20):
                name = 'd%d/f%d' % (d, i)
                data = rng.randbytes(rng.randrange(0, 9000))
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                ti.mode = rng.choice((0o644, 0o600, 0o755, 0o640, 0o4755))
                ti.mtime = 1500000000 + rng.randrange(10 ** 8)
                ti.uid, ti.gid = rng.choice(((0, 0), (1, 1), (1234, 4321)))
                import io
                t.addfile(ti, io.BytesIO(data))
                want[name] = (data, ti.mode, ti.mtime, ti.uid, ti.gid)
    m = mount()
    subprocess.run(['tar', '-xf', str(src), '-C', m.mnt, '--same-owner',
                    '--same-permissions'], check=True, timeout=60)
    for name, (data, mode, mtime, uid, gid) in want.items():
        p = remote / name
        st = os.lstat(p)
        assert p.read_bytes() == data, name
        assert (st.st_mode & 0o7777, int(st.st_mtime), st.st_uid,
                st.st_gid) == (mode, mtime, uid, gid), name
        # and the mount says the same
        mst = os.stat(m.path(name))
        assert (mst.st_size, mst.st_mode & 0o7777, int(mst.st_mtime)) == (
            len(data), mode, mtime), name


def test_stat_of_file_being_written_is_local(mount, remote):
    """A file this mount created and is writing (tar's pattern): stat by
    name and fstat answer from what rfs knows (size grown by the writes,
    the mode set), without a round trip; after close the server agrees."""
    m = mount(extra_o=['xattr'])
    fd = os.open(m.path('f'), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b'a' * 5000)
        os.fchmod(fd, 0o640)
        # what those sent in the background is counted when the I/O
        # thread sends it: all of it is out once fsync has returned (an
        # ASan build once counted the fchmod's FSETSTAT after `before`)
        os.fsync(fd)
        before = rfs_stats(m.mnt)['requests']
        for _ in range(5):
            st = os.stat(m.path('f'))
            assert (st.st_size, st.st_mode & 0o7777) == (5000, 0o640)
            assert os.fstat(fd).st_size == 5000
        assert rfs_stats(m.mnt)['requests'] == before, \
            'stat of the file went to the server'
        os.pwrite(fd, b'b' * 10, 8000)     # grows it, with a hole
        assert os.stat(m.path('f')).st_size == 8010
    finally:
        os.close(fd)
    st = os.stat(remote / 'f')
    assert (st.st_size, st.st_mode & 0o7777) == (8010, 0o640)
    assert os.stat(m.path('f')).st_size == 8010
