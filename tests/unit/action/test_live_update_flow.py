# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live update's decisions, against a simulated host behind a fake connection."""
from __future__ import annotations

import re

import pytest

from ansible_collections.luo.liveupdate.plugins.modules import live_update as doc_module
from ansible_collections.luo.liveupdate.plugins.plugin_utils import live_update_flow as flow
from ansible_collections.luo.liveupdate.plugins.plugin_utils.live_update_flow import LiveUpdate, LiveUpdateFailed
from ansible_collections.luo.liveupdate.tests.unit.action.fake_host import FakeHost
from ansible_collections.luo.liveupdate.tests.unit.return_docs import assert_documented


def run(host, check_mode=False, **params):
    params.setdefault('kernel', '/boot/vmlinuz-7.3.4')
    params.setdefault('verify_units', ['demo.service'])
    params.setdefault('reboot_timeout', 600)
    messages = []
    host.check_mode = check_mode  # as Ansible runs every module of a task in check mode
    try:
        result = LiveUpdate(host, params, check_mode=check_mode, log=messages.append).run()
    except LiveUpdateFailed as exc:
        assert_documented(doc_module.__file__, exc.result)
        raise
    return assert_documented(doc_module.__file__, result), messages


def test_live_update_succeeds_and_reports():
    host = FakeHost()
    result, _messages = run(host)
    assert result['changed'] is True
    assert (result['kernel_before'], result['kernel_target'], result['kernel_after']) == ('7.2.13', '7.3.4', '7.3.4')
    assert result['kexec_count'] == 1
    assert result['restored'] == {'demo.service': {'active': True, 'fdstore': ['demo-state'], 'fdstore_restored': True}}
    assert result['blackout']['phases_ms'] == {'total': 1234.5}
    assert result['blackout']['controller_s'] > 0
    assert result['boot_id_before'] == 'boot-1'
    assert host.resets == 3  # one after the kexec command, one per failed poll while the host was away


def test_the_connection_is_dropped_right_after_the_kexec_command():
    """ssh's control master leads to the boot that goes away: a call through it could wait forever for an answer."""
    host = FakeHost()
    run(host)
    first = host.reset_after[0]
    assert host.calls[first - 1][:2] == ('command', flow.KEXEC_NOW)


def test_the_result_counts_every_round_trip_to_the_host_per_phase():
    host = FakeHost()
    result, _messages = run(host)
    calls_made = result['calls']
    modules = sum(1 for call in host.calls if call[0] == 'module')
    commands = sum(1 for call in host.calls if call[0] == 'command')
    assert calls_made['total'] == {'modules': modules, 'commands': commands, 'seconds': host.now}
    assert list(calls_made) == ['preflight', 'kexec', 'wait', 'boot', 'verify', 'total']
    # kexec_load: the preflight with the target and the units, then the lock and the stage
    assert calls_made['preflight'] == {'modules': 1, 'commands': 0, 'seconds': 0.0}
    assert calls_made['wait']['modules'] == 0 and calls_made['wait']['commands'] == 3  # two failed polls, the answer
    assert calls_made['verify'] == {'modules': 1, 'commands': 0, 'seconds': 0.0}  # the lock module reads and releases
    assert calls_made['total']['modules'] == 2 and calls_made['total']['commands'] == 5
    phases = {phase: counts for phase, counts in calls_made.items() if phase != 'total'}
    assert sum(counts['modules'] + counts['commands'] for counts in phases.values()) == len(host.calls)


def test_the_result_says_where_the_time_went_per_phase():
    host = FakeHost(module_s=2.0, command_s=0.5, boot_finish_s=7)
    result, _messages = run(host, test_command='curl -fsS http://127.0.0.1:8089/')
    calls_made = result['calls']
    seconds = {phase: counts['seconds'] for phase, counts in calls_made.items()}
    assert seconds['preflight'] == 2.0  # kexec_load
    assert seconds['test_command'] == 0.5 and calls_made['test_command']['commands'] == 1
    assert seconds['verify'] == 2.0  # the lock module
    assert seconds['boot'] >= 7  # systemd finishing its boot counts there, not in verify
    assert seconds['total'] == pytest.approx(sum(value for phase, value in seconds.items() if phase != 'total'))
    assert seconds['total'] == pytest.approx(host.now)


