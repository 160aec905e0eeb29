"""Permissions as the server decides them, ids as shown (idmap), and the
sshfs options rfs accepts: a local caller (root here) mounting as an SSH
login that is not root, as a student's laptop and a lab account are.

The everyday programs (vim, rm, cp -a, tar, rsync, sqlite3) as a non-root
local user are in test_everyday.py."""

import os
import stat
import shutil
import tempfile

import pytest

import harness
from harness import read_pub, wait_for


@pytest.fixture
def login(sshd, user):
    """A backing directory owned by the temporary user, who is the SSH
    login (root's test key authorized for it)."""
    d = tempfile.mkdtemp(prefix='rfs-perms-', dir='/tmp')
    os.chmod(d, 0o755)
    os.chown(d, user.uid, user.gid)
    sshd.authorize(user.name, [read_pub(sshd.keys.user_ed25519)])
    try:
        yield user, d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def server_file(path, data=b'', mode=0o644, owner=None):
    with open(path, 'wb') as f:
        f.write(data)
    os.chmod(path, mode)
    if owner:
        os.chown(path, owner.uid, owner.gid)


def test_access_answers_for_the_login(rfs, login):
    """access(2) (test -w, rm's prompt, chdir) says what the server would
    let the login do, whoever asks locally; after a listing it costs no
    round trip (LSTAT is type 7 in the debug log)."""
    user, d = login
    server_file(os.path.join(d, 'mine'), b'x', 0o644, user)
    server_file(os.path.join(d, 'roots'), b'x', 0o644)        # root's
    server_file(os.path.join(d, 'group-rw'), b'x', 0o664)     # root:root
    os.mkdir(os.path.join(d, 'private'), 0o700)
    os.chown(os.path.join(d, 'private'), user.uid, user.gid)
    os.mkdir(os.path.join(d, 'closed'), 0o700)                # root's
    m = rfs.mount(d, user=user.name, extra_args=['-d'])
    sorted(os.listdir(m.mnt))
    before = m.stderr().count(' type 7 ')
    assert os.access(m.path('mine'), os.W_OK | os.R_OK)
    assert not os.access(m.path('roots'), os.W_OK)
    assert os.access(m.path('roots'), os.R_OK)
    # Only a group's bits grant it, and SFTP does not say which groups
    # the login is in: the server is asked (an open that changes nothing)
    assert not os.access(m.path('group-rw'), os.W_OK)
    assert os.access(m.path('private'), os.X_OK | os.W_OK)
    assert not os.access(m.path('closed'), os.X_OK)
    assert m.stderr().count(' type 7 ') == before
    os.chown(os.path.join(d, 'group-rw'), 0, user.gid)   # the login's group
    os.chown(os.path.join(d, 'closed'), 0, user.gid)
    os.chmod(os.path.join(d, 'closed'), 0o770)
    m.unmount()
    m = rfs.mount(d, user=user.name)
    assert os.access(m.path('group-rw'), os.W_OK)
    assert os.access(m.path('closed'), os.X_OK)
    os.chown(os.path.join(d, 'group-rw'), 0, 0)
    os.chown(os.path.join(d, 'closed'), 0, 0)
    m.unmount()
    m = rfs.mount(d, user=user.name)
    # and the server agrees
    with open(m.path('mine'), 'ab') as f:
        f.write(b'y')
    with pytest.raises(PermissionError):
        open(m.path('roots'), 'ab')
    with pytest.raises(PermissionError):
        open(m.path('group-rw'), 'ab')
    assert os.listdir(m.path('private')) == []
    with pytest.raises(PermissionError):
        os.listdir(m.path('closed'))


def test_access_asks_the_server_for_a_supplementary_group(rfs, login):
    """A file whose group's bits alone grant it, the group one the login
    is in besides its own: SFTP does not tell, the server is asked."""
    from harness import TempGroup
    user, d = login
    g = TempGroup('rfspg', members=[user.name])
    try:
        server_file(os.path.join(d, 'shared'), b'x', 0o664)
        os.chown(os.path.join(d, 'shared'), 0, g.gid)
        os.mkdir(os.path.join(d, 'team'), 0o770)
        os.chown(os.path.join(d, 'team'), 0, g.gid)
        m = rfs.mount(d, user=user.name)
        assert os.access(m.path('shared'), os.W_OK | os.R_OK)
        assert os.access(m.path('team'), os.X_OK)
        assert os.access(m.path('team'), os.R_OK)
        with open(m.path('shared'), 'ab') as f:
            f.write(b'y')
        m.unmount()
    finally:
        g.remove()


