"""Special files (fifos, sockets, character and block devices): SFTP v3
cannot make them, so rfs runs mkfifo, mknod or a socket-binding program on
the server, in an exec channel of its own SSH session. Names reach the
server's shell quoted: no name may run anything. An SFTP-only login
(ForceCommand internal-sftp), -o special_files=no and a transport without
an SSH session of rfs's own get EPERM, as before."""

import errno
import os
import shutil
import socket
import stat
import tempfile

import pytest

from harness import Sshd, assert_errno, read_pub, rfs_stats

# Names that would run a command, split into two words, or read as an
# option if they were not quoted; each must arrive as it is, and nothing
# else may appear.
EVIL = [
    "it's",
    "a'b'c",
    '$(touch PWNED)',
    '`touch PWNED`',
    'x; touch PWNED',
    'x && touch PWNED #',
    'two words',
    'new\nline',
    '-rf',
    '--help',
    'back\\slash\\\'',
    '"dq"',
    '*',
    '$HOME',
    'tab\there',
]


def kinds(path):
    st = os.lstat(path)
    return stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)


def test_fifo_socket_and_devices(rfs, remote):
    m = rfs.mount(extra_o=['xattr'])
    os.mkfifo(m.path('fifo'), 0o640)
    os.mknod(m.path('sock'), stat.S_IFSOCK | 0o600)
    os.mknod(m.path("null"), stat.S_IFCHR | 0o644, os.makedev(1, 3))
    os.mknod(m.path('loop'), stat.S_IFBLK | 0o600, os.makedev(7, 0))
    # on the server, exactly what was asked for
    assert kinds(remote / 'fifo') == (stat.S_IFIFO, 0o640)
    assert kinds(remote / 'sock') == (stat.S_IFSOCK, 0o600)
    assert kinds(remote / "null") == (stat.S_IFCHR, 0o644)
    assert os.lstat(remote / 'null').st_rdev == os.makedev(1, 3)
    assert kinds(remote / 'loop') == (stat.S_IFBLK, 0o600)
    assert os.lstat(remote / 'loop').st_rdev == os.makedev(7, 0)
    # and on the mount, at once (the create's own LSTAT)
    assert kinds(m.path('fifo')) == (stat.S_IFIFO, 0o640)
    assert kinds(m.path('sock')) == (stat.S_IFSOCK, 0o600)
    assert kinds(m.path('null'))[0] == stat.S_IFCHR
    assert sorted(os.listdir(m.mnt)) == ['fifo', 'loop', 'null', 'sock']
    # one command each, on the mount's own connection, behind one probe
    # that the login's shell reads POSIX quoting
    assert rfs_stats(m.mnt)['execs'] == 1 + 4
    # a name taken: EEXIST, for every kind
    assert_errno(errno.EEXIST, os.mkfifo, m.path('fifo'))
    assert_errno(errno.EEXIST, os.mknod, m.path('sock'),
                 stat.S_IFSOCK | 0o600)
    assert_errno(errno.EEXIST, os.mknod, m.path('null'),
                 stat.S_IFCHR | 0o600, os.makedev(1, 3))
    # in a directory that is not there: ENOENT (the kernel asks rfs)
    assert_errno(errno.ENOENT, os.mkfifo, m.path('none', 'fifo'))
    # a device node on the mount is never the client's device (nodev)
    assert_errno((errno.EACCES, errno.EPERM), open, m.path('null'), 'rb')
    # a socket is bound in its directory: its name must fit sun_path
    assert_errno(errno.ENAMETOOLONG, os.mknod, m.path('s' * 108),
                 stat.S_IFSOCK | 0o600)
    assert not os.path.lexists(remote / ('s' * 108))
    os.mknod(m.path('s' * 107), stat.S_IFSOCK | 0o600)
    assert stat.S_ISSOCK(os.lstat(remote / ('s' * 107)).st_mode)


def test_fifo_mode_is_exact(rfs, remote):
    """The mode the caller asked for (after its umask), not cut again by
    the server's umask; setgid and sticky bits too."""
    m = rfs.mount()
    old = os.umask(0)
    try:
        os.mkfifo(m.path('open'), 0o666)
        os.mkfifo(m.path('sticky'), 0o1751)
    finally:
        os.umask(old)
    assert kinds(remote / 'open') == (stat.S_IFIFO, 0o666)
    assert kinds(remote / 'sticky') == (stat.S_IFIFO, 0o1751)