def test_a_refused_update_counts_its_calls_too():
    host = FakeHost(device_held=2, module_s=1.5)
    with pytest.raises(LiveUpdateFailed) as failed:
        run(host)
    # one kexec_load run, which looked at the device twice, 3 s apart
    assert failed.value.result['calls'] == {'preflight': {'modules': 1, 'commands': 0, 'seconds': 4.5},
                                            'total': {'modules': 1, 'commands': 0, 'seconds': 4.5}}


def test_waits_for_systemd_to_finish_booting():
    host = FakeHost()
    result, _messages = run(host)
    assert result['system_state'] == 'running'
    waits = [call[1] for call in host.calls if call[0] == 'command' and 'is-system-running' in call[1]]
    assert len(waits) == 1 and waits[0].startswith('timeout ')


def test_a_boot_that_does_not_finish_is_said_and_verification_decides():
    host = FakeHost(system_state='starting')
    result, messages = run(host)
    assert result['system_state'] == 'starting'
    assert any('systemd is starting after the live update' in message for message in messages)


def test_backoff_is_capped_and_grows():
    host = FakeHost(down_polls=8)
    run(host)
    assert host.now == pytest.approx(1 + 2 + 4 + 8 + 10 + 10 + 10 + 10)


def test_timeout_when_the_host_never_comes_back():
    host = FakeHost(comes_back=None)
    with pytest.raises(LiveUpdateFailed, match=r'did not come back on a new boot within reboot_timeout=30s') as caught:
        run(host, reboot_timeout=30)
    assert 'Connection refused' in str(caught.value)
    assert host.now <= 30


def test_same_boot_id_is_not_taken_for_a_new_boot():
    host = FakeHost(down_polls=0)
    host.command(flow.BOOT_ID)
    host.kexeced = True
    host.comes_back = None
    with pytest.raises(LiveUpdateFailed, match='did not come back'):
        LiveUpdate(host, {'reboot_timeout': 5}).wait_for_new_boot('boot-1', 0.0)


def test_cold_reboot_into_the_old_kernel_fails_verification():
    host = FakeHost(comes_back='old')
    with pytest.raises(LiveUpdateFailed) as caught:
        run(host)
    message = str(caught.value)
    assert 'the host rebooted cold' in message and 'the preserved state was lost' in message
    assert 'running 7.2.13, not the target 7.3.4' in message
    assert 'KExecCount is 0, expected 1' in message
    assert (caught.value.result['phase'], caught.value.result['reason']) == ('verify', 'cold-reboot')
    blackout = caught.value.result['blackout']
    assert blackout['controller_s'] > 0 and blackout['phases_ms'] is None, 'how long the host was away, said on failure too'


def test_a_cold_boot_never_reports_state_restored_even_when_services_remade_it_under_the_same_names():
    host = FakeHost(comes_back='cold-target', recreates_fdstore=True)
    with pytest.raises(LiveUpdateFailed) as caught:
        run(host)
    assert caught.value.result['reason'] == 'cold-reboot'
    expected = {'active': True, 'fdstore': ['demo-state'], 'fdstore_restored': False}
    assert caught.value.result['restored']['demo.service'] == expected


def test_lost_fd_store_fails_verification():
    host = FakeHost(lose_fdstore=True)
    with pytest.raises(LiveUpdateFailed, match=r"demo.service fd store holds \[\], before it held \['demo-state'\]") as caught:
        run(host)
    assert caught.value.result['restored']['demo.service']['fdstore_restored'] is False


def test_failing_test_command_fails_verification():
    host = FakeHost(test_rc=7)
    with pytest.raises(LiveUpdateFailed, match='test_command .* failed with rc 7: connection refused'):
        run(host, test_command='curl -fsS http://127.0.0.1:8089/')


KEEPER = 'luo-state@cache.service'


