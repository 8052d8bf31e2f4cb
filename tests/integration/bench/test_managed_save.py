# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/luo_bench/managed_save.py with the machine's real QEMU (TCG) and the lab's nested guest: a guest
that filled its RAM is saved whole to a file and restored where it stopped, its memory intact."""
from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
HELPER = REPO / 'bench' / 'luo_bench' / 'managed_save.py'
BUILD = REPO / 'lab' / 'hypervisor' / 'build-guest'
LINE = re.compile(r'^token=([0-9a-f]{16}) counter=(\d+) boot_id=(\S+) uptime=\S+$')
MIB = 96


@pytest.fixture(name='guest', scope='module')
def fixture_guest(tmp_path_factory):
    out = tmp_path_factory.mktemp('guest') / 'luo-guest.elf'
    subprocess.run([str(BUILD), str(out)], check=True, capture_output=True, text=True)
    return str(out)


def helper(*args):
    done = subprocess.run([sys.executable, str(HELPER)] + [str(arg) for arg in args], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def serial_lines(directory):
    return (directory / 'serial.log').read_text(errors='replace').splitlines()


def wait_for_counter(directory, above, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counted = [LINE.match(line) for line in serial_lines(directory) if LINE.match(line)]
        if counted and int(counted[-1].group(2)) > above:
            return counted[-1]
        time.sleep(0.2)
    pytest.fail('no counter above %d within %d s: %s' % (above, timeout, serial_lines(directory)[-5:]))
    return None


def kill(directory):
    pid = directory / 'qemu.pid'
    if pid.exists():
        subprocess.run(['kill', pid.read_text().strip()], check=False)


def test_a_filled_guest_is_saved_whole_and_restored_where_it_stopped(guest, tmp_path):
    directory, state = tmp_path / 'guest', tmp_path / 'guest.state'
    try:
        helper('start', directory, MIB, guest, 'fill')
        before = wait_for_counter(directory, 1)
        saved = helper('save', directory, state)
        last = [LINE.match(line) for line in serial_lines(directory) if LINE.match(line)][-1]
        assert saved['bytes'] == state.stat().st_size > (MIB - 4) * 1048576  # the whole filled RAM
        assert saved['stopped_at'] <= time.time() and saved['save_s'] > 0
        time.sleep(2)  # the guest is gone meanwhile: its counter must not move
        restored = helper('restore', directory, state, MIB, guest, 'fill')
        assert restored['resumed_at'] > saved['stopped_at'] + 2
        after = wait_for_counter(directory, int(last.group(2)))
    finally:
        kill(directory)
    assert (after.group(1), after.group(3)) == (before.group(1), before.group(3))  # token and boot id kept
    assert int(after.group(2)) == int(last.group(2)) + 1  # counts on: no reboot
    checks = [line for line in serial_lines(directory) if line.startswith('rtc=')]
    assert checks and all(line.endswith(' mem=ok') for line in checks)
    assert sum(1 for line in serial_lines(directory) if line.startswith('guest up:')) == 1


def test_without_a_command_the_helper_says_how_to_use_it():
    done = subprocess.run([sys.executable, str(HELPER), 'nothing'], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and 'start DIR MIB KERNEL' in done.stderr
