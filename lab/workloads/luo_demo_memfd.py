# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""LUO demo service: state in a memfd that lives in the unit's systemd fd store.

First start: fill a memfd with LUO_DEMO_SIZE_MIB MiB of random bytes, record its sha256,
hand the memfd to systemd (FDSTORE=1, FDNAME=demo-state). Any later start that finds the
memfd in LISTEN_FDS (a restart, or a live update with FileDescriptorStorePreserve=yes)
re-hashes it instead. Either way the sha256 goes to /run/luo-demo/sha256, whether the
state came from the fd store to /run/luo-demo/restored, the realtime clock at the moment the
process held its state (the fd received, or the new state made), before hashing it, to
/run/luo-demo/state_at, and every TCP connection to 127.0.0.1:LUO_DEMO_PORT receives the sha256
as one line (the health check).
"""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import sys
import time

FD_NAME = "demo-state"
LISTEN_FDS_START = 3
CHUNK = 1024 * 1024


def listen_fds(environ):
    """Return {name: fd} for the fds systemd passed to this process (sd_listen_fds with names)."""
    if environ.get("LISTEN_PID") != str(os.getpid()):
        return {}
    count = int(environ.get("LISTEN_FDS", "0"))
    names = environ.get("LISTEN_FDNAMES", "").split(":")
    fds = {}
    for index in range(count):
        name = names[index] if index < len(names) and names[index] else "unknown"
        fds[name] = LISTEN_FDS_START + index
    return fds


def notify_address(environ):
    """Return the address of systemd's notification socket, or None outside a Type=notify unit."""
    path = environ.get("NOTIFY_SOCKET", "")
    if not path:
        return None
    if path.startswith("@"):
        return "\0" + path[1:]
    return path


def sd_notify(address, message, fds=()):
    """Send one sd_notify datagram, with fds attached as SCM_RIGHTS when given."""
    if address is None:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        if fds:
            socket.send_fds(sock, [message.encode()], list(fds))
        else:
            sock.send(message.encode())


def fill_random(fd, size):
    """Write SIZE random bytes to FD from offset 0."""
    offset = 0
    while offset < size:
        offset += os.pwrite(fd, os.urandom(min(CHUNK, size - offset)), offset)


def sha256_fd(fd):
    """sha256 of the whole file behind FD, read with pread so the file position is left alone."""
    digest = hashlib.sha256()
    offset = 0
    while True:
        block = os.pread(fd, CHUNK, offset)
        if not block:
            return digest.hexdigest()
        digest.update(block)
        offset += len(block)


def write_file(path, text):
    """Replace PATH with TEXT atomically."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as handle:
        handle.write(text)
    os.replace(tmp, path)


def open_state(environ, notify):
    """Return (fd, restored): the memfd from the fd store, or a new one handed to the fd store."""
    fd = listen_fds(environ).get(FD_NAME)
    if fd is not None:
        return fd, True
    size = int(environ.get("LUO_DEMO_SIZE_MIB", "64")) * 1024 * 1024
    fd = os.memfd_create("luo-demo-state", os.MFD_CLOEXEC)
    fill_random(fd, size)
    sd_notify(notify, "FDSTORE=1\nFDNAME=" + FD_NAME, [fd])
    return fd, False


def serve(port, answer):
    """Answer every connection to 127.0.0.1:PORT with ANSWER until SIGTERM."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    with socket.create_server(("127.0.0.1", port), reuse_port=False) as server:
        while True:
            conn, _peer = server.accept()
            with conn:
                conn.sendall(answer)


def main():
    environ = os.environ
    notify = notify_address(environ)
    run_dir = environ.get("RUNTIME_DIRECTORY", "/run/luo-demo")
    state_dir = environ.get("STATE_DIRECTORY", "/var/lib/luo-demo")
    fd, restored = open_state(environ, notify)
    # When the state was usable, apart from how long checking it takes (the hash grows with the size).
    write_file(os.path.join(run_dir, "state_at"), "%.6f\n" % time.time())
    digest = sha256_fd(fd)
    if not restored:
        write_file(os.path.join(state_dir, "original.sha256"), digest + "\n")
    write_file(os.path.join(run_dir, "sha256"), digest + "\n")
    write_file(os.path.join(run_dir, "restored"), ("1" if restored else "0") + "\n")
    port = int(environ.get("LUO_DEMO_PORT", "8089"))
    source = "restored from the fd store" if restored else "new"
    sd_notify(notify, f"READY=1\nSTATUS=state {source}, sha256 {digest}, health on 127.0.0.1:{port}")
    serve(port, (digest + "\n").encode())


if __name__ == "__main__":
    main()