def test_unix_socket_bound_through_the_mount(rfs, remote, tmp_path):
    """bind(2) of a unix socket on the mount makes the socket file (the
    kernel's mknod), and local clients reach the local listener."""
    m = rfs.mount()
    srv = socket.socket(socket.AF_UNIX)
    path = m.path('s')
    srv.bind(path)
    srv.listen(1)
    try:
        assert stat.S_ISSOCK(os.lstat(remote / 's').st_mode)
        cli = socket.socket(socket.AF_UNIX)
        cli.connect(path)
        conn, _ = srv.accept()
        cli.sendall(b'ping')
        assert conn.recv(4) == b'ping'
        cli.close()
        conn.close()
    finally:
        srv.close()
    # bound again: the name is taken
    again = socket.socket(socket.AF_UNIX)
    with pytest.raises(OSError) as e:
        again.bind(path)
    again.close()
    assert e.value.errno == errno.EADDRINUSE


@pytest.mark.parametrize('kind', ['fifo', 'socket'])
def test_names_cannot_inject(rfs, remote, kind):
    m = rfs.mount()
    home = os.path.expanduser('~')
    before = set(os.listdir(home))
    for name in EVIL:
        if kind == 'fifo':
            os.mkfifo(m.path(name), 0o600)
        else:
            os.mknod(m.path(name), stat.S_IFSOCK | 0o600)
    want = stat.S_IFIFO if kind == 'fifo' else stat.S_IFSOCK
    assert sorted(os.listdir(remote)) == sorted(EVIL)
    for name in EVIL:
        assert kinds(remote / name) == (want, 0o600), name
        assert stat.S_IFMT(os.lstat(m.path(name)).st_mode) == want, name
    # nothing ran: no PWNED in the server's working directories
    assert 'PWNED' not in os.listdir(remote)
    assert set(os.listdir(home)) - before == set()
    assert not os.path.exists('/PWNED') and not os.path.exists(
        os.path.join(home, 'PWNED'))


def test_sftp_only_login_is_eperm(keys, rfs, remote):
    """ForceCommand internal-sftp: the server runs its SFTP server for
    every command. rfs sees its command did not run, says so once, and
    answers EPERM without asking again on that link."""
    s = Sshd(keys, extra_config=['ForceCommand internal-sftp']).start()
    try:
        rfs.use(s)
        m = rfs.mount(extra_o=['xattr'])
        assert_errno(errno.EPERM, os.mkfifo, m.path('p'))
        assert_errno(errno.EPERM, os.mknod, m.path('s'),
                     stat.S_IFSOCK | 0o600)
        assert not os.path.lexists(s_remote(rfs, 'p'))
        assert rfs_stats(m.mnt)['execs'] == 1     # the probe, once
        err = m.stderr()
        assert err.count('fifos, sockets and device nodes are made by '
                         'a command on the server') == 1, err
        assert 'ForceCommand' in err, err
        # regular files, directories, symlinks as ever
        os.mknod(m.path('r'), stat.S_IFREG | 0o600)
        assert os.path.isfile(s_remote(rfs, 'r'))
    finally:
        rfs.teardown()
        s.cleanup()


def s_remote(rfs, name):
    return os.path.join(str(rfs.remote), name)


def test_special_files_no(rfs, remote):
    m = rfs.mount(extra_o=['xattr', 'special_files=no'])
    assert_errno(errno.EPERM, os.mkfifo, m.path('p'))
    assert not os.path.lexists(remote / 'p')
    assert rfs_stats(m.mnt)['execs'] == 0


def test_special_files_bad_value(rfs):
    r = rfs.run(extra_o=['special_files=maybe'])
    assert r.rc != 0
    assert "special_files" in r.stderr and 'exec or no' in r.stderr, r.stderr


def test_transport_ssh_runs_them_through_ssh(rfs, remote):
    """transport=ssh has no SSH session of rfs's own: the command runs in
    an ssh child (BatchMode), names as safe as ever."""
    m = rfs.mount(extra_o=['transport=ssh', 'xattr'])
    os.mkfifo(m.path('p'), 0o640)
    os.mknod(m.path("it's $(x)"), stat.S_IFSOCK | 0o600)
    assert kinds(remote / 'p') == (stat.S_IFIFO, 0o640)
    assert kinds(remote / "it's $(x)") == (stat.S_IFSOCK, 0o600)
    (remote / 'taken').write_bytes(b'')     # behind the mount's back
    assert_errno(errno.EEXIST, os.mkfifo, m.path('taken'))
    # the probe and two (EEXIST came from the kernel's lookup)
    assert rfs_stats(m.mnt)['execs'] == 1 + 2


