"""Transports (issue 17): rfs's SFTP engine over OpenSSH's own ssh
(transport=ssh), an exec channel (sftp_server=), a plain TCP stream to an
sftp-server (directport=) and rfs's stdin/stdout (passive)."""

import errno
import os
import shutil
import signal
import stat
import subprocess
import time

import pytest

from harness import (keygen, read_file, read_pub, rfs_bin, rfs_stats, run,
                     start_mount, stop_pid, wait_for, write_file, Sshd,
                     TempUser, EXIT_AUTH, EXIT_CONNECT, EXIT_PROTOCOL,
                     PYTHON, SSH_KEYGEN)


def test_transport_ssh(rfs, remote):
    """transport=ssh: ssh -s HOST sftp as a child, with the mount's -o
    options; the engine, caches and writes work as over libssh2."""
    write_file(remote / 'f', b'over ssh\n')
    m = rfs.mount(extra_o=['transport=ssh'], extra_args=['-d'])
    assert read_file(m.path('f')) == b'over ssh\n'
    write_file(m.path('g'), b'written through ssh\n')
    assert read_file(remote / 'g') == b'written through ssh\n'
    assert 'transport=ssh: ssh ' in m.stderr()
    m.unmount()


def child_pids(pid, comm='ssh'):
    """The PIDs of the children of pid running comm (via /proc)."""
    kids = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                head, tail = f.read().rsplit(')', 1)
        except OSError:
            continue
        if int(tail.split()[1]) == pid and head.split('(', 1)[1] == comm:
            kids.append(int(d))
    return kids


def test_transport_ssh_reconnects(rfs, remote):
    """The ssh child killed: rfs starts another and goes on, an open file
    included (reopened by path)."""
    write_file(remote / 'f', b'0123456789' * 1000)
    m = rfs.mount(extra_o=['transport=ssh', 'xattr'])
    ssh = child_pids(m.pid)
    assert len(ssh) == 1, ssh
    with open(m.path('f'), 'rb') as f:
        assert f.read(10) == b'0123456789'
        os.kill(ssh[0], signal.SIGKILL)
        assert wait_for(lambda: rfs_stats(m.mnt)['reconnects'] == 1, 15), \
            m.stderr()
        f.seek(5000)
        assert f.read(10) == b'0123456789'
    again = child_pids(m.pid)
    assert len(again) == 1 and again != ssh, (ssh, again)
    m.unmount()
    assert wait_for(lambda: not child_pids(m.pid), 5)


def test_transport_ssh_failure_is_clear(rfs):
    """ssh cannot log in: its own message, then rfs's naming the exit."""
    res = rfs.run(identity=rfs.sshd.keys.user_unauth,
                  extra_o=['transport=ssh', 'PasswordAuthentication=no'])
    assert res.rc == EXIT_CONNECT, res
    assert 'transport=ssh: ssh exited with status 255' in res.stderr, res
    assert 'Permission denied' in res.stderr, res


SFTP_SERVER = '/usr/lib/openssh/sftp-server'


@pytest.fixture
def sudo_user(sshd):
    """A non-root login that may run the sftp-server as root through sudo
    -n only when the test writes its sudoers rule."""
    u = TempUser('rfssudo')
    sshd.authorize(u.name, [read_pub(sshd.keys.user_ed25519)])
    rule = '/etc/sudoers.d/rfs-test-%s' % u.name
    yield u, rule
    if os.path.exists(rule):
        os.unlink(rule)
    u.remove()


@pytest.mark.parametrize('transport', ['libssh2', 'ssh'])
def test_sftp_server_through_sudo(rfs, remote, sudo_user, transport):
    """sftp_server="sudo -n .../sftp-server" as a non-root login: with a
    sudoers rule the files it creates are root's; without, sudo's own
    reason in a clear error."""
    u, rule = sudo_user
    cmd = 'sudo -n %s' % SFTP_SERVER
    kw = dict(user=u.name, extra_o=['sftp_server=%s' % cmd,
                                    'transport=%s' % transport])
    res = rfs.run(**kw)
    assert res.rc == (EXIT_PROTOCOL if transport == 'libssh2'
                      else EXIT_CONNECT), res
    assert 'password is required' in res.stderr, res
    if transport == 'libssh2':
        assert "sftp_server 'sudo -n" in res.stderr, res
    with open(rule, 'w') as f:
        f.write('%s ALL=(root) NOPASSWD: %s\n' % (u.name, SFTP_SERVER))
    os.chmod(rule, 0o440)
    m = rfs.mount(**kw)
    write_file(m.path('by-sudo'), b'root made me\n')
    st = os.stat(remote / 'by-sudo')
    assert st.st_uid == 0, st
    m.unmount()


