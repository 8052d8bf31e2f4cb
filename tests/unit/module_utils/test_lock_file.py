# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host-side lock file: taken once, re-entrant, taken over when expired, released only by its owner."""
from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import lock
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host

PATH = lock.DEFAULT_PATH
NOW = 1798797600  # 2027-01-01T10:00:00Z


@pytest.fixture
def host(tmp_path):
    """A fixture tree as the host's root; commands are never run."""
    return Host(str(tmp_path), runner=None)


def on_disk(host, path=PATH):
    full = host.path(path)
    if not os.path.exists(full):
        return None
    with open(full, encoding='utf-8') as handle:
        return json.load(handle)


def place(host, record, path=PATH):
    full = host.path(path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w', encoding='utf-8') as handle:
        handle.write(record if isinstance(record, str) else json.dumps(record))


def held_by(owner, started=NOW - 100, expires=NOW + 3500, controller='awx-ee-1'):
    return lock.make_record(owner, controller, started, expires)


# acquire

def test_acquire_creates_the_lock_below_the_root(host):
    result = lock.acquire(host, PATH, 'awx job 42', 3600, 'ctl', NOW)
    record = {'owner': 'awx job 42', 'controller': 'ctl', 'started': NOW, 'expires': NOW + 3600}
    assert on_disk(host) == record
    assert result == {'acquired': True, 'changed': True, 'lock': record, 'previous': None, 'reentrant': False,
                      'taken_over': False, 'held_by': None,
                      'msg': 'took %s for awx job 42 until 2027-01-01T11:00:00Z' % PATH}
    assert stat.S_IMODE(os.stat(host.path(PATH)).st_mode) == 0o644


def test_acquire_by_the_same_owner_is_reentrant_and_refreshes_the_expiry(host):
    place(host, held_by('awx job 42', started=NOW - 100, expires=NOW + 10))
    result = lock.acquire(host, PATH, 'awx job 42', 600, 'ctl', NOW)
    assert result['acquired'] and result['reentrant'] and not result['taken_over']
    assert on_disk(host) == {'owner': 'awx job 42', 'controller': 'ctl', 'started': NOW - 100, 'expires': NOW + 600}
    assert 'awx job 42 holds %s already' % PATH in result['msg']


def test_acquire_refuses_a_lock_held_by_another_owner_naming_it_and_the_fix(host):
    holder = held_by('awx job 7')
    place(host, holder)
    result = lock.acquire(host, PATH, 'awx job 42', 3600, 'ctl', NOW)
    assert (result['acquired'], result['changed'], result['held_by'], result['lock']) == (False, False, holder, holder)
    assert result['msg'] == (
        '%s is held by awx job 7 (controller awx-ee-1) since 2027-01-01T09:58:20Z, until 2027-01-01T10:58:20Z: another '
        'run is live-updating this host. Wait until that run ends (the lock expires at 2027-01-01T10:58:20Z), or, if '
        'that run is dead, remove %s on the host and run again' % (PATH, PATH))
    assert on_disk(host) == holder


def test_an_expired_lock_is_taken_over_and_the_result_says_whose_it_was(host):
    old = held_by('awx job 7', started=NOW - 7200, expires=NOW - 1)
    place(host, old)
    result = lock.acquire(host, PATH, 'awx job 42', 3600, 'ctl', NOW)
    assert result['acquired'] and result['taken_over'] and result['previous'] == old
    assert 'over from awx job 7 (controller awx-ee-1)' in result['msg'] and 'which had expired' in result['msg']
    assert on_disk(host)['owner'] == 'awx job 42'
    assert not [name for name in os.listdir(os.path.dirname(host.path(PATH))) if name != 'lock']  # no temporary left


def test_a_lock_expiring_now_is_expired(host):
    place(host, held_by('awx job 7', expires=NOW))
    assert lock.acquire(host, PATH, 'awx job 42', 60, None, NOW)['taken_over'] is True


def test_check_mode_acquire_writes_nothing_not_even_the_directory(host):
    result = lock.acquire(host, PATH, 'awx job 42', 3600, 'ctl', NOW, check_mode=True)
    assert result['acquired'] and result['changed']
    assert result['msg'].startswith('would take ')
    assert not os.path.exists(os.path.dirname(host.path(PATH)))


def test_check_mode_acquire_still_refuses_a_held_lock(host):
    place(host, held_by('awx job 7'))
    result = lock.acquire(host, PATH, 'awx job 42', 3600, 'ctl', NOW, check_mode=True)
    assert result['acquired'] is False and result['held_by']['owner'] == 'awx job 7'


def test_check_mode_reentrant_and_take_over_change_nothing_on_disk(host):
    place(host, held_by('awx job 7', expires=NOW - 1))
    result = lock.acquire(host, PATH, 'awx job 42', 3600, 'ctl', NOW, check_mode=True)
    assert result['taken_over'] and result['msg'].startswith('would take ')
    assert on_disk(host)['owner'] == 'awx job 7'


def test_only_one_of_many_simultaneous_runs_gets_the_lock(host):
    results = []
    start = threading.Barrier(8)

    def take(number):
        start.wait()
        results.append(lock.acquire(host, PATH, 'run %d' % number, 3600, None, NOW))
    threads = [threading.Thread(target=take, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [result for result in results if result['acquired']]
    assert len(winners) == 1
    assert on_disk(host)['owner'] == winners[0]['lock']['owner']
    assert all(result['held_by']['owner'] == winners[0]['lock']['owner'] for result in results if not result['acquired'])


def test_a_lock_created_meanwhile_without_the_directory_lock_is_refused(host, monkeypatch):
    # Another writer creates the file between the read and the O_EXCL create.
    real_read = lock.read

    def read_then_someone_creates(host_, path):
        found = real_read(host_, path)
        if found is None:
            place(host_, held_by('intruder'), path)
        return found
    monkeypatch.setattr(lock, 'read', read_then_someone_creates)
    result = lock.acquire(host, PATH, 'awx job 42', 3600, None, NOW)
    assert result['acquired'] is False and result['held_by']['owner'] == 'intruder'


@pytest.mark.parametrize('text', ['', 'not json', '[]', '{"owner": 7}', '{"owner": "x", "started": 1}',
                                  '{"owner": "x", "started": true, "expires": 2}'])
def test_a_file_that_is_not_a_lock_is_refused_with_the_fix(host, text):
    place(host, text)
    with pytest.raises(lock.LockError, match=r'the lock %s is not a lock record .*if no live update is running on this '
                                             r'host, remove it \(rm %s\)' % (PATH, PATH)):
        lock.acquire(host, PATH, 'awx job 42', 3600, None, NOW)
    with open(host.path(PATH), encoding='utf-8') as handle:
        assert handle.read() == text


def test_a_directory_that_cannot_be_created_says_become(host):
    place(host, 'a file where the directory belongs', '/var/lib/luo-liveupdate')
    with pytest.raises(lock.LockError, match=r'cannot create the directory /var/lib/luo-liveupdate of the lock: .*become'):
        lock.acquire(host, PATH, 'awx job 42', 3600, None, NOW)


def test_a_lock_that_cannot_be_written_says_become(host, monkeypatch):
    real_open = os.open

    def denied(path, flags, *args):
        if path == host.path(PATH):
            raise PermissionError(13, 'Permission denied')
        return real_open(path, flags, *args)
    monkeypatch.setattr(os, 'open', denied)
    with pytest.raises(lock.LockError, match=r'cannot create the lock %s: Permission denied; run with root' % PATH):
        lock.acquire(host, PATH, 'awx job 42', 3600, None, NOW)


def test_a_lock_that_cannot_be_read_says_become(host, monkeypatch):
    place(host, held_by('awx job 7'))
    real_open = open

    def denied(path, *args, **kwargs):
        if path == host.path(PATH):
            raise PermissionError(13, 'Permission denied')
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr('builtins.open', denied)
    with pytest.raises(lock.LockError, match=r'cannot read the lock %s: Permission denied; run with root' % PATH):
        lock.read(host, PATH)


def test_a_failed_write_leaves_no_half_lock(host, monkeypatch):
    def full(_stream, _record):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(lock, '_dump', full)
    with pytest.raises(lock.LockError, match='No space left on device; free space'):
        lock.acquire(host, PATH, 'awx job 42', 3600, None, NOW)
    assert not os.path.exists(host.path(PATH))
    place(host, held_by('awx job 42', expires=NOW - 1))
    with pytest.raises(lock.LockError, match='No space left on device'):
        lock.acquire(host, PATH, 'awx job 43', 3600, None, NOW)
    assert on_disk(host)['owner'] == 'awx job 42'
    assert os.listdir(os.path.dirname(host.path(PATH))) == ['lock']


# release

def test_release_removes_the_owners_lock(host):
    place(host, held_by('awx job 42'))
    result = lock.release(host, PATH, 'awx job 42', NOW)
    assert (result['released'], result['changed'], result['lock']) == (True, True, None)
    assert result['previous']['owner'] == 'awx job 42'
    assert result['msg'].startswith('released %s, held by awx job 42' % PATH)
    assert on_disk(host) is None


def test_release_leaves_someone_elses_lock_and_says_whose(host):
    holder = held_by('awx job 7')
    place(host, holder)
    result = lock.release(host, PATH, 'awx job 42', NOW)
    assert (result['released'], result['changed'], result['lock']) == (False, False, holder)
    assert 'left the lock %s as it is: it is held by awx job 7 (controller awx-ee-1)' % PATH in result['msg']
    assert 'not by awx job 42' in result['msg'] and 'expired' not in result['msg']
    assert on_disk(host) == holder


def test_release_of_someone_elses_expired_lock_says_it_expired(host):
    place(host, held_by('awx job 7', expires=NOW - 1))
    result = lock.release(host, PATH, 'awx job 42', NOW)
    assert result['released'] is False and 'it expired' in result['msg']


def test_release_without_a_lock_changes_nothing(host):
    result = lock.release(host, PATH, 'awx job 42', NOW)
    assert (result['released'], result['changed'], result['lock'], result['previous']) == (False, False, None, None)
    assert result['msg'] == 'no lock at %s: nothing to release' % PATH


def test_release_in_check_mode_keeps_the_lock(host):
    place(host, held_by('awx job 42'))
    result = lock.release(host, PATH, 'awx job 42', NOW, check_mode=True)
    assert result['released'] and result['msg'].startswith('would release')
    assert on_disk(host)['owner'] == 'awx job 42'


def test_release_of_an_unreadable_lock_fails_and_keeps_it(host):
    place(host, 'garbage')
    with pytest.raises(lock.LockError, match='is not a lock record'):
        lock.release(host, PATH, 'awx job 42', NOW)
    assert os.path.exists(host.path(PATH))


def test_release_that_cannot_remove_says_become(host, monkeypatch):
    place(host, held_by('awx job 42'))

    def denied(_path):
        raise PermissionError(13, 'Permission denied')
    monkeypatch.setattr(os, 'unlink', denied)
    with pytest.raises(lock.LockError, match='cannot remove the lock %s: Permission denied; run with root' % PATH):
        lock.release(host, PATH, 'awx job 42', NOW)
    assert on_disk(host)['owner'] == 'awx job 42'


# bad input

@pytest.mark.parametrize('owner, ttl, path, words', [
    ('', 3600, PATH, ["owner '' is empty", 'such as "awx job 42"']),
    ('   ', 3600, PATH, ["owner '   ' is empty"]),
    (None, 3600, PATH, ['owner None is empty']),
    ('a\nb', 3600, PATH, ["owner 'a\\nb' contains a control character", 'one-line name']),
    ('x' * 201, 3600, PATH, ['is 201 characters long', 'up to 200 characters']),
    ('awx job 42', 0, PATH, ['ttl 0 is not a positive number of seconds', 'such as 3600']),
    ('awx job 42', -5, PATH, ['ttl -5 is not a positive number']),
    ('awx job 42', True, PATH, ['ttl True is not a positive number']),
    ('awx job 42', 3600, 'var/lib/lock', ["path 'var/lib/lock' is relative", 'such as %s' % PATH]),
    ('awx job 42', 3600, '/var/a\0b', ['contains a NUL byte']),
])
def test_bad_input_is_refused_naming_the_value_and_the_fix_and_changes_nothing(host, owner, ttl, path, words):
    with pytest.raises(ValueError) as caught:
        lock.acquire(host, path, owner, ttl, None, NOW)
    for word in words:
        assert word in str(caught.value)
    assert os.listdir(host.root) == []


def test_release_refuses_a_bad_owner_or_path(host):
    with pytest.raises(ValueError, match="owner '' is empty"):
        lock.release(host, PATH, '', NOW)
    with pytest.raises(ValueError, match='is relative'):
        lock.release(host, 'lock', 'awx job 42', NOW)


def test_check_owner_names_the_option():
    with pytest.raises(ValueError, match="lock_owner '' is empty"):
        lock.check_owner('', 'lock_owner')


# helpers

def test_describe_and_when():
    assert lock.when(NOW) == '2027-01-01T10:00:00Z'
    assert lock.describe(lock.make_record('a', None, NOW, NOW + 60)) == (
        'a (controller unknown) since 2027-01-01T10:00:00Z, until 2027-01-01T10:01:00Z')


def test_diff_text():
    assert lock.diff_text(None) == 'no lock\n'
    record = lock.make_record('a', 'c', 1, 2)
    assert json.loads(lock.diff_text(record)) == {'owner': 'a', 'controller': 'c', 'started': 1, 'expires': 2}


def test_read_keeps_only_the_lock_fields(host):
    place(host, dict(held_by('a'), extra='x'))
    assert sorted(lock.read(host, PATH)) == sorted(lock.FIELDS)
    assert lock.read(host, '/var/lib/none') is None


def test_make_record_and_expired():
    record = lock.make_record('a', 'c', 10.7, 20.2)
    assert record == {'owner': 'a', 'controller': 'c', 'started': 10, 'expires': 20}
    assert not lock.expired(record, 19.9) and lock.expired(record, 20)


# the rarer failures

def test_a_directory_that_cannot_be_opened_says_become(host, monkeypatch):
    os.makedirs(os.path.dirname(host.path(PATH)))
    real_open = os.open

    def denied(path, flags, *args):
        if path == os.path.dirname(host.path(PATH)):
            raise PermissionError(13, 'Permission denied')
        return real_open(path, flags, *args)
    monkeypatch.setattr(os, 'open', denied)
    with pytest.raises(lock.LockError, match='cannot open the directory /var/lib/luo-liveupdate of the lock: Permission '
                                             'denied; run with root'):
        lock.acquire(host, PATH, 'awx job 42', 3600, None, NOW)


def test_a_refresh_that_cannot_write_beside_the_lock_says_become(host, monkeypatch):
    place(host, held_by('awx job 42'))

    def denied(**_kwargs):
        raise PermissionError(13, 'Permission denied')
    monkeypatch.setattr(lock.tempfile, 'mkstemp', denied)
    with pytest.raises(lock.LockError, match='cannot write the lock %s: Permission denied; run with root' % PATH):
        lock.acquire(host, PATH, 'awx job 42', 3600, None, NOW)
    assert on_disk(host) == held_by('awx job 42')


def test_a_lock_that_comes_and_goes_while_taken_says_run_again(host, monkeypatch):
    monkeypatch.setattr(lock, '_write_new', lambda _host, _path, _record: False)
    with pytest.raises(lock.LockError, match='came and went while it was taken: run again'):
        lock.acquire(host, PATH, 'awx job 42', 3600, None, NOW)


def test_a_lock_removed_meanwhile_counts_as_released(host, monkeypatch):
    place(host, held_by('awx job 42'))

    def gone(_path):
        raise FileNotFoundError(2, 'No such file or directory')
    monkeypatch.setattr(os, 'unlink', gone)
    assert lock.release(host, PATH, 'awx job 42', NOW)['released'] is True


def test_a_file_system_that_cannot_sync_directories_still_gets_the_lock(host, monkeypatch):
    real_fsync = os.fsync

    def no_directory_sync(handle):
        if os.path.isdir('/proc/self/fd/%d' % handle):
            raise OSError(22, 'Invalid argument')
        return real_fsync(handle)
    monkeypatch.setattr(os, 'fsync', no_directory_sync)
    assert lock.acquire(host, PATH, 'awx job 42', 3600, None, NOW)['acquired'] is True
    lock._sync_directory(host.path('/nowhere/lock'))  # pylint: disable=protected-access  # no directory: nothing to sync


# take_for_staging and give_back: kexec_load's view of the lock

def test_take_for_staging_reports_the_answer_with_path_and_no_release_yet(host):
    taken = lock.take_for_staging(host, 'awx job 42', 600, 'ctl', NOW)
    assert (taken['acquired'], taken['path'], taken['released_again']) == (True, PATH, False)
    assert 'changed' not in taken and on_disk(host)['owner'] == 'awx job 42'


def test_take_for_staging_says_who_holds_it(host):
    place(host, held_by('other run'))
    taken = lock.take_for_staging(host, 'awx job 42', 600, 'ctl', NOW)
    assert taken['acquired'] is False and taken['held_by']['owner'] == 'other run'


def test_take_for_staging_of_an_unreadable_lock_is_refused_without_a_holder(host):
    place(host, 'garbage')
    taken = lock.take_for_staging(host, 'awx job 42', 600, 'ctl', NOW)
    assert (taken['acquired'], taken['held_by'], taken['lock']) == (False, None, None)
    assert 'is not a lock record' in taken['msg']


def test_give_back_releases_what_was_taken(host):
    taken = lock.take_for_staging(host, 'awx job 42', 600, 'ctl', NOW)
    given = lock.give_back(host, taken, 'awx job 42', NOW + 5)
    assert given['released_again'] is True and given['msg'].endswith('; released again after the failure')
    assert on_disk(host) is None


def test_give_back_keeps_a_lock_the_owner_held_before(host):
    place(host, held_by('awx job 42'))
    taken = lock.take_for_staging(host, 'awx job 42', 600, 'ctl', NOW)
    assert lock.give_back(host, taken, 'awx job 42', NOW + 5)['released_again'] is False
    assert on_disk(host)['owner'] == 'awx job 42'


def test_give_back_in_check_mode_writes_nothing(host):
    taken = lock.take_for_staging(host, 'awx job 42', 600, 'ctl', NOW, check_mode=True)
    assert lock.give_back(host, taken, 'awx job 42', NOW + 5, check_mode=True) == taken
    assert on_disk(host) is None


def test_give_back_that_fails_says_so(host, monkeypatch):
    taken = lock.take_for_staging(host, 'awx job 42', 600, 'ctl', NOW)

    def refuse(_path):
        raise PermissionError(13, 'Permission denied')
    monkeypatch.setattr(os, 'unlink', refuse)
    given = lock.give_back(host, taken, 'awx job 42', NOW + 5)
    assert given['released_again'] is False
    assert 'releasing it again after the failure failed: cannot remove the lock' in given['msg']
