# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The info module, run in-process against fixture host trees (info_trees.py).

On this machine, the lab's kernels and with real tools: tests/integration/modules/test_info_real_kernels.py."""
from __future__ import annotations

import os
import shutil
import stat
import tempfile

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import image_cache, readiness
from ansible_collections.luo.liveupdate.plugins.modules import info
from ansible_collections.luo.liveupdate.tests.unit.module_utils import kimage_builders as kb
from ansible_collections.luo.liveupdate.tests.unit.modules import info_trees as trees
from ansible_collections.luo.liveupdate.tests.unit.modules.info_trees import check, ids, root  # noqa: F401  pylint: disable=unused-import

LAB_ABI = {'kho': 'kho-v4', 'luo': 'luo-v5', 'memfd': 'memfd-v2'}
PAGE_SIZE = os.sysconf('SC_PAGE_SIZE')
TARGET = '/boot/vmlinuz-7.3.4'


def assert_clean_failure(result, msg):
    assert result.failed and result['changed'] is False
    assert result['msg'] == msg
    assert 'exception' not in result and 'Traceback' not in result['msg']
    # The host facts are still there: the failure is about the target only.
    assert result['ready'] is True and result['reasons'] == []
    assert 'target' not in result and 'compatible' not in result


# --- a ready host ---

def test_ready_host(root, check):
    result = check()
    assert result['ready'] is True and result['reasons'] == []
    assert result['kernel'] == {
        'release': '7.2.13', 'boot_id': trees.BOOT_ID, 'arch': 'x86_64', 'page_size': PAGE_SIZE, 'config_source': '/boot/config-7.2.13',
        'image': '/boot/vmlinuz-7.2.13', 'abi': LAB_ABI,
        'options': {'KEXEC_FILE': 'y', 'KEXEC_HANDOVER': 'y', 'KEXEC_HANDOVER_ENABLE_DEFAULT': 'n',
                    'KEXEC_HANDOVER_DEBUGFS': 'y', 'LIVEUPDATE': 'y', 'LIVEUPDATE_MEMFD': 'y', 'MEMFD_CREATE': 'y',
                    'SHMEM': 'y'}}
    assert result['cmdline'] == {'raw': trees.LUO_CMDLINE, 'liveupdate': 'on', 'kho': 'on', 'kho_scratch': None}
    assert result['device'] == {'path': '/dev/liveupdate', 'present': True, 'char_device': True, 'major_minor': '1:3',
                                'probe': None}
    assert result['kho'] == {'enabled': True, 'incoming': False, 'evidence': 'KExecCount', 'previous_release': None,
                             'count': None, 'liveupdate_number': None,
                             'kernel_log_error': 'cannot read the kernel log /dev/kmsg: No such file or directory'}
    assert result['kernels'] == [{'release': '7.2.13', 'image': '/boot/vmlinuz-7.2.13'}]
    assert result['kexec'] == {'path': '/usr/sbin/kexec', 'version': 'kexec-tools 2.0.32', 'file_load_supported': True,
                               'loaded': False, 'load_disabled': False, 'lockdown': 'none'}
    assert result['systemd'] == {'version': 262, 'fdstore_preserve_supported': True, 'luo_session_supported': True,
                                 'kexec_count': 0, 'last_live_update_ms': None, 'error': None}
    assert result['cautions'] == []
    assert 'target' not in result and 'compatible' not in result and 'target_reasons' not in result
    # The tools that ran are the tree's.
    assert sorted({call.split()[0] for call in trees.calls(root)}) == [
        os.path.join(root, 'usr/bin/systemctl'), os.path.join(root, 'usr/sbin/kexec')]


def test_ready_host_after_a_live_update(root, check):
    trees.install_systemctl(root, show=trees.SHOW_AFTER_LIVE_UPDATE)
    result = check()
    assert result['ready'] is True
    assert (result['kho']['incoming'], result['kho']['evidence']) == (True, 'KExecCount')
    assert result['systemd']['kexec_count'] == 1
    assert result['systemd']['last_live_update_ms']['kexec'] == 344.444


