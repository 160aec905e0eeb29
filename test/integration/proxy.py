"""TcpProxy: drive test/tcpproxy (a loopback TCP relay with injectable
delay and faults) from pytest.

    with TcpProxy(sshd.port, delay_ms=10) as px:
        ... connect to 127.0.0.1:px.port instead of sshd.port ...
        px.blackhole(); px.restore(); px.cut(); px.stats()

The binary comes from $RFS_TCPPROXY (meson test sets it), else from
<repo>/build/test/tcpproxy/tcpproxy. The proxy is stopped by its PID only:
SIGTERM, wait, then SIGKILL.
"""

import atexit
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from harness import stop_pid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# Proxies still running at interpreter exit (a test that never reached its
# teardown): stopped by PID as a last resort.
_running = set()


@atexit.register
def _stop_leftovers():
    for px in list(_running):
        px.stop()


class ProxyError(RuntimeError):
    """The proxy failed to start or answered a command with `error ...`."""


def tcpproxy_bin():
    path = os.environ.get('RFS_TCPPROXY') or os.path.join(
        REPO, 'build', 'test', 'tcpproxy', 'tcpproxy')
    if not os.access(path, os.X_OK):
        raise ProxyError('tcpproxy not found at %s (set RFS_TCPPROXY or '
                         'build with ninja -C build)' % path)
    return path


class TcpProxy:
    """One tcpproxy process relaying 127.0.0.1:<port> to target_port.

    delay_ms is the initial one-way delay (each direction). Every control
    method returns the proxy's reply line without the leading "ok " and
    raises ProxyError on "error ...".
    """

    def __init__(self, target_port, delay_ms=0, target_host='127.0.0.1',
                 verbose=False):
        self.target = '%s:%d' % (target_host, target_port)
        self.delay_ms = delay_ms
        self.verbose = verbose
        self.proc = None
        self.port = None
        self.dir = None
        self.ctl = None
        self.log = None

    # -- life cycle

    def start(self, timeout=10):
        self.dir = tempfile.mkdtemp(prefix='rfs-tcpproxy-', dir='/tmp')
        self.ctl = os.path.join(self.dir, 'ctl.sock')
        self.log = os.path.join(self.dir, 'tcpproxy.log')
        argv = [tcpproxy_bin(), '--listen', '127.0.0.1:0',
                '--target', self.target, '--control', self.ctl,
                '--delay-ms', str(self.delay_ms)]
        if self.verbose:
            argv.append('--verbose')
        with open(self.log, 'w') as err:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=err, start_new_session=True)
        _running.add(self)
        try:
            line = self._read_line(self.proc.stdout, timeout)
            if not line.startswith('port '):
                raise ProxyError('tcpproxy said %r; log: %s'
                                 % (line, self.log_text()))
            self.port = int(line.split()[1])
        except BaseException:
            self.stop()
            raise
        finally:
            self.proc.stdout.close()  # it never writes again
        return self

    def _read_line(self, f, timeout):
        fd, data = f.fileno(), b''
        deadline = time.monotonic() + timeout
        while b'\n' not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProxyError('tcpproxy did not print its port in %ss'
                                 % timeout)
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 256)
                if not chunk:
                    self.proc.wait(5)
                    raise ProxyError('tcpproxy exited (%s): %s' % (
                        self.proc.returncode, self.log_text().strip()))
                data += chunk
        return data.decode().strip()

    def stop(self, timeout=5.0):
        """SIGTERM by PID, wait, SIGKILL if needed; returns the exit status
        (0 for a clean SIGTERM exit)."""
        proc, self.proc = self.proc, None
        _running.discard(self)
        rc = stop_pid(proc, timeout=timeout)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        return rc

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def log_text(self):
        try:
            with open(self.log, errors='replace') as f:
                return f.read()
        except (OSError, TypeError):
            return ''

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- control

    def command(self, line, timeout=5.0):
        """Send one control line, return the reply after "ok "."""
        if self.proc is None:
            raise ProxyError('tcpproxy is not running')
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.ctl)
            s.sendall(line.encode() + b'\n')
            reply = b''
            while not reply.endswith(b'\n'):
                chunk = s.recv(512)
                if not chunk:
                    break
                reply += chunk
        reply = reply.decode().strip()
        if reply == 'ok' or reply.startswith('ok '):
            return reply[3:]
        raise ProxyError('tcpproxy %r: %s' % (line, reply or 'no reply'))

    def delay(self, ms):
        """One-way delay in ms for each direction (RTT grows by 2*ms)."""
        self.command('delay %d' % ms)

    def cut(self):
        """Reset every open connection; returns how many there were."""
        return int(self.command('cut').split('=')[1])

    def blackhole(self):
        self.command('blackhole')

    def drop_replies(self):
        self.command('drop-replies')

    def refuse(self):
        self.command('refuse')

    def restore(self):
        self.command('restore')

    def retarget(self, port):
        """New connections go to this port (open ones stay where they are)."""
        self.command('target %d' % port)

    def stats(self):
        """{'conns', 'bytes_up', 'bytes_down', 'accepted', 'dropped',
        'delay_ms'} as ints; conns counts open connections, bytes those
        delivered to the other side."""
        return {k: int(v) for k, v in
                (f.split('=', 1) for f in self.command('stats').split())}
