# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""hostfacts.py against fixture host trees (tests/unit/modules/info_trees.py) and real commands."""
from __future__ import annotations

import gzip
import os

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import hostfacts, kimage
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host
from ansible_collections.luo.liveupdate.tests.unit.module_utils import kimage_builders as kb
from ansible_collections.luo.liveupdate.tests.unit.modules import info_trees as trees

LAB_ABI = {'kho': 'kho-v4', 'luo': 'luo-v5', 'memfd': 'memfd-v2'}
PAGE_SIZE = os.sysconf('SC_PAGE_SIZE')


@pytest.fixture
def root(tmp_path):
    return trees.ready_host(tmp_path / 'root')


@pytest.fixture
def host(root):
    return Host(root, trees.run_command)


# --- KHO switched on ---

@pytest.mark.parametrize('value, enable_default, expected', [
    ('on', None, True), ('1', None, True), ('Yes', None, True), ('true', None, True), ('y', None, True),
    ('off', 'y', False), ('0', 'y', False), ('n', 'y', False), ('no', 'y', False), ('FALSE', 'y', False),
    (None, 'y', True), (None, 'n', False), (None, None, False),
    ('maybe', 'y', True), ('maybe', None, False), ('', 'y', True),
])
def test_kho_switched_on(value, enable_default, expected):
    config = {'KEXEC_HANDOVER': 'y'}
    if enable_default is not None:
        config['KEXEC_HANDOVER_ENABLE_DEFAULT'] = enable_default
    assert hostfacts.kho_switched_on({'kho': value}, config) is expected


@pytest.mark.parametrize('config', [None, {}])
def test_kho_without_config_needs_kho_on(config):
    assert hostfacts.kho_switched_on({'kho': None}, config) is False
    assert hostfacts.kho_switched_on({'kho': 'on'}, config) is True


# --- gather ---

def test_gather_ready_host(host, root):
    facts = hostfacts.gather(host)
    assert sorted(facts) == ['boot', 'cmdline', 'device', 'kernel', 'kernels', 'kexec', 'kho', 'systemd']
    assert facts['kernel'] == {
        'release': '7.2.13', 'boot_id': trees.BOOT_ID, 'arch': 'x86_64', 'page_size': PAGE_SIZE, 'config_source': '/boot/config-7.2.13',
        'config': facts['kernel']['config'], 'config_error': None, 'image': '/boot/vmlinuz-7.2.13', 'abi': LAB_ABI,
        'payload_reason': None}
    assert facts['kernel']['config']['LIVEUPDATE'] == 'y'
    assert facts['cmdline'] == {'raw': trees.LUO_CMDLINE, 'liveupdate': 'on', 'kho': 'on', 'kho_scratch': None}
    assert facts['device'] == {'path': '/dev/liveupdate', 'present': True, 'char_device': True, 'major_minor': '1:3',
                               'probe': None}
    assert facts['kho'] == dict(NOTHING_IN_THE_LOG, enabled=True, incoming=False, evidence='KExecCount',
                                kernel_log_error='cannot read the kernel log /dev/kmsg: No such file or directory')
    assert facts['kernels'] == [{'release': '7.2.13', 'image': '/boot/vmlinuz-7.2.13'}]
    assert facts['kexec'] == {'path': '/usr/sbin/kexec', 'version': 'kexec-tools 2.0.32', 'file_load_supported': True,
                              'loaded': False, 'load_disabled': False, 'lockdown': 'none'}
    assert facts['systemd'] == {'version': 262, 'fdstore_preserve_supported': True, 'luo_session_supported': True,
                                'kexec_count': 0, 'last_live_update_ms': None, 'error': None}
    tools = [call.split()[0] for call in trees.calls(root)]
    assert tools == [os.path.join(root, 'usr/bin/systemctl')] * 2 + [os.path.join(root, 'usr/sbin/kexec')] * 2


def test_gather_probes_the_device_when_asked(host):
    probe = hostfacts.gather(host, probe_device=True)['device']['probe']
    # The tree's device is /dev/null: a char device that does not answer LUO ioctls.
    assert (probe['path'], probe['state'], probe['errno']) == ('/dev/liveupdate', 'not-a-device', 'ENOTTY')