def test_handover_from_the_kernel_log(root, check):
    trees.install_systemctl(root, show=trees.SHOW_AFTER_LIVE_UPDATE)
    trees.write(root, '/dev/kmsg', '6,0,0,-;Linux version 7.2.13\n6,8,0,-;KHO: found kexec handover data.\n'
                                   '6,9,0,-;KHO: exec from: 7.2.12 (count 3)\n'
                                   '6,10,0,-;luo: Retrieved live update data, liveupdate number: 3\n')
    result = check()
    assert result['kho'] == {'enabled': True, 'incoming': True, 'evidence': 'kernel log', 'previous_release': '7.2.12',
                             'count': 3, 'liveupdate_number': 3, 'kernel_log_error': None}


def test_installed_kernels(root, check):
    trees.install_kernel(root, '7.3.4')
    assert [kernel['release'] for kernel in check()['kernels']] == ['7.3.4', '7.2.13']


def test_ready_host_with_kho_on_by_default(root, check):
    trees.write(root, '/proc/cmdline', 'root=/dev/vda1 liveupdate=1\n')
    trees.write(root, '/boot/config-7.2.13', trees.config_text('7.2.13', KEXEC_HANDOVER_ENABLE_DEFAULT='y'))
    result = check()
    assert result['ready'] is True and result['kho']['enabled'] is True


def test_module_changes_nothing_but_its_cache_of_image_facts(root, check):
    cache = os.path.join(root, image_cache.CACHE_PATH.lstrip('/'))

    def snapshot():
        state = {}
        for directory, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(directory, name)
                if name != trees.CALLS_LOG and path != cache:
                    state[path] = (os.lstat(path).st_mode, os.lstat(path).st_mtime_ns)
        return state
    before = snapshot()
    first = check(target_kernel='/boot/vmlinuz-7.2.13', probe_device=True)
    assert snapshot() == before
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    # The second run answers the same from the cache.
    second = check(target_kernel='/boot/vmlinuz-7.2.13', probe_device=True)
    assert {key: second[key] for key in ('kernel', 'target', 'compatible')} == {
        key: first[key] for key in ('kernel', 'target', 'compatible')}


# --- one blocker at a time ---

def test_unsupported_arch(root, check):
    trees.write(root, '/proc/sys/kernel/arch', 'ppc64le\n')
    result = check()
    assert result['ready'] is False
    assert ids(result['reasons']) == ['arch-unsupported']
    assert result['kernel']['arch'] == 'ppc64le'


def test_kernel_without_liveupdate(root, check):
    trees.write(root, '/boot/config-7.2.13', trees.config_text('7.2.13', LIVEUPDATE=None, LIVEUPDATE_MEMFD=None))
    trees.remove(root, '/dev/liveupdate')
    result = check()
    assert result['reasons'] == [
        {'id': 'kernel-config-liveupdate',
         'message': 'CONFIG_LIVEUPDATE=n in 7.2.13 (/boot/config-7.2.13): no Live Update Orchestrator, so no /dev/liveupdate',
         'fix': readiness.KERNEL_FIX},
        {'id': 'kernel-config-liveupdate-memfd',
         'message': 'CONFIG_LIVEUPDATE_MEMFD=n in 7.2.13 (/boot/config-7.2.13): no preservation of memfds',
         'fix': readiness.KERNEL_FIX},
        {'id': 'device-missing',
         'message': '/dev/liveupdate does not exist: the running kernel has no LUO support (see the kernel-config reasons)',
         'fix': readiness.KERNEL_FIX},
    ]
    assert result['kernel']['options']['LIVEUPDATE'] == 'n'


def test_kernel_config_unknown(root, check):
    trees.remove(root, '/boot/config-7.2.13')
    result = check()
    # Without a config, KHO on by default is unknown too; kho=on is on the command line, so that is fine.
    assert ids(result['reasons']) == ['kernel-config-unknown']
    assert result['kernel']['config_source'] is None and result['kernel']['options'] is None
    assert result['kho']['enabled'] is False


