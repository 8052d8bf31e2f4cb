# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The LUO session calls of /dev/liveupdate in stdlib Python, for the lab's checks on its LUO kernels.

Builds on the collection's device layer, plugins/module_utils/luo.py (opening the device, LuoError, the
errno meanings of open), imported as ``luo``: the lab copies it beside this file. Numbers and layouts
follow include/uapi/linux/liveupdate.h of Linux 7.2.13 (sizes and offsets checked with a C compiler):

    ioctl                   nr    struct                                   size
    CREATE_SESSION        0xBA00  u32 size; s32 fd (out); u8 name[64]       72
    RETRIEVE_SESSION      0xBA01  u32 size; s32 fd (out); u8 name[64]       72
    SESSION_PRESERVE_FD   0xBA40  u32 size; s32 fd; aligned u64 token       16
    SESSION_RETRIEVE_FD   0xBA41  u32 size; s32 fd (out); aligned u64 token 16
    SESSION_FINISH        0xBA42  u32 size; u32 reserved (0)                 8
    SESSION_GET_NAME      0xBA43  u32 size; u32 reserved; u8 name[64] (out) 72

The errno meanings come from kernel/liveupdate/luo_{core,session,file}.c and mm/memfd_luo.c of the same
release.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct

import luo  # pylint: disable=import-error

TOKEN_MAX = 2 ** 64 - 1
SESSION_NAME_LENGTH = luo.SESSION_NAME_LENGTH  # including the terminating NUL
CREATE_SESSION = luo.CREATE_SESSION
RETRIEVE_SESSION = luo.io_request(0x01)
SESSION_PRESERVE_FD = luo.io_request(0x40)
SESSION_RETRIEVE_FD = luo.io_request(0x41)
SESSION_FINISH = luo.io_request(0x42)
SESSION_GET_NAME = luo.io_request(0x43)

# '=' means native byte order with standard sizes and no padding: the kernel
# structs have none (the u64 token already sits at offset 8).
SESSION_STRUCT = luo.SESSION_STRUCT  # create and retrieve session
FD_TOKEN_STRUCT = struct.Struct('=IiQ')  # preserve and retrieve fd
FINISH_STRUCT = struct.Struct('=II')
GET_NAME_STRUCT = struct.Struct('=II%ds' % SESSION_NAME_LENGTH)