def test_sftp_server_not_found(rfs):
    res = rfs.run(extra_o=['sftp_server=/nonexistent/sftp-server'])
    assert res.rc == EXIT_PROTOCOL, res
    assert "sftp_server '/nonexistent/sftp-server' did not start" in \
        res.stderr and 'No such file' in res.stderr, res


SERVE_TCP = r'''
import os, socket, subprocess, sys
s = socket.socket()
s.bind(('127.0.0.1', 0))
s.listen(4)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    subprocess.Popen([sys.argv[1]], stdin=c, stdout=c, cwd=sys.argv[2])
    c.close()
'''


def test_directport(rfs, remote, tmp_path):
    """directport=P: SFTP over plain TCP to an sftp-server on loopback (a
    listener of the test's that runs one per connection); no SSH, and on
    loopback no warning."""
    srv = subprocess.Popen([PYTHON, '-c', SERVE_TCP, SFTP_SERVER,
                            str(remote)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(srv.stdout.readline())
        write_file(remote / 'f', b'direct\n')
        m = rfs.mount(remote_path=str(remote),
                      extra_o=['directport=%d' % port])
        assert read_file(m.path('f')) == b'direct\n'
        write_file(m.path('g'), b'back\n')
        assert read_file(remote / 'g') == b'back\n'
        assert 'not encrypted' not in m.stderr()
        m.unmount()
    finally:
        stop_pid(srv)


def test_passive(rfs, remote):
    """passive: SFTP on rfs's stdin and stdout, here a local sftp-server's
    pipes (sshfs's -o passive / slave)."""
    write_file(remote / 'f', b'passive\n')
    srv = subprocess.Popen([SFTP_SERVER], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, cwd=str(remote))
    try:
        argv = rfs.argv(remote=str(remote), extra_o=['passive'])
        m = start_mount(argv, str(rfs.mnt), env=rfs.env,
                        stdin=srv.stdout, stdout=srv.stdin)
        rfs.watchdog.watch(m.pid)
        rfs.mounts.append(m)
        assert read_file(m.path('f')) == b'passive\n'
        write_file(m.path('g'), b'through pipes\n')
        assert read_file(remote / 'g') == b'through pipes\n'
        # no SSH at all: no command can make a fifo
        with pytest.raises(OSError) as e:
            os.mkfifo(m.path('p'))
        assert e.value.errno == errno.EPERM
        assert 'has no SSH session to run commands on' in m.stderr()
        m.unmount()
    finally:
        stop_pid(srv)


def test_transport_shown(rfs, remote):
    """The stats line and rfs status name the transport."""
    m = rfs.mount(extra_o=['transport=ssh', 'xattr'])
    assert rfs_stats(m.mnt)['transport'] == 'ssh'
    out = subprocess.run([rfs_bin(), 'status', m.mnt], text=True,
                         stdout=subprocess.PIPE, check=True).stdout
    assert "transport: SFTP over OpenSSH's ssh (transport=ssh)" in out, out
    m.unmount()
    m = rfs.mount(extra_o=['xattr'])
    assert rfs_stats(m.mnt)['transport'] == 'libssh2'
    m.unmount()


def start_master(sshd, sock, key):
    """An OpenSSH ControlMaster for the test sshd, backgrounded (-f) once
    authenticated with key; its PID."""
    base = ['/usr/bin/ssh', '-F', '/dev/null', '-S', sock, '-p',
            str(sshd.port), '-o', 'UserKnownHostsFile=' + sshd.known_hosts,
            '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes']
    subprocess.run(base + ['-M', '-fN', '-o', 'ControlPersist=yes', '-i',
                           key, '-o', 'IdentitiesOnly=yes',
                           'root@127.0.0.1'], check=True, timeout=20,
                   stdin=subprocess.DEVNULL)
    r = subprocess.run(base + ['-O', 'check', 'root@127.0.0.1'], text=True,
                       stderr=subprocess.PIPE, timeout=10)
    return int(r.stderr.split('pid=')[1].split(')')[0])


def accepted(sshd):
    with open(sshd.log, errors='replace') as f:
        return f.read().count('Accepted publickey')


def stop_master(pid):
    """SIGTERM by PID, and wait until it is gone (not our child)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    assert wait_for(lambda: not os.path.exists('/proc/%d' % pid), 10)


def test_control_master(rfs, sshd, remote, tmp_path):
    """A ControlMaster authenticated with a key that is then removed: rfs
    mounts through the master's socket with no key at all (sshd accepts
    no login for rfs), and after the master dies it waits for a new one,
    and goes on with the open file."""
    sock = str(tmp_path / 'cm.sock')
    key = str(tmp_path / 'id')
    shutil.copy(sshd.keys.user_ed25519, key)
    os.chmod(key, 0o600)
    write_file(remote / 'f', b'0123456789' * 1000)
    pid = start_master(sshd, sock, key)
    try:
        os.unlink(key)
        logins = accepted(sshd)
        m = rfs.mount(identity=None, extra_o=['ControlPath=' + sock,
                                              'xattr'])
        st = rfs_stats(m.mnt)
        assert st['transport'] == 'mux' and st['channels'] == 2, st
        assert accepted(sshd) == logins, 'rfs logged in on its own'
        # a fifo: its command runs through the master too, no login
        os.mkfifo(m.path('p'), 0o600)
        assert stat.S_ISFIFO(os.lstat(remote / 'p').st_mode)
        assert rfs_stats(m.mnt)['execs'] == 2     # a probe, mkfifo
        assert accepted(sshd) == logins, 'a command logged in on its own'
        with open(m.path('f'), 'rb') as f:
            assert f.read(10) == b'0123456789'
            stop_master(pid)
            time.sleep(1)          # rfs finds no master, and waits
            shutil.copy(sshd.keys.user_ed25519, key)
            os.chmod(key, 0o600)
            pid = start_master(sshd, sock, key)
            assert wait_for(lambda: rfs_stats(m.mnt)['reconnects'] == 1,
                            20), m.stderr()
            f.seek(5000)
            assert f.read(10) == b'0123456789'
        write_file(m.path('g'), b'via the master\n')
        assert read_file(remote / 'g') == b'via the master\n'
        assert accepted(sshd) == logins + 1     # the second master only
        m.unmount()
    finally:
        stop_master(pid)


def test_user_certificate(rfs, keys, remote, tmp_path):
    """An OpenSSH user certificate (a test CA the sshd trusts, the key
    itself in no authorized_keys): transport=ssh mounts with it; rfs's own
    session cannot, and its error names transport=ssh as the way."""
    ca = keygen(tmp_path / 'ca')
    key = keygen(tmp_path / 'ukey')
    run([SSH_KEYGEN, '-q', '-s', ca, '-I', 'rfs-test', '-n', 'root',
         key + '.pub'])
    assert os.path.exists(key + '-cert.pub')
    s = Sshd(keys, extra_config=['TrustedUserCAKeys %s.pub' % ca]).start()
    try:
        rfs.use(s)
        write_file(rfs.remote / 'f', b'by certificate\n')
        res = rfs.run(identity=key)
        assert res.rc == EXIT_AUTH, res
        assert 'transport=ssh' in res.stderr, res
        m = rfs.mount(identity=key, extra_o=['transport=ssh'])
        assert read_file(m.path('f')) == b'by certificate\n'
        m.unmount()
    finally:
        s.cleanup()


def test_transport_ssh_with_max_conns(rfs, remote):
    """max_conns=2 over transport=ssh: two ssh children, files spread over
    them, both working."""
    m = rfs.mount(extra_o=['transport=ssh', 'max_conns=2', 'xattr'])
    assert len(child_pids(m.pid)) == 2, child_pids(m.pid)
    assert rfs_stats(m.mnt)['conns'] == 2
    for i in range(4):
        write_file(m.path('f%d' % i), b'file %d\n' % i)
    for i in range(4):
        assert read_file(remote / ('f%d' % i)) == b'file %d\n' % i
    m.unmount()
