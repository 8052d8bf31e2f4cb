# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live update's decisions, against a simulated host behind a fake connection."""
from __future__ import annotations

import pytest

from ansible_collections.luo.liveupdate.plugins.plugin_utils import live_update_flow as flow
from ansible_collections.luo.liveupdate.plugins.plugin_utils.live_update_flow import LiveUpdate, LiveUpdateFailed
from ansible_collections.luo.liveupdate.tests.unit.action.fake_host import FakeHost


def run(host, check_mode=False, **params):
    params.setdefault('kernel', '/boot/vmlinuz-7.3.4')
    params.setdefault('verify_units', ['demo.service'])
    params.setdefault('reboot_timeout', 600)
    messages = []
    result = LiveUpdate(host, params, check_mode=check_mode, log=messages.append).run()
    return result, messages


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
    assert host.resets == 2  # one per failed poll while the host was away


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
    assert 'running 7.2.13, not the target 7.3.4' in message
    assert 'KExecCount is 0, expected 1' in message


def test_lost_fd_store_fails_verification():
    host = FakeHost(lose_fdstore=True)
    with pytest.raises(LiveUpdateFailed, match=r"demo.service fd store holds \[\], before it held \['demo-state'\]") as caught:
        run(host)
    assert caught.value.result['restored']['demo.service']['fdstore_restored'] is False


def test_failing_test_command_fails_verification():
    host = FakeHost(test_rc=7)
    with pytest.raises(LiveUpdateFailed, match='test_command .* failed with rc 7: connection refused'):
        run(host, test_command='curl -fsS http://127.0.0.1:8089/')


def test_not_ready_host_fails_before_anything_is_staged():
    host = FakeHost(ready=False)
    with pytest.raises(LiveUpdateFailed, match='not ready.*fix: boot with liveupdate=on') as caught:
        run(host)
    assert caught.value.result['reasons'][0]['id'] == 'device-missing'
    assert host.staged is None and not host.kexeced
    assert not [call for call in host.calls if call[:2] == ('module', flow.KEXEC_LOAD)]


def test_incompatible_target_is_refused_unless_forced():
    host = FakeHost(compatible=False)
    with pytest.raises(LiveUpdateFailed, match='cannot take over with the state intact: luo-v4 vs luo-v5'):
        run(host)
    assert host.staged is None and not host.kexeced
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
    assert host.staged is None


def test_inactive_verify_unit_fails_before_staging():
    host = FakeHost()
    host.units['demo.service']['ActiveState'] = 'failed'
    with pytest.raises(LiveUpdateFailed, match='demo.service is failed, not active'):
        run(host)
    assert host.staged is None


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
    monkeypatch.setattr(LiveUpdate, 'stage', lambda self: (setattr(self, 'staged', True), boom(self)))
    with pytest.raises(LiveUpdateFailed) as caught:
        run(host)
    assert caught.value.result['unstaged'] is True
    assert ('module', flow.KEXEC_LOAD, {'state': 'unloaded'}) in host.calls
    assert not host.kexeced


def test_check_mode_returns_the_plan_and_changes_nothing():
    host = FakeHost()
    result, _messages = run(host, check_mode=True)
    assert result['changed'] is False
    assert result['plan']['expect'] == {'release': '7.3.4', 'kexec_count': 1, 'units': {'demo.service': ['demo-state']}}
    assert host.staged is None and not host.kexeced


def test_default_kernel_is_the_newest_other_one_and_said():
    host = FakeHost(target_release='7.10.1-rc1')
    result, messages = run(host, kernel=None)
    assert result['kernel_chosen'] == '/boot/vmlinuz-7.10.1-rc1'
    assert any('chose /boot/vmlinuz-7.10.1-rc1' in message for message in messages)


def test_no_other_kernel_installed():
    host = FakeHost(boot_listing='vmlinuz-7.2.13\n')
    with pytest.raises(LiveUpdateFailed, match='no kernel to update to.*install the new kernel or give kernel'):
        run(host, kernel=None)


def test_same_release_is_allowed_and_said():
    host = FakeHost(target_release='7.2.13')
    result, messages = run(host)
    assert result['kernel_after'] == '7.2.13'
    assert any('restarts the same kernel' in message for message in messages)


def test_version_key_orders_numerically():
    releases = ['7.9.1', '7.10.0', '7.2.13', '7.3.4+deb14-cloud-amd64']
    assert max(releases, key=flow.version_key) == '7.10.0'


def test_newest_other_kernel_skips_the_running_one():
    assert flow.newest_other_kernel('vmlinuz-7.3.4 vmlinuz-7.2.13', '7.3.4') == '/boot/vmlinuz-7.2.13'
    assert flow.newest_other_kernel('config-7.2.13 grub', '7.2.13') is None


def test_fdstore_names_are_sorted():
    assert flow.parse_fdstore_names('[{"fdname": "b"}, {"fdname": "a"}]') == ['a', 'b']
    assert flow.parse_fdstore_names('') == []


def test_read_failure_names_the_command():
    class Broken(FakeHost):
        def answer(self, cmd):
            if cmd == flow.KEXEC_COUNT:
                return 1, '', 'Failed to connect to bus'
            return super().answer(cmd)
    with pytest.raises(LiveUpdateFailed, match='could not read KExecCount .*Failed to connect to bus'):
        run(Broken())
