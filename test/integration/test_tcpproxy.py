"""The fault-injecting TCP proxy itself (test/tcpproxy, driven through
proxy.TcpProxy), against small Python servers on 127.0.0.1, and once in
front of the harness's real sshd.

Every proxy and server a test starts is stopped in its teardown (proxies
by PID); every socket wait has a timeout.
"""

import hashlib
import os
import socket
import struct
import threading
import time

import pytest

from harness import run
from proxy import TcpProxy, ProxyError, tcpproxy_bin

MiB = 1 << 20


class Server:
    """A threaded TCP server on 127.0.0.1:<port>.

    mode 'echo' sends back what it reads (and closes after EOF), 'sink'
    reads and discards, 'hold' accepts and never reads. Each accepted
    connection gets a Peer record (bytes, sha256, eof, error).
    """

    class Peer:
        def __init__(self, sock):
            self.sock = sock
            self.n = 0
            self.sha = hashlib.sha256()
            self.got_data = threading.Event()
            self.ended = threading.Event()   # EOF or error seen
            self.error = None

    def __init__(self, mode='echo', hash_data=False):
        self.mode = mode
        self.hash_data = hash_data
        self.peers = []
        self.stopping = False
        self.threads = []
        self.ls = socket.socket()
        self.ls.bind(('127.0.0.1', 0))
        self.ls.listen(64)
        self.ls.settimeout(0.1)
        self.port = self.ls.getsockname()[1]
        self._spawn(self._accept_loop)

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self.threads.append(t)

    def _accept_loop(self):
        while not self.stopping:
            try:
                s, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            s.settimeout(None)
            p = Server.Peer(s)
            self.peers.append(p)
            if self.mode != 'hold':
                self._spawn(self._serve, p)

    def _serve(self, p):
        buf = bytearray(256 * 1024)
        try:
            while True:
                k = p.sock.recv_into(buf)
                if not k:
                    break
                p.n += k
                if self.hash_data:
                    p.sha.update(memoryview(buf)[:k])
                p.got_data.set()
                if self.mode == 'echo':
                    p.sock.sendall(memoryview(buf)[:k])
        except OSError as e:
            p.error = e
        p.ended.set()
        if self.mode == 'echo':
            try:
                p.sock.close()
            except OSError:
                pass

    def wait_peers(self, n, timeout=2.0):
        deadline = time.monotonic() + timeout
        while len(self.peers) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.peers) >= n

    def close(self):
        self.stopping = True
        for p in self.peers:
            try:
                p.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(5)
        for p in self.peers:
            p.sock.close()
        self.ls.close()


@pytest.fixture
def servers():
    made = []

    def make(mode='echo', hash_data=False):
        s = Server(mode, hash_data)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


@pytest.fixture
def proxies():
    made = []

    def make(target_port, delay_ms=0):
        px = TcpProxy(target_port, delay_ms).start()
        made.append(px)
        return px
    yield make
    for px in made:
        px.stop()


