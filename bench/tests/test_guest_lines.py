# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""guest_lines: the nested guest's serial log around one pause (lines as lab/hypervisor/guest prints them)."""
from __future__ import annotations

import pytest

from luo_bench.guest_lines import GuestLinesError, around_pause

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
