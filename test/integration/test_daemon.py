"""rfs as a daemon, and its informational options."""

import os
import re

from harness import (find_pids_with_arg, fusermount_u, pid_alive, proc_argv,
                     rfs_bin, run_rfs, wait_for, EXIT_OK)

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def comm(pid):
    with open('/proc/%d/comm' % pid) as f:
        return f.read().strip()


def project_version():
    with open(os.path.join(SRCDIR, 'meson.build')) as f:
        m = re.search(r"project\([^)]*?version\s*:\s*'([^']+)'", f.read(),
                      re.S)
    return m.group(1) if m else None


def test_daemon_mounts_then_exits_on_unmount(rfs, remote, watchdog):
    (remote / 'hello').write_text('daemon\n')
    res = rfs.run(foreground=False)
    assert res.rc == EXIT_OK, res
    assert os.path.ismount(rfs.mnt), 'not mounted when rfs returned'
    # Every process with the mountpoint in argv: the daemon and its
    # unmount watcher (a fork, named rfs-unmount).
    pids = find_pids_with_arg(rfs.mnt)
    rfs.extra_pids += pids  # killed at teardown if still there
    for pid in pids:
        watchdog.watch(pid)
    daemons = [p for p in pids if proc_argv(p)[:1] == [rfs_bin()] and
               comm(p) != 'rfs-unmount']
    assert len(daemons) == 1, 'rfs processes with %s in argv: %s' % (
        rfs.mnt, {p: proc_argv(p) for p in pids})
    assert [comm(p) for p in pids if p != daemons[0]] == ['rfs-unmount'], \
        {p: comm(p) for p in pids}
    pid = daemons[0]
    assert os.getsid(pid) != os.getsid(0), 'daemon kept our session'
    assert os.listdir(rfs.mnt) == ['hello']
    assert (rfs.mnt / 'hello').read_text() == 'daemon\n'
    r = fusermount_u(rfs.mnt)
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: not pid_alive(pid), 5), \
        'daemon %d still running 5 s after unmount' % pid
    assert wait_for(lambda: not any(pid_alive(p) for p in pids), 2), \
        'still running after unmount: %s' % {
            p: proc_argv(p) for p in pids if pid_alive(p)}
    assert not os.path.ismount(rfs.mnt)


def test_version(tmp_path):
    res = run_rfs([rfs_bin(), '--version'], env={'HOME': str(tmp_path),
                                                  'PATH': '/usr/bin:/bin'})
    assert res.rc == 0, res
    line = [ln for ln in res.stdout.splitlines() if 'rfs' in ln.lower()]
    assert line, res
    m = re.search(r'\b(\d+\.\d+(\.\d+)?)\b', line[0])
    assert m, 'no version number in %r' % line[0]
    want = project_version()
    if want:
        assert m.group(1) == want, res


def test_help(tmp_path):
    res = run_rfs([rfs_bin(), '--help'], env={'HOME': str(tmp_path),
                                               'PATH': '/usr/bin:/bin'})
    assert res.rc == 0, res
    text = res.stdout
    assert 'usage' in text.lower(), res
    for opt in ('-o', '-p', '-F', '-f', '-d'):
        assert re.search(r'(^|[\s,\[])%s\b' % re.escape(opt), text,
                         re.M), 'option %s not in --help\n%s' % (opt, text)
