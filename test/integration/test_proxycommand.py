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
