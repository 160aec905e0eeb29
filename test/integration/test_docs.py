"""The man page, --help and the bash completion agree with the code."""

import os
import re
import subprocess

import pytest

from harness import rfs_bin

SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MAN = os.path.join(SRCDIR, 'doc', 'rfs.1')
COMPLETION = os.path.join(SRCDIR, 'contrib', 'bash-completion', 'rfs')


def help_text():
    r = subprocess.run([rfs_bin(), '--help'], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout


def man_text():
    """The page as man renders it, in plain ASCII."""
    env = dict(os.environ, LC_ALL='C.UTF-8', MANROFFSEQ='', MANWIDTH='200',
               MAN_KEEP_FORMATTING='')
    r = subprocess.run(['man', '-E', 'ascii', '-l', MAN], capture_output=True,
                       text=True, timeout=30, env=env)
    assert r.returncode == 0, r.stderr
    text = re.sub(r'.\x08', '', r.stdout)  # overstrike bold/underline
    return re.sub(r'-\n\s*', '-', text)


def test_man_page_renders_without_warnings():
    env = dict(os.environ, LC_ALL='C.UTF-8', MANROFFSEQ='', MANWIDTH='80')
    r = subprocess.run(['man', '--warnings', '-E', 'UTF-8', '-l', MAN],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stderr == '', r.stderr
    assert len(r.stdout.splitlines()) > 100


def help_options(text):
    """Every option --help names: -x flags, --long ones, and NAME= / NAME
    words of the -o lists."""
    opts = set(re.findall(r'(?<![\w-])(--?[A-Za-z][\w-]*)', text))
    for line in text.splitlines():
        m = re.match(r'\s{2}([a-z_][a-z_]*(=|\b))', line)
        if m and not line.strip().startswith(('exit', 'unmount')):
            opts.add(m.group(1))
        for w in re.findall(r'\b([A-Za-z_][\w]*=)', line):
            opts.add(w)
    # Words of the FUSE / mount(8) option lists.
    for block in re.findall(r'(?:FUSE options|mount\(8\) options)[^:]*:'
                            r'([^\n]*\n(?:  .*\n)+)', text):
        for w in re.split(r'[\s,]+', block):
            if re.fullmatch(r'[a-z_]+=?', w):
                opts.add(w)
    return opts


def test_every_help_option_in_man_page():
    man = man_text()
    opts = help_options(help_text())
    assert {'-o', '-f', 'idmap=', 'loglevel=', 'allow_other',
            'no_default_permissions', 'ssh_config='} <= opts, sorted(opts)
    # ssh_config keywords are listed by name (".BR Compression ,").
    missing = sorted(o for o in opts if o not in man and not (
        o[0].isupper() and o.endswith('=') and o[:-1] in man))
    assert not missing, 'in rfs --help but not in rfs(1): %s' % missing


def test_man_page_sections():
    man = man_text()
    for section in ('SYNOPSIS', 'OPTIONS', 'EXIT STATUS', 'FILES',
                    'SEE ALSO', 'fstab', 'systemd', 'mount.rfs',
                    'user.rfs.stats', 'SIGUSR1', 'NOTIFY_SOCKET'):
        assert section in man, section


def test_bash_completion(tmp_path):
    ssh = tmp_path / '.ssh'
    (ssh / 'conf.d').mkdir(parents=True)
    (ssh / 'config').write_text('Host work-ens lab\n  HostName x\n'
                                'Host *.corp !bad\nInclude conf.d/*.conf\n')
    (ssh / 'conf.d' / 'a.conf').write_text('Host included\n')
    script = '''
source "$1"
show() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _rfs;
         echo "${COMPREPLY[*]}"; }
show rfs ""
show rfs me@w
show rfs -o IdentityFile=x,allow_o
show rfs -o logl
show rfs --he
'''
    r = subprocess.run(['bash', '-c', script, 'bash', COMPLETION],
                       capture_output=True, text=True, timeout=10,
                       env={'HOME': str(tmp_path), 'PATH': '/usr/bin:/bin'})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert set(lines[0].split()) == {'work-ens:', 'lab:', 'included:'}, lines
    assert lines[1] == 'me@work-ens:', lines
    assert lines[2] == 'IdentityFile=x,allow_other', lines
    assert set(lines[3].split()) == {'loglevel=error', 'loglevel=warn',
                                     'loglevel=info', 'loglevel=debug'}
    assert lines[4] == '--help', lines
