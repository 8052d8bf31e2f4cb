# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""guest_lines: the nested guest's serial log around one pause (lines as lab/hypervisor/guest prints them)."""
from __future__ import annotations

import pytest

from luo_bench.guest_lines import GuestLinesError, around_pause, boots, filled_and_running

TOKEN, BOOT = '5a1011330dbf3eb5', 'bead32b9-955f-2efd-de03-49934e48cf5a'


def count(n, token=TOKEN, boot=BOOT):
    return 'token=%s counter=%d boot_id=%s uptime=%d.00' % (token, n, boot, n)


def check(clock, state='ok'):
    return 'rtc=%s mem=%s' % (clock, state)


BEFORE = ['guest up: token=%s boot_id=%s' % (TOKEN, BOOT), 'filled=254 seconds=0.88',
          count(1), check('10:52:14'), count(2), check('10:52:15')]


def test_a_guest_that_went_on_kept_its_memory_and_says_how_long_it_stopped():
    after = [count(3) + '\r', check('10:52:58') + '\r', count(4), check('10:52:59')]
    assert around_pause(BEFORE, after) == {'kept': True, 'rebooted': False, 'counter_before': 2, 'counter_after': 3,
                                           'memory_ok': True, 'rtc_pause_s': 42}


def test_a_pause_over_midnight():
    before = [count(1), check('23:59:50')]
    assert around_pause(before, [count(2), check('00:00:10')])['rtc_pause_s'] == 19


def test_a_rebooted_guest_did_not_keep_anything():
    after = ['guest up: token=%s boot_id=%s' % ('0' * 16, 'other'), count(1, '0' * 16, 'other')]
    found = around_pause(BEFORE, after)
    assert (found['kept'], found['rebooted'], found['counter_after']) == (False, True, 1)
    assert found['memory_ok'] is False and found['rtc_pause_s'] is None


def test_a_counter_that_jumped_is_not_kept():
    assert around_pause(BEFORE, [count(5), check('10:52:20')])['kept'] is False


def test_a_damaged_memory_is_said():
    assert around_pause(BEFORE, [count(3), check('10:52:20', 'BAD')])['memory_ok'] is False


def test_without_checks_no_rtc_pause():
    assert around_pause([count(1)], [count(2)])['rtc_pause_s'] is None


@pytest.mark.parametrize('before, after, which', [([], [count(1)], 'before'), ([count(1)], ['garbage'], 'after')])
def test_a_log_without_the_guest_on_either_side_is_an_error(before, after, which):
    with pytest.raises(GuestLinesError, match='no counter line %s the pause' % which):
        around_pause(before, after)


NEXT_TOKEN, NEXT_BOOT = '4bc240f6cc8c9978', '376e3c19-ca4f-9835-0eea-9f9fb8763793'
NEXT_UP = 'guest up: token=%s boot_id=%s' % (NEXT_TOKEN, NEXT_BOOT)


def test_a_guest_that_filled_its_ram_and_prints_checks_runs():
    assert filled_and_running(BEFORE) is True
    assert filled_and_running(BEFORE[:2]) is False  # still filling
    assert filled_and_running([]) is False


def test_the_checks_of_the_boot_before_never_count_for_the_next_one():
    # A bigger guest booted in the same log, still filling: the last lines of the one before are no sign of it.
    log = BEFORE + [NEXT_UP, 'filled=1021 seconds=37.42']
    assert filled_and_running(log) is False
    assert filled_and_running(log + [count(1, NEXT_TOKEN, NEXT_BOOT), check('17:30:23') + '\r']) is True


def test_a_new_boot_is_waited_for_until_it_shows():
    assert boots(BEFORE) == 1 and boots(BEFORE + [NEXT_UP + '\r']) == 2
    assert filled_and_running(BEFORE, boots_before=1) is False  # the new guest has not booted yet
    assert filled_and_running(BEFORE + [NEXT_UP, count(1, NEXT_TOKEN, NEXT_BOOT), check('17:30:23')], boots_before=1) is True


def test_a_boot_after_a_guest_stopped_in_the_middle_of_a_line_counts():
    # The guest was stopped while QEMU wrote a line: the next boot's first line follows the half-written one.
    log = BEFORE + ['token=%s counter=3 boot_id=%s upti' % (TOKEN, BOOT) + NEXT_UP, 'filled=1021 seconds=37.42',
                    count(1, NEXT_TOKEN, NEXT_BOOT), check('17:30:23')]
    assert boots(log) == 2
    assert filled_and_running(log, boots_before=1) is True
    assert around_pause(BEFORE, log[len(BEFORE):])['rebooted'] is True