def test_a_keeper_that_restored_the_saved_state_passes():
    host = FakeHost(keepers={'cache': 'restored'})
    result, _messages = run(host, verify_units=['demo.service', KEEPER])
    assert result['restored'][KEEPER] == {'active': True, 'fdstore': [], 'fdstore_restored': True, 'keeper_restored': True}


@pytest.mark.parametrize('outcome, says', [
    ('failed', r'did not restore the state saved before the live update: its record says failed'),
    (None, r'wrote no readable restore record on the new boot'),
])
def test_a_keeper_whose_restore_failed_fails_verify_and_names_it(outcome, says):
    # Its fd store is empty before and after by design: only its restore record can tell.
    failure = failure_of(FakeHost(keepers={'cache': outcome}), verify_units=['demo.service', KEEPER])
    assert failure.reason == 'keeper-not-restored'
    assert re.search(KEEPER.replace('@', '@') + ' ' + says, str(failure)), str(failure)
    assert failure.result['restored'][KEEPER]['keeper_restored'] is False


def test_a_keeper_record_of_a_cold_boot_does_not_pass():
    host = FakeHost(keepers={'cache': 'restored'}, comes_back='cold-target')
    failure = failure_of(host, verify_units=['demo.service', KEEPER])
    assert 'luo-state@cache.service did not restore' in str(failure)


def test_a_unit_without_an_fd_store_is_verified_by_its_state_alone():
    host = FakeHost()
    host.units['plain.service'] = {'LoadState': 'loaded', 'ActiveState': 'active', 'fdstore': [], 'FileDescriptorStoreMax': 0}
    result, _messages = run(host, verify_units=['demo.service', 'plain.service'])
    assert result['restored']['plain.service'] == {'active': True, 'fdstore': [], 'fdstore_restored': True}


def test_a_device_held_by_another_process_is_refused_before_anything_is_staged():
    host = FakeHost(device_held=2)
    failure = failure_of(host)
    assert failure.reason == 'not-ready'
    assert 'another process holds /dev/liveupdate (held now by pid 77 stray-tool)' in str(failure)
    assert nothing_changed(host) and host.probes == 2


def test_a_device_held_for_a_moment_is_looked_at_again():
    host = FakeHost(device_held=1)
    result, _messages = run(host)
    assert result['changed'] and host.kexeced
    assert host.probes == 2  # in the one kexec_load run, 3 s apart
    assert result['calls']['preflight']['modules'] == 1 and host.now >= 3


def test_a_failing_systemctl_kexec_is_quoted_without_its_colours():
    host = FakeHost(kexec_fails='\x1b[0;1;31mCall to Reboot failed: Access denied\x1b[0m')
    failure = failure_of(host)
    assert failure.reason == 'kexec-failed'
    assert 'failed with rc 1: Call to Reboot failed: Access denied; the host keeps running 7.2.13' in str(failure)
    assert '\x1b' not in str(failure)


def test_verify_units_refuses_a_name_with_a_trailing_newline():
    failure = failure_of(FakeHost(), verify_units=['demo.service\n'])
    assert failure.reason == 'bad-unit'


def test_test_command_is_bounded_by_what_is_left_of_reboot_timeout():
    host = FakeHost()
    host.test_hangs = True
    with pytest.raises(LiveUpdateFailed, match=r"test_command 'sleep infinity' did not finish within the \d+ s left of reboot_timeout"):
        run(host, test_command='sleep infinity', reboot_timeout=300)
    (seconds,) = [call[1] for call in host.calls if call[0] == 'test_command']
    assert 1 <= seconds <= 300


def test_not_ready_host_fails_before_anything_is_staged():
    host = FakeHost(ready=False)
    with pytest.raises(LiveUpdateFailed, match='not ready.*fix: boot with liveupdate=on') as caught:
        run(host)
    assert caught.value.result['reasons'][0]['id'] == 'device-missing'
    assert (caught.value.result['phase'], caught.value.reason) == ('preflight', 'not-ready')
    assert nothing_changed(host)


