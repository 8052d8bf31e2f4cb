# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two runs never live-update one host at once: the host-side lock, a kernel staged by someone else, the plan."""
from __future__ import annotations

import os
import socket

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import lock as lockrules
from ansible_collections.luo.liveupdate.plugins.plugin_utils import live_update_flow as flow
from ansible_collections.luo.liveupdate.plugins.plugin_utils import live_update_lock as hostlock
from ansible_collections.luo.liveupdate.tests.unit.action.fake_host import WALL_START, FakeHost
from ansible_collections.luo.liveupdate.tests.unit.action.test_live_update_flow import failure_of, run, stage_calls

OWNER = 'awx job 42'
PATH = lockrules.DEFAULT_PATH


def as_lock_call(call):
    """The lock module's arguments a module call amounts to (kexec_load with lock_owner takes the lock), or None."""
    if call[:2] == ('module', hostlock.MODULE):
        return call[2]
    if call[:2] == ('module', flow.KEXEC_LOAD) and 'lock_owner' in call[2]:
        args = {'state': 'acquired', 'owner': call[2]['lock_owner'], 'ttl': call[2]['lock_ttl']}
        if 'lock_controller' in call[2]:
            args['controller'] = call[2]['lock_controller']
        return args
    return None


def lock_calls(host, state=None):
    found = [as_lock_call(call) for call in host.calls]
    return [args for args in found if args is not None and (state is None or args['state'] == state)]


def position(host, wanted):
    """Index in host.calls of the first module call to ``wanted`` (name, state): (lock module, acquired) is the
    kexec_load call that takes the lock."""
    for index, call in enumerate(host.calls):
        if call[0] != 'module':
            continue
        lock_args = as_lock_call(call)
        if wanted[0] == hostlock.MODULE and lock_args is not None and lock_args['state'] == wanted[1]:
            return index
        if (call[1], call[2].get('state')) == wanted:
            return index
    raise StopIteration(wanted)


def holder(owner='awx job 7', expires_in=3000):
    return lockrules.make_record(owner, 'awx-ee-1', WALL_START - 60, WALL_START + expires_in)


# --- the lock around the update ---

def test_the_lock_is_taken_by_the_stage_itself_and_released_at_the_end():
    host = FakeHost()
    result, _messages = run(host, lock_owner=OWNER)
    (stage,) = [call[2] for call in host.calls if call[:2] == ('module', flow.KEXEC_LOAD)]
    assert (stage['lock_owner'], stage['lock_ttl']) == (OWNER, 1200)
    assert [call[2]['state'] for call in host.calls if call[:2] == ('module', hostlock.MODULE)] == ['released']
    # released as the new boot's facts are read, in the same run
    assert host.calls[-1] == ('module', hostlock.MODULE, {'state': 'released', 'owner': OWNER,
                                                          'facts': {'units': ['demo.service']}})
    assert host.lock is None
    assert result['lock'] == {'owner': OWNER, 'path': PATH, 'held_by': None, 'reentrant': False, 'taken_over': None,
                              'expires': WALL_START + 1200, 'released': True, 'release_msg': 'released'}


def test_a_preflight_refusal_takes_no_lock():
    refused = FakeHost(ready=False)
    failure = failure_of(refused, lock_owner=OWNER)
    assert (failure.result['phase'], failure.reason) == ('preflight', 'not-ready')
    assert refused.lock is None and failure.result['lock']['released'] is None
    assert lock_calls(refused, 'released') == []  # nothing to release


def test_the_default_owner_is_this_task_on_this_controller_and_the_ttl_covers_the_wait():
    host = FakeHost()
    run(host, reboot_timeout=900)
    (acquire,) = lock_calls(host, 'acquired')
    assert acquire['owner'].startswith('live_update on %s pid %d at ' % (socket.gethostname(), os.getpid()))
    assert acquire['ttl'] == 900 + 600
    assert acquire['controller'] == socket.gethostname()
    assert lock_calls(host, 'released') == [{'state': 'released', 'owner': acquire['owner'],
                                             'facts': {'units': ['demo.service']}}]


def test_two_tasks_get_different_default_owners():
    first, second = FakeHost(), FakeHost()
    run(first)
    run(second)
    assert lock_calls(first)[0]['owner'] != lock_calls(second)[0]['owner']


