#!/usr/bin/python3
"""A minimal fake SFTP v3 server on stdin/stdout that misbehaves on cue.

Usage (as an sshd "Subsystem sftp" command):
    hostile_sftp.py MODE WHEN

MODE: truncated | zero | huge | badid | garbage_attrs | none
      (the reply to a STAT/LSTAT of a name containing 'trigger' is broken
      that way, or VERSION itself with WHEN=init)
      The following misbehave by themselves (WHEN is ignored):
      endless     READDIR of /hostile/sub never says EOF
      badnames    READDIR of /hostile/sub gives names no directory holds
      nulname     READDIR of /hostile/sub gives a name with a NUL inside
      namecount   READDIR of /hostile/sub: NAME count larger than the body
      links       /hostile/sub holds symlinks: climb (../../..), empty,
                  huge (200 KB target)
      specials    /hostile/sub holds setuid, device, fifo, socket entries,
                  one with unknown type bits and ones without a mode
      shortreads  every READ gives at most one byte; /hostile/big.bin
      longdata    READ of /hostile/trigger.txt gives more than asked
      handle0, handle257  OPEN of /hostile/trigger.txt: a handle of that
                  many bytes
      wrongtype   OPEN of /hostile/trigger.txt answered with ATTRS
      statusok    OPEN of /hostile/trigger.txt answered with STATUS OK
      readok      READ of /hostile/trigger.txt answered with STATUS OK
      tworeplies  STAT/LSTAT of /hostile/trigger.txt answered twice
      realpath0, realpath2, realpathrel  REALPATH answers 0 names, 2
                  names, or a relative path
      version2    VERSION says 2
      badext      VERSION ends in a truncated extension pair
      limits0, limits1, limitsbig  limits@openssh.com says 0, 1 or 2^64-1
      stderr      16 MiB on stderr before VERSION and at each READDIR
WHEN: init    - misbehave instead of sending VERSION
      trigger - behave until a STAT/LSTAT of a name containing 'trigger',
                then misbehave in answer to it

The honest part serves a small read-only tree:
    /hostile/            directory (REALPATH of "." gives it)
    /hostile/a.txt       "alpha\n"
    /hostile/b.txt       "bravo bravo\n"
    /hostile/sub/        empty directory
(plus trigger.txt, big.bin or entries in sub/ in the modes above) with
REALPATH, STAT/LSTAT/FSTAT, OPEN/READ, OPENDIR/READDIR, READLINK, CLOSE
and the extensions limits@openssh.com and statvfs@openssh.com. Anything
else gets SSH_FX_OP_UNSUPPORTED (or PERMISSION_DENIED for writes).
"""

import os
import posixpath
import struct
import sys

FXP_INIT, FXP_VERSION = 1, 2
FXP_OPEN, FXP_CLOSE, FXP_READ, FXP_WRITE = 3, 4, 5, 6
FXP_LSTAT, FXP_FSTAT, FXP_SETSTAT, FXP_FSETSTAT = 7, 8, 9, 10
FXP_OPENDIR, FXP_READDIR, FXP_REMOVE, FXP_MKDIR, FXP_RMDIR = 11, 12, 13, 14, 15
FXP_REALPATH, FXP_STAT, FXP_RENAME, FXP_READLINK, FXP_SYMLINK = \
    16, 17, 18, 19, 20
FXP_STATUS, FXP_HANDLE, FXP_DATA, FXP_NAME, FXP_ATTRS = 101, 102, 103, 104, 105
FXP_EXTENDED, FXP_EXTENDED_REPLY = 200, 201

FX_OK, FX_EOF, FX_NO_SUCH_FILE, FX_PERMISSION_DENIED, FX_FAILURE = 0, 1, 2, 3, 4
FX_BAD_MESSAGE, FX_OP_UNSUPPORTED = 5, 8

A_SIZE, A_UIDGID, A_PERMISSIONS, A_ACMODTIME = 1, 2, 4, 8
A_EXTENDED = 0x80000000

