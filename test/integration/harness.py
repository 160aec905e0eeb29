"""Integration harness: a real OpenSSH sshd on 127.0.0.1 and real FUSE mounts.

Everything started here is stopped by PID (never by name), also when a test
fails. Nothing reads or writes the real ~/.ssh: every ssh/rfs command line
names its keys, known_hosts files and config (-F /dev/null) explicitly, and
rfs runs with HOME pointing at a scratch directory.
"""

import atexit
import errno
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time

SSHD = '/usr/sbin/sshd'
SSH_KEYGEN = '/usr/bin/ssh-keygen'
SFTP_SERVER = '/usr/lib/openssh/sftp-server'
FUSERMOUNT = '/usr/bin/fusermount3'
PYTHON = '/usr/bin/python3'
HERE = os.path.dirname(os.path.abspath(__file__))
HOSTILE_SFTP = os.path.join(HERE, 'hostile_sftp.py')

PASSPHRASE = 'correct horse battery staple'

# rfs exit codes (fixed by cli.c).
EXIT_OK = 0
EXIT_USAGE = 1
EXIT_CONNECT = 2
EXIT_HOSTKEY = 3
EXIT_AUTH = 4
EXIT_REMOTE_PATH = 5
EXIT_MOUNT = 6
EXIT_PROTOCOL = 7


# Every long-running process the harness starts, with the mountpoint it
# serves (or None). A last resort at interpreter exit, e.g. when pytest is
# stopped by SIGTERM: fixtures normally stop them first.
_started = []


def track(proc, mnt=None):
    _started.append((proc, mnt))
    return proc


_users = []


@atexit.register
def _stop_leftovers():
    for proc, mnt in reversed(_started):
        if proc.poll() is None:
            if mnt and is_mounted(mnt):
                fusermount_u(mnt, lazy=True)
            stop_pid(proc, signal.SIGKILL)
    for u in _users:
        u.remove()


def rfs_bin():
    """Path of the rfs executable under test, from $RFS_BIN."""
    path = os.environ.get('RFS_BIN')
    if not path:
        raise RuntimeError('RFS_BIN is not set (meson test sets it)')
    if not os.access(path, os.X_OK):
        raise RuntimeError('RFS_BIN=%s is not an executable file' % path)
    return path


def rfs_wrapper():
    """$RFS_WRAPPER split into words, e.g. a valgrind command line that
    then runs every rfs the harness mounts; [] when unset."""
    import shlex
    return shlex.split(os.environ.get('RFS_WRAPPER', ''))


def slow_factor():
    """How much longer rfs takes to start and stop: 5 under a wrapper."""
    return 5 if rfs_wrapper() else 1


def free_port():
    """A port nothing listens on right now: bind port 0, read it, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run(cmd, check=True, timeout=60, **kw):
    """subprocess.run with text output captured; raises with stderr on error."""
    kw.setdefault('stdout', subprocess.PIPE)
    kw.setdefault('stderr', subprocess.PIPE)
    r = subprocess.run(cmd, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError('%s failed (%d): %s%s' % (
            ' '.join(map(str, cmd)), r.returncode, r.stdout, r.stderr))
    return r


def stop_pid(proc, sig=signal.SIGTERM, timeout=5.0):
    """Stop a Popen by its PID: sig, wait, then SIGKILL. Returns its status."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)
    return proc.returncode


def kill_pid(pid, timeout=5.0):
    """SIGTERM then SIGKILL a process that is not our child, by PID."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.05)


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # "pid (comm) S ...": the state letter follows the last ')'.
    return data[data.rindex(')') + 2] != 'Z'


def _unescape_mountinfo(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == '\\' and i + 4 <= len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return ''.join(out)


def mounts():
    """(mountpoint, fstype, source) for every mount, from mountinfo."""
    res = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            left, right = line.split(' - ', 1)
            mp = _unescape_mountinfo(left.split()[4])
            r = right.split()
            res.append((mp, r[0], _unescape_mountinfo(r[1])))
    return res


def is_mounted(path):
    """Is something mounted exactly at path? (Works where stat is denied.)"""
    path = os.path.realpath(path) if os.path.exists(path) else path
    return any(mp == path for mp, _, _ in mounts())


def fusermount_u(mnt, lazy=False, user=None):
    cmd = [FUSERMOUNT, '-u'] + (['-z'] if lazy else []) + [str(mnt)]
    if user is not None:
        cmd = as_user(user, cmd)
    return run(cmd, check=False, timeout=30)


def find_pids_with_arg(arg):
    """PIDs whose argv contains arg as a whole argument (via /proc)."""
    want = os.fsencode(str(arg))
    pids = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % d, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if want in argv and int(d) != os.getpid():
            pids.append(int(d))
    return pids


def in_netns(name, argv):
    """argv run in network namespace name (only: mounts stay shared)."""
    return ['/usr/bin/nsenter', '--net=/run/netns/' + name] + list(argv)


def descendants(pid):
    """PIDs of every descendant of pid (from /proc), children first."""
    kids = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(0), []):
            out.append(k)
            todo.append(k)
    return out


def proc_argv(pid):
    """argv of a process as a list of str, [] if gone."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return [os.fsdecode(a) for a in f.read().split(b'\0')[:-1]]
    except OSError:
        return []


