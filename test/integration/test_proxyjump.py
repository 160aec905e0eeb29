"""ProxyJump: rfs reaches the destination through one or more jump hosts,
each a real sshd on 127.0.0.1 with its own host key, its own config block
(key, user, known_hosts) and its own host key check; the next hop travels
in a direct-tcpip channel of the previous one, inside the rfs process.

Proof that a mount really went through a jump host: the jump sshd logs at
LogLevel DEBUG1 (harness.Sshd) every direct-tcpip request, as OpenSSH 9.2
does for `ssh -J`:
  debug1: server_request_direct_tcpip: originator 127.0.0.1 port 65535,
  target 127.0.0.1 port 40123
test_ssh_through_jump_logs_direct_tcpip checks that this evidence exists
with the real ssh client first, so that its absence for rfs means
something.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

import harness
from harness import (assert_fails, keygen, read_file, read_pub, rfs_bin,
                     run_rfs, start_mount, write_file, Sshd, TempUser,
                     EXIT_AUTH, EXIT_CONNECT, EXIT_HOSTKEY)

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.normpath(os.path.join(HERE, '..', '..', 'doc',
                                        'ssh_config.example'))
SSH = '/usr/bin/ssh'

DIRECT_TCPIP = re.compile(r'server_request_direct_tcpip: originator (\S+) '
                          r'port (\d+), target (\S+) port (\d+)')


class HostKeys:
    """Keys for one Sshd: a host key of its own (so that every hop of a
    chain has a different one) and the user keys it accepts for root."""

    def __init__(self, d, name, user_keys):
        self.host = keygen(os.path.join(d, 'host_%s' % name))
        self.user_keys = list(user_keys)

    def host_keys(self):
        return [self.host]

    def authorized_for_root(self):
        return [read_pub(k) for k in self.user_keys]


def fingerprint(key):
    r = harness.run(['/usr/bin/ssh-keygen', '-l', '-E', 'sha256', '-f',
                     key + '.pub'])
    return r.stdout.split()[1]


class LogMark:
    """What an sshd logged since the mark was taken."""

    def __init__(self, sshd):
        self.sshd = sshd
        try:
            self.offset = os.path.getsize(sshd.log)
        except OSError:
            self.offset = 0

    def text(self):
        with open(self.sshd.log, errors='replace') as f:
            f.seek(self.offset)
            return f.read()

    def direct_tcpip(self):
        """[(target host, target port)] of the direct-tcpip requests."""
        return [(m.group(3), int(m.group(4)))
                for m in DIRECT_TCPIP.finditer(self.text())]

    def connections(self):
        return re.findall(r'^Connection from ', self.text(), re.M)


def names_alias(text, alias):
    """Does text name the host alias itself, not only say "jump host" or
    "ProxyJump"? ("rfs: jump host jump: ..." names the alias 'jump'.)"""
    return re.search(r'(?<![\w.@-])%s(?![\w.-])(?! host)' % re.escape(alias),
                     text, re.I) is not None


def start_settled(sshd):
    """Start sshd and wait until it has logged the harness's readiness
    probe (a bare TCP connect), so that the probe never shows up in a
    LogMark taken later."""
    sshd.start()
    assert harness.wait_for(
        lambda: 'Connection closed by' in read_file(sshd.log).decode(
            errors='replace'), 10), sshd.log_tail()
    return sshd


@pytest.fixture(scope='module')
def hops(keys):
    """Three sshds: jump1, jump2 and inner, different host keys, all
    accepting keys.user_ed25519 for root."""
    d = tempfile.mkdtemp(prefix='rfs-pj-keys-', dir='/tmp')
    os.chmod(d, 0o755)
    started = {}
    try:
        for name in ('jump1', 'jump2', 'inner'):
            s = Sshd(HostKeys(d, name, [keys.user_ed25519]))
            started[name] = s
            start_settled(s)
        yield started
    finally:
        for s in started.values():
            s.cleanup()
        shutil.rmtree(d, ignore_errors=True)


def block(alias, sshd, key, kh, jump=None, port=None):
    lines = ['Host %s' % alias,
             '    HostName 127.0.0.1',
             '    Port %d' % (port or sshd.port),
             '    User root',
             '    IdentityFile %s' % key,
             '    IdentitiesOnly yes',
             '    UserKnownHostsFile %s' % kh,
             '    GlobalKnownHostsFile /dev/null',
             '    StrictHostKeyChecking yes']
    if jump:
        lines.insert(1, '    ProxyJump %s' % jump)
    return '\n'.join(lines) + '\n\n'


def known_hosts(path, *sshds, wrong=()):
    """known_hosts with [127.0.0.1]:PORT entries for sshds; for those in
    wrong, the entry holds another key."""
    text = ''
    for s in sshds:
        if s in wrong:
            other = read_pub(s.keys.host + '.other').split()
            text += '%s %s %s\n' % (s.host_pattern(), other[0], other[1])
        else:
            text += s.known_hosts_text()
    return write_file(path, text)


class Setup:
    """One test's config file, known_hosts and command lines."""

    def __init__(self, rfs, hops, keys):
        self.rfs, self.hops, self.keys = rfs, hops, keys
        self.tmp = str(rfs.tmp)
        self.cfg = os.path.join(self.tmp, 'ssh_config')
        self.kh = os.path.join(self.tmp, 'known_hosts')

    def write(self, text, kh_sshds=None, wrong=()):
        if kh_sshds is None:
            kh_sshds = list(self.hops.values())
        known_hosts(self.kh, *kh_sshds, wrong=wrong)
        # ssh reads it too: BatchMode for every ssh it starts (-J hops).
        write_file(self.cfg, text + 'Host *\n    BatchMode yes\n')
        return self.cfg

    def one_jump(self, jump_key=None, inner_jump='jump', **kw):
        h, k = self.hops, self.keys.user_ed25519
        return self.write(
            block('jump', h['jump1'], jump_key or k, self.kh) +
            block('inner', h['inner'], k, self.kh, jump=inner_jump), **kw)

    def argv(self, dest='inner', remote=None):
        return [rfs_bin(), '%s:%s' % (dest, remote or self.rfs.remote),
                str(self.rfs.mnt), '-F', self.cfg, '-f']

    def mount(self, dest='inner', timeout=30):
        argv = self.argv(dest)
        m = start_mount(argv, str(self.rfs.mnt), env=self.rfs.env,
                        timeout=timeout)
        self.rfs.watchdog.watch(m.pid)
        self.rfs.mounts.append(m)
        return m

    def run(self, dest='inner', timeout=40):
        return run_rfs(self.argv(dest), env=self.rfs.env, timeout=timeout)


