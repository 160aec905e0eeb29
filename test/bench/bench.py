#!/usr/bin/python3
"""rfs versus sshfs: one command, one table.

    test/bench/run.sh [--quick] [--rtt 0,10,50] [--repeat N] [--json FILE]

Starts a private OpenSSH sshd on 127.0.0.1 (generated keys, random port),
optionally a latency-injecting tcpproxy in front of it, and runs the same
workloads through an rfs mount and an sshfs mount of the same server
directory, each on a fresh mount. Prints a table per RTT and one line per
workload and RTT:

    BENCH rtt=10 workload=seqread rfs=123.4 sshfs=45.6 unit=MB/s ratio=2.71 raw=200.1 vs_raw=0.62

ratio is always oriented so that > 1 means rfs is better (rfs/sshfs for
MB/s and IOPS, sshfs/rfs for seconds). MB/s is 10^6 bytes per second.

Everything started here (sshd, proxy, rfs and sshfs daemons) is stopped by
its PID, mounts are unmounted with fusermount3 -u and the scratch directory
is removed, also on Ctrl-C, SIGTERM or an exception. Nothing reads or
writes ~/.ssh: every ssh, sshfs and rfs command line names its key, its
known_hosts file and -F /dev/null. Python stdlib only; run as root.
"""

import argparse
import hashlib
import io
import json
import math
import os
import random
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

# One way to stop a process by its PID, shared with the test suite.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'integration'))
from harness import stop_pid as stop_proc  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SSHD = '/usr/sbin/sshd'
SSH = '/usr/bin/ssh'
SSH_KEYGEN = '/usr/bin/ssh-keygen'
SFTP_SERVER = '/usr/lib/openssh/sftp-server'
FUSERMOUNT = '/usr/bin/fusermount3'
SSHFS = '/usr/bin/sshfs'
FIO = '/usr/bin/fio'
GIT = '/usr/bin/git'
TAR = '/bin/tar'
MIB = 1 << 20
GIB = 1 << 30

# Workload sizes. "full" is the real benchmark (0 ms). Every metadata
# operation costs a round trip or more, so the file counts shrink as the
# RTT grows ("medium" from 10 ms, "wan" from 50 ms) to keep a default run
# under about 15 minutes; "small" is --quick.
PROFILES = {
    'full': dict(seq_mib=256, tree_dirs=100, tree_files=5000,
                 untar_files=1000, git_files=2000, cp_mib=64, fio_s=10,
                 par_mib=64, small_files=200, gitdef_files=1000,
                 src_files=2000),
    'medium': dict(seq_mib=128, tree_dirs=100, tree_files=5000,
                   untar_files=500, git_files=2000, cp_mib=64, fio_s=8,
                   par_mib=32, small_files=200, gitdef_files=500,
                   src_files=2000),
    'small': dict(seq_mib=64, tree_dirs=20, tree_files=1000,
                  untar_files=200, git_files=500, cp_mib=16, fio_s=5,
                  par_mib=16, small_files=200, gitdef_files=200,
                  src_files=500),
    'wan': dict(seq_mib=64, tree_dirs=20, tree_files=1000,
                untar_files=100, git_files=500, cp_mib=16, fio_s=5,
                par_mib=16, small_files=200, gitdef_files=200,
                src_files=500),
}

# name, unit, higher_is_better, label for the table
METRICS = [
    ('seqread', 'MB/s', True, 'sequential read {seq_mib} MiB, cold'),
    ('seqread_warm', 'MB/s', True, 'sequential read {seq_mib} MiB, again'),
    ('seqread_find', 'MB/s', True, '  the cold read while find walks the mount'),
    ('seqwrite', 'MB/s', True, 'sequential write {seq_mib} MiB + close'),
    # CPU seconds of the client per GiB moved: the file system's daemon
    # (with sshfs, its ssh child too); "raw" is OpenSSH's ssh client.
    ('cpu_read', 's/GiB', False, 'client CPU per GiB, sequential read'),
    ('cpu_write', 's/GiB', False, 'client CPU per GiB, sequential write'),
    ('lsR_cold', 's', False, 'ls -lR {tree_files} files, cold'),
    ('lsR_warm', 's', False, 'ls -lR {tree_files} files, warm'),
    ('find_cold', 's', False, 'find -type f {tree_files} files, cold'),
    ('find_warm', 's', False, 'find -type f {tree_files} files, warm'),
    ('untar', 's', False, 'untar {untar_files} files of 1-8 KiB'),
    ('randread4k', 'IOPS', True, 'fio 4 KiB random read, 4 jobs, O_DIRECT'),
    ('gitstatus_cold', 's', False, 'git status, {git_files} files, cold'),
    ('gitstatus_warm', 's', False, 'git status, {git_files} files, warm'),
    ('gitdef_cold', 's', False,
     'git status, git defaults (re-hash), {gitdef_files} files, cold'),
    ('gitdef_warm', 's', False,
     'git status, git defaults (re-hash), {gitdef_files} files, warm'),
    ('smallcat', 's', False, 'cat {small_files} files of 1-8 KiB, fresh'),
    ('grep_cold', 's', False, 'grep -r, {src_files} source files, cold'),
    # The same with rfs -o revalidate_window=1000 (sshfs as before): an
    # open trusts attributes the server gave within the last second.
    ('gitdef_cold_w', 's', False, '  the same, rfs -o revalidate_window=1000'),
    ('gitdef_warm_w', 's', False, '  warm, rfs -o revalidate_window=1000'),
    ('smallcat_w', 's', False, '  cat, rfs -o revalidate_window=1000'),
    ('grep_cold_w', 's', False, '  grep -r, rfs -o revalidate_window=1000'),
    ('cp', 's', False, 'cp {cp_mib} MiB file inside the mount'),
    ('stat_busy', 'ms', False, 'stat of a new name during a big read'),
    ('par4read', 'MB/s', True, '4 files of {par_mib} MiB at once, max_conns=4'),
    # Other transports (rfs(1) TRANSPORTS): rfs -o transport=ssh (sshfs
    # as always), and both through one OpenSSH ControlMaster.
    ('seqread_ssh', 'MB/s', True, '  sequential read, rfs transport=ssh'),
    ('lsR_cold_ssh', 's', False, '  ls -lR cold, rfs transport=ssh'),
    ('untar_ssh', 's', False, '  untar, rfs transport=ssh'),
    ('seqread_mux', 'MB/s', True, '  sequential read, both via a ControlMaster'),
    ('lsR_cold_mux', 's', False, '  ls -lR cold, both via a ControlMaster'),
    ('untar_mux', 's', False, '  untar, both via a ControlMaster'),
    # A shared mount as fstab makes it: the kernel checks permissions
    # (default_permissions), asking for a directory's attributes before
    # every create in it.
    ('untar_shared', 's', False, '  untar, both allow_other,default_permissions'),
]
METRIC = {m[0]: m for m in METRICS}
FSES = ('rfs', 'sshfs')


def log(msg):
    print('bench: %s' % msg, file=sys.stderr, flush=True)


class Failed(Exception):
    """A workload failed: wrong data, an error exit or a timeout."""


class Timeout(Failed):
    pass


# --------------------------------------------------------------------------
# Processes: everything long-running is tracked and stopped by PID.

_cleanups = []


def at_cleanup(fn):
    _cleanups.append(fn)
    return fn


