"""Never a frozen mount: a link that goes silent (a blackhole: packets
vanish, sockets stay open, the case that hangs sshfs) is detected within
dead_after, the waiting operation fails with EIO instead of hanging, and
after the link comes back rfs reconnects by itself."""

import os
import subprocess
import time

import pytest



def read_in_child(path, timeout):
    """cat in a child (a hung read must not hang the test): (rc, secs)."""
    t = time.monotonic()
    try:
        r = subprocess.run(['cat', path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=timeout)
        return r.returncode, time.monotonic() - t
    except subprocess.TimeoutExpired:
        return 'TIMEOUT', time.monotonic() - t


def test_blackhole_detected_and_reconnected(rfs, remote, proxied):
    proxy, kh = proxied
    (remote / 'a').write_bytes(b'a' * 100000)
    (remote / 'b').write_bytes(b'b' * 100000)
    m = rfs.mount(port=proxy.port, known_hosts=kh,
                  extra_o=['probe_after=1,dead_after=3,reconnect_timeout=5',
                           'ConnectTimeout=3,cache=no'])
    assert os.listdir(m.mnt)
    proxy.blackhole()
    rc, secs = read_in_child(os.path.join(m.mnt, 'a'), 30)
    assert rc not in (0, 'TIMEOUT'), (rc, secs)
    # The documented bound: detection (dead_after, 3 s) + reconnect_timeout
    # (5 s: the kernel retries a failed revalidation once, and that retry
    # waits for the link) + slack.
    assert secs < 3 + 5 + 3, secs
    assert 'no answer from the server' in m.stderr()
    proxy.restore()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rc, _ = read_in_child(os.path.join(m.mnt, 'b'), 15)
        if rc == 0:
            break
        time.sleep(0.5)
    assert rc == 0, 'no reconnect after restore\n' + m.stderr()
    assert 'reconnected' in m.stderr()


def test_unmount_while_blackholed(rfs, proxied):
    proxy, kh = proxied
    m = rfs.mount(port=proxy.port, known_hosts=kh,
                  extra_o=['probe_after=1,dead_after=3'])
    assert os.path.ismount(m.mnt)
    proxy.blackhole()
    t = time.monotonic()
    m.unmount(timeout=10)          # asserts exit 0 within 10 s
    assert time.monotonic() - t < 5


def test_cut_link_requests_retried(rfs, remote, proxied):
    """A cut (both sides reset) while requests are in flight: requests
    that change nothing are sent again after the reconnect (and the
    kernel retries a failed revalidation), so the caller never sees the
    loss."""
    proxy, kh = proxied
    for i in range(20):
        os.symlink('target-%d' % i, str(remote / ('l%d' % i)))
    m = rfs.mount(port=proxy.port, known_hosts=kh,
                  extra_o=['cache=no,reconnect_timeout=20'])
    assert len(os.listdir(m.mnt)) == 20
    for i in range(20):
        os.lstat(os.path.join(m.mnt, 'l%d' % i))
    proxy.drop_replies()            # requests reach the server, no reply
    import threading
    results = []

    def readlink_all():
        for i in range(20):
            try:
                results.append(os.readlink(os.path.join(m.mnt, 'l%d' % i)))
            except OSError as e:
                results.append(e.errno)

    t = threading.Thread(target=readlink_all)
    t.start()
    time.sleep(1)
    proxy.cut()
    proxy.restore()
    t.join(30)
    assert not t.is_alive()
    assert results == ['target-%d' % i for i in range(20)], (results, m.stderr())
    assert 'reconnected' in m.stderr(), m.stderr()


@pytest.mark.timeout_s(90)
def test_blackhole_then_restore_read_completes(rfs, remote, proxied):
    """A 10 s blackhole under a long cat, with reconnect_timeout longer
    than that: the cat completes after the restore, with the right bytes
    (what it had read is kept, the rest comes over the new connection)."""
    import hashlib
    import threading
    proxy, kh = proxied
    data = os.urandom(64 << 20)
    (remote / 'big').write_bytes(data)
    m = rfs.mount(port=proxy.port, known_hosts=kh,
                  extra_o=['probe_after=1,dead_after=3,reconnect_timeout=30',
                           'cache=no'])
    out = {}

    def cat():
        r = subprocess.run(['cat', m.path('big')], stdout=subprocess.PIPE,
                           timeout=80)
        out['rc'], out['sha'] = r.returncode, hashlib.sha256(
            r.stdout).hexdigest()

    proxy.delay(2)                  # so that the cat is still running
    t = threading.Thread(target=cat)
    t.start()
    time.sleep(0.5)
    proxy.blackhole()
    time.sleep(10)
    assert t.is_alive()
    proxy.restore()
    proxy.delay(0)
    t.join(80)
    assert out.get('rc') == 0, (out, m.stderr())
    assert out['sha'] == hashlib.sha256(data).hexdigest()
    assert 'no answer from the server' in m.stderr()
    assert 'reconnected after' in m.stderr()


def test_write_after_reconnect_timeout_fails_not_hangs(rfs, proxied):
    """Past reconnect_timeout a write on an open file fails (EIO from the
    write or the fsync) at once; it must never wait on itself."""
    import errno
    import threading
    from harness import wait_for
    proxy, kh = proxied
    m = rfs.mount(port=proxy.port, known_hosts=kh, extra_o=[
        'probe_after=1,dead_after=2,reconnect_timeout=2'])
    fd = os.open(m.path('w'), os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.write(fd, b'x' * 1000)
        os.fsync(fd)
        proxy.blackhole()
        proxy.refuse()
        # A request on the silent link gets it noticed.
        subprocess.run(['stat', m.path('nothing-here')],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=20)
        assert wait_for(lambda: 'operations fail with EIO' in m.stderr(),
                        20), m.stderr()
        result = {}

        def write():
            try:
                os.write(fd, b'y' * (1 << 20))
                os.fsync(fd)
                result['r'] = 'ok'
            except OSError as e:
                result['r'] = e.errno

        t = threading.Thread(target=write, daemon=True)
        t.start()
        t.join(10)
        assert not t.is_alive(), 'the write hung'
        assert result['r'] == errno.EIO, result
    finally:
        proxy.restore()
        try:
            os.close(fd)
        except OSError:
            pass