@pytest.fixture
def pj(rfs, hops, keys):
    return Setup(rfs, hops, keys)


def ssh_run(argv, timeout=40, user=None, env=None):
    """Run ssh with its output in files (a ControlPersist master or a -W
    child may keep a pipe open long after ssh itself has exited)."""
    if user is not None:
        argv = harness.as_user(user, argv)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=err, env=env, start_new_session=True)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            harness.stop_pid(p, signal.SIGKILL)
            raise
        out.seek(0)
        err.seek(0)
        return rc, out.read().decode(errors='replace'), \
            err.read().decode(errors='replace')


def assert_mount_works(m, remote):
    """Reads, writes, renames and removes through the mount, checked on
    the server side."""
    write_file(remote / 'from-server', b'hello through the jump')
    os.mkdir(remote / 'sub')
    assert sorted(os.listdir(m.mnt)) == ['from-server', 'sub']
    assert read_file(m.path('from-server')) == b'hello through the jump'
    data = os.urandom(300 * 1024)  # several SFTP writes through the tunnel
    write_file(m.path('sub', 'written'), data)
    assert read_file(remote / 'sub' / 'written') == data
    assert read_file(m.path('sub', 'written')) == data
    os.rename(m.path('sub', 'written'), m.path('renamed'))
    assert os.path.exists(remote / 'renamed')
    assert not os.path.exists(remote / 'sub' / 'written')
    os.unlink(m.path('renamed'))
    assert not os.path.exists(remote / 'renamed')
    harness.assert_same_stat(m.path('from-server'), remote / 'from-server')


