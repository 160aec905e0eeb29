"""Authentication: keys, passwords, the agent, passphrases."""

import os
import shutil
import subprocess
import tempfile

import pytest

from harness import (assert_fails, is_mounted, read_file, write_file,
                     start_mount, stop_pid, run, track, PtyDriver, pty_preexec,
                     TempUser, PASSPHRASE, EXIT_AUTH)

# A prompt line: not an 'rfs: ' message, ends in ':'.
PROMPT = r'(?im)^(?!rfs: )[^\n]*passphrase[^\n]*:[ \t\r]*$'
PASSWORD = 'S3cret-pass-%d' % os.getpid()


def test_wrong_key(rfs):
    res = rfs.run(identity=rfs.sshd.keys.user_unauth)
    assert_fails(res, EXIT_AUTH, 'permission denied', mnt=rfs.mnt)


def test_rsa4096_key(rfs, remote):
    write_file(remote / 'f', b'rsa')
    m = rfs.mount(identity=rfs.sshd.keys.user_rsa)
    assert read_file(m.path('f')) == b'rsa'


# -- password ------------------------------------------------------------------

@pytest.fixture
def pw_user():
    u = TempUser('rfspw', password=PASSWORD)
    try:
        yield u
    finally:
        u.remove()


def test_password_stdin(rfs, pw_user):
    backing = tempfile.mkdtemp(prefix='rfs-pw-', dir='/tmp')
    try:
        os.chmod(backing, 0o755)
        os.chown(backing, pw_user.uid, pw_user.gid)
        kw = dict(remote=backing, user=pw_user.name, identity=None,
                  extra_o=['password_stdin',
                           'PreferredAuthentications=password'])
        res = rfs.run(input='not-the-password\n', **kw)
        assert_fails(res, EXIT_AUTH, 'permission denied', mnt=rfs.mnt)
        kw['remote_path'] = kw.pop('remote')
        m = rfs.mount(input=PASSWORD + '\n', **kw)
        write_file(m.path('mine'), b'by password')
        st = os.stat(os.path.join(backing, 'mine'))
        assert (st.st_uid, st.st_gid) == (pw_user.uid, pw_user.gid)
        # idmap=user, the default: the login's files show as ours
        assert os.stat(m.path('mine')).st_uid == os.getuid()
        assert os.stat(m.mnt).st_uid == os.getuid()
        m.unmount()
        assert PASSWORD not in m.stderr()
    finally:
        shutil.rmtree(backing, ignore_errors=True)


# -- agent -------------------------------------------------------------------

@pytest.fixture
def agent(rfs):
    d = tempfile.mkdtemp(prefix='rfs-agent-', dir='/tmp')
    sock = os.path.join(d, 'sock')
    proc = track(subprocess.Popen(['/usr/bin/ssh-agent', '-a', sock, '-D'],
                                  stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL,
                                  start_new_session=True))
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            assert proc.poll() is None, 'ssh-agent exited'
            import time
            time.sleep(0.02)
        env = dict(rfs.env, SSH_AUTH_SOCK=sock)

        def add(key):
            run(['/usr/bin/ssh-add', key], env=env,
                stdin=subprocess.DEVNULL)
        yield env, add
    finally:
        stop_pid(proc)
        shutil.rmtree(d, ignore_errors=True)


def test_agent_without_matching_key(rfs, agent):
    env, add = agent
    add(rfs.sshd.keys.user_unauth)
    res = rfs.run(env=env, identity='/nonexistent', identities_only=None,
                  extra_o=['PreferredAuthentications=publickey'])
    assert_fails(res, EXIT_AUTH, 'permission denied', mnt=rfs.mnt)


def test_agent_with_good_key(rfs, remote, agent):
    env, add = agent
    add(rfs.sshd.keys.user_unauth)
    add(rfs.sshd.keys.user_ed25519)
    write_file(remote / 'f', b'agent')
    m = rfs.mount(env=env, identity='/nonexistent', identities_only=None,
                  extra_o=['PreferredAuthentications=publickey'])
    assert read_file(m.path('f')) == b'agent'


# -- passphrase on the terminal --------------------------------------------

def test_passphrase_prompt(rfs, remote):
    write_file(remote / 'f', b'unlocked')
    drv = PtyDriver(PROMPT, [PASSPHRASE])
    drv.start()
    try:
        argv = rfs.argv(identity=rfs.sshd.keys.user_pass,
                        extra_o=['PreferredAuthentications=publickey'])
        try:
            m = start_mount(argv, str(rfs.mnt), env=rfs.env,
                            stdio=drv.slave, preexec_fn=pty_preexec,
                            timeout=20)
        except AssertionError as e:
            raise AssertionError('%s\nterminal: %r' % (e, drv.output))
        drv.child_started()
        rfs.mounts.append(m)
        rfs.watchdog.watch(m.pid)
        assert read_file(m.path('f')) == b'unlocked'
        assert drv.prompts == 1, drv.output
        assert PASSPHRASE not in drv.output, 'passphrase echoed'
        m.unmount()
    finally:
        drv.close()


def test_wrong_passphrase_thrice(rfs):
    drv = PtyDriver(PROMPT, ['wrong-1', 'wrong-2', 'wrong-3',
                                            'wrong-again'])
    drv.start()
    try:
        argv = rfs.argv(identity=rfs.sshd.keys.user_pass,
                        extra_o=['PreferredAuthentications=publickey'])
        proc = track(subprocess.Popen(argv, env=rfs.env, stdin=drv.slave,
                                      stdout=drv.slave, stderr=drv.slave,
                                      start_new_session=True,
                                      preexec_fn=pty_preexec), str(rfs.mnt))
        drv.child_started()
        try:
            rc = proc.wait(30)
        finally:
            stop_pid(proc)
        drv.thread.join(2)
        assert rc == EXIT_AUTH, 'exit %s\n%s' % (rc, drv.output)
        assert 1 <= drv.prompts <= 3, drv.output
        assert 'wrong-' not in drv.output, 'passphrase echoed'
        assert not is_mounted(str(rfs.mnt))
    finally:
        drv.close()
