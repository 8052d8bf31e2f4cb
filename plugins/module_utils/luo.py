# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""/dev/liveupdate, the device of the Live Update Orchestrator (LUO), as the info module looks at it:
what the node is, and whether it opens and answers as LUO. Stdlib Python.

Numbers and layouts follow include/uapi/linux/liveupdate.h of Linux 7.2.13
(Debian linux-libc-dev 7.2.13-1; sizes and offsets checked with a C compiler).
Every request is ``_IO(0xBA, nr)`` and carries its own size in the first u32;
CREATE_SESSION (nr 0x00; u32 size, s32 fd (out), u8 name[64]: 72 bytes) is the
one sent here, with a size LUO refuses, to tell LUO from another driver. The
errno meanings come from kernel/liveupdate/luo_core.c of the same release. The
session calls (create, preserve, retrieve, finish) are exercised on the lab's
LUO kernels by lab/ioctl-check, which builds on this file.

/dev/liveupdate is exclusive: while one process holds it open, every other
open() fails with EBUSY, and systemd needs it at boot, at shutdown and when it
starts a service with LUOSession=. So open it only for the few calls at hand
and never keep it.
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat
import struct

DEVICE_PATH = '/dev/liveupdate'
MISC_DEV_PATH = '/sys/class/misc/liveupdate/dev'
IOCTL_TYPE = 0xBA
SESSION_NAME_LENGTH = 64  # including the terminating NUL


def io_request(nr):
    """``_IO(0xBA, nr)``: no direction bits and no size, on x86_64 and arm64 alike."""
    return (IOCTL_TYPE << 8) | nr


CREATE_SESSION = io_request(0x00)

# '=' means native byte order with standard sizes and no padding: the kernel structs have none.
SESSION_STRUCT = struct.Struct('=Ii%ds' % SESSION_NAME_LENGTH)  # create and retrieve session

# What an errno from opening the device means, with what to do.
OPEN_HINTS = {
    errno.ENOENT: 'no such device: LUO is not enabled on this boot; it needs a kernel with '
                  'CONFIG_LIVEUPDATE=y booted with liveupdate=on kho=on',
    errno.EBUSY: 'another process holds /dev/liveupdate: systemd opens it briefly at boot, at '
                 'shutdown and to start LUOSession= services; retry later, and never hold it open',
    errno.EIO: 'the state handed over by the previous kernel could not be deserialised, so LUO '
               'refuses every open until the next boot; the kernel log (lines with "luo:") says why',
    errno.EACCES: 'permission denied: /dev/liveupdate is mode 0600 root; run as root',
    errno.EPERM: 'operation not permitted: run as root',
    errno.ENXIO: 'the device node exists but no driver answers it: LUO is not enabled on this '
                 'boot (boot with liveupdate=on kho=on on a CONFIG_LIVEUPDATE kernel)',
    errno.ENODEV: 'the device node exists but no driver answers it: LUO is not enabled on this '
                  'boot (boot with liveupdate=on kho=on on a CONFIG_LIVEUPDATE kernel)',
    errno.ENOTDIR: 'a component of the path is not a directory: give the path of the device node',
}


class LuoError(OSError):
    """A failed LUO call: ``.errno``, ``.call`` and a message that says what it means."""

    def __init__(self, call, err, message):
        super().__init__(err, message)
        self.call = call

    def __str__(self):
        return '%s failed: [%s] %s' % (self.call, errno.errorcode.get(self.errno, self.errno), self.strerror)


def explain(err, hints=None):
    """The meaning of errno ``err`` with what to do, from ``hints`` (by default: opening the device)."""
    hints = OPEN_HINTS if hints is None else hints
    if err in hints:
        return hints[err]
    return '%s (no LUO-specific meaning known)' % os.strerror(err)


def error(call, exc, subject, hints=None):
    """The LuoError of ``call`` failing with OSError ``exc`` on ``subject``, saying what it means."""
    return LuoError(call, exc.errno, '%s: %s' % (subject, explain(exc.errno, hints)))


def open_fd(path=DEVICE_PATH):
    """Open the device O_RDWR|O_CLOEXEC; the caller must close it at once."""
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        raise error('open', exc, path) from None


