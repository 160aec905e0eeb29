#!/usr/bin/python3
"""Write the seed inputs of fuzz_buf into corpus/fuzz_buf/ (run once when
the seeds change; the output is committed). Input format, see fuzz_buf.c:
a header byte (op count in the low 4 bits, bit 4 = go on after a failing
op), the op bytes (op % 8: 0 u8, 1 u32, 2 u64, 3 string, 4 cstring,
5 attrs, 6 skip(op >> 3), 7 u32 count + strings), then the body, which is
also read as an SSH_FXP_NAME payload and as a lone ATTRS."""
import os
import struct

U8, U32, U64, STR, CSTR, ATTRS, SKIP, STRS = range(8)

SIZE, UIDGID, PERM, ACMOD, EXT = 1, 2, 4, 8, 0x80000000


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def s(b):
    if isinstance(b, str):
        b = b.encode()
    return u32(len(b)) + b


def attrs(flags, size=0, uid=0, gid=0, perm=0, atime=0, mtime=0, ext=()):
    out = u32(flags)
    if flags & SIZE:
        out += u64(size)
    if flags & UIDGID:
        out += u32(uid) + u32(gid)
    if flags & PERM:
        out += u32(perm)
    if flags & ACMOD:
        out += u32(atime) + u32(mtime)
    if flags & EXT:
        out += u32(len(ext))
        for k, v in ext:
            out += s(k) + s(v)
    return out


def seed(ops, body, keep_going=False):
    assert len(ops) < 16
    return bytes([len(ops) | (0x10 if keep_going else 0)] + ops) + body


ALL = SIZE | UIDGID | PERM | ACMOD
DIR = attrs(ALL, 4096, 1000, 1000, 0o40755, 1700000000, 1700000001)
REG = attrs(ALL, 1234, 1000, 100, 0o100644, 1700000002, 1700000003)
LNK = attrs(SIZE | PERM, 7, perm=0o120777)


def name_payload(entries):
    out = u32(len(entries))
    for name, long, a in entries:
        out += s(name) + s(long) + a
    return out


SEEDS = {
    # SSH_FXP_ATTRS with every field and two extensions
    "attrs-full": seed([ATTRS], attrs(ALL | EXT, 1 << 40, 0, 0, 0o100600,
                                      1, 2, [("acl@x", "rwx"), ("", "")])),
    "attrs-empty": seed([ATTRS], attrs(0)),
    # SSH_FXP_NAME from READDIR: ".", "..", a file and a symlink
    "name-readdir": seed([], name_payload([
        (".", "drwxr-xr-x 2 u g 4096 Jan 1 00:00 .", DIR),
        ("..", "drwxr-xr-x 9 u g 4096 Jan 1 00:00 ..", DIR),
        ("file.txt", "-rw-r--r-- 1 u g 1234 Jan 1 00:00 file.txt", REG),
        ("link", "lrwxrwxrwx 1 u g 7 Jan 1 00:00 link -> file.txt", LNK),
    ])),
    # SSH_FXP_NAME from REALPATH: one entry, empty attrs
    "name-realpath": seed([], name_payload([("/home/u", "", attrs(0))])),
    # a count far larger than the entries there are
    "name-short": seed([], u32(100000) + s("a") + s("b") + attrs(PERM,
                                                                perm=0o644)),
    # SSH_FXP_STATUS after type: id, code, message, language
    "status": seed([U32, U32, CSTR, CSTR], u32(7) + u32(2) +
                   s("No such file") + s("en")),
    # SSH_FXP_HANDLE: id, handle
    "handle": seed([U32, STR], u32(8) + s(b"\x00\x01\x02\x03")),
    # SSH_FXP_VERSION: version, then extension name/data pairs
    "version": seed([U32, STR, STR, STR, STR, STR, STR], u32(3) +
                    s("posix-rename@openssh.com") + s("1") +
                    s("limits@openssh.com") + s("1") +
                    s("fsync@openssh.com") + s("1")),
    # limits@openssh.com reply: id, four u64
    "limits": seed([U32, U64, U64, U64, U64], u32(9) + u64(262144) +
                   u64(261120) + u64(261120) + u64(0)),
    # SSH_FXP_DATA: id, data; then a header byte and a skip of 5
    "data": seed([U32, STR, U8, SKIP | (5 << 3), U32], u32(10) +
                 s(bytes(range(64))) + b"\x67" + b"12345" + u32(0)),
    # a string list and a cstring with an embedded NUL, going on after it
    "strings-nul": seed([STRS, CSTR, CSTR], u32(2) + s("x") + s("") +
                        s(b"a\x00b") + s("ok"), keep_going=True),
    # a length that points past the end
    "string-overlong": seed([STR], u32(0xfffffff0) + b"abc"),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "corpus", "fuzz_buf")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