# --- running kernel ---

def test_running_kernel_falls_back_to_uname(host, root):
    trees.remove(root, '/proc/sys/kernel/osrelease')
    trees.remove(root, '/proc/sys/kernel/arch')
    kernel = hostfacts.running_kernel(host)
    assert (kernel['release'], kernel['arch']) == (os.uname().release, os.uname().machine)
    assert kernel['config'] is None and kernel['image'] is None
    assert kernel['payload_reason'] == 'no image for %s in /boot' % os.uname().release


def test_running_kernel_prefers_proc_config_gz(host, root):
    trees.write(root, '/proc/config.gz', gzip.compress(trees.config_text('7.2.13', LIVEUPDATE=None).encode()))
    kernel = hostfacts.running_kernel(host)
    assert kernel['config_source'] == '/proc/config.gz'
    assert kernel['config']['LIVEUPDATE'] == 'n'


@pytest.mark.parametrize('place', ['/lib/modules/7.2.13/config', '/usr/lib/modules/7.2.13/config'])
def test_running_kernel_config_from_modules(host, root, place):
    trees.remove(root, '/boot/config-7.2.13')
    trees.write(root, place, trees.config_text('7.2.13'))
    assert hostfacts.running_kernel(host)['config_source'] == place


def test_running_kernel_without_config(host, root):
    trees.remove(root, '/boot/config-7.2.13')
    kernel = hostfacts.running_kernel(host)
    assert (kernel['config'], kernel['config_source'], kernel['config_error']) == (None, None, None)
    assert kernel['abi'] == LAB_ABI


def test_running_kernel_with_unusable_config(host, root):
    path = trees.write(root, '/boot/config-7.2.13', 'this is not a kernel config\n')
    kernel = hostfacts.running_kernel(host)
    assert (kernel['config'], kernel['config_source']) == (None, None)
    assert kernel['config_error'] == ('%s holds no kernel config lines (CONFIG_NAME=value); point to the config of the '
                                      'kernel build' % path)


@pytest.mark.parametrize('place', ['/boot/Image-7.2.13', '/lib/modules/7.2.13/vmlinuz', '/usr/lib/modules/7.2.13/vmlinuz'])
def test_running_kernel_image_places(host, root, place):
    trees.remove(root, '/boot/vmlinuz-7.2.13')
    trees.write(root, place, trees.kernel_image('7.2.13'))
    kernel = hostfacts.running_kernel(host)
    assert (kernel['image'], kernel['abi']) == (place, LAB_ABI)


def test_running_kernel_image_must_be_a_file(host, root):
    trees.remove(root, '/boot/vmlinuz-7.2.13')
    os.makedirs(os.path.join(root, 'boot/vmlinuz-7.2.13'))
    kernel = hostfacts.running_kernel(host)
    assert (kernel['image'], kernel['abi']) == (None, None)


def test_running_kernel_image_that_is_not_a_kernel(host, root):
    path = trees.write(root, '/boot/vmlinuz-7.2.13', b'#!/bin/sh\necho not a kernel\n')
    kernel = hostfacts.running_kernel(host)
    assert kernel['image'] == '/boot/vmlinuz-7.2.13'
    assert kernel['abi'] is None
    assert kernel['payload_reason'].startswith('%s is not a kernel image: no bzImage header' % path)


# --- abi_of ---

def test_abi_of_joins_several_strings_and_keeps_none():
    image = kimage.KernelImage('/boot/vmlinuz', 'bzImage', abi={'kho': ['kho-v3', 'kho-v4'], 'luo': ['luo-v5'], 'memfd': []})
    assert hostfacts.abi_of(image) == {'kho': 'kho-v3 kho-v4', 'luo': 'luo-v5', 'memfd': None}


def test_abi_of_unreadable_payload_is_unknown():
    image = kimage.KernelImage('/boot/vmlinuz', 'bzImage', payload_readable=False, payload_reason='lz4 payload: needs lz4')
    assert hostfacts.abi_of(image) is None