def run_cleanups():
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        while _cleanups:
            fn = _cleanups.pop()
            try:
                fn()
            except Exception as e:  # keep cleaning up the rest
                log('cleanup: %s' % e)
    finally:
        signal.signal(signal.SIGINT, old)


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Deadline:
    """A workload's time budget; every wait inside it uses left()."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def left(self):
        left = self.end - time.monotonic()
        if left <= 0:
            raise Timeout('time budget of %ds exhausted' % self.seconds)
        return left


def sh(cmd, dl=None, timeout=120, check=True, env=None, cwd=None,
       stdout=subprocess.PIPE, input=None):
    """Run cmd to completion within the deadline; returns CompletedProcess.
    A command still running at the deadline is killed and raises Timeout."""
    if dl is not None:
        timeout = min(timeout, dl.left())
    try:
        r = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE,
                           timeout=timeout, env=env, cwd=cwd, input=input)
    except subprocess.TimeoutExpired:
        raise Timeout('%s: no exit within %.0fs' % (' '.join(cmd), timeout))
    if check and r.returncode != 0:
        raise Failed('%s: exit %d: %s' % (
            ' '.join(cmd), r.returncode,
            r.stderr.decode(errors='replace').strip()[-600:]))
    return r


def timed(cmd, dl, **kw):
    """(seconds, CompletedProcess) of one command run to completion."""
    t0 = time.monotonic()
    r = sh(cmd, dl, **kw)
    return time.monotonic() - t0, r


# --------------------------------------------------------------------------
# Mounts


def mountpoints():
    res = set()
    with open('/proc/self/mountinfo') as f:
        for line in f:
            mp = line.split(' - ', 1)[0].split()[4]
            res.add(mp.replace('\\040', ' '))
    return res


def is_mounted(path):
    return path in mountpoints()


def fusermount_u(mnt, lazy=False):
    cmd = [FUSERMOUNT, '-u'] + (['-z'] if lazy else []) + [mnt]
    return subprocess.run(cmd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=30)


class Mount:
    """One rfs or sshfs daemon run with -f in the background, and its
    mountpoint (unique per mount). Stopped by unmounting, then by PID."""

    def __init__(self, bench, fs, debug=False, opts=()):
        self.bench, self.fs, self.debug = bench, fs, debug
        self.opts = list(opts)   # -o options for either file system
        bench.nmounts += 1
        self.mnt = os.path.join(bench.scratch, 'mnt-%s-%d' % (
            fs, bench.nmounts))
        os.mkdir(self.mnt)
        self.errpath = self.mnt + '.log'
        self.proc = None

    def argv(self):
        b = self.bench
        if self.fs == 'rfs':
            opts = ['User=root', 'IdentityFile=' + b.key,
                    'IdentitiesOnly=yes', 'UserKnownHostsFile=' + b.kh,
                    'GlobalKnownHostsFile=/dev/null',
                    'StrictHostKeyChecking=yes'] + self.opts
            return [b.rfs, '127.0.0.1:' + b.remote, self.mnt,
                    '-d' if self.debug else '-f', '-F', '/dev/null',
                    '-p', str(b.port), '-o', ','.join(opts)]
        opts = ['IdentityFile=' + b.key, 'IdentitiesOnly=yes',
                'UserKnownHostsFile=' + b.kh,
                'GlobalKnownHostsFile=/dev/null',
                'StrictHostKeyChecking=yes', 'BatchMode=yes',
                'port=%d' % b.port] + self.opts
        if b.cipher:
            opts.append('Ciphers=' + b.cipher)
        return [SSHFS, 'root@127.0.0.1:' + b.remote, self.mnt, '-f',
                '-F', '/dev/null', '-o', ','.join(opts)]

    def start(self, timeout=30):
        with open(self.errpath, 'w') as err:
            self.proc = subprocess.Popen(
                self.argv(), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=err, env=self.bench.env,
                start_new_session=True)
        at_cleanup(self.kill)
        deadline = time.monotonic() + timeout
        while not is_mounted(self.mnt):
            if self.proc.poll() is not None:
                raise Failed('%s exited %d before mounting: %s' % (
                    self.fs, self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                self.kill()
                raise Failed('%s: not mounted after %ds' % (self.fs, timeout))
            time.sleep(0.02)
        return self

    def log_tail(self, n=15):
        try:
            with open(self.errpath, errors='replace') as f:
                return ''.join(f.readlines()[-n:]).strip()
        except OSError:
            return ''

    def unmount(self, timeout=20):
        """fusermount3 -u, then the daemon must exit 0 within timeout."""
        if self.proc is None:
            return
        r = fusermount_u(self.mnt)
        if r.returncode != 0:
            self.kill()
            raise Failed('fusermount3 -u %s: %s' % (
                self.mnt, r.stderr.decode(errors='replace').strip()))
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failed('%s did not exit within %ds of unmount' % (
                self.fs, timeout))
        self.proc = None
        if rc != 0:
            raise Failed('%s exited %d after unmount: %s' % (
                self.fs, rc, self.log_tail()))
        said = self.log_tail(5)
        if said and not self.debug:
            log('note: %s wrote on stderr: %s' % (self.fs, said))
        self._rm()

    def kill(self):
        """Emergency stop: lazy unmount, SIGTERM/SIGKILL by PID."""
        if self.proc is not None and self.proc.poll() is None:
            if is_mounted(self.mnt):
                fusermount_u(self.mnt, lazy=True)
            stop_proc(self.proc, signal.SIGKILL)
        self.proc = None
        self._rm()

    def _rm(self):
        if not is_mounted(self.mnt):
            try:
                os.rmdir(self.mnt)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.unmount()
        else:
            self.kill()
        return False

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)


# --------------------------------------------------------------------------
# Server side: sshd, proxy and the data


def keygen(path):
    sh([SSH_KEYGEN, '-q', '-t', 'ed25519', '-N', '', '-f', path,
        '-C', os.path.basename(path)])
    return path


def write_random(path, nbytes, seed):
    rng = random.Random(seed)
    h = hashlib.sha256()
    with open(path, 'wb') as f:
        left = nbytes
        while left:
            n = min(left, 4 * MIB)
            chunk = rng.randbytes(n)
            h.update(chunk)
            f.write(chunk)
            left -= n
    return h.hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            b = f.read(4 * MIB)
            if not b:
                return h.hexdigest()
            h.update(b)


class Bench:
    def __init__(self, args):
        self.args = args
        self.proxy_bin = args.tcpproxy
        self.scratch = tempfile.mkdtemp(prefix='rfs-bench-', dir='/tmp')
        os.chmod(self.scratch, 0o755)
        at_cleanup(self._rm_scratch)
        # A private copy: a rebuild of build/rfs during the run must not
        # change (or briefly remove) the binary under test.
        self.rfs = os.path.join(self.scratch, 'rfs')
        shutil.copy2(os.path.abspath(args.rfs), self.rfs)
        self.home = os.path.join(self.scratch, 'home')
        os.mkdir(self.home, 0o700)
        # ssh, sshfs, rfs and git see a scratch HOME and no agent.
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ('SSH_AUTH_SOCK', 'SSH_AGENT_PID',
                                 'DISPLAY', 'SSH_ASKPASS')}
        self.env.update(HOME=self.home, LC_ALL='C.UTF-8',
                        GIT_CONFIG_NOSYSTEM='1')
        self.remote = os.path.join(self.scratch, 'remote')
        os.mkdir(self.remote, 0o755)
        self.local = os.path.join(self.scratch, 'local')
        os.mkdir(self.local, 0o755)
        self.sshd_proc = None
        self.proxy_proc = None
        self.sshd_port = None
        self.port = None
        self.cipher = None
        self.nmounts = 0
        self.datasets = {}
        self.first_check = set()

    def _rm_scratch(self):
        for mp in mountpoints():
            if mp.startswith(self.scratch + '/'):
                log('still mounted at cleanup: %s' % mp)
                fusermount_u(mp, lazy=True)
        shutil.rmtree(self.scratch, ignore_errors=True)

    # -- sshd

    def start_sshd(self):
        kd = os.path.join(self.scratch, 'keys')
        os.mkdir(kd, 0o700)
        hostkey = keygen(os.path.join(kd, 'host_ed25519'))
        self.key = keygen(os.path.join(kd, 'id_ed25519'))
        ak = os.path.join(kd, 'authorized_keys')
        shutil.copy(self.key + '.pub', ak)
        self.kh = os.path.join(kd, 'known_hosts')
        cfg = os.path.join(kd, 'sshd_config')
        sshd_log = os.path.join(self.scratch, 'sshd.log')
        os.makedirs('/run/sshd', mode=0o755, exist_ok=True)
        for _ in range(5):  # the port can be taken between probe and bind
            port = free_port()
            with open(cfg, 'w') as f:
                f.write('\n'.join([
                    'ListenAddress 127.0.0.1', 'Port %d' % port,
                    'HostKey %s' % hostkey,
                    'PidFile %s' % os.path.join(kd, 'sshd.pid'),
                    'AuthorizedKeysFile %s' % ak,
                    'StrictModes no', 'UsePAM no', 'PermitRootLogin yes',
                    'PasswordAuthentication no',
                    'KbdInteractiveAuthentication no',
                    'Subsystem sftp %s' % SFTP_SERVER,
                    # root's .bashrc runs a slow `pyenv init`; bash skips
                    # it for ssh commands when SHLVL says it is nested.
                    'SetEnv SHLVL=1',
                    'MaxStartups 100:30:200', 'MaxSessions 50',
                    'LogLevel INFO', '']))
            with open(hostkey + '.pub') as f:
                self.hostkey_line = ' '.join(f.read().split()[:2])
            with open(self.kh, 'w') as f:
                f.write('[127.0.0.1]:%d %s\n' % (port, self.hostkey_line))
            sh([SSHD, '-t', '-f', cfg])
            proc = subprocess.Popen(
                [SSHD, '-D', '-e', '-f', cfg, '-E', sshd_log],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
            self.sshd_proc = proc
            at_cleanup(lambda p=proc: stop_proc(p))
            if self._wait_listening(proc, port, 10):
                self.sshd_port = self.port = port
                return
            stop_proc(proc)
        raise Failed('sshd did not start; see %s' % sshd_log)

    @staticmethod
    def _wait_listening(proc, port, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                with socket.create_connection(('127.0.0.1', port), 0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    # -- proxy

    def set_rtt(self, rtt):
        """Route every new connection through a proxy adding rtt ms of
        round trip (rtt/2 each way), or straight to sshd for 0."""
        self.stop_proxy()
        if rtt == 0:
            self.port = self.sshd_port
            return
        ctl = os.path.join(self.scratch, 'proxy.sock')
        plog = open(os.path.join(self.scratch, 'proxy.log'), 'a')
        proc = subprocess.Popen(
            [self.proxy_bin, '--listen', '127.0.0.1:0',
             '--target', '127.0.0.1:%d' % self.sshd_port, '--control', ctl,
             '--delay-ms', str(rtt // 2)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=plog,
            start_new_session=True)
        plog.close()
        self.proxy_proc = proc
        at_cleanup(self.stop_proxy)
        data = b''
        deadline = time.monotonic() + 10
        while b'\n' not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([proc.stdout], [], [],
                                              left)[0]:
                raise Failed('tcpproxy printed no port within 10s')
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                raise Failed('tcpproxy exited %s' % proc.wait(5))
            data += chunk
        line = data.decode().strip()
        if not line.startswith('port '):
            raise Failed('tcpproxy said %r' % line)
        proc.stdout.close()
        self.port = int(line.split()[1])
        # The clients check the host key under [127.0.0.1]:<proxy port>.
        with open(self.kh, 'a') as f:
            f.write('[127.0.0.1]:%d %s\n' % (self.port, self.hostkey_line))

    def stop_proxy(self):
        if self.proxy_proc is not None:
            stop_proc(self.proxy_proc)
            self.proxy_proc = None
            try:
                os.unlink(os.path.join(self.scratch, 'proxy.sock'))
            except OSError:
                pass

    # -- plain ssh, the "raw" limit

    def ssh_argv(self, command):
        argv = [SSH, '-F', '/dev/null', '-i', self.key, '-p', str(self.port),
                '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
                '-o', 'UserKnownHostsFile=' + self.kh,
                '-o', 'GlobalKnownHostsFile=/dev/null',
                '-o', 'StrictHostKeyChecking=yes', '-o', 'Compression=no']
        if self.cipher:
            argv += ['-o', 'Ciphers=' + self.cipher]
        return argv + ['root@127.0.0.1', command]

    def detect_cipher(self):
        """Mount once with rfs -d and read the negotiated cipher."""
        m = Mount(self, 'rfs', debug=True)
        with m:
            pass
        with open(m.errpath, errors='replace') as f:
            text = f.read()
        for line in text.splitlines():
            if ' cipher ' in line:
                self.cipher = line.split(' cipher ', 1)[1].split(',')[0]
                self.cipher = self.cipher.split()[0]
                return self.cipher
        raise Failed('no "cipher" in rfs -d output: %s' % text[-500:])

    # -- data, created on the server side (the sshd's file system)

    def dataset(self, kind, p):
        """Create (once) what a workload reads; returns its description."""
        used = {'seq': ('seq_mib',), 'cp': ('cp_mib',), 'par': ('par_mib',),
                'tree': ('tree_dirs', 'tree_files'),
                'untar': ('untar_files',), 'git': ('git_files',),
                'gitdef': ('gitdef_files',), 'small': ('small_files',),
                'src': ('src_files',)}[kind]
        key = (kind,) + tuple(p[k] for k in used)
        if key in self.datasets:
            return self.datasets[key]
        d = getattr(self, '_make_' + kind)(p)
        self.datasets[key] = d
        return d

    def _make_seq(self, p):
        n = p['seq_mib'] * MIB
        path = os.path.join(self.remote, 'seq-%d' % p['seq_mib'])
        sha = write_random(path, n, seed=1)
        src = os.path.join(self.local, 'wsrc-%d' % p['seq_mib'])
        wsha = write_random(src, n, seed=2)
        return dict(name=os.path.basename(path), path=path, size=n, sha=sha,
                    wsrc=src, wsha=wsha)

    def _make_par(self, p):
        n = p['par_mib'] * MIB
        files = []
        for i in range(4):
            path = os.path.join(self.remote, 'par-%d-%d' % (p['par_mib'], i))
            files.append((os.path.basename(path),
                          write_random(path, n, seed=10 + i)))
        return dict(files=files, size=n)

    def _make_cp(self, p):
        n = p['cp_mib'] * MIB
        path = os.path.join(self.remote, 'cp-%d' % p['cp_mib'])
        return dict(name=os.path.basename(path), size=n,
                    sha=write_random(path, n, seed=3))

    def _make_tree(self, p):
        ndirs, nfiles = p['tree_dirs'], p['tree_files']
        name = 'tree-%d-%d' % (ndirs, nfiles)
        top = os.path.join(self.remote, name)
        rng = random.Random(4)
        total = 0
        for i in range(nfiles):
            d = os.path.join(top, 'd%03d' % (i % ndirs))
            os.makedirs(d, exist_ok=True)
            size = rng.randrange(0, 4096)
            total += size
            with open(os.path.join(d, 'f%05d.txt' % i), 'wb') as f:
                f.write(b'x' * size)
        return dict(name=name, files=nfiles, bytes=total)

    def _make_untar(self, p):
        n = p['untar_files']
        tpath = os.path.join(self.local, 'small-%d.tar' % n)
        rng = random.Random(5)
        files = {}
        with tarfile.open(tpath, 'w', format=tarfile.GNU_FORMAT) as t:
            for i in range(n):
                name = 'src/d%02d/file%04d.c' % (i % 10, i)
                data = rng.randbytes(rng.randrange(1024, 8193))
                files[name] = hashlib.sha256(data).hexdigest()
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode, ti.uid, ti.gid = len(data), 0o644, 0, 0
                ti.uname = ti.gname = 'root'
                ti.mtime = 1700000000
                t.addfile(ti, io.BytesIO(data))
        return dict(tar=tpath, files=files)

    def _make_small(self, p):
        n = p['small_files']
        name = 'small-%d' % n
        top = os.path.join(self.remote, name)
        os.mkdir(top)
        rng = random.Random(7)
        total = 0
        for i in range(n):
            data = rng.randbytes(rng.randrange(1024, 8193))
            total += len(data)
            with open(os.path.join(top, 'f%04d.c' % i), 'wb') as f:
                f.write(data)
        return dict(name=name, files=n, bytes=total)

    def _make_src(self, p):
        n = p['src_files']
        name = 'src-%d' % n
        top = os.path.join(self.remote, name)
        rng = random.Random(8)
        words = ['int', 'return', 'static', 'void', 'struct', 'if', 'for',
                 'char', 'const', 'while', 'size_t', 'buf', 'len', 'err']
        hits = 0
        for i in range(n):
            d = os.path.join(top, 'dir%02d' % (i % 20))
            os.makedirs(d, exist_ok=True)
            lines = []
            for _ in range(rng.randrange(20, 200)):
                lines.append(' '.join(rng.choice(words)
                                      for _ in range(rng.randrange(3, 9))))
            if i % 7 == 0:
                lines.insert(rng.randrange(len(lines)), 'needle_%d();' % i)
                hits += 1
            with open(os.path.join(d, 'f%04d.c' % i), 'w') as f:
                f.write('\n'.join(lines) + '\n')
        return dict(name=name, files=n, hits=hits)

    def _make_gitdef(self, p):
        """A repository made and committed on the server with git's
        default settings: its index holds the server's inode numbers and
        ctimes, which no SFTP mount shows, so git status through a mount
        reads and hashes every file (as when one repository is used from
        both sides)."""
        n = p['gitdef_files']
        name = 'repodef-%d' % n
        top = os.path.join(self.remote, name)
        os.mkdir(top)
        rng = random.Random(9)
        for i in range(n):
            d = os.path.join(top, 'pkg%02d' % (i % 20))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, 'mod%04d.py' % i), 'wb') as f:
                f.write(rng.randbytes(rng.randrange(200, 4000)).hex()
                        .encode())
        self._git_commit_all(top)
        return dict(name=name, files=n)

    def _git_commit_all(self, top, config=()):
        """git init top, set config (name, value pairs), commit it all;
        returns (git command prefix, its environment)."""
        g = [GIT, '-C', top]
        genv = dict(self.env, GIT_AUTHOR_NAME='bench',
                    GIT_AUTHOR_EMAIL='bench@localhost',
                    GIT_COMMITTER_NAME='bench',
                    GIT_COMMITTER_EMAIL='bench@localhost')
        sh(g + ['init', '-q'], env=genv)
        for k, v in config:
            sh(g + ['config', k, v], env=genv)
        sh(g + ['add', '-A'], env=genv)
        sh(g + ['commit', '-q', '-m', 'bench'], env=genv)
        return g, genv

    def _make_git(self, p):
        n = p['git_files']
        name = 'repo-%d' % n
        top = os.path.join(self.remote, name)
        os.mkdir(top)
        rng = random.Random(6)
        old = time.time() - 3600
        for i in range(n):
            d = os.path.join(top, 'pkg%02d' % (i % 40))
            os.makedirs(d, exist_ok=True)
            fp = os.path.join(d, 'mod%04d.py' % i)
            with open(fp, 'wb') as f:
                f.write(rng.randbytes(rng.randrange(200, 4000)).hex()
                        .encode())
            # Older than the index: no "racily clean" entries, so git
            # status only needs stat(), as in a repo one works in.
            os.utime(fp, (old, old))
        # SFTP has no inode numbers or ctime and whole-second mtimes: with
        # the default checks an index written on the server never matches
        # what a mount shows, and every status would re-read every file.
        g, genv = self._git_commit_all(top, [('core.checkStat', 'minimal'),
                                             ('core.trustCtime', 'false')])
        time.sleep(1.1)
        r = sh(g + ['status', '--porcelain'], env=genv)
        if r.stdout.strip():
            raise Failed('fresh repo not clean: %s' % r.stdout[:200])
        return dict(name=name, files=n)


# --------------------------------------------------------------------------
# Workloads. Each runs one file system once, each part on a fresh mount,
# and returns {metric: value}. All access to a mount is by child processes
# (dd, ls, tar, fio, git, cp) with a timeout, so a hung mount fails the
# workload instead of the run; checks read the server's files directly.


def cpu_ticks(pid):
    """utime + stime, in seconds, of pid, its descendants and the
    processes of its session (sshfs double-forks its ssh: an orphan, but
    in the session the daemon leads, started with start_new_session)."""
    procs = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open('/proc/%s/stat' % d) as f:
                    st = f.read()
            except OSError:
                continue
            # after "pid (comm) ": state ppid pgrp session ... utime stime
            procs[int(d)] = st[st.rindex(')') + 2:].split()
    mine, todo = set(), [pid]
    while todo:
        p = todo.pop()
        if p in procs and p not in mine:
            mine.add(p)
            todo += [k for k, f in procs.items()
                     if int(f[1]) == p or int(f[3]) == p]
    return sum(int(procs[p][11]) + int(procs[p][12])
               for p in mine) / os.sysconf('SC_CLK_TCK')


def exit_ticks(proc, dl):
    """CPU seconds of proc once it has exited (not reaped yet: a zombie
    keeps its times)."""
    fd = os.pidfd_open(proc.pid)
    try:
        if not select.select([fd], [], [], dl.left())[0]:
            raise Timeout('ssh did not exit')
    finally:
        os.close(fd)
    return cpu_ticks(proc.pid)


def parse_dd_bytes(stderr):
    for line in stderr.decode(errors='replace').splitlines():
        if ' bytes ' in line and 'copied' in line:
            return int(line.split()[0])
    raise Failed('no byte count in dd output: %r' % stderr[-300:])


def w_seqread(b, fs, p, dl, rep, opts=()):
    d = b.dataset('seq', p)
    res = {}
    with Mount(b, fs, opts=opts) as m:
        for metric in ('seqread', 'seqread_warm'):
            cpu = cpu_ticks(m.proc.pid)
            t, r = timed(['dd', 'if=' + m.path(d['name']), 'of=/dev/null',
                          'bs=1M'], dl)
            cpu = cpu_ticks(m.proc.pid) - cpu
            got = parse_dd_bytes(r.stderr)
            if got != d['size']:
                raise Failed('%s: read %d bytes of %d' % (metric, got,
                                                          d['size']))
            res[metric] = d['size'] / t / 1e6
            if metric == 'seqread':
                res['cpu_read'] = cpu / (d['size'] / GIB)
        if (fs, 'seqread', d['size']) not in b.first_check:
            b.first_check.add((fs, 'seqread', d['size']))
            r = sh(['sha256sum', m.path(d['name'])], dl)
            if r.stdout.split()[0].decode() != d['sha']:
                raise Failed('data read through %s differs from the file'
                             % fs)
    return res


def w_seqwrite(b, fs, p, dl, rep):
    d = b.dataset('seq', p)
    name = 'w-%s-%d-%d' % (fs, p['seq_mib'], rep)
    server = os.path.join(b.remote, name)
    try:
        with Mount(b, fs) as m:
            # dd exits after close(2): the time includes FUSE's flush.
            cpu = cpu_ticks(m.proc.pid)
            t, r = timed(['dd', 'if=' + d['wsrc'], 'of=' + m.path(name),
                          'bs=1M'], dl)
            cpu = cpu_ticks(m.proc.pid) - cpu
            if parse_dd_bytes(r.stderr) != d['size']:
                raise Failed('dd wrote a short count')
            check_sha(server, d['size'], d['wsha'], 'written file')
        return {'seqwrite': d['size'] / t / 1e6,
                'cpu_write': cpu / (d['size'] / GIB)}
    finally:
        rm_server(server)


def check_sha(server, size, sha, what):
    """The server's copy must be complete right after close; if it is not,
    look again after 3 s to tell "late" from "wrong"."""
    def state():
        try:
            st = os.stat(server)
        except FileNotFoundError:
            return 'missing', None
        return st.st_size, sha256_file(server)
    got = state()
    if got == (size, sha):
        return
    time.sleep(3)
    later = state()
    raise Failed('%s on the server after close: size %s (want %d), sha256 '
                 '%s; 3 s later: size %s, sha256 %s' % (
                     what, got[0], size,
                     'ok' if got[1] == sha else 'WRONG', later[0],
                     'ok' if later[1] == sha else 'WRONG'))


def rm_server(path):
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def w_tree(b, fs, p, dl, rep, opts=()):
    d = b.dataset('tree', p)
    res = {}
    with Mount(b, fs, opts=opts) as m:
        top = m.path(d['name'])
        for metric in ('lsR_cold', 'lsR_warm'):
            t, r = timed(['ls', '-lR', top], dl)
            n = size = 0
            for line in r.stdout.decode(errors='replace').splitlines():
                if line.startswith('-'):
                    n += 1
                    size += int(line.split()[4])
            if (n, size) != (d['files'], d['bytes']):
                raise Failed('%s: ls -lR shows %d files, %d bytes; the '
                             'server has %d, %d' % (metric, n, size,
                                                    d['files'], d['bytes']))
            res[metric] = t
    if opts:
        return res
    with Mount(b, fs) as m:
        top = m.path(d['name'])
        for metric in ('find_cold', 'find_warm'):
            t, r = timed(['find', top, '-type', 'f'], dl)
            n = len(r.stdout.splitlines())
            if n != d['files']:
                raise Failed('%s: find shows %d files, the server has %d'
                             % (metric, n, d['files']))
            res[metric] = t
    return res


def w_untar(b, fs, p, dl, rep, opts=()):
    d = b.dataset('untar', p)
    name = 'untar-%s-%d-%d-%d' % (fs, p['untar_files'], rep, b.nmounts)
    server = os.path.join(b.remote, name)
    os.mkdir(server)
    try:
        with Mount(b, fs, opts=opts) as m:
            t, r = timed([TAR, '-xf', d['tar'], '-C', m.path(name)], dl)
            bad = []
            for rel, sha in d['files'].items():
                fp = os.path.join(server, rel)
                try:
                    if sha256_file(fp) != sha:
                        bad.append(rel + ' (content)')
                except FileNotFoundError:
                    bad.append(rel + ' (missing)')
            if bad:
                raise Failed('after tar exited, %d of %d files wrong on the '
                             'server, e.g. %s' % (len(bad), len(d['files']),
                                                  ', '.join(bad[:3])))
        return {'untar': t}
    finally:
        rm_server(server)


def w_fio(b, fs, p, dl, rep):
    d = b.dataset('seq', dict(p))
    with Mount(b, fs) as m:
        r = sh([FIO, '--name=randread', '--filename=' + m.path(d['name']),
                '--readonly', '--rw=randread', '--bs=4k', '--direct=1',
                '--ioengine=psync', '--numjobs=4', '--group_reporting',
                '--size=%d' % d['size'], '--time_based',
                '--runtime=%d' % p['fio_s'], '--randrepeat=0',
                '--output-format=json'], dl, timeout=p['fio_s'] + 60)
        try:
            out = r.stdout.decode(errors='replace')
            j = json.loads(out[out.index('{'):])
            job = j['jobs'][0]
        except (ValueError, KeyError, IndexError) as e:
            raise Failed('cannot parse fio output (%s): %s' % (e, out[:300]))
        if job.get('error'):
            raise Failed('fio error %s' % job['error'])
        return {'randread4k': job['read']['iops']}


# -o options of the rows that show rfs's opt-in mode (the _w rows).
WINDOW = ['revalidate_window=1000']


def rfs_opts(fs, opts):
    return opts if fs == 'rfs' else []


def git_status(b, fs, p, dl, kind, metrics, opts=()):
    """git status, cold then warm, on dataset kind."""
    d = b.dataset(kind, p)
    res = {}
    with Mount(b, fs, opts=rfs_opts(fs, opts)) as m:
        for metric in metrics:
            t, r = timed([GIT, '-C', m.path(d['name']),
                          '--no-optional-locks', 'status', '--porcelain'],
                         dl, env=b.env)
            if r.stdout.strip():
                out = r.stdout.decode(errors='replace').splitlines()
                raise Failed('%s: git status through %s is not clean: %d '
                             'lines, e.g. %s' % (metric, fs, len(out),
                                                 '; '.join(out[:3])))
            res[metric] = t
    return res


def w_git(b, fs, p, dl, rep):
    return git_status(b, fs, p, dl, 'git',
                      ('gitstatus_cold', 'gitstatus_warm'))


def w_gitdef(b, fs, p, dl, rep):
    return git_status(b, fs, p, dl, 'gitdef', ('gitdef_cold', 'gitdef_warm'))


def w_gitdef_w(b, fs, p, dl, rep):
    return git_status(b, fs, p, dl, 'gitdef',
                      ('gitdef_cold_w', 'gitdef_warm_w'), WINDOW)


def w_smallcat(b, fs, p, dl, rep, opts=(), metric='smallcat'):
    d = b.dataset('small', p)
    with Mount(b, fs, opts=rfs_opts(fs, opts)) as m:
        top = m.path(d['name'])
        # the names first (one listing), then the timed reads, in order
        names = sorted(sh(['ls', top], dl).stdout.decode().split())
        t, r = timed(['cat'] + [os.path.join(top, x) for x in names], dl)
        if len(r.stdout) != d['bytes']:
            raise Failed('cat read %d bytes, the server has %d'
                         % (len(r.stdout), d['bytes']))
    return {metric: t}


def w_smallcat_w(b, fs, p, dl, rep):
    return w_smallcat(b, fs, p, dl, rep, WINDOW, 'smallcat_w')


def w_grep(b, fs, p, dl, rep, opts=(), metric='grep_cold'):
    d = b.dataset('src', p)
    with Mount(b, fs, opts=rfs_opts(fs, opts)) as m:
        t, r = timed(['grep', '-r', '-l', 'needle_', m.path(d['name'])], dl)
        n = len(r.stdout.splitlines())
        if n != d['hits']:
            raise Failed('grep found %d files, the server has %d'
                         % (n, d['hits']))
    return {metric: t}


def w_grep_w(b, fs, p, dl, rep):
    return w_grep(b, fs, p, dl, rep, WINDOW, 'grep_cold_w')


def w_cp(b, fs, p, dl, rep):
    d = b.dataset('cp', p)
    name = 'cp-%s-%d-%d' % (fs, p['cp_mib'], rep)
    server = os.path.join(b.remote, name)
    try:
        with Mount(b, fs) as m:
            t, r = timed(['cp', m.path(d['name']), m.path(name)], dl)
            check_sha(server, d['size'], d['sha'], 'copied file')
        return {'cp': t}
    finally:
        rm_server(server)


# Times stat(2) of each path given, a pause between: prints seconds.
STAT_PROBE = '''
import os, sys, time
out = []
for p in sys.argv[1:]:
    t = time.monotonic()
    os.stat(p)
    out.append(time.monotonic() - t)
    time.sleep(0.05)
print(' '.join('%.6f' % x for x in out))
'''


class Repeat:
    """argv run over and over in a thread while the with block runs (the
    one running at its end is killed); .rcs holds the exit codes."""

    def __init__(self, argv):
        self.argv, self.rcs, self.current = argv, [], None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.is_set():
            self.current = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.rcs.append(self.current.wait())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.current is not None:
            stop_proc(self.current, signal.SIGKILL)
        self.thread.join(30)
        return False

    def failed(self):
        """A run before the last (killed) one failed, or one hangs."""
        return any(self.rcs[:-1]) or self.thread.is_alive()


def w_statload(b, fs, p, dl, rep):
    """stat(2) of names not seen before (a new directory each) while a
    big file streams in: does metadata wait behind bulk data?"""
    seq, tree = b.dataset('seq', p), b.dataset('tree', p)
    with Mount(b, fs) as m:
        # O_DIRECT, again and again: every pass goes over the network.
        with Repeat(['dd', 'if=' + m.path(seq['name']), 'of=/dev/null',
                     'bs=1M', 'iflag=direct']) as reader:
            time.sleep(0.5)     # streaming by now
            n = min(20, p['tree_dirs'])
            paths = [m.path(tree['name'], 'd%03d' % i, 'f%05d.txt' % i)
                     for i in range(n)]
            r = sh([sys.executable, '-c', STAT_PROBE] + paths, dl)
        if reader.failed():
            raise Failed('the read failed while the stats ran: %s'
                         % reader.rcs)
    lat = [float(x) for x in r.stdout.split()]
    if len(lat) != n:
        raise Failed('stat probe printed %r' % r.stdout[:200])
    return {'stat_busy': statistics.median(lat) * 1000}


def w_seqfind(b, fs, p, dl, rep):
    """The cold sequential read while `find` walks the tree on the same
    mount (over and over until the read ends): bulk data and metadata
    share the link, as when a file is copied out while a shell completes
    names or an IDE indexes."""
    seq, tree = b.dataset('seq', p), b.dataset('tree', p)
    with Mount(b, fs) as m:
        with Repeat(['find', m.path(tree['name']), '-type', 'f']) as walker:
            el, r = timed(['dd', 'if=' + m.path(seq['name']),
                           'of=/dev/null', 'bs=1M'], dl)
        if parse_dd_bytes(r.stderr) != seq['size']:
            raise Failed('short read while find ran')
        if walker.failed():
            raise Failed('find failed during the read: %s' % walker.rcs)
    return {'seqread_find': seq['size'] / el / 1e6}


def w_par4read(b, fs, p, dl, rep):
    """Four files read at once, both file systems with max_conns=4:
    several encryption streams and TCP connections at work."""
    d = b.dataset('par', p)
    with Mount(b, fs, opts=['max_conns=4']) as m:
        procs = []
        t0 = time.monotonic()
        for name, _ in d['files']:
            procs.append(subprocess.Popen(
                ['dd', 'if=' + m.path(name), 'of=/dev/null', 'bs=1M'],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, start_new_session=True))
        try:
            for q in procs:
                q.wait(dl.left())
            t = time.monotonic() - t0
            for q in procs:
                got = parse_dd_bytes(q.stderr.read())
                if q.returncode != 0 or got != d['size']:
                    raise Failed('par4read: dd exit %s, %d bytes of %d' % (
                        q.returncode, got, d['size']))
        except subprocess.TimeoutExpired:
            raise Timeout('par4read: dd still running at the deadline')
        finally:
            for q in procs:
                stop_proc(q, signal.SIGKILL)
                q.stderr.close()
    return {'par4read': 4 * d['size'] / t / 1e6}


def raw_read(b, p, dl):
    """MB/s of `ssh host cat FILE`, timed from the first byte to EOF (so
    connection setup is not counted, as it is not for the mounts)."""
    d = b.dataset('seq', p)
    proc = subprocess.Popen(b.ssh_argv('cat ' + d['path']),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=b.env)
    try:
        fd = proc.stdout.fileno()
        n, t0, cpu = 0, None, 0
        while True:
            if not select.select([fd], [], [], dl.left())[0]:
                raise Timeout('raw ssh cat: no data')
            chunk = os.read(fd, MIB)
            if not chunk:
                break
            if t0 is None:
                t0 = time.monotonic()
                cpu = cpu_ticks(proc.pid)
            n += len(chunk)
        t = time.monotonic() - (t0 or 0)
        cpu = exit_ticks(proc, dl) - cpu
        proc.wait(dl.left())
    finally:
        stop_proc(proc, signal.SIGKILL)
    if n != d['size'] or proc.returncode != 0:
        raise Failed('raw ssh cat: %d bytes, exit %s: %s' % (
            n, proc.returncode, proc.stderr.read()[-300:]))
    return {'seqread': d['size'] / t / 1e6,
            'cpu_read': cpu / (d['size'] / GIB)}


def raw_write(b, p, dl):
    """MB/s of `cat file | ssh host 'cat > f'`, timed from when the remote
    command runs to ssh's exit (the remote cat has closed the file)."""
    d = b.dataset('seq', p)
    server = os.path.join(b.remote, 'raw-write')
    proc = subprocess.Popen(
        b.ssh_argv('echo go; exec cat > %s' % server),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=b.env)
    try:
        if not select.select([proc.stdout], [], [], dl.left())[0]:
            raise Timeout('raw ssh write: no "go"')
        if os.read(proc.stdout.fileno(), 16) != b'go\n':
            raise Failed('raw ssh write: no "go"')
        with open(d['wsrc'], 'rb') as src:
            data = src.read()
        wfd = proc.stdin.fileno()
        t0 = time.monotonic()
        cpu = cpu_ticks(proc.pid)
        view, off = memoryview(data), 0
        while off < len(data):
            if not select.select([], [wfd], [], dl.left())[1]:
                raise Timeout('raw ssh write stalled')
            off += os.write(wfd, view[off:off + MIB])
        proc.stdin.close()
        cpu = exit_ticks(proc, dl) - cpu
        proc.wait(dl.left())
        t = time.monotonic() - t0
        if proc.returncode != 0:
            raise Failed('raw ssh write: exit %d: %s' % (
                proc.returncode, proc.stderr.read()[-300:]))
        check_sha(server, d['size'], d['wsha'], 'raw ssh write')
    finally:
        stop_proc(proc, signal.SIGKILL)
        rm_server(server)
    return {'seqwrite': d['size'] / t / 1e6,
            'cpu_write': cpu / (d['size'] / GIB)}