def test_kernel_config_unreadable(root, check):
    path = trees.write(root, '/boot/config-7.2.13', b'\x1f\x8b\x08\x00 not really gzip')
    result = check()
    assert ids(result['reasons']) == ['kernel-config-unreadable']
    message = result['reasons'][0]['message']
    assert message.startswith('the kernel config of 7.2.13 cannot be read, so its LUO support is unknown: '
                              'kernel config %s is a damaged gzip file (' % path)
    assert message.endswith('); restore it from the kernel package')
    assert result['reasons'][0]['fix'] == 'make the config readable (run with become: true) or reinstall it from the kernel package'
    assert (result['kernel']['config_source'], result['kernel']['options']) == (None, None)
    assert 'config_error' not in result['kernel']


def test_booted_without_parameters(root, check):
    trees.write(root, '/proc/cmdline', trees.PLAIN_CMDLINE + '\n')
    trees.remove(root, '/dev/liveupdate')
    result = check()
    assert ids(result['reasons']) == ['cmdline-liveupdate', 'cmdline-kho', 'device-missing']
    assert result['reasons'][2]['message'] == '/dev/liveupdate does not exist: the kernel was not booted with liveupdate=on kho=on'
    assert result['cmdline'] == {'raw': trees.PLAIN_CMDLINE, 'liveupdate': None, 'kho': None, 'kho_scratch': None}
    assert result['kho']['enabled'] is False


def test_kho_switched_off(root, check):
    trees.write(root, '/proc/cmdline', 'root=/dev/vda1 liveupdate=on kho=off kho_scratch=256M\n')
    result = check()
    assert ids(result['reasons']) == ['cmdline-kho']
    assert '(kho=off)' in result['reasons'][0]['message']
    assert result['cmdline']['kho_scratch'] == '256M'


def test_device_missing_on_a_luo_boot(root, check):
    trees.remove(root, '/dev/liveupdate')
    result = check()
    assert result['reasons'] == [{
        'id': 'device-missing', 'message': '/dev/liveupdate does not exist: LUO disabled itself at boot',
        'fix': 'read the kernel log (journalctl -k | grep -i -e luo -e kho) for why'}]
    assert result['device']['present'] is False


def test_device_that_is_a_regular_file(root, check):
    trees.remove(root, '/dev/liveupdate')
    trees.install_device(root, 'file')
    result = check()
    assert ids(result['reasons']) == ['device-not-char']
    assert (result['device']['present'], result['device']['char_device']) == (True, False)


def test_kexec_missing(root, check):
    trees.remove(root, '/usr/sbin/kexec')
    result = check()
    assert ids(result['reasons']) == ['kexec-missing']
    assert result['kexec']['path'] is None


def test_kexec_without_file_load(root, check):
    trees.install_kexec(root, help_fixture=trees.KEXEC_HELP_WITHOUT_FILE_LOAD)
    result = check()
    assert result['reasons'] == [{
        'id': 'kexec-no-file-load',
        'message': '/usr/sbin/kexec (kexec-tools 2.0.32) does not support kexec_file_load (-s), the only way the LUO state travels',
        'fix': 'install kexec-tools >= 2.0.18 built with kexec_file_load support'}]


def test_kexec_load_disabled(root, check):
    trees.write(root, '/proc/sys/kernel/kexec_load_disabled', '1\n')
    result = check()
    assert ids(result['reasons']) == ['kexec-load-disabled']
    assert result['kexec']['load_disabled'] is True


def test_systemd_not_running(root, check):
    trees.remove(root, '/run/systemd/system')
    result = check()
    assert ids(result['reasons']) == ['systemd-missing']
    assert result['systemd']['error'] == 'systemd is not the running init system'
    assert result['cautions'] == ['systemd is not the running init system']
    assert result['kho']['incoming'] is None