# --------------------------------------------------------------------------


def test_ssh_through_jump_logs_direct_tcpip(pj, hops):
    """The setup itself, with OpenSSH's client: ssh -F cfg inner works and
    the jump sshd logs the forward to the inner port."""
    pj.one_jump()
    mark_j, mark_i = LogMark(hops['jump1']), LogMark(hops['inner'])
    rc, out, err = ssh_run([SSH, '-F', pj.cfg, '-o', 'BatchMode=yes',
                            'inner', 'echo', 'via-jump'],
                           env=pj.rfs.env)
    assert rc == 0 and out.strip() == 'via-jump', err
    assert ('127.0.0.1', hops['inner'].port) in mark_j.direct_tcpip(), \
        mark_j.text()
    assert mark_i.connections(), mark_i.text()


@pytest.mark.timeout_s(90)
def test_mount_through_one_jump(pj, hops, remote):
    """(a) rfs inner:/dir MNT -F cfg -f mounts through jump; file
    operations work; the jump sshd saw exactly one direct-tcpip request,
    to the inner port, and the inner sshd one connection."""
    pj.one_jump()
    mark_j, mark_i = LogMark(hops['jump1']), LogMark(hops['inner'])
    m = pj.mount()
    assert_mount_works(m, remote)
    assert mark_j.direct_tcpip() == [('127.0.0.1', hops['inner'].port)], \
        mark_j.text()
    assert len(mark_j.connections()) == 1, mark_j.text()
    assert len(mark_i.connections()) == 1, mark_i.text()
    assert 'Accepted publickey for root' in mark_i.text(), mark_i.text()
    m.unmount()


@pytest.mark.timeout_s(90)
def test_destination_name_resolved_on_jump_host(pj, hops, remote):
    """The destination's HostName goes to the jump host as a name (ssh -J
    does the same): the jump sshd logs 'target localhost', not an
    address rfs looked up."""
    h, k = hops, pj.keys.user_ed25519
    text = block('jump', h['jump1'], k, pj.kh) + \
        block('inner', h['inner'], k, pj.kh, jump='jump').replace(
            'HostName 127.0.0.1', 'HostName localhost')
    pj.write(text)
    # Host keys are looked up under the name as written, as ssh does.
    with open(pj.kh, 'a') as f:
        for line in h['inner'].host_pub_lines():
            f.write('[localhost]:%d %s\n' % (h['inner'].port, line))
    mark_j = LogMark(h['jump1'])
    m = pj.mount()
    write_file(remote / 'f', b'by name')
    assert os.listdir(m.mnt) == ['f']
    assert mark_j.direct_tcpip() == [('localhost', h['inner'].port)], \
        mark_j.text()
    m.unmount()


@pytest.mark.timeout_s(120)
def test_mount_through_two_jumps(pj, hops, remote):
    """(b) ProxyJump jump1,jump2: rfs -> jump1 -> jump2 -> inner. jump1
    forwards to jump2's port, jump2 to inner's; each hop is checked
    against its own host key."""
    h, k = hops, pj.keys.user_ed25519
    pj.write(block('jump1', h['jump1'], k, pj.kh) +
             block('jump2', h['jump2'], k, pj.kh) +
             block('inner', h['inner'], k, pj.kh, jump='jump1,jump2'))
    marks = {n: LogMark(s) for n, s in h.items()}
    m = pj.mount()
    assert_mount_works(m, remote)
    assert marks['jump1'].direct_tcpip() == [('127.0.0.1', h['jump2'].port)], \
        marks['jump1'].text()
    assert marks['jump2'].direct_tcpip() == [('127.0.0.1', h['inner'].port)], \
        marks['jump2'].text()
    for n in h:
        assert len(marks[n].connections()) == 1, (n, marks[n].text())
    m.unmount()


