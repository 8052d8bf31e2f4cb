# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""At most LUO_LAB_BOOT_SLOTS lab VMs boot at once (lab_slot in lab/lib.sh, taken by lab/vm start): four
TCG boots on two cores each took past the ssh wait's bound. The slots are real flock()s, held by real
processes here."""
from __future__ import annotations

import os
import pathlib
import subprocess
import time

LAB = pathlib.Path(__file__).resolve().parents[1]

# Take a slot of "boot" (COUNT of them), record that, hold it until the file RELEASE exists.
HOLDER = """
. "$LAB/lib.sh"
lab_slot boot "$COUNT" "${WAIT:-3600}"
echo "$ME" >> "$OUT"
while [ ! -e "$RELEASE" ]; do sleep 0.05; done
"""


def holder(tmp_path, me, count, release, **env):
    return subprocess.Popen(
        ['bash', '-c', HOLDER],
        env={**os.environ, 'LAB': str(LAB), 'LUO_LAB_CACHE': str(tmp_path / 'cache'), 'COUNT': str(count),
             'ME': me, 'OUT': str(tmp_path / 'took'), 'RELEASE': str(tmp_path / release), **env},
        stderr=subprocess.PIPE, text=True)


def took(tmp_path, count, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        lines = (tmp_path / 'took').read_text().split() if (tmp_path / 'took').exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f'fewer than {count} holders took a slot within {timeout} s')


def test_two_slots_let_two_in_and_the_third_waits_for_one_to_end(tmp_path):
    first, second = holder(tmp_path, 'a', 2, 'release-a'), holder(tmp_path, 'b', 2, 'release-b')
    assert sorted(took(tmp_path, 2)) == ['a', 'b']
    third = holder(tmp_path, 'c', 2, 'release-c')
    time.sleep(1.5)
    assert len(took(tmp_path, 2)) == 2, 'a third holder got in while two slots were taken'
    (tmp_path / 'release-a').touch()
    assert first.wait(timeout=20) == 0
    assert took(tmp_path, 3)[2] == 'c'
    (tmp_path / 'release-b').touch()
    (tmp_path / 'release-c').touch()
    assert second.wait(timeout=20) == 0
    assert third.wait(timeout=20) == 0
    assert 'waiting for one of the 2 boot slots' in third.stderr.read()


def test_a_holder_that_dies_frees_its_slot(tmp_path):
    first = holder(tmp_path, 'a', 1, 'never')
    took(tmp_path, 1)
    first.kill()
    first.wait(timeout=20)
    second = holder(tmp_path, 'b', 1, 'release-b')
    assert took(tmp_path, 2) == ['a', 'b']
    (tmp_path / 'release-b').touch()
    assert second.wait(timeout=20) == 0


def test_waiting_is_bounded_and_says_for_what(tmp_path):
    first = holder(tmp_path, 'a', 1, 'release-a')
    took(tmp_path, 1)
    second = holder(tmp_path, 'b', 1, 'release-b', WAIT='2')
    assert second.wait(timeout=20) == 1
    assert 'gave up after 2s waiting for one of the 1 boot slots' in second.stderr.read()
    (tmp_path / 'release-a').touch()
    assert first.wait(timeout=20) == 0


def test_a_bad_slot_count_is_refused_before_anything_is_made(tmp_path):
    cache = tmp_path / 'cache'
    done = subprocess.run([str(LAB / 'vm'), 'start', 'slots-probe'], capture_output=True, text=True, check=False,
                          env={**os.environ, 'LUO_LAB_CACHE': str(cache), 'LUO_LAB_BOOT_SLOTS': '0'})
    assert done.returncode == 1
    assert "LUO_LAB_BOOT_SLOTS='0' is not a number above 0: unset it" in done.stderr
    assert not (cache / 'vms' / 'slots-probe').exists()
