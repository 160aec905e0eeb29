"""Interoperability of every cipher and MAC that rfs's libssh2 and OpenSSH's
sshd share, each through its own mount: a file read from the server and one
written to it, sha256 checked. The bundled libssh2 en/decrypts whole packets
and has its own ChaCha20-Poly1305 code path (contrib/libssh2): a wrong tag,
counter or length there shows up here as a failed handshake, a MAC error
or different bytes.

64 MiB each way for each cipher (with the first MAC libssh2 offers where
it needs one) and for each MAC (with aes128-ctr): about 30 s in all on two
cores. sshd's log names what was negotiated."""

import hashlib
import os
import re

import pytest

from harness import Sshd

MIB = 1024 * 1024
SIZE = 64 * MIB

# What libssh2 1.11.1 offers (rfs -G) that OpenSSH 9.2's sshd accepts when
# configured to: the defaults of both and the CBC ones.
CIPHERS = ['chacha20-poly1305@openssh.com',
           'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com',
           'aes128-ctr', 'aes192-ctr', 'aes256-ctr',
           'aes128-cbc', 'aes192-cbc', 'aes256-cbc', '3des-cbc']
MACS = ['hmac-sha2-256', 'hmac-sha2-512',
        'hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com',
        'hmac-sha1', 'hmac-sha1-etm@openssh.com',
        'hmac-sha1-96', 'hmac-md5', 'hmac-md5-96']


@pytest.fixture(scope='module')
def algs_sshd(keys):
    """An sshd that accepts all of the above."""
    s = Sshd(keys, extra_config=['Ciphers ' + ','.join(CIPHERS),
                                 'MACs ' + ','.join(MACS)]).start()
    try:
        yield s
    finally:
        s.cleanup()


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """A file of random bytes to read through the mounts: (path, sha256)."""
    path = tmp_path_factory.mktemp('ciphers') / 'src.bin'
    data = os.urandom(SIZE)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            b = f.read(MIB)
            if not b:
                return h.hexdigest()
            h.update(b)


def round_trip(rfs, sshd, source, cipher, mac):
    """Mount with only cipher (and mac) offered; read the source, write as
    much; check both and what sshd negotiated."""
    src, src_sha = source
    rfs.use(sshd)
    os.link(src, rfs.remote / 'src.bin')
    opts = ['Ciphers=' + cipher] + (['MACs=' + mac] if mac else [])
    m = rfs.mount(extra_o=opts)

    assert sha256_file(m.path('src.bin')) == src_sha, \
        '%s %s: the bytes read differ' % (cipher, mac)

    data = os.urandom(SIZE)
    fd = os.open(m.path('up.bin'), os.O_CREAT | os.O_WRONLY | os.O_TRUNC,
                 0o644)
    try:
        view = memoryview(data)
        for off in range(0, SIZE, MIB):
            assert os.write(fd, view[off:off + MIB]) == MIB
        os.fsync(fd)
    finally:
        os.close(fd)
    m.unmount()
    assert sha256_file(rfs.remote / 'up.bin') == \
        hashlib.sha256(data).hexdigest(), \
        '%s %s: the bytes written differ' % (cipher, mac)

    # Each direction has its line: "kex: client->server cipher: X MAC: Y"
    with open(sshd.log, errors='replace') as f:
        log = f.read()
    for way in ('client->server', 'server->client'):
        got = re.findall(r'kex: %s cipher: (\S+) MAC: (\S+)' % way, log)
        assert got, 'no %s kex line in the sshd log' % way
        assert got[-1][0] == cipher, got[-1]
        if mac:
            assert got[-1][1] == mac, got[-1]


@pytest.mark.timeout_s(120)
@pytest.mark.parametrize('cipher', CIPHERS)
def test_cipher(rfs, algs_sshd, source, cipher):
    round_trip(rfs, algs_sshd, source, cipher, None)


@pytest.mark.timeout_s(120)
@pytest.mark.parametrize('mac', MACS)
def test_mac(rfs, algs_sshd, source, mac):
    round_trip(rfs, algs_sshd, source, 'aes128-ctr', mac)
