"""Host key checking against known_hosts files."""

import os

from harness import (assert_fails, keygen, read_file, read_pub, run,
                     write_file,
                     pty_fail, pty_mount, EXIT_HOSTKEY)

# Each question the host key prompt asks, counted once (the answer is
# echoed after it).
QUESTION = (r"\(yes/no/\[fingerprint\]\)\? |"
            r"Please type 'yes', 'no' or the fingerprint: ")


def fingerprints(sshd):
    """SHA256 fingerprints of the server's host keys."""
    out = []
    for k in sshd.keys.host_keys():
        r = run(['/usr/bin/ssh-keygen', '-l', '-E', 'sha256', '-f',
                 k + '.pub'])
        out.append(r.stdout.split()[1])
    return out


def test_unknown_host_strict(rfs, tmp_path):
    kh = write_file(tmp_path / 'kh', b'')
    res = rfs.run(known_hosts=kh, shkc='yes')
    assert_fails(res, EXIT_HOSTKEY, 'not known', 'SHA256:', mnt=rfs.mnt)
    assert any(fp in res.stderr for fp in fingerprints(rfs.sshd)), res
    assert read_file(kh) == b''


def test_unknown_host_ask_without_terminal(rfs, tmp_path):
    kh = write_file(tmp_path / 'kh', b'')
    res = rfs.run(known_hosts=kh, shkc=None)  # default: ask
    assert_fails(res, EXIT_HOSTKEY, 'no terminal to ask for a confirmation',
                 mnt=rfs.mnt)
    assert read_file(kh) == b''


def test_accept_new(rfs, remote, tmp_path):
    write_file(remote / 'f', b'x')
    kh = write_file(tmp_path / 'kh', b'')
    m = rfs.mount(known_hosts=kh, shkc='accept-new')
    assert os.listdir(m.mnt) == ['f']
    m.unmount()
    host = '[127.0.0.1]:%d' % rfs.sshd.port
    text = read_file(kh).decode()
    assert text.strip(), 'known_hosts still empty'
    r = run(['/usr/bin/ssh-keygen', '-F', host, '-f', kh], check=False)
    assert r.returncode == 0 and r.stdout.strip(), text
    keys = [ln.split()[1:3] for ln in text.splitlines() if ln.strip()]
    served = [ln.split()[:2] for ln in rfs.sshd.host_pub_lines()]
    assert all(k in served for k in keys), 'recorded a key not served'
    m = rfs.mount(known_hosts=kh, shkc='yes')
    assert os.listdir(m.mnt) == ['f']


def changed_known_hosts(rfs, path):
    """known_hosts whose ed25519 entry for our port is another key, on
    line 2 (line 1 is an unrelated host)."""
    other = read_pub(rfs.sshd.keys.other_host_ed25519).split()
    write_file(path, 'unrelated.example %s %s\n[127.0.0.1]:%d %s %s\n' % (
        other[0], other[1], rfs.sshd.port, other[0], other[1]))
    return str(path)


def test_changed_host_key(rfs, tmp_path):
    kh = changed_known_hosts(rfs, tmp_path / 'kh')
    before = read_file(kh)
    res = rfs.run(known_hosts=kh, shkc='yes')
    assert_fails(res, EXIT_HOSTKEY, 'mismatch', kh + ':2', mnt=rfs.mnt)
    # ssh's hint, which removes the stale line
    hint = 'ssh-keygen -f "%s" -R "[127.0.0.1]:%d"' % (kh, rfs.sshd.port)
    assert res.stderr.strip().endswith(hint), res
    for shkc in ('accept-new', None):  # neither may replace a changed key
        res = rfs.run(known_hosts=kh, shkc=shkc)
        assert_fails(res, EXIT_HOSTKEY, 'mismatch', mnt=rfs.mnt)
    assert read_file(kh) == before


def test_changed_host_key_no_checking(rfs, remote, tmp_path):
    write_file(remote / 'f', b'x')
    kh = changed_known_hosts(rfs, tmp_path / 'kh')
    before = read_file(kh)
    m = rfs.mount(known_hosts=kh, shkc='no')
    assert os.listdir(m.mnt) == ['f']
    m.unmount()
    assert 'mismatch' in m.stderr().lower(), m.stderr()
    assert read_file(kh) == before