def connect(px, timeout=5.0):
    s = socket.create_connection(('127.0.0.1', px.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError('EOF after %d of %d bytes' % (len(out), n))
        out += chunk
    return bytes(out)


def round_trip(s, msg=b'ping'):
    """Seconds for msg to go through an echo server and back."""
    t0 = time.monotonic()
    s.sendall(msg)
    assert recv_exact(s, len(msg)) == msg
    return time.monotonic() - t0


def expect_silence(s, seconds):
    """Nothing arrives within `seconds` and the socket is not closed."""
    s.settimeout(seconds)
    with pytest.raises(socket.timeout):
        data = s.recv(100)
        pytest.fail('expected silence, got %r' % data)


def cpu_ticks(pid):
    """utime + stime of pid in clock ticks."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------


@pytest.mark.parametrize('delay_ms', [0, 3])
def test_passthrough_sha256_both_ways(servers, proxies, delay_ms):
    """64 MiB of random data up and back again; both ends hash it, and the
    client's half-close travels through as FIN, then the server's."""
    srv = servers('echo', hash_data=True)
    px = proxies(srv.port, delay_ms)
    data = os.urandom(64 * MiB)
    sent_sha = hashlib.sha256(data).hexdigest()
    s = connect(px, timeout=20)
    err = []

    def writer():
        try:
            view = memoryview(data)
            for off in range(0, len(data), 4 * MiB):
                s.sendall(view[off:off + 4 * MiB])
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    got, n = hashlib.sha256(), 0
    buf = bytearray(1 * MiB)
    while True:
        k = s.recv_into(buf)
        if not k:
            break
        got.update(memoryview(buf)[:k])
        n += k
    t.join(10)
    s.close()
    assert not err
    assert n == len(data)
    assert got.hexdigest() == sent_sha
    assert srv.peers[0].ended.wait(5)
    assert srv.peers[0].n == len(data)
    assert srv.peers[0].sha.hexdigest() == sent_sha


def send_bulk(port, total, block=4 * MiB):
    """Send `total` bytes to 127.0.0.1:port and half-close."""
    s = socket.create_connection(('127.0.0.1', port), timeout=20)
    data = memoryview(bytearray(block))
    for _ in range(total // block):
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    return s


def test_throughput_at_delay_0(servers, proxies):
    srv = servers('sink')
    px = proxies(srv.port)
    total = 512 * MiB
    t0 = time.monotonic()
    s = send_bulk(px.port, total)
    assert srv.wait_peers(1)
    assert srv.peers[0].ended.wait(20)
    dt = time.monotonic() - t0
    s.close()
    rate = total / dt / 1e6
    print('tcpproxy delay 0: %d MiB in %.3f s = %.0f MB/s'
          % (total // MiB, dt, rate))
    assert srv.peers[0].n == total
    assert px.stats()['bytes_up'] == total
    assert rate > 200


def test_throughput_at_delay_5_with_16mib_window(servers, proxies):
    """A sender keeping at most 16 MiB unacknowledged (as a readahead
    window would), acked by the receiver every MiB: each window costs one
    RTT (10 ms), so 256 MiB take at least 16 RTTs = 160 ms."""
    window, total, ack_every = 16 * MiB, 256 * MiB, 1 * MiB
    ls = socket.socket()
    ls.bind(('127.0.0.1', 0))
    ls.listen(1)
    ls.settimeout(5)
    px = proxies(ls.getsockname()[1], delay_ms=5)
    received = []

    def receiver():
        c, _ = ls.accept()
        c.settimeout(20)
        buf, n, acked = bytearray(1 * MiB), 0, 0
        while n < total:
            k = c.recv_into(buf)
            if not k:
                break
            n += k
            if n - acked >= ack_every or n == total:
                acked = n
                c.sendall(struct.pack('!Q', n))
        received.append(n)
        c.close()
    t = threading.Thread(target=receiver, daemon=True)
    t.start()
    s = connect(px, timeout=20)
    block = memoryview(bytearray(1 * MiB))
    sent = acked = 0
    pending = b''
    t0 = time.monotonic()
    while acked < total:
        assert time.monotonic() - t0 < 30, 'stalled at %d MiB' % (acked >> 20)
        if sent < total and sent - acked < window:
            s.sendall(block)
            sent += len(block)
            continue
        data = s.recv(4096)
        assert data, 'EOF after %d MiB acked' % (acked >> 20)
        pending += data
        while len(pending) >= 8:
            acked = struct.unpack('!Q', pending[:8])[0]
            pending = pending[8:]
    dt = time.monotonic() - t0
    t.join(5)
    s.close()
    ls.close()
    rate = total / dt / 1e6
    print('tcpproxy delay 5 ms, 16 MiB window: %d MiB in %.3f s = %.0f MB/s'
          ' (ceiling 16 MiB / 10 ms = %.0f MB/s)'
          % (total // MiB, dt, rate, window / 0.010 / 1e6))
    assert received == [total]
    assert dt >= (total // window) * 0.010
    assert rate > 100


def test_added_delay(servers, proxies):
    srv = servers('echo')
    px = proxies(srv.port)
    s = connect(px)
    base = min(round_trip(s) for _ in range(5))
    assert base < 0.02
    # The open connection slows down too, and new ones start slow.
    px.delay(25)
    rtts = [round_trip(s) for _ in range(3)]
    s2 = connect(px)
    rtts += [round_trip(s2) for _ in range(3)]
    print('round trips at delay 25: %s ms'
          % ', '.join('%.1f' % (r * 1000) for r in rtts))
    assert all(0.050 <= r < 0.150 for r in rtts)
    px.delay(0)
    assert min(round_trip(s) for _ in range(3)) < 0.02
    assert px.stats()['delay_ms'] == 0
    s.close()
    s2.close()


def test_delay_keeps_order_of_many_small_writes(servers, proxies):
    srv = servers('echo')
    px = proxies(srv.port, delay_ms=20)
    s = connect(px)
    msgs = [b'%06d;' % i for i in range(2000)]
    t0 = time.monotonic()
    for m in msgs:
        s.sendall(m)
    assert recv_exact(s, sum(map(len, msgs))) == b''.join(msgs)
    assert time.monotonic() - t0 >= 0.040
    s.close()


def test_cut_resets_both_sides(servers, proxies):
    srv = servers('echo')
    px = proxies(srv.port)
    s = connect(px)
    round_trip(s)
    t0 = time.monotonic()
    assert px.cut() == 1
    # RST, not FIN: neither side mistakes it for an orderly close.
    s.settimeout(1)
    with pytest.raises(ConnectionResetError):
        s.recv(100)
    assert time.monotonic() - t0 < 0.5
    assert srv.peers[0].ended.wait(1)
    assert isinstance(srv.peers[0].error, ConnectionResetError)
    assert px.stats()['conns'] == 0
    s.close()
    # The proxy itself carries on.
    s = connect(px)
    round_trip(s)
    s.close()


def test_blackhole_then_restore(servers, proxies):
    srv = servers('echo')
    px = proxies(srv.port)
    s = connect(px)
    round_trip(s)
    px.blackhole()
    s.sendall(b'lost?')
    expect_silence(s, 1.0)
    # Still open: more can be sent, and nothing is reset.
    s.sendall(b'more')
    # A new connection is accepted, but the target is not even dialled.
    s2 = connect(px)
    s2.sendall(b'hello')
    expect_silence(s2, 0.3)
    assert len(srv.peers) == 1
    assert px.stats()['conns'] == 2
    px.restore()
    # The partition heals: held data goes through, in order.
    s.settimeout(5)
    assert recv_exact(s, 9) == b'lost?more'
    s2.settimeout(5)
    assert recv_exact(s2, 5) == b'hello'
    s3 = connect(px)
    round_trip(s3)
    assert len(srv.peers) == 3
    for x in (s, s2, s3):
        x.close()


def test_blackhole_stops_reading(servers, proxies):
    """Peers' sends eventually block: the proxy reads nothing."""
    srv = servers('sink')
    px = proxies(srv.port)
    s = connect(px)
    s.sendall(b'x')
    assert srv.wait_peers(1)
    assert srv.peers[0].got_data.wait(2)
    px.blackhole()
    s.setblocking(False)
    sent, block = 0, b'\0' * 65536
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            sent += s.send(block)
        except BlockingIOError:
            break
    else:
        pytest.fail('client send never blocked (%d bytes)' % sent)
    # Only what the kernel buffers hold, nowhere near the proxy's 64 MiB.
    assert sent < 48 * MiB
    assert srv.peers[0].n == 1
    s.close()


def test_drop_replies_then_cut(servers, proxies):
    srv = servers('echo')
    px = proxies(srv.port)
    s = connect(px)
    round_trip(s)
    before = px.stats()
    px.drop_replies()
    s.sendall(b'do-it')
    # The server did it ...
    deadline = time.monotonic() + 2
    while srv.peers[0].n < 4 + 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.peers[0].n == 9
    # ... but the reply never comes.
    expect_silence(s, 0.5)
    st = px.stats()
    assert st['bytes_up'] == before['bytes_up'] + 5
    assert st['bytes_down'] == before['bytes_down']
    assert st['dropped'] == 5
    assert px.cut() == 1
    s.settimeout(1)
    with pytest.raises(ConnectionResetError):
        s.recv(100)
    s.close()
    px.restore()
    s = connect(px)
    round_trip(s)
    s.close()


def test_refuse_and_restore(servers, proxies):
    srv = servers('echo')
    px = proxies(srv.port)
    s = connect(px)
    px.refuse()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(('127.0.0.1', px.port), timeout=2)
    round_trip(s)   # open connections are not affected
    px.restore()
    s2 = connect(px)
    round_trip(s2)
    assert px.stats()['accepted'] == 2
    s.close()
    s2.close()


def test_stats_count_bytes_and_connections(servers, proxies):
    srv = servers('echo')
    px = proxies(srv.port)
    assert px.stats() == {'conns': 0, 'bytes_up': 0, 'bytes_down': 0,
                          'accepted': 0, 'dropped': 0, 'delay_ms': 0}
    a, b = connect(px), connect(px)
    round_trip(a, b'x' * 1000)
    round_trip(b, b'y' * 234)
    st = px.stats()
    assert (st['conns'], st['accepted']) == (2, 2)
    assert st['bytes_up'] == st['bytes_down'] == 1234
    a.close()
    b.close()
    deadline = time.monotonic() + 2
    while px.stats()['conns'] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert px.stats()['conns'] == 0


def test_control_errors(servers, proxies):
    px = proxies(servers('echo').port)
    for bad in ('bogus', 'delay', 'delay -5', 'delay 10x', 'delay 9999999'):
        with pytest.raises(ProxyError):
            px.command(bad)
    assert px.stats()['delay_ms'] == 0


def test_backpressure_bounds_memory(servers, proxies):
    """A server that never reads: the proxy queues at most 64 MiB, then
    stops reading, and the client's send blocks."""
    srv = servers('hold')
    px = proxies(srv.port)
    s = connect(px)
    s.settimeout(0.5)
    sent, block = 0, memoryview(bytearray(1 * MiB))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            s.sendall(block)
        except socket.timeout:
            break
        sent += len(block)
    else:
        pytest.fail('client send never blocked (%d MiB)' % (sent // MiB))
    rss = rss_kib(px.pid) * 1024
    print('blocked after %d MiB; proxy RSS %d MiB' % (sent // MiB,
                                                      rss // MiB))
    # 64 MiB queued plus socket buffers (32 MiB receive at most here).
    assert 64 * MiB <= sent < 120 * MiB
    assert rss < 100 * MiB
    s.close()


def test_idle_proxy_uses_no_cpu(servers, proxies):
    """Blackholed, half-closed, delayed and reset connections: while
    nothing moves, the proxy sleeps (level-triggered HUPs, timers)."""
    echo, hold = servers('echo'), servers('hold')
    px_hold = proxies(hold.port, delay_ms=50)
    half = connect(px_hold)
    half.sendall(b'abc')
    half.shutdown(socket.SHUT_WR)
    px = proxies(echo.port, delay_ms=5)
    a, b = connect(px), connect(px)
    round_trip(a)
    round_trip(b)
    px.blackhole()
    a.sendall(b'held')
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 struct.pack('ii', 1, 0))
    b.close()   # RST to a blackholed socket
    time.sleep(0.2)
    t0 = cpu_ticks(px.pid) + cpu_ticks(px_hold.pid)
    time.sleep(1.0)
    used = cpu_ticks(px.pid) + cpu_ticks(px_hold.pid) - t0
    assert used <= 2, '%d ticks of CPU in 1 s while idle' % used
    px.restore()
    a.settimeout(2)
    assert recv_exact(a, 4) == b'held'
    deadline = time.monotonic() + 2
    while px.stats()['conns'] != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert px.stats()['conns'] == 1   # b's reset is noticed now
    a.close()
    half.close()


def test_sigterm_exits_cleanly(servers):
    srv = servers('echo')
    px = TcpProxy(srv.port).start()
    try:
        s = connect(px)
        round_trip(s)
        ctl = px.ctl
        assert os.path.exists(ctl)
        t0 = time.monotonic()
        assert px.stop() == 0
        assert time.monotonic() - t0 < 2
        assert not os.path.exists(ctl)
        s.settimeout(1)
        assert s.recv(10) == b''
        s.close()
    finally:
        px.stop()


@pytest.mark.parametrize('args,needle', [
    (['--listen', '0.0.0.0:0', '--target', '127.0.0.1:22'], 'loopback'),
    (['--listen', '127.0.0.1:0', '--target', '10.1.2.3:22'], 'loopback'),
    (['--listen', '127.0.0.1:0', '--target', 'example.com:22'], 'numeric'),
    (['--listen', '127.0.0.1:0', '--target', '127.0.0.1:0'], 'port'),
    (['--listen', '127.0.0.1:0'], 'usage'),
])
def test_refuses_bad_addresses(tmp_path, args, needle):
    r = run([tcpproxy_bin()] + args + ['--control', str(tmp_path / 'c')],
            check=False, timeout=5)
    assert r.returncode != 0
    assert needle in r.stderr
    assert r.stdout == ''


def test_connect_failure_resets_client(proxies):
    with socket.socket() as probe:   # a port nobody listens on
        probe.bind(('127.0.0.1', 0))
        dead_port = probe.getsockname()[1]
    px = proxies(dead_port)
    # The reset can beat connect() itself back to a busy client.
    with pytest.raises(ConnectionResetError):
        with connect(px, timeout=2) as s:
            s.recv(10)
    assert px.stats()['conns'] == 0


def test_ssh_through_proxy_with_delay(sshd, keys, proxies, tmp_path):
    px = proxies(sshd.port, delay_ms=10)
    kh = tmp_path / 'known_hosts'
    kh.write_text(''.join('[127.0.0.1]:%d %s\n' % (px.port, line)
                          for line in sshd.host_pub_lines()))
    cmd = ['/usr/bin/ssh', '-F', '/dev/null', '-i', keys.user_ed25519,
           '-p', str(px.port), '-o', 'IdentitiesOnly=yes',
           '-o', 'BatchMode=yes', '-o', 'UserKnownHostsFile=%s' % kh,
           '-o', 'GlobalKnownHostsFile=/dev/null',
           '-o', 'StrictHostKeyChecking=yes', 'root@127.0.0.1', 'true']
    t0 = time.monotonic()
    r = run(cmd, check=False, timeout=30)
    dt = time.monotonic() - t0
    assert r.returncode == 0, r.stderr + px.log_text()
    st = px.stats()
    print('ssh true through tcpproxy at delay 10: %.0f ms, %s'
          % (dt * 1000, st))
    # Banner, KEX, auth, channel: well over two 20 ms round trips.
    assert dt >= 0.1
    assert st['accepted'] == 1 and st['bytes_up'] > 0 and st['bytes_down'] > 0