def test_jump_refuses_key(pj, hops):
    """(c) The jump host does not accept the key of its block: exit 4,
    the message names the jump host, the inner host is never contacted."""
    pj.one_jump(jump_key=pj.keys.user_unauth)
    mark_i = LogMark(hops['inner'])
    res = pj.run()
    assert_fails(res, EXIT_AUTH, mnt=pj.rfs.mnt)
    assert names_alias(res.stderr, 'jump'), res
    assert mark_i.connections() == [], mark_i.text()


def test_jump_host_key_unknown(pj, hops):
    """(d) The jump host's key is not in known_hosts, StrictHostKeyChecking
    yes: exit 3, the message names the jump host and shows its key's
    fingerprint (not the inner host's); known_hosts is left alone."""
    pj.one_jump(kh_sshds=[hops['inner']])
    before = read_file(pj.kh)
    mark_i = LogMark(hops['inner'])
    res = pj.run()
    assert_fails(res, EXIT_HOSTKEY, 'SHA256:', mnt=pj.rfs.mnt)
    assert names_alias(res.stderr, 'jump'), res
    assert fingerprint(hops['jump1'].keys.host) in res.stderr, res
    assert fingerprint(hops['inner'].keys.host) not in res.stderr, res
    assert mark_i.connections() == [], mark_i.text()
    assert read_file(pj.kh) == before


@pytest.fixture(scope='module')
def other_keys(hops):
    """For each hop a second key it does not use, at HOSTKEY.other."""
    for s in hops.values():
        if not os.path.exists(s.keys.host + '.other'):
            keygen(s.keys.host + '.other')
    return hops


def test_inner_host_key_mismatch(pj, hops, other_keys):
    """(e) The jump host is fine, the inner host's key differs from
    known_hosts: exit 3 "mismatch" (the inner check is not skipped
    because the connection comes through a tunnel). The jump forwarded
    the connection before the check failed."""
    pj.one_jump(wrong=[hops['inner']])
    before = read_file(pj.kh)
    mark_j = LogMark(hops['jump1'])
    res = pj.run()
    assert_fails(res, EXIT_HOSTKEY, 'mismatch', mnt=pj.rfs.mnt)
    assert ('127.0.0.1', hops['inner'].port) in mark_j.direct_tcpip(), \
        mark_j.text()
    assert read_file(pj.kh) == before


def test_jump_host_key_mismatch(pj, hops, other_keys):
    """The jump host's key differs from known_hosts: exit 3, "mismatch",
    the message names the jump host; no tunnel was opened."""
    pj.one_jump(wrong=[hops['jump1']])
    mark_j = LogMark(hops['jump1'])
    res = pj.run()
    assert_fails(res, EXIT_HOSTKEY, 'mismatch', mnt=pj.rfs.mnt)
    assert names_alias(res.stderr, 'jump'), res
    assert mark_j.direct_tcpip() == [], mark_j.text()


def test_jump_unreachable(pj, hops):
    """Nothing listens at the jump host's port: exit 2, naming the jump."""
    h, k = hops, pj.keys.user_ed25519
    pj.write(block('jump', h['jump1'], k, pj.kh, port=harness.free_port()) +
             block('inner', h['inner'], k, pj.kh, jump='jump'))
    res = pj.run()
    assert_fails(res, EXIT_CONNECT, mnt=pj.rfs.mnt)
    assert names_alias(res.stderr, 'jump'), res


def test_inner_unreachable_from_jump(pj, hops):
    """The jump host cannot connect to the destination (closed port): the
    direct-tcpip open fails, exit 2, and the message says where."""
    h, k = hops, pj.keys.user_ed25519
    closed = harness.free_port()
    pj.write(block('jump', h['jump1'], k, pj.kh) +
             block('inner', h['inner'], k, pj.kh, jump='jump', port=closed))
    mark_j = LogMark(h['jump1'])
    res = pj.run()
    assert_fails(res, EXIT_CONNECT, str(closed), mnt=pj.rfs.mnt)
    assert names_alias(res.stderr, 'jump'), res
    assert ('127.0.0.1', closed) in mark_j.direct_tcpip(), mark_j.text()


