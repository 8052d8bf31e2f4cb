# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lock module on a fixture tree: take, re-enter, refuse, take over, release; check and diff mode; bad input."""
from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import lock as lockrules
from ansible_collections.luo.liveupdate.plugins.modules import lock as lock_module
from ansible_collections.luo.liveupdate.tests.unit.modules import info_trees as trees

PATH = lockrules.DEFAULT_PATH


@pytest.fixture
def root(tmp_path, monkeypatch, host_root):
    root = str(tmp_path / 'host')
    os.makedirs(root)
    host_root(root)
    monkeypatch.delenv('SSH_CLIENT', raising=False)
    return root


def on_disk(root, path=PATH):
    full = os.path.join(root, path.lstrip('/'))
    if not os.path.exists(full):
        return None
    with open(full, encoding='utf-8') as handle:
        return json.load(handle)


def place(root, record, path=PATH):
    full = os.path.join(root, path.lstrip('/'))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w', encoding='utf-8') as handle:
        handle.write(record if isinstance(record, str) else json.dumps(record))


def tree(root):
    """Every file below the root with its content: what a refused call must leave as it was."""
    found = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(directory, name), encoding='utf-8') as handle:
                found[os.path.relpath(os.path.join(directory, name), root)] = handle.read()
    return found


def someone_else(expires_in=3000):
    now = int(time.time())
    return lockrules.make_record('awx job 7', 'awx-ee-1', now - 60, now + expires_in)


def test_acquire_takes_the_lock(root, run_module):
    before = int(time.time())
    result = run_module(lock_module.main, {'owner': 'awx job 42', 'controller': 'awx-ee-2'})
    assert not result.failed, result
    assert (result['changed'], result['acquired'], result['reentrant'], result['taken_over']) == (True, True, False, False)
    assert result['path'] == PATH and result['previous'] is None and result['held_by'] is None
    record = on_disk(root)
    assert result['lock'] == record
    assert (record['owner'], record['controller']) == ('awx job 42', 'awx-ee-2')
    assert before <= record['started'] <= int(time.time()) and record['expires'] == record['started'] + 3600


def test_acquire_records_the_ssh_client_when_no_controller_is_given(root, run_module, monkeypatch):
    monkeypatch.setenv('SSH_CLIENT', '192.0.2.10 51234 22')
    run_module(lock_module.main, {'owner': 'awx job 42'})
    assert on_disk(root)['controller'] == '192.0.2.10'


def test_acquire_without_ssh_client_records_no_controller(root, run_module):
    run_module(lock_module.main, {'owner': 'awx job 42'})
    assert on_disk(root)['controller'] is None


def test_acquire_again_by_the_same_owner_is_reentrant(root, run_module):
    run_module(lock_module.main, {'owner': 'awx job 42', 'ttl': 60})
    first = on_disk(root)
    result = run_module(lock_module.main, {'owner': 'awx job 42', 'ttl': 7200})
    assert not result.failed and result['reentrant'] is True and result['changed'] is True
    assert on_disk(root)['started'] == first['started'] and on_disk(root)['expires'] >= first['started'] + 7200


def test_acquire_refuses_another_owners_lock_and_changes_nothing(root, run_module):
    holder = someone_else()
    place(root, holder)
    before = tree(root)
    result = run_module(lock_module.main, {'owner': 'awx job 42'})
    assert result.failed and result['changed'] is False
    assert result['held_by'] == holder and result['acquired'] is False
    assert result['msg'].startswith('%s is held by awx job 7 (controller awx-ee-1) since ' % PATH)
    assert 'Wait until that run ends' in result['msg'] and 'if that run is dead, remove %s' % PATH in result['msg']
    assert tree(root) == before


def test_acquire_takes_an_expired_lock_over_and_says_whose_it_was(root, run_module):
    place(root, someone_else(expires_in=-1))
    result = run_module(lock_module.main, {'owner': 'awx job 42'})
    assert not result.failed and result['taken_over'] is True
    assert result['previous']['owner'] == 'awx job 7'
    assert 'over from awx job 7' in result['msg']
    assert on_disk(root)['owner'] == 'awx job 42'


def test_check_mode_acquire_writes_nothing(root, run_module):
    result = run_module(lock_module.main, {'owner': 'awx job 42'}, check_mode=True)
    assert not result.failed and result['changed'] is True and result['acquired'] is True
    assert result['msg'].startswith('would take')
    assert tree(root) == {} and os.listdir(root) == []


def test_check_mode_acquire_reports_a_refusal(root, run_module):
    place(root, someone_else())
    result = run_module(lock_module.main, {'owner': 'awx job 42'}, check_mode=True)
    assert result.failed and result['held_by']['owner'] == 'awx job 7'


def test_diff_mode_shows_the_lock_before_and_after(root, run_module):
    result = run_module(lock_module.main, {'owner': 'awx job 42'}, diff=True)
    diff = result['diff']
    assert diff['before'] == 'no lock\n' and json.loads(diff['after'])['owner'] == 'awx job 42'
    assert diff['before_header'] == 'lock (%s)' % PATH
    result = run_module(lock_module.main, {'state': 'released', 'owner': 'awx job 42'}, diff=True, check_mode=True)
    assert json.loads(result['diff']['before'])['owner'] == 'awx job 42' and result['diff']['after'] == 'no lock\n'


def test_diff_of_a_refusal_shows_no_change(root, run_module):
    place(root, someone_else())
    result = run_module(lock_module.main, {'owner': 'awx job 42'}, diff=True)
    assert result['diff']['before'] == result['diff']['after']