def test_non_root_login_device_is_eperm(rfs, sshd, user):
    """A login that may not make devices (not root on the server): the
    server's EPERM; a fifo it may make, its own."""
    d = tempfile.mkdtemp(prefix='rfs-special-', dir='/tmp')
    try:
        os.chmod(d, 0o755)
        os.chown(d, user.uid, user.gid)
        sshd.authorize(user.name, [read_pub(sshd.keys.user_ed25519)])
        m = rfs.mount(d, user=user.name)
        assert_errno(errno.EPERM, os.mknod, m.path('null'),
                     stat.S_IFCHR | 0o600, os.makedev(1, 3))
        assert not os.path.lexists(os.path.join(d, 'null'))
        os.mkfifo(m.path('p'), 0o600)
        st = os.lstat(os.path.join(d, 'p'))
        assert stat.S_ISFIFO(st.st_mode) and st.st_uid == user.uid
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.timeout_s(90)
def test_command_cut_by_a_lost_link(rfs, proxied):
    """A command whose link broke before it ran (the channel for it never
    confirmed: the server's answers were lost) runs on the new link, once;
    one that ran is never sent again (EIO: whether it ran cannot be told;
    not reachable here: the proxy drops every answer from the start)."""
    from test_reconnect import run_blocked
    proxy, kh = proxied
    m = rfs.mount(port=proxy.port, known_hosts=kh,
                  extra_o=['reconnect_timeout=20,dead_after=10', 'xattr'])
    os.mkfifo(m.path('first'), 0o600)       # the probe passed
    assert not os.path.lexists(m.path('p'))     # the LOOKUP first
    res, err = run_blocked(lambda: os.mkfifo(m.path('p'), 0o600), proxy)
    assert err is None, (res, err, m.stderr())
    assert stat.S_ISFIFO(os.lstat(rfs.remote / 'p').st_mode)
    assert 'reconnected after' in m.stderr()
    # the probe and the first; the attempt the cut stopped; on the new
    # link the probe again and the command
    assert rfs_stats(m.mnt)['execs'] == 2 + 1 + 2
    os.mkfifo(m.path('q'), 0o600)
    assert stat.S_ISFIFO(os.lstat(rfs.remote / 'q').st_mode)
    m.unmount()     # while the proxy is still there


def test_many_at_once_within_max_sessions(keys, rfs):
    """Commands run one at a time: with the server's MaxSessions at 3
    (the two SFTP channels and one more), 12 mkfifos at once, in 12
    directories (the kernel serializes creates in one), all work; so do
    12 one after the other, though sshd lets go of a session slot a
    moment after its channel closed (a refused channel is asked for
    again)."""
    import threading
    s = Sshd(keys, extra_config=['MaxSessions 3']).start()
    try:
        rfs.use(s)
        m = rfs.mount()
        errs = []

        def make(i):
            try:
                os.mkfifo(m.path('d%d' % i, 'p'), 0o600)
            except OSError as e:
                errs.append(e)
        for i in range(12):
            os.mkdir(m.path('d%d' % i))
        ts = [threading.Thread(target=make, args=(i,)) for i in range(12)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        for i in range(12):
            os.mkfifo(m.path('q%d' % i), 0o600)
        assert not errs, (errs, m.stderr())
        for i in range(12):
            assert stat.S_ISFIFO(os.lstat(
                s_remote(rfs, 'd%d/p' % i)).st_mode)
            assert stat.S_ISFIFO(os.lstat(s_remote(rfs, 'q%d' % i)).st_mode)
    finally:
        rfs.teardown()
        s.cleanup()


@pytest.mark.timeout_s(60)
def test_ssh_child_leaving_a_process_behind(rfs, remote):
    """transport=ssh through an ssh_command that leaves a process holding
    its stdout and stderr (a proxy's helper, a wrapper): a command is done
    when its ssh exits, not when every holder of its pipes has gone (it
    waited for the 8 s sleep before)."""
    import time
    wrapper = "sh -c 'sleep 8 & exec ssh \"$@\"' ssh"
    m = rfs.mount(extra_o=['transport=ssh', 'ssh_command=' + wrapper])
    t0 = time.monotonic()
    os.mkfifo(m.path('p'), 0o600)
    took = time.monotonic() - t0
    assert stat.S_ISFIFO(os.lstat(remote / 'p').st_mode)
    assert took < 5, took
