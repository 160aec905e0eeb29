"""Small files fetched ahead: a program reading a directory's files one
after another (in sorted order, as cat * and git do, or in the listing's
order, as grep -r and find do) finds the next ones' content already here;
every open still revalidates, so a file changed since is read anew."""

import os
import re
import time

from harness import round_trips, sftp_requests

OPEN, READ, LSTAT = 3, 5, 7


def make_files(remote, n, size=lambda i: 1000 + 37 * i, prefix='f'):
    names = []
    for i in range(n):
        name = '%s%03d' % (prefix, i)
        (remote / name).write_bytes(bytes([65 + i % 26]) * size(i))
        names.append(name)
    return names


def fetched(log, parts=1):
    """Names (their last parts components) whose content an open found
    fetched ahead (the -d log)."""
    return ['/'.join(p.split('/')[-parts:]) for p in
            re.findall(r'ahead: (\S+): \d+ bytes fetched ahead', log)]


def read_all(m, names, remote):
    for n in names:
        with open(m.path(n), 'rb') as f:
            assert f.read() == (remote / n).read_bytes(), n


def slow_mount(rfs, proxied, extra_o=()):
    proxy, kh = proxied
    m = rfs.mount(port=proxy.port, known_hosts=kh, extra_args=['-d'],
                  extra_o=list(extra_o))
    proxy.delay(5)      # 10 ms round trips: requests sent together count
    return m            # as one round trip, exactly


def test_sorted_walk_reads_each_file_once_in_one_round_trip(
        rfs, proxied, remote):
    names = make_files(remote, 40)
    m = slow_mount(rfs, proxied)
    assert sorted(os.listdir(m.mnt)) == names
    before = len(m.stderr())
    read_all(m, names, remote)
    log = m.stderr()[before:]
    reqs = sftp_requests(log)
    types = [t for t, _, _ in reqs]
    # Each file opened and read once, by the program or ahead of it.
    assert types.count(OPEN) == 40 and types.count(READ) == 40, types
    assert len(fetched(log)) >= 36, log
    # Close-to-open: one LSTAT round trip per open, the data on the way
    # (two round trips a file without fetching ahead).
    assert round_trips(reqs) <= 40 + 6, round_trips(reqs)


def test_listing_order_walk(rfs, proxied, remote):
    """grep -r and find go in readdir order, which is no sorted order."""
    names = make_files(remote, 30, prefix='g')
    m = slow_mount(rfs, proxied)
    listed = os.listdir(m.mnt)
    order = [n for n in listed if n.startswith('g')]
    if order == sorted(order):      # ext4's hash order: practically never
        order = order[::2] + order[1::2]
    before = len(m.stderr())
    read_all(m, order, remote)
    log = m.stderr()[before:]
    types = [t for t, _, _ in sftp_requests(log)]
    assert types.count(READ) == 30, types
    if order == [n for n in listed if n.startswith('g')]:
        assert len(fetched(log)) >= 26, log


def test_revalidate_window_walk_needs_no_round_trip_per_file(
        rfs, proxied, remote):
    names = make_files(remote, 60)
    m = slow_mount(rfs, proxied, ['revalidate_window=2000'])
    os.listdir(m.mnt)
    before = len(m.stderr())
    read_all(m, names, remote)
    reqs = sftp_requests(m.stderr()[before:])
    # OPEN+LSTAT, READ+CLOSE for 32 files at a time: a few round trips
    # for all 60, where each file took two.
    assert round_trips(reqs) <= 15, round_trips(reqs)


def test_file_changed_after_fetch_is_read_anew(rfs, proxied, remote):
    names = make_files(remote, 12)
    m = slow_mount(rfs, proxied)
    os.listdir(m.mnt)
    read_all(m, names[:2], remote)      # the walk starts: the rest comes
    time.sleep(0.5)
    (remote / names[6]).write_bytes(b'changed on the server')
    st = os.stat(remote / names[7])
    (remote / names[7]).write_bytes(b'Z' * st.st_size)     # same size,
    os.utime(remote / names[7], (st.st_atime, st.st_mtime + 5))  # new mtime
    before = len(m.stderr())
    read_all(m, names[2:], remote)
    got = fetched(m.stderr()[before:])
    assert names[5] in got and names[8] in got, got
    assert names[6] not in got and names[7] not in got, got


def test_own_write_after_fetch_is_read(rfs, proxied, remote):
    names = make_files(remote, 12, size=lambda i: 3000)
    m = slow_mount(rfs, proxied)
    os.listdir(m.mnt)
    read_all(m, names[:2], remote)
    time.sleep(0.5)
    with open(m.path(names[5]), 'r+b') as f:    # same size, same second
        f.write(b'W' * 3000)
    before = len(m.stderr())
    read_all(m, names[2:], remote)
    assert (remote / names[5]).read_bytes() == b'W' * 3000
    got = fetched(m.stderr()[before:])
    assert names[4] in got and names[5] not in got, got


