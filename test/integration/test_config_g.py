"""rfs -G against ssh -G, for every ssh_config file in test/config-corpus/.

Each corpus file names the hosts to resolve in a "# hosts: a b c" line
(user@host allowed). For each (file, host), `ssh -G -F FILE host` and
`rfs -G -F FILE host` must print the same keys in the same order (every
line, every key, 80-odd of them), and the same values except where rfs
differs on purpose (ON_PURPOSE below, each with its reason and the exact
rule it follows).

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

# Where rfs prints another value than ssh on purpose: key -> (reason,
# rule(ssh_values, rfs_values, ssh_output) -> True if rfs's value is the
# one it should print). Every other key must print ssh's value exactly.


def _timeout(s, r, ssh):
    # rfs gives up a connection after 30 s when ConnectTimeout is unset,
    # none or 0 (src/xport.c); ssh waits for the kernel. Documented in
    # rfs(1), ssh_config keywords.
    want = ['30'] if s in (['none'], ['0']) else s
    return r == want


_RFS_DEFAULTS = {}


def rfs_default(key):
    """What rfs -G prints for key with no config at all."""
    if not _RFS_DEFAULTS:
        r = run_g([rfs_bin(), '-G', '-F', 'none', 'h'])
        assert r.returncode == 0, r.stderr
        _RFS_DEFAULTS.update(parse_g(r.stdout))
    return _RFS_DEFAULTS.get(key)


def _libssh2_list(key):
    # rfs offers what libssh2 has, not OpenSSH's lists: a plain list from
    # the config is handed over as given (printed as ssh prints it); none,
    # or a relative "+x"/"-x"/"^x" one, leaves libssh2's defaults.
    def ok(s, r, ssh):
        return r == s or r == rfs_default(key)
    return ok


def _prefauth(s, r, ssh):
    # rfs prints the list it uses: lowercased, empty items dropped
    # ("publickey,password," is "publickey,password").
    norm = [','.join(x for x in v.lower().split(',') if x) for v in s]
    return r == norm


def _alive(s, r, ssh):
    # Debian's ssh sends keepalives every 300 s under BatchMode yes when
    # ServerAliveInterval is unset; rfs has its own liveness checks
    # (probe_after=, dead_after=) and keeps the configured 0.
    if ssh.get('batchmode') == ['yes'] and s == ['300']:
        return r == ['0']
    return r == s


ON_PURPOSE = {
    'connecttimeout': ('rfs waits 30 s by default', _timeout),
    'ciphers': ("libssh2's ciphers", _libssh2_list('ciphers')),
    'macs': ("libssh2's MACs", _libssh2_list('macs')),
    'kexalgorithms': ("libssh2's key exchanges",
                      _libssh2_list('kexalgorithms')),
    'hostkeyalgorithms': ("libssh2's host key types, rfs's order",
                          _libssh2_list('hostkeyalgorithms')),
    'preferredauthentications': ('normalised', _prefauth),
    'serveraliveinterval': ("Debian's BatchMode default", _alive),
}

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
    # Plain algorithm lists: rfs uses them as given, as ssh does.
    ('18-ignored.conf', 'plain',
     ['-o', 'Ciphers=aes128-ctr,aes256-gcm@openssh.com',
      '-o', 'MACs=hmac-sha2-256', '-o', 'KexAlgorithms=curve25519-sha256',
      '-o', 'HostKeyAlgorithms=ssh-ed25519,rsa-sha2-512']),
    # ConnectTimeout 0 is rfs's 30 s too; BatchMode (Debian's 300 s).
    ('18-ignored.conf', 'fwd',
     ['-o', 'ConnectTimeout=0', '-o', 'BatchMode=yes',
      '-o', 'PreferredAuthentications=Password,publickey,']),
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
    lines = ['rfs -G vs ssh -G, every key; on purpose: %s' % (
        ' '.join(sorted(ON_PURPOSE))), '']
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


def key_order(parsed):
    """The keys of one output, in order, each once."""
    return list(parsed)


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
    skeys, rkeys = key_order(ssh), key_order(rfs)
    if skeys != rkeys:
        diffs.append(('keys', ' '.join(k for k in skeys if k not in rkeys),
                      ' '.join(k for k in rkeys if k not in skeys) or
                      'same keys, other order'))
    for k in ssh:
        s, r = ssh[k], rfs.get(k, [])
        if k in ON_PURPOSE:
            reason, ok = ON_PURPOSE[k]
            if not ok(s, r, ssh):
                diffs.append((k, s, r))
            elif s != r:
                notes.append(k)
        elif s != r:
            diffs.append((k, s, r))
    if notes:
        notes = ['on purpose: ' + ' '.join(notes)]
    table.append((name, host, opts, diffs, notes))
    assert len(skeys) >= 75, 'ssh -G printed only %d keys' % len(skeys)
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
