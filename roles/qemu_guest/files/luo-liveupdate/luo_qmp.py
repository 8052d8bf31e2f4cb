# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""QEMU's machine protocol (QMP) as luo-qemu-guest uses it: one client, and CPR in place.

CPR (migration mode cpr-reboot with x-ignore-shared) writes only the devices and CPU state of a
guest whose RAM is shared memory on a named file (the memfd in the fd store): the RAM stays where
it is, and the state loads back into a QEMU started with -incoming defer on the same RAM.

Installed by the role qemu_guest beside luo_service.py in /usr/local/lib/luo-liveupdate.
"""
from __future__ import annotations

import json
import socket
import time

from luo_service import ServiceError


class QmpError(ServiceError):
    """QEMU answered a QMP command with an error, or the QMP connection failed."""


class Qmp:
    """A QMP client on QEMU's unix socket: one command at a time, events skipped."""

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        self.buffer = b''
        try:
            self.sock.connect(path)
            greeting = self._receive()
            if 'QMP' not in greeting:
                raise QmpError('%s is not a QMP socket (it greeted with %r)' % (path, greeting))
            self.execute('qmp_capabilities')
        except (OSError, ValueError) as exc:
            self.sock.close()
            raise QmpError('QMP on %s: %s' % (path, exc)) from None
        except QmpError:
            self.sock.close()
            raise

    def close(self):
        self.sock.close()

    def _receive(self):
        while b'\n' not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QmpError('QEMU closed the QMP connection on %s' % self.path)
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b'\n', 1)
        return json.loads(line)

    def execute(self, command, arguments=None, fds=()):
        """The command's 'return' value; QmpError with QEMU's description when it fails."""
        request = {'execute': command}
        if arguments:
            request['arguments'] = arguments
        data = json.dumps(request).encode() + b'\n'
        try:
            if fds:
                socket.send_fds(self.sock, [data], list(fds))
            else:
                self.sock.sendall(data)
            while True:
                reply = self._receive()
                if 'event' in reply:
                    continue
                if 'error' in reply:
                    raise QmpError('QEMU refused %s: %s' % (command, reply['error'].get('desc', reply['error'])))
                return reply.get('return')
        except (OSError, ValueError) as exc:
            raise QmpError('QMP %s on %s: %s' % (command, self.path, exc)) from None


def connect_qmp(path, timeout, alive=lambda: True, interval=0.05):
    """Connect to QMP once QEMU listens; QmpError when alive() turns false or after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Qmp(path)
        except QmpError as exc:
            if not alive():
                raise QmpError('QEMU exited before its QMP socket %s answered (its messages are in the journal)' % path) from None
            if time.monotonic() >= deadline:
                raise QmpError('no QMP answer on %s within %d s: %s' % (path, timeout, exc)) from None
        time.sleep(interval)


def cpr_settings(qmp):
    """CPR in place: devices and CPU to the state file, RAM (shared, on a named file) left in the memfd."""
    qmp.execute('migrate-set-capabilities', {'capabilities': [{'capability': 'x-ignore-shared', 'state': True}]})
    qmp.execute('migrate-set-parameters', {'mode': 'cpr-reboot'})


def wait_migration(qmp, timeout, interval=0.02):
    """query-migrate until completed; QmpError with QEMU's error-desc when it failed."""
    deadline = time.monotonic() + timeout
    while True:
        info = qmp.execute('query-migrate') or {}
        state = info.get('status')
        if state == 'completed':
            return info
        if state in ('failed', 'cancelled'):
            raise QmpError('the migration %s: %s' % (state, info.get('error-desc', 'QEMU gave no reason')))
        if time.monotonic() >= deadline:
            raise QmpError('the migration did not complete within %d s (status %s)' % (timeout, state))
        time.sleep(interval)


def resume(qmp, state_fd, timeout, run=True):
    """Load the saved device state into QEMU (started with -incoming defer); seconds it took.

    run: continue the guest (it was running when it was saved) or leave it paused (it was paused).
    """
    started = time.monotonic()
    cpr_settings(qmp)
    qmp.execute('migrate-incoming', {'uri': 'file:/proc/self/fd/%d' % state_fd})
    wait_migration(qmp, timeout)
    if run:
        qmp.execute('cont')
    run_state = (qmp.execute('query-status') or {}).get('status')
    if run and run_state != 'running':
        raise QmpError('the guest is %s after cont, not running' % run_state)
    return time.monotonic() - started