def test_systemd_too_old(root, check):
    trees.install_systemctl(root, version='systemctl-version-252.txt', show='show-user-manager-252.txt')
    result = check()
    assert ids(result['reasons']) == ['systemd-too-old']
    assert result['systemd']['version'] == 252


def test_cautions_do_not_block(root, check):
    trees.write(root, '/sys/kernel/security/lockdown', 'none [integrity] confidentiality\n')
    trees.write(root, '/sys/kernel/kexec_loaded', '1\n')
    trees.install_systemctl(root, show_rc=1)
    result = check()
    assert result['ready'] is True
    assert result['kexec']['lockdown'] == 'integrity' and result['kexec']['loaded'] is True
    assert result['cautions'][0].startswith('kernel lockdown is integrity: ')
    assert result['cautions'][1].startswith('`systemctl show ')
    assert result['cautions'][2].startswith('a kernel is already staged for kexec')


def test_nothing_ready(root, check):
    trees.write(root, '/proc/cmdline', trees.PLAIN_CMDLINE + '\n')
    trees.write(root, '/boot/config-7.2.13', trees.config_text('7.2.13', KEXEC_HANDOVER=None, LIVEUPDATE=None,
                                                               LIVEUPDATE_MEMFD=None))
    trees.write(root, '/proc/sys/kernel/kexec_load_disabled', '1\n')
    for path in ('/dev/liveupdate', '/usr/sbin/kexec', '/usr/bin/systemctl'):
        trees.remove(root, path)
    result = check()
    assert result['ready'] is False
    assert ids(result['reasons']) == [
        'kernel-config-kexec-handover', 'kernel-config-liveupdate', 'kernel-config-liveupdate-memfd',
        'cmdline-liveupdate', 'cmdline-kho', 'device-missing', 'kexec-missing', 'kexec-load-disabled', 'systemd-missing']


# --- units ---

def unit_show(load='loaded', active='active', fdmax=4):
    return 0, 'LoadState=%s\nActiveState=%s\nFileDescriptorStoreMax=%d\n' % (load, active, fdmax)


def test_no_units_asked_none_reported(root, check):
    assert check()['units'] == {}


def test_units_with_their_fd_stores_and_a_keeper_record(root, check):
    memfds = (trees.SYSTEMD_FIXTURES + '/fdstore-memfds-262.json')
    with open(memfds, encoding='utf-8') as handle:
        listing = handle.read()
    trees.install_unit_tools(root, {'demo.service': unit_show(), 'luo-state@files.service': unit_show(fdmax=0),
                                    'gone.service': unit_show('not-found', 'inactive', 0)},
                             {'demo.service': (0, listing)})
    trees.write(root, '/run/luo-state/files/restore.json', '{"result": "restored", "boot_id": "b2"}')
    result = check(units=['demo.service', 'luo-state@files.service', 'gone.service'])
    assert result['ready'] is True
    assert result['units'] == {
        'demo.service': {'load_state': 'loaded', 'active_state': 'active', 'fdstore': ['cache', 'state'], 'error': None},
        'luo-state@files.service': {'load_state': 'loaded', 'active_state': 'active', 'fdstore': [], 'error': None,
                                    'restore_record': {'result': 'restored', 'boot_id': 'b2'}},
        'gone.service': {'load_state': 'not-found', 'active_state': 'inactive', 'fdstore': [], 'error': None}}


def test_a_unit_systemd_cannot_tell_about_is_reported_with_the_error(root, check):
    trees.install_unit_tools(root, {'demo.service': unit_show()}, {'demo.service': (1, '', 'Unknown command verb fdstore.')})
    state = check(units=['demo.service'])['units']['demo.service']
    assert state['fdstore'] is None and state['error'].endswith('failed with exit code 1: Unknown command verb fdstore.')