def is_luo_fd(fd):
    """True if ``fd`` answers like /dev/liveupdate.

    Sends CREATE_SESSION with a size of 0, which LUO rejects as too small
    (EINVAL) before it does anything; most other files say ENOTTY. Some drivers
    answer unknown ioctls with EINVAL too, so ``probe_device`` also compares the
    device number with the one in sysfs. Nothing is created.
    """
    buf = bytearray(SESSION_STRUCT.size)
    try:
        fcntl.ioctl(fd, CREATE_SESSION, buf, True)
    except OSError as exc:
        return exc.errno == errno.EINVAL
    # A driver that takes a zero-sized request is not the LUO we know.
    return False


_PROBE_STATES = {
    errno.ENOENT: 'absent',
    errno.EBUSY: 'busy',
    errno.EIO: 'io-error',
    errno.EACCES: 'permission-denied',
    errno.EPERM: 'permission-denied',
    errno.ENXIO: 'not-a-device',
    errno.ENODEV: 'not-a-device',
    errno.ENOTDIR: 'absent',
}


def probe_device(path=DEVICE_PATH, misc_dev_path=MISC_DEV_PATH):
    """Open and close the device at once; returns ``{path, state, errno, message}``.

    state is one of 'ok', 'absent', 'busy', 'io-error', 'permission-denied',
    'not-a-device' (or 'error' for an errno without a LUO meaning).
    """
    info = device_info(path)
    if not info['exists']:
        return _probe(path, 'absent', errno.ENOENT, '%s: %s' % (path, explain(errno.ENOENT)))
    if not info['is_char_device']:
        return _probe(path, 'not-a-device', None,
                      '%s is a %s, not a character device: it is not /dev/liveupdate' % (path, info['type']))
    registered = misc_devno(misc_dev_path)
    if registered is not None and registered != info['devno']:
        return _probe(path, 'not-a-device', None,
                      '%s is device %s but the kernel registered liveupdate as %s (%s)'
                      % (path, info['devno'], registered, misc_dev_path))
    try:
        fd = open_fd(path)
    except LuoError as exc:
        return _probe(path, _PROBE_STATES.get(exc.errno, 'error'), exc.errno, exc.strerror)
    try:
        luo = is_luo_fd(fd)
    finally:
        os.close(fd)
    if not luo:
        return _probe(path, 'not-a-device', errno.ENOTTY,
                      '%s (%s) does not answer LUO ioctls: it is not /dev/liveupdate' % (path, info['devno']))
    return _probe(path, 'ok', None, '%s opened and answered as LUO, and was closed again' % path)


def _probe(path, state, err, message):
    return {'path': path, 'state': state, 'errno': errno.errorcode.get(err) if err else None, 'message': message}


_FILE_TYPES = (
    (stat.S_ISCHR, 'character device'),
    (stat.S_ISBLK, 'block device'),
    (stat.S_ISREG, 'regular file'),
    (stat.S_ISDIR, 'directory'),
    (stat.S_ISFIFO, 'fifo'),
    (stat.S_ISSOCK, 'socket'),
    (stat.S_ISLNK, 'symlink'),
)


def device_info(path=DEVICE_PATH):
    """What ``path`` is, from stat() alone (the device is not opened).

    ``{path, exists, type, is_char_device, major, minor, devno, mode, uid, gid}``;
    major/minor/devno only for device nodes, mode as an octal string like '0600'.
    """
    info = {'path': path, 'exists': False, 'type': None, 'is_char_device': False,
            'major': None, 'minor': None, 'devno': None, 'mode': None, 'uid': None, 'gid': None}
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return info
    except NotADirectoryError:
        return info
    info.update(exists=True, mode='%04o' % stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid,
                is_char_device=stat.S_ISCHR(st.st_mode),
                type=next((name for test, name in _FILE_TYPES if test(st.st_mode)), 'unknown'))
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info.update(major=os.major(st.st_rdev), minor=os.minor(st.st_rdev),
                    devno='%d:%d' % (os.major(st.st_rdev), os.minor(st.st_rdev)))
    return info


def misc_devno(path=MISC_DEV_PATH):
    """'major:minor' the kernel registered for the liveupdate misc device, or None if it did not."""
    try:
        with open(path) as handle:
            value = handle.read().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    major, sep, minor = value.partition(':')
    if not (sep and major.isdigit() and minor.isdigit()):
        raise ValueError('%s holds %r, not "major:minor"; is sysfs mounted at /sys?' % (path, value))
    return value