def parse_stats(text):
    """The user.rfs.stats line as a dict (numbers as int); asserts its
    shape."""
    assert text.endswith('\n'), repr(text)
    fields = dict(kv.split('=', 1) for kv in text.split())
    for k in ('requests', 'bytes_out', 'bytes_in', 'cache_hits',
              'cache_misses', 'reconnects', 'conns', 'channels',
              'files_ahead', 'files_ahead_used'):
        assert fields[k].isdigit(), (k, text)
    assert fields['cache_hit_rate'].endswith('%'), text
    float(fields['rtt_ms'])
    return {k: (int(v) if v.isdigit() else v) for k, v in fields.items()}


def rfs_stats(mnt):
    """A mount's statistics (mounted with -o xattr)."""
    return parse_stats(os.getxattr(str(mnt), 'user.rfs.stats').decode())


REQ_LINE = re.compile(r'sftp: lane \d+ id \d+ type (\d+) -> reply \d+ '
                      r'status (\d+) \d+ bytes \d+ ms, sent after reply '
                      r'(\d+)')


def sftp_requests(log):
    """The SFTP requests a -d log shows, as (type, status, after): after
    is the number of replies the connection had when the request went
    out, so requests sent together share it."""
    return [tuple(int(x) for x in m.groups())
            for m in REQ_LINE.finditer(log)]


def round_trips(reqs, skip=(4,)):
    """Round trips the requests took, one after the other: how many
    different moments they were sent at (CLOSE, type 4, is answered to
    nobody and overlaps what follows: not counted by default)."""
    return len({after for t, _, after in reqs if t not in skip})


