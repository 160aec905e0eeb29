"""Authentication: keys, passwords, the agent, passphrases."""

import os
import shutil
import subprocess
import tempfile

import pytest

from harness import (assert_fails, is_mounted, read_file, read_pub,
                     write_file,
                     stop_pid, run, run_rfs, track, pty_fail, pty_mount,
                     Sshd, TempUser, PASSPHRASE, EXIT_AUTH)

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
        # It keeps the password (for reconnecting): no core dumps.
        with open('/proc/%d/limits' % m.pid) as f:
            core = [ln.split()[4:6] for ln in f
                    if ln.startswith('Max core file size')]
        assert core == [['0', '0']], core
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


# -- prompts on a terminal ---------------------------------------------------

PW_PROMPT = r"(?im)^(?!rfs: )[^\n]*'s password:[ \t\r]*$"
ANY_PROMPT = r"(?im)^(?!rfs: )[^\n]*(passphrase|'s password)[^\n]*:[ \t\r]*$"
AGAIN = 'Permission denied, please try again.'


def last_line(text):
    return [ln for ln in text.splitlines() if ln.strip()][-1].strip()


def key_argv(rfs, *extra_o):
    return rfs.argv(identity=rfs.sshd.keys.user_pass,
                    extra_o=['PreferredAuthentications=publickey'] +
                    list(extra_o))


def denied(user, tried, *notes):
    return ('rfs: permission denied for %s@127.0.0.1 (server offers '
            'publickey,password; tried %s%s)' % (
                user, tried, ''.join('; ' + n for n in notes)))


def test_passphrase_prompt(rfs, remote):
    write_file(remote / 'f', b'unlocked')
    drv, m = pty_mount(rfs, key_argv(rfs), PROMPT, [PASSPHRASE])
    try:
        assert read_file(m.path('f')) == b'unlocked'
        assert drv.prompts == 1, drv.output
        assert "Enter passphrase for key '%s': " % \
            rfs.sshd.keys.user_pass in drv.output
        assert PASSPHRASE not in drv.output, 'passphrase echoed'
        m.unmount()  # before the terminal hangs up
    finally:
        drv.close()


def test_wrong_passphrase_thrice(rfs, remote):
    key = rfs.sshd.keys.user_pass
    drv, rc = pty_fail(rfs, key_argv(rfs), PROMPT,
                       ['wrong-1', 'wrong-2', 'wrong-3', 'wrong-again'])
    assert rc == EXIT_AUTH, 'exit %s\n%s' % (rc, drv.output)
    assert drv.prompts == 3, drv.output
    assert 'wrong-' not in drv.output, 'passphrase echoed'
    assert last_line(drv.output) == denied(
        'root', 'publickey', "bad passphrase for key '%s'" % key), drv.output
    # The next run, given the right one, mounts.
    write_file(remote / 'f', b'second run')
    drv, m = pty_mount(rfs, key_argv(rfs), PROMPT, [PASSPHRASE])
    try:
        assert read_file(m.path('f')) == b'second run'
        assert drv.prompts == 1, drv.output
        m.unmount()  # before the terminal hangs up
    finally:
        drv.close()


def test_wrong_then_right_passphrase(rfs, remote):
    write_file(remote / 'f', b'at last')
    drv, m = pty_mount(rfs, key_argv(rfs), PROMPT, ['wrong', PASSPHRASE])
    try:
        assert read_file(m.path('f')) == b'at last'
        assert drv.prompts == 2, drv.output
        assert 'bad passphrase' not in drv.output.lower(), drv.output
        m.unmount()  # before the terminal hangs up
    finally:
        drv.close()


@pytest.fixture
def pw_remote(pw_user):
    """A directory the password user owns, and the rfs.argv() arguments
    that log in there as that user."""
    backing = tempfile.mkdtemp(prefix='rfs-pw-', dir='/tmp')
    os.chmod(backing, 0o755)
    os.chown(backing, pw_user.uid, pw_user.gid)
    try:
        yield backing, dict(remote=backing, user=pw_user.name, identity=None)
    finally:
        shutil.rmtree(backing, ignore_errors=True)


