#!/usr/bin/python3
"""Print the results table of doc/conformance.md: every check of
posix_checks.py on a local directory, an rfs mount and an sshfs mount of
the same private sshd on 127.0.0.1 (the harness's: random port, generated
keys, stopped by PID). As root, from the build directory:

    RFS_BIN=$PWD/rfs /usr/bin/python3 ../test/integration/conformance_table.py

Not a test: test_posix.py is the one that fails on a difference.
"""

import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (Keys, RfsArgs, Sshd, TempUser, as_user,  # noqa: E402
                     base_env, run, start_mount)
import posix_checks  # noqa: E402
from posix_checks import CHECKS, run_check  # noqa: E402

SSHFS = '/usr/bin/sshfs'


def sshfs_mount(sshd, remote, mnt, extra_o):
    opts = ['IdentityFile=' + sshd.keys.user_ed25519, 'IdentitiesOnly=yes',
            'BatchMode=yes', 'UserKnownHostsFile=' + sshd.known_hosts,
            'GlobalKnownHostsFile=/dev/null', 'StrictHostKeyChecking=yes']
    argv = [SSHFS, '-f', '-p', str(sshd.port), '-F', '/dev/null',
            '-o', ','.join(opts + list(extra_o)),
            'root@127.0.0.1:' + remote, mnt]
    return start_mount(argv, mnt)


def rfs_mount(sshd, home, remote, mnt, extra_o):
    argv = RfsArgs(sshd, home).argv(remote, mnt, extra_o=extra_o)
    return start_mount(argv, mnt, env=base_env(home))


def run_as(user, name, base):
    r = run(as_user(user.name, [harness.PYTHON, posix_checks.__file__,
                                name, base]), check=False, timeout=120)
    if r.returncode != 0:
        return {'(failed)': r.stderr.strip().splitlines()[-1]}
    return json.loads(r.stdout)


def measure(kind, sshd, user, top):
    """Results of every check on one kind of directory: local, rfs, sshfs."""
    backing = os.path.join(top, kind + '-backing')
    mnt = os.path.join(top, kind)
    os.mkdir(backing, 0o755)
    os.mkdir(mnt, 0o755)
    for name, c in CHECKS.items():
        os.mkdir(os.path.join(backing, name), 0o755)
        if c.setup:
            c.setup(os.path.join(backing, name), (user.uid, user.gid))
    m = None
    o = ['allow_other', 'default_permissions']
    if kind == 'local':
        mnt = backing
    elif kind == 'rfs':
        home = os.path.join(top, 'home')
        os.makedirs(home, exist_ok=True)
        m = rfs_mount(sshd, home, backing, mnt, [','.join(o)])
    else:
        m = sshfs_mount(sshd, backing, mnt, o)
    res = {}
    try:
        for name, c in CHECKS.items():
            base = os.path.join(mnt, name)
            try:
                res[name] = (run_as(user, name, base) if c.as_user
                             else json.loads(json.dumps(
                                 run_check(c, base), default=repr)))
            except Exception as e:  # a check that blew up is a result too
                res[name] = {'(failed)': '%s: %s' % (type(e).__name__, e)}
    finally:
        if m is not None:
            m.unmount()
    return res


def cell(v):
    s = json.dumps(v, ensure_ascii=False)
    if len(s) > 40:
        s = s[:37] + '...'
    return s.replace('|', '\\|').strip('"')


def main():
    os.umask(0o022)
    top = tempfile.mkdtemp(prefix='rfs-conformance-', dir='/tmp')
    os.chmod(top, 0o755)
    keys = Keys(top)
    sshd = Sshd(keys)
    user = TempUser('rfsconf')
    try:
        sshd.start()
        results = {k: measure(k, sshd, user, top)
                   for k in ('local', 'rfs', 'sshfs')}
    finally:
        sshd.cleanup()
        user.remove()
        shutil.rmtree(top, ignore_errors=True)
    print('| check | observation | local | rfs | sshfs 3.7.3 |')
    print('|---|---|---|---|---|')
    for name, c in CHECKS.items():
        loc = results['local'][name]
        keys_ = list(loc) + [k for r in ('rfs', 'sshfs')
                             for k in results[r][name] if k not in loc]
        for k in keys_:
            vals = [results[r][name].get(k, '-') for r in
                    ('local', 'rfs', 'sshfs')]
            mark = [cell(v) if i == 0 or v == vals[0] else
                    '**%s**' % cell(v) for i, v in enumerate(vals)]
            print('| %s | %s | %s |' % (name, cell(k), ' | '.join(mark)))


if __name__ == '__main__':
    main()
