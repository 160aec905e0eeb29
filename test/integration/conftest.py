"""Fixtures for the rfs integration suite (see harness.py)."""

import os
import shutil
import signal
import stat
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
pytest.register_assert_rewrite('harness')

import harness  # noqa: E402
from harness import (Keys, Sshd, RfsArgs, base_env, start_mount,  # noqa: E402
                     run_rfs, fusermount_u, mounts, TempUser)
from proxy import TcpProxy  # noqa: E402

DEFAULT_TIMEOUT = 60  # seconds per test, see Watchdog


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'timeout_s(n): per-test watchdog in seconds')
    if os.geteuid() != 0:
        raise pytest.UsageError('the integration suite must run as root')
    os.umask(0o022)  # expected modes below assume it

    # meson test stops a test that ran over its timeout with SIGTERM: turn
    # it into KeyboardInterrupt so that fixture teardown still stops sshd
    # and rfs by PID and unmounts.
    def on_term(signum, frame):
        raise KeyboardInterrupt('SIGTERM')
    signal.signal(signal.SIGTERM, on_term)


@pytest.fixture(scope='session')
def session_dir(tmp_path_factory):
    d = tempfile.mkdtemp(prefix='rfs-it-', dir='/tmp')
    os.chmod(d, 0o755)
    base = str(tmp_path_factory.getbasetemp())
    yield d
    # A mount left behind by a crashed test must not survive the session
    # (only ours: other runs may have mounts under /tmp too).
    for mp, fstype, _ in mounts():
        if mp.startswith(d + '/') or mp.startswith(base + '/'):
            if fstype.startswith('fuse'):
                fusermount_u(mp, lazy=True)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='session')
def keys(session_dir):
    return Keys(session_dir)


@pytest.fixture(scope='session')
def sshd(keys):
    s = Sshd(keys)
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


@pytest.fixture(autouse=True)
def watchdog(request):
    m = request.node.get_closest_marker('timeout_s')
    w = harness.Watchdog((m.args[0] if m else DEFAULT_TIMEOUT) *
                         harness.slow_factor())
    w.start()
    yield w
    w.cancel()
    if w.fired:
        pytest.fail('watchdog: test ran over %ss; rfs was killed'
                    % w.seconds)


class Rfs:
    """Per-test rfs helper: command lines, foreground mounts, plain runs.

    Every mount is unmounted at teardown and its process must exit 0;
    a mount still up is removed with fusermount3 -u -z and rfs killed.
    """

    def __init__(self, sshd, tmp_path, watchdog):
        self.sshd = sshd
        self.tmp = tmp_path
        self.watchdog = watchdog
        self.home = tmp_path / 'home'
        self.home.mkdir()
        self.remote = tmp_path / 'remote'   # backing directory
        self.remote.mkdir()
        self.mnt = tmp_path / 'mnt'
        self.mnt.mkdir()
        self.args = RfsArgs(sshd, self.home)
        self.env = base_env(self.home)
        self.mounts = []
        self.extra_pids = []

    def use(self, sshd):
        """Talk to another Sshd (e.g. one with a hostile sftp server)."""
        self.sshd = sshd
        self.args = RfsArgs(sshd, self.home)

    def argv(self, remote='default', mnt=None, **kw):
        if remote == 'default':
            remote = str(self.remote)
        return self.args.argv(remote, str(mnt or self.mnt), **kw)

    def mount(self, remote_path='default', extra_args=(), env=None,
              mnt=None, input=None, timeout=15, **kw):
        argv = self.argv(remote_path, mnt, extra_args=extra_args, **kw)
        return self.start(argv, mnt, env=env, input=input, timeout=timeout)

    def start(self, argv, mnt=None, env=None, input=None, timeout=15):
        """Mount with this argv (e.g. self.argv() run in a namespace),
        watched and torn down like mount()'s."""
        m = start_mount(argv, str(mnt or self.mnt), env=env or self.env,
                        input=input, timeout=timeout)
        self.watchdog.watch(m.pid)
        self.mounts.append(m)
        return m

    def run(self, remote='default', mnt=None, input=None, timeout=20,
            env=None, **kw):
        return run_rfs(self.argv(remote, mnt, **kw), input=input,
                       timeout=timeout, env=env or self.env)

    def teardown(self):
        errors = []
        for m in self.mounts:
            if m.unmounted:
                m.kill()  # no-op once its process has exited
                continue
            try:
                m.unmount()
            except AssertionError as e:
                errors.append(str(e))
            finally:
                m.kill()
        for pid in self.extra_pids:
            # Only if it is still ours (its argv names our temp dir), not
            # a recycled PID.
            if any(a.startswith(str(self.tmp)) for a in
                   harness.proc_argv(pid)):
                harness.kill_pid(pid)
        for mp, fstype, _ in mounts():
            if mp.startswith(str(self.tmp)) and fstype.startswith('fuse'):
                fusermount_u(mp, lazy=True)
                errors.append('mount left behind at %s' % mp)
        return errors


@pytest.fixture
def rfs(sshd, tmp_path, watchdog):
    r = Rfs(sshd, tmp_path, watchdog)
    yield r
    errors = r.teardown()
    if errors:
        pytest.fail('teardown: ' + '\n'.join(errors))


@pytest.fixture
def own_sshd(keys, rfs):
    """A private sshd the test may restart, or count and kill the
    sessions of."""
    s = Sshd(keys).start()
    rfs.use(s)
    try:
        yield s
    finally:
        s.cleanup()


@pytest.fixture
def mount(rfs):
    """mount(remote_path, extra_args=[], env=...) -> Mount (.proc, .mnt)."""
    return rfs.mount


@pytest.fixture
def remote(rfs):
    """The backing directory on the server side (a pathlib.Path)."""
    return rfs.remote


@pytest.fixture
def proxied(rfs, sshd, tmp_path):
    """A TcpProxy in front of the test sshd, and a known_hosts that knows
    the server under the proxy's port too."""
    p = TcpProxy(sshd.port).start()
    kh = str(tmp_path / 'known_hosts_proxy')
    with open(kh, 'w') as f:
        f.write(sshd.known_hosts_text().replace(
            '[127.0.0.1]:%d' % sshd.port, '[127.0.0.1]:%d' % p.port))
    try:
        yield p, kh
    finally:
        p.stop()


@pytest.fixture
def user():
    """A local user made for the test (useradd), removed after."""
    u = TempUser('rfsuser')
    try:
        yield u
    finally:
        u.remove()


@pytest.fixture
def fuse_for_all():
    """/dev/fuse usable by the test's users for the test's duration."""
    old = stat.S_IMODE(os.stat('/dev/fuse').st_mode)
    os.chmod('/dev/fuse', 0o666)
    try:
        yield
    finally:
        os.chmod('/dev/fuse', old)