def pw_argv(rfs, kw, *extra_o):
    return rfs.argv(extra_o=['PreferredAuthentications=password'] +
                    list(extra_o), **kw)


def test_changed_host_key_sends_no_password(rfs, pw_user, pw_remote,
                                            tmp_path):
    """StrictHostKeyChecking=no goes on past a changed host key, but, as
    ssh, never hands a password or keyboard-interactive answer to what
    may be a man in the middle (issue 15)."""
    other = read_pub(rfs.sshd.keys.other_host_ed25519).split()
    kh = write_file(tmp_path / 'kh', '[127.0.0.1]:%d %s %s\n' % (
        rfs.sshd.port, other[0], other[1]))
    backing, kw = pw_remote
    # (this sshd offers password, not keyboard-interactive: auth.c turns
    # both off alike)
    for methods in ('password', 'publickey,password'):
        res = rfs.run(input=PASSWORD + '\n', known_hosts=str(kh),
                      shkc='no', extra_o=[
                          'password_stdin',
                          'PreferredAuthentications=' + methods], **kw)
        assert_fails(res, EXIT_AUTH, 'mismatch',
                     'password authentication is disabled',
                     mnt=rfs.mnt)
    # The same with the right key: the password works.
    m = rfs.mount(input=PASSWORD + '\n', extra_o=[
        'password_stdin', 'PreferredAuthentications=password'],
        remote_path=kw['remote'], user=kw['user'], identity=None)
    m.unmount()


def test_password_wrong_twice_then_right(rfs, pw_user, pw_remote):
    backing, kw = pw_remote
    write_file(os.path.join(backing, 'f'), b'by password')
    drv, m = pty_mount(rfs, pw_argv(rfs, kw), PW_PROMPT,
                       ['bad-1', 'bad-2', PASSWORD])
    try:
        assert read_file(m.path('f')) == b'by password'
        assert drv.prompts == 3, drv.output
        assert drv.output.count(AGAIN) == 2, drv.output
        assert "%s@127.0.0.1's password: " % pw_user.name in drv.output
        assert PASSWORD not in drv.output and 'bad-' not in drv.output
        m.unmount()  # before the terminal hangs up
    finally:
        drv.close()


def test_password_wrong_thrice(rfs, pw_user, pw_remote):
    _, kw = pw_remote
    drv, rc = pty_fail(rfs, pw_argv(rfs, kw), PW_PROMPT, ['bad'])
    assert rc == EXIT_AUTH, 'exit %s\n%s' % (rc, drv.output)
    assert drv.prompts == 3, drv.output
    assert drv.output.count(AGAIN) == 2, drv.output
    assert last_line(drv.output) == denied(pw_user.name, 'password'), \
        drv.output


def test_one_prompt_each(rfs, pw_user, pw_remote):
    """NumberOfPasswordPrompts=1: one passphrase try, one password try;
    the error names the bad passphrase."""
    _, kw = pw_remote
    kw['identity'] = key = rfs.sshd.keys.user_pass
    argv = rfs.argv(extra_o=['NumberOfPasswordPrompts=1',
                             'PreferredAuthentications=publickey,password'],
                    **kw)
    drv, rc = pty_fail(rfs, argv, ANY_PROMPT, ['wrong'])
    assert rc == EXIT_AUTH, 'exit %s\n%s' % (rc, drv.output)
    assert drv.prompts == 2, drv.output
    assert drv.output.count('Enter passphrase') == 1, drv.output
    assert AGAIN not in drv.output
    assert last_line(drv.output) == denied(
        pw_user.name, 'publickey,password',
        "bad passphrase for key '%s'" % key), drv.output


def test_batch_mode_never_asks(rfs, pw_user, pw_remote):
    _, kw = pw_remote
    drv, rc = pty_fail(rfs, pw_argv(rfs, kw, 'BatchMode=yes'), PW_PROMPT,
                       [PASSWORD])
    assert rc == EXIT_AUTH, 'exit %s\n%s' % (rc, drv.output)
    assert drv.prompts == 0, drv.output
    assert last_line(drv.output) == denied(
        pw_user.name, 'nothing', 'BatchMode forbids asking for the '
        'password'), drv.output