def test_incompatible_target_is_refused_unless_forced():
    host = FakeHost(compatible=False)
    with pytest.raises(LiveUpdateFailed, match='cannot take over with the state intact: luo-v4 vs luo-v5') as caught:
        run(host)
    assert caught.value.result['target_reasons'][0]['id'] == 'target-abi-mismatch-luo'
    assert nothing_changed(host)
    result, _messages = run(FakeHost(compatible=False), force=True)
    assert result['kernel_after'] == '7.3.4'


def test_missing_target_file_fails_in_preflight():
    host = FakeHost()
    with pytest.raises(LiveUpdateFailed, match='preflight: kernel image /boot/missing does not exist'):
        run(host, kernel='/boot/missing')
    assert not host.kexeced


def test_unknown_verify_unit_fails_before_staging():
    host = FakeHost()
    with pytest.raises(LiveUpdateFailed, match='verify unit nope.service is not-found'):
        run(host, verify_units=['nope.service'])
    assert nothing_changed(host)


def test_inactive_verify_unit_fails_before_staging():
    host = FakeHost()
    host.units['demo.service']['ActiveState'] = 'failed'
    with pytest.raises(LiveUpdateFailed, match='demo.service is failed, not active'):
        run(host)
    assert nothing_changed(host)


@pytest.mark.parametrize('unit', ['demo', 'a b.service', 'x.service; reboot', 7])
def test_bad_unit_names_are_refused_before_the_host_is_touched(unit):
    host = FakeHost()
    with pytest.raises(LiveUpdateFailed, match='is not a unit name'):
        run(host, verify_units=[unit])
    assert host.calls == []


def test_stage_failure_leaves_nothing_staged():
    host = FakeHost(stage_fails=True)
    with pytest.raises(LiveUpdateFailed, match='stage: kexec_file_load failed: Operation not permitted'):
        run(host)
    assert not host.kexeced


def test_failure_after_staging_unloads_again(monkeypatch):
    host = FakeHost()

    def boom(_self):
        raise LiveUpdateFailed('simulated failure after staging')
    monkeypatch.setattr(LiveUpdate, 'kexec', lambda self, _before: boom(self))
    with pytest.raises(LiveUpdateFailed) as caught:
        run(host)
    assert caught.value.result['unstaged'] is True and host.staged is None and host.lock is None
    assert ('module', flow.KEXEC_LOAD, {'state': 'unloaded'}) in host.calls
    assert not host.kexeced


def test_check_mode_returns_the_plan_and_changes_nothing():
    host = FakeHost()
    result, _messages = run(host, check_mode=True)
    assert result['changed'] is False
    assert result['plan']['expect'] == {'release': '7.3.4', 'kexec_count': 1, 'handover_proof': ['kexec_count', 'kernel_log'],
                                        'units': {'demo.service': ['demo-state']}}
    assert host.staged is None and not host.kexeced


def test_default_kernel_is_the_newest_newer_one_and_said():
    host = FakeHost()
    result, messages = run(host, kernel=None)
    assert result['kernel_chosen'] == '/boot/vmlinuz-7.10.1-rc1'
    assert result['kernel_after'] == '7.10.1-rc1'
    assert any('chose /boot/vmlinuz-7.10.1-rc1' in message for message in messages)
    # kexec_load chose, checked and staged it in the preflight's one module run
    assert result['calls']['preflight']['modules'] == 1
    assert 'kernel' not in stage_calls(host)[0]


def test_same_release_is_allowed_and_said():
    host = FakeHost()
    result, messages = run(host, kernel='/boot/vmlinuz-7.2.13')
    assert result['kernel_after'] == '7.2.13'
    assert any('restarts the same kernel' in message for message in messages)


def test_read_failure_names_the_command():
    class Broken(FakeHost):
        """info cannot read the boot id either, so the preflight reads it with a command."""
        def info(self, args):
            result = super().info(args)
            return dict(result, kernel=dict(result['kernel'], boot_id=None))

        def answer(self, cmd):
            if cmd == flow.BOOT_ID:
                return 1, '', 'Permission denied'
            return super().answer(cmd)
    with pytest.raises(LiveUpdateFailed, match='could not read the boot id .*Permission denied'):
        run(Broken())


def failure_of(host, **params):
    """The LiveUpdateFailed a run ends with."""
    with pytest.raises(LiveUpdateFailed) as caught:
        run(host, **params)
    return caught.value