def test_abi_of_without_abi_is_unknown():
    assert hostfacts.abi_of(kimage.KernelImage('/boot/vmlinuz', 'bzImage', abi=None)) is None


# --- command line ---

def test_cmdline_facts(host, root):
    trees.write(root, '/proc/cmdline', 'root=/dev/vda1 "liveupdate=on" kho=off kho_scratch=512M kho=on -- liveupdate=off\n')
    assert hostfacts.cmdline_facts(host) == {
        'raw': 'root=/dev/vda1 "liveupdate=on" kho=off kho_scratch=512M kho=on -- liveupdate=off',
        'liveupdate': 'on', 'kho': 'on', 'kho_scratch': '512M'}


def test_cmdline_facts_without_proc_cmdline(host, root):
    trees.remove(root, '/proc/cmdline')
    assert hostfacts.cmdline_facts(host) == {'raw': '', 'liveupdate': None, 'kho': None, 'kho_scratch': None}


# --- device ---

def test_device_missing(host, root):
    trees.remove(root, '/dev/liveupdate')
    assert hostfacts.device_facts(host, False) == {
        'path': '/dev/liveupdate', 'present': False, 'char_device': False, 'major_minor': None, 'probe': None}


def test_device_missing_probed(host, root):
    trees.remove(root, '/dev/liveupdate')
    probe = hostfacts.device_facts(host, True)['probe']
    assert (probe['path'], probe['state'], probe['errno']) == ('/dev/liveupdate', 'absent', 'ENOENT')


def test_device_regular_file(host, root):
    trees.remove(root, '/dev/liveupdate')
    trees.install_device(root, 'file')
    facts = hostfacts.device_facts(host, True)
    assert (facts['present'], facts['char_device'], facts['major_minor']) == (True, False, None)
    assert facts['probe']['state'] == 'not-a-device'
    assert facts['probe']['message'].endswith('dev/liveupdate is a regular file, not a character device: it is not /dev/liveupdate')


def test_device_probe_against_sysfs(host, root):
    trees.write(root, '/sys/class/misc/liveupdate/dev', '10:123\n')
    probe = hostfacts.device_facts(host, True)['probe']
    assert probe['state'] == 'not-a-device'
    assert probe['message'].endswith('is device 1:3 but the kernel registered liveupdate as 10:123 (%s)'
                                     % os.path.join(root, 'sys/class/misc/liveupdate/dev'))


def test_device_probe_with_unreadable_sysfs_entry(host, root):
    path = trees.write(root, '/sys/class/misc/liveupdate/dev', 'garbage\n')
    assert hostfacts.device_facts(host, True)['probe'] == {
        'path': '/dev/liveupdate', 'state': 'error', 'errno': None,
        'message': "%s holds 'garbage', not \"major:minor\"; is sysfs mounted at /sys?" % path}


# --- KHO ---

KERNEL = {'config': {'KEXEC_HANDOVER': 'y'}}
KHO_ON = {'kho': 'on'}
NO_COUNT = {'kexec_count': None}


NOTHING_IN_THE_LOG = {'previous_release': None, 'count': None, 'liveupdate_number': None}
# /dev/kmsg records as the kernel hands them out: "PRIO,SEQ,USEC,FLAGS;MESSAGE", dictionary lines indented.
KMSG_LIVE_UPDATE = '''6,0,0,-;Linux version 7.3.4 (root@vm) #1 SMP PREEMPT_DYNAMIC
6,1,0,-;Command line: root=/dev/vda1 console=ttyS0 liveupdate=on kho=on
6,2,0,-;KHO: found kexec handover data.
6,3,0,-;KHO: exec from: 7.2.13 (count 1)
6,4,0,-;luo: Retrieved live update data, liveupdate number: 1
6,5,201,-;virtio_blk virtio1: [vda] 4194304 512-byte logical blocks
 SUBSYSTEM=virtio
 DEVICE=+virtio:virtio1
'''
KMSG_COLD_BOOT = '''6,0,0,-;Linux version 7.2.13 (root@vm) #1 SMP PREEMPT_DYNAMIC
6,1,0,-;Command line: root=/dev/vda1 console=ttyS0 liveupdate=on kho=on
6,2,1200,-;clocksource: tsc: mask: 0xffffffffffffffff
'''
KMSG_WITHOUT_ITS_START = '''6,5120,81000000,-;systemd[1]: Started demo.service.
'''


