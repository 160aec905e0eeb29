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
