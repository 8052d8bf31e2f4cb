# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The check that every returned key is documented (return_docs.py) catches an undocumented key of each module.

The check itself runs on every real result the unit tests make (run_module, the action and flow runners).
"""
from __future__ import annotations

import pytest

from ansible_collections.luo.liveupdate.plugins.modules import info, kernel_cmdline, kexec_load, live_update, lock
from ansible_collections.luo.liveupdate.plugins.modules import maintenance_window
from ansible_collections.luo.liveupdate.tests.unit.return_docs import assert_documented, docs_of, undocumented

# Per module: a result as it returns one, with a documented dict whose contents RETURN describes.
RESULTS = {
    info: {'changed': False, 'ready': True, 'reasons': [], 'kho': {'enabled': True}, 'compatible': True,
           'target': {'release': '7.3.4', 'initrd': {'path': None, 'needed': False, 'candidates': []}}},
    kernel_cmdline: {'changed': True, 'backend': 'grub', 'changed_files': ['/boot/grub/grub.cfg']},
    kexec_load: {'changed': True, 'loaded': True, 'record': '/run/luo-liveupdate/kexec.json', 'target': {'path': '/boot/vmlinuz'},
                 'target_reasons': [{'id': 'target-abi-unknown-luo', 'message': 'm', 'fix': 'f'}]},
    live_update: {'changed': True, 'kernel_after': '7.3.4', 'blackout': {'controller_s': 31.2, 'phases_ms': None},
                  'boot_id_before': 'boot-1', 'test_command': {'rc': 0, 'stdout': '', 'stderr': ''}},
    lock: {'changed': True, 'path': '/var/lib/luo-liveupdate/lock', 'acquired': True,
           'lock': {'owner': 'awx job 42', 'controller': None, 'started': 1, 'expires': 2}},
    maintenance_window: {'changed': False, 'open': True, 'window': {'days': ['mon'], 'overnight': False}},
}
NESTED = {info: 'kho', kernel_cmdline: None, kexec_load: 'target', live_update: 'blackout', lock: 'lock',
          maintenance_window: 'window'}


@pytest.mark.parametrize('module', list(RESULTS), ids=lambda module: module.__name__.rsplit('.', 1)[-1])
def test_an_undocumented_key_fails(module):
    result = RESULTS[module]
    assert_documented(module.__file__, result)
    with pytest.raises(AssertionError, match='returned keys its RETURN does not document: not_documented'):
        assert_documented(module.__file__, dict(result, not_documented=1))
    if NESTED[module]:
        inside = dict(result, **{NESTED[module]: dict(result[NESTED[module]], not_documented=1)})
        assert undocumented(inside, docs_of(module.__file__)[1]) == ['%s.not_documented' % NESTED[module]]


def test_list_elements_are_looked_into():
    result = dict(RESULTS[kexec_load], target_reasons=[{'id': 'x', 'message': 'm', 'fix': 'f', 'extra': 1}])
    assert undocumented(result, docs_of(kexec_load.__file__)[1]) == ['target_reasons[].extra']


def test_live_update_returns_its_blackout_once():
    returns = docs_of(live_update.__file__)[1]
    assert 'blackout_s' not in returns and set(returns['blackout']['contains']) == {'controller_s', 'phases_ms'}


def test_info_and_kexec_load_describe_the_target_with_one_definition():
    """Both take target, compatible and target_reasons from the RETURN doc fragment luo.liveupdate.kernel_target."""
    ours, theirs = docs_of(info.__file__)[1], docs_of(kexec_load.__file__)[1]
    for key in ('target', 'compatible', 'target_reasons'):
        assert ours[key] == theirs[key], key