# --------------------------------------------------------------------------
# (f) doc/ssh_config.example, verbatim but for the host-specific lines


def adapt_example(text, where, key_for, kh):
    """The example with each block's HostName pointed at the test sshd
    (plus its Port and a UserKnownHostsFile line), User root, and the
    IdentityFile path replaced. Nothing else changes."""
    out, host = [], None
    for line in text.splitlines():
        m = re.match(r'^\s*Host\s+(\S+)', line)
        if m:
            host = m.group(1)
        m = re.match(r'^(\s*)HostName\s+\S+\s*$', line)
        if m:
            ind = m.group(1)
            out += ['%sHostName 127.0.0.1' % ind,
                    '%sPort %d' % (ind, where[host].port),
                    '%sUserKnownHostsFile %s' % (ind, kh)]
            continue
        line = re.sub(r'^(\s*User)\s+\S+\s*$', r'\1 root', line)
        m = re.match(r'^(\s*IdentityFile)\s+\S+\s*$', line)
        if m:
            line = '%s %s' % (m.group(1), key_for[host])
        out.append(line)
    return '\n'.join(out) + '\n'


@pytest.fixture
def example_hosts(keys, tmp_path):
    """A gateway and a VM sshd for the example, each accepting only its
    own user key: a mount works only if each hop uses its own block."""
    d = tempfile.mkdtemp(prefix='rfs-pj-ex-', dir='/tmp')
    os.chmod(d, 0o755)
    id_ens = keygen(os.path.join(d, 'id_ens'))
    id_work = keygen(os.path.join(d, 'id_work'))
    gw = Sshd(HostKeys(d, 'gw', [id_ens]))
    vm = Sshd(HostKeys(d, 'vm', [id_work]))
    try:
        start_settled(gw)
        start_settled(vm)
        yield {'ens': gw, 'work-ens': vm}, {'ens': id_ens,
                                            'work-ens': id_work}, d
    finally:
        gw.cleanup()
        vm.cleanup()
        shutil.rmtree(d, ignore_errors=True)


def test_example_adaptation_is_minimal(example_hosts, tmp_path):
    """The substitutions touch only HostName, Port, UserKnownHostsFile,
    User and IdentityFile lines; ssh -G of the result still shows the
    example's other settings."""
    where, key_for, d = example_hosts
    text = read_file(EXAMPLE).decode()
    kh = os.path.join(d, 'known_hosts')
    new = adapt_example(text, where, key_for, kh)
    touched = re.compile(r'^\s*(HostName|Port|UserKnownHostsFile|User|'
                         r'IdentityFile)\s')
    keep_a = [ln for ln in text.splitlines() if not touched.match(ln)]
    keep_b = [ln for ln in new.splitlines() if not touched.match(ln)]
    assert keep_a == keep_b
    assert len(re.findall(r'(?m)^\s*HostName ', text)) == 2
    cfg = write_file(tmp_path / 'config', new)
    r = harness.run([SSH, '-G', '-F', cfg, 'work-ens'],
                    stdin=subprocess.DEVNULL)
    g = r.stdout.splitlines()
    for want in ('proxyjump ens', 'compression yes', 'identitiesonly yes',
                 'serveraliveinterval 36000', 'controlmaster auto',
                 'preferredauthentications publickey,password,',
                 'port %d' % where['work-ens'].port,
                 'identityfile %s' % key_for['work-ens']):
        assert want in g, (want, r.stdout)


def sweep_user_processes(uid):
    """Stop, by PID, whatever still runs as uid (a ControlPersist master
    the example's ssh left behind): the test user runs nothing else."""
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/status' % d) as f:
                st = f.read()
        except OSError:
            continue
        m = re.search(r'^Uid:\s+(\d+)', st, re.M)
        if m and int(m.group(1)) == uid:
            harness.kill_pid(int(d))


