"""Statistics (user.rfs.stats, SIGUSR1), local xattr answers, sd_notify."""

import errno
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from harness import (assert_errno, is_mounted, parse_stats, rfs_bin,
                     run_rfs, wait_for, EXIT_CONNECT, EXIT_USAGE)
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


# -- rfs status ----------------------------------------------------------------

def status(mnt, *args, env=None, timeout=10):
    return run_rfs([rfs_bin(), 'status'] + list(args) + [str(mnt)],
                   env=env, timeout=timeout)


def status_fields(mnt, *args):
    """rfs status's "key: value" lines as a dict; asserts its shape."""
    r = status(mnt, *args)
    assert r.rc == 0 and r.stderr == '', r
    fields = {}
    for line in r.stdout.splitlines():
        k, sep, v = line.partition(': ')
        assert sep and k and v, 'not "key: value": %r\n%r' % (line, r)
        fields[k] = v
    return fields


def count(v):
    """"1.2 MiB (1234567 bytes)" -> 1234567; "588 bytes", "12" -> 588,
    12."""
    return int(v.split('(')[1].split()[0] if '(' in v else v.split()[0])


def test_status_of_a_live_mount(rfs, remote, sshd):
    """Works without -o xattr; counters move with the reads."""
    data = os.urandom(300000)
    (remote / 'big').write_bytes(data)
    m = rfs.mount()
    os.listdir(m.mnt)
    f1 = status_fields(m.mnt)
    assert f1['mountpoint'] == str(m.mnt), f1
    assert f1['remote'] == 'root@127.0.0.1:%d:%s' % (sshd.port, remote), f1
    assert f1['transport'].startswith('SFTP over SSH, 1 connection'), f1
    assert f1['state'].startswith('up since '), f1
    assert f1['uptime'].endswith(' s') or 'min' in f1['uptime'], f1
    assert f1['daemon pid'] == str(m.pid), f1
    assert count(f1['requests in flight']) == 0, f1
    assert count(f1['reconnects']) == 0, f1
    assert count(f1['open files and directories']) == 0, f1
    assert f1['round trip'].endswith(' ms'), f1
    assert '%' in f1['metadata cache hit rate'], f1
    with open(m.path('big'), 'rb') as fh:
        assert fh.read() == data
        f2 = status_fields(m.mnt)   # while it is open
        assert count(f2['open files and directories']) >= 1, f2
    assert count(f2['bytes received']) >= count(f1['bytes received']) + \
        len(data), (f1, f2)
    assert count(f2['requests sent']) > count(f1['requests sent']), (f1, f2)
    assert count(f2['bytes sent']) > count(f1['bytes sent']), (f1, f2)
    # The same by its other name, and by a relative path with a slash.
    r = run_rfs([rfs_bin(), '--status', str(m.mnt)])
    assert r.rc == 0 and 'state: up since' in r.stdout, r
    r = run_rfs([rfs_bin(), 'status', 'mnt/'], cwd=str(rfs.tmp))
    assert r.rc == 0 and 'mountpoint: %s\n' % m.mnt in r.stdout, r


def test_status_raw_is_the_xattr_line(mount, remote):
    (remote / 'f').write_text('x' * 5000)
    m = mount(extra_o=['xattr'])
    with open(m.path('f')) as fh:
        fh.read()
    r = status(m.mnt, '--raw')
    assert r.rc == 0 and r.stderr == '', r
    raw = parse_stats(r.stdout)
    x = stats(m.mnt)
    assert r.stdout.count('\n') == 1, r
    assert raw.keys() == x.keys(), (raw, x)
    for k in ('conns', 'channels', 'reconnects'):
        assert raw[k] == x[k], (raw, x)
    for k in ('requests', 'bytes_in', 'bytes_out'):   # only grow
        assert raw[k] <= x[k] <= raw[k] + 10000, (k, raw, x)


def test_status_of_other_paths(tmp_path):
    r = status(tmp_path)
    assert r.rc == EXIT_USAGE, r
    assert r.stderr == 'rfs: %s: not an rfs mount\n' % tmp_path, r
    r = status('/proc')
    assert r.rc == EXIT_USAGE, r
    assert r.stderr == 'rfs: /proc: not an rfs mount (a proc mount)\n', r
    r = status(tmp_path / 'missing' / 'mnt')
    assert r.rc == EXIT_USAGE and 'No such file' in r.stderr, r
    r = run_rfs([rfs_bin(), 'status'])
    assert r.rc == EXIT_USAGE and 'missing MOUNTPOINT' in r.stderr, r


