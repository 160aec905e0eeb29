"""Which remote directory gets mounted: home by default, relative paths
against home."""

import os
import pwd
import shutil
import tempfile

from harness import read_file, write_file

ROOT_HOME = pwd.getpwnam('root').pw_dir


def test_default_is_home(rfs):
    m = rfs.mount(remote_path=None)  # "127.0.0.1:"
    # Other programs may add or remove files in root's home meanwhile:
    # names present before and after must show, and nothing else may.
    before = set(os.listdir(ROOT_HOME))
    got = os.listdir(m.mnt)
    after = set(os.listdir(ROOT_HOME))
    assert len(got) == len(set(got))
    assert before & after <= set(got) <= before | after, (
        sorted(set(got) ^ after))
    assert len(before & after) > 0
    st = os.stat(m.mnt)
    assert st.st_mode == os.stat(ROOT_HOME).st_mode


def test_relative_path_is_under_home(rfs):
    d = tempfile.mkdtemp(prefix='rfs-it-rel-', dir=ROOT_HOME)
    try:
        write_file(os.path.join(d, 'marker'), b'relative')
        m = rfs.mount(remote_path=os.path.basename(d))
        assert os.listdir(m.mnt) == ['marker']
        assert read_file(m.path('marker')) == b'relative'
        write_file(m.path('back'), b'written')
        m.unmount()
        assert read_file(os.path.join(d, 'back')) == b'written'
    finally:
        shutil.rmtree(d)


def test_symlinks_kept_inside_the_mount(mount, remote):
    """A server's absolute symlink must not lead to the client's own
    files: by default the target shown stays inside the mount (an
    absolute target inside the mounted directory becomes the relative
    path to it); symlinks=raw shows what the server has."""
    base = str(remote)
    (remote / 'd').mkdir()
    (remote / 'd' / 'file').write_bytes(b'inside')
    os.symlink(base + '/d/file', str(remote / 'abs_inside'))
    os.symlink('/etc/passwd', str(remote / 'd' / 'abs_outside'))
    os.symlink('file', str(remote / 'd' / 'rel_inside'))
    m = mount()
    assert os.readlink(m.path('abs_inside')) == 'd/file'
    assert open(m.path('abs_inside'), 'rb').read() == b'inside'
    assert os.readlink(m.path('d', 'rel_inside')) == 'file'
    for name in ('abs_outside',):
        shown = os.readlink(m.path('d', name))
        resolved = os.path.realpath(m.path('d', name))
        assert resolved.startswith(m.mnt + '/'), (name, shown, resolved)
        assert not os.path.exists(m.path('d', name))   # not the client's
    m.unmount()
    m = mount(extra_o=['symlinks=raw'])
    assert os.readlink(m.path('d', 'abs_outside')) == '/etc/passwd'
    assert os.readlink(m.path('abs_inside')) == base + '/d/file'


def test_relative_symlinks_kept_inside_the_mount(mount, remote):
    """A relative target that climbs above the mount root is kept inside
    like an absolute one (issue 15): followed through the mount it never
    reaches the client's own /etc/passwd. Also when the climb goes
    through a symlinked directory the server controls. Relative targets
    that stay inside are shown as they are."""
    (remote / 'a' / 'b').mkdir(parents=True)
    (remote / 'a' / 'file').write_bytes(b'inside')
    climbs = {
        'a/b/esc': '../../../../../../../../../etc/passwd',
        'top': '../etc/passwd',
        'a/b/deep': '../../..//./../etc/passwd',
        # sub is shown as the mount root; .. from there would climb out
        'a/b/via_sub': 'sub/../../../../etc/passwd',
    }
    os.symlink('/', str(remote / 'a' / 'b' / 'sub'))
    for name, target in climbs.items():
        os.symlink(target, str(remote / name))
    os.symlink('../file', str(remote / 'a' / 'b' / 'up_inside'))
    os.symlink('./../b/../file', str(remote / 'a' / 'b' / 'dotted'))
    m = mount()
    for name in climbs:
        shown = os.readlink(m.path(name))
        resolved = os.path.realpath(m.path(name))
        assert resolved.startswith(m.mnt + '/'), (name, shown, resolved)
        assert not os.path.exists(m.path(name)), (name, shown)
    assert os.readlink(m.path('a', 'b', 'up_inside')) == '../file'
    assert open(m.path('a', 'b', 'up_inside'), 'rb').read() == b'inside'
    assert open(m.path('a', 'b', 'dotted'), 'rb').read() == b'inside'
    assert os.path.realpath(m.path('a', 'b', 'dotted')) == m.path('a', 'file')
    m.unmount()
    m = mount(extra_o=['symlinks=raw'])
    assert os.readlink(m.path('a', 'b', 'esc')) == climbs['a/b/esc']


def test_server_names_reach_the_terminal_escaped(mount, remote):
    """A name the server has goes into rfs's messages (here -d's line for
    a file fetched ahead) with its control characters escaped, as
    OpenSSH shows server text: an escape sequence in a name must not
    clear the terminal or retitle the window of whoever runs rfs."""
    evil = 'f05\x1b[2J\x1b]0;pwned\x07'
    for i in range(10):
        (remote / ('f%02d' % i)).write_bytes(b'x' * 100)
    (remote / evil).write_bytes(b'y' * 100)
    m = mount(extra_args=['-d'])
    for name in sorted(os.listdir(m.mnt)):     # a walk: fetched ahead
        with open(m.path(name), 'rb') as f:
            f.read()
    log = m.stderr()
    assert '\\033[2J\\033]0;pwned\\007' in log, log[-2000:]
    assert '\x1b' not in log and '\x07' not in log


def test_symlinks_option_rejects_bad_value(rfs):
    from harness import assert_fails, EXIT_USAGE
    res = rfs.run(extra_o=['symlinks=sometimes'])
    assert_fails(res, EXIT_USAGE, 'symlinks', mnt=rfs.mnt)
