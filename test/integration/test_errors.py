"""Error paths: exit code, one clear 'rfs: ' line, nothing mounted."""

import os

from harness import (assert_fails, free_port, is_mounted, mounts, rfs_bin,
                     run_rfs, read_file, write_file,
                     EXIT_USAGE, EXIT_CONNECT, EXIT_REMOTE_PATH, EXIT_MOUNT)


def test_connection_refused(rfs):
    res = rfs.run(port=free_port())
    assert_fails(res, EXIT_CONNECT, 'connection refused', mnt=rfs.mnt)


def test_remote_dir_missing(rfs, remote):
    res = rfs.run(remote=str(remote / 'does-not-exist'))
    assert_fails(res, EXIT_REMOTE_PATH, 'no such file', mnt=rfs.mnt)


def test_remote_path_is_a_file(rfs, remote):
    write_file(remote / 'plain', b'x')
    res = rfs.run(remote=str(remote / 'plain'))
    assert_fails(res, EXIT_REMOTE_PATH, 'not a directory', mnt=rfs.mnt)


def test_mountpoint_missing(rfs, tmp_path):
    res = rfs.run(mnt=tmp_path / 'no-such-dir')
    assert_fails(res, EXIT_MOUNT, 'no such directory')
    assert not os.path.exists(tmp_path / 'no-such-dir')


def test_mountpoint_is_a_file(rfs, tmp_path):
    f = write_file(tmp_path / 'afile', b'keep me')
    res = rfs.run(mnt=f)
    assert_fails(res, EXIT_MOUNT, 'not a directory', mnt=f)
    assert read_file(f) == b'keep me'


def test_already_mounted(rfs, remote):
    write_file(remote / 'x', b'first')
    m = rfs.mount()
    res = rfs.run()
    assert_fails(res, EXIT_MOUNT, 'already mounted')
    assert [mp for mp, _, _ in mounts()].count(str(rfs.mnt)) == 1
    assert read_file(m.path('x')) == b'first'  # first mount still works
    assert m.proc.poll() is None


def test_unknown_option(rfs):
    res = rfs.run(extra_o=['frobnicate=1'])
    assert_fails(res, EXIT_USAGE, 'unknown option', 'frobnicate',
                 mnt=rfs.mnt)


def test_bad_host_string(rfs):
    argv = rfs.argv()
    opts = argv[3:]  # -f -p PORT -F /dev/null -o ...
    # After "--" it cannot be an option: it must be refused as a host.
    res = run_rfs([argv[0]] + opts + ['--', '-evil:/x', str(rfs.mnt)],
                  env=rfs.env)
    assert_fails(res, EXIT_USAGE, mnt=rfs.mnt)
    res = run_rfs([argv[0], '-evil:/x', str(rfs.mnt)], env=rfs.env)
    assert_fails(res, EXIT_USAGE, mnt=rfs.mnt)


def test_missing_arguments(rfs):
    for argv in ([rfs_bin()], [rfs_bin(), '127.0.0.1:/tmp']):
        res = run_rfs(argv, env=rfs.env)
        assert_fails(res, EXIT_USAGE)
        assert 'usage' in res.stderr.lower() or '--help' in res.stderr, res
    assert not is_mounted(str(rfs.mnt))


def test_keywords_in_one_option_any_case(rfs, remote):
    write_file(remote / 'f', b'ok')
    m = rfs.mount(port=None, user=None,
                  extra_o=['port=%d,user=root' % rfs.sshd.port])
    assert os.listdir(m.mnt) == ['f']
    assert '-p' not in m.argv


def test_generic_mount_options_accepted(rfs, remote):
    write_file(remote / 'f', b'ok')
    m = rfs.mount(extra_o=['noauto,_netdev,nofail,comment=x,'
                           'x-systemd.automount'])
    assert read_file(m.path('f')) == b'ok'


def test_path_longer_than_path_max(rfs):
    """Directories made one at a time (dir_fd) until the server's path is
    past PATH_MAX: ENAMETOOLONG, as the kernel would say, not sftp-server's
    BAD_MESSAGE (EBADMSG) (issue 18)."""
    from posix_checks import mkdir_deep
    m = rfs.mount()
    assert mkdir_deep(m.mnt) == 'ENAMETOOLONG'
    m.unmount()