def wait_for(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# --------------------------------------------------------------------------
# Keys


def keygen(path, ktype='ed25519', bits=None, passphrase='', comment=None):
    cmd = [SSH_KEYGEN, '-q', '-t', ktype, '-N', passphrase, '-f', str(path),
           '-C', comment or os.path.basename(str(path))]
    if bits:
        cmd += ['-b', str(bits)]
    run(cmd)
    os.chmod(path, 0o600)
    return str(path)


def read_pub(path):
    with open(str(path) + '.pub') as f:
        return f.read().strip()


class Keys:
    """Host and user key material, generated once per session."""

    def __init__(self, base):
        self.dir = os.path.join(base, 'keys')
        os.mkdir(self.dir, 0o755)
        d = self.dir
        self.host_ed25519 = keygen(os.path.join(d, 'ssh_host_ed25519_key'))
        self.host_rsa = keygen(os.path.join(d, 'ssh_host_rsa_key'), 'rsa',
                               3072)
        # A host key the server never uses: for "changed key" tests.
        self.other_host_ed25519 = keygen(os.path.join(d, 'other_host_key'))
        self.user_ed25519 = keygen(os.path.join(d, 'id_ed25519'))
        self.user_rsa = keygen(os.path.join(d, 'id_rsa4096'), 'rsa', 4096)
        self.user_pass = keygen(os.path.join(d, 'id_ed25519_pass'),
                                passphrase=PASSPHRASE)
        self.user_unauth = keygen(os.path.join(d, 'id_ed25519_unauth'))

    def host_keys(self):
        return [self.host_ed25519, self.host_rsa]

    def authorized_for_root(self):
        return [read_pub(k) for k in
                (self.user_ed25519, self.user_rsa, self.user_pass)]


# --------------------------------------------------------------------------
# sshd


class Sshd:
    """A private sshd on 127.0.0.1:random port, started and stopped by PID.

    subsystem: the sftp Subsystem command line (default: OpenSSH's
    sftp-server). Host keys come from a shared Keys object so that starting
    another instance is cheap.
    """

    def __init__(self, keys, subsystem=SFTP_SERVER, extra_config=(),
                 host='127.0.0.1', netns=None):
        """host: the address to listen on; netns: the name of a network
        namespace (made by the test) to run in, where host lives."""
        self.keys = keys
        self.host = host
        self.netns = netns
        self.subsystem = subsystem
        self.extra_config = list(extra_config)
        self.proc = None
        self.port = None
        # 0755 so that a non-root test user can traverse to its
        # authorized_keys file and to the backing directories below.
        self.dir = tempfile.mkdtemp(prefix='rfs-sshd-', dir='/tmp')
        os.chmod(self.dir, 0o755)
        self.config = os.path.join(self.dir, 'sshd_config')
        self.log = os.path.join(self.dir, 'sshd.log')
        self.pidfile = os.path.join(self.dir, 'sshd.pid')
        self.ak_dir = os.path.join(self.dir, 'authorized_keys')
        os.mkdir(self.ak_dir, 0o755)
        self.known_hosts = os.path.join(self.dir, 'known_hosts')

    # -- configuration

    def authorize(self, user, pubkeys):
        """Replace user's authorized_keys with pubkeys (list of lines)."""
        path = os.path.join(self.ak_dir, user)
        with open(path, 'w') as f:
            f.write(''.join(k + '\n' for k in pubkeys))
        os.chmod(path, 0o644)
        return path

    def host_pub_lines(self):
        """'keytype base64' for each host key the server offers."""
        out = []
        for k in self.keys.host_keys():
            parts = read_pub(k).split()
            out.append('%s %s' % (parts[0], parts[1]))
        return out

    def host_pattern(self):
        return '[%s]:%d' % (self.host, self.port)

    def known_hosts_text(self):
        return ''.join('%s %s\n' % (self.host_pattern(), line)
                       for line in self.host_pub_lines())

    def write_known_hosts(self, path):
        with open(path, 'w') as f:
            f.write(self.known_hosts_text())
        return str(path)

    def _write_config(self):
        # sshd takes the first value of a keyword: the test's come first.
        lines = self.extra_config + [
            'ListenAddress %s' % self.host,
            'Port %d' % self.port,
        ] + ['HostKey %s' % k for k in self.keys.host_keys()] + [
            'PidFile %s' % self.pidfile,
            'AuthorizedKeysFile %s/%%u' % self.ak_dir,
            'StrictModes no',
            'UsePAM no',
            'PasswordAuthentication yes',
            'KbdInteractiveAuthentication no',
            'PermitRootLogin yes',
            'Subsystem sftp %s' % self.subsystem,
            # Root's ~/.bashrc runs a slow `pyenv init`; bash skips it for
            # ssh commands when SHLVL says it is nested.
            'SetEnv SHLVL=1',
            'LogLevel DEBUG1',
            'MaxStartups 100:30:200',
            'MaxSessions 50',
        ]
        with open(self.config, 'w') as f:
            f.write('\n'.join(lines) + '\n')

    # -- life cycle

    def start(self):
        os.makedirs('/run/sshd', mode=0o755, exist_ok=True)  # privsep dir
        self.authorize('root', self.keys.authorized_for_root())
        last_err = None
        for _ in range(5):  # the port can be taken between probe and bind
            self.port = free_port()
            self._write_config()
            self.write_known_hosts(self.known_hosts)
            run([SSHD, '-t', '-f', self.config])
            self.proc = track(subprocess.Popen(
                self._argv(),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True))
            if self._wait_listening(10):
                return self
            last_err = self.log_tail()
            stop_pid(self.proc)
            self.proc = None
        raise RuntimeError('sshd did not start: %s' % last_err)

    def _argv(self):
        argv = [SSHD, '-D', '-e', '-f', self.config, '-E', self.log]
        if self.netns:  # nsenter execs sshd: the PID stays sshd's
            argv = in_netns(self.netns, argv)
        return argv

    def _wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self.netns:  # unreachable from here: read its log
                if 'Server listening on' in self.log_tail():
                    return True
                time.sleep(0.05)
                continue
            try:
                with socket.create_connection(('127.0.0.1', self.port), 0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self):
        stop_pid(self.proc)
        self.proc = None

    def session_pids(self):
        """The per-connection processes (sshd sessions, sftp-servers)."""
        return descendants(self.proc.pid) if self.proc else []

    def kill_sessions(self):
        """Kill every live session by PID: the clients see the server
        gone (stopping the listener alone does not drop them)."""
        pids = self.session_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids

    def restart(self):
        """A server restart: sessions killed, the listener stopped and
        started again on the same port with the same keys."""
        self.kill_sessions()
        self.stop()
        self.proc = track(subprocess.Popen(
            self._argv(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True))
        if not self._wait_listening(10):
            raise RuntimeError('sshd did not restart: %s' % self.log_tail())
        return self

    def cleanup(self):
        # Sessions outlive the listener (a client behind a cut link, in a
        # namespace gone, never closes them): stop them too, by PID.
        self.kill_sessions()
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, n=40):
        try:
            with open(self.log, errors='replace') as f:
                return ''.join(f.readlines()[-n:])
        except OSError:
            return ''

    # -- plain OpenSSH client, to check the harness itself

    def ssh_cmd(self, key, user='root'):
        return ['/usr/bin/ssh', '-F', '/dev/null', '-i', key,
                '-p', str(self.port),
                '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
                '-o', 'UserKnownHostsFile=' + self.known_hosts,
                '-o', 'GlobalKnownHostsFile=/dev/null',
                '-o', 'StrictHostKeyChecking=yes',
                '%s@127.0.0.1' % user]


# --------------------------------------------------------------------------
# Users


def as_user(user, cmd):
    """Command line that runs cmd as user (setpriv execs: PID is kept)."""
    import pwd
    pw = pwd.getpwnam(user)
    return ['/usr/bin/setpriv', '--reuid=%d' % pw.pw_uid,
            '--regid=%d' % pw.pw_gid, '--init-groups', '--reset-env',
            '--'] + list(cmd)


class TempUser:
    """A local user made with useradd -m, removed with userdel -r."""

    def __init__(self, prefix='rfsuser', password=None):
        self.name = '%s%d' % (prefix, int.from_bytes(os.urandom(3), 'big'))
        run(['/usr/sbin/useradd', '-m', '-s', '/bin/sh', self.name])
        if password is not None:
            run(['/usr/sbin/chpasswd'], input='%s:%s\n' % (self.name, password))
        else:
            # useradd leaves "!" (locked): sshd without PAM then refuses
            # even key logins. "*" is "no password", not locked.
            run(['/usr/sbin/usermod', '-p', '*', self.name])
        import pwd
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid, self.home = pw.pw_uid, pw.pw_gid, pw.pw_dir
        self.removed = False
        _users.append(self)

    def remove(self):
        if not self.removed:
            self.removed = True
            run(['/usr/sbin/userdel', '-f', '-r', self.name], check=False)
            # rfs's control directory when there is no /run/user/UID
            shutil.rmtree('/tmp/rfs-%d' % self.uid, ignore_errors=True)


class TempGroup:
    """A local group made with groupadd, removed with groupdel."""

    def __init__(self, prefix='rfsgrp', members=()):
        self.name = '%s%d' % (prefix, int.from_bytes(os.urandom(3), 'big'))
        run(['/usr/sbin/groupadd', self.name])
        self.removed = False
        _users.append(self)  # removed at exit like a user
        for m in members:
            run(['/usr/sbin/usermod', '-a', '-G', self.name, m])
        import grp
        self.gid = grp.getgrnam(self.name).gr_gid

    def remove(self):
        if not self.removed:
            self.removed = True
            run(['/usr/sbin/groupdel', self.name], check=False)


# --------------------------------------------------------------------------
# rfs


def base_env(home):
    """Environment for rfs: no agent, HOME in a scratch directory."""
    env = {k: v for k, v in os.environ.items()
           if k not in ('SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'DISPLAY',
                        'SSH_ASKPASS', 'SSH_ASKPASS_REQUIRE')}
    env['HOME'] = str(home)
    env['LC_ALL'] = 'C.UTF-8'
    return env


class RfsArgs:
    """Builds the usual rfs command line for one Sshd. Every option can be
    overridden or dropped (None) so that error-path tests can vary it."""

    def __init__(self, sshd, scratch):
        self.sshd = sshd
        self.scratch = str(scratch)

    def argv(self, remote, mnt, foreground=True, port='default',
             user='root', identity='default', identities_only='yes',
             known_hosts='default', shkc='yes', host='127.0.0.1',
             extra_o=(), extra_args=(), config='/dev/null'):
        """remote: path after 'host:'; None gives 'host:' (home)."""
        if identity == 'default':
            identity = self.sshd.keys.user_ed25519
        if known_hosts == 'default':
            known_hosts = self.sshd.known_hosts
        if port == 'default':
            port = self.sshd.port
        argv = rfs_wrapper() + [rfs_bin(), '%s:%s' % (host, remote or ''),
                                str(mnt)]
        if foreground:
            argv.append('-f')
        if port is not None:
            argv += ['-p', str(port)]
        if config is not None:
            argv += ['-F', config]
        opts = []
        if user is not None:
            opts.append('User=' + user)
        if identity is not None:
            opts.append('IdentityFile=' + identity)
        if identities_only is not None:
            opts.append('IdentitiesOnly=' + identities_only)
        if known_hosts is not None:
            opts += ['UserKnownHostsFile=' + known_hosts,
                     'GlobalKnownHostsFile=/dev/null']
        if shkc is not None:
            opts.append('StrictHostKeyChecking=' + shkc)
        if opts:
            argv += ['-o', ','.join(opts)]
        for o in extra_o:
            argv += ['-o', o]
        return argv + list(extra_args)


class RfsResult:
    def __init__(self, rc, stdout, stderr, argv):
        self.rc, self.stdout, self.stderr, self.argv = rc, stdout, stderr, argv

    def __iter__(self):  # rc, out, err = run_rfs(...)
        return iter((self.rc, self.stdout, self.stderr))

    def __repr__(self):
        return 'rfs exit %r\nargv: %s\nstdout: %s\nstderr: %s' % (
            self.rc, ' '.join(self.argv), self.stdout, self.stderr)


def run_rfs(argv, input=None, timeout=20, env=None, cwd=None):
    """Run rfs to completion without a terminal; returns RfsResult.

    Output goes to files, not pipes: a daemon child that kept stdout or
    stderr open would make a pipe reader wait forever.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE if input is not None
            else subprocess.DEVNULL, stdout=out, stderr=err, env=env,
            cwd=cwd, start_new_session=True)
        try:
            if input is not None:
                try:
                    proc.stdin.write(input.encode() if isinstance(input, str)
                                     else input)
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_pid(proc, signal.SIGKILL)
            out.seek(0)
            err.seek(0)
            raise AssertionError('rfs did not finish in %ss: %s\nstderr: %s'
                                 % (timeout, ' '.join(argv),
                                    err.read().decode(errors='replace')))
        out.seek(0)
        err.seek(0)
        return RfsResult(rc, out.read().decode(errors='replace'),
                         err.read().decode(errors='replace'), argv)


class Mount:
    """A running foreground rfs (-f) and its mountpoint."""

    def __init__(self, proc, mnt, argv, errfile, user=None):
        self.proc, self.mnt, self.argv = proc, str(mnt), argv
        self.errfile, self.user = errfile, user
        self.unmounted = False

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        self.errfile.flush()
        with open(self.errfile.name, errors='replace') as f:
            return f.read()

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def unmount(self, timeout=10):
        """fusermount3 -u, then the daemon must exit 0 within timeout."""
        self.unmounted = True
        timeout *= slow_factor()
        r = fusermount_u(self.mnt, user=self.user)
        if r.returncode != 0:
            fusermount_u(self.mnt, lazy=True, user=self.user)
            stop_pid(self.proc, signal.SIGKILL)
            raise AssertionError('fusermount3 -u %s failed: %s\nrfs stderr: %s'
                                 % (self.mnt, r.stderr, self.stderr()))
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_pid(self.proc, signal.SIGKILL)
            raise AssertionError('rfs did not exit within %ss of unmount'
                                 '\nstderr: %s' % (timeout, self.stderr()))
        assert rc == 0, 'rfs exited %d after unmount\nstderr: %s' % (
            rc, self.stderr())
        return rc

    def kill(self):
        """Emergency cleanup: lazy unmount and SIGKILL, never raises.
        Only while our process runs: a later mount may own the path now."""
        if self.proc.poll() is None:
            if is_mounted(self.mnt):
                fusermount_u(self.mnt, lazy=True, user=self.user)
            stop_pid(self.proc, signal.SIGKILL)


def start_mount(argv, mnt, env=None, timeout=15, input=None, user=None,
                pass_fds=(), preexec_fn=None, stdio=None, stdin=None,
                stdout=None):
    """Start a foreground rfs, wait until mnt is a mountpoint; Mount.

    If rfs exits first, raise with its stderr. user: run rfs as that user
    (the mountpoint is then only reachable by that user, so readiness is
    read from /proc/self/mountinfo). stdin, stdout: rfs's (passive mode's
    SFTP stream); its stderr is still kept.
    """
    errfile = tempfile.NamedTemporaryFile(prefix='rfs-stderr-')
    if user is not None:
        argv = as_user(user, ['/usr/bin/env'] + [
            '%s=%s' % kv for kv in (env or {}).items()] + list(argv))
        env = None
    kw = {}
    if stdio is not None:
        kw.update(stdin=stdio, stdout=stdio, stderr=stdio)
    elif stdin is not None:
        kw.update(stdin=stdin, stdout=stdout, stderr=errfile)
    else:
        kw.update(stdin=subprocess.PIPE if input is not None
                  else subprocess.DEVNULL, stdout=errfile, stderr=errfile)
    proc = track(subprocess.Popen(argv, env=env, pass_fds=pass_fds,
                                  start_new_session=True,
                                  preexec_fn=preexec_fn, **kw), str(mnt))
    m = Mount(proc, mnt, argv, errfile, user=user)
    try:
        if input is not None:
            proc.stdin.write(input.encode())
            proc.stdin.close()
        deadline = time.monotonic() + timeout * slow_factor()
        while True:
            if user is None:
                up = os.path.ismount(mnt)
            else:
                up = is_mounted(mnt)
            if up:
                return m
            if proc.poll() is not None:
                raise AssertionError(
                    'rfs exited %d before the mount was up\nargv: %s\n'
                    'stderr: %s' % (proc.returncode, ' '.join(argv),
                                    m.stderr()))
            if time.monotonic() > deadline:
                raise AssertionError('mount not up after %ss\nargv: %s\n'
                                     'stderr: %s' % (timeout, ' '.join(argv),
                                                     m.stderr()))
            time.sleep(0.02)
    except BaseException:
        m.kill()
        raise


# --------------------------------------------------------------------------
# Comparing the mount with the server side


def assert_same_stat(mnt_path, srv_path, follow=False, nlink=True):
    """lstat (or stat) through the mount equals the backing file's."""
    f = os.stat if follow else os.lstat
    m, s = f(mnt_path), f(srv_path)
    what = '%s vs %s' % (mnt_path, srv_path)
    assert stat.filemode(m.st_mode) == stat.filemode(s.st_mode) and \
        m.st_mode == s.st_mode, 'mode %o != %o: %s' % (m.st_mode, s.st_mode,
                                                       what)
    if stat.S_ISREG(s.st_mode) or stat.S_ISLNK(s.st_mode):
        assert m.st_size == s.st_size, 'size %d != %d: %s' % (
            m.st_size, s.st_size, what)
    assert int(m.st_mtime) == int(s.st_mtime), 'mtime %d != %d: %s' % (
        m.st_mtime, s.st_mtime, what)
    assert (m.st_uid, m.st_gid) == (s.st_uid, s.st_gid), \
        'uid/gid %d/%d != %d/%d: %s' % (m.st_uid, m.st_gid, s.st_uid,
                                        s.st_gid, what)
    if nlink and not stat.S_ISDIR(s.st_mode):
        # SFTP v3 has no link count for directories; files must be right.
        assert m.st_nlink == s.st_nlink, 'nlink %d != %d: %s' % (
            m.st_nlink, s.st_nlink, what)
    return m, s


