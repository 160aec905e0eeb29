"""A real link-down (issue 5): rfs in one network namespace, sshd in
another, joined by a veth pair the test makes. Setting the link down
drops packets at the interface: no proxy's kernel ACKs anything, so this
is what TCP and rfs's own liveness checks see on a cable pulled out.

Both namespaces and their addresses (10.77.x.0/24) exist only for the
test; processes are started in them with nsenter --net (the mount
namespace stays shared, so the FUSE mount is visible here) and stopped by
PID.
"""

import hashlib
import os
import subprocess
import time

import pytest

import harness
from harness import Sshd, in_netns, run


@pytest.fixture
def netns_pair():
    tag = os.urandom(3).hex()
    a, b = 'rfs-a-' + tag, 'rfs-b-' + tag
    net = '10.77.%d' % (int(tag, 16) % 250 + 1)
    made = []
    try:
        for ns in (a, b):
            run(['ip', 'netns', 'add', ns])
            made.append(ns)
        run(['ip', 'link', 'add', 'va', 'netns', a, 'type', 'veth',
             'peer', 'name', 'vb', 'netns', b])
        run(['ip', '-n', a, 'addr', 'add', net + '.1/24', 'dev', 'va'])
        run(['ip', '-n', b, 'addr', 'add', net + '.2/24', 'dev', 'vb'])
        for ns, dev in ((a, 'va'), (b, 'vb')):
            run(['ip', '-n', ns, 'link', 'set', dev, 'up'])
            run(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
        yield {'client': a, 'server': b, 'server_ip': net + '.2'}
    finally:
        for ns in made:
            run(['ip', 'netns', 'del', ns], check=False)


@pytest.fixture
def ns_sshd(keys, netns_pair):
    s = Sshd(keys, host=netns_pair['server_ip'],
             netns=netns_pair['server']).start()
    try:
        yield s
    finally:
        s.cleanup()


def cat_sha(path, timeout):
    """(returncode, sha256 hex, seconds) of cat path, in a child."""
    t = time.monotonic()
    try:
        r = subprocess.run(['cat', path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 'TIMEOUT', None, time.monotonic() - t
    return (r.returncode, hashlib.sha256(r.stdout).hexdigest(),
            time.monotonic() - t)


def link(netns_pair, state):
    run(['ip', '-n', netns_pair['client'], 'link', 'set', 'va', state])


@pytest.mark.timeout_s(120)
@pytest.mark.parametrize('outcome', ['completes', 'fails'])
def test_link_down_during_read(rfs, ns_sshd, netns_pair, outcome):
    """The link goes down for 6 s under a long read. With a
    reconnect_timeout longer than the outage the read completes with the
    right bytes; with a shorter one it fails with EIO within dead_after +
    reconnect_timeout. Either way nothing hangs."""
    rfs.use(ns_sshd)
    # large enough that the read is surely still going when the link goes
    # down (48 MiB once finished within the 0.3 s, in CI)
    data = os.urandom(128 << 20)
    (rfs.remote / 'big').write_bytes(data)
    rt = 30 if outcome == 'completes' else 2
    argv = in_netns(netns_pair['client'], rfs.argv(
        host=netns_pair['server_ip'], extra_o=[
            'probe_after=1,dead_after=3,reconnect_timeout=%d' % rt,
            'cache=no']))
    m = rfs.start(argv)
    assert os.listdir(m.mnt) == ['big']
    import threading
    res = {}
    t = threading.Thread(target=lambda: res.update(
        r=cat_sha(m.path('big'), 90)))
    t.start()
    time.sleep(0.1)
    link(netns_pair, 'down')
    time.sleep(6)
    link(netns_pair, 'up')
    t.join(100)
    rc, digest, secs = res['r']
    log = m.stderr()
    assert 'connection lost' in log, log
    if outcome == 'completes':
        assert rc == 0, (rc, log)
        assert digest == hashlib.sha256(data).hexdigest()
    else:
        assert rc not in (0, 'TIMEOUT'), (rc, secs, log)
        assert secs < 0.3 + 3 + 2 + 3, (secs, log)
    # After the link is back the mount works (again).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rc2, d2, _ = cat_sha(m.path('big'), 60)
        if rc2 == 0:
            break
        time.sleep(0.5)
    assert rc2 == 0 and d2 == hashlib.sha256(data).hexdigest(), log
    assert 'reconnected after' in m.stderr()


@pytest.mark.timeout_s(90)
def test_local_address_changes(rfs, ns_sshd, netns_pair):
    """A new local address probes the link at once; losing the address the
    connection runs from drops it at once (no waiting for dead_after), and
    once the address is back rfs reconnects."""
    rfs.use(ns_sshd)
    (rfs.remote / 'f').write_bytes(b'data')
    argv = in_netns(netns_pair['client'], rfs.argv(
        host=netns_pair['server_ip'], extra_o=[
            'loglevel=info,dead_after=60,reconnect_timeout=30,cache=no']))
    m = rfs.start(argv)
    assert os.listdir(m.mnt) == ['f']
    client = netns_pair['server_ip'].rsplit('.', 1)[0]
    run(['ip', '-n', netns_pair['client'], 'addr', 'add', client + '.3/24',
         'dev', 'va'])
    assert harness.wait_for(
        lambda: 'local addresses changed' in m.stderr(), 3), m.stderr()
    t = time.monotonic()
    run(['ip', '-n', netns_pair['client'], 'addr', 'del', client + '.1/24',
         'dev', 'va'])
    assert harness.wait_for(
        lambda: "local address went away" in m.stderr(), 3), m.stderr()
    assert time.monotonic() - t < 3
    # (The kernel removed .3 with .1, its subnet's primary.) The address
    # back: rfs reconnects and the mount carries on.
    run(['ip', '-n', netns_pair['client'], 'addr', 'add', client + '.1/24',
         'dev', 'va'])
    assert os.listdir(m.mnt) == ['f'], m.stderr()
    assert 'reconnected after' in m.stderr()