def stage_calls(host):
    return [call[2] for call in host.calls if call[:2] == ('module', flow.KEXEC_LOAD) and call[2]['state'] == 'loaded']


def nothing_changed(host):
    """Nothing staged, no lock left, no kexec."""
    return host.staged is None and host.lock is None and not host.kexeced


# --- the default kernel never goes back ---

def test_default_kernel_never_goes_back_to_an_older_one():
    host = FakeHost(release='7.3.4', installed={'7.2.13': None, '7.3.4': None})
    result, _messages = run(host, kernel=None)
    assert result['changed'] is False
    assert result['current'] is True
    assert result['kernel_before'] == '7.3.4'
    assert 'no newer kernel is installed' in result['msg'] and '7.2.13' in result['msg']
    assert 'kernel: PATH' in result['msg']
    assert nothing_changed(host)


def test_default_kernel_is_current_in_check_mode_too():
    host = FakeHost(release='7.10.1-rc1')
    result, _messages = run(host, check_mode=True, kernel=None)
    assert (result['changed'], result['current']) == (False, True)
    assert 'plan' not in result


def test_default_kernel_skips_older_ones():
    host = FakeHost(release='7.3.4', installed={'7.2.13': None, '7.3.4': None, '7.3.10': None, '7.3.9': None})
    result, _messages = run(host, kernel=None)
    assert result['kernel_chosen'] == '/boot/vmlinuz-7.3.10'
    assert result['current'] is False


def test_going_back_is_only_explicit():
    host = FakeHost(release='7.3.4')
    result, messages = run(host, kernel='/boot/vmlinuz-7.2.13')
    assert result['kernel_after'] == '7.2.13'
    assert any('older than the running 7.3.4' in message for message in messages)


# --- the initramfs travels with its kernel ---

def test_target_is_staged_with_its_initrd():
    host = FakeHost(installed={'7.2.13': None, '7.3.4': '/boot/initrd.img-7.3.4'}, needs_initrd={'7.3.4'})
    result, _messages = run(host)
    assert 'initrd' not in stage_calls(host)[0]  # kexec_load pairs it
    assert result['initrd'] == '/boot/initrd.img-7.3.4'


def test_plan_names_the_initrd():
    host = FakeHost(installed={'7.2.13': None, '7.3.4': '/boot/initramfs-7.3.4.img'})
    result, _messages = run(host, check_mode=True)
    assert result['plan']['stage']['initrd'] == '/boot/initramfs-7.3.4.img'


def test_given_initrd_wins():
    host = FakeHost(installed={'7.2.13': None, '7.3.4': '/boot/initrd.img-7.3.4'})
    run(host, initrd='/boot/initrd.img-7.3.4.custom')
    assert stage_calls(host)[0]['initrd'] == '/boot/initrd.img-7.3.4.custom'


def test_built_in_kernel_is_staged_without_initrd():
    host = FakeHost()
    result, _messages = run(host)
    assert 'initrd' not in stage_calls(host)[0]
    assert result['initrd'] is None


@pytest.mark.parametrize('host_args, reason, words', [
    ({'needs_initrd': {'7.3.4'}}, 'initrd-missing', ['/boot/vmlinuz-7.3.4', '/boot/initrd.img-7.3.4', 'initrd: PATH']),
    ({'systemd_version': 261, 'kernel_log': False}, 'handover-unprovable', ['KExecCount', '/dev/kmsg', 'become']),
])
def test_refused_in_preflight_before_staging(host_args, reason, words):
    host = FakeHost(**host_args)
    failure = failure_of(host)
    assert (failure.result['phase'], failure.result['reason']) == ('preflight', reason)
    for word in words:
        assert word in str(failure)
    assert nothing_changed(host)


# --- a cold reboot never passes as a live update ---

def test_success_says_how_the_handover_was_proven():
    host = FakeHost()
    result, _messages = run(host)
    handover = result['handover']
    assert handover['live'] is True
    assert handover['proof'] == ['kexec_count', 'kernel_log']
    assert (handover['kexec_count_before'], handover['kexec_count_after']) == (0, 1)
    assert (handover['previous_release'], handover['kho_count'], handover['liveupdate_number']) == ('7.2.13', 1, 1)


