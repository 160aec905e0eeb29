#!/usr/bin/python3
"""A minimal fake SFTP v3 server on stdin/stdout that misbehaves on cue.

Usage (as an sshd "Subsystem sftp" command):
    hostile_sftp.py MODE WHEN

MODE: truncated | zero | huge | badid | garbage_attrs | none
      endless - (with any WHEN) READDIR of /hostile/sub never says EOF
      badnames - READDIR of /hostile/sub gives names no directory holds
WHEN: init    - misbehave instead of sending VERSION
      trigger - behave until a STAT/LSTAT of a name containing 'trigger',
                then misbehave in answer to it

The honest part serves a small read-only tree:
    /hostile/            directory (REALPATH of "." gives it)
    /hostile/a.txt       "alpha\n"
    /hostile/b.txt       "bravo bravo\n"
    /hostile/sub/        empty directory
with REALPATH, STAT/LSTAT/FSTAT, OPEN/READ, OPENDIR/READDIR, CLOSE and the
extensions limits@openssh.com and statvfs@openssh.com. Anything else gets
SSH_FX_OP_UNSUPPORTED (or PERMISSION_DENIED for writes).
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


def attrs(kind, size=0):
    if kind == 'dir':
        mode = 0o40755
    else:
        mode = 0o100644
    return (u32(A_SIZE | A_UIDGID | A_PERMISSIONS | A_ACMODTIME) +
            u64(size) + u32(0) + u32(0) + u32(mode) + u32(MTIME) +
            u32(MTIME))


def lookup(path):
    """('dir'|'file', content) for a path in the tree, else None."""
    p = posixpath.normpath(path)
    if p in ('/', ROOT):
        return ('dir', b'')
    parent, name = posixpath.split(p)
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


# -- honest server -----------------------------------------------------------

def status(req_id, code, msg=''):
    send(FXP_STATUS, u32(req_id) + u32(code) + sstr(msg) + sstr('en'))


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else 'none'
    when = sys.argv[2] if len(sys.argv) > 2 else 'trigger'
    ptype, payload = read_packet()
    if ptype != FXP_INIT:
        sys.exit(1)
    if when == 'init' and mode != 'none':
        misbehave(mode, 0, FXP_VERSION)
        while True:  # wait for the client to hang up
            read_packet()
    send(FXP_VERSION, u32(3) + b''.join(sstr(k) + sstr(v)
                                       for k, v in EXTENSIONS))
    handles = {}
    next_handle = 0
    triggered = False
    while True:
        ptype, payload = read_packet()
        r = Reader(payload)
        req_id = r.u32()
        if ptype in (FXP_STAT, FXP_LSTAT):
            path = r.str().decode(errors='replace')
            if ('trigger' in posixpath.basename(path) and when == 'trigger'
                    and mode != 'none' and not triggered):
                triggered = True
                misbehave(mode, req_id)
                continue
            node = lookup(path)
            if node is None:
                status(req_id, FX_NO_SUCH_FILE, 'No such file')
            else:
                send(FXP_ATTRS, u32(req_id) + attrs(node[0], len(node[1])))
        elif ptype == FXP_REALPATH:
            path = r.str().decode(errors='replace')
            if not path.startswith('/'):
                path = posixpath.join(ROOT, path)
            path = posixpath.normpath(path)
            send(FXP_NAME, u32(req_id) + u32(1) + sstr(path) + sstr(path) +
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
            else:
                h = b'h%d' % next_handle
                next_handle += 1
                handles[h] = [path, node, False]
                send(FXP_HANDLE, u32(req_id) + sstr(h))
        elif ptype == FXP_READDIR:
            h = handles.get(r.str())
            if h is None or h[1][0] != 'dir':
                status(req_id, FX_FAILURE, 'Bad handle')
            elif mode == 'endless' and posixpath.basename(
                    posixpath.normpath(h[0])) == 'sub':
                # A listing that never ends: 200 new names each time.
                n0 = h[2] or 0
                h[2] = n0 + 200
                body = b''.join(
                    sstr('n%09d' % i) + sstr(longname('n%09d' % i, 'file', 0))
                    + attrs('file', 0) for i in range(n0, n0 + 200))
                send(FXP_NAME, u32(req_id) + u32(200) + body)
            elif mode == 'badnames' and not h[2] and posixpath.basename(
                    posixpath.normpath(h[0])) == 'sub':
                # Names no directory can hold, among good ones.
                h[2] = True
                bad = ['..', '.', '/', 'a/b', '', 'L' * 300, 'dup', 'dup',
                       '.rfs-unlinked-0011223344556677', 'ok1', 'ok2']
                body = b''.join(sstr(n) + sstr(longname(n, 'file', 0)) +
                                attrs('file', 0) for n in bad)
                send(FXP_NAME, u32(req_id) + u32(len(bad)) + body)
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
                body = b''.join(sstr(n) + sstr(longname(n, k, s)) +
                                attrs(k, s) for n, k, s in ents)
                send(FXP_NAME, u32(req_id) + u32(len(ents)) + body)
        elif ptype == FXP_READ:
            h = handles.get(r.str())
            off, n = r.u64(), r.u32()
            if h is None or h[1][0] != 'file':
                status(req_id, FX_FAILURE, 'Bad handle')
            elif off >= len(h[1][1]):
                status(req_id, FX_EOF, 'EOF')
            else:
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
                send(FXP_EXTENDED_REPLY, u32(req_id) + u64(256 * 1024) +
                     u64(255 * 1024) + u64(255 * 1024) + u64(64))
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