class Master:
    """An OpenSSH ControlMaster to the bench's server (through the delay
    proxy, with the bench's key and cipher), stopped with -O exit."""

    def __init__(self, b):
        self.b = b
        self.sock = os.path.join(b.scratch, 'cm-%d.sock' % b.nmounts)
        self.base = ['ssh', '-F', '/dev/null', '-S', self.sock, '-p',
                     str(b.port), '-o', 'UserKnownHostsFile=' + b.kh,
                     '-o', 'GlobalKnownHostsFile=/dev/null', '-o',
                     'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes']
        if b.cipher:
            self.base += ['-o', 'Ciphers=' + b.cipher]

    def __enter__(self):
        r = subprocess.run(self.base + [
            '-M', '-fN', '-o', 'ControlPersist=yes', '-i', self.b.key,
            '-o', 'IdentitiesOnly=yes', 'root@127.0.0.1'],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, timeout=30, env=self.b.env)
        if r.returncode:
            raise Failed('ControlMaster did not start: %s' % r.stderr[-300:])
        return self

    def __exit__(self, *exc):
        subprocess.run(self.base + ['-O', 'exit', 'root@127.0.0.1'],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)


def via_transport(fn, kind, keep):
    """A workload through another transport: rfs -o transport=ssh (kind
    'ssh'; sshfs as always), or both file systems through one
    ControlMaster (kind 'mux'). keep: the metrics reported, renamed
    with _kind."""
    def w(b, fs, p, dl, rep):
        if kind == 'ssh':
            res = fn(b, fs, p, dl, rep,
                     opts=['transport=ssh'] if fs == 'rfs' else [])
        else:
            with Master(b) as cm:
                res = fn(b, fs, p, dl, rep,
                         opts=['ControlPath=' + cm.sock])
        return {'%s_%s' % (k, kind): res[k] for k in keep}
    return w