@pytest.mark.parametrize('bad', ['redis', '-H host.service'])
def test_a_bad_unit_name_is_refused_and_nothing_is_read(root, check, bad):
    result = check(units=['demo.service', bad])
    assert result.failed and result['changed'] is False
    assert result['msg'] == 'units entry %r is not a unit name: give full names such as "myapp.service"' % bad
    assert trees.calls(root) == []


# --- target_newest ---

def test_target_newest_checks_the_newest_newer_installed_kernel(root, check):
    trees.install_kernel(root, '7.3.4')
    trees.install_kernel(root, '7.2.9')  # older than the running 7.2.13: never chosen
    result = check(target_newest=True)
    assert result['target_chosen'] == '/boot/vmlinuz-7.3.4'
    assert result['target']['release'] == '7.3.4' and result['compatible'] is True


def test_target_newest_without_a_newer_kernel_checks_no_target(root, check):
    trees.install_kernel(root, '7.2.9')
    result = check(target_newest=True)
    assert result['target_chosen'] is None
    assert 'target' not in result and 'compatible' not in result and result['ready'] is True


def test_target_newest_and_target_kernel_together_are_refused(root, run_module):
    result = run_module(info.main, {'target_newest': True, 'target_kernel': TARGET}, check_mode=True)
    assert result.failed and 'mutually exclusive: target_kernel|target_newest' in result['msg']
    assert trees.calls(root) == []


def test_without_target_newest_no_choice_is_reported(root, check):
    assert 'target_chosen' not in check()


# --- probe_device ---

def test_probe_off_reports_no_probe(root, check):
    result = check()
    assert result['device']['probe'] is None and result['ready'] is True


def test_probe_on_a_device_that_is_not_luo(root, check):
    result = check(probe_device=True)
    probe = result['device']['probe']
    assert (probe['path'], probe['state'], probe['errno']) == ('/dev/liveupdate', 'not-a-device', 'ENOTTY')
    assert result['ready'] is False
    assert result['reasons'] == [{'id': 'device-not-a-device', 'message': probe['message'], 'fix': 'see the message'}]
    assert probe['message'].endswith('dev/liveupdate (1:3) does not answer LUO ioctls: it is not /dev/liveupdate')


def test_probe_on_a_missing_device(root, check):
    trees.remove(root, '/dev/liveupdate')
    result = check(probe_device=True)
    assert result['device']['probe']['state'] == 'absent'
    assert ids(result['reasons']) == ['device-missing']


def test_probe_with_unreadable_sysfs(root, check):
    trees.write(root, '/sys/class/misc/liveupdate/dev', 'liveupdate\n')
    result = check(probe_device=True)
    assert not result.failed
    assert result['device']['probe']['state'] == 'error'
    assert ids(result['reasons']) == ['device-error']


# --- target kernels ---

def test_target_compatible(root, check):
    trees.install_kernel(root, '7.3.4')
    result = check(target_kernel=TARGET)
    assert result['compatible'] is True and result['target_reasons'] == []
    assert result['target'] == {
        'path': TARGET, 'release': '7.3.4', 'compression': 'gzip', 'payload_readable': True, 'payload_reason': None,
        'config_source': '/boot/config-7.3.4', 'abi': LAB_ABI, 'options': result['kernel']['options'],
        'initrd': {'path': None, 'needed': False,
                   'candidates': ['/boot/initrd.img-7.3.4', '/boot/initramfs-7.3.4.img', '/boot/initrd-7.3.4']}}
    assert result['ready'] is True


def test_target_compatible_with_embedded_config(root, check):
    trees.write(root, '/srv/vmlinuz-next', trees.kernel_image('7.3.4', method='xz', config=trees.config_text('7.3.4')))
    result = check(target_kernel='/srv/vmlinuz-next')
    assert result['compatible'] is True
    assert result['target']['config_source'] == '/srv/vmlinuz-next (embedded IKCONFIG)'
    assert result['target']['compression'] == 'xz'


