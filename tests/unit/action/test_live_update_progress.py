# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""While the host is away, a line at a steady pace says how long it has been and what is waited for."""
from __future__ import annotations

import pytest

from ansible_collections.luo.liveupdate.plugins.plugin_utils import live_update_calls as calls
from ansible_collections.luo.liveupdate.plugins.plugin_utils import live_update_flow as flow
from ansible_collections.luo.liveupdate.tests.unit.action.fake_host import FakeHost
from ansible_collections.luo.liveupdate.tests.unit.action.test_live_update_flow import run

REFUSED = 'ssh: connect to host 127.0.0.1 port 2222: Connection refused'


def waiting(messages):
    return [message for message in messages if message.startswith('waiting for ')]


def test_the_pace_is_15_seconds():
    assert calls.PROGRESS_EVERY_S == 15


def test_a_line_every_15_seconds_while_the_host_is_away():
    host = FakeHost(down_polls=8)  # back 55 s after the kexec
    _result, messages = run(host, reboot_timeout=900)
    assert waiting(messages) == ['waiting for the new boot: %d s since the kexec, up to 900 s (last: HostDown: %s)'
                                 % (seconds, REFUSED) for seconds in (15, 30, 45)]
    _result, messages = run(FakeHost(down_polls=2))  # back at once: nothing to say
    assert waiting(messages) == []


def test_the_pace_follows_the_constant(monkeypatch):
    monkeypatch.setattr(calls, 'PROGRESS_EVERY_S', 5.0)
    _result, messages = run(FakeHost(down_polls=8))
    assert [int(message.split(': ')[1].split(' s ')[0]) for message in waiting(messages)] == list(range(5, 55, 5))


def test_the_line_says_the_old_boot_still_answering():
    class Slow(FakeHost):
        """The old boot answers for 20 s while systemd stops it."""

        def after_kexec(self, cmd):
            if self.now < 20 and cmd in (flow.BOOT_ID, flow.SYSTEM_STATE):
                return 0, ('boot-1\n' if cmd == flow.BOOT_ID else 'stopping\n'), ''
            return super().after_kexec(cmd)
    _result, messages = run(Slow(down_polls=0))
    assert waiting(messages) == ['waiting for the new boot: 15 s since the kexec, up to 600 s (last: the host kept its '
                                 'boot id boot-1)']


def test_lines_while_systemd_finishes_booting():
    host = FakeHost(boot_finish_s=40)  # the new boot answers 3 s after the kexec, finished 40 s later
    result, messages = run(host)
    assert waiting(messages) == ['waiting for systemd to finish booting: %d s since the kexec, up to 600 s (last: systemd '
                                 'is starting)' % seconds for seconds in (15, 30)]
    assert result['system_state'] == 'running'
    assert host.now == pytest.approx(43)


def test_a_boot_that_does_not_finish_in_time_is_said_and_lines_stop_at_the_deadline():
    host = FakeHost(boot_finish_s=10000)
    result, messages = run(host, reboot_timeout=60)
    assert waiting(messages) == ['waiting for systemd to finish booting: %d s since the kexec, up to 60 s (last: systemd '
                                 'is starting)' % seconds for seconds in (15, 30, 45)]
    assert result['system_state'] == 'starting'
    assert 'systemd is starting after the live update (not finished within reboot_timeout)' in messages
    waits = [int(call[1].split()[1]) for call in host.calls if call[0] == 'command' and call[1].endswith('--wait')]
    assert waits == [12, 15, 15, 15]  # each piece ends when the next line is due, the last at the deadline


def test_lines_while_the_connection_drops_on_the_new_boot():
    host = FakeHost(drops_after_boot=5)
    _result, messages = run(host)
    assert waiting(messages) == ['waiting for systemd to finish booting: 15 s since the kexec, up to 600 s (last: HostDown: '
                                 'Shared connection to 127.0.0.1 closed.)']


def test_lines_stop_with_the_timeout():
    host = FakeHost(comes_back=None)
    messages = []
    with pytest.raises(flow.LiveUpdateFailed, match='did not come back'):
        flow.LiveUpdate(host, {'kernel': '/boot/vmlinuz-7.3.4', 'reboot_timeout': 40}, log=messages.append).run()
    assert [message.partition(': ')[2].partition(' s ')[0] for message in waiting(messages)] == ['15', '30']
    assert host.now <= 40


def test_lines_reach_the_log_callback_only():
    messages = []
    host = FakeHost(down_polls=8)
    flow.LiveUpdate(host, {'kernel': '/boot/vmlinuz-7.3.4', 'reboot_timeout': 600}, log=messages.append).run()
    assert len(waiting(messages)) == 3
    flow.LiveUpdate(FakeHost(down_polls=8), {'kernel': '/boot/vmlinuz-7.3.4'}).run()  # no callback: nothing said
