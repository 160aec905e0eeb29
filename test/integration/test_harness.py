"""The harness itself: the private sshd works with plain OpenSSH clients.

These need no rfs binary; they show that a failure elsewhere is rfs's.
"""

import os
import subprocess
import time

from harness import run, Sshd


def test_ssh_login_with_each_authorized_key(sshd):
    for key in (sshd.keys.user_ed25519, sshd.keys.user_rsa):
        r = run(sshd.ssh_cmd(key) + ['echo', 'ok'], check=False, timeout=30)
        assert r.returncode == 0 and r.stdout.strip() == 'ok', r.stderr


def test_ssh_rejects_unauthorized_key(sshd):
    r = run(sshd.ssh_cmd(sshd.keys.user_unauth) + ['true'], check=False,
            timeout=30)
    assert r.returncode == 255
    assert 'permission denied' in r.stderr.lower()


def test_known_hosts_lists_both_host_keys(sshd):
    with open(sshd.known_hosts) as f:
        lines = f.read().splitlines()
    assert [ln.split()[1] for ln in lines] == ['ssh-ed25519', 'ssh-rsa']
    for ln in lines:
        assert ln.startswith('[127.0.0.1]:%d ' % sshd.port)
    r = run(['/usr/bin/ssh-keygen', '-F', '[127.0.0.1]:%d' % sshd.port,
             '-f', sshd.known_hosts])
    assert 'ssh-ed25519' in r.stdout


def test_sftp_subsystem_starts_fast(sshd, tmp_path):
    """SetEnv SHLVL=1 keeps root's slow ~/.bashrc out of the way."""
    (tmp_path / 'f.txt').write_text('hello\n')
    batch = tmp_path / 'batch'
    batch.write_text('cd %s\nls\nget f.txt %s\n' % (tmp_path,
                                                     tmp_path / 'got'))
    cmd = ['/usr/bin/sftp', '-b', str(batch)] + \
        sshd.ssh_cmd(sshd.keys.user_ed25519)[1:]
    cmd[cmd.index('-p')] = '-P'
    t0 = time.monotonic()
    r = run(cmd, check=False, timeout=30)
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert (tmp_path / 'got').read_text() == 'hello\n'
    assert elapsed < 1.0, 'sftp session took %.2fs' % elapsed


def test_sshd_stops_by_pid(keys):
    s = Sshd(keys)
    try:
        s.start()
        pid = s.proc.pid
        assert os.path.exists('/proc/%d' % pid)
        s.stop()
        assert s.proc is None
        assert not os.path.exists('/proc/%d/cmdline' % pid) or \
            open('/proc/%d/stat' % pid).read().split()[2] == 'Z'
        r = subprocess.run(['/usr/bin/ssh', '-p', str(s.port), '-o',
                            'BatchMode=yes', '-F', '/dev/null',
                            '127.0.0.1', 'true'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=30)
        assert 'connection refused' in r.stderr.lower()
    finally:
        s.cleanup()