def test_host_key_alias_is_bare_on_any_port(rfs, remote, tmp_path):
    """HostKeyAlias names host and port together: its known_hosts entry
    is the bare alias even on a port other than 22, as ssh writes and
    reads it (issue 15: rfs looked for "[alias]:port", missed the key ssh
    stored and, with accept-new, trusted whatever came)."""
    write_file(remote / 'f', b'x')
    kh = write_file(tmp_path / 'kh', ''.join(
        'labbox %s\n' % ln for ln in rfs.sshd.host_pub_lines()))
    m = rfs.mount(known_hosts=kh, shkc='yes',
                  extra_o=['HostKeyAlias=labbox'])
    assert os.listdir(m.mnt) == ['f']
    m.unmount()
    # A changed key under the alias is a mismatch, not a new host.
    other = read_pub(rfs.sshd.keys.other_host_ed25519).split()
    write_file(kh, 'labbox %s %s\n' % (other[0], other[1]))
    res = rfs.run(known_hosts=kh, shkc='accept-new',
                  extra_o=['HostKeyAlias=labbox'])
    assert_fails(res, EXIT_HOSTKEY, 'mismatch', 'labbox', mnt=rfs.mnt)
    # accept-new writes the bare alias.
    kh2 = write_file(tmp_path / 'kh2', '')
    m = rfs.mount(known_hosts=kh2, shkc='accept-new',
                  extra_o=['HostKeyAlias=labbox'])
    m.unmount()
    assert read_file(kh2).split()[0] == b'labbox', read_file(kh2)


def test_what_rfs_cannot_check_is_not_trusted(rfs, remote, tmp_path):
    """A host vouched for by a @cert-authority line, a KnownHostsCommand,
    a server that offers a key type other than the ones known: rfs cannot
    check the first two, and none of them may fall back to trusting the
    offered key on first use (issue 15). The known_hosts file is left as
    it was."""
    write_file(remote / 'f', b'x')
    ca = read_pub(rfs.sshd.keys.other_host_ed25519).split()
    cases = [
        ('@cert-authority [127.0.0.1]:%d %s %s\n' % (
            rfs.sshd.port, ca[0], ca[1]), [], 'certificate authority'),
        ('', ['KnownHostsCommand=/bin/true'], 'knownhostscommand is not'),
    ]
    ecdsa = keygen(str(tmp_path / 'ecdsa'), 'ecdsa')
    other = read_pub(ecdsa).split()
    cases.append(('[127.0.0.1]:%d %s %s\n' % (rfs.sshd.port, other[0],
                                               other[1]), [],
                  'keys of other types are'))
    for i, (text, opts, needle) in enumerate(cases):
        kh = write_file(tmp_path / ('kh%d' % i), text)
        for shkc in ('accept-new', 'yes'):
            res = rfs.run(known_hosts=kh, shkc=shkc, extra_o=opts)
            assert_fails(res, EXIT_HOSTKEY, needle, mnt=rfs.mnt)
        assert read_file(kh) == text.encode()
    # With the host's own key known, a KnownHostsCommand is no bother.
    m = rfs.mount(extra_o=['KnownHostsCommand=/bin/true'])
    m.unmount()


def test_revoked_host_keys_file(rfs, remote, tmp_path):
    """RevokedHostKeys: a file of public keys is honoured; a KRL, which
    rfs cannot read, refuses the connection instead of being ignored."""
    write_file(remote / 'f', b'x')
    unrelated = write_file(tmp_path / 'unrelated',
                           read_pub(rfs.sshd.keys.other_host_ed25519))
    m = rfs.mount(extra_o=['RevokedHostKeys=' + unrelated])
    m.unmount()
    revoked = write_file(tmp_path / 'revoked', ''.join(
        '# revoked\n%s\n' % ln for ln in rfs.sshd.host_pub_lines()))
    res = rfs.run(extra_o=['RevokedHostKeys=' + revoked])
    assert_fails(res, EXIT_HOSTKEY, 'revoked', mnt=rfs.mnt)
    krl = str(tmp_path / 'krl')
    run(['/usr/bin/ssh-keygen', '-q', '-k', '-f', krl,
         rfs.sshd.keys.other_host_ed25519 + '.pub'])
    res = rfs.run(extra_o=['RevokedHostKeys=' + krl])
    assert_fails(res, EXIT_HOSTKEY, 'revocation list', mnt=rfs.mnt)


def test_revoked_host_key(rfs, tmp_path):
    good = rfs.sshd.known_hosts_text()
    revoked = ''.join('@revoked ' + ln + '\n' for ln in good.splitlines())
    kh = write_file(tmp_path / 'kh', good + revoked)
    res = rfs.run(known_hosts=kh, shkc='yes')
    assert_fails(res, EXIT_HOSTKEY, 'revoked', mnt=rfs.mnt)
    res = rfs.run(known_hosts=kh, shkc='no')  # revoked means never
    assert_fails(res, EXIT_HOSTKEY, 'revoked', mnt=rfs.mnt)