def test_default_owner_text():
    assert hostlock.default_owner('ctl', 41, 1798797600.25) == 'live_update on ctl pid 41 at 2027-01-01T10:00:00.250000Z'


def test_lock_ttl_is_passed_on():
    host = FakeHost()
    run(host, lock_owner=OWNER, lock_ttl=5000)
    assert lock_calls(host, 'acquired')[0]['ttl'] == 5000


def test_a_lock_held_by_another_run_fails_the_update_with_nothing_staged():
    host = FakeHost(lock=holder())
    failure = failure_of(host, lock_owner=OWNER)
    assert (failure.result['phase'], failure.result['reason']) == ('stage', 'locked')
    message = str(failure)
    assert '%s is held by awx job 7 (controller awx-ee-1) since ' % PATH in message
    assert 'Wait until that run ends' in message and 'if that run is dead, remove %s on the host' % PATH in message
    assert message.endswith('nothing was staged')
    assert host.staged is None and not host.kexeced
    assert [call for call in host.calls if call[:2] == ('module', flow.KEXEC_LOAD)][1:] == []  # nothing to unload
    assert lock_calls(host, 'released') == []
    assert host.lock == holder()
    assert failure.result['lock']['held_by'] == holder()


def test_an_expired_lock_is_taken_over_and_said():
    host = FakeHost(lock=holder(expires_in=-1))
    result, messages = run(host, lock_owner=OWNER)
    assert result['lock']['taken_over'] == holder(expires_in=-1)
    assert 'took the lock over from awx job 7, whose lock had expired' in messages
    assert host.lock is None and result['lock']['released'] is True


def test_a_lock_held_by_the_same_owner_is_reentrant_and_left_held():
    mine = holder(OWNER, expires_in=100)
    host = FakeHost(lock=mine)
    result, _messages = run(host, lock_owner=OWNER)
    assert result['kernel_after'] == '7.3.4'
    assert result['lock']['reentrant'] is True and result['lock']['released'] is None
    assert lock_calls(host, 'released') == []
    assert host.lock['owner'] == OWNER and host.lock['started'] == mine['started']
    assert host.lock['expires'] > mine['expires']


def test_a_reentrant_lock_is_left_held_after_a_failure_too():
    host = FakeHost(lock=holder(OWNER), kexec_fails='Access denied')
    failure = failure_of(host, lock_owner=OWNER)
    assert failure.reason == 'kexec-failed' and failure.result['lock']['reentrant'] is True
    assert lock_calls(host, 'released') == [] and host.lock['owner'] == OWNER


def test_a_failure_after_staging_unloads_then_releases():
    host = FakeHost(kexec_fails='Call to Reboot failed: Access denied')
    failure = failure_of(host, lock_owner=OWNER)
    assert failure.reason == 'kexec-failed' and failure.result['unstaged'] is True
    assert position(host, (flow.KEXEC_LOAD, 'unloaded')) < position(host, (hostlock.MODULE, 'released'))
    assert host.lock is None and failure.result['lock']['released'] is True


def test_a_failure_on_the_new_boot_releases_the_lock():
    host = FakeHost(comes_back='old')
    failure = failure_of(host, lock_owner=OWNER)
    assert failure.reason == 'cold-reboot' and failure.result['phase'] == 'verify'
    assert host.lock is None and failure.result['lock']['released'] is True


def test_an_unexpected_error_releases_the_lock_too(monkeypatch):
    def broken(_self, _before, _after, _started):
        raise RuntimeError('a bug')
    monkeypatch.setattr(flow.LiveUpdate, 'report', broken)
    host = FakeHost()
    with pytest.raises(RuntimeError, match='a bug'):
        run(host, lock_owner=OWNER)
    assert host.lock is None and lock_calls(host, 'released')


def test_a_release_that_fails_is_reported_not_fatal():
    host = FakeHost(release_fails='cannot remove the lock %s: Read-only file system' % PATH)
    result, messages = run(host, lock_owner=OWNER)
    assert result['kernel_after'] == '7.3.4' and 'failed' not in result
    assert result['lock']['released'] is False
    assert 'Read-only file system' in result['lock']['release_msg']
    said = [message for message in messages if message.startswith('releasing the lock')]
    assert said and 'it keeps other runs out until it expires at ' in said[0] and 'rm %s' % PATH in said[0]