def w_untar_shared(b, fs, p, dl, rep):
    res = w_untar(b, fs, p, dl, rep,
                  opts=['allow_other', 'default_permissions'])
    return {'untar_shared': res['untar']}


WORKLOADS = [
    # name, function, metrics, raw function
    ('seqread', w_seqread, ('seqread', 'seqread_warm', 'cpu_read'),
     raw_read),
    ('seqwrite', w_seqwrite, ('seqwrite', 'cpu_write'), raw_write),
    ('tree', w_tree, ('lsR_cold', 'lsR_warm', 'find_cold', 'find_warm'),
     None),
    ('untar', w_untar, ('untar',), None),
    ('fio', w_fio, ('randread4k',), None),
    ('git', w_git, ('gitstatus_cold', 'gitstatus_warm'), None),
    ('gitdef', w_gitdef, ('gitdef_cold', 'gitdef_warm'), None),
    ('smallcat', w_smallcat, ('smallcat',), None),
    ('grep', w_grep, ('grep_cold',), None),
    ('gitdef_w', w_gitdef_w, ('gitdef_cold_w', 'gitdef_warm_w'), None),
    ('smallcat_w', w_smallcat_w, ('smallcat_w',), None),
    ('grep_w', w_grep_w, ('grep_cold_w',), None),
    ('seqfind', w_seqfind, ('seqread_find',), None),
    ('cp', w_cp, ('cp',), None),
    ('statload', w_statload, ('stat_busy',), None),
    ('par4read', w_par4read, ('par4read',), None),
    ('seqread_ssh', via_transport(w_seqread, 'ssh', ('seqread',)),
     ('seqread_ssh',), None),
    ('tree_ssh', via_transport(w_tree, 'ssh', ('lsR_cold',)),
     ('lsR_cold_ssh',), None),
    ('untar_ssh', via_transport(w_untar, 'ssh', ('untar',)),
     ('untar_ssh',), None),
    ('seqread_mux', via_transport(w_seqread, 'mux', ('seqread',)),
     ('seqread_mux',), None),
    ('tree_mux', via_transport(w_tree, 'mux', ('lsR_cold',)),
     ('lsR_cold_mux',), None),
    ('untar_mux', via_transport(w_untar, 'mux', ('untar',)),
     ('untar_mux',), None),
    ('untar_shared', w_untar_shared, ('untar_shared',), None),
]


