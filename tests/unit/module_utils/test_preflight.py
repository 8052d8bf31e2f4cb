# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""preflight.py: what stops a live update before anything changes, judged over info's report."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import preflight

KERNEL = '/boot/vmlinuz-7.3.4'
READY = {
    'ready': True, 'reasons': [],
    'kernel': {'release': '7.2.13'},
    'kexec': {'loaded': False},
    'kho': {'kernel_log_error': None},
    'systemd': {'version': 262, 'kexec_count': 0},
    'target': {'release': '7.3.4', 'initrd': {'path': None, 'needed': False,
                                              'candidates': ['/boot/initrd.img-7.3.4', '/boot/initramfs-7.3.4.img']}},
    'compatible': True, 'target_reasons': [],
    'units': {'demo.service': {'load_state': 'loaded', 'active_state': 'active', 'fdstore': ['s'], 'error': None}},
}
RECORD = {'kernel': KERNEL, 'initrd': '/boot/initrd.img-7.3.4', 'release': '7.3.4', 'cmdline': 'root=/dev/vda1',
          'loaded_at': '2027-01-01T09:55:00Z'}


def report(**changes):
    """READY with ``changes``; a name with __ changes a key inside: kexec__loaded=True."""
    found = copy.deepcopy(READY)
    for name, value in changes.items():
        *path, last = name.split('__')
        inner = found
        for part in path:
            inner = inner[part]
        inner[last] = value
    return found


def refusal(found, **kwargs):
    with pytest.raises(preflight.Refusal) as caught:
        preflight.check(found, kwargs.pop('record', None), KERNEL, **kwargs)
    return caught.value


def test_a_ready_host_and_target_pass():
    preflight.check(report(), None, KERNEL, units=['demo.service'])


def test_not_ready_names_each_reason_and_its_fix():
    found = report(ready=False, reasons=[{'id': 'device-missing', 'message': '/dev/liveupdate does not exist',
                                         'fix': 'boot with liveupdate=on'}])
    refused = refusal(found)
    assert refused.reason == 'not-ready'
    assert refused.text == ('the host is not ready for a live update: /dev/liveupdate does not exist '
                            '(fix: boot with liveupdate=on)')


def test_a_staged_kernel_is_refused_saying_what_it_is():
    refused = refusal(report(kexec__loaded=True), record=RECORD)
    assert refused.reason == 'already-staged'
    assert refused.text.startswith("a kernel is staged on the host already: /boot/vmlinuz-7.3.4 (release 7.3.4) with initrd "
                                   "/boot/initrd.img-7.3.4, command line 'root=/dev/vda1', staged by "
                                   "luo.liveupdate.kexec_load at 2027-01-01T09:55:00Z. Another run may be about to kexec")
    assert 'kexec -s -u on the host' in refused.text


def test_a_staged_kernel_without_a_record_is_unknown():
    refused = refusal(report(kexec__loaded=True))
    assert 'by something other than luo.liveupdate.kexec_load (there is no record of it in /run/luo-liveupdate/kexec.json)' \
        in refused.text


def test_an_incompatible_target_is_refused_unless_forced():
    reasons = [{'id': 'target-abi-mismatch-luo', 'message': 'luo-v4 vs luo-v5', 'fix': 'pick another'}]
    found = report(compatible=False, target_reasons=reasons)
    refused = refusal(found)
    assert refused.reason == 'target-incompatible'
    assert refused.text == '/boot/vmlinuz-7.3.4 cannot take over with the state intact: luo-v4 vs luo-v5 (fix: pick another)'
    preflight.check(found, None, KERNEL, force=True)


def test_a_needed_initramfs_missing_is_refused_unless_given_or_forced():
    found = report(target__initrd={'path': None, 'needed': True, 'candidates': ['/boot/initrd.img-7.3.4']})
    refused = refusal(found)
    assert refused.reason == 'initrd-missing'
    assert refused.text.startswith('refusing to stage /boot/vmlinuz-7.3.4 (release 7.3.4) without an initramfs')
    assert refused.text.endswith('or give initrd: PATH; or set force: true to stage it anyway')
    preflight.check(found, None, KERNEL, initrd='/srv/initrd')
    preflight.check(found, None, KERNEL, force=True)


def test_nothing_to_prove_the_handover_is_refused():
    found = report(systemd={'version': 261, 'kexec_count': None}, kho={'kernel_log_error': 'cannot read /dev/kmsg'})
    refused = refusal(found)
    assert refused.reason == 'handover-unprovable'
    assert 'systemd 261 reports no KExecCount' in refused.text and 'cannot read /dev/kmsg' in refused.text
    assert 'become: true' in refused.text


def test_the_witnesses_of_a_handover():
    assert preflight.handover_witnesses(report()) == ['kexec_count', 'kernel_log']
    assert preflight.handover_witnesses(report(systemd={'kexec_count': None})) == ['kernel_log']
    assert preflight.handover_witnesses(report(kho={'kernel_log_error': 'denied'})) == ['kexec_count']


@pytest.mark.parametrize('state, reason, words', [
    ({'load_state': 'not-found', 'active_state': 'inactive', 'error': None}, 'verify-unit-missing',
     'verify unit demo.service is not-found on the host: check the name'),
    ({'load_state': 'loaded', 'active_state': 'failed', 'error': None}, 'verify-unit-inactive',
     'verify unit demo.service is failed, not active: start it first'),
    ({'error': 'could not read the state of demo.service: no fdstore verb'}, 'read-failed',
     'could not read the state of demo.service: no fdstore verb'),
])
def test_a_unit_to_verify_must_be_active_now(state, reason, words):
    refused = refusal(report(units={'demo.service': state}), units=['demo.service'])
    assert refused.reason == reason and words in refused.text


def test_a_unit_the_report_does_not_have_is_a_read_failure():
    refused = refusal(report(), units=['other.service'])
    assert (refused.reason, refused.text) == ('read-failed', 'info did not report on other.service')


def test_the_checks_come_in_the_order_a_user_fixes_them():
    found = report(ready=False, reasons=[{'id': 'x', 'message': 'm', 'fix': 'f'}], kexec__loaded=True, compatible=False)
    assert refusal(found).reason == 'not-ready'
    assert refusal(report(kexec__loaded=True, compatible=False)).reason == 'already-staged'