def test_a_release_that_cannot_reach_the_host_is_reported_and_the_failure_kept():
    host = FakeHost(comes_back=None)
    failure = failure_of(host, lock_owner=OWNER, reboot_timeout=30)
    assert (failure.result['phase'], failure.result['reason']) == ('wait', 'no-new-boot')
    assert failure.result['lock']['released'] is False
    assert 'Connection refused' in failure.result['lock']['release_msg']
    assert lock_calls(host, 'released') and host.now <= 30  # tried again only within reboot_timeout


def test_a_lock_taken_over_meanwhile_is_left_to_its_new_owner_and_said():
    class Slow(FakeHost):
        def boot(self):
            super().boot()
            self.lock = holder('awx job 9')  # ours expired while the host was away, and another run took it
    host = Slow()
    result, messages = run(host, lock_owner=OWNER)
    assert result['lock']['released'] is False and host.lock['owner'] == 'awx job 9'
    assert any(message.startswith('left the lock') for message in messages)


class LostAnswer(FakeHost):
    """The lock is taken and the kernel staged on the host, but the answer never reaches the controller."""

    def module(self, name, args):
        answer = super().module(name, args)
        if name == flow.KEXEC_LOAD and 'lock_owner' in args:
            raise RuntimeError('Shared connection to 127.0.0.1 closed.')
        return answer


def test_a_lock_whose_answer_was_lost_is_released_only_when_the_owner_is_this_tasks_alone():
    host = LostAnswer()
    failure = failure_of(host)
    assert (failure.result['phase'], failure.result['reason']) == ('preflight', 'connection-lost')
    assert host.lock is None and len(lock_calls(host, 'released')) == 1
    assert host.staged is None and failure.result['unstaged'] is True
    host = LostAnswer(lock=holder(OWNER))  # the caller may have held it before: not this task's to release
    failure = failure_of(host, lock_owner=OWNER)
    assert failure.reason == 'connection-lost' and lock_calls(host, 'acquired')
    assert lock_calls(host, 'released') == [] and host.lock['owner'] == OWNER and host.staged is None


def test_a_lock_that_cannot_be_taken_fails_with_what_the_module_said():
    host = FakeHost(lock_fails='cannot create the directory /var/lib/luo-liveupdate of the lock: Permission denied; '
                               'run with root privileges (become: true)')
    failure = failure_of(host, lock_owner=OWNER)
    assert (failure.result['phase'], failure.result['reason']) == ('stage', 'lock-failed')
    assert 'cannot take the lock: cannot create the directory' in str(failure) and 'become: true' in str(failure)
    assert host.staged is None and lock_calls(host, 'released') == []


@pytest.mark.parametrize('params, words', [
    ({'lock_owner': ''}, ["lock_owner '' is empty", 'such as "awx job 42"']),
    ({'lock_owner': 'job\n42'}, ["lock_owner 'job\\n42' contains a control character"]),
    ({'lock_owner': 'x' * 201}, ['201 characters long']),
    ({'lock_ttl': 0}, ['lock_ttl 0 is not a positive number of seconds', 'leave it out (reboot_timeout + 600)']),
    ({'lock_ttl': -60}, ['lock_ttl -60 is not a positive number of seconds']),
])
def test_bad_lock_options_are_refused_before_the_host_is_touched(params, words):
    host = FakeHost()
    failure = failure_of(host, **params)
    assert failure.reason == 'bad-lock-option'
    for word in words:
        assert word in str(failure)
    assert host.calls == []


# --- check mode: no lock taken, only whether it would be refused ---

def test_check_mode_takes_no_lock_and_says_it_would_get_it():
    host = FakeHost()
    result, _messages = run(host, check_mode=True, lock_owner=OWNER)
    assert host.lock is None and lock_calls(host, 'released') == []
    assert 'lock' not in result
    plan_lock = result['plan']['lock']
    assert (plan_lock['owner'], plan_lock['path'], plan_lock['refused'], plan_lock['held_by']) == (OWNER, PATH, False, None)


def test_check_mode_says_the_lock_would_be_refused_and_names_the_holder():
    host = FakeHost(lock=holder())
    result, _messages = run(host, check_mode=True, lock_owner=OWNER)
    assert result['changed'] is False and 'failed' not in result
    plan_lock = result['plan']['lock']
    assert plan_lock['refused'] is True and plan_lock['held_by'] == holder()
    assert 'is held by awx job 7' in plan_lock['msg']
    assert host.lock == holder()