# --------------------------------------------------------------------------
# Driver


def profile_for(args, rtt):
    if rtt >= 50:
        return 'wan'
    if args.quick:
        return 'small'
    if rtt >= 10:
        return 'medium'
    return 'full'


def run_rtt(b, args, rtt):
    """All workloads at one RTT, each fs on its own fresh mounts; returns
    the profile and, per metric, the medians, samples and errors."""
    prof = profile_for(args, rtt)
    p = PROFILES[prof]
    reps = args.repeat or (5 if rtt == 0 and not args.quick else 1)
    b.set_rtt(rtt)
    log('rtt %d ms: profile %s, %d repetition(s), port %d' % (
        rtt, prof, reps, b.port))
    vals = {m: {'rfs': [], 'sshfs': [], 'raw': []} for m in METRIC}
    errors = {m: {} for m in METRIC}
    for wname, fn, metrics, rawfn in WORKLOADS:
        if args.only and wname not in args.only:
            continue
        try:
            b.dataset({'seqread': 'seq', 'seqwrite': 'seq', 'fio': 'seq',
                       'tree': 'tree', 'untar': 'untar', 'git': 'git',
                       'gitdef': 'gitdef', 'smallcat': 'small',
                       'grep': 'src', 'gitdef_w': 'gitdef',
                       'smallcat_w': 'small', 'grep_w': 'src', 'cp': 'cp', 'statload': 'tree',
                       'seqfind': 'tree',
                       'par4read': 'par', 'seqread_ssh': 'seq',
                       'tree_ssh': 'tree', 'untar_ssh': 'untar',
                       'seqread_mux': 'seq', 'tree_mux': 'tree',
                       'untar_mux': 'untar', 'untar_shared': 'untar'}[wname],
                      p)
        except (Failed, OSError) as e:
            log('%s: preparing the data failed: %s' % (wname, e))
            for m in metrics:
                errors[m] = {k: 'no data: %s' % e for k in FSES + ('raw',)}
            continue
        for rep in range(reps):
            order = FSES if rep % 2 == 0 else FSES[::-1]
            if rawfn is not None:
                try:
                    raw = rawfn(b, p, Deadline(args.timeout))
                    for m, v in raw.items():
                        vals[m]['raw'].append(v)
                    log('%s raw ssh #%d: %s' % (wname, rep + 1, ' '.join(
                        '%s=%.4g' % kv for kv in raw.items())))
                except (Failed, OSError) as e:
                    for m in metrics:
                        errors[m]['raw'] = str(e)
                    log('%s raw: FAILED: %s' % (wname, e))
            for fs in order:
                if any(fs in errors[m] for m in metrics):
                    continue  # failed before: do not repeat the wait
                t0 = time.monotonic()
                try:
                    res = fn(b, fs, p, Deadline(args.timeout), rep)
                except (Failed, OSError) as e:
                    for m in metrics:
                        errors[m][fs] = str(e)
                    log('%s %s: FAILED: %s' % (wname, fs, e))
                    continue
                for m, v in res.items():
                    vals[m][fs].append(v)
                log('%s %s #%d (%.1fs): %s' % (
                    wname, fs, rep + 1, time.monotonic() - t0,
                    ' '.join('%s=%.4g' % kv for kv in res.items())))
    rows = {}
    for m in METRIC:
        if args.only and not any(m in w[2] for w in WORKLOADS
                                 if w[0] in args.only):
            continue
        row = {'errors': errors[m], 'samples': vals[m]}
        for k in ('rfs', 'sshfs', 'raw'):
            v = vals[m][k]
            row[k] = statistics.median(v) if v and k not in errors[m] \
                else None
        rows[m] = row
    b.stop_proxy()
    return dict(rtt=rtt, profile=prof, sizes=p, repeat=reps, rows=rows)


