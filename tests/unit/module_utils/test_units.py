# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""units.py: the state of the units a live update verifies, from real systemd 262 outputs (fixtures/systemd)."""
from __future__ import annotations

import json
import pathlib

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import units
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host

FIXTURES = pathlib.Path(__file__).parent / 'fixtures' / 'systemd'
SHOW = 'systemctl show --property=LoadState,ActiveState,FileDescriptorStoreMax '


def show(load='loaded', active='active', fdmax=4):
    return 0, 'LoadState=%s\nActiveState=%s\nFileDescriptorStoreMax=%d\n' % (load, active, fdmax), ''


class Answers:
    """A host runner answering whole command lines from a table; records the calls."""

    def __init__(self, table):
        self.table = table
        self.calls = []

    def __call__(self, argv, _text):
        line = ' '.join(argv)
        self.calls.append(line)
        assert line in self.table, 'unexpected command %r' % line
        return self.table[line]


def host_with(tmp_path, table):
    return Host(str(tmp_path), Answers(table))


def test_a_service_with_memfds_in_its_fd_store(tmp_path):
    host = host_with(tmp_path, {SHOW + 'demo.service': show(),
                                'systemd-analyze fdstore demo.service --json=short':
                                    (0, (FIXTURES / 'fdstore-memfds-262.json').read_text(), '')})
    assert units.unit_state(host, 'demo.service') == {'load_state': 'loaded', 'active_state': 'active',
                                                      'fdstore': ['cache', 'state'], 'error': None}


def test_a_unit_without_an_fd_store_is_not_asked_for_one(tmp_path):
    runner = Answers({SHOW + 'sshd.service': show(fdmax=0)})
    state = units.unit_state(Host(str(tmp_path), runner), 'sshd.service')
    assert state == {'load_state': 'loaded', 'active_state': 'active', 'fdstore': [], 'error': None}
    assert runner.calls == [SHOW + 'sshd.service']


def test_a_missing_unit_is_reported_not_found(tmp_path):
    host = host_with(tmp_path, {SHOW + 'nope.service': show(load='not-found', active='inactive', fdmax=0)})
    assert units.unit_state(host, 'nope.service')['load_state'] == 'not-found'


def test_systemd_that_cannot_list_the_fd_store_is_an_error_naming_it(tmp_path):
    host = host_with(tmp_path, {SHOW + 'demo.service': show(),
                                'systemd-analyze fdstore demo.service --json=short': (1, '', 'Unknown command verb fdstore.')})
    state = units.unit_state(host, 'demo.service')
    assert state['fdstore'] is None
    assert state['error'] == ('could not read the state of demo.service: `systemd-analyze fdstore demo.service '
                              '--json=short` failed with exit code 1: Unknown command verb fdstore.')


def test_a_listing_that_is_not_json_is_an_error(tmp_path):
    host = host_with(tmp_path, {SHOW + 'demo.service': show(),
                                'systemd-analyze fdstore demo.service --json=short': (0, 'No file descriptors\n', '')})
    state = units.unit_state(host, 'demo.service')
    assert state['fdstore'] is None and 'is not JSON' in state['error']


def test_systemctl_without_a_bus_is_an_error(tmp_path):
    host = host_with(tmp_path, {SHOW + 'demo.service': (1, '', 'Failed to connect to bus: No such file or directory')})
    state = units.unit_state(host, 'demo.service')
    assert state == {'load_state': None, 'active_state': None, 'fdstore': None,
                     'error': 'could not read the state of demo.service: `systemctl show --property=LoadState,ActiveState,'
                              'FileDescriptorStoreMax demo.service` failed with exit code 1: Failed to connect to bus: '
                              'No such file or directory'}


def test_a_keeper_reports_its_restore_record(tmp_path):
    record = {'result': 'restored', 'boot_id': 'b2', 'message': 'restored 2 paths', 'state': {'saved_boot_id': 'b1'}}
    (tmp_path / 'run/luo-state/redis').mkdir(parents=True)
    (tmp_path / 'run/luo-state/redis/restore.json').write_text(json.dumps(record))
    host = host_with(tmp_path, {SHOW + 'luo-state@redis.service': show(fdmax=0)})
    assert units.unit_state(host, 'luo-state@redis.service')['restore_record'] == record


@pytest.mark.parametrize('content', [None, 'not json', '[1, 2]'])
def test_a_keeper_without_a_readable_record_has_none(tmp_path, content):
    if content is not None:
        (tmp_path / 'run/luo-state/redis').mkdir(parents=True)
        (tmp_path / 'run/luo-state/redis/restore.json').write_text(content)
    host = host_with(tmp_path, {SHOW + 'luo-state@redis.service': show(fdmax=0)})
    assert units.unit_state(host, 'luo-state@redis.service')['restore_record'] is None


def test_other_units_have_no_restore_record(tmp_path):
    host = host_with(tmp_path, {SHOW + 'demo.service': show(fdmax=0)})
    assert 'restore_record' not in units.unit_state(host, 'demo.service')


def test_unit_states_in_the_order_given(tmp_path):
    host = host_with(tmp_path, {SHOW + 'b.service': show(fdmax=0), SHOW + 'a.service': show(fdmax=0)})
    assert list(units.unit_states(host, ['b.service', 'a.service'])) == ['b.service', 'a.service']


@pytest.mark.parametrize('bad', ['myapp', '--all', 'a b.service', ''])
def test_bad_unit_names_are_refused_naming_them(bad):
    with pytest.raises(ValueError) as refused:
        units.validate_units(['ok.service', bad])
    assert str(refused.value) == 'units entry %r is not a unit name: give full names such as "myapp.service"' % bad


def test_good_unit_names_pass():
    assert units.validate_units(['ok.service', 'luo-state@redis.service']) == ['ok.service', 'luo-state@redis.service']
