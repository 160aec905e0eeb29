"""Data integrity: 64 MiB written at random offsets, read back at random
offsets; the mount, the server-side file and the expected data agree."""

import hashlib
import os
import random

import pytest

SIZE = 64 * 1024 * 1024


def random_chunks(rnd, size, lo=512 * 1024, hi=1536 * 1024):
    """Cover [0, size) with chunks of random length, in random order."""
    chunks, off = [], 0
    while off < size:
        n = min(rnd.randrange(lo, hi), size - off)
        chunks.append((off, n))
        off += n
    rnd.shuffle(chunks)
    return chunks


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


@pytest.mark.timeout_s(240)
def test_random_offsets_64mib(rfs, remote):
    rnd = random.Random(20240601)
    data = rnd.randbytes(SIZE)
    want = hashlib.sha256(data).hexdigest()
    m = rfs.mount()
    fd = os.open(m.path('big.bin'), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        for off, n in random_chunks(rnd, SIZE):
            assert os.pwrite(fd, data[off:off + n], off) == n
        os.fsync(fd)
        assert os.fstat(fd).st_size == SIZE
        got = bytearray(SIZE)
        for off, n in random_chunks(rnd, SIZE, 100 * 1024, 2048 * 1024):
            b = os.pread(fd, n, off)
            assert len(b) == n, 'short read at %d' % off
            got[off:off + n] = b
        assert hashlib.sha256(got).hexdigest() == want
    finally:
        os.close(fd)
    del got
    assert os.stat(remote / 'big.bin').st_size == SIZE
    assert sha256_file(remote / 'big.bin') == want
    assert sha256_file(m.path('big.bin')) == want


SMALL_APPEND = r'''
import sys
with open(sys.argv[1], 'a') as f:
    f.write('x\n')
'''


@pytest.mark.timeout_s(240)
def test_small_write_beside_large_writers(rfs, remote, proxied):
    """Eight files written at full speed fill the mount's write budget (32
    MiB) with their own writes; a two-byte append to another file then
    must be answered: it has nothing in flight whose completion would
    wake it (issue 16: it waited forever)."""
    import subprocess
    import sys
    import time
    p, kh = proxied
    p.delay(25)
    m = rfs.mount(port=p.port, known_hosts=kh)
    writers = [subprocess.Popen(
        ['dd', 'if=/dev/zero', 'of=%s' % m.path('big%d' % i), 'bs=1M',
         'count=32', 'status=none']) for i in range(8)]
    small = []
    try:
        while any(w.poll() is None for w in writers) and len(small) < 40:
            small.append(subprocess.Popen(
                [sys.executable, '-c', SMALL_APPEND, m.path('small')]))
            time.sleep(0.1)
        for w in writers:
            assert w.wait(timeout=180) == 0
        for s in small:
            assert s.wait(timeout=20) == 0, 'a small append hung'
    finally:
        for x in writers + small:
            if x.poll() is None:
                x.kill()
                x.wait()
    assert (remote / 'small').read_bytes() == b'x\n' * len(small)
    for i in range(8):
        assert os.path.getsize(remote / ('big%d' % i)) == 32 << 20
    m.unmount()