def ratio(metric, rfs, sshfs):
    if rfs is None or sshfs is None or rfs == 0 or sshfs == 0:
        return None
    return rfs / sshfs if METRIC[metric][2] else sshfs / rfs


def fmt(v):
    if v is None:
        return 'FAIL'
    if v >= 100:
        return '%.0f' % v
    if v >= 10:
        return '%.1f' % v
    return '%.3g' % v


def report(result, out=sys.stdout):
    rtt, p = result['rtt'], result['sizes']
    print('\nRTT %d ms (profile %s, median of %d)  ratio: > 1 means rfs '
          'is better (rfs/sshfs for MB/s and IOPS, sshfs/rfs for seconds); '
          'vs raw: the same of rfs against OpenSSH\'s ssh'
          % (rtt, result['profile'], result['repeat']), file=out)
    hdr = '%-42s %-5s %9s %9s %8s %9s %7s' % (
        'workload', 'unit', 'rfs', 'sshfs', 'ratio', 'raw ssh', 'vs raw')
    print(hdr, file=out)
    print('-' * len(hdr), file=out)
    for m, row in result['rows'].items():
        _, unit, _, label = METRIC[m]
        r = ratio(m, row['rfs'], row['sshfs'])
        rr = ratio(m, row['rfs'], row['raw'])
        print('%-42s %-5s %9s %9s %8s %9s %7s' % (
            label.format(**p), unit, fmt(row['rfs']), fmt(row['sshfs']),
            '-' if r is None else '%.2f' % r,
            fmt(row['raw']) if row['samples']['raw'] or 'raw' in
            row['errors'] else '-', '-' if rr is None else '%.2f' % rr),
            file=out)
    for m, row in result['rows'].items():
        for fs, err in row['errors'].items():
            print('  %s %s failed: %s' % (m, fs, err), file=out)
    print(file=out)
    for m, row in result['rows'].items():
        r = ratio(m, row['rfs'], row['sshfs'])
        has_raw = row['samples']['raw'] or 'raw' in row['errors']
        rr = ratio(m, row['rfs'], row['raw'])
        print('BENCH rtt=%d workload=%s rfs=%s sshfs=%s unit=%s ratio=%s '
              'raw=%s vs_raw=%s' % (
                  rtt, m, fmtm(row['rfs']), fmtm(row['sshfs']),
                  METRIC[m][1], '-' if r is None else '%.2f' % r,
                  fmtm(row['raw']) if has_raw else '-',
                  '-' if rr is None else '%.2f' % rr), file=out)
    out.flush()