# -- no terminal: askpass, systemd-ask-password, or a clear no -------------

def test_no_terminal_password(rfs, pw_user, pw_remote):
    _, kw = pw_remote
    res = rfs.run(extra_o=['PreferredAuthentications=password'], **kw)
    assert_fails(res, EXIT_AUTH, mnt=rfs.mnt)
    assert last_line(res.stderr) == denied(
        pw_user.name, 'nothing', 'no terminal to ask for the password'), res


def test_no_terminal_passphrase(rfs):
    key = rfs.sshd.keys.user_pass
    res = rfs.run(identity=key,
                  extra_o=['PreferredAuthentications=publickey'])
    assert_fails(res, EXIT_AUTH, mnt=rfs.mnt)
    assert last_line(res.stderr) == denied(
        'root', 'nothing', "no terminal to ask for the passphrase for key "
        "'%s'" % key), res


def askpass_script(path, answer, status=0):
    """An askpass program at path that appends its arguments (one per
    line) to path.args, prints answer and exits with status."""
    rec = path.parent / (path.name + '.args')
    write_file(path, "#!/bin/sh\nprintf '%%s\\n' \"$@\" >> '%s'\n"
               "printf '%%s\\n' '%s'\nexit %d\n" % (rec, answer, status),
               mode=0o755)
    return str(path), rec


@pytest.mark.parametrize('env, used', [
    ({'SSH_ASKPASS_REQUIRE': 'force'}, True),
    ({'DISPLAY': ':99'}, True),
    ({'WAYLAND_DISPLAY': 'wayland-9', 'SSH_ASKPASS_REQUIRE': 'prefer'}, True),
    ({}, False),  # no display: ssh does not run it
    ({'DISPLAY': ':99', 'SSH_ASKPASS_REQUIRE': 'never'}, False),
])
def test_askpass_without_terminal(rfs, remote, tmp_path, env, used):
    write_file(remote / 'f', b'askpass')
    prog, rec = askpass_script(tmp_path / 'askpass', PASSPHRASE)
    env = dict(rfs.env, SSH_ASKPASS=prog, **env)
    key = rfs.sshd.keys.user_pass
    if not used:
        res = run_rfs(key_argv(rfs), env=env)
        assert_fails(res, EXIT_AUTH, "no terminal to ask for the passphrase "
                     "for key '%s'" % key, mnt=rfs.mnt)
        assert not rec.exists()
        return
    m = rfs.start(key_argv(rfs), env=env)
    assert read_file(m.path('f')) == b'askpass'
    assert read_file(rec).decode() == \
        "Enter passphrase for key '%s': \n" % key


def test_askpass_forced_over_terminal(rfs, remote, tmp_path):
    """SSH_ASKPASS_REQUIRE=force: askpass even with a terminal; a
    non-zero exit is a cancel."""
    write_file(remote / 'f', b'forced')
    prog, rec = askpass_script(tmp_path / 'askpass', PASSPHRASE)
    env = dict(rfs.env, SSH_ASKPASS=prog, SSH_ASKPASS_REQUIRE='force')
    drv, m = pty_mount(rfs, key_argv(rfs), PROMPT, ['not asked here'],
                       env=env)
    try:
        assert read_file(m.path('f')) == b'forced'
        assert drv.prompts == 0, drv.output
        assert read_file(rec).decode().count('Enter passphrase') == 1
        m.unmount()  # before the terminal hangs up
    finally:
        drv.close()
    prog, rec = askpass_script(tmp_path / 'cancel', 'ignored', status=1)
    res = run_rfs(key_argv(rfs), env=dict(env, SSH_ASKPASS=prog))
    assert_fails(res, EXIT_AUTH, mnt=rfs.mnt)
    assert last_line(res.stderr) == denied(
        'root', 'nothing', "the passphrase for key '%s' was not given" %
        rfs.sshd.keys.user_pass), res
    assert read_file(rec).decode().count('Enter passphrase') == 1


