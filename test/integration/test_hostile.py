"""A hostile SFTP server: rfs must report a protocol error at mount time
and survive one on a live mount (never crash, never hang)."""

import errno
import os
import stat
import struct
import subprocess

import pytest

from harness import (assert_fails, is_mounted, rfs_stats, run, Sshd,
                     HOSTILE_SFTP, PYTHON,
                     EXIT_PROTOCOL)

MODES = ['truncated', 'zero', 'huge', 'badid', 'garbage_attrs']

# The op runs in a child so that a hung FUSE request cannot hang the suite:
# on timeout the child is SIGKILLed, which ends its wait.
STAT_CHILD = r'''
import errno, os, sys
try:
    os.stat(sys.argv[1])
    print('OK')
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
'''


def stat_in_child(path, timeout=20):
    try:
        r = subprocess.run([PYTHON, '-c', STAT_CHILD, path], text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return 'TIMEOUT'
    return r.stdout.strip() or r.stderr.strip()


@pytest.fixture
def hostile(keys):
    started = []

    def start(mode, when):
        s = Sshd(keys, subsystem='%s %s %s %s' % (PYTHON, HOSTILE_SFTP, mode,
                                                  when))
        started.append(s)
        return s.start()
    yield start
    for s in started:
        s.cleanup()


@pytest.mark.parametrize('mode', MODES)
def test_protocol_error_at_mount(rfs, hostile, mode):
    rfs.use(hostile(mode, 'init'))
    res = rfs.run(remote='/hostile')
    assert res.rc >= 0, 'rfs died of signal %d\n%r' % (-res.rc, res)
    assert_fails(res, EXIT_PROTOCOL, 'protocol error', mnt=rfs.mnt)


@pytest.mark.parametrize('mode', MODES)
def test_protocol_error_on_live_mount(rfs, hostile, mode):
    rfs.use(hostile(mode, 'trigger'))
    m = rfs.mount(remote_path='/hostile')
    assert sorted(os.listdir(m.mnt)) == ['a.txt', 'b.txt', 'sub']
    with open(m.path('a.txt'), 'rb') as f:
        assert f.read() == b'alpha\n'
    res = stat_in_child(m.path('trigger-x'))
    assert res not in ('OK', 'TIMEOUT'), \
        'stat of trigger-x gave %s\nrfs stderr: %s' % (res, m.stderr())
    assert res in errno.errorcode.values(), res
    assert res != 'ENOTCONN', 'rfs died\nstderr: %s' % m.stderr()
    assert m.proc.poll() is None, 'rfs exited %s\nstderr: %s' % (
        m.proc.returncode, m.stderr())
    assert is_mounted(m.mnt), 'mount gone from mountinfo'
    res = stat_in_child(m.mnt)
    assert res not in ('ENOTCONN', 'TIMEOUT'), res
    assert os.path.ismount(m.mnt), \
        'stat of the mountpoint after the error gives %s\nrfs stderr: %s' % (
            res, m.stderr())
    m.unmount()


@pytest.mark.timeout_s(120)
def test_listing_that_never_ends(rfs, hostile):
    """A server that answers READDIR forever: the listing stops at
    max_listing entries with EIO and a message, memory stays bounded,
    and the rest of the mount goes on working (issue 15)."""
    rfs.use(hostile('endless', 'trigger'))
    m = rfs.mount(remote_path='/hostile', extra_o=['max_listing=20000'])
    with pytest.raises(OSError) as e:
        os.listdir(m.path('sub'))
    assert e.value.errno == errno.EIO, e.value
    assert 'more than 20000 entries' in m.stderr(), m.stderr()
    assert sorted(os.listdir(m.mnt)) == ['a.txt', 'b.txt', 'sub']
    with open(m.path('a.txt'), 'rb') as f:
        assert f.read() == b'alpha\n'
    with open('/proc/%d/status' % m.pid) as f:
        rss = [int(ln.split()[1]) for ln in f if ln.startswith('VmHWM')][0]
    if 'ASAN_OPTIONS' not in os.environ:
        assert rss < 64 * 1024, rss     # kB
    m.unmount()


def test_listing_with_impossible_names(rfs, hostile):
    """READDIR names "..", ".", "/", "a/b", empty, longer than 255 bytes,
    twice the same: each bad one is left out, the good ones show once (a
    server's own .rfs-unlinked-* file too), and the mount goes on
    (issue 15)."""
    rfs.use(hostile('badnames', 'trigger'))
    m = rfs.mount(remote_path='/hostile')
    names = os.listdir(m.path('sub'))
    assert sorted(names) == ['.rfs-unlinked-0011223344556677', 'dup', 'ok1',
                             'ok2'], names
    assert m.proc.poll() is None, m.stderr()
    assert sorted(os.listdir(m.mnt)) == ['a.txt', 'b.txt', 'sub']
    m.unmount()


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        return [int(ln.split()[1]) for ln in f if ln.startswith('VmHWM')][0]


def assert_alive(m):
    """The mount goes on after the misbehaviour: rfs runs, the honest part
    of the tree still lists and reads."""
    assert m.proc.poll() is None, 'rfs exited %s\nstderr: %s' % (
        m.proc.returncode, m.stderr())
    assert 'a.txt' in os.listdir(m.mnt)
    with open(m.path('a.txt'), 'rb') as f:
        assert f.read() == b'alpha\n'
    if 'ASAN_OPTIONS' not in os.environ:
        assert rss_kb(m.pid) < 64 * 1024, rss_kb(m.pid)


def test_name_with_a_nul_inside(rfs, hostile):
    """One name with a NUL in a READDIR reply is left out; the rest of the
    listing shows (it was a protocol error for the whole reply)."""
    rfs.use(hostile('nulname', '-'))
    m = rfs.mount(remote_path='/hostile')
    assert sorted(os.listdir(m.path('sub'))) == ['ok1', 'ok2']
    assert_alive(m)
    m.unmount()


def test_name_count_larger_than_the_body(rfs, hostile):
    """A malformed answer fails its own request, and only that one: the
    connection stays (no reconnect), the reply is counted."""
    rfs.use(hostile('namecount', '-'))
    m = rfs.mount(remote_path='/hostile', extra_o=['xattr'])
    for _ in range(3):
        with pytest.raises(OSError) as e:
            os.listdir(m.path('sub'))
        assert e.value.errno == errno.EIO, e.value
        assert_alive(m)
    assert 'protocol error' in m.stderr()
    st = rfs_stats(m.mnt)
    assert st['reconnects'] == 0 and st['bad_replies'] >= 1, st
    m.unmount()


def test_hostile_symlinks(rfs, hostile):
    """A target climbing out of the mount stays inside it; an empty and a
    200 KB target are errors with a message, not crashes."""
    rfs.use(hostile('links', '-'))
    m = rfs.mount(remote_path='/hostile')
    assert sorted(os.listdir(m.path('sub'))) == ['climb', 'empty', 'huge']
    real = os.path.realpath(m.path('sub/climb'))
    assert real.startswith(m.mnt + '/'), real
    with pytest.raises(OSError):
        open(m.path('sub/climb')).close()
    with pytest.raises(OSError) as e:
        os.readlink(m.path('sub/empty'))
    assert e.value.errno == errno.EIO, e.value
    with pytest.raises(OSError) as e:
        os.readlink(m.path('sub/huge'))
    assert e.value.errno == errno.ENAMETOOLONG, e.value
    assert 'that is empty' in m.stderr() and 'PATH_MAX' in m.stderr()
    assert_alive(m)
    m.unmount()


def test_attributes_a_server_should_not_give(rfs, hostile):
    """setuid, devices, fifos, sockets, unknown type bits, no mode: shown,
    never usable as setuid programs or devices; unknown types and missing
    modes show as regular files."""
    rfs.use(hostile('specials', '-'))
    m = rfs.mount(remote_path='/hostile')
    sub = m.path('sub')
    assert sorted(os.listdir(sub)) == ['bdev', 'cdev', 'fifo', 'nomode',
                                       'notype', 'odd', 'sock', 'suid']
    st = {n: os.lstat(os.path.join(sub, n)) for n in os.listdir(sub)}
    assert stat.S_ISREG(st['suid'].st_mode)
    assert stat.S_ISCHR(st['cdev'].st_mode)
    assert stat.S_ISBLK(st['bdev'].st_mode)
    assert stat.S_ISFIFO(st['fifo'].st_mode)
    assert stat.S_ISSOCK(st['sock'].st_mode)
    for n in ('odd', 'notype', 'nomode'):
        assert stat.S_ISREG(st[n].st_mode), (n, oct(st[n].st_mode))
    opts = [ln.split()[3] for ln in open('/proc/self/mounts')
            if ln.split()[1] == m.mnt][0].split(',')
    assert 'nosuid' in opts and 'nodev' in opts, opts
    with pytest.raises(OSError) as e:
        open(os.path.join(sub, 'cdev'), 'rb').close()
    assert e.value.errno in (errno.EACCES, errno.EPERM, errno.ENXIO), e.value
    assert_alive(m)
    m.unmount()


@pytest.mark.timeout_s(120)
def test_one_byte_short_reads(rfs, hostile):
    """Every READ answered with one byte: the content is still right (the
    rest is asked for again), in bounded memory."""
    rfs.use(hostile('shortreads', '-'))
    m = rfs.mount(remote_path='/hostile')
    with open(m.path('big.bin'), 'rb') as f:
        assert f.read() == bytes(range(256)) * 16
    assert_alive(m)
    m.unmount()


@pytest.mark.parametrize('mode', ['longdata', 'handle0', 'handle257',
                                  'wrongtype', 'statusok', 'readok'])
def test_broken_reply_to_a_file_op(rfs, hostile, mode):
    """DATA longer than asked, an empty or oversized handle, a wrong reply
    type, STATUS OK where a handle or data belongs: that read fails with
    EIO and 'protocol error', the rest of the mount goes on."""
    rfs.use(hostile(mode, '-'))
    m = rfs.mount(remote_path='/hostile', extra_o=['xattr'])
    with pytest.raises(OSError) as e:
        with open(m.path('trigger.txt'), 'rb') as f:
            f.read()
    assert e.value.errno == errno.EIO, e.value
    assert 'protocol error' in m.stderr(), m.stderr()
    assert_alive(m)
    st = rfs_stats(m.mnt)
    assert st['reconnects'] == 0 and st['bad_replies'] >= 1, st
    m.unmount()


def test_two_replies_to_one_request(rfs, hostile):
    rfs.use(hostile('tworeplies', '-'))
    m = rfs.mount(remote_path='/hostile')
    try:
        os.stat(m.path('trigger.txt'))
    except OSError as e:
        assert e.errno == errno.EIO, e
    assert_alive(m)
    assert 'unknown request id' in m.stderr(), m.stderr()
    m.unmount()


@pytest.mark.parametrize('mode', ['realpath0', 'realpath2', 'realpathrel',
                                  'version2', 'badext'])
def test_broken_start(rfs, hostile, mode):
    """A REALPATH with no name, two names or a relative path; VERSION 2;
    a truncated extension: the mount fails at once with a clear
    message."""
    rfs.use(hostile(mode, '-'))
    res = rfs.run(remote='/hostile')
    assert res.rc >= 0, 'rfs died of signal %d\n%r' % (-res.rc, res)
    want = 'version 2' if mode == 'version2' else 'protocol error'
    assert_fails(res, EXIT_PROTOCOL, want, mnt=rfs.mnt)


@pytest.mark.parametrize('mode', ['limits0', 'limits1', 'limitsbig'])
def test_odd_limits(rfs, hostile, mode):
    """limits@openssh.com of 0 (no limit), 1 byte, 2^64-1: reads still give
    the right bytes in bounded memory."""
    rfs.use(hostile(mode, '-'))
    m = rfs.mount(remote_path='/hostile')
    with open(m.path('b.txt'), 'rb') as f:
        assert f.read() == b'bravo bravo\n'
    assert_alive(m)
    m.unmount()


@pytest.mark.timeout_s(120)
def test_stderr_flood(rfs, hostile):
    """16 MiB on the server's stderr before VERSION and at every READDIR:
    the mount comes up and works, memory stays bounded."""
    rfs.use(hostile('stderr', '-'))
    m = rfs.mount(remote_path='/hostile')
    for _ in range(3):
        assert sorted(os.listdir(m.mnt)) == ['a.txt', 'b.txt', 'sub']
        os.listdir(m.path('sub'))
    assert_alive(m)
    m.unmount()


# -- the fake server itself -----------------------------------------------

class Client:
    """Just enough of an SFTP v3 client to check hostile_sftp.py."""

    def __init__(self, mode, when):
        self.p = subprocess.Popen([PYTHON, HOSTILE_SFTP, mode, when],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        self.id = 0

    def send(self, ptype, payload):
        self.p.stdin.write(struct.pack('>IB', len(payload) + 1, ptype) +
                           payload)
        self.p.stdin.flush()

    def request(self, ptype, payload):
        self.id += 1
        self.send(ptype, struct.pack('>I', self.id) + payload)
        return self.id

    def read_raw(self, n):
        return self.p.stdout.read(n)

    def recv(self):
        hdr = self.read_raw(4)
        n = struct.unpack('>I', hdr)[0]
        data = self.read_raw(n)
        return data[0], data[1:]

    def close(self):
        self.p.stdin.close()
        try:
            self.p.wait(5)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()


def sstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack('>I', len(b)) + b


def test_fake_server_honest_part():
    c = Client('none', 'trigger')
    try:
        c.send(1, struct.pack('>I', 3))
        t, body = c.recv()
        assert t == 2 and struct.unpack('>I', body[:4])[0] == 3
        assert b'limits@openssh.com' in body
        c.request(16, sstr('.'))
        t, body = c.recv()
        assert t == 104 and b'/hostile' in body
        c.request(17, sstr('/hostile/a.txt'))
        t, body = c.recv()
        assert t == 105
        c.request(7, sstr('/hostile/trigger-x'))  # mode none: honest
        t, body = c.recv()
        assert t == 101 and struct.unpack('>I', body[4:8])[0] == 2
        c.request(11, sstr('/hostile'))
        t, body = c.recv()
        assert t == 102
        h = body[4:]
        c.request(12, h)
        t, body = c.recv()
        assert t == 104 and struct.unpack('>I', body[4:8])[0] == 5
        c.request(12, h)
        t, body = c.recv()
        assert t == 101 and struct.unpack('>I', body[4:8])[0] == 1  # EOF
        c.request(200, sstr('limits@openssh.com'))
        t, body = c.recv()
        assert t == 201 and len(body) == 4 + 32
    finally:
        c.close()


@pytest.mark.parametrize('when', ['init', 'trigger'])
@pytest.mark.parametrize('mode', MODES)
def test_fake_server_misbehaves(mode, when):
    c = Client(mode, when)
    try:
        c.send(1, struct.pack('>I', 3))
        if when == 'trigger':
            t, _ = c.recv()
            assert t == 2
            c.request(17, sstr('/hostile'))
            t, _ = c.recv()
            assert t == 105
            rid = c.request(7, sstr('/hostile/trigger-x'))
        else:
            rid = 0
        hdr = c.read_raw(4)
        n = struct.unpack('>I', hdr)[0]
        if mode == 'truncated':
            assert n == 100 and len(c.read_raw(200)) == 10
        elif mode == 'zero':
            assert n == 0
        elif mode == 'huge':
            assert n == 1 << 31
        elif mode == 'badid':
            data = c.read_raw(n)
            assert struct.unpack('>I', data[1:5])[0] != rid
        elif mode == 'garbage_attrs':
            data = c.read_raw(n)
            assert data[0] == 105 and n == 9  # type, id, flags only
            assert struct.unpack('>I', data[5:9])[0] & 0xf == 0xf
    finally:
        c.close()


@pytest.mark.parametrize('mode', MODES)
def test_fake_server_breaks_openssh_sftp(hostile, mode, tmp_path):
    s = hostile(mode, 'init')
    batch = tmp_path / 'batch'
    batch.write_text('ls /hostile\n')
    cmd = ['/usr/bin/sftp', '-b', str(batch)] + \
        s.ssh_cmd(s.keys.user_ed25519)[1:]
    cmd[cmd.index('-p')] = '-P'
    r = run(cmd, check=False, timeout=30)
    assert r.returncode != 0, r.stdout


def test_fake_server_serves_openssh_sftp(hostile, tmp_path):
    s = hostile('badid', 'trigger')
    batch = tmp_path / 'batch'
    batch.write_text('ls -l /hostile\nget /hostile/b.txt %s\n' %
                     (tmp_path / 'b'))
    cmd = ['/usr/bin/sftp', '-b', str(batch)] + \
        s.ssh_cmd(s.keys.user_ed25519)[1:]
    cmd[cmd.index('-p')] = '-P'
    r = run(cmd, check=False, timeout=30)
    assert r.returncode == 0, r.stderr
    assert 'a.txt' in r.stdout and 'sub' in r.stdout
    assert (tmp_path / 'b').read_bytes() == b'bravo bravo\n'