@pytest.mark.timeout_s(120)
def test_doc_example_works(rfs, example_hosts, remote, tmp_path):
    """(f) doc/ssh_config.example, pointed at two test sshds: rfs mounts
    work-ens:DIR through ens and lists it; ssh -F with the same file runs
    a command on work-ens (as an ordinary user, so that the example's
    ControlPath sockets land in that user's home, not in /root)."""
    where, key_for, d = example_hosts
    kh = os.path.join(d, 'known_hosts')
    write_file(kh, where['ens'].known_hosts_text() +
               where['work-ens'].known_hosts_text())
    os.chmod(kh, 0o644)
    cfg = write_file(os.path.join(d, 'config'), adapt_example(
        read_file(EXAMPLE).decode(), where, key_for, kh), mode=0o644)

    write_file(remote / 'lab-notes.txt', b'through the gateway')
    os.mkdir(remote / 'results')
    mark_gw = LogMark(where['ens'])
    argv = [rfs_bin(), 'work-ens:%s' % remote, str(rfs.mnt), '-F', cfg, '-f']
    m = start_mount(argv, str(rfs.mnt), env=rfs.env, timeout=30)
    rfs.watchdog.watch(m.pid)
    rfs.mounts.append(m)
    assert sorted(os.listdir(m.mnt)) == ['lab-notes.txt', 'results']
    assert read_file(m.path('lab-notes.txt')) == b'through the gateway'
    assert ('127.0.0.1', where['work-ens'].port) in mark_gw.direct_tcpip(), \
        mark_gw.text()
    m.unmount()

    # The same file with OpenSSH, as a user whose home is a scratch one.
    user = TempUser('rfspj')
    try:
        os.mkdir(os.path.join(user.home, '.ssh'), 0o700)
        os.chown(os.path.join(user.home, '.ssh'), user.uid, user.gid)
        for k in key_for.values():
            os.chown(k, user.uid, user.gid)
        try:
            mark_gw = LogMark(where['ens'])
            rc, out, err = ssh_run(
                [SSH, '-F', cfg, '-o', 'BatchMode=yes', 'work-ens',
                 'echo', 'ssh-ok'], user=user.name)
            assert rc == 0 and out.strip() == 'ssh-ok', err
            assert ('127.0.0.1', where['work-ens'].port) in \
                mark_gw.direct_tcpip(), mark_gw.text()
            # The Host * block's ControlMaster/ControlPersist left a
            # master for work-ens, as the comments in the example say.
            rc, _, err = ssh_run([SSH, '-F', cfg, '-O', 'check', 'work-ens'],
                                 user=user.name, timeout=20)
            assert rc == 0 and 'Master running' in err, err
            for host in ('work-ens', 'ens'):
                ssh_run([SSH, '-F', cfg, '-O', 'exit', host],
                        user=user.name, timeout=20)
        finally:
            sweep_user_processes(user.uid)
            for k in key_for.values():
                os.chown(k, 0, 0)
    finally:
        user.remove()


# --------------------------------------------------------------------------
# Per hop: host keys pinned and passwords bound (issue 15)


@pytest.mark.timeout_s(120)
def test_jump_host_key_pinned_on_reconnect(pj, hops, remote):
    """A reconnect holds every hop to the host key it showed at mount
    time, not only the destination: when the jump host's address leads
    to another sshd (whose key known_hosts happens to list too), the
    reconnect is refused and says why."""
    from proxy import TcpProxy
    h, k = hops, pj.keys.user_ed25519
    p = TcpProxy(h['jump1'].port).start()
    try:
        pj.write(block('jump', h['jump1'], k, pj.kh, port=p.port) +
                 block('inner', h['inner'], k, pj.kh, jump='jump'))
        text = h['inner'].known_hosts_text()
        for s in (h['jump1'], h['jump2']):
            text += s.known_hosts_text().replace(
                s.host_pattern(), '[127.0.0.1]:%d' % p.port)
        write_file(pj.kh, text)
        m = pj.mount()
        write_file(remote / 'f', b'before')
        assert read_file(m.path('f')) == b'before'
        p.retarget(h['jump2'].port)
        p.cut()
        assert harness.wait_for(
            lambda: 'HOST KEY CHANGED' in m.stderr(), 30), m.stderr()
        assert names_alias(m.stderr(), 'jump'), m.stderr()
    finally:
        p.stop()


