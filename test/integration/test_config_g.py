"""rfs -G against ssh -G, for every ssh_config file in test/config-corpus/.

Each corpus file names the hosts to resolve in a "# hosts: a b c" line
(user@host allowed). For each (file, host), `ssh -G -F FILE host` and
`rfs -G -F FILE host` must give the same lines for the keys in KEYS (all
lines of a key, in order; a key that ssh does not print must be missing
from rfs's output too).

Include lines use the placeholder @CORPUS@: the corpus is copied to a
scratch directory with @CORPUS@ replaced by that directory's path, so that
no Include depends on ~/.ssh. Both programs run with the same environment,
HOME unchanged: with -F, ssh reads no other file, and both take ~ from the
password database.

The agreement table goes to config-g-agreement.txt next to $RFS_BIN and to
stdout at the end of the module (visible with -s).
"""

import glob
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from harness import rfs_bin

SSH = '/usr/bin/ssh'
HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.normpath(os.path.join(HERE, '..', 'config-corpus'))
TOP = os.path.normpath(os.path.join(HERE, '..', '..'))
# Files outside the corpus, relative to the top of the tree, with hosts.
OTHER_FILES = [('doc/ssh_config.example', ['ens', 'work-ens', 'elsewhere'])]

KEYS = [
    'host', 'hostname', 'user', 'port', 'identityfile', 'proxyjump',
    'serveraliveinterval', 'serveralivecountmax', 'connecttimeout',
    'compression', 'stricthostkeychecking', 'userknownhostsfile',
    'globalknownhostsfile', 'hashknownhosts', 'identitiesonly',
    'addressfamily', 'hostkeyalias', 'pubkeyauthentication',
    'passwordauthentication', 'kbdinteractiveauthentication',
]
# Documented differences (conf.h, conf_dump()), not compared:
# - preferredauthentications: rfs always prints it, normalised (the
#   trailing comma of "publickey,password," dropped, the default list
#   spelled out); ssh prints it only when set, as written. Not in KEYS.
# - proxyjump: rfs prints the value as written; ssh rewrites every hop
#   but the first without its "ssh://" prefix. See same_jumps().

# Real disagreements: bugs in src/conf.c. (file, host) -> reason.
# strict: the test fails once rfs agrees, so fixed entries must go.
KNOWN_BUGS = {}

# Command-line options on top of a corpus file: they come first, so they
# win over the file (IdentityFile: they come first in the list).
EXTRA = [
    ('02-star-first.conf', 'alpha',
     ['-o', 'User=cli', '-o', 'IdentityFile=~/.ssh/id_cli']),
    ('16-campus.conf', 'lab-07',
     ['-p', '2999', '-o', 'ProxyJump=none', '-o', 'ConnectTimeout=4']),
    ('10-hostkeys.conf', 's-ask',
     ['-o', 'StrictHostKeyChecking=accept-new',
      '-o', 'UserKnownHostsFile=/tmp/a /tmp/b']),
    ('01-seed.conf', 'work-ens',
     ['-o', 'Compression=no', '-o', 'ServerAliveInterval=1m']),
]


def corpus_files():
    return sorted(glob.glob(os.path.join(CORPUS, '*.conf')))


def hosts_of(path):
    with open(path) as f:
        for line in f:
            m = re.match(r'#\s*hosts:\s*(.*)$', line)
            if m:
                return m.group(1).split()
    return []


def cases():
    out = []
    for path in corpus_files():
        name = os.path.basename(path)
        for host in hosts_of(path):
            out.append((name, host, []))
    for name, hosts in OTHER_FILES:
        out += [(name, host, []) for host in hosts]
    out += EXTRA
    params = []
    for name, host, opts in out:
        tid = '%s-%s%s' % (os.path.splitext(os.path.basename(name))[0],
                           host, '-opts' if opts else '')
        marks = ()
        if not opts and (name, host) in KNOWN_BUGS:
            marks = pytest.mark.xfail(strict=True,
                                      reason=KNOWN_BUGS[(name, host)])
        params.append(pytest.param(name, host, opts, id=tid, marks=marks))
    return params


@pytest.fixture(scope='module')
def corpus():
    """The corpus copied to a scratch directory, @CORPUS@ substituted."""
    d = tempfile.mkdtemp(prefix='rfs-corpus-', dir='/tmp')
    dst = os.path.join(d, 'config-corpus')
    shutil.copytree(CORPUS, dst)
    for root, _, files in os.walk(dst):
        for fn in files:
            p = os.path.join(root, fn)
            with open(p) as f:
                text = f.read()
            with open(p, 'w') as f:
                f.write(text.replace('@CORPUS@', dst))
            # OpenSSH refuses an Include'd file others may write.
            os.chmod(p, 0o644)
    yield dst
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope='module')
def table():
    rows = []
    yield rows
    text = format_table(rows)
    out = os.path.join(os.path.dirname(os.path.abspath(rfs_bin())),
                       'config-g-agreement.txt')
    try:
        with open(out, 'w') as f:
            f.write(text)
    except OSError:
        pass
    print('\n' + text)