# What an errno means: IOCTL_HINTS for every LUO ioctl, CALL_HINTS per call.
IOCTL_HINTS = {
    errno.ENOTTY: 'this fd is not /dev/liveupdate or a LUO session: the kernel does not know the '
                  'ioctl on it',
    errno.EBADF: 'the fd is not open',
    errno.E2BIG: 'the kernel found non-zero bytes it does not understand in the request: ABI '
                 'mismatch between this code and the running kernel',
    errno.EOPNOTSUPP: 'the kernel understood the request but not a value in it: ABI mismatch '
                      'between this code and the running kernel',
    errno.EFAULT: 'the kernel could not read or write the request buffer',
    errno.ENOMEM: 'the kernel is out of memory for LUO state',
    errno.EMFILE: 'this process has no free file descriptor for the new fd; raise RLIMIT_NOFILE',
    errno.EPERM: 'operation not permitted: run as root',
    errno.EACCES: 'permission denied: run as root',
    errno.EINTR: 'interrupted by a signal; retry',
    errno.EAGAIN: 'LUO is busy with a live update; retry',
}
CALL_HINTS = {
    'create_session': {
        errno.EEXIST: 'an outgoing session with this name already exists (held by another fd of '
                      'this boot); choose another name or close the holder first ("systemd" is '
                      'used by systemd-shutdown)',
        errno.EINVAL: 'the name is empty or longer than 63 bytes, or the fd is a LUO session '
                      'rather than /dev/liveupdate',
        errno.EBUSY: 'a live update is being serialised right now; no new sessions until it ends',
        errno.ENOSPC: 'no room for another outgoing session',
    },
    'retrieve_session': {
        errno.ENOENT: 'the previous kernel handed over no session with this name (never '
                      'preserved, its holder closed it before the kexec, or the name differs)',
        errno.EINVAL: 'this session was already retrieved on this boot (each incoming session '
                      'can be retrieved once), or the fd is a LUO session rather than '
                      '/dev/liveupdate',
    },
    'preserve_fd': {
        errno.ENOENT: 'this kind of file cannot be preserved: only memfds (not hugetlb ones) '
                      'are preservable on Linux 7.2/7.3',
        errno.EBUSY: 'this file is already preserved (in this or another session); a file can '
                     'be preserved once',
        errno.EEXIST: 'this token is already used in this session; tokens must be unique per '
                      'session',
        errno.EBADF: 'the session fd or the fd to preserve is not open',
        errno.EINVAL: 'the session is an incoming (retrieved) one, which cannot take new files; '
                      'preserve into a session from create_session(), or the fd is '
                      '/dev/liveupdate rather than a session',
        errno.ENOSPC: 'the session holds as many files as it can',
        errno.EFBIG: 'the memfd is too large to preserve',
        errno.EOPNOTSUPP: 'the memfd carries seals this kernel cannot preserve',
        errno.EPERM: 'operation not permitted: run as root',
    },
    'retrieve_fd': {
        errno.ENOENT: 'no file with this token in the session',
        errno.EINVAL: 'the session is an outgoing one (created on this boot); retrieve files '
                      'only from sessions got with retrieve_session(), or the fd is '
                      '/dev/liveupdate rather than a session',
    },
    'finish_session': {
        errno.EINVAL: 'the session is an outgoing one (created on this boot); only retrieved '
                      'sessions can be finished, or the fd is /dev/liveupdate rather than a '
                      'session',
        errno.EBUSY: 'a preserved file is not ready to be released yet; retrieve the files you '
                     'need, close them if asked, and finish again',
    },
    'session_name': {
        errno.EINVAL: 'the fd is /dev/liveupdate rather than a session, or the request is '
                      'malformed',
    },
}


def validate_session_name(name):
    """``name`` as the bytes LUO takes: 1..63 bytes of UTF-8 without NUL."""
    if not isinstance(name, str):
        raise ValueError('LUO session name %r is a %s; give a string' % (name, type(name).__name__))
    try:
        encoded = name.encode('utf-8')
    except UnicodeEncodeError:
        raise ValueError('LUO session name %r cannot be encoded as UTF-8; use valid text' % name) from None
    if '\0' in name:
        raise ValueError('LUO session name %r contains a NUL byte; remove it' % name)
    if not 0 < len(encoded) < SESSION_NAME_LENGTH:
        raise ValueError('LUO session name %r is %d bytes in UTF-8; it must be 1 to %d bytes'
                         % (name, len(encoded), SESSION_NAME_LENGTH - 1))
    return encoded


def validate_token(token):
    """``token`` as a u64: an int in 0..2**64-1 (bool is refused)."""
    if isinstance(token, bool) or not isinstance(token, int):
        raise ValueError('LUO token %r is a %s; give an integer in 0..%d'
                         % (token, type(token).__name__, TOKEN_MAX))
    if not 0 <= token <= TOKEN_MAX:
        raise ValueError('LUO token %r is out of range; give an integer in 0..%d (a u64)' % (token, TOKEN_MAX))
    return token


def validate_fd(fd, what='fd'):
    """``fd`` as a non-negative int."""
    if isinstance(fd, bool) or not isinstance(fd, int) or fd < 0:
        raise ValueError('%s %r is not a file descriptor; give a non-negative integer' % (what, fd))
    return fd


def pack_session(name):
    """CREATE_SESSION / RETRIEVE_SESSION request for ``name``."""
    return bytearray(SESSION_STRUCT.pack(SESSION_STRUCT.size, 0, validate_session_name(name)))


def unpack_session(buf):
    """(size, fd, name) from a session request/reply."""
    size, fd, raw = SESSION_STRUCT.unpack(bytes(buf))
    return size, fd, _cstring(raw)