def read_file(path):
    with open(path, 'rb') as f:
        return f.read()


def write_file(path, data, mode=None):
    with open(path, 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    if mode is not None:
        os.chmod(path, mode)
    return str(path)


def assert_errno(expected, fn, *args, **kw):
    """fn(*args) must raise OSError with an errno in expected."""
    if isinstance(expected, int):
        expected = (expected,)
    try:
        fn(*args, **kw)
    except OSError as e:
        assert e.errno in expected, '%s: errno %s (%s), wanted %s' % (
            fn.__name__, errno.errorcode.get(e.errno, e.errno), e,
            [errno.errorcode[x] for x in expected])
        return e
    raise AssertionError('%s%r did not fail, wanted %s' % (
        fn.__name__, args, [errno.errorcode[x] for x in expected]))


class Watchdog:
    """Per-test timer: on expiry, SIGKILL the rfs processes registered with
    it (by PID) so that a syscall stuck on a hung FUSE request returns
    ENOTCONN instead of hanging the whole suite."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.pids = []
        self.fired = False
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True

    def start(self):
        self.timer.start()

    def watch(self, pid):
        self.pids.append(pid)

    def _fire(self):
        self.fired = True
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cancel(self):
        self.timer.cancel()


def assert_fails(res, code, *needles, mnt=None, max_lines=6):
    """An rfs error path: exit code, message text, nothing mounted."""
    err = res.stderr
    assert res.rc == code, 'wanted exit %d\n%r' % (code, res)
    low = err.lower()
    for n in needles:
        assert n.lower() in low, 'no %r in stderr\n%r' % (n, res)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines, 'empty stderr\n%r' % res
    assert lines[-1].startswith('rfs: '), \
        "last stderr line does not start with 'rfs: '\n%r" % res
    assert len(lines) <= max_lines, 'stderr is not short\n%r' % res
    if mnt is not None:
        assert not is_mounted(str(mnt)), '%s is mounted after failure' % mnt


# --------------------------------------------------------------------------
# Terminal: drive a prompt through a pty that is the controlling terminal


def pty_preexec():
    """In the child (after setsid): make stdin, the pty slave, our
    controlling terminal so that /dev/tty is the pty."""
    import fcntl
    import termios
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyDriver:
    """Reads everything the child writes to the pty; answers each new
    prompt matching `prompt` (a regex, case-insensitive) with the next
    answer (the last one repeats)."""

    def __init__(self, prompt, answers):
        import re
        self.master, self.slave = os.openpty()
        self.prompt = re.compile(prompt, re.I)
        self.answers = list(answers)
        self.output = ''
        self.prompts = 0
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()

    def child_started(self):
        os.close(self.slave)  # so that EOF shows when the child is gone
        self.slave = None

    def _run(self):
        import select
        while not self._stop:
            r, _, _ = select.select([self.master], [], [], 0.1)
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO: no process has the slave open any more
                return
            if not data:
                return
            self.output += data.decode(errors='replace')
            seen = len(self.prompt.findall(self.output))
            while self.prompts < seen:
                ans = self.answers[min(self.prompts, len(self.answers) - 1)]
                self.prompts += 1
                time.sleep(0.05)  # let the child switch echo off
                os.write(self.master, (ans + '\n').encode())

    def close(self):
        self._stop = True
        self.thread.join(5)
        for fd in (self.master, self.slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


def pty_fail(rfs, argv, prompt, answers, env=None):
    """Run rfs on a pty that answers prompt; it must exit. (driver, rc)"""
    drv = PtyDriver(prompt, answers)
    drv.start()
    try:
        proc = track(subprocess.Popen(argv, env=env or rfs.env,
                                      stdin=drv.slave, stdout=drv.slave,
                                      stderr=drv.slave,
                                      start_new_session=True,
                                      preexec_fn=pty_preexec), str(rfs.mnt))
        drv.child_started()
        try:
            rc = proc.wait(30)
        finally:
            stop_pid(proc)
        drv.thread.join(5)
    finally:
        drv.close()
    assert not is_mounted(str(rfs.mnt))
    return drv, rc


def pty_mount(rfs, argv, prompt, answers, env=None):
    """Mount with rfs on a pty that answers prompt. (driver, Mount)
    Unmount before drv.close(): closing the terminal hangs rfs up."""
    drv = PtyDriver(prompt, answers)
    drv.start()
    try:
        m = start_mount(argv, str(rfs.mnt), env=env or rfs.env,
                        stdio=drv.slave, preexec_fn=pty_preexec, timeout=20)
    except AssertionError as e:
        drv.close()
        raise AssertionError('%s\nterminal: %r' % (e, drv.output))
    drv.child_started()
    rfs.mounts.append(m)
    rfs.watchdog.watch(m.pid)
    return drv, m
