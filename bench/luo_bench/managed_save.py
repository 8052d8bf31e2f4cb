# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What hypervisors do today around a host reboot, the way libvirt-guests' managed save does it, with QEMU's
own migration to a file: the benchmark's helper inside a lab VM (stdlib only, python3 managed_save.py COMMAND).

  start DIR MIB KERNEL [APPEND]   QEMU (TCG, q35, MIB MiB of plain RAM) booting KERNEL, detached; its QMP
                                  socket, serial log and pid file in DIR
  save DIR PATH                   pause the guest, migrate its whole RAM and device state to PATH (on disk,
                                  fsynced), quit QEMU
  restore DIR PATH MIB KERNEL [APPEND]
                                  QEMU with the same arguments waiting for an incoming migration, the state
                                  loaded from PATH, the guest resumed

save and restore print one JSON object: the realtime clock when the guest stopped or went on, how long the
step took, and (save) the bytes written. Times are CLOCK_REALTIME seconds of this boot.
"""
from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time

QEMU = os.environ.get('LUO_BENCH_QEMU', 'qemu-system-x86_64')
TIMEOUT_S = 1800


class Qmp:
    """A QMP connection: call(command, **arguments) -> its return value; errors raise RuntimeError."""

    def __init__(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise RuntimeError('no QMP socket at %s after %d s' % (path, timeout)) from None
                time.sleep(0.1)
        self.stream = self.sock.makefile('rw')
        json.loads(self.stream.readline())  # the greeting
        self.call('qmp_capabilities')

    def call(self, command, **arguments):
        self.stream.write(json.dumps({'execute': command, 'arguments': arguments}) + '\n')
        self.stream.flush()
        while True:
            line = self.stream.readline()
            if not line:
                return None  # QEMU went away (after quit)
            reply = json.loads(line)
            if 'error' in reply:
                raise RuntimeError('QMP %s: %s' % (command, reply['error'].get('desc')))
            if 'return' in reply:
                return reply['return']

    def wait(self, what, done, timeout=TIMEOUT_S):
        """Poll what() until done(answer); returns the answer."""
        deadline = time.monotonic() + timeout
        while True:
            answer = what()
            if done(answer):
                return answer
            if time.monotonic() > deadline:
                raise RuntimeError('gave up after %d s: %s' % (timeout, answer))
            time.sleep(0.05)

    def close(self):
        self.sock.close()


def qemu_argv(directory, mib, kernel, append=None):
    argv = [QEMU, '-accel', 'tcg', '-machine', 'q35', '-m', str(mib), '-smp', '1', '-nodefaults',
            '-display', 'none', '-chardev', 'file,id=s0,path=%s/serial.log,append=on' % directory,
            '-serial', 'chardev:s0', '-qmp', 'unix:%s/qmp.sock,server=on,wait=off' % directory,
            '-pidfile', '%s/qemu.pid' % directory, '-daemonize', '-kernel', kernel]
    return argv + (['-append', append] if append else [])


def start(directory, mib, kernel, append=None, incoming=False):
    os.makedirs(directory, exist_ok=True)
    argv = qemu_argv(directory, mib, kernel, append) + (['-incoming', 'defer'] if incoming else [])
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return Qmp(os.path.join(directory, 'qmp.sock'))


def save(directory, path):
    """Stop, migrate everything to path, fsync it, quit: a managed save."""
    qmp = Qmp(os.path.join(directory, 'qmp.sock'))
    begin = time.monotonic()
    qmp.call('stop')
    stopped_at = time.time()
    # exec:, not file: (QEMU 8.2 and later): the machine's own QEMU runs the helper's tests too.
    qmp.call('migrate', uri='exec:cat > %s' % shlex.quote(path))
    status = qmp.wait(lambda: qmp.call('query-migrate'), lambda s: s.get('status') in ('completed', 'failed'))
    if status['status'] != 'completed':
        raise RuntimeError('the migration to %s failed: %s' % (path, status.get('error-desc')))
    with open(path, 'rb') as handle:
        os.fsync(handle.fileno())
    qmp.call('quit')
    qmp.close()
    return {'stopped_at': stopped_at, 'save_s': round(time.monotonic() - begin, 3), 'bytes': os.path.getsize(path)}


def restore(directory, path, mib, kernel, append=None):
    """QEMU with the same arguments, the state loaded from path, the guest resumed."""
    begin = time.monotonic()
    qmp = start(directory, mib, kernel, append, incoming=True)
    qmp.call('migrate-incoming', uri='exec:cat %s' % shlex.quote(path))
    qmp.wait(lambda: qmp.call('query-status'), lambda s: s.get('status') not in ('inmigrate',))
    qmp.call('cont')
    resumed_at = time.time()
    qmp.close()
    return {'resumed_at': resumed_at, 'load_s': round(time.monotonic() - begin, 3)}


def main(argv):
    command, args = argv[0], argv[1:]
    if command == 'start':
        start(args[0], int(args[1]), args[2], args[3] if len(args) > 3 else None).close()
        return 0
    if command == 'save':
        print(json.dumps(save(args[0], args[1])))
        return 0
    if command == 'restore':
        print(json.dumps(restore(args[0], args[1], int(args[2]), args[3], args[4] if len(args) > 4 else None)))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
