# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The blackout timeline from snapshots shaped like guest.py probe's output."""
from __future__ import annotations

import time

import pytest

from luo_bench import timeline

T0 = 1795796000.0  # controller realtime of the shutdown start in every case below


def utc(seconds):
    """A realtime timestamp as `systemctl show --timestamp=us+utc` prints it."""
    return time.strftime('%a %Y-%m-%d %H:%M:%S', time.gmtime(int(seconds))) + '.%06d UTC' % round((seconds % 1) * 1e6)


def usec(seconds):
    return str(round(seconds * 1e6))


def before_snapshot(offset=-0.5, kexec_count='0'):
    return {'boot_id': 'old', 'realtime': T0 - 10 + offset, 'monotonic': 200.0, 'offset': offset,
            'manager': {'KExecCount': kexec_count}, 'mark': None}


def after_snapshot(kernel_start, offset=-1.5, kexec_count='0', manager=None, **fields):
    """A new boot whose kernel started at controller time kernel_start: userspace 3 s, demo exec 20 s, active 25 s."""
    snapshot = {'boot_id': 'new', 'realtime': kernel_start + offset + 100.0, 'monotonic': 100.0, 'offset': offset,
                'manager': dict({'KExecCount': kexec_count, 'UserspaceTimestampMonotonic': usec(3.0)}, **(manager or {})),
                'demo': {'ExecMainStartTimestampMonotonic': usec(20.0), 'ActiveEnterTimestampMonotonic': usec(25.0)},
                'mark': None}
    snapshot.update(fields)
    return snapshot


def shutdown_marks(old_offset):
    """PID 1 shutdown at T0: units stopped after 4 s, systemd-shutdown from 4.1 s to 4.4 s (old boot's clock)."""
    return {'PreviousShutdownStartTimestamp': utc(T0 + old_offset),
            'PreviousShutdownFinishTimestamp': utc(T0 + 4.0 + old_offset),
            'PreviousShutdownLateStartTimestamp': utc(T0 + 4.1 + old_offset),
            'PreviousShutdownLateFinishTimestamp': utc(T0 + 4.4 + old_offset)}


def test_live_update_phases_add_up_on_the_controller_clock():
    before = before_snapshot(offset=-0.5, kexec_count='2')
    after = after_snapshot(T0 + 5.0, offset=-1.5, kexec_count='3', manager=shutdown_marks(-0.5),
                           mark=T0 - 0.2 - 0.5)
    line = timeline.compute(before, after)
    assert line['start_from'] == 'systemd'
    assert line['phases_s'] == {'stopping': 4.0, 'exit': 0.1, 'systemd_shutdown': 0.3, 'kexec': 0.6, 'kernel': 3.0,
                                'userspace': 17.0, 'service_start': 5.0}
    assert line['blackout_s'] == pytest.approx(30.0, abs=1e-3)
    assert line['until_service_s'] == pytest.approx(25.0, abs=1e-3)
    assert line['mark_lag_s'] == pytest.approx(0.2, abs=1e-3)
    assert sum(line['phases_s'].values()) == pytest.approx(line['blackout_s'], abs=1e-2)
    assert line['until_state_s'] is None  # the demo did not say when it held its state


def test_until_the_demo_held_its_state_on_the_new_boot_clock():
    before = before_snapshot(offset=-0.5, kexec_count='2')
    # The demo held its state 1.5 s after it started (T0 + 5 + 20 + 1.5 on the controller's clock).
    after = after_snapshot(T0 + 5.0, offset=-1.5, kexec_count='3', manager=shutdown_marks(-0.5),
                           demo_state_at=T0 + 26.5 - 1.5)
    line = timeline.compute(before, after)
    assert line['until_state_s'] == pytest.approx(26.5, abs=1e-3)
    assert line['until_service_s'] < line['until_state_s'] < line['blackout_s']