def fmtm(v):
    """Four significant digits, never an exponent: 0.01094, 12846."""
    if v is None:
        return 'FAIL'
    if v == 0:
        return '0'
    dec = max(0, 3 - math.floor(math.log10(abs(v))))
    return '%.*f' % (dec, v)


def versions(b):
    def first_line(cmd, want=''):
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=10)
            lines = r.stdout.decode(errors='replace').strip().splitlines()
            return [x for x in lines if want in x][0]
        except Exception as e:
            return 'unknown (%s)' % e
    return {
        'date': time.strftime('%Y-%m-%d %H:%M:%S %Z'),
        'nproc': os.cpu_count(),
        'kernel': os.uname().release,
        'rfs': first_line([b.rfs, '-V']),
        'rfs_commit': first_line([GIT, '-C', REPO, 'describe', '--always'])
        + (' + uncommitted changes in src/' if subprocess.run(
            [GIT, '-C', REPO, 'status', '--porcelain', '--', 'src',
             'include'], stdout=subprocess.PIPE).stdout.strip() else ''),
        'sshfs': first_line([SSHFS, '-V'], 'SSHFS'),
        'openssh': first_line([SSH, '-V']),
        'fio': first_line([FIO, '--version']),
        'cipher': b.cipher,
    }


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true',
                    help='small sizes, one repetition')
    ap.add_argument('--rtt', default='0,10,50',
                    help='comma-separated round-trip times in ms '
                    '(default 0,10,50); > 0 needs tcpproxy')
    ap.add_argument('--repeat', type=int, default=0,
                    help='repetitions per workload (default: 5 at 0 ms, '
                    'else 1); the table shows the median')
    ap.add_argument('--only', default='',
                    help='comma-separated workloads: ' +
                    ','.join(w[0] for w in WORKLOADS))
    ap.add_argument('--timeout', type=int, default=240,
                    help='seconds per workload run before it is marked '
                    'failed (default 240)')
    ap.add_argument('--json', help='also write all results to this file')
    ap.add_argument('--rfs', default=os.path.join(REPO, 'build', 'rfs'),
                    help='rfs binary (default build/rfs; copied at start)')
    ap.add_argument('--tcpproxy', default=os.path.join(
        REPO, 'build', 'test', 'tcpproxy', 'tcpproxy'),
        help='latency proxy (default build/test/tcpproxy/tcpproxy)')
    a = ap.parse_args(argv)
    try:
        a.rtts = [int(x) for x in a.rtt.split(',') if x.strip()]
    except ValueError:
        ap.error('--rtt: comma-separated integers expected')
    if any(r < 0 or r % 2 for r in a.rtts):
        ap.error('--rtt: even, non-negative milliseconds (half each way)')
    a.only = [x for x in a.only.split(',') if x]
    for x in a.only:
        if x not in [w[0] for w in WORKLOADS]:
            ap.error('--only: unknown workload %s' % x)
    return a


