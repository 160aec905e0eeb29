"""Statistics (user.rfs.stats, SIGUSR1), local xattr answers, sd_notify."""

import errno
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from harness import assert_errno, parse_stats, wait_for
from harness import rfs_stats as stats


def test_stats_xattr(mount, remote):
    (remote / 'f').write_text('x' * 100000)
    m = mount(extra_o=['xattr'])
    os.listdir(m.mnt)
    with open(m.path('f'), 'rb') as f:
        assert len(f.read()) == 100000
    s = stats(m.mnt)
    assert s['requests'] > 3, s
    assert s['bytes_in'] >= 100000, s
    assert s['bytes_out'] > 0, s
    assert s['reconnects'] == 0, s
    os.stat(m.path('f'))
    assert not os.path.exists(m.path('missing'))
    s2 = stats(m.mnt)
    print(s2)
    assert s2['requests'] >= s['requests']
    assert s2['cache_hits'] + s2['cache_misses'] > 0, s2
    if shutil.which('getfattr'):
        r = subprocess.run(['getfattr', '--only-values', '-n',
                            'user.rfs.stats', m.mnt], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        parse_stats(r.stdout)


def test_other_xattrs_answered_locally(mount, remote):
    (remote / 'f').write_text('data')
    m = mount(extra_o=['xattr'])
    f = m.path('f')
    os.stat(f)
    before = stats(m.mnt)['requests']
    for _ in range(20):
        assert_errno(errno.ENODATA, os.getxattr, f, 'security.capability')
        assert_errno(errno.ENODATA, os.getxattr, f, 'user.rfs.stats')
        assert_errno(errno.ENODATA, os.getxattr, m.mnt, 'user.other')
        assert os.listxattr(f) == []
        assert os.listxattr(m.mnt) == []
        assert_errno(errno.ENOTSUP, os.setxattr, f, 'user.x', b'1')
        assert_errno(errno.ENOTSUP, os.removexattr, f, 'user.x')
    assert stats(m.mnt)['requests'] == before, 'xattr calls hit the server'
    # Writes still work (the kernel asks for security.capability first).
    with open(f, 'w') as fh:
        fh.write('new')
    assert (remote / 'f').read_text() == 'new'


def test_sigusr1_logs_stats(mount):
    m = mount(extra_o=['loglevel=error'])
    os.listdir(m.mnt)
    os.kill(m.pid, signal.SIGUSR1)
    assert wait_for(lambda: 'stats: requests=' in m.stderr(), 5), m.stderr()
    line = [ln for ln in m.stderr().splitlines() if 'stats: ' in ln][0]
    assert 'bytes_in=' in line and 'rtt_ms=' in line, line
    # Still serving after the signal.
    os.listdir(m.mnt)


@pytest.mark.parametrize('abstract', [False, True])
def test_sd_notify(rfs, tmp_path, abstract):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = 'rfs-test-%d-%s' % (os.getpid(), os.urandom(4).hex())
        sock.bind('\0' + name)
        addr = '@' + name
    else:
        addr = str(tmp_path / 'notify.sock')
        sock.bind(addr)
    sock.settimeout(10)
    env = dict(rfs.env, NOTIFY_SOCKET=addr)
    try:
        m = rfs.mount(env=env)
        msgs = []
        while not any('READY=1' in x for x in msgs):
            msgs.append(sock.recv(4096).decode())
        ready = [x for x in msgs if 'READY=1' in x][0]
        assert 'STATUS=Mounted' in ready, msgs
        assert str(rfs.mnt) in ready, msgs
        assert any(x.startswith('STATUS=Connecting') for x in msgs), msgs
        # READY means the mount answers.
        assert os.path.ismount(rfs.mnt)
        os.listdir(rfs.mnt)
        m.unmount()
        stopping = sock.recv(4096).decode()
        assert 'STOPPING=1' in stopping, stopping
    finally:
        sock.close()


def test_sd_notify_bad_socket_is_harmless(rfs):
    env = dict(rfs.env, NOTIFY_SOCKET='relative/name')
    m = rfs.mount(env=env)
    os.listdir(rfs.mnt)
    assert 'NOTIFY_SOCKET' in m.stderr()
    time.sleep(0.1)


def test_stats_count_reconnects(rfs, sshd, tmp_path):
    from proxy import TcpProxy
    p = TcpProxy(sshd.port).start()
    try:
        kh = str(tmp_path / 'known_hosts_proxy')
        with open(kh, 'w') as f:
            f.write(sshd.known_hosts_text().replace(
                '[127.0.0.1]:%d' % sshd.port, '[127.0.0.1]:%d' % p.port))
        m = rfs.mount(port=p.port, known_hosts=kh,
                      extra_o=['cache=no,reconnect_timeout=20,xattr'])
        os.listdir(m.mnt)
        assert stats(m.mnt)['reconnects'] == 0
        p.cut()
        p.restore()
        def back():
            try:
                os.listdir(m.mnt)   # notices the cut, waits for the link
            except OSError:
                return False
            return 'reconnected' in m.stderr()
        assert wait_for(back, 15), m.stderr()
        assert stats(m.mnt)['reconnects'] == 1, m.stderr()
        m.unmount()
    finally:
        p.stop()


@pytest.mark.parametrize('opt', [None, 'noxattr'])
def test_noxattr_answers_enosys(mount, opt):
    """By default (or -o noxattr): no xattrs at all, the kernel stops
    asking (ls -l makes no call per file), so no stats xattr either."""
    import errno
    m = mount(extra_o=[opt] if opt else [])
    for path in (m.mnt,):
        try:
            os.getxattr(path, 'user.rfs.stats')
            raise AssertionError('stats readable with noxattr')
        except OSError as e:
            assert e.errno in (errno.EOPNOTSUPP, errno.ENOTSUP), e
