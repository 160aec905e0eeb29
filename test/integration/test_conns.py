"""Channels and connections (issue 4): metadata and file data on two SFTP
channels of one SSH session (two sftp-server processes), and -o max_conns=N
spreading open files over N SSH connections with each file's requests kept
in order.
"""

import errno
import hashlib
import os
import shutil
import tempfile
import threading

import pytest

import harness
from harness import Sshd


def sftp_servers(sshd):
    return [p for p in sshd.session_pids()
            if any('sftp-server' in a for a in harness.proc_argv(p))]


stats = harness.rfs_stats


def test_two_channels(rfs, own_sshd):
    (rfs.remote / 'f').write_bytes(os.urandom(1 << 20))
    m = rfs.mount(extra_o=['xattr'])
    assert harness.wait_for(lambda: len(sftp_servers(own_sshd)) == 2, 5), \
        sftp_servers(own_sshd)
    s = stats(m.mnt)
    assert (s['conns'], s['channels']) == (1, 2), s
    # Both work: a listing (metadata) and a read (file data).
    assert os.listdir(m.mnt) == ['f']
    with open(m.path('f'), 'rb') as f:
        assert f.read() == (rfs.remote / 'f').read_bytes()


def test_one_channel_server(rfs, keys):
    """A server allowing one channel per connection (MaxSessions 1): one
    lane carries everything."""
    s = Sshd(keys, extra_config=['MaxSessions 1']).start()
    rfs.use(s)
    try:
        data = os.urandom(3 << 20)
        m = rfs.mount(extra_o=['xattr'])
        assert stats(m.mnt)['channels'] == 1
        assert len(sftp_servers(s)) == 1
        with open(m.path('w'), 'wb') as f:
            f.write(data)
        os.truncate(m.path('w'), 1000)
        assert os.stat(m.path('w')).st_size == 1000
        with open(m.path('w'), 'rb') as f:
            assert f.read() == data[:1000]
        m.unmount()
    finally:
        s.cleanup()


def test_max_conns_spreads_files(rfs, own_sshd):
    m = rfs.mount(extra_o=['max_conns=3', 'xattr'])
    assert harness.wait_for(lambda: len(sftp_servers(own_sshd)) == 6, 5), \
        sftp_servers(own_sshd)
    assert stats(m.mnt)['conns'] == 3
    datas = [os.urandom((1 << 20) + i * 4097) for i in range(6)]
    errors = []

    def writer(i):
        try:
            with open(m.path('f%d' % i), 'wb') as f:
                for off in range(0, len(datas[i]), 65536):
                    f.write(datas[i][off:off + 65536])
            with open(m.path('f%d' % i), 'rb') as f:
                assert f.read() == datas[i], 'f%d read back' % i
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for i, d in enumerate(datas):
        got = (rfs.remote / ('f%d' % i)).read_bytes()
        assert hashlib.sha256(got).digest() == hashlib.sha256(d).digest(), i
    # Every connection carried some of them.
    s = stats(m.mnt)
    assert s['bytes_out'] > 6 << 20, s


def test_max_conns_path_ops_after_writes(rfs):
    """A path operation on a file open for writing (truncate, chmod,
    stat by name) comes after that file's writes, whichever connection
    carries them."""
    m = rfs.mount(extra_o=['max_conns=4'])
    fds = []
    try:
        for i in range(8):
            fd = os.open(m.path('t%d' % i), os.O_CREAT | os.O_WRONLY, 0o600)
            fds.append(fd)
            os.write(fd, b'x' * (300000 + i))
        for i in range(8):
            os.truncate(m.path('t%d' % i), 1000 + i)
            os.chmod(m.path('t%d' % i), 0o640)
            assert os.stat(m.path('t%d' % i)).st_size == 1000 + i
        for i, fd in enumerate(fds):
            os.write(fd, b'y')      # at its offset: a hole after the cut
            os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)
    for i in range(8):
        st = os.stat(rfs.remote / ('t%d' % i))
        assert st.st_mode & 0o777 == 0o640, i
        assert st.st_size == 300000 + i + 1, i
        data = (rfs.remote / ('t%d' % i)).read_bytes()
        assert data[:1000 + i] == b'x' * (1000 + i), i
        assert data[1000 + i:-1] == bytes(len(data) - 1001 - i), i
        assert data[-1:] == b'y', i