def main(argv):
    args = parse_args(argv)
    if os.geteuid() != 0:
        log('run as root (FUSE mounts, sshd, PermitRootLogin)')
        return 1
    for path in (args.rfs, SSHFS, FIO, GIT, SSHD, FUSERMOUNT):
        if not os.access(path, os.X_OK):
            log('%s is missing (contrib/install-deps.sh; ninja -C build)'
                % path)
            return 1
    if any(args.rtts) and not os.access(args.tcpproxy, os.X_OK):
        log('%s is missing: skipping RTTs > 0' % args.tcpproxy)
        args.rtts = [r for r in args.rtts if r == 0]
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _terminate)
    results, info = [], None
    try:
        b = Bench(args)
        b.start_sshd()
        log('sshd on 127.0.0.1:%d, scratch %s' % (b.sshd_port, b.scratch))
        log('rfs negotiates cipher %s; sshfs and ssh get the same'
            % b.detect_cipher())
        info = versions(b)
        for rtt in args.rtts:
            res = run_rtt(b, args, rtt)
            results.append(res)
            report(res, sys.stderr)
    finally:
        run_cleanups()
    if info is None:
        return 1
    print('%s; %d CPUs, Linux %s; %s (commit %s); %s; %s; cipher %s' % (
        info['date'], info['nproc'], info['kernel'], info['rfs'],
        info['rfs_commit'], info['sshfs'], info['openssh'], info['cipher']))
    for res in results:
        report(res)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(info=info, results=results), f, indent=1)
    failed = any(r['errors'] for res in results
                 for r in res['rows'].values())
    return 2 if failed else 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        log('interrupted; everything started was stopped')
        sys.exit(130)
