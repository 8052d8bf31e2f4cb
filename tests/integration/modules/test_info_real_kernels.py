# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The info module on this machine, on the lab's kernels and Debian's stock kernel, with the real lz4 tool and a real device node."""
from __future__ import annotations

import os

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import decompress, readiness
from ansible_collections.luo.liveupdate.plugins.modules import info
from ansible_collections.luo.liveupdate.tests.integration.requirements import (
    LAB_KERNELS, lab_kernel, require_decompressor, require_root, stock_kernel)
from ansible_collections.luo.liveupdate.tests.unit.modules import info_trees as trees
from ansible_collections.luo.liveupdate.tests.unit.modules.info_trees import check, ids, root  # noqa: F401  pylint: disable=unused-import

LAB_ABI = {'kho': 'kho-v4', 'luo': 'luo-v5', 'memfd': 'memfd-v2'}
TARGET = '/boot/vmlinuz-7.3.4'


def test_probe_a_node_without_driver(root, check):
    require_root('mknod of a device node')
    trees.remove(root, '/dev/liveupdate')
    trees.make_node(root, 241, 0)  # reserved for local use: no driver answers it
    assert check()['ready'] is True
    result = check(probe_device=True)
    assert result['device']['major_minor'] == '241:0'
    assert result['device']['probe']['errno'] in ('ENXIO', 'ENODEV')
    assert ids(result['reasons']) == ['device-not-a-device']


def test_target_payload_that_cannot_be_decompressed(root, check):
    require_decompressor('lz4')
    trees.install_kernel(root, '7.3.4', method='lz4')
    result = check(target_kernel=TARGET)
    reason = 'lz4 payload: needs the lz4 tool (apt-get install lz4)'
    assert result['target']['payload_readable'] is False and result['target']['payload_reason'] == reason
    assert result['target']['abi'] is None and result['target']['release'] == '7.3.4'
    assert result['compatible'] is False
    assert ids(result['target_reasons']) == ['target-abi-unknown-luo', 'target-abi-unknown-kho', 'target-abi-unknown-memfd']
    assert result['target_reasons'][0]['message'] == 'the luo ABI string of %s is unknown: %s' % (TARGET, reason)


def test_target_payload_decompressed_by_the_roots_tool(root, check):
    lz4 = require_decompressor('lz4')
    trees.install_kernel(root, '7.3.4', method='lz4')
    os.symlink(lz4, os.path.join(root, 'usr/bin/lz4'))
    result = check(target_kernel=TARGET)
    assert result['target']['payload_readable'] is True and result['target']['abi'] == LAB_ABI
    assert result['compatible'] is True


def test_this_machine(run_module):
    result = run_module(info.main, {}, check_mode=True)
    assert result['changed'] is False and not result.failed
    assert result['ready'] is False
    assert result['reasons']
    for item in result['reasons']:
        assert sorted(item) == ['fix', 'id', 'message']
        assert item['id'] and item['message'] and item['fix']
    found = ids(result['reasons'])
    options = result['kernel']['options']
    if options is None:
        assert found[0] in ('kernel-config-unknown', 'kernel-config-unreadable')
    else:
        missing = ['kernel-config-' + name.lower().replace('_', '-')
                   for name, _role in readiness.REQUIRED_OPTIONS if options[name] != 'y']
        assert [item for item in found if item.startswith('kernel-config-')] == missing


def test_lab_kernel_on_this_machine(run_module):
    path = lab_kernel('vmlinuz-7.2.13-luo')
    result = run_module(info.main, {'target_kernel': path}, check_mode=True)
    assert not result.failed
    target = result['target']
    assert target['abi'] == LAB_ABI
    assert target['options']['LIVEUPDATE'] == 'y'
    assert (target['release'], target['config_source']) == ('7.2.13', str(LAB_KERNELS / 'config-7.2.13-luo'))
    assert not [item for item in result['target_reasons'] if item['id'].startswith('target-')]


@pytest.fixture
def lab_host(root):
    """The ready tree running the lab's 7.2.13 kernel (links to the real image and config)."""
    for name, link in (('vmlinuz-7.2.13-luo', 'vmlinuz-7.2.13'), ('config-7.2.13-luo', 'config-7.2.13')):
        os.remove(os.path.join(root, 'boot', link))
        os.symlink(lab_kernel(name), os.path.join(root, 'boot', link))
    return root


def test_lab_kernel_7_2_to_7_3(lab_host, check):
    for name, link in (('vmlinuz-7.3.4-luo', 'vmlinuz-7.3.4'), ('config-7.3.4-luo', 'config-7.3.4')):
        os.symlink(lab_kernel(name), os.path.join(lab_host, 'boot', link))
    result = check(target_kernel=TARGET)
    assert result['ready'] is True and result['kernel']['abi'] == LAB_ABI
    assert result['compatible'] is True and result['target_reasons'] == []
    assert (result['target']['release'], result['target']['abi']) == ('7.3.4', LAB_ABI)
    # Everything built in: the lab kernels boot without an initramfs.
    assert result['target']['initrd']['needed'] is False


def test_stock_kernel_is_not_compatible(lab_host, check):
    stock = stock_kernel()
    zstd = None if decompress._STDLIB_ZSTD is not None else require_decompressor('zstd')  # pylint: disable=protected-access
    # The tree holds the stock kernel's files where Debian puts them; the module reads them there.
    release = os.path.basename(os.path.dirname(stock))
    os.makedirs(os.path.join(lab_host, 'usr/lib/modules'))
    os.symlink(os.path.dirname(stock), os.path.join(lab_host, 'usr/lib/modules', release))
    if zstd:
        os.symlink(zstd, os.path.join(lab_host, 'usr/bin/zstd'))
    result = check(target_kernel='/usr/lib/modules/%s/vmlinuz' % release)
    assert result['compatible'] is False
    assert (result['target']['release'], result['target']['compression']) == (release, 'zstd')
    assert result['target']['config_source'] == '/usr/lib/modules/%s/config' % release
    assert result['target']['options']['LIVEUPDATE'] == 'n'
    assert result['target']['abi'] == {'kho': None, 'luo': None, 'memfd': None}
    # A distribution kernel loads its drivers from the initramfs, and none is installed here.
    assert result['target']['initrd'] == {'path': None, 'needed': True, 'candidates': [
        '/boot/initrd.img-%s' % release, '/boot/initramfs-%s.img' % release, '/boot/initrd-%s' % release]}
    assert ids(result['target_reasons']) == [
        'target-config-kexec-handover', 'target-config-liveupdate', 'target-config-liveupdate-memfd',
        'target-abi-missing-luo', 'target-abi-missing-kho', 'target-abi-missing-memfd']