def test_kho_incoming_from_debugfs(host, root):
    os.makedirs(os.path.join(root, 'sys/kernel/debug/kho/in'))
    os.makedirs(os.path.join(root, 'sys/kernel/debug/kho/out'))
    facts = hostfacts.kho_facts(host, KERNEL, KHO_ON, {'kexec_count': 0})
    assert (facts['enabled'], facts['incoming'], facts['evidence']) == (True, True, 'debugfs')


def test_kho_not_incoming_from_debugfs(host, root):
    os.makedirs(os.path.join(root, 'sys/kernel/debug/kho/out'))
    facts = hostfacts.kho_facts(host, KERNEL, KHO_ON, {'kexec_count': 3})
    assert (facts['enabled'], facts['incoming'], facts['evidence']) == (True, False, 'debugfs')


def test_kho_incoming_from_the_kernel_log(host, root):
    trees.write(root, '/dev/kmsg', KMSG_LIVE_UPDATE)
    assert hostfacts.kho_facts(host, KERNEL, KHO_ON, NO_COUNT) == {
        'enabled': True, 'incoming': True, 'evidence': 'kernel log', 'previous_release': '7.2.13', 'count': 1,
        'liveupdate_number': 1, 'kernel_log_error': None}


def test_kho_not_incoming_from_a_whole_kernel_log(host, root):
    trees.write(root, '/dev/kmsg', KMSG_COLD_BOOT)
    # KExecCount counts any kexec, with or without state: the log is the better witness.
    assert hostfacts.kho_facts(host, KERNEL, KHO_ON, {'kexec_count': 2}) == dict(
        NOTHING_IN_THE_LOG, enabled=True, incoming=False, evidence='kernel log', kernel_log_error=None)


def test_kernel_log_without_its_start_proves_nothing(host, root):
    trees.write(root, '/dev/kmsg', KMSG_WITHOUT_ITS_START)
    facts = hostfacts.kho_facts(host, KERNEL, KHO_ON, NO_COUNT)
    assert (facts['incoming'], facts['evidence'], facts['kernel_log_error']) == (None, None, None)


def test_kernel_log_that_cannot_be_read(host, root):
    facts = hostfacts.kho_facts(host, KERNEL, KHO_ON, NO_COUNT)
    assert facts['kernel_log_error'] == 'cannot read the kernel log /dev/kmsg: No such file or directory'
    assert facts['incoming'] is None


def test_kernel_log_handover_reads_the_lines_of_kho_and_luo():
    assert hostfacts.kernel_log_handover(KMSG_LIVE_UPDATE) == {
        'handover': True, 'complete': True, 'previous_release': '7.2.13', 'count': 1, 'liveupdate_number': 1}
    assert hostfacts.kernel_log_handover(KMSG_COLD_BOOT) == dict(NOTHING_IN_THE_LOG, handover=False, complete=True)
    assert hostfacts.kernel_log_handover(KMSG_WITHOUT_ITS_START) == dict(NOTHING_IN_THE_LOG, handover=False, complete=False)
    assert hostfacts.kernel_log_handover('') == dict(NOTHING_IN_THE_LOG, handover=False, complete=False)


@pytest.mark.parametrize('count, params, incoming', [
    (1, KHO_ON, True), (0, KHO_ON, False), (2, {'kho': 'off'}, False), (None, KHO_ON, None)])
def test_kho_incoming_from_kexec_count(host, count, params, incoming):
    assert hostfacts.kho_facts(host, KERNEL, params, {'kexec_count': count})['incoming'] is incoming


@pytest.mark.parametrize('kernel, params, enabled', [
    ({'config': None}, KHO_ON, False),
    ({'config': {}}, KHO_ON, False),
    ({'config': {'KEXEC_HANDOVER': 'n'}}, KHO_ON, False),
    ({'config': {'KEXEC_HANDOVER': 'y'}}, {'kho': None}, False),
    ({'config': {'KEXEC_HANDOVER': 'y', 'KEXEC_HANDOVER_ENABLE_DEFAULT': 'y'}}, {'kho': None}, True),
    ({'config': {'KEXEC_HANDOVER': 'y'}}, KHO_ON, True),
])
def test_kho_enabled(host, kernel, params, enabled):
    assert hostfacts.kho_facts(host, kernel, params, NO_COUNT)['enabled'] is enabled


# --- installed kernels ---

def test_installed_kernels_newest_first(host, root):
    for path in ('/boot/vmlinuz-7.3.4', '/usr/lib/modules/7.10.1/vmlinuz', '/usr/lib/modules/7.3.4/vmlinuz',
                 '/lib/modules/7.9.2/vmlinuz', '/boot/Image-7.3.10', '/boot/vmlinuz.old', '/boot/vmlinuz-',
                 '/boot/config-7.11.0'):
        trees.write(root, path, b'')
    os.makedirs(os.path.join(root, 'boot/vmlinuz-7.12.0'))
    assert hostfacts.installed_kernels(host) == [
        {'release': '7.10.1', 'image': '/usr/lib/modules/7.10.1/vmlinuz'},
        {'release': '7.9.2', 'image': '/lib/modules/7.9.2/vmlinuz'},
        {'release': '7.3.10', 'image': '/boot/Image-7.3.10'},
        {'release': '7.3.4', 'image': '/boot/vmlinuz-7.3.4'},
        {'release': '7.2.13', 'image': '/boot/vmlinuz-7.2.13'},
    ]


# --- the initramfs of a target ---

MODULAR = 'CONFIG_MODULES=y\nCONFIG_BLK_DEV_INITRD=y\n'


def test_target_without_initrd_that_needs_none(host, root):
    facts = hostfacts.target(host, trees.install_kernel(root, '7.3.4'))
    assert facts['initrd'] == {'path': None, 'needed': False, 'candidates': [
        '/boot/initrd.img-7.3.4', '/boot/initramfs-7.3.4.img', '/boot/initrd-7.3.4']}


def test_target_with_its_initrd(host, root):
    path = trees.install_kernel(root, '7.3.4', config=trees.config_text('7.3.4') + MODULAR)
    trees.write(root, '/boot/initramfs-7.3.4.img', b'070701')
    assert hostfacts.target(host, path)['initrd'] == {'path': '/boot/initramfs-7.3.4.img', 'needed': True, 'candidates': [
        '/boot/initrd.img-7.3.4', '/boot/initramfs-7.3.4.img', '/boot/initrd-7.3.4']}


def test_target_whose_config_is_unknown_may_need_an_initrd(host, root):
    facts = hostfacts.target(host, trees.install_kernel(root, '7.3.4', config=False))
    assert facts['initrd']['needed'] is None


# --- kexec ---

def test_kexec_missing(host, root):
    trees.remove(root, '/usr/sbin/kexec')
    assert hostfacts.kexec_facts(host) == {'path': None, 'version': None, 'file_load_supported': False,
                                           'loaded': False, 'load_disabled': False, 'lockdown': 'none'}


def test_kexec_without_file_load(host, root):
    trees.install_kexec(root, help_fixture=trees.KEXEC_HELP_WITHOUT_FILE_LOAD, path='/sbin/kexec')
    trees.remove(root, '/usr/sbin/kexec')
    facts = hostfacts.kexec_facts(host)
    assert (facts['path'], facts['version'], facts['file_load_supported']) == ('/sbin/kexec', 'kexec-tools 2.0.32', False)


def test_kexec_version_failing_or_silent(host, root):
    trees.install_tool(root, '/usr/sbin/kexec', {'--version': (0, '\n'), '--help': (1, ' -s, --kexec-file-syscall Use file based syscall')})
    assert hostfacts.kexec_facts(host)['version'] is None
    trees.install_tool(root, '/usr/sbin/kexec', {'--help': (0, '')})
    facts = hostfacts.kexec_facts(host)
    assert (facts['version'], facts['file_load_supported']) == (None, False)


def test_kexec_help_on_stderr(host, root):
    trees.write(root, '/usr/sbin/kexec', '#!/bin/sh\necho "kexec-tools 2.0.18" >&2\necho " -s, --kexec-file-syscall" >&2\n', mode=0o755)
    facts = hostfacts.kexec_facts(host)
    assert (facts['version'], facts['file_load_supported']) == ('kexec-tools 2.0.18', True)


def test_kexec_switches(host, root):
    trees.write(root, '/sys/kernel/kexec_loaded', '1\n')
    trees.write(root, '/proc/sys/kernel/kexec_load_disabled', '1\n')
    trees.write(root, '/sys/kernel/security/lockdown', 'none [integrity] confidentiality\n')
    facts = hostfacts.kexec_facts(host)
    assert (facts['loaded'], facts['load_disabled'], facts['lockdown']) == (True, True, 'integrity')


def test_kexec_switches_unreadable(host, root):
    for path in ('/sys/kernel/kexec_loaded', '/proc/sys/kernel/kexec_load_disabled', '/sys/kernel/security/lockdown'):
        trees.remove(root, path)
    facts = hostfacts.kexec_facts(host)
    assert (facts['loaded'], facts['load_disabled'], facts['lockdown']) == (False, False, None)


@pytest.mark.parametrize('text, mode', [
    ('[none] integrity confidentiality', 'none'),
    ('none integrity [confidentiality]', 'confidentiality'),
    ('none integrity confidentiality', None),
    ('', None),
    (None, None),
])
def test_parse_lockdown(text, mode):
    assert hostfacts.parse_lockdown(text) == mode


# --- systemd ---

def test_systemd_not_installed(host, root):
    trees.remove(root, '/usr/bin/systemctl')
    facts = hostfacts.systemd_facts(host)
    assert facts == {'version': None, 'fdstore_preserve_supported': False, 'luo_session_supported': False,
                     'kexec_count': None, 'last_live_update_ms': None, 'error': 'systemd is not the running init system'}
    assert trees.calls(root) == []


def test_systemd_installed_but_not_running(host, root):
    trees.remove(root, '/run/systemd/system')
    assert hostfacts.systemd_facts(host)['error'] == 'systemd is not the running init system'
    assert trees.calls(root) == []


def test_systemd_252(host, root):
    trees.install_systemctl(root, version='systemctl-version-252.txt', show='show-user-manager-252.txt')
    facts = hostfacts.systemd_facts(host)
    assert facts == {'version': 252, 'fdstore_preserve_supported': False, 'luo_session_supported': False,
                     'kexec_count': None, 'last_live_update_ms': None, 'error': None}
    # KExecCount does not exist before 262: not asked for.
    assert [call.split()[1] for call in trees.calls(root)] == ['--version']


def test_systemd_261(host, root):
    trees.install_tool(root, '/usr/bin/systemctl', {'--version': (0, 'systemd 261 (261.3-1)\n+PAM +AUDIT')})
    facts = hostfacts.systemd_facts(host)
    assert (facts['version'], facts['fdstore_preserve_supported'], facts['luo_session_supported']) == (261, True, False)
    assert (facts['kexec_count'], facts['error']) == (None, None)


def test_systemd_after_a_live_update(host, root):
    trees.install_systemctl(root, show=trees.SHOW_AFTER_LIVE_UPDATE)
    facts = hostfacts.systemd_facts(host)
    assert facts['kexec_count'] == 1 and facts['error'] is None
    assert facts['last_live_update_ms'] == {
        'stopping': 655.556, 'exit': 44.444, 'systemd_shutdown': 253.087, 'kexec': 344.444,
        'kernel': 1234.567, 'initrd': None, 'userspace': 2222.222, 'total': 4754.32}
    show = trees.calls(root)[1].split()
    assert show[1:3] == ['show', '--timestamp=us+utc'] and show[3].startswith('--property=KExecCount,')


def test_systemd_show_failing(host, root):
    trees.install_systemctl(root, show_rc=1)
    facts = hostfacts.systemd_facts(host)
    assert facts['version'] == 262 and facts['kexec_count'] is None
    assert facts['error'].startswith('`systemctl show --timestamp=us+utc --property=KExecCount,')
    assert facts['error'].endswith('failed with exit code 1: Failed to connect to bus: No such file or directory')


def test_systemd_version_unreadable(host, root):
    trees.install_tool(root, '/usr/bin/systemctl', {'--version': (0, 'upstart 1.13.2')})
    facts = hostfacts.systemd_facts(host)
    assert facts['version'] is None
    assert facts['error'].startswith('`systemctl --version`: no "systemd <version>" line in ')


def test_systemd_without_proc_uptime(host, root):
    trees.remove(root, '/proc/uptime')
    facts = hostfacts.systemd_facts(host)
    assert facts['version'] == 262 and facts['kexec_count'] is None
    assert facts['error'] == '/proc/uptime holds None, not "<seconds> <idle seconds>"'


# --- target kernels ---

def test_target_with_config_beside_it(host, root):
    path = trees.install_kernel(root, '7.3.4')
    assert hostfacts.target(host, path) == {
        'path': '/boot/vmlinuz-7.3.4', 'release': '7.3.4', 'compression': 'gzip', 'payload_readable': True,
        'payload_reason': None, 'config_source': '/boot/config-7.3.4',
        'config': hostfacts.target(host, path)['config'], 'page_size': 4096, 'abi': LAB_ABI,
        'initrd': {'path': None, 'needed': False, 'candidates': [
            '/boot/initrd.img-7.3.4', '/boot/initramfs-7.3.4.img', '/boot/initrd-7.3.4']}}


def test_target_with_embedded_config(host, root):
    trees.write(root, '/srv/kernels/vmlinuz', kb.bzimage_of(kb.kernel_body(config_text=kb.CONFIG_TEXT), 'xz'))
    facts = hostfacts.target(host, '/srv/kernels/vmlinuz')
    assert (facts['release'], facts['compression']) == ('7.9.1-test', 'xz')
    assert facts['config_source'] == '/srv/kernels/vmlinuz (embedded IKCONFIG)'
    assert facts['config']['LOCALVERSION'] == '-test' and facts['page_size'] == 4096


def test_target_without_config(host, root):
    path = trees.install_kernel(root, '7.3.4', config=False)
    facts = hostfacts.target(host, path)
    assert (facts['config'], facts['config_source'], facts['page_size']) == (None, None, None)


def test_target_page_size_from_config(host, root):
    trees.write(root, '/boot/Image-7.3.4', kb.arm64_image(kb.kernel_body(release='7.3.4')))
    trees.write(root, '/boot/config-7.3.4', trees.config_text('7.3.4', X86_64=None, ARM64='y', ARM64_64K_PAGES='y'))
    assert hostfacts.target(host, '/boot/Image-7.3.4')['page_size'] == 65536


def test_target_that_is_not_a_kernel(host, root):
    with pytest.raises(kimage.KernelImageError, match='is not a kernel image'):
        hostfacts.target(host, '/proc/cmdline')


# --- what the module returns ---

def test_public_trims_the_config(host):
    facts = hostfacts.gather(host)
    public = hostfacts.public(facts)
    assert public['kernel'] == {
        'release': '7.2.13', 'boot_id': trees.BOOT_ID, 'arch': 'x86_64', 'page_size': PAGE_SIZE, 'config_source': '/boot/config-7.2.13',
        'image': '/boot/vmlinuz-7.2.13', 'abi': LAB_ABI,
        'options': {'KEXEC_FILE': 'y', 'KEXEC_HANDOVER': 'y', 'KEXEC_HANDOVER_ENABLE_DEFAULT': 'n',
                    'KEXEC_HANDOVER_DEBUGFS': 'y', 'LIVEUPDATE': 'y', 'LIVEUPDATE_MEMFD': 'y', 'MEMFD_CREATE': 'y',
                    'SHMEM': 'y'}}
    assert public['cautions'] == []
    assert {name: public[name] for name in ('cmdline', 'device', 'kho', 'kexec', 'systemd')} == {
        name: facts[name] for name in ('cmdline', 'device', 'kho', 'kexec', 'systemd')}
    # The full facts stay as they were.
    assert 'config' in facts['kernel'] and 'payload_reason' in facts['kernel']


def test_public_without_config(host, root):
    trees.remove(root, '/boot/config-7.2.13')
    assert hostfacts.public(hostfacts.gather(host))['kernel']['options'] is None


def test_public_target(host, root):
    target = hostfacts.target(host, trees.install_kernel(root, '7.3.4', config=trees.config_text('7.3.4', PAGE_SHIFT='12')))
    public = hostfacts.public_target(target)
    assert 'config' not in public and 'page_size' not in public
    assert public['options']['LIVEUPDATE'] == 'y' and public['options']['PAGE_SHIFT'] == '12'
    assert 'config' in target


def test_public_target_without_config(host, root):
    target = hostfacts.target(host, trees.install_kernel(root, '7.3.4', config=False))
    assert hostfacts.public_target(target)['options'] is None


def cautions_of(kexec=None, systemd=None):
    facts = {'kexec': dict({'lockdown': None, 'loaded': False}, **(kexec or {})),
             'systemd': dict({'error': None}, **(systemd or {}))}
    return hostfacts.cautions(facts)


def test_no_cautions():
    assert cautions_of() == []
    assert cautions_of(kexec={'lockdown': 'none'}) == []


def test_cautions():
    assert cautions_of(kexec={'lockdown': 'confidentiality', 'loaded': True},
                       systemd={'error': 'systemd is not the running init system'}) == [
        'kernel lockdown is confidentiality: kexec_file_load accepts only images signed with a key the kernel trusts',
        'systemd is not the running init system',
        'a kernel is already staged for kexec (/sys/kernel/kexec_loaded=1): systemctl kexec will boot it',
    ]


def test_device_holders_are_found_in_proc(host, root):
    trees.write(root, '/proc/1234/comm', 'python3\n')
    os.makedirs(os.path.join(root, 'proc/1234/fd'))
    os.symlink('/dev/null', os.path.join(root, 'proc/1234/fd/3'))
    os.symlink('/dev/liveupdate', os.path.join(root, 'proc/1234/fd/4'))
    os.makedirs(os.path.join(root, 'proc/99/fd'))
    os.symlink('/dev/null', os.path.join(root, 'proc/99/fd/0'))
    os.makedirs(os.path.join(root, 'proc/self'))
    assert hostfacts.device_holders(host) == [{'pid': 1234, 'comm': 'python3'}]


def test_a_busy_device_names_its_holders(host, root, monkeypatch):
    # EBUSY needs a real LUO kernel with a second opener; the lab's faults scenario has one. Here the probe's
    # answer is given, and what is looked up from it (/proc) is real.
    monkeypatch.setattr(hostfacts.luo, 'probe_device', lambda *args, **kwargs: {
        'path': '/dev/liveupdate', 'state': 'busy', 'errno': 'EBUSY', 'message': 'another process holds /dev/liveupdate'})
    trees.write(root, '/proc/77/comm', 'stray-tool\n')
    os.makedirs(os.path.join(root, 'proc/77/fd'))
    os.symlink('/dev/liveupdate', os.path.join(root, 'proc/77/fd/5'))
    probe = hostfacts.device_facts(host, True)['probe']
    assert probe['holders'] == [{'pid': 77, 'comm': 'stray-tool'}]
    assert probe['message'] == 'another process holds /dev/liveupdate (held now by pid 77 stray-tool)'
    assert probe['fix'] == 'stop pid 77 stray-tool, which holds it, then try again; no tool may keep /dev/liveupdate open'