ROOT = '/hostile'
MTIME = 1_600_000_000
FILES = {'a.txt': b'alpha\n', 'b.txt': b'bravo bravo\n'}
DIRS = {'sub'}
EXTENSIONS = [(b'posix-rename@openssh.com', b'1'),
              (b'statvfs@openssh.com', b'2'),
              (b'fsync@openssh.com', b'1'),
              (b'limits@openssh.com', b'1')]

out = sys.stdout.buffer
inp = sys.stdin.buffer


def u32(v):
    return struct.pack('>I', v)


def u64(v):
    return struct.pack('>Q', v)


def sstr(b):
    if isinstance(b, str):
        b = b.encode()
    return u32(len(b)) + b


def send(ptype, payload):
    out.write(u32(len(payload) + 1) + bytes([ptype]) + payload)
    out.flush()


def read_exact(n):
    buf = b''
    while len(buf) < n:
        chunk = inp.read(n - len(buf))
        if not chunk:
            sys.exit(0)  # client went away
        buf += chunk
    return buf


def read_packet():
    n = struct.unpack('>I', read_exact(4))[0]
    if n < 1 or n > 256 * 1024:
        sys.exit(1)
    data = read_exact(n)
    return data[0], data[1:]


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def u32(self):
        v = struct.unpack_from('>I', self.d, self.p)[0]
        self.p += 4
        return v

    def u64(self):
        v = struct.unpack_from('>Q', self.d, self.p)[0]
        self.p += 8
        return v

    def str(self):
        n = self.u32()
        v = self.d[self.p:self.p + n]
        self.p += n
        return v


MODE = sys.argv[1] if len(sys.argv) > 1 else 'none'
WHEN = sys.argv[2] if len(sys.argv) > 2 else 'trigger'

# Entries of /hostile/sub by mode: name -> (kind, mode or None, target)
SUB = {}
if MODE == 'links':
    SUB = {'climb': ('link', 0o120777, '../' * 12 + 'etc/passwd'),
           'empty': ('link', 0o120777, ''),
           'huge': ('link', 0o120777, 'x/' * 100000)}
elif MODE == 'specials':
    SUB = {'suid': ('file', 0o104755, None),
           'cdev': ('file', 0o020644, None),
           'bdev': ('file', 0o060644, None),
           'fifo': ('file', 0o010644, None),
           'sock': ('file', 0o140755, None),
           'odd': ('file', 0o130644, None),
           'notype': ('file', 0o644, None),
           'nomode': ('file', None, None)}
if MODE == 'shortreads':
    FILES['big.bin'] = bytes(range(256)) * 16
if MODE in ('longdata', 'handle0', 'handle257', 'wrongtype', 'statusok',
            'readok', 'tworeplies'):
    FILES['trigger.txt'] = b'trigger\n'


def attrs(kind, size=0, mode=0):
    if kind == 'dir':
        mode = 0o40755
    elif kind == 'link':
        mode = 0o120777
    elif not mode:
        mode = 0o100644
    return (u32(A_SIZE | A_UIDGID | A_PERMISSIONS | A_ACMODTIME) +
            u64(size) + u32(0) + u32(0) + u32(mode) + u32(MTIME) +
            u32(MTIME))


def sub_attrs(name):
    kind, mode, target = SUB[name]
    if mode is None:        # no permissions (nor type) at all
        return u32(A_SIZE | A_ACMODTIME) + u64(0) + u32(MTIME) + u32(MTIME)
    return attrs(kind, len(target or ''), mode)


def lookup(path):
    """('dir'|'file'|'sub', content) for a path in the tree, else None."""
    p = posixpath.normpath(path)
    if p in ('/', ROOT):
        return ('dir', b'')
    parent, name = posixpath.split(p)
    if parent == ROOT + '/sub' and name in SUB:
        return ('sub', name)
    if parent != ROOT:
        return None
    if name in FILES:
        return ('file', FILES[name])
    if name in DIRS:
        return ('dir', b'')
    return None