def test_check_mode_plan_has_the_command_line_from_kexec_load_in_check_mode():
    host = FakeHost(installed={'7.2.13': None, '7.3.4': '/boot/initrd.img-7.3.4'})
    result, _messages = run(host, check_mode=True, append=['quiet'])
    plan = result['plan']
    assert plan['stage'] == {'kernel': '/boot/vmlinuz-7.3.4', 'initrd': '/boot/initrd.img-7.3.4',
                             'cmdline': 'root=/dev/vda1 quiet liveupdate=on kho=on'}
    assert plan['expect']['kexec_count'] == 1 and plan['expect']['units'] == {'demo.service': ['demo-state']}
    assert host.staged is None and not host.kexeced
    # the same arguments staging uses
    real = FakeHost(installed={'7.2.13': None, '7.3.4': '/boot/initrd.img-7.3.4'})
    run(real, append=['quiet'])
    without_lock = [{name: value for name, value in args.items() if not name.startswith('lock_')} for args in stage_calls(real)]
    assert stage_calls(host) == without_lock


def test_check_mode_fails_when_kexec_load_would_refuse():
    class Refusing(FakeHost):
        def module(self, name, args):
            if name == flow.KEXEC_LOAD and args['state'] == 'loaded':
                self.calls.append(('module', name, args))
                return {'failed': True, 'msg': 'refusing to stage /boot/vmlinuz-7.3.4 without an initramfs'}
            return super().module(name, args)
    host = Refusing()
    failure = failure_of(host, check_mode=True)
    assert (failure.result['phase'], failure.result['reason']) == ('preflight', 'stage-failed')
    assert 'without an initramfs' in str(failure) and host.lock is None


# --- a kernel staged by someone else ---

STAGED = {'kernel': '/boot/vmlinuz-7.3.4', 'initrd': '/boot/initrd.img-7.3.4', 'cmdline': 'root=/dev/vda1 liveupdate=on kho=on',
          'release': '7.3.4', 'loaded_at': '2027-01-01T09:55:00Z', 'kernel_sha256': 'a' * 64, 'initrd_sha256': 'b' * 64}


def test_a_kernel_staged_already_is_refused_saying_what_it_is_and_the_fix():
    host = FakeHost(staged='/boot/vmlinuz-7.3.4', kexec_record=STAGED)
    failure = failure_of(host, lock_owner=OWNER)
    assert (failure.result['phase'], failure.result['reason']) == ('preflight', 'already-staged')
    message = str(failure)
    assert ("a kernel is staged on the host already: /boot/vmlinuz-7.3.4 (release 7.3.4) with initrd /boot/initrd.img-7.3.4, "
            "command line 'root=/dev/vda1 liveupdate=on kho=on', staged by luo.liveupdate.kexec_load at "
            "2027-01-01T09:55:00Z") in message
    assert 'once sure nobody is, unload it (luo.liveupdate.kexec_load with state: unloaded, or kexec -s -u' in message
    assert failure.result['already_staged'] == STAGED
    assert len(stage_calls(host)) == 1  # refused by its preflight, before the lock
    assert host.lock is None and lock_calls(host, 'released') == []
    assert host.staged == '/boot/vmlinuz-7.3.4' and host.kexec_record == STAGED


def test_a_kernel_staged_without_a_record_is_refused_as_unknown():
    host = FakeHost(staged='/boot/vmlinuz-9.9.9')
    failure = failure_of(host)
    assert failure.reason == 'already-staged'
    assert 'by something other than luo.liveupdate.kexec_load (there is no record of it in /run/luo-liveupdate/kexec.json)' \
        in str(failure)
    assert failure.result['already_staged'] is None


def test_a_kernel_staged_already_is_refused_in_check_mode_too():
    host = FakeHost(staged='/boot/vmlinuz-7.3.4', kexec_record=STAGED)
    failure = failure_of(host, check_mode=True)
    assert failure.reason == 'already-staged'


def test_a_failed_stage_gives_the_lock_back_in_the_same_module_run():
    host = FakeHost(stage_fails=True)
    failure = failure_of(host)
    assert (failure.result['phase'], failure.reason) == ('stage', 'stage-failed')
    assert host.lock is None and lock_calls(host, 'released') == []  # kexec_load released it: no module run for it
    assert failure.result['lock']['released'] is True
    assert failure.result['lock']['release_msg'].endswith('released again after the failure')