def test_target_checked_on_a_host_that_is_not_ready(root, check):
    trees.write(root, '/proc/cmdline', trees.PLAIN_CMDLINE + '\n')
    trees.install_kernel(root, '7.3.4')
    result = check(target_kernel=TARGET)
    assert result['ready'] is False and result['compatible'] is True


def test_target_config_missing_options(root, check):
    trees.install_kernel(root, '7.3.4', config=trees.config_text('7.3.4', KEXEC_HANDOVER=None, LIVEUPDATE='n'))
    result = check(target_kernel=TARGET)
    assert result['compatible'] is False
    assert ids(result['target_reasons']) == ['target-config-kexec-handover', 'target-config-liveupdate']
    assert result['target_reasons'][1]['message'] == (
        'CONFIG_LIVEUPDATE=n in 7.3.4 (/boot/config-7.3.4): no Live Update Orchestrator, so no /dev/liveupdate')
    assert result['target']['options']['KEXEC_HANDOVER'] == 'n'


def test_target_config_unknown(root, check):
    trees.install_kernel(root, '7.3.4', config=False)
    result = check(target_kernel=TARGET)
    assert ids(result['target_reasons']) == ['target-config-unknown']
    assert (result['target']['config_source'], result['target']['options']) == (None, None)


@pytest.mark.parametrize('name, new', [('luo', 'luo-v6'), ('kho', 'kho-v5'), ('memfd', 'memfd-v3')])
def test_target_abi_mismatch(root, check, name, new):
    abi = tuple(new.encode() if item.startswith(name.encode() + b'-') else item for item in trees.LUO_ABI)
    trees.install_kernel(root, '7.3.4', abi=abi)
    result = check(target_kernel=TARGET)
    assert result['compatible'] is False
    assert result['target']['abi'] == dict(LAB_ABI, **{name: new})
    assert ids(result['target_reasons']) == ['target-abi-mismatch-' + name]
    assert result['target_reasons'][0]['message'].startswith('ABI %s of the target differs from %s of the running kernel: '
                                                             % (new, LAB_ABI[name]))


def test_target_with_two_luo_versions_is_a_mismatch(root, check):
    trees.install_kernel(root, '7.3.4', abi=trees.LUO_ABI + (b'luo-v6',))
    result = check(target_kernel=TARGET)
    assert result['target']['abi']['luo'] == 'luo-v5 luo-v6'
    assert ids(result['target_reasons']) == ['target-abi-mismatch-luo']


def test_target_without_abi_strings(root, check):
    trees.install_kernel(root, '7.3.4', abi=())
    result = check(target_kernel=TARGET)
    assert result['target']['abi'] == {'kho': None, 'luo': None, 'memfd': None}
    assert ids(result['target_reasons']) == ['target-abi-missing-luo', 'target-abi-missing-kho', 'target-abi-missing-memfd']


def test_target_page_size_mismatch(root, check):
    other = 65536 if PAGE_SIZE != 65536 else 16384
    option = {65536: 'ARM64_64K_PAGES', 16384: 'ARM64_16K_PAGES'}[other]
    trees.write(root, '/boot/Image-7.3.4', kb.arm64_image(kb.kernel_body(release='7.3.4')))
    trees.write(root, '/boot/config-7.3.4', trees.config_text('7.3.4', X86_64=None, ARM64='y', **{option: 'y'}))
    result = check(target_kernel='/boot/Image-7.3.4')
    assert result['target']['options'][option] == 'y'
    assert result['target_reasons'] == [{
        'id': 'target-page-size',
        'message': 'page size %d of the target differs from %d of the running kernel' % (other, PAGE_SIZE),
        'fix': 'build the target with the same page size as the running kernel'}]


def test_running_abi_unknown_without_image(root, check):
    trees.remove(root, '/boot/vmlinuz-7.2.13')
    trees.install_kernel(root, '7.3.4')
    result = check(target_kernel=TARGET)
    assert result['ready'] is True and result['kernel']['image'] is None and result['kernel']['abi'] is None
    assert result['target_reasons'] == [{
        'id': 'running-abi-unknown',
        'message': 'the LUO ABI strings of the running kernel are unknown (no image for 7.2.13 in /boot), '
                   'so compatibility cannot be proven',
        'fix': 'keep the running kernel image at /boot/vmlinuz-7.2.13, readable'}]