def test_live_update_without_kexec_count_is_proven_by_the_kernel_log():
    host = FakeHost(systemd_version=261)
    result, _messages = run(host)
    assert result['handover']['live'] is True
    assert result['handover']['proof'] == ['kernel_log']
    assert result['kexec_count'] is None


def test_cold_reboot_into_the_target_without_kexec_count_fails():
    host = FakeHost(systemd_version=261, comes_back='cold-target')
    failure = failure_of(host, verify_units=[])
    assert (failure.result['phase'], failure.result['reason']) == ('verify', 'cold-reboot')
    assert 'the host rebooted cold' in str(failure) and 'the preserved state was lost' in str(failure)
    assert failure.result['handover']['live'] is False
    assert failure.result['kernel_after'] == '7.3.4'


def test_cold_reboot_into_the_target_with_kexec_count_fails():
    host = FakeHost(comes_back='cold-target', kernel_log=False)
    failure = failure_of(host, verify_units=[])
    assert failure.result['reason'] == 'cold-reboot'
    assert 'KExecCount is 0, expected 1' in str(failure)


def test_plan_says_how_the_handover_will_be_proven():
    result, _messages = run(FakeHost(systemd_version=261), check_mode=True)
    assert result['plan']['expect']['handover_proof'] == ['kernel_log']


def test_handover_from_another_kernel_is_not_this_live_update():
    class Elsewhere(FakeHost):
        def boot(self):
            super().boot()
            self.kho_in = {'previous_release': '7.1.0', 'count': 1}
    failure = failure_of(Elsewhere(kernel_log=True, systemd_version=261))
    assert failure.result['reason'] == 'handover-mismatch'
    assert 'exec from 7.1.0, not from the running 7.2.13' in str(failure)


# --- a failing systemctl kexec ---

def test_failing_systemctl_kexec_fails_at_once_and_unloads():
    host = FakeHost(kexec_fails='Failed to start kexec.target: Transaction for kexec.target/start is destructive.')
    failure = failure_of(host)
    assert (failure.result['phase'], failure.result['reason']) == ('kexec', 'kexec-failed')
    assert 'Transaction for kexec.target/start is destructive' in str(failure)
    assert 'rc 1' in str(failure)
    assert failure.result['unstaged'] is True
    assert host.staged is None
    assert host.now < 1  # no waiting for a boot that will not come


# --- connection drops after the kexec ---

def test_connection_drops_after_the_new_boot_are_retried():
    host = FakeHost(drops_after_boot=3)
    result, _messages = run(host, test_command='curl -fsS http://127.0.0.1:8089/')
    assert result['kernel_after'] == '7.3.4'
    assert result['handover']['live'] is True


def test_host_gone_after_the_new_boot_fails_with_what_is_known():
    host = FakeHost(gone_after_boot=True)
    failure = failure_of(host, reboot_timeout=60)
    assert failure.result['reason'] == 'connection-lost'
    assert failure.result['phase'] == 'boot'
    assert 'Shared connection to 127.0.0.1 closed' in str(failure)
    assert failure.result['kernel_target'] == '7.3.4'
    assert host.now <= 60


@pytest.mark.parametrize('acted', [False, True])
def test_connection_drop_in_the_preflight_and_stage_run_unloads_and_fails_cleanly(acted):
    """The answer is lost, before or after kexec_load staged and took the lock: both are undone."""
    class Flaky(FakeHost):
        def module(self, name, args):
            if name == flow.KEXEC_LOAD and args['state'] == 'loaded':
                if acted:
                    super().module(name, args)
                raise RuntimeError('Shared connection to 127.0.0.1 closed.')
            return super().module(name, args)
    host = Flaky()
    failure = failure_of(host)
    assert (failure.result['phase'], failure.result['reason']) == ('preflight', 'connection-lost')
    assert 'Shared connection to 127.0.0.1 closed.' in str(failure)
    assert nothing_changed(host) and failure.result['unstaged'] is True


