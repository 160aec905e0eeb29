"""ProxyCommand: rfs runs the command with a socketpair as its stdin and
stdout and speaks SSH through it (here the classic `ssh -W %h:%p`), stops
it by PID on unmount, and refuses to put a suspicious host name into the
shell command."""

import os

from harness import find_pids_with_arg, wait_for, write_file, read_file


def proxy_config(rfs, sshd, tmp_path, host='127.0.0.1'):
    cfg = tmp_path / 'proxy.conf'
    marker = str(tmp_path / 'proxy-marker')
    cfg.write_text(
        'Host viaproxy\n'
        '  HostName %s\n'
        '  ProxyCommand /usr/bin/ssh -F /dev/null -i %s -o IdentitiesOnly=yes'
        ' -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes'
        ' -o BatchMode=yes -o SetEnv=RFS_MARK=%s -p %%p root@%%h -W %%h:%%p\n'
        % (host, sshd.keys.user_ed25519, sshd.known_hosts, marker))
    return str(cfg), marker


def test_mount_through_proxycommand(rfs, sshd, remote, tmp_path):
    cfg, marker = proxy_config(rfs, sshd, tmp_path)
    m = rfs.mount(host='viaproxy', config=cfg)
    write_file(os.path.join(m.mnt, 'via-proxy.txt'), b'through ssh -W\n')
    assert read_file(str(remote / 'via-proxy.txt')) == b'through ssh -W\n'
    # The proxy is a child of rfs, found by its unique argument.
    pids = find_pids_with_arg('SetEnv=RFS_MARK=' + marker)
    assert pids, 'no ProxyCommand process while mounted'
    m.unmount()
    assert wait_for(lambda: not find_pids_with_arg(
        'SetEnv=RFS_MARK=' + marker), 5), 'ProxyCommand left running'


def test_proxycommand_refuses_shell_metacharacters(rfs, sshd, tmp_path):
    cfg = tmp_path / 'bad.conf'
    cfg.write_text('Host evil\n  HostName a;touch${IFS}%s\n'
                   '  ProxyCommand /bin/echo %%h\n'
                   % (tmp_path / 'pwned'))
    r = rfs.run(host='evil', config=str(cfg))
    assert r.rc != 0
    assert 'ProxyCommand' in r.stderr or 'host' in r.stderr.lower()
    assert not (tmp_path / 'pwned').exists()


def test_proxycommand_tokens(rfs, sshd, tmp_path):
    """ProxyCommand's %-tokens go through conf's one expander: an unknown
    token or a lone '%' at the end is a usage error (exit 1) naming it,
    and nothing runs."""
    marker = tmp_path / 'ran'
    for cmd, msg in (('%z', "ProxyCommand: unknown token '%z'"),
                     ('%', "ProxyCommand: '%' at the end of")):
        cfg = tmp_path / 'tokens.conf'
        cfg.write_text('Host tok\n  HostName 127.0.0.1\n'
                       '  ProxyCommand /usr/bin/touch %s %%h %s\n'
                       % (marker, cmd))
        r = rfs.run(host='tok', config=str(cfg))
        assert r.rc == 1, r.stderr
        assert msg in r.stderr
        assert not marker.exists()


STUBBORN_PROXY = r'''
import os, select, signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
fds = {0: s.fileno(), s.fileno(): 1}
while True:
    r, _, _ = select.select(list(fds), [], [])
    data = os.read(r[0], 65536)
    if not data:
        break
    os.write(fds[r[0]], data)
while True:         # a proxy that neither ends at EOF nor at SIGTERM
    time.sleep(1)
'''


def test_stubborn_proxycommand_is_killed(rfs, sshd, remote, tmp_path):
    """A ProxyCommand that ignores SIGTERM and stays after EOF: unmounting
    ends rfs all the same (issue 16: rfs waited for it forever), and the
    proxy is killed by PID."""
    proxy = write_file(tmp_path / 'stubborn.py', STUBBORN_PROXY)
    cfg = tmp_path / 'stubborn.conf'
    cfg.write_text('Host stubborn\n  HostName 127.0.0.1\n'
                   '  ProxyCommand /usr/bin/python3 %s %%h %%p\n' % proxy)
    m = rfs.mount(host='stubborn', config=str(cfg))
    write_file(os.path.join(m.mnt, 'f'), b'via a stubborn proxy\n')
    assert read_file(str(remote / 'f')) == b'via a stubborn proxy\n'
    pids = find_pids_with_arg(str(proxy))
    assert pids, 'no ProxyCommand process while mounted'
    m.unmount()
    assert wait_for(lambda: not find_pids_with_arg(str(proxy)), 5), \
        'ProxyCommand left running'