def test_setattr_error_lands_on_its_call(rfs, login):
    """cp -a as a user: fchown to a uid the login is not fails at the
    fchown (the server says EPERM), fchmod and futimens then work, and
    close reports nothing: no metadata error looks like lost data."""
    user, d = login
    m = rfs.mount(d, user=user.name)
    fd = os.open(m.path('f'), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
    os.write(fd, b'data' * 1000)
    with pytest.raises(PermissionError):
        os.fchown(fd, 4321, 4321)
    os.fchmod(fd, 0o640)
    os.utime(fd, (1000000000, 1000000000))
    os.close(fd)
    st = os.stat(os.path.join(d, 'f'))
    assert (st.st_mode & 0o7777, st.st_mtime, st.st_size) == \
        (0o640, 1000000000, 4000)
    assert st.st_uid == user.uid
    # chown to the ids it has already is no change, and succeeds
    fd = os.open(m.path('g'), os.O_CREAT | os.O_WRONLY, 0o644)
    here = os.fstat(fd)
    os.fchown(fd, here.st_uid, here.st_gid)
    os.close(fd)


def test_idmap_user_is_the_default_without_allow_other(rfs, login):
    """The login's files show as the mounting user's (root here); with
    idmap=none as the server's ids."""
    user, d = login
    server_file(os.path.join(d, 'mine'), b'x', 0o644, user)
    m = rfs.mount(d, user=user.name)
    st = os.stat(m.path('mine'))
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    m.unmount()
    m = rfs.mount(d, user=user.name, extra_o=['idmap=none'])
    st = os.stat(m.path('mine'))
    assert (st.st_uid, st.st_gid) == (user.uid, user.gid)


def test_idmap_file(rfs, login, tmp_path):
    """sshfs's idmap=file: uidfile/gidfile lines name:server-id; an id in
    neither is EPERM (nomap=error, sshfs's default) or shown as it is
    (nomap=ignore)."""
    user, d = login
    server_file(os.path.join(d, 'mine'), b'x', 0o644, user)
    server_file(os.path.join(d, 'stranger'), b'x', 0o644)
    os.chown(os.path.join(d, 'stranger'), 54321, 54321)
    uf, gf = tmp_path / 'uids', tmp_path / 'gids'
    uf.write_text('# local:remote\ndaemon:%d\n' % user.uid)
    gf.write_text('daemon:%d\n' % user.gid)
    o = 'idmap=file,uidfile=%s,gidfile=%s' % (uf, gf)
    m = rfs.mount(d, user=user.name, extra_o=[o])
    st = os.stat(m.path('mine'))
    assert (st.st_uid, st.st_gid) == (1, 1)          # daemon, daemon
    with pytest.raises(PermissionError):
        os.stat(m.path('stranger'))
    os.chown(m.path('mine'), 1, 1)                   # back to the login
    assert os.stat(os.path.join(d, 'mine')).st_uid == user.uid
    m.unmount()
    m = rfs.mount(d, user=user.name, extra_o=[o + ',nomap=ignore'])
    assert os.stat(m.path('stranger')).st_uid == 54321


@pytest.mark.parametrize('opts,message', [
    ('idmap=file', 'idmap=file needs uidfile=FILE or gidfile=FILE'),
    ('uidfile=/dev/null', "options 'uidfile' and 'gidfile' need idmap=file"),
    ('idmap=maybe', "bad value for option 'idmap': 'maybe'"),
    ('nomap=sometimes', "bad value for option 'nomap'"),
    ('dir_cache=maybe', "bad value for option 'dir_cache'"),
    ('transport=telnet', "bad value for option 'transport'"),
    ('passive,directport=2222', 'different ways to the server'),
    ('directport=0', "option 'directport'"),
])
def test_bad_sshfs_options(rfs, opts, message):
    r = rfs.run(extra_o=[opts])
    assert r.rc == 1, r
    assert message in r.stderr, r
    assert len(r.stderr.strip().splitlines()) == 1, r


def test_idmap_file_bad_line(rfs, tmp_path):
    uf = tmp_path / 'uids'
    uf.write_text('root:0\nnobody-here-at-all:5\n')
    r = rfs.run(extra_o=['idmap=file,uidfile=%s' % uf])
    assert r.rc == 1, r
    assert "%s, line 2: no local user 'nobody-here-at-all'" % uf in r.stderr


def test_moot_sshfs_options_mount_with_a_note(rfs, remote):
    """A converted sshfs fstab line mounts: options rfs makes moot are
    accepted, each with one line saying why."""
    (remote / 'f').write_bytes(b'x')
    moot = ['reconnect', 'delay_connect', 'kernel_cache', 'auto_cache',
            'workaround=rename']
    m = rfs.mount(extra_o=[','.join(moot + ['dir_cache=yes'])])
    with open(m.path('f'), 'rb') as f:
        assert f.read() == b'x'
    err = m.stderr()
    for o in moot:
        name = o.split('=')[0]
        assert "rfs: note: option '%s' changes nothing: " % name in err, err


def test_debug_option_is_dash_d(rfs, remote):
    m = rfs.mount(extra_o=['debug'])
    os.listdir(m.mnt)
    assert wait_for(lambda: ' type 11 ' in m.stderr(), 5)   # OPENDIR


def test_follow_symlinks(rfs, remote):
    """-o follow_symlinks: a symlink shows as what it points to (sshfs);
    a dangling one cannot be stat'ed."""
    (remote / 'f').write_bytes(b'12345')
    (remote / 'd').mkdir()
    os.symlink('f', remote / 'lf')
    os.symlink('d', remote / 'ld')
    os.symlink('nowhere', remote / 'dangling')
    m = rfs.mount(extra_o=['follow_symlinks'])
    assert sorted(os.listdir(m.mnt)) == ['d', 'dangling', 'f', 'ld', 'lf']
    st = os.lstat(m.path('lf'))
    assert st.st_size == 5 and not os.path.islink(m.path('lf'))
    assert os.path.isdir(m.path('ld')) and not os.path.islink(m.path('ld'))
    with pytest.raises(FileNotFoundError):
        os.lstat(m.path('dangling'))
    m.unmount()
    m = rfs.mount()
    assert os.path.islink(m.path('lf')) and os.readlink(m.path('lf')) == 'f'


# --------------------------------------------------------------------------
# The mode set after a create (issue 15)


def test_create_over_a_name_that_exists_chmods_nothing(rfs, remote):
    """A create of a name the kernel believes absent (a stale negative
    entry) but another user made meanwhile opens that file as it is: its
    mode is not "fixed" to the creator's, its data not touched."""
    m = rfs.mount()
    assert not os.path.exists(m.path('theirs'))      # negative, cached
    (remote / 'theirs').write_bytes(b'their data')
    os.chmod(remote / 'theirs', 0o600)
    os.chown(remote / 'theirs', 4321, 4321)
    fd = os.open(m.path('theirs'), os.O_CREAT | os.O_WRONLY, 0o666)
    os.close(fd)
    st = os.stat(remote / 'theirs')
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert (remote / 'theirs').read_bytes() == b'their data'
    # A name that is really new still gets the mode asked for.
    fd = os.open(m.path('mine'), os.O_CREAT | os.O_WRONLY, 0o640)
    os.close(fd)
    assert stat.S_IMODE(os.stat(remote / 'mine').st_mode) == 0o640


def test_server_umask_policy_obeyed(rfs, keys, remote):
    """A server that forces a stricter umask (sftp-server -u 077, as
    admins set for internal-sftp) is obeyed: rfs sets the mode asked for
    only when the server's default umask (022) cut it."""
    s = harness.Sshd(keys, subsystem=harness.SFTP_SERVER + ' -u 077').start()
    try:
        rfs.use(s)
        m = rfs.mount()
        old = os.umask(0o022)
        try:
            os.close(os.open(m.path('f'), os.O_CREAT | os.O_WRONLY, 0o666))
            os.mkdir(m.path('d'), 0o777)
        finally:
            os.umask(old)
        assert stat.S_IMODE(os.stat(remote / 'f').st_mode) == 0o600
        assert stat.S_IMODE(os.stat(remote / 'd').st_mode) == 0o700
        m.unmount()
    finally:
        s.cleanup()