def test_hashed_known_hosts(rfs, remote, tmp_path):
    write_file(remote / 'f', b'x')
    kh = rfs.sshd.write_known_hosts(tmp_path / 'kh')
    run(['/usr/bin/ssh-keygen', '-H', '-f', kh])
    text = read_file(kh).decode()
    assert '127.0.0.1' not in text and text.startswith('|1|'), text
    m = rfs.mount(known_hosts=kh, shkc='yes')
    assert os.listdir(m.mnt) == ['f']


# -- the question: yes, no, or the fingerprint pasted ----------------------

def ed25519_fp(sshd):
    r = run(['/usr/bin/ssh-keygen', '-l', '-E', 'sha256', '-f',
             sshd.keys.host_ed25519 + '.pub'])
    return r.stdout.split()[1]


def ask_argv(rfs, kh):
    """StrictHostKeyChecking=ask, the server's ed25519 key only."""
    return rfs.argv(known_hosts=kh, shkc='ask',
                    extra_o=['HostKeyAlgorithms=ssh-ed25519'])


def recorded(rfs, kh):
    r = run(['/usr/bin/ssh-keygen', '-F', '[127.0.0.1]:%d' % rfs.sshd.port,
             '-f', kh], check=False)
    return r.returncode == 0 and \
        read_pub(rfs.sshd.keys.host_ed25519).split()[1] in r.stdout


def test_ask_pasted_fingerprint(rfs, remote, tmp_path):
    write_file(remote / 'f', b'x')
    kh = write_file(tmp_path / 'kh', b'')
    fp = ed25519_fp(rfs.sshd)
    drv, m = pty_mount(rfs, ask_argv(rfs, kh), QUESTION, [' %s ' % fp])
    try:
        assert os.listdir(m.mnt) == ['f']
        assert drv.prompts == 1, drv.output
        assert "The authenticity of host '[127.0.0.1]:%d' can't be " \
            "established.\r\nED25519 key fingerprint is %s." % (
                rfs.sshd.port, fp) in drv.output, drv.output
        m.unmount()  # before the terminal hangs up
    finally:
        drv.close()
    assert recorded(rfs, kh), read_file(kh)


def test_ask_wrong_fingerprint_asked_again(rfs, remote, tmp_path):
    write_file(remote / 'f', b'x')
    kh = write_file(tmp_path / 'kh', b'')
    wrong = 'SHA256:' + 'A' * 43
    drv, m = pty_mount(rfs, ask_argv(rfs, kh), QUESTION,
                       [wrong, 'maybe', 'yes'])
    try:
        assert os.listdir(m.mnt) == ['f']
        assert drv.prompts == 3, drv.output
        out = drv.output.replace('\r', '')
        assert out.count('%s\nWarning: the fingerprint does not match.\n'
                         "Please type 'yes', 'no' or the fingerprint: "
                         'maybe\n' % wrong) == 1, drv.output
        assert out.count("Please type 'yes', 'no' or the fingerprint: ") \
            == 2, drv.output
        m.unmount()  # before the terminal hangs up
    finally:
        drv.close()
    assert recorded(rfs, kh), read_file(kh)


def test_ask_no(rfs, tmp_path):
    kh = write_file(tmp_path / 'kh', b'')
    drv, rc = pty_fail(rfs, ask_argv(rfs, kh), QUESTION, ['no'])
    assert rc == EXIT_HOSTKEY, drv.output
    assert drv.prompts == 1, drv.output
    lines = [ln.strip() for ln in drv.output.splitlines() if ln.strip()]
    assert lines[-1] == ('rfs: host key for [127.0.0.1]:%d is not known '
                         '(ED25519 %s) and was not accepted' % (
                             rfs.sshd.port, ed25519_fp(rfs.sshd))), lines
    assert read_file(kh) == b''


def test_ask_through_askpass(rfs, remote, tmp_path):
    """No terminal, SSH_ASKPASS_REQUIRE=force: the question goes to the
    askpass program, whose answer may be the fingerprint."""
    write_file(remote / 'f', b'x')
    kh = write_file(tmp_path / 'kh', b'')
    rec = tmp_path / 'askpass.args'
    prog = write_file(tmp_path / 'askpass',
                      "#!/bin/sh\nprintf '%%s' \"$1\" > '%s'\necho %s\n" % (
                          rec, ed25519_fp(rfs.sshd)), mode=0o755)
    env = dict(rfs.env, SSH_ASKPASS=prog, SSH_ASKPASS_REQUIRE='force')
    m = rfs.start(ask_argv(rfs, kh), env=env)
    assert os.listdir(m.mnt) == ['f']
    assert read_file(rec).decode().endswith(
        'Are you sure you want to continue connecting '
        '(yes/no/[fingerprint])? ')
    assert recorded(rfs, kh), read_file(kh)