def test_running_abi_unknown_for_a_damaged_image(root, check):
    image = trees.kernel_image('7.2.13')
    path = trees.write(root, '/boot/vmlinuz-7.2.13', image[:len(image) // 2])
    trees.install_kernel(root, '7.3.4')
    result = check(target_kernel=TARGET)
    assert ids(result['target_reasons']) == ['running-abi-unknown']
    assert 'kernel image %s is truncated' % path in result['target_reasons'][0]['message']


def test_running_abi_missing(root, check):
    trees.install_kernel(root, '7.2.13', abi=(b'kho-v4', b'luo-v5'))
    trees.install_kernel(root, '7.3.4')
    result = check(target_kernel=TARGET)
    assert ids(result['target_reasons']) == ['running-abi-missing-memfd']


# --- bad target_kernel values: a clear failure, no traceback ---

def test_target_missing(root, check):
    result = check(target_kernel='/boot/vmlinuz-9.9.9')
    assert_clean_failure(result, 'target_kernel: kernel image %s/boot/vmlinuz-9.9.9 does not exist; give the path of an existing image, '
                                 'for example /boot/vmlinuz-RELEASE' % root)


def test_target_directory(root, check):
    result = check(target_kernel='/boot')
    assert_clean_failure(result, 'target_kernel: %s/boot is a directory, not a kernel image; give the image file in it, for example '
                                 '%s/boot/vmlinuz-RELEASE' % (root, root))


def test_target_not_a_kernel(root, check):
    result = check(target_kernel='/boot/config-7.2.13')
    assert_clean_failure(result, 'target_kernel: %s/boot/config-7.2.13 is not a kernel image: no bzImage header ("HdrS" at 0x202), no arm64 '
                                 'Image magic at 0x38, not an ELF vmlinux and not a compressed file; give a vmlinuz, '
                                 'bzImage, Image, Image.gz or vmlinux' % root)


def test_target_truncated(root, check):
    image = trees.kernel_image('7.3.4')
    path = trees.write(root, TARGET, image[:3000])
    result = check(target_kernel=TARGET)
    assert result.failed
    assert result['msg'].startswith('target_kernel: kernel image %s is truncated: the header puts the compressed kernel at bytes ' % path)
    assert_clean_failure(result, result['msg'])


def test_target_relative(root, check):
    trees.install_kernel(root, '7.3.4')
    result = check(target_kernel='boot/vmlinuz-7.3.4')
    assert_clean_failure(result, 'target_kernel boot/vmlinuz-7.3.4 is relative: give the absolute path on the '
                                 'managed host, for example /boot/vmlinuz-7.3.4')


@pytest.fixture
def open_root(host_root):
    """A ready host tree that the user nobody can walk through (tmp_path is private to root)."""
    path = tempfile.mkdtemp(prefix='luo-info-')
    os.chmod(path, 0o755)
    trees.ready_host(path)
    trees.write(path, '/' + trees.CALLS_LOG, '', mode=0o666)
    host_root(path)
    yield path
    shutil.rmtree(path)


def test_target_unreadable(open_root, check):
    path = trees.write(open_root, TARGET, trees.kernel_image('7.3.4'), mode=0o000)
    if os.geteuid() != 0:
        result = check(target_kernel=TARGET)
    else:
        # Root reads any file: run the module as nobody, as a user without become would.
        os.setegid(65534)
        os.seteuid(65534)
        try:
            result = check(target_kernel=TARGET)
        finally:
            os.seteuid(0)
            os.setegid(0)
    assert_clean_failure(result, 'target_kernel: cannot read kernel image %s: permission denied; run with root privileges (become: true) '
                                 'or make the file readable' % path)