def test_big_files_in_a_walk_are_read_as_usual(rfs, proxied, remote):
    names = make_files(remote, 10,
                       size=lambda i: 200000 if i % 3 == 0 else 2000 + i)
    m = slow_mount(rfs, proxied)
    os.listdir(m.mnt)
    before = len(m.stderr())
    read_all(m, names, remote)
    got = fetched(m.stderr()[before:])
    assert not set(got) & set(names[::3]), got
    assert set(names[4:]) - set(names[::3]) <= set(got), got


def untar_round_trips(m, tmp_path, into, nfiles):
    """Untar nfiles small files into `into` (under the mount); the
    round trips it took, by the -d log."""
    import io
    import subprocess
    import tarfile
    tar = tmp_path / 'x.tar'
    with tarfile.open(tar, 'w') as t:
        for i in range(nfiles):
            data = bytes([97 + i % 26]) * (1000 + 100 * i)
            ti = tarfile.TarInfo('d/f%02d' % i)
            ti.size, ti.mode = len(data), 0o644
            t.addfile(ti, io.BytesIO(data))
    before = len(m.stderr())
    subprocess.run(['tar', 'xf', str(tar), '-C', into], check=True)
    return round_trips(sftp_requests(m.stderr()[before:]))


def test_untar_into_a_new_directory_two_round_trips_a_file(
        rfs, proxied, tmp_path):
    """tar makes the directory, then per file: OPEN+LSTAT (the create),
    WRITE and the setattrs behind it, answered at close. No lookup: the
    directory is this mount's, its every name known."""
    m = slow_mount(rfs, proxied)
    os.mkdir(m.path('d'))
    rts = untar_round_trips(m, tmp_path, m.mnt, 20)
    assert rts <= 2 * 20 + 4, rts


def test_untar_into_a_listed_directory_with_revalidate_window(
        rfs, proxied, remote, tmp_path):
    """A listing fetched within revalidate_window answers that a name is
    missing: no LSTAT round trip before each create."""
    (remote / 'd').mkdir()
    (remote / 'd' / 'old').write_bytes(b'x')
    m = slow_mount(rfs, proxied, ['revalidate_window=5000'])
    os.listdir(m.path('d'))
    # (within cache_negative_timeout, 1 s, too: 10 files in 0.2 s)
    rts = untar_round_trips(m, tmp_path, m.mnt, 10)
    assert rts <= 2 * 10 + 4, rts


def test_sorted_walk_goes_on_into_the_next_directory(rfs, proxied, remote):
    """git reads its files sorted by path: d0/*, then d1/*, ... The walk
    that reaches the end of d0 fetches d1's listing and first files."""
    paths = []
    for d in range(4):
        (remote / ('d%d' % d)).mkdir()
        for i in range(5):
            p = 'd%d/f%d' % (d, i)
            (remote / p).write_bytes(p.encode() * (100 + i))
            paths.append(p)
    m = slow_mount(rfs, proxied)
    os.listdir(m.mnt)
    os.listdir(m.path('d0'))
    before = len(m.stderr())
    for p in paths:
        os.stat(m.path(p))          # as git: lstat, then open and read
        with open(m.path(p), 'rb') as f:
            assert f.read() == (remote / p).read_bytes(), p
    got = set(fetched(m.stderr()[before:], 2))
    # all but the two opens that showed the walk
    assert set(paths[2:]) <= got, sorted(got)


def test_replaced_by_rename_with_same_size_and_mtime(rfs, proxied, remote):
    """An editor saves by writing a new file and renaming it over the old
    one; same size, same mtime second: what was fetched of the old one
    must not be shown."""
    names = make_files(remote, 12, size=lambda i: 3000)
    m = slow_mount(rfs, proxied)
    os.listdir(m.mnt)
    read_all(m, names[:2], remote)      # the walk: the rest is fetched
    time.sleep(0.5)
    st = os.stat(m.path(names[5]))
    with open(m.path('new.tmp'), 'wb') as f:
        f.write(b'T' * 3000)
    os.utime(m.path('new.tmp'), (st.st_atime, st.st_mtime))
    os.rename(m.path('new.tmp'), m.path(names[5]))
    before = len(m.stderr())
    read_all(m, names[2:], remote)
    assert (remote / names[5]).read_bytes() == b'T' * 3000
    got = fetched(m.stderr()[before:])
    assert names[4] in got and names[5] not in got, got