@pytest.mark.timeout_s(120)
def test_passwords_bound_to_their_hop(pj, hops, remote):
    """Jump host and destination log in with different passwords, typed
    at the prompts. max_conns=2 makes the second connection at once from
    what the first learnt: each password goes back to the hop that took
    it (before, the last one typed answered every hop, so the jump host
    got the destination's password and the mount failed)."""
    pw = {'jump': 'Jump-pw-%d' % os.getpid(), 'inner': 'Inner-pw-%d' %
          os.getpid()}
    users = {n: TempUser('rfsh' + n[0], password=pw[n]) for n in pw}
    backing = tempfile.mkdtemp(prefix='rfs-hop-', dir='/tmp')
    try:
        os.chmod(backing, 0o755)
        os.chown(backing, users['inner'].uid, users['inner'].gid)
        blocks = ''
        for name, s, jump in (('jump', hops['jump1'], None),
                              ('inner', hops['inner'], 'jump')):
            b = block(name, s, pj.keys.user_ed25519, pj.kh, jump=jump)
            b = b.replace('User root', 'User %s' % users[name].name)
            b = b.replace('    IdentitiesOnly yes\n',
                          '    IdentitiesOnly yes\n    BatchMode no\n'
                          '    PreferredAuthentications password\n')
            blocks += b
        pj.write(blocks)
        argv = [rfs_bin(), 'inner:' + backing, str(pj.rfs.mnt), '-F',
                pj.cfg, '-f', '-o', 'max_conns=2,xattr']
        drv, m = harness.pty_mount(
            pj.rfs, argv, r"(?im)^(?!rfs: )[^\n]*'s password:[ \t\r]*$",
            [pw['jump'], pw['inner']])
        try:
            assert drv.prompts == 2, drv.output
            assert harness.rfs_stats(m.mnt)['conns'] == 2
            write_file(m.path('by-password'), b'two hops')
            assert read_file(os.path.join(backing, 'by-password')) == \
                b'two hops'
            m.unmount()
        finally:
            drv.close()
        assert pw['jump'] not in m.stderr() + drv.output
        assert pw['inner'] not in m.stderr() + drv.output
    finally:
        shutil.rmtree(backing, ignore_errors=True)
        for u in users.values():
            u.remove()


def test_mount_through_a_master_on_a_jump_chain(pj, hops, remote):
    """A ControlMaster whose connection goes through a jump host (ssh -M
    with the config's ProxyJump): rfs, given the same config (with
    ControlPath), mounts through the master's sessions and logs in
    nowhere itself, neither on the jump host nor on the destination
    (issue 17)."""
    sock = os.path.join(pj.tmp, 'cm.sock')
    cfg = pj.one_jump()
    with open(cfg) as f:
        text = f.read()
    write_file(cfg, text.replace('Host inner\n', 'Host inner\n'
                                 '    ControlPath %s\n' % sock))
    rc, _, err = ssh_run(['/usr/bin/ssh', '-F', cfg, '-M', '-fN', '-o',
                          'ControlPersist=yes', 'inner'])
    assert rc == 0, err
    counts = {n: read_file(s.log).count(b'Accepted publickey')
              for n, s in hops.items()}
    try:
        m = pj.mount()
        assert_mount_works(m, remote)
        assert {n: read_file(s.log).count(b'Accepted publickey')
                for n, s in hops.items()} == counts
        m.unmount()
    finally:
        ssh_run(['/usr/bin/ssh', '-F', cfg, '-O', 'exit', 'inner'])
