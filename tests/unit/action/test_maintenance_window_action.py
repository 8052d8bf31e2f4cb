# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The maintenance_window action: arguments, results and failures, without ever touching the host."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import yaml

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.yaml.loader import AnsibleLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import shell_loader
from ansible.template import Templar

from ansible_collections.luo.liveupdate.plugins.action import maintenance_window as action_module
from ansible_collections.luo.liveupdate.plugins.modules import maintenance_window as doc_module
from ansible_collections.luo.liveupdate.tests.unit.return_docs import assert_documented


class UnreachableConnection:
    """A host that is down: any use of the connection fails the test."""

    def __init__(self):
        self._shell = shell_loader.get('sh')
        self.used = []

    def __getattr__(self, name):
        self.used.append(name)
        raise AnsibleConnectionFailure('Failed to connect to the host via ssh: No route to host (%s)' % name)


def run_action(check_mode=False, **args):
    task = Task.load(dict(action='luo.liveupdate.maintenance_window', args=args))
    task.check_mode = check_mode
    connection = UnreachableConnection()
    action = action_module.ActionModule(task, connection, PlayContext(), DataLoader(), Templar(loader=DataLoader()), None)
    result = action.run(task_vars={})
    assert connection.used == []
    return assert_documented(doc_module.__file__, result)


def test_open_window():
    result = run_action(days=['tue'], start='02:00', end='05:00', timezone='Europe/Berlin',
                        now='2026-12-01T02:30:00+01:00')
    assert not result.get('failed'), result
    assert result['changed'] is False
    assert (result['open'], result['closes'], result['opens']) == (True, '2026-12-01T05:00:00+01:00', None)


def test_closed_window_is_not_a_failure():
    result = run_action(days=['mon', 'tue', 'wed', 'thu', 'fri'], start='02:00', end='05:00', timezone='Europe/Berlin',
                        now='2026-11-30T14:03:12+01:00')
    assert not result.get('failed') and result['changed'] is False
    assert result['open'] is False
    assert result['msg'] == ('outside the maintenance window mon-fri 02:00-05:00 Europe/Berlin: '
                             'opens 2026-12-01T02:00:00+01:00')


def test_check_mode_gives_the_same_answer():
    args = dict(days='fri', start='22:00', end='02:00', now='2026-12-05T01:00:00Z')
    assert run_action(check_mode=True, **args) == run_action(**args)


def test_defaults_use_the_controller_clock():
    before = datetime.now(timezone.utc)
    result = run_action()
    now = datetime.fromisoformat(result['now'])
    assert before - timedelta(seconds=1) <= now <= datetime.now(timezone.utc)
    assert result['open'] is True and result['closes'] is None
    assert result['window'] == {'days': ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], 'start': '00:00',
                                'end': '24:00', 'timezone': 'UTC', 'overnight': False}


def test_the_controller_clock_decides(monkeypatch):
    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 12, 5, 0, 30, tzinfo=timezone.utc).astimezone(tz)
    monkeypatch.setattr(action_module, 'datetime', Clock)
    result = run_action(days=['fri'], start='22:00', end='02:00', timezone='Europe/Berlin')
    assert (result['open'], result['now']) == (True, '2026-12-05T01:30:00+01:00')


def test_days_as_a_comma_separated_string():
    result = run_action(days='Sat, SUN', now='2026-12-05T12:00:00Z')
    assert result['window']['days'] == ['sat', 'sun'] and result['open'] is True


def test_as_written_in_a_playbook():
    """YAML turns an unquoted timestamp into a datetime (fine) and an unquoted 22:00 into 1320 (refused)."""
    args = yaml.load('days: fri\nstart: "22:00"\nend: "02:00"\nnow: 2026-12-05T00:30:00Z\n', Loader=AnsibleLoader)
    assert run_action(**args)['open'] is True
    args = yaml.load('days: fri\nstart: 22:00\nend: "02:00"\n', Loader=AnsibleLoader)
    result = run_action(**args)
    assert result['failed'] is True and result['changed'] is False
    assert result['msg'] == ('start is the number 1320, not a time of day: YAML reads an unquoted 22:00 as the number '
                             '1320 (base 60); quote it: start: "22:00"')


@pytest.mark.parametrize('args, message', [
    (dict(days=['mon', 'mo']), "days: unknown day 'mo': give day names"),
    (dict(start='25:00'), "start: '25:00' is not a time of day: hours run from 00 to 23"),
    (dict(end='2:5'), "end: '2:5' is not HH:MM (24-hour clock): write hours and minutes with two digits each: '02:05'"),
    (dict(start='05:00', end='05:00'), "start and end are both '05:00'"),
    (dict(timezone='Mars/Olympus_Mons'), "timezone: unknown time zone 'Mars/Olympus_Mons': give an IANA name"),
    (dict(now='next tuesday'), "now: 'next tuesday' is not an ISO 8601 timestamp: write it like"),
], ids=['day', 'hour', 'digits', 'start-is-end', 'timezone', 'now'])
def test_bad_input_fails_with_the_value_and_the_fix(args, message):
    result = run_action(**args)
    assert result['failed'] is True and result['changed'] is False
    assert result['msg'].startswith(message), result['msg']
    assert 'open' not in result


@pytest.mark.parametrize('args, message', [
    (dict(day=['mon']), 'Unsupported parameters.*day'),
    (dict(days={'mon': True}), "argument 'days' is of type dict and we were unable to convert to list"),
])
def test_types_and_names_are_checked_by_the_argument_spec(args, message):
    with pytest.raises(AnsibleActionFail, match=message):
        run_action(**args)


def test_documentation_matches_the_argument_spec():
    options = yaml.safe_load(doc_module.DOCUMENTATION)['options']
    assert set(options) == set(action_module.ARGUMENT_SPEC)
    for name, spec in action_module.ARGUMENT_SPEC.items():
        documented = options[name]
        assert documented['type'] == spec['type'], name
        assert documented.get('default') == spec.get('default'), name
        assert documented.get('elements') == spec.get('elements'), name
