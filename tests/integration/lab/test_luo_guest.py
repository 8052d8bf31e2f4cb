# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nested guest (lab/hypervisor/guest) built with lab/hypervisor/build-guest and run by the
machine's real qemu-system-x86_64 under TCG: it boots, prints its lines once a second, and a
guest saved by QEMU's migration and loaded into a second QEMU goes on with the same token and
boot id (what the hypervisor scenario relies on across a host live update)."""
from __future__ import annotations

import json
import os
import pathlib
import re
import socket
import subprocess
import time

import pytest

LAB = pathlib.Path(__file__).resolve().parents[3] / 'lab'
BUILD = LAB / 'hypervisor' / 'build-guest'
QEMU = os.environ.get('LUO_LAB_QEMU', 'qemu-system-x86_64')
LINE = re.compile(r'^token=([0-9a-f]{16}) counter=(\d+) boot_id=([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}) '
                  r'uptime=(\d+\.\d\d)$')
UP = re.compile(r'^guest up: token=([0-9a-f]{16}) boot_id=(\S+)$')


@pytest.fixture(name='guest', scope='module')
def fixture_guest(tmp_path_factory):
    out = tmp_path_factory.mktemp('guest') / 'luo-guest.elf'
    subprocess.run([str(BUILD), str(out)], check=True, capture_output=True, text=True)
    return out


def qemu(guest, serial, qmp, *extra):
    argv = [QEMU, '-accel', 'tcg', '-machine', 'q35', '-m', '64', '-nodefaults', '-display', 'none',
            '-chardev', 'file,id=s0,path=%s,append=on' % serial, '-serial', 'chardev:s0',
            '-qmp', 'unix:%s,server=on,wait=off' % qmp, '-kernel', str(guest)] + list(extra)
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def lines(serial):
    """Whole lines written so far (the last one may be half written)."""
    text = serial.read_text(errors='replace') if serial.exists() else ''
    return text.split('\n')[:-1]


def wait_for(serial, predicate, timeout, process):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in lines(serial) if predicate(line)]
        if found:
            return found
        if process.poll() is not None:
            pytest.fail('qemu exited %s: %s' % (process.returncode, process.stderr.read().decode()))
        time.sleep(0.2)
    pytest.fail('no such line within %d s; serial tail:\n%s' % (timeout, '\n'.join(lines(serial)[-10:])))
    return []


class Qmp:
    def __init__(self, path):
        deadline = time.monotonic() + 30
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(str(path))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.stream = self.sock.makefile('rw')
        json.loads(self.stream.readline())
        self.call('qmp_capabilities')

    def call(self, command, **arguments):
        self.stream.write(json.dumps({'execute': command, 'arguments': arguments}) + '\n')
        self.stream.flush()
        while True:
            reply = json.loads(self.stream.readline())
            if 'return' in reply or 'error' in reply:
                assert 'error' not in reply, reply
                return reply['return']

    def close(self):
        self.sock.close()


def stop(process):
    process.terminate()
    process.wait(timeout=30)


def test_the_guest_boots_and_counts_once_a_second(guest, tmp_path):
    serial = tmp_path / 'serial.log'
    process = qemu(guest, serial, tmp_path / 'qmp.sock')
    try:
        started = time.monotonic()
        found = wait_for(serial, lambda line: (m := LINE.match(line)) and int(m.group(2)) >= 3, 60, process)
        elapsed = time.monotonic() - started
    finally:
        stop(process)
    all_lines = lines(serial)
    up = [UP.match(line) for line in all_lines if line.startswith('guest up:')]
    assert len(up) == 1 and up[0], all_lines
    counted = [LINE.match(line) for line in all_lines if line.startswith('token=')]
    assert all(counted), all_lines
    assert [int(m.group(2)) for m in counted][:3] == [1, 2, 3]
    assert {m.group(1) for m in counted} == {up[0].group(1)}
    assert {m.group(3) for m in counted} == {up[0].group(2)}
    assert [m.group(4) for m in counted][:3] == ['1.00', '2.00', '3.00']
    # Three guest seconds should not take much more than three seconds here.
    assert elapsed < 30, (elapsed, found)


def test_two_boots_make_different_tokens_and_boot_ids(guest, tmp_path):
    seen = []
    for boot in range(2):
        serial = tmp_path / ('serial-%d.log' % boot)
        process = qemu(guest, serial, tmp_path / ('qmp-%d.sock' % boot))
        try:
            seen.append(UP.match(wait_for(serial, UP.match, 60, process)[0]).groups())
        finally:
            stop(process)
    assert seen[0][0] != seen[1][0]
    assert seen[0][1] != seen[1][1]


def test_a_saved_guest_resumes_where_it_stopped(guest, tmp_path):
    state = tmp_path / 'state'
    serial = tmp_path / 'serial.log'
    first = qemu(guest, serial, tmp_path / 'qmp1.sock')
    try:
        before = LINE.match(wait_for(serial, lambda line: (m := LINE.match(line)) and int(m.group(2)) >= 2,
                                     60, first)[-1])
        qmp = Qmp(tmp_path / 'qmp1.sock')
        qmp.call('stop')
        qmp.call('migrate', uri='exec:cat > %s' % state)
        deadline = time.monotonic() + 60
        while qmp.call('query-migrate').get('status') != 'completed':
            assert time.monotonic() < deadline, qmp.call('query-migrate')
            time.sleep(0.2)
        qmp.close()
    finally:
        stop(first)
    last_before = [LINE.match(line) for line in lines(serial) if LINE.match(line)][-1]

    second = qemu(guest, serial, tmp_path / 'qmp2.sock', '-incoming', 'exec:cat %s' % state)
    try:
        qmp = Qmp(tmp_path / 'qmp2.sock')
        deadline = time.monotonic() + 60
        while qmp.call('query-status')['status'] != 'paused':
            assert time.monotonic() < deadline, qmp.call('query-status')
            time.sleep(0.2)
        qmp.call('cont')
        qmp.close()
        after = LINE.match(wait_for(
            serial, lambda line: (m := LINE.match(line)) and int(m.group(2)) > int(last_before.group(2)), 60,
            second)[0])
    finally:
        stop(second)
    assert after.group(1) == before.group(1)  # token: made at boot, only in the guest's RAM
    assert after.group(3) == before.group(3)  # boot id
    assert int(after.group(2)) == int(last_before.group(2)) + 1  # the counter goes on, no reboot
    assert float(after.group(4)) > float(last_before.group(4))
    assert sum(1 for line in lines(serial) if line.startswith('guest up:')) == 1


FILLED = re.compile(r'^filled=(\d+) seconds=(\d+\.\d\d)$')
CHECK = re.compile(r'^rtc=(\d\d):(\d\d):(\d\d) mem=(ok|BAD)$')


def saved_state_bytes(guest, tmp_path, *extra):
    """Boot the guest with extra arguments, save it by migration to a file; (state size, serial lines)."""
    state, serial = tmp_path / 'state', tmp_path / 'serial.log'
    process = qemu(guest, serial, tmp_path / 'qmp.sock', *extra)
    try:
        wait_for(serial, lambda line: (m := LINE.match(line)) and int(m.group(2)) >= 2, 60, process)
        qmp = Qmp(tmp_path / 'qmp.sock')
        qmp.call('stop')
        qmp.call('migrate', uri='exec:cat > %s' % state)
        deadline = time.monotonic() + 60
        while qmp.call('query-migrate').get('status') != 'completed':
            assert time.monotonic() < deadline, qmp.call('query-migrate')
            time.sleep(0.2)
        qmp.close()
    finally:
        stop(process)
    return state.stat().st_size, lines(serial)


def test_a_filled_guest_checks_its_memory_and_a_save_carries_all_of_it(guest, tmp_path):
    (tmp_path / 'filled').mkdir()
    (tmp_path / 'empty').mkdir()
    filled_bytes, seen = saved_state_bytes(guest, tmp_path / 'filled', '-append', 'fill')
    empty_bytes, plain = saved_state_bytes(guest, tmp_path / 'empty')
    filled = [FILLED.match(line) for line in seen if line.startswith('filled=')]
    # 64 MiB less the first 2 and what the firmware keeps at the top
    assert len(filled) == 1 and filled[0] and 60 <= int(filled[0].group(1)) <= 62, seen
    checks = [CHECK.match(line) for line in seen if line.startswith('rtc=')]
    assert checks and all(checks) and {m.group(4) for m in checks} == {'ok'}, seen
    # Each counter line is followed by its check; without fill there are neither.
    assert all(seen[seen.index(line) + 1].startswith('rtc=') for line in seen if LINE.match(line)
               and seen.index(line) + 1 < len(seen))
    assert not [line for line in plain if line.startswith(('filled=', 'rtc='))]
    # The pattern leaves no zero page: the migration writes the whole filled RAM, against almost nothing.
    assert filled_bytes > 60 * 1048576 > 8 * empty_bytes, (filled_bytes, empty_bytes)