def pack_fd_token(fd, token):
    """PRESERVE_FD / RETRIEVE_FD request."""
    return bytearray(FD_TOKEN_STRUCT.pack(FD_TOKEN_STRUCT.size, fd, validate_token(token)))


def unpack_fd_token(buf):
    """(size, fd, token) from a PRESERVE_FD / RETRIEVE_FD request/reply."""
    return FD_TOKEN_STRUCT.unpack(bytes(buf))


def pack_finish():
    """SESSION_FINISH request."""
    return bytearray(FINISH_STRUCT.pack(FINISH_STRUCT.size, 0))


def pack_get_name():
    """SESSION_GET_NAME request."""
    return bytearray(GET_NAME_STRUCT.pack(GET_NAME_STRUCT.size, 0, b''))


def unpack_get_name(buf):
    """(size, reserved, name) from a SESSION_GET_NAME reply."""
    size, reserved, raw = GET_NAME_STRUCT.unpack(bytes(buf))
    return size, reserved, _cstring(raw)


def _cstring(raw):
    return raw.split(b'\0', 1)[0].decode('utf-8', 'replace')


def _ioctl(call, fd, request, buf, subject):
    try:
        fcntl.ioctl(fd, request, buf, True)
    except OSError as exc:
        raise luo.error(call, exc, subject, hints(call)) from None
    return buf


def create_session(dev_fd, name):
    """New outgoing session ``name`` on the /dev/liveupdate fd; returns the session fd (O_CLOEXEC).

    Closing that fd before the kexec drops the session and unpreserves its files.
    """
    buf = _ioctl('create_session', validate_fd(dev_fd, 'device fd'), CREATE_SESSION, pack_session(name),
                 'session %r on fd %d' % (name, dev_fd))
    return unpack_session(buf)[1]


def retrieve_session(dev_fd, name):
    """Incoming session ``name`` handed over by the previous kernel; returns its fd."""
    buf = _ioctl('retrieve_session', validate_fd(dev_fd, 'device fd'), RETRIEVE_SESSION, pack_session(name),
                 'session %r on fd %d' % (name, dev_fd))
    return unpack_session(buf)[1]


def preserve_fd(session_fd, fd, token):
    """Preserve file ``fd`` in the outgoing session under ``token``."""
    buf = pack_fd_token(validate_fd(fd, 'fd to preserve'), token)
    _ioctl('preserve_fd', validate_fd(session_fd, 'session fd'), SESSION_PRESERVE_FD, buf,
           'fd %d as token %d in session fd %d' % (fd, token, session_fd))


def retrieve_fd(session_fd, token):
    """The file preserved under ``token`` in an incoming session; returns a new fd (O_CLOEXEC)."""
    buf = pack_fd_token(0, token)
    _ioctl('retrieve_fd', validate_fd(session_fd, 'session fd'), SESSION_RETRIEVE_FD, buf,
           'token %d from session fd %d' % (token, session_fd))
    return unpack_fd_token(buf)[1]


def finish_session(session_fd):
    """Finish an incoming session: files not retrieved are discarded, the memory is released."""
    _ioctl('finish_session', validate_fd(session_fd, 'session fd'), SESSION_FINISH, pack_finish(),
           'session fd %d' % session_fd)


def session_name(session_fd):
    """The full name of the session behind ``session_fd``."""
    buf = _ioctl('session_name', validate_fd(session_fd, 'session fd'), SESSION_GET_NAME, pack_get_name(),
                 'session fd %d' % session_fd)
    return unpack_get_name(buf)[2]


def hints(call):
    """The errno meanings of ``call`` ('create_session', 'preserve_fd', ...)."""
    found = dict(IOCTL_HINTS)
    found.update(CALL_HINTS.get(call, {}))
    return found


def explain(call, err):
    """The meaning of errno ``err`` for ``call``, with what to do."""
    return luo.explain(err, hints(call))


@contextlib.contextmanager
def open_device(path=luo.DEVICE_PATH):
    """``with open_device() as dev_fd:`` holds /dev/liveupdate only for the block."""
    fd = luo.open_fd(path)
    try:
        yield fd
    finally:
        os.close(fd)