def format_table(rows):
    lines = ['rfs -G vs ssh -G, %d keys compared (%s)' % (
        len(KEYS), ' '.join(KEYS)), '']
    agree = sum(1 for r in rows if not r[3])
    for name, host, opts, diffs, notes in rows:
        what = '%s %s%s' % (name, host, ' ' + ' '.join(opts) if opts else '')
        if not diffs:
            lines.append('  agree   %s' % what)
        else:
            lines.append('  DIFFER  %s' % what)
            for k, s, r in diffs:
                lines.append('            %s: ssh %r, rfs %r' % (k, s, r))
        for n in notes:
            lines.append('            %s' % n)
    lines += ['', '%d of %d cases agree' % (agree, len(rows)), '']
    return '\n'.join(lines)


def parse_g(text):
    """ssh -G output -> {key: [values in order]}."""
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        k, _, v = line.partition(' ')
        out.setdefault(k.lower(), []).append(v)
    return out


def jump_hops(value):
    """'ssh://u@h:p,h2' -> [('u', 'h', 'p'), ('', 'h2', '')]."""
    hops = []
    for hop in value.split(','):
        if hop.startswith('ssh://'):
            hop = hop[len('ssh://'):]
        user, _, hp = hop.rpartition('@')
        m = re.match(r'^(\[[^]]*\]|[^:]*)(?::(\d+))?$', hp)
        host, port = (m.group(1), m.group(2) or '') if m else (hp, '')
        hops.append((user, host.strip('[]'), port))
    return hops


def same_jumps(s, r):
    return len(s) == len(r) and all(
        jump_hops(a) == jump_hops(b) for a, b in zip(s, r))


def run_g(argv):
    return subprocess.run(argv, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=30)


def resolve(argv, table_row=None):
    r = run_g(argv)
    if r.returncode != 0 and table_row is not None:
        table_row[3].append(('exit status', 'exit 0', '%s exited %d: %s' % (
            os.path.basename(argv[0]), r.returncode, r.stderr.strip())))
    assert r.returncode == 0, '%s exited %d: %s' % (
        ' '.join(argv), r.returncode, r.stderr)
    return parse_g(r.stdout)


def test_corpus_is_complete():
    """At least 12 corpus files, each naming the hosts to resolve."""
    files = corpus_files()
    assert len(files) >= 12, files
    for p in files:
        assert hosts_of(p), '%s has no "# hosts:" line' % p


@pytest.mark.parametrize('name,host,opts', cases())
def test_g_matches_ssh(corpus, table, name, host, opts):
    if '/' in name:
        path = os.path.join(TOP, name)
    else:
        path = os.path.join(corpus, name)
    row = (name, host, opts, [], [])
    ssh = resolve([SSH, '-G', '-F', path] + opts + [host])
    try:
        rfs = resolve([rfs_bin(), '-G', '-F', path] + opts + [host], row)
    except AssertionError:
        table.append(row)
        raise
    diffs, notes = [], []
    for k in KEYS:
        s, r = ssh.get(k, []), rfs.get(k, [])
        if s != r and k == 'proxyjump' and same_jumps(s, r):
            notes.append('proxyjump written differently (exempt): ssh %r, '
                         'rfs %r' % (s, r))
            continue
        if s != r:
            diffs.append((k, s, r))
    table.append((name, host, opts, diffs, notes))
    assert ssh.get('host'), 'ssh -G printed no host line'
    assert not diffs, '%s %s: rfs -G differs from ssh -G:\n%s' % (
        name, host, '\n'.join('  %s: ssh %r, rfs %r' % d for d in diffs))


def bad_files():
    return sorted(glob.glob(os.path.join(CORPUS, 'bad', '*.conf')))


@pytest.mark.parametrize('path', bad_files(),
                         ids=[os.path.basename(p)[:-5] for p in bad_files()])
def test_bad_file_rejected_like_ssh(path):
    """A file ssh refuses, rfs -G refuses too: exit 1, one line
    "rfs: FILE:LINE: message" with the line ssh names."""
    ssh = run_g([SSH, '-G', '-F', path, 'x'])
    assert ssh.returncode == 255, 'ssh accepted %s: %s' % (path, ssh.stdout)
    m = re.search(r'line (\d+)', ssh.stderr)
    assert m, ssh.stderr
    r = run_g([rfs_bin(), '-G', '-F', path, 'x'])
    assert r.returncode == 1, 'rfs -G exited %d on %s\n%s%s' % (
        r.returncode, path, r.stdout, r.stderr)
    assert r.stdout == '', r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    want = 'rfs: %s:%s: ' % (path, m.group(1))
    assert lines[0].startswith(want), 'wanted %r..., got %r (ssh: %r)' % (
        want, lines[0], ssh.stderr.splitlines()[0])
