# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exercise the real /dev/liveupdate ioctls through luo.py and luo_sessions.py, as root inside a LUO VM.

    python3 luo_vm_check.py /path/to/plugins/module_utils/luo.py [DEVICE]

Stdlib only: luo.py is loaded from the path given, luo_sessions.py from beside this file. Prints one JSON object
``{"ok", "device", "probe", "checks": [{"name", "ok", "detail"}]}`` and exits 0
when every check passed, 1 when one failed, 2 when there is no usable LUO
device. Nothing is left behind: the sessions are closed before the exit, which
unpreserves their files. It holds /dev/liveupdate for well under a second.
"""
from __future__ import annotations

import errno
import importlib.util
import json
import os
import sys

SESSION = 'luo-vm-check'
LONG_SESSION = 'luo-vm-check-' + 'x' * 50  # 63 bytes, the longest name LUO takes
ABSENT_SESSION = 'luo-vm-check-never-preserved'
PAYLOAD = b'kept across the kexec'


def load_luo(path):
    """luo.py from ``path``, and luo_sessions.py (beside this file), which imports it as ``luo``."""
    spec = importlib.util.spec_from_file_location('luo', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules['luo'] = module
    spec.loader.exec_module(module)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    return module, importlib.import_module('luo_sessions')


class Checks:
    def __init__(self, luo):
        self.luo = luo
        self.results = []

    def record(self, name, ok, detail):
        self.results.append({'name': name, 'ok': bool(ok), 'detail': detail})
        return ok

    def call(self, name, function, expect=None):
        """Run ``function``: passes if it returns (``expect`` None) or fails with errno ``expect``.

        Returns (passed, value).
        """
        try:
            value = function()
        except OSError as exc:
            passed = expect is not None and exc.errno == expect
            return self.record(name, passed, '%s: %s' % (errno.errorcode.get(exc.errno, exc.errno), exc)), None
        if expect is None:
            return self.record(name, True, 'returned %r' % (value,)), value
        if isinstance(value, int) and value > 2:
            os.close(value)  # an fd that should not exist
        return self.record(name, False, 'succeeded (returned %r), expected %s' % (value, errno.errorcode[expect])), None

    def equal(self, name, got, want):
        return self.record(name, got == want, 'got %r, want %r' % (got, want))


def exercise(luo, sessions, device, checks):
    """The calls, in an order where each check relies only on the ones before it."""
    with sessions.open_device(device) as dev_fd:
        checks.equal('device-answers-as-luo', luo.is_luo_fd(dev_fd), True)
        checks.call('second-open-is-busy', lambda: luo.open_fd(device), errno.EBUSY)
        created, session = checks.call('create-session', lambda: sessions.create_session(dev_fd, SESSION))
        if not created:
            return
        try:
            checks.equal('session-name', sessions.session_name(session), SESSION)
            checks.call('same-name-exists', lambda: sessions.create_session(dev_fd, SESSION), errno.EEXIST)
            created, long_session = checks.call('create-63-byte-name', lambda: sessions.create_session(dev_fd, LONG_SESSION))
            if created:
                checks.equal('63-byte-name-comes-back', sessions.session_name(long_session), LONG_SESSION)
                os.close(long_session)
            preserve_files(sessions, checks, dev_fd, session)
            checks.call('finish-outgoing-session-is-invalid', lambda: sessions.finish_session(session), errno.EINVAL)
            checks.call('retrieve-fd-from-outgoing-is-invalid', lambda: sessions.retrieve_fd(session, 1), errno.EINVAL)
            checks.call('retrieve-absent-session', lambda: sessions.retrieve_session(dev_fd, ABSENT_SESSION), errno.ENOENT)
            checks.call('session-ioctl-on-device-is-invalid', lambda: sessions.session_name(dev_fd), errno.EINVAL)
        finally:
            os.close(session)


def preserve_files(sessions, checks, dev_fd, session):
    memfd = os.memfd_create('luo-vm-check')
    other = os.memfd_create('luo-vm-check-other')
    read_end, write_end = os.pipe()
    try:
        os.write(memfd, PAYLOAD)
        if not checks.call('preserve-memfd', lambda: sessions.preserve_fd(session, memfd, 1))[0]:
            return
        checks.call('preserve-same-file-is-busy', lambda: sessions.preserve_fd(session, memfd, 2), errno.EBUSY)
        checks.call('reuse-token-exists', lambda: sessions.preserve_fd(session, other, 1), errno.EEXIST)
        checks.call('preserve-pipe-is-not-preservable', lambda: sessions.preserve_fd(session, read_end, 3), errno.ENOENT)
        checks.call('preserve-on-device-fd-is-invalid', lambda: sessions.preserve_fd(dev_fd, other, 4), errno.EINVAL)
        checks.call('resize-preserved-memfd-is-refused', lambda: os.ftruncate(memfd, 4096), errno.EPERM)
        checks.call('write-within-size-still-works', lambda: os.pwrite(memfd, b'K', 0))
        checks.equal('memfd-contents', os.pread(memfd, 64, 0), b'K' + PAYLOAD[1:])
    finally:
        for fd in (memfd, other, read_end, write_end):
            os.close(fd)


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write('usage: %s /path/to/luo.py [DEVICE]\n' % argv[0])
        return 2
    luo, sessions = load_luo(argv[1])
    device = argv[2] if len(argv) == 3 else luo.DEVICE_PATH
    report = {'ok': False, 'device': device, 'probe': luo.probe_device(device), 'checks': []}
    if report['probe']['state'] != 'ok':
        print(json.dumps(report, indent=2))
        return 2
    checks = Checks(luo)
    try:
        exercise(luo, sessions, device, checks)
    except OSError as exc:  # the device itself went away or could not be opened again
        checks.record('unexpected-error', False, str(exc))
    after = luo.probe_device(device)
    checks.equal('device-released-after-close', after['state'], 'ok')
    report['checks'] = checks.results
    report['ok'] = all(check['ok'] for check in checks.results)
    print(json.dumps(report, indent=2))
    return 0 if report['ok'] else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
