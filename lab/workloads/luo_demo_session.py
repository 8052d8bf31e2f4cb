# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""LUO demo service with a LUO session of its own (systemd's LUOSession=, v262).

systemd creates a LUO session when the unit starts and hands it over in the fd store under the
name LUO_DEMO_SESSION. On a fresh session the service preserves a memfd of LUO_DEMO_SIZE_MIB
random bytes in it (token 1) and records the memfd's sha256. After a live update systemd hands
back the restored session: the service retrieves the memfd by its token, re-hashes it and
finishes the session. A restored (incoming) session carries nothing to the next kernel, since
the kernel hands over only outgoing sessions, so the service then creates a new session of the
same name, preserves the memfd in it and puts it in the fd store in place of the finished one:
the next live update carries the state again.

/run/luo-demo-session/: sha256, restored (1: retrieved from a restored session, 0: new) and
session (what the fd store holds now); /var/lib/luo-demo-session/original.sha256.
"""
from __future__ import annotations

import errno
import fcntl
import os
import signal
import struct
import sys
import time

from luo_demo_memfd import fill_random, listen_fds, notify_address, sd_notify, sha256_fd, write_file

DEVICE = "/dev/liveupdate"
TOKEN = 1
# ioctls of /dev/liveupdate and of a session: _IO(0xBA, nr); every struct starts with its size.
CREATE_SESSION = 0xBA00
SESSION_PRESERVE_FD = 0xBA40
SESSION_RETRIEVE_FD = 0xBA41
SESSION_FINISH = 0xBA42
SESSION_GET_NAME = 0xBA43
NAME_LENGTH = 64


def preserve(session, fd):
    """Preserve FD in the outgoing SESSION under TOKEN."""
    fcntl.ioctl(session, SESSION_PRESERVE_FD, struct.pack("=IiQ", 16, fd, TOKEN))


def retrieve(session):
    """The file preserved under TOKEN in the incoming SESSION, as a new fd; OSError EINVAL on an outgoing one."""
    buffer = bytearray(struct.pack("=IiQ", 16, -1, TOKEN))
    fcntl.ioctl(session, SESSION_RETRIEVE_FD, buffer, True)
    return struct.unpack("=IiQ", buffer)[1]


def finish(session):
    fcntl.ioctl(session, SESSION_FINISH, struct.pack("=II", 8, 0))


def session_name(session):
    buffer = bytearray(struct.pack("=II64s", 72, 0, b""))
    fcntl.ioctl(session, SESSION_GET_NAME, buffer, True)
    return struct.unpack("=II64s", buffer)[2].split(b"\0", 1)[0]


def create_session(name, tries=50):
    """A new outgoing session NAME. /dev/liveupdate opens exclusively and systemd opens it briefly
    too, so a busy device is tried again; it is closed at once."""
    for _attempt in range(tries):
        try:
            device = os.open(DEVICE, os.O_RDWR | os.O_CLOEXEC)
        except OSError as error:
            if error.errno != errno.EBUSY:
                raise
            time.sleep(0.1)
            continue
        try:
            buffer = bytearray(struct.pack("=Ii64s", 72, -1, name))
            fcntl.ioctl(device, CREATE_SESSION, buffer, True)
            return struct.unpack("=Ii64s", buffer)[1]
        finally:
            os.close(device)
    raise OSError(errno.EBUSY, "%s stayed busy" % DEVICE)


def renew(session, fd, notify, fd_name):
    """Finish the restored SESSION and carry FD on in a new outgoing session of the same name."""
    finish(session)
    fresh = create_session(session_name(session))
    preserve(fresh, fd)
    sd_notify(notify, "FDSTOREREMOVE=1\nFDNAME=" + fd_name)
    sd_notify(notify, "FDSTORE=1\nFDNAME=" + fd_name, [fresh])
    os.close(session)
    return fresh


def open_state(session, size, notify, fd_name):
    """(memfd or None, restored, what the fd store holds now) for the session systemd handed over."""
    try:
        fd = retrieve(session)
    except OSError as error:
        if error.errno != errno.EINVAL:
            raise
    else:
        renew(session, fd, notify, fd_name)
        return fd, True, "a new session carrying the restored state"
    fd = os.memfd_create("luo-demo-session", os.MFD_CLOEXEC)
    fill_random(fd, size)
    try:
        preserve(session, fd)
    except OSError as error:
        if error.errno != errno.EEXIST:
            raise
        # A restart within this boot: the session already carries the state of an earlier start.
        os.close(fd)
        return None, False, "the session of an earlier start of this boot, carrying its state"
    return fd, False, "a new session carrying new state"


def main():
    environ = os.environ
    notify = notify_address(environ)
    fd_name = environ.get("LUO_DEMO_SESSION", "demo-session")
    run_dir = environ.get("RUNTIME_DIRECTORY", "/run/luo-demo-session")
    state_dir = environ.get("STATE_DIRECTORY", "/var/lib/luo-demo-session")
    session = listen_fds(environ).get(fd_name)
    if session is None:
        sys.exit("no LUO session %r in the fd store: run this with LUOSession=%s on a LUO kernel" % (fd_name, fd_name))
    size = int(environ.get("LUO_DEMO_SIZE_MIB", "16")) * 1024 * 1024
    fd, restored, held = open_state(session, size, notify, fd_name)
    if fd is not None:
        digest = sha256_fd(fd)
        if not restored:
            write_file(os.path.join(state_dir, "original.sha256"), digest + "\n")
        write_file(os.path.join(run_dir, "sha256"), digest + "\n")
        write_file(os.path.join(run_dir, "restored"), ("1" if restored else "0") + "\n")
    write_file(os.path.join(run_dir, "session"), held + "\n")
    sd_notify(notify, "READY=1\nSTATUS=fd store holds " + held)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