def test_unreadable_fd_store_is_refused_in_preflight():
    host = FakeHost(fdstore_fails=True)
    failure = failure_of(host)
    assert (failure.result['phase'], failure.reason) == ('preflight', 'read-failed')
    assert 'Unknown command verb fdstore' in str(failure)
    assert nothing_changed(host)


def test_unreadable_fd_store_after_the_kexec_fails_the_verify():
    class BreaksAtBoot(FakeHost):
        def boot(self):
            super().boot()
            self.fdstore_fails = True
    failure = failure_of(BreaksAtBoot())
    assert (failure.result['phase'], failure.reason) == ('verify', 'read-failed')
    assert str(failure).startswith('verify: could not read the state of demo.service: ')


def test_the_units_are_read_with_the_facts_no_command_of_their_own():
    host = FakeHost(keepers={'files': 'restored'})
    result, _messages = run(host, verify_units=['demo.service', 'luo-state@files.service'])
    units = ['demo.service', 'luo-state@files.service']
    assert stage_calls(host)[0]['preflight']['units'] == units
    (released,) = [call[2] for call in host.calls if call[:2] == ('module', 'luo.liveupdate.lock')]
    assert released['state'] == 'released' and released['facts'] == {'units': units}
    assert result['restored']['luo-state@files.service']['keeper_restored'] is True
    assert result['calls']['preflight']['commands'] == 0 and result['calls']['verify']['commands'] == 0


def test_failures_say_phase_and_reason():
    failure = failure_of(FakeHost(ready=False))
    assert (failure.result['phase'], failure.result['reason']) == ('preflight', 'not-ready')
    failure = failure_of(FakeHost(comes_back=None), reboot_timeout=30)
    assert (failure.result['phase'], failure.result['reason']) == ('wait', 'no-new-boot')
    failure = failure_of(FakeHost(test_rc=7), test_command='curl -fsS http://127.0.0.1:8089/')
    assert (failure.result['phase'], failure.result['reason']) == ('verify', 'test-command-failed')


class KexecSession(FakeHost):
    """systemctl kexec answers ``kexec_rc`` as the host goes down, with ``state`` from is-system-running."""

    def __init__(self, kexec_rc, state, **kw):
        super().__init__(**kw)
        self.kexec_rc, self.state = kexec_rc, state

    def answer(self, cmd):
        if cmd == flow.KEXEC_NOW:
            self.kexeced = True
            return self.kexec_rc, '', 'Terminated'
        return super().answer(cmd)

    def after_kexec(self, cmd):
        if cmd == flow.SYSTEM_STATE and self.boot_id == 'boot-1':
            return 0, self.state + '\n', ''
        return super().after_kexec(cmd)


@pytest.mark.parametrize('rc, state', [(143, 'running'), (1, 'stopping')])
def test_systemctl_kexec_cut_short_by_its_own_shutdown_is_not_a_failure(rc, state):
    host = KexecSession(rc, state, down_polls=0)
    result, _messages = run(host)
    assert result['handover']['live'] is True
    assert ('module', flow.KEXEC_LOAD, {'state': 'unloaded'}) not in host.calls


def test_kexec_job_that_fails_after_dispatch_fails_without_waiting_for_the_timeout():
    host = FakeHost(kexec_job_fails=True)
    failure = failure_of(host)
    assert (failure.result['phase'], failure.result['reason']) == ('wait', 'kexec-not-started')
    assert 'still running its old boot boot-1' in str(failure) and 'journalctl -b -u kexec.target' in str(failure)
    assert failure.result['unstaged'] is True and host.staged is None
    assert host.now < 5


def test_counted_kexec_without_kho_state_is_not_the_live_update():
    class NoState(FakeHost):
        def boot(self):
            super().boot()
            self.kho_in = None  # kexec'ed, but KHO handed nothing over
    failure = failure_of(NoState(), verify_units=[])
    assert failure.result['reason'] == 'handover-mismatch'
    assert failure.result['handover']['proof'] == ['kexec_count']
    assert 'the kernel log of the new boot shows no KHO handover' in str(failure)