def test_a_state_time_from_before_this_boot_is_not_taken():
    before = before_snapshot(offset=-0.5, kexec_count='2')
    after = after_snapshot(T0 + 5.0, offset=-1.5, kexec_count='3', manager=shutdown_marks(-0.5),
                           demo_state_at=T0 - 30.0)
    assert timeline.compute(before, after)['until_state_s'] is None


def test_each_boot_clock_offset_is_removed():
    """The same boot seen through other clock offsets gives the same blackout."""
    results = []
    for old_offset, new_offset in ((0.0, 0.0), (-0.9, -1.8), (0.4, -0.3)):
        before = before_snapshot(offset=old_offset, kexec_count='0')
        after = after_snapshot(T0 + 5.0, offset=new_offset, kexec_count='1', manager=shutdown_marks(old_offset))
        results.append(timeline.compute(before, after)['blackout_s'])
    assert results == [pytest.approx(30.0, abs=1e-3)] * 3


def test_cold_boot_starts_at_the_fresh_mark():
    before = before_snapshot(offset=-0.5)
    after = after_snapshot(T0 + 20.0, offset=-0.2, mark=T0 - 0.5)
    line = timeline.compute(before, after)
    assert line['start_from'] == 'mark'
    assert line['phases_s']['shutdown_firmware_grub'] == pytest.approx(20.0, abs=1e-3)
    assert line['blackout_s'] == pytest.approx(45.0, abs=1e-3)
    assert 'kexec' not in line['phases_s']


def test_cold_boot_without_a_fresh_mark_is_refused():
    before = before_snapshot()
    stale = before['realtime'] - 60
    with pytest.raises(timeline.TimelineError, match='mark of the reboot command'):
        timeline.compute(before, after_snapshot(T0 + 20.0, mark=stale))


def test_kexec_count_without_timestamps_falls_back_to_the_mark():
    before = before_snapshot(offset=0.0, kexec_count='0')
    after = after_snapshot(T0 + 6.0, offset=0.0, kexec_count='1', mark=T0)
    assert timeline.compute(before, after)['start_from'] == 'mark'


def test_disk_round_trip_from_dump_to_read_back():
    before = before_snapshot(offset=-0.5)
    dump = {'start': T0 - 8.0 - 0.5, 'end': T0 - 0.5, 'bytes': 1}
    readback = {'boot_id': 'new', 'start': T0 + 20.0 + 22.0 - 1.0, 'end': T0 + 20.0 + 30.0 - 1.0}
    after = after_snapshot(T0 + 20.0, offset=-1.0, dump=dump, readback=readback)
    line = timeline.compute(before, after, until='readback')
    assert line['start_from'] == 'dump'
    assert line['phases_s'] == {'dump': 8.0, 'shutdown_firmware_grub': 20.0, 'kernel': 3.0, 'userspace': 19.0,
                                'service_start': 8.0}
    assert line['blackout_s'] == pytest.approx(58.0, abs=1e-3)


def test_read_back_of_another_boot_is_refused():
    before = before_snapshot()
    after = after_snapshot(T0 + 20.0, dump={'start': before['realtime'] + 1, 'end': before['realtime'] + 2},
                           readback={'boot_id': 'old', 'start': 0, 'end': 1})
    with pytest.raises(timeline.TimelineError, match='from boot old'):
        timeline.compute(before, after, until='readback')


def test_same_boot_is_refused():
    before = before_snapshot()
    after = after_snapshot(T0, boot_id='old')
    with pytest.raises(timeline.TimelineError, match='boot id did not change'):
        timeline.compute(before, after)


def test_missing_demo_timestamp_is_named():
    before = before_snapshot(kexec_count='0')
    after = after_snapshot(T0 + 5.0, kexec_count='1', manager=shutdown_marks(-0.5))
    after['demo']['ActiveEnterTimestampMonotonic'] = '0'
    with pytest.raises(timeline.TimelineError, match='ActiveEnterTimestampMonotonic'):
        timeline.compute(before, after)