def test_release_removes_the_owners_lock(root, run_module):
    run_module(lock_module.main, {'owner': 'awx job 42'})
    result = run_module(lock_module.main, {'state': 'released', 'owner': 'awx job 42'})
    assert not result.failed and result['changed'] is True and result['released'] is True
    assert result['lock'] is None and result['previous']['owner'] == 'awx job 42'
    assert on_disk(root) is None


def test_release_leaves_someone_elses_lock_with_a_warning(root, run_module):
    holder = someone_else()
    place(root, holder)
    result = run_module(lock_module.main, {'state': 'released', 'owner': 'awx job 42'})
    assert not result.failed and result['changed'] is False and result['released'] is False
    assert result['lock'] == holder
    assert any('left the lock %s as it is: it is held by awx job 7' % PATH in warning['event']['msg']
               for warning in result['warnings'])
    assert on_disk(root) == holder


def test_release_without_a_lock_is_ok_and_unchanged(root, run_module):
    result = run_module(lock_module.main, {'state': 'released', 'owner': 'awx job 42'})
    assert not result.failed and result['changed'] is False and result['lock'] is None
    assert not result.get('warnings')


def test_check_mode_release_keeps_the_lock(root, run_module):
    run_module(lock_module.main, {'owner': 'awx job 42'})
    result = run_module(lock_module.main, {'state': 'released', 'owner': 'awx job 42'}, check_mode=True)
    assert result['changed'] is True and result['released'] is True
    assert on_disk(root)['owner'] == 'awx job 42'


def test_a_path_of_its_own(root, run_module):
    result = run_module(lock_module.main, {'owner': 'awx job 42', 'path': '/srv/locks/update.lock'})
    assert result['path'] == '/srv/locks/update.lock'
    assert on_disk(root, '/srv/locks/update.lock')['owner'] == 'awx job 42'
    assert on_disk(root) is None


def test_a_lock_file_that_is_not_a_lock_fails_with_the_fix(root, run_module):
    place(root, 'garbage')
    before = tree(root)
    result = run_module(lock_module.main, {'owner': 'awx job 42'})
    assert result.failed and 'is not a lock record' in result['msg'] and 'remove it (rm %s)' % PATH in result['msg']
    assert tree(root) == before


@pytest.mark.parametrize('args, words', [
    ({'owner': ''}, ["owner '' is empty", 'such as "awx job 42"']),
    ({'owner': 'a\nb'}, ['contains a control character']),
    ({'owner': 'awx job 42', 'ttl': 0}, ['ttl 0 is not a positive number of seconds', 'such as 3600']),
    ({'owner': 'awx job 42', 'ttl': -1}, ['ttl -1 is not a positive number of seconds']),
    ({'owner': 'awx job 42', 'path': 'var/lib/lock'}, ["path 'var/lib/lock' is relative", 'such as %s' % PATH]),
    ({'state': 'released', 'owner': ''}, ["owner '' is empty"]),
    ({'state': 'released', 'owner': 'awx job 42', 'path': 'lock'}, ["path 'lock' is relative"]),
    ({}, ['missing required arguments: owner']),
    ({'owner': 'awx job 42', 'state': 'held'}, ['value of state must be one of: acquired, released, got: held']),
])
def test_bad_input_is_refused_naming_the_value_and_the_fix_and_changes_nothing(root, run_module, args, words):
    place(root, someone_else(expires_in=-1))
    before = tree(root)
    result = run_module(lock_module.main, args)
    assert result.failed
    for word in words:
        assert word in result['msg'], result['msg']
    assert tree(root) == before


@pytest.fixture
def ready(tmp_path, monkeypatch, host_root):
    """A host with what info reads (info_trees.ready_host), for the facts option."""
    monkeypatch.delenv('SSH_CLIENT', raising=False)
    return host_root(trees.ready_host(tmp_path / 'ready'))


def test_release_with_facts_reads_them_before_it_releases(ready, run_module):
    trees.install_unit_tools(ready, {'demo.service': (0, 'LoadState=loaded\nActiveState=active\nFileDescriptorStoreMax=4\n')},
                             {'demo.service': (0, '[]')})
    run_module(lock_module.main, {'owner': 'awx job 42'})
    result = run_module(lock_module.main, {'state': 'released', 'owner': 'awx job 42', 'facts': {'units': ['demo.service']}})
    assert not result.failed and result['released'] is True and on_disk(ready) is None
    facts = result['facts']
    assert facts['ready'] is True and facts['kernel']['release'] == trees.RELEASE
    assert facts['units']['demo.service']['active_state'] == 'active' and 'target' not in facts


def test_facts_come_with_a_release_that_finds_another_owners_lock(ready, run_module):
    holder = someone_else()
    place(ready, holder)
    result = run_module(lock_module.main, {'state': 'released', 'owner': 'awx job 42', 'facts': {}})
    assert not result.failed and result['released'] is False and result['facts']['units'] == {}
    assert on_disk(ready) == holder


def test_facts_with_a_bad_unit_name_fail_before_the_lock_changes(ready, run_module):
    run_module(lock_module.main, {'owner': 'awx job 42'})
    result = run_module(lock_module.main, {'state': 'released', 'owner': 'awx job 42', 'facts': {'units': ['demo']}})
    assert result.failed and result['msg'].startswith("facts: units entry 'demo' is not a unit name")
    assert on_disk(ready)['owner'] == 'awx job 42'


def test_default_controller():
    os.environ.pop('SSH_CLIENT', None)
    assert lock_module.default_controller() is None