def longname(name, kind, size):
    perm = 'drwxr-xr-x' if kind == 'dir' else '-rw-r--r--'
    return '%s    1 root     root     %8d Sep 13  2020 %s' % (perm, size,
                                                              name)


def entry(name, kind='file', size=0):
    return sstr(name) + sstr(longname(name, kind, size)) + attrs(kind, size)


def flood_stderr():
    chunk = b'hostile_sftp: noise \x1b[31m' + b'x' * 4000 + b'\n'
    for _ in range(16 * 1024 * 1024 // len(chunk)):
        sys.stderr.buffer.write(chunk)
    sys.stderr.buffer.flush()


# -- misbehaviour ------------------------------------------------------------

def misbehave(mode, req_id, ptype_hint=FXP_ATTRS):
    if mode == 'truncated':
        out.write(u32(100) + bytes([FXP_STATUS]) + u32(req_id) + b'\0' * 5)
        out.flush()
        os._exit(0)
    elif mode == 'zero':
        out.write(u32(0))
        out.flush()
    elif mode == 'huge':
        out.write(u32(1 << 31) + bytes([FXP_DATA]) + u32(req_id) +
                  b'\xff' * 11)
        out.flush()
    elif mode == 'badid':
        bad = (req_id + 0x10000) & 0xffffffff
        if ptype_hint == FXP_VERSION:
            send(FXP_STATUS, u32(0xdeadbeef) + u32(FX_OK) + sstr('') +
                 sstr(''))
        else:
            send(FXP_ATTRS, u32(bad) + attrs('file', 5))
    elif mode == 'garbage_attrs':
        # Flags promise size, uid/gid, permissions, times and extended
        # pairs; none of them follow.
        flags = A_SIZE | A_UIDGID | A_PERMISSIONS | A_ACMODTIME | A_EXTENDED
        send(FXP_ATTRS, u32(req_id) + u32(flags))
    else:
        raise SystemExit('unknown mode %r' % mode)


MISBEHAVIOURS = ('truncated', 'zero', 'huge', 'badid', 'garbage_attrs')


# -- honest server -----------------------------------------------------------

def status(req_id, code, msg=''):
    send(FXP_STATUS, u32(req_id) + u32(code) + sstr(msg) + sstr('en'))


def send_version():
    exts = b''.join(sstr(k) + sstr(v) for k, v in EXTENSIONS)
    if MODE == 'version2':
        send(FXP_VERSION, u32(2))
    elif MODE == 'badext':
        send(FXP_VERSION, u32(3) + exts + sstr('cut@example.com') +
             u32(100) + b'abc')
    else:
        send(FXP_VERSION, u32(3) + exts)


def realpath(req_id, path):
    if not path.startswith('/'):
        path = posixpath.join(ROOT, path)
    path = posixpath.normpath(path)
    if MODE == 'realpath0':
        send(FXP_NAME, u32(req_id) + u32(0))
    elif MODE == 'realpath2':
        send(FXP_NAME, u32(req_id) + u32(2) + entry(path, 'dir') +
             entry('/etc', 'dir'))
    elif MODE == 'realpathrel':
        send(FXP_NAME, u32(req_id) + u32(1) + entry(path.lstrip('/'), 'dir'))
    else:
        send(FXP_NAME, u32(req_id) + u32(1) + sstr(path) + sstr(path) +
             u32(0))


def is_trigger_file(path):
    return posixpath.basename(path) == 'trigger.txt'


def readdir_sub(req_id, h):
    """The first READDIR of /hostile/sub in the listing modes; True when
    answered."""
    if MODE == 'endless':
        # A listing that never ends: 200 new names each time.
        n0 = h[2] or 0
        h[2] = n0 + 200
        body = b''.join(entry('n%09d' % i) for i in range(n0, n0 + 200))
        send(FXP_NAME, u32(req_id) + u32(200) + body)
        return True
    if h[2]:
        return False
    h[2] = True
    if MODE == 'badnames':
        # Names no directory can hold, among good ones.
        bad = ['..', '.', '/', 'a/b', '', 'L' * 300, 'dup', 'dup',
               '.rfs-unlinked-0011223344556677', 'ok1', 'ok2']
        send(FXP_NAME, u32(req_id) + u32(len(bad)) +
             b''.join(entry(n) for n in bad))
    elif MODE == 'nulname':
        names = ['ok1', 'bad\0name', 'ok2']
        send(FXP_NAME, u32(req_id) + u32(len(names)) +
             b''.join(entry(n) for n in names))
    elif MODE == 'namecount':
        send(FXP_NAME, u32(req_id) + u32(5) + entry('ok1') + entry('ok2'))
    elif SUB:
        body = b''.join(sstr(n) + sstr(longname(n, 'file', 0)) +
                        sub_attrs(n) for n in sorted(SUB))
        send(FXP_NAME, u32(req_id) + u32(len(SUB)) + body)
    else:
        h[2] = False
        return False
    return True


def main():
    ptype, payload = read_packet()
    if ptype != FXP_INIT:
        sys.exit(1)
    if MODE == 'stderr':
        flood_stderr()
    if WHEN == 'init' and MODE in MISBEHAVIOURS:
        misbehave(MODE, 0, FXP_VERSION)
        while True:  # wait for the client to hang up
            read_packet()
    send_version()
    handles = {}
    next_handle = 0
    triggered = False
    while True:
        ptype, payload = read_packet()
        r = Reader(payload)
        req_id = r.u32()
        if ptype in (FXP_STAT, FXP_LSTAT):
            path = r.str().decode(errors='replace')
            if ('trigger' in posixpath.basename(path) and WHEN == 'trigger'
                    and MODE in MISBEHAVIOURS and not triggered):
                triggered = True
                misbehave(MODE, req_id)
                continue
            node = lookup(path)
            if node is None:
                status(req_id, FX_NO_SUCH_FILE, 'No such file')
            elif node[0] == 'sub':
                send(FXP_ATTRS, u32(req_id) + sub_attrs(node[1]))
            else:
                send(FXP_ATTRS, u32(req_id) + attrs(node[0], len(node[1])))
                if MODE == 'tworeplies' and is_trigger_file(path):
                    send(FXP_ATTRS, u32(req_id) +
                         attrs(node[0], len(node[1])))
        elif ptype == FXP_REALPATH:
            realpath(req_id, r.str().decode(errors='replace'))
        elif ptype == FXP_READLINK:
            node = lookup(r.str().decode(errors='replace'))
            if node is None or node[0] != 'sub' or SUB[node[1]][0] != 'link':
                status(req_id, FX_FAILURE, 'Not a link')
            else:
                t = SUB[node[1]][2]    # no longname: stays < 256 KiB
                send(FXP_NAME, u32(req_id) + u32(1) + sstr(t) + sstr('') +
                     u32(0))
        elif ptype in (FXP_OPENDIR, FXP_OPEN):
            path = r.str().decode(errors='replace')
            node = lookup(path)
            want = 'dir' if ptype == FXP_OPENDIR else 'file'
            if ptype == FXP_OPEN and r.u32() & 0x3e:  # any write flag
                status(req_id, FX_PERMISSION_DENIED, 'Read-only')
            elif node is None:
                status(req_id, FX_NO_SUCH_FILE, 'No such file')
            elif node[0] != want:
                status(req_id, FX_FAILURE, 'Wrong type')
            elif is_trigger_file(path) and MODE == 'handle0':
                send(FXP_HANDLE, u32(req_id) + sstr(b''))
            elif is_trigger_file(path) and MODE == 'handle257':
                send(FXP_HANDLE, u32(req_id) + sstr(b'h' * 257))
            elif is_trigger_file(path) and MODE == 'wrongtype':
                send(FXP_ATTRS, u32(req_id) + attrs('file', 8))
            elif is_trigger_file(path) and MODE == 'statusok':
                status(req_id, FX_OK, 'Success')
            else:
                h = b'h%d' % next_handle
                next_handle += 1
                handles[h] = [path, node, False]
                send(FXP_HANDLE, u32(req_id) + sstr(h))
        elif ptype == FXP_READDIR:
            h = handles.get(r.str())
            if MODE == 'stderr':
                flood_stderr()
            if h is None or h[1][0] != 'dir':
                status(req_id, FX_FAILURE, 'Bad handle')
            elif (posixpath.basename(posixpath.normpath(h[0])) == 'sub' and
                  readdir_sub(req_id, h)):
                pass
            elif h[2]:
                status(req_id, FX_EOF, 'End of directory')
            else:
                h[2] = True
                p = posixpath.normpath(h[0])
                ents = [('.', 'dir', 0), ('..', 'dir', 0)]
                if p == ROOT:
                    ents += [(n, 'file', len(c)) for n, c in
                             sorted(FILES.items())]
                    ents += [(n, 'dir', 0) for n in sorted(DIRS)]
                body = b''.join(entry(n, k, s) for n, k, s in ents)
                send(FXP_NAME, u32(req_id) + u32(len(ents)) + body)
        elif ptype == FXP_READ:
            h = handles.get(r.str())
            off, n = r.u64(), r.u32()
            if h is None or h[1][0] != 'file':
                status(req_id, FX_FAILURE, 'Bad handle')
            elif is_trigger_file(h[0]) and MODE == 'readok':
                status(req_id, FX_OK, 'Success')
            elif off >= len(h[1][1]):
                status(req_id, FX_EOF, 'EOF')
            elif is_trigger_file(h[0]) and MODE == 'longdata':
                send(FXP_DATA, u32(req_id) + sstr(b'L' * (n + 16)))
            else:
                if MODE == 'shortreads':
                    n = 1
                send(FXP_DATA, u32(req_id) + sstr(h[1][1][off:off + n]))
        elif ptype == FXP_FSTAT:
            h = handles.get(r.str())
            if h is None:
                status(req_id, FX_FAILURE, 'Bad handle')
            else:
                send(FXP_ATTRS, u32(req_id) + attrs(h[1][0], len(h[1][1])))
        elif ptype == FXP_CLOSE:
            if handles.pop(r.str(), None) is None:
                status(req_id, FX_FAILURE, 'Bad handle')
            else:
                status(req_id, FX_OK, 'Success')
        elif ptype == FXP_EXTENDED:
            name = r.str()
            if name == b'limits@openssh.com':
                lim = {'limits0': [0] * 4, 'limits1': [1] * 4,
                       'limitsbig': [(1 << 64) - 1] * 4}.get(
                    MODE, [256 * 1024, 255 * 1024, 255 * 1024, 64])
                send(FXP_EXTENDED_REPLY, u32(req_id) +
                     b''.join(u64(v) for v in lim))
            elif name == b'statvfs@openssh.com':
                send(FXP_EXTENDED_REPLY, u32(req_id) + b''.join(
                    u64(v) for v in (4096, 4096, 1000, 500, 400, 100, 50,
                                     50, 1, 0, 255)))
            else:
                status(req_id, FX_OP_UNSUPPORTED, 'Unsupported')
        elif ptype in (FXP_WRITE, FXP_SETSTAT, FXP_FSETSTAT, FXP_REMOVE,
                       FXP_MKDIR, FXP_RMDIR, FXP_RENAME, FXP_SYMLINK):
            status(req_id, FX_PERMISSION_DENIED, 'Read-only')
        else:
            status(req_id, FX_OP_UNSUPPORTED, 'Unsupported')


if __name__ == '__main__':
    try:
        main()
    except (BrokenPipeError, struct.error):
        sys.exit(0)