def test_systemd_ask_password(rfs, remote, tmp_path):
    """No terminal, no askpass, systemd running: systemd-ask-password.
    systemd's directories are faked on a tmpfs in a private mount
    namespace; the mount is checked and removed inside it."""
    write_file(remote / 'f', b'from the boot prompt')
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    rec = tmp_path / 'sap.args'
    write_file(bindir / 'systemd-ask-password',
               "#!/bin/sh\nprintf '%%s\\n' \"$@\" > '%s'\n"
               "printf '%%s\\n' '%s'\n" % (rec, PASSPHRASE), mode=0o755)
    mnt = str(rfs.mnt)
    script = '''set -e
mount -t tmpfs rfs-test /run/systemd
mkdir /run/systemd/system /run/systemd/ask-password
"$@" 2>&1 &
pid=$!
for i in $(seq 150); do mountpoint -q "$MNT" && break; sleep 0.1; done
cat "$MNT/f"; echo
fusermount3 -u "$MNT"
rc=0; wait $pid || rc=$?
echo "rfs exit $rc"
'''
    env = dict(rfs.env, PATH='%s:%s' % (bindir, os.environ['PATH']), MNT=mnt)
    res = run_rfs(['/usr/bin/unshare', '--mount', '--propagation', 'private',
                   '/bin/sh', '-c', script, 'sh'] + key_argv(rfs),
                  env=env, timeout=40)
    assert res.rc == 0, res
    assert res.stdout.splitlines()[-2:] == [
        'from the boot prompt', 'rfs exit 0'], res
    assert read_file(rec).decode() == (
        "--id=rfs:127.0.0.1\nEnter passphrase for key '%s': \n"
        % rfs.sshd.keys.user_pass)
    assert not os.path.exists('/run/systemd/system')
    assert not is_mounted(mnt)


def memory_holds(pid, needle):
    """Whether needle is anywhere in the writable memory of process pid
    (heap, stacks, anonymous maps: where a freed secret would linger).
    Read in pieces; maps over 1 GiB (ASan's shadow) are skipped."""
    step = 4 << 20
    with open('/proc/%d/maps' % pid) as maps, \
            open('/proc/%d/mem' % pid, 'rb', 0) as mem:
        for ln in maps:
            f = ln.split()
            if 'w' not in f[1] or (len(f) > 5 and f[5].startswith('/')):
                continue
            lo, hi = (int(x, 16) for x in f[0].split('-'))
            if hi - lo > 1 << 30:
                continue
            for at in range(lo, hi, step):
                try:
                    mem.seek(at)
                    piece = mem.read(min(step + len(needle), hi - at))
                except (OSError, ValueError, OverflowError):
                    break
                if needle in piece:
                    return True
    return False


def test_typed_answers_leave_no_copy(rfs, keys, pw_user, pw_remote):
    """A keyboard-interactive answer that did not log in (a typo) is in
    no copy left in rfs's memory after the mount: rfs's own buffers and
    libssh2's (its response text and packet, patched to be cleared) are
    zeroed before they are freed (issue 15). The right one is kept, for
    reconnects, and so is not looked for."""
    s = Sshd(keys, extra_config=['UsePAM yes',
                                 'KbdInteractiveAuthentication yes',
                                 'PasswordAuthentication no']).start()
    try:
        rfs.use(s)
        backing, kw = pw_remote
        # long: malloc reuses freed chunks of common sizes soon, and a
        # freed chunk's first bytes become its list pointers
        typo = 'Typo-%d-%s' % (os.getpid(), 'qwertz' * 150)
        argv = rfs.argv(extra_o=['PreferredAuthentications='
                                 'keyboard-interactive'], **kw)
        drv, m = pty_mount(rfs, argv, r"(?im)^(?!rfs: )[^\n]*password:"
                           r"[ \t\r]*$", [typo, PASSWORD])
        try:
            assert drv.prompts == 2, drv.output
            assert m.proc.poll() is None
            assert memory_holds(m.pid, m.mnt.encode()), \
                'the memory scan finds nothing at all'
            assert not memory_holds(m.pid, typo[-40:].encode())
            m.unmount()
        finally:
            drv.close()
    finally:
        s.cleanup()