def test_status_after_kill9(rfs):
    m = rfs.mount()
    os.listdir(m.mnt)
    snap = status_fields(m.mnt)['SIGUSR1 snapshot'].split(' (')[0]
    sock = snap[:-len('.stats')] + '.sock'
    try:
        os.kill(m.pid, signal.SIGKILL)
        m.proc.wait(5)
        m.unmounted = True
        t0 = time.monotonic()
        r = status(m.mnt)
        assert time.monotonic() - t0 < 2, r
        assert r.rc == EXIT_CONNECT, r
        assert r.stderr.startswith('rfs: %s: no daemon answers (the rfs '
                                   'process is gone)' % m.mnt), r
        assert wait_for(lambda: not is_mounted(m.mnt), 2)
    finally:
        os.unlink(sock)     # left for rfs status to find; no one else's


def test_status_of_a_frozen_daemon_does_not_hang(rfs):
    m = rfs.mount()
    os.listdir(m.mnt)
    os.kill(m.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = status(m.mnt)
        took = time.monotonic() - t0
    finally:
        os.kill(m.pid, signal.SIGCONT)
    assert r.rc == EXIT_CONNECT and 'does not answer' in r.stderr, r
    assert took < 4, took
    assert status(m.mnt).rc == 0


def test_sigusr1_snapshot_where_status_shows_it(mount):
    m = mount()
    os.listdir(m.mnt)
    f = status_fields(m.mnt)
    snap, when = f['SIGUSR1 snapshot'].split(' (')
    assert when == 'none yet)', f
    assert not os.path.exists(snap)
    os.kill(m.pid, signal.SIGUSR1)
    assert wait_for(lambda: os.path.exists(snap), 5), snap
    with open(snap) as fh:
        text = fh.read()
    assert 'requests=' in text and 'bytes_in=' in text, text
    assert status_fields(m.mnt)['SIGUSR1 snapshot'] == '%s (%s)' % (
        snap, ' '.join(text.split()[:2]))
    assert oct(os.stat(snap).st_mode & 0o777) == '0o600'
    d = os.path.dirname(snap)
    assert d == '/run/rfs', d   # root's
    assert oct(os.stat(d).st_mode & 0o777) == '0o700'
    socks = [n for n in os.listdir(d) if n.endswith('.sock') and
             snap.startswith(os.path.join(d, n[:-5]))]
    assert len(socks) == 1, os.listdir(d)
    sock = os.path.join(d, socks[0])
    assert oct(os.stat(sock).st_mode & 0o777) == '0o600'
    m.unmount()
    assert not os.path.exists(sock) and not os.path.exists(snap)


def test_status_follows_the_link(rfs, proxied):
    """up -> reconnecting (refused while cut) -> up again, one reconnect;
    answered while the link is down."""
    p, kh = proxied
    m = rfs.mount(port=p.port, known_hosts=kh,
                  extra_o=['reconnect_timeout=30'])
    os.listdir(m.mnt)
    assert status_fields(m.mnt)['state'].startswith('up since '), m.stderr()
    p.refuse()
    p.cut()
    assert wait_for(lambda: status_fields(m.mnt)['state'].startswith(
        'reconnecting since '), 10), (status_fields(m.mnt), m.stderr())
    p.restore()
    assert wait_for(lambda: status_fields(m.mnt)['state'].startswith(
        'up since '), 15), (status_fields(m.mnt), m.stderr())
    f = status_fields(m.mnt)
    assert count(f['reconnects']) == 1, f
    ago = f['state'].split('(')[1]
    assert ago.endswith(' s ago)') and int(ago.split()[0]) <= 5, f  # anew


def test_status_says_down_past_reconnect_timeout(rfs, proxied):
    p, kh = proxied
    m = rfs.mount(port=p.port, known_hosts=kh,
                  extra_o=['reconnect_timeout=1'])
    os.listdir(m.mnt)
    p.refuse()
    p.cut()
    assert wait_for(lambda: status_fields(m.mnt)['state'].startswith(
        'down (operations fail with EIO; still reconnecting) since '), 10), \
        (status_fields(m.mnt), m.stderr())
    p.restore()
    assert wait_for(lambda: status_fields(m.mnt)['state'].startswith(
        'up since '), 40), (status_fields(m.mnt), m.stderr())