def test_max_conns_copy_file_range(rfs):
    """copy_file_range between files on one connection uses the server's
    copy; between two connections it falls back to reading and writing.
    Both give the right bytes."""
    data = os.urandom(5 << 20)
    (rfs.remote / 'src').write_bytes(data)
    m = rfs.mount(extra_o=['max_conns=2', 'xattr'])

    def moved():
        s = stats(m.mnt)
        return s['bytes_in'] + s['bytes_out']

    for n in range(4):
        before = moved()
        src = os.open(m.path('src'), os.O_RDONLY)
        if n % 2:
            os.pread(src, 4096, 0)      # opened on the server by a read
        dst = os.open(m.path('dst%d' % n),
                      os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        try:
            left, off = len(data), 0
            while left:
                k = os.copy_file_range(src, dst, left, off, off)
                assert k > 0
                left -= k
                off += k
        finally:
            os.close(src)
            os.close(dst)
        assert (rfs.remote / ('dst%d' % n)).read_bytes() == data, n
        if n % 2 == 0:
            # Not opened yet: it opened where the destination is, and
            # the server copied.
            assert moved() - before < 256 << 10, n


@pytest.mark.timeout_s(90)
def test_max_conns_reconnect(rfs, own_sshd):
    """Every connection reconnects by itself; open files go on."""
    data = os.urandom(2 << 20)
    for i in range(3):
        (rfs.remote / ('r%d' % i)).write_bytes(data)
    m = rfs.mount(extra_o=['max_conns=3', 'reconnect_timeout=20'])
    fds = [os.open(m.path('r%d' % i), os.O_RDWR) for i in range(3)]
    try:
        for fd in fds:
            assert os.pread(fd, 4096, 0) == data[:4096]
        own_sshd.kill_sessions()
        for i, fd in enumerate(fds):
            assert os.pread(fd, 65536, 1 << 20) == \
                data[1 << 20:(1 << 20) + 65536]
            os.pwrite(fd, b'after %d' % i, 10)
            os.fsync(fd)
        assert sorted(os.listdir(m.mnt)) == ['r0', 'r1', 'r2']
    finally:
        for fd in fds:
            os.close(fd)
    assert harness.wait_for(
        lambda: m.stderr().count('reconnected after') >= 3, 20), m.stderr()
    for i in range(3):
        assert (rfs.remote / ('r%d' % i)).read_bytes()[10:17] == \
            b'after %d' % i


def test_max_conns_password(rfs, own_sshd):
    """The extra connections log in with the password that logged in,
    without asking again, and it is not kept unless reconnect_password."""
    password = 'Pw-mc-%d' % os.getpid()
    u = harness.TempUser('rfsmc', password=password)
    backing = tempfile.mkdtemp(prefix='rfs-mc-', dir='/tmp')
    try:
        os.chmod(backing, 0o755)
        os.chown(backing, u.uid, u.gid)
        m = rfs.mount(remote_path=backing, user=u.name, identity=None,
                      input=password + '\n',
                      extra_o=['password_stdin,PreferredAuthentications='
                               'password,max_conns=2,xattr'])
        assert stats(m.mnt)['conns'] == 2
        for i in range(4):
            with open(m.path('p%d' % i), 'w') as f:
                f.write('data %d' % i)
        assert sorted(os.listdir(backing)) == ['p0', 'p1', 'p2', 'p3']
        m.unmount()
        assert password not in m.stderr()
    finally:
        shutil.rmtree(backing, ignore_errors=True)
        u.remove()


@pytest.mark.parametrize('value', ['0', '17', 'x', ''])
def test_max_conns_bad_value(rfs, value):
    r = rfs.run(extra_o=['max_conns=' + value])
    assert r.rc == 1, r
    assert 'max_conns' in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr

