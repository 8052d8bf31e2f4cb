# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import copy

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import readiness

LUO_CONFIG = {'X86_64': 'y', 'KEXEC_FILE': 'y', 'KEXEC_HANDOVER': 'y', 'LIVEUPDATE': 'y', 'LIVEUPDATE_MEMFD': 'y'}
LAB_ABI = {'kho': 'kho-v4', 'luo': 'luo-v5', 'memfd': 'memfd-v2'}
READY = {
    'kernel': {'release': '7.2.13', 'arch': 'x86_64', 'page_size': 4096, 'config_source': '/boot/config-7.2.13',
               'config': LUO_CONFIG, 'config_error': None, 'image': '/boot/vmlinuz-7.2.13', 'abi': LAB_ABI,
               'payload_reason': None},
    'cmdline': {'raw': 'root=/dev/vda1 liveupdate=on kho=on', 'liveupdate': 'on', 'kho': 'on', 'kho_scratch': None},
    'device': {'path': '/dev/liveupdate', 'present': True, 'char_device': True, 'major_minor': '10:123', 'probe': None},
    'kho': {'enabled': True, 'incoming': False},
    'kexec': {'path': '/usr/sbin/kexec', 'version': 'kexec-tools 2.0.32', 'file_load_supported': True,
              'loaded': False, 'load_disabled': False, 'lockdown': 'none'},
    'systemd': {'version': 262, 'fdstore_preserve_supported': True, 'luo_session_supported': True,
                'kexec_count': 0, 'last_live_update_ms': None, 'error': None},
}
TARGET = {'path': '/boot/vmlinuz-7.3.4', 'release': '7.3.4', 'compression': 'gzip', 'payload_readable': True,
          'payload_reason': None, 'config_source': '/boot/config-7.3.4', 'config': LUO_CONFIG, 'page_size': 4096,
          'abi': LAB_ABI}


def test_missing_options():
    assert readiness.missing_options(LUO_CONFIG) == []
    assert [option for option, _role in readiness.missing_options({'LIVEUPDATE': 'm', 'KEXEC_HANDOVER': 'y'})] == [
        'LIVEUPDATE', 'LIVEUPDATE_MEMFD']


def test_reasons_text():
    assert readiness.reasons_text([readiness.reason('a', 'first', 'fix one'), readiness.reason('b', 'second', 'fix two')]) == (
        'first (fix: fix one); second (fix: fix two)')


def facts(**changes):
    """The facts of a ready host with ``changes`` ({'kexec': {'path': None}}) merged into its sections."""
    result = copy.deepcopy(READY)
    for section, values in changes.items():
        result[section].update(values)
    return result


def target(**changes):
    return dict(copy.deepcopy(TARGET), **changes)


def running(**changes):
    return dict(copy.deepcopy(READY['kernel']), **changes)


def ids(reasons):
    return [item['id'] for item in reasons]


def test_reason_shape():
    assert readiness.reason('x-y', 'what', 'how') == {'id': 'x-y', 'message': 'what', 'fix': 'how'}


def test_shown():
    assert readiness._shown(None) == 'absent'
    assert readiness._shown('off') == 'off'
    assert readiness._shown('') == ''


# --- kernel config ---

def test_config_with_everything_built_in():
    assert readiness.config_reasons(LUO_CONFIG, '7.2.13', '/boot/config-7.2.13') == []


def test_config_unknown():
    assert readiness.config_reasons(None, '6.1.0-28-amd64', None) == [{
        'id': 'kernel-config-unknown',
        'message': 'no kernel config found for 6.1.0-28-amd64, so its LUO support is unknown',
        'fix': 'install /boot/config-6.1.0-28-amd64 (shipped with the kernel package) or use a kernel with CONFIG_IKCONFIG_PROC=y',
    }]


def test_config_unreadable_says_why():
    error = '/boot/config-7.2.13 holds no kernel config lines (CONFIG_NAME=value); point to the config of the kernel build'
    assert readiness.config_reasons(None, '7.2.13', None, error=error) == [{
        'id': 'kernel-config-unreadable',
        'message': 'the kernel config of 7.2.13 cannot be read, so its LUO support is unknown: ' + error,
        'fix': 'make the config readable (run with become: true) or reinstall it from the kernel package',
    }]


def test_config_error_is_ignored_when_a_config_was_read():
    assert readiness.config_reasons(LUO_CONFIG, '7.2.13', '/boot/config-7.2.13', error='ignored') == []


def test_config_without_luo_names_every_missing_option_in_order():
    reasons = readiness.config_reasons({'X86_64': 'y', 'LIVEUPDATE': 'm'}, '6.18.4', '/proc/config.gz')
    assert ids(reasons) == ['kernel-config-kexec-handover', 'kernel-config-liveupdate', 'kernel-config-liveupdate-memfd']
    assert [item['message'] for item in reasons] == [
        'CONFIG_KEXEC_HANDOVER=n in 6.18.4 (/proc/config.gz): no Kexec HandOver (KHO), which carries the state to the next kernel',
        'CONFIG_LIVEUPDATE=m in 6.18.4 (/proc/config.gz): no Live Update Orchestrator, so no /dev/liveupdate',
        'CONFIG_LIVEUPDATE_MEMFD=n in 6.18.4 (/proc/config.gz): no preservation of memfds',
    ]
    assert {item['fix'] for item in reasons} == {readiness.KERNEL_FIX}


@pytest.mark.parametrize('option', ['KEXEC_HANDOVER', 'LIVEUPDATE', 'LIVEUPDATE_MEMFD'])
def test_config_each_missing_option_with_prefix(option):
    config = dict(LUO_CONFIG, **{option: 'n'})
    reasons = readiness.config_reasons(config, '7.3.4', '/boot/config-7.3.4', prefix='target')
    assert ids(reasons) == ['target-config-' + option.lower().replace('_', '-')]


# --- command line and KHO ---

@pytest.mark.parametrize('value', ['on', '1', 'y', 'yes', 'true', 'ON', 'True'])
def test_cmdline_accepts_every_spelling_of_on(value):
    assert readiness.cmdline_reasons({'liveupdate': value, 'kho': value}, LUO_CONFIG) == []


def test_cmdline_without_parameters():
    assert readiness.cmdline_reasons({'liveupdate': None, 'kho': None}, LUO_CONFIG) == [
        {'id': 'cmdline-liveupdate',
         'message': 'the running kernel was booted without liveupdate=on (liveupdate=absent)',
         'fix': readiness.CMDLINE_FIX},
        {'id': 'cmdline-kho',
         'message': 'the running kernel was booted without kho=on (kho=absent) and KHO is not on by default '
                    '(CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT)',
         'fix': readiness.CMDLINE_FIX},
    ]


def test_cmdline_shows_the_values_found():
    reasons = readiness.cmdline_reasons({'liveupdate': 'off', 'kho': 'off'}, LUO_CONFIG)
    assert '(liveupdate=off)' in reasons[0]['message'] and '(kho=off)' in reasons[1]['message']


def test_cmdline_kho_on_by_default_in_the_kernel():
    config = dict(LUO_CONFIG, KEXEC_HANDOVER_ENABLE_DEFAULT='y')
    assert readiness.cmdline_reasons({'liveupdate': 'on', 'kho': None}, config) == []


# --- /dev/liveupdate ---

def device(**changes):
    return dict(copy.deepcopy(READY['device']), **changes)


def test_device_present():
    assert readiness.device_reasons(device(), config_ok=True, cmdline_ok=True) == []


def test_device_missing_because_of_the_kernel():
    assert readiness.device_reasons(device(present=False, char_device=False), config_ok=False, cmdline_ok=False) == [{
        'id': 'device-missing',
        'message': '/dev/liveupdate does not exist: the running kernel has no LUO support (see the kernel-config reasons)',
        'fix': readiness.KERNEL_FIX,
    }]


def test_device_missing_because_of_the_cmdline():
    assert readiness.device_reasons(device(present=False), config_ok=True, cmdline_ok=False) == [{
        'id': 'device-missing',
        'message': '/dev/liveupdate does not exist: the kernel was not booted with liveupdate=on kho=on',
        'fix': readiness.CMDLINE_FIX,
    }]


def test_device_missing_although_everything_else_is_right():
    assert readiness.device_reasons(device(present=False), config_ok=True, cmdline_ok=True) == [{
        'id': 'device-missing',
        'message': '/dev/liveupdate does not exist: LUO disabled itself at boot',
        'fix': 'read the kernel log (journalctl -k | grep -i -e luo -e kho) for why',
    }]


def test_device_not_a_char_device():
    assert readiness.device_reasons(device(char_device=False, major_minor=None), config_ok=True, cmdline_ok=True) == [{
        'id': 'device-not-char',
        'message': '/dev/liveupdate exists but is not a character device',
        'fix': 'remove whatever created /dev/liveupdate and reboot so devtmpfs provides the real device',
    }]


def test_device_missing_wins_over_the_probe():
    probe = {'path': '/dev/liveupdate', 'state': 'absent', 'errno': 'ENOENT', 'message': 'no such device'}
    reasons = readiness.device_reasons(device(present=False, probe=probe), config_ok=True, cmdline_ok=False)
    assert ids(reasons) == ['device-missing']


def test_device_probe_ok():
    probe = {'path': '/dev/liveupdate', 'state': 'ok', 'errno': None, 'message': 'opened and closed'}
    assert readiness.device_reasons(device(probe=probe), config_ok=True, cmdline_ok=True) == []


def test_device_probe_without_state():
    assert readiness.device_reasons(device(probe={'path': '/dev/liveupdate'}), config_ok=True, cmdline_ok=True) == []


def test_device_probe_busy():
    message = '/dev/liveupdate: another process holds /dev/liveupdate'
    probe = {'path': '/dev/liveupdate', 'state': 'busy', 'errno': 'EBUSY', 'message': message}
    assert readiness.device_reasons(device(probe=probe), config_ok=True, cmdline_ok=True) == [
        {'id': 'device-busy', 'message': message, 'fix': 'see the message'}]


def test_device_probe_with_a_fix_and_without_a_message():
    probe = {'path': '/dev/liveupdate', 'state': 'io-error', 'errno': 'EIO', 'message': None, 'fix': 'reboot cold'}
    assert readiness.device_reasons(device(probe=probe), config_ok=True, cmdline_ok=True) == [
        {'id': 'device-io-error', 'message': 'cannot open /dev/liveupdate', 'fix': 'reboot cold'}]


# --- kexec ---

def kexec(**changes):
    return dict(copy.deepcopy(READY['kexec']), **changes)


def test_kexec_ready():
    assert readiness.kexec_reasons(kexec()) == []


def test_kexec_missing():
    assert readiness.kexec_reasons(kexec(path=None, version=None, file_load_supported=False)) == [{
        'id': 'kexec-missing', 'message': 'kexec (kexec-tools) is not installed',
        'fix': 'install kexec-tools (apt-get install kexec-tools / dnf install kexec-tools)'}]


def test_kexec_without_file_load():
    assert readiness.kexec_reasons(kexec(file_load_supported=False)) == [{
        'id': 'kexec-no-file-load',
        'message': '/usr/sbin/kexec (kexec-tools 2.0.32) does not support kexec_file_load (-s), the only way the LUO state travels',
        'fix': 'install kexec-tools >= 2.0.18 built with kexec_file_load support'}]


def test_kexec_without_file_load_and_unknown_version():
    reasons = readiness.kexec_reasons(kexec(file_load_supported=False, version=None))
    assert reasons[0]['message'].startswith('/usr/sbin/kexec (unknown version) does not support')


def test_kexec_load_disabled():
    assert readiness.kexec_reasons(kexec(load_disabled=True)) == [{
        'id': 'kexec-load-disabled', 'message': 'kernel.kexec_load_disabled=1: this boot can no longer load or unload a kernel for kexec',
        'fix': 'remove kernel.kexec_load_disabled=1 from /etc/sysctl.d and reboot (the switch cannot be turned back off)'}]


def test_kexec_missing_and_load_disabled():
    assert ids(readiness.kexec_reasons(kexec(path=None, load_disabled=True))) == ['kexec-missing', 'kexec-load-disabled']


# --- systemd and architecture ---

def test_systemd_ready():
    assert readiness.systemd_reasons(READY['systemd']) == []


def test_systemd_missing():
    assert readiness.systemd_reasons({'version': None, 'error': 'systemd is not the running init system'}) == [{
        'id': 'systemd-missing', 'message': 'systemd is not running as the init system (or its version is unreadable)',
        'fix': 'LUO state handling here relies on systemd >= 261 as PID 1'}]


def test_systemd_too_old():
    assert readiness.systemd_reasons({'version': 252, 'fdstore_preserve_supported': False}) == [{
        'id': 'systemd-too-old', 'message': 'systemd 252 cannot carry fd stores across a kexec (needs >= 261)',
        'fix': 'upgrade systemd to 261 or newer (262 for LUOSession=)'}]


@pytest.mark.parametrize('arch', ['x86_64', 'aarch64'])
def test_supported_arch(arch):
    assert readiness.arch_reasons(arch) == []


def test_unsupported_arch():
    assert readiness.arch_reasons('ppc64le') == [{
        'id': 'arch-unsupported', 'message': 'LUO supports x86_64 and arm64, this host is ppc64le',
        'fix': 'live updates are not possible on this architecture'}]


# --- the whole host ---

def test_host_ready():
    assert readiness.host_reasons(facts()) == []


def test_host_without_luo_in_fix_order():
    host = facts(
        kernel={'arch': 'riscv64', 'config': {'X86_64': 'y'}, 'config_source': '/proc/config.gz'},
        cmdline={'liveupdate': None, 'kho': None},
        device={'present': False, 'char_device': False, 'major_minor': None},
        kexec={'path': None, 'version': None, 'file_load_supported': False, 'load_disabled': True},
        systemd={'version': None, 'fdstore_preserve_supported': False, 'luo_session_supported': False, 'kexec_count': None},
    )
    reasons = readiness.host_reasons(host)
    assert ids(reasons) == [
        'arch-unsupported', 'kernel-config-kexec-handover', 'kernel-config-liveupdate', 'kernel-config-liveupdate-memfd',
        'cmdline-liveupdate', 'cmdline-kho', 'device-missing', 'kexec-missing', 'kexec-load-disabled', 'systemd-missing']
    assert reasons[6]['fix'] == readiness.KERNEL_FIX


def test_host_with_unreadable_config():
    # Without the config, whether KHO is on by default is unknown too: kho=on must be given.
    host = facts(kernel={'config': None, 'config_source': None, 'config_error': 'cannot read kernel config /boot/config-7.2.13: permission denied'},
                 cmdline={'kho': None})
    reasons = readiness.host_reasons(host)
    assert ids(reasons) == ['kernel-config-unreadable', 'cmdline-kho']
    assert reasons[0]['message'].endswith(': cannot read kernel config /boot/config-7.2.13: permission denied')


def test_host_facts_without_config_error_key():
    host = facts()
    del host['kernel']['config_error']
    assert readiness.host_reasons(host) == []


def test_host_booted_without_parameters_blames_the_cmdline_for_the_device():
    host = facts(cmdline={'liveupdate': None, 'kho': None}, device={'present': False})
    reasons = readiness.host_reasons(host)
    assert ids(reasons) == ['cmdline-liveupdate', 'cmdline-kho', 'device-missing']
    assert reasons[2]['fix'] == readiness.CMDLINE_FIX


# --- target kernels ---

def test_target_compatible():
    assert readiness.target_reasons(running(), target()) == []


def test_target_config_unknown_names_the_release():
    reasons = readiness.target_reasons(running(), target(config=None, config_source=None, page_size=None))
    assert reasons == [{
        'id': 'target-config-unknown',
        'message': 'no kernel config found for 7.3.4, so its LUO support is unknown',
        'fix': 'install /boot/config-7.3.4 (shipped with the kernel package) or use a kernel with CONFIG_IKCONFIG_PROC=y'}]


def test_target_config_unknown_without_release_names_the_path():
    reasons = readiness.target_reasons(running(), target(release=None, config=None, config_source=None))
    assert reasons[0]['message'] == 'no kernel config found for /boot/vmlinuz-7.3.4, so its LUO support is unknown'


def test_target_config_missing_option():
    config = dict(LUO_CONFIG)
    del config['LIVEUPDATE']
    assert readiness.target_reasons(running(), target(config=config)) == [{
        'id': 'target-config-liveupdate',
        'message': 'CONFIG_LIVEUPDATE=n in 7.3.4 (/boot/config-7.3.4): no Live Update Orchestrator, so no /dev/liveupdate',
        'fix': readiness.KERNEL_FIX}]


def test_target_config_missing_option_without_source():
    reasons = readiness.target_reasons(running(), target(config={'KEXEC_HANDOVER': 'y', 'LIVEUPDATE': 'y'}, config_source=None))
    assert reasons[0]['message'] == 'CONFIG_LIVEUPDATE_MEMFD=n in 7.3.4 (none): no preservation of memfds'


@pytest.mark.parametrize('name, new, consequence', [
    ('luo', 'luo-v6', 'a luo ABI mismatch panics the new kernel at boot'),
    ('kho', 'kho-v5', 'a kho ABI mismatch silently drops the preserved state'),
    ('memfd', 'memfd-v3', 'a memfd ABI mismatch loses the preserved memfds'),
])
def test_target_abi_mismatch(name, new, consequence):
    abi = dict(LAB_ABI, **{name: new})
    assert readiness.target_reasons(running(), target(abi=abi)) == [{
        'id': 'target-abi-mismatch-' + name,
        'message': 'ABI %s of the target differs from %s of the running kernel: %s' % (new, LAB_ABI[name], consequence),
        'fix': 'pick a target kernel with %s, or go through a cold reboot for this update' % LAB_ABI[name]}]


def test_target_abi_mismatch_order_is_luo_kho_memfd():
    abi = {'kho': 'kho-v5', 'luo': 'luo-v6', 'memfd': 'memfd-v3'}
    assert ids(readiness.target_reasons(running(), target(abi=abi))) == [
        'target-abi-mismatch-luo', 'target-abi-mismatch-kho', 'target-abi-mismatch-memfd']


def test_target_abi_missing():
    reasons = readiness.target_reasons(running(), target(abi={'kho': None, 'luo': None, 'memfd': None}))
    assert ids(reasons) == ['target-abi-missing-luo', 'target-abi-missing-kho', 'target-abi-missing-memfd']
    assert reasons[0] == {'id': 'target-abi-missing-luo',
                          'message': '/boot/vmlinuz-7.3.4 has no luo-v* ABI string: it has no LUO support',
                          'fix': readiness.KERNEL_FIX}


def test_target_abi_unknown_says_why():
    why = 'lz4 payload: needs the lz4 tool (apt-get install lz4)'
    reasons = readiness.target_reasons(running(), target(abi=None, payload_readable=False, payload_reason=why))
    assert ids(reasons) == ['target-abi-unknown-luo', 'target-abi-unknown-kho', 'target-abi-unknown-memfd']
    assert reasons[1] == {
        'id': 'target-abi-unknown-kho', 'message': 'the kho ABI string of /boot/vmlinuz-7.3.4 is unknown: ' + why,
        'fix': 'make the payload readable (for zstd: Python >= 3.14 or the zstd tool; for lz4: the lz4 tool)'}


def test_target_abi_unknown_without_reason():
    reasons = readiness.target_reasons(running(), target(abi=None, payload_reason=None))
    assert reasons[0]['message'] == 'the luo ABI string of /boot/vmlinuz-7.3.4 is unknown: payload unreadable'


def test_running_abi_unknown_says_why_once():
    why = 'kernel image /boot/vmlinuz-7.2.13 is truncated: the EFI zboot header is cut short'
    assert readiness.target_reasons(running(abi=None, payload_reason=why), target()) == [{
        'id': 'running-abi-unknown',
        'message': 'the LUO ABI strings of the running kernel are unknown (%s), so compatibility cannot be proven' % why,
        'fix': 'keep the running kernel image at /boot/vmlinuz-7.2.13, readable'}]


def test_running_abi_unknown_without_reason():
    reasons = readiness.target_reasons(running(abi=None, payload_reason=None), target())
    assert reasons[0]['message'] == ('the LUO ABI strings of the running kernel are unknown (its image was not found), '
                                     'so compatibility cannot be proven')


def test_running_abi_unknown_still_reports_what_the_target_lacks():
    reasons = readiness.target_reasons(running(abi=None), target(abi=dict(LAB_ABI, luo=None)))
    assert ids(reasons) == ['running-abi-unknown', 'target-abi-missing-luo']


def test_running_abi_missing():
    reasons = readiness.target_reasons(running(abi=dict(LAB_ABI, memfd=None)), target())
    assert reasons == [{'id': 'running-abi-missing-memfd',
                        'message': 'the running kernel 7.2.13 has no memfd-v* ABI string: it cannot hand MEMFD state over',
                        'fix': readiness.KERNEL_FIX}]


def test_target_page_size_differs():
    assert readiness.target_reasons(running(), target(page_size=65536)) == [{
        'id': 'target-page-size', 'message': 'page size 65536 of the target differs from 4096 of the running kernel',
        'fix': 'build the target with the same page size as the running kernel'}]


@pytest.mark.parametrize('target_size, running_size', [(None, 4096), (65536, None), (None, None)])
def test_target_page_size_unknown_is_not_compared(target_size, running_size):
    assert readiness.target_reasons(running(page_size=running_size), target(page_size=target_size)) == []


def test_target_everything_wrong():
    reasons = readiness.target_reasons(
        running(),
        target(config={'X86_64': 'y'}, abi={'kho': 'kho-v5', 'luo': None, 'memfd': 'memfd-v2'}, page_size=16384))
    assert ids(reasons) == ['target-config-kexec-handover', 'target-config-liveupdate', 'target-config-liveupdate-memfd',
                            'target-abi-missing-luo', 'target-abi-mismatch-kho', 'target-page-size']
