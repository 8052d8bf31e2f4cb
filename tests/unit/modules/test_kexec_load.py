# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import hashlib
import json
import os

import pytest

from ansible_collections.luo.liveupdate.plugins.modules import kexec_load
from ansible_collections.luo.liveupdate.plugins.modules import lock as lock_module
from ansible_collections.luo.liveupdate.tests.unit.module_utils import kimage_builders as kb
from ansible_collections.luo.liveupdate.tests.unit.modules import info_trees as trees

FAKE_KEXEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'kexec_load', 'kexec')
RUNNING = '7.2.13'
TARGET = '7.3.4'
KERNEL = '/boot/vmlinuz-%s' % TARGET
INITRD = '/boot/initrd.img-%s' % TARGET
PROC_CMDLINE = 'BOOT_IMAGE=/boot/vmlinuz-%s root=/dev/vda1 ro console=ttyS0 quiet liveupdate=on kho=on' % RUNNING
REUSED = 'root=/dev/vda1 ro console=ttyS0 quiet liveupdate=on kho=on'
RECORD = 'run/luo-liveupdate/kexec.json'
LOADED = 'sys/kernel/kexec_loaded'
NO_LUO_CONFIG = kb.CONFIG_TEXT.replace('CONFIG_LIVEUPDATE=y\n', '# CONFIG_LIVEUPDATE is not set\n')


def write(root, path, data, mode=None):
    full = os.path.join(root, path.lstrip('/'))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'wb' if isinstance(data, bytes) else 'w') as handle:
        handle.write(data)
    if mode is not None:
        os.chmod(full, mode)
    return full


def read(root, path):
    full = os.path.join(root, path.lstrip('/'))
    if not os.path.exists(full):
        return None
    with open(full, encoding='utf-8') as handle:
        return handle.read()


def image(release, abi=kb.LAB_ABI):
    """A real bzImage of release whose kernel carries the ABI strings abi."""
    return kb.bzimage_of(kb.kernel_body(release=release, abi=abi), 'gzip', version='%s (root@vm) #1 SMP PREEMPT_DYNAMIC' % release)


def install_kernel(root, release, abi=kb.LAB_ABI, config=kb.CONFIG_TEXT, name=None):
    path = '/boot/%s' % (name or 'vmlinuz-%s' % release)
    write(root, path, image(release, abi))
    if config is not None:
        write(root, '/boot/config-%s' % release, config)
    return path


@pytest.fixture
def root(tmp_path, host_root):
    """A host running the LUO kernel 7.2.13 with liveupdate=on kho=on, kexec-tools 2.0.32, and 7.3.4 in /boot."""
    root = str(tmp_path / 'host')
    write(root, '/proc/sys/kernel/osrelease', RUNNING + '\n')
    write(root, '/proc/sys/kernel/arch', 'x86_64\n')
    write(root, '/proc/cmdline', PROC_CMDLINE + '\n')
    write(root, '/proc/sys/kernel/kexec_load_disabled', '0\n')
    write(root, '/sys/kernel/kexec_loaded', '0\n')
    write(root, '/sys/kernel/security/lockdown', '[none] integrity confidentiality\n')
    install_kernel(root, RUNNING)
    return host_root(with_target_and_kexec(root))


def with_target_and_kexec(root):
    """root with 7.3.4 and its initramfs in /boot, and the stand-in kexec that stages."""
    install_kernel(root, TARGET)
    write(root, INITRD, b'070701' + b'\0' * 500)
    with open(FAKE_KEXEC, encoding='utf-8') as handle:
        write(root, '/usr/sbin/kexec', handle.read(), mode=0o755)
    return root


def kexec_calls(root):
    """The load and unload calls the stand-in kexec got (not the --version/--help probes)."""
    text = read(root, 'kexec.calls') or ''
    calls = [call.split('\0')[:-1] for call in text.split('\n')[:-1]]
    return [call for call in calls if '-l' in call or '-u' in call]


def loaded(root):
    return read(root, LOADED).strip()


def record(root):
    text = read(root, RECORD)
    return None if text is None else json.loads(text)


def sha256(root, path):
    with open(os.path.join(root, path.lstrip('/')), 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def stage_args(**extra):
    return dict({'kernel': KERNEL, 'initrd': INITRD}, **extra)


def assert_untouched(root):
    """Nothing staged, nothing recorded, kexec never asked to load or unload."""
    assert kexec_calls(root) == []
    assert loaded(root) == '0'
    assert record(root) is None


# Loading

def test_load_stages_with_the_running_cmdline_and_records(root, run_module):
    result = run_module(kexec_load.main, stage_args())
    assert not result.failed, result
    assert result['changed'] is True
    assert result['loaded'] is True
    assert result['kernel'] == KERNEL and result['initrd'] == INITRD
    assert result['release'] == TARGET
    assert result['cmdline'] == REUSED
    assert result['argv'] == ['/usr/sbin/kexec', '-s', '-l', KERNEL, '--initrd=' + INITRD, '--command-line=' + REUSED]
    assert result['compatible'] is True and result['target_reasons'] == []
    assert result['target']['abi'] == {'kho': 'kho-v4', 'luo': 'luo-v5', 'memfd': 'memfd-v2'}
    assert result['target']['options']['LIVEUPDATE'] == 'y'
    assert 'config' not in result['target']
    assert result['record'] == '/run/luo-liveupdate/kexec.json'
    assert result['msg'] == 'staged /boot/vmlinuz-7.3.4: nothing was staged'
    assert 'diff' not in result
    # kexec got the paths below the root, as one argument each.
    assert kexec_calls(root) == [['-s', '-l', os.path.join(root, 'boot/vmlinuz-7.3.4'),
                                  '--initrd=' + os.path.join(root, 'boot/initrd.img-7.3.4'), '--command-line=' + REUSED]]
    assert loaded(root) == '1'
    saved = record(root)
    assert saved.pop('loaded_at').endswith('Z')
    assert saved == {'kernel': KERNEL, 'kernel_sha256': sha256(root, KERNEL), 'initrd': INITRD,
                     'initrd_sha256': sha256(root, INITRD), 'cmdline': REUSED, 'release': TARGET}


def test_second_run_with_the_same_inputs_changes_nothing(root, run_module):
    run_module(kexec_load.main, stage_args())
    first = record(root)
    result = run_module(kexec_load.main, stage_args())
    assert not result.failed, result
    assert result['changed'] is False
    assert result['loaded'] is True
    assert result['msg'] == '/boot/vmlinuz-7.3.4 is staged already with this command line (/sys/kernel/kexec_loaded=1, the record matches)'
    assert result['argv'][:3] == ['/usr/sbin/kexec', '-s', '-l']
    assert len(kexec_calls(root)) == 1
    assert record(root) == first


def test_reuse_cmdline_true_is_the_default(root, run_module):
    run_module(kexec_load.main, stage_args())
    result = run_module(kexec_load.main, stage_args(reuse_cmdline=True))
    assert not result.failed and result['changed'] is False


def test_without_initrd(root, run_module):
    os.unlink(os.path.join(root, INITRD.lstrip('/')))
    result = run_module(kexec_load.main, {'kernel': KERNEL})
    assert not result.failed, result
    assert result['initrd'] is None
    assert result['argv'] == ['/usr/sbin/kexec', '-s', '-l', KERNEL, '--command-line=' + REUSED]
    assert record(root)['initrd'] is None and record(root)['initrd_sha256'] is None


MODULAR_CONFIG = kb.CONFIG_TEXT + 'CONFIG_MODULES=y\nCONFIG_BLK_DEV_INITRD=y\n'


def test_initrd_is_paired_with_the_kernel_by_its_debian_name(root, run_module):
    result = run_module(kexec_load.main, {'kernel': KERNEL})
    assert not result.failed, result
    assert result['initrd'] == INITRD
    assert result['argv'] == ['/usr/sbin/kexec', '-s', '-l', KERNEL, '--initrd=' + INITRD, '--command-line=' + REUSED]
    assert record(root)['initrd'] == INITRD


def test_initrd_is_paired_by_the_fedora_name(root, run_module):
    os.unlink(os.path.join(root, INITRD.lstrip('/')))
    write(root, '/boot/initramfs-7.3.4.img', b'070701' + b'\0' * 100)
    result = run_module(kexec_load.main, {'kernel': KERNEL}, check_mode=True)
    assert result['initrd'] == '/boot/initramfs-7.3.4.img'
    assert '--initrd=/boot/initramfs-7.3.4.img' in result['argv']


def test_initrd_is_paired_in_the_kernel_install_layout(root, run_module):
    os.unlink(os.path.join(root, INITRD.lstrip('/')))
    write(root, '/boot/0123abcd/7.3.4/linux', image(TARGET))
    write(root, '/boot/0123abcd/7.3.4/initrd', b'070701' + b'\0' * 100)
    result = run_module(kexec_load.main, {'kernel': '/boot/0123abcd/7.3.4/linux'}, check_mode=True)
    assert not result.failed, result
    assert result['initrd'] == '/boot/0123abcd/7.3.4/initrd'


def test_given_initrd_wins_over_the_paired_one(root, run_module):
    write(root, '/boot/custom.img', b'070701' + b'\0' * 100)
    result = run_module(kexec_load.main, {'kernel': KERNEL, 'initrd': '/boot/custom.img'}, check_mode=True)
    assert result['initrd'] == '/boot/custom.img'


def test_modular_kernel_without_initrd_is_refused(root, run_module):
    install_kernel(root, TARGET, config=MODULAR_CONFIG)
    os.unlink(os.path.join(root, INITRD.lstrip('/')))
    result = run_module(kexec_load.main, {'kernel': KERNEL})
    assert result.failed
    assert result['msg'].startswith('refusing to stage /boot/vmlinuz-7.3.4 (release 7.3.4) without an initramfs')
    for word in ('CONFIG_MODULES=y', '/boot/initrd.img-7.3.4', '/boot/initramfs-7.3.4.img', 'update-initramfs',
                 'dracut', 'initrd: PATH'):
        assert word in result['msg']
    assert result['target']['initrd'] == {'path': None, 'needed': True, 'candidates': result['target']['initrd']['candidates']}
    assert_untouched(root)


def test_modular_kernel_with_its_initrd_is_staged(root, run_module):
    install_kernel(root, TARGET, config=MODULAR_CONFIG)
    result = run_module(kexec_load.main, {'kernel': KERNEL})
    assert not result.failed, result
    assert result['initrd'] == INITRD


def test_modular_kernel_without_initrd_with_force_is_staged_with_a_warning(root, run_module):
    install_kernel(root, TARGET, config=MODULAR_CONFIG)
    os.unlink(os.path.join(root, INITRD.lstrip('/')))
    result = run_module(kexec_load.main, {'kernel': KERNEL, 'force': True})
    assert not result.failed, result
    assert result['initrd'] is None
    assert any('without an initramfs' in warning['event']['msg'] for warning in result['warnings'])


def test_cmdline_of_its_own_with_append_and_remove(root, run_module):
    result = run_module(kexec_load.main, stage_args(cmdline='root=/dev/vda1 ro quiet liveupdate=off console=tty0',
                                                    append=['console=ttyS0', 'kho_scratch=512M', 'kho=on'], remove=['quiet']))
    assert not result.failed, result
    assert result['cmdline'] == 'root=/dev/vda1 ro liveupdate=on console=ttyS0 kho_scratch=512M kho=on'
    assert kexec_calls(root)[0][-1] == '--command-line=' + result['cmdline']
    assert record(root)['cmdline'] == result['cmdline']


def test_reused_cmdline_gets_liveupdate_and_kho_forced_on(root, run_module):
    write(root, '/proc/cmdline', 'BOOT_IMAGE=/boot/vmlinuz-7.2.13 root=/dev/vda1 liveupdate=off initrd=\\initrd.img\n')
    result = run_module(kexec_load.main, stage_args())
    assert result['cmdline'] == 'root=/dev/vda1 liveupdate=on kho=on'


def test_other_inputs_reload(root, run_module):
    run_module(kexec_load.main, stage_args())
    result = run_module(kexec_load.main, stage_args(append=['kho_scratch=512M']))
    assert not result.failed and result['changed'] is True
    assert result['msg'] == 'staged /boot/vmlinuz-7.3.4: the staged kernel differed in cmdline'
    assert len(kexec_calls(root)) == 2
    assert record(root)['cmdline'] == REUSED + ' kho_scratch=512M'


def test_a_new_image_at_the_same_path_reloads(root, run_module):
    run_module(kexec_load.main, stage_args())
    install_kernel(root, '7.3.5', name='vmlinuz-7.3.4')
    result = run_module(kexec_load.main, stage_args())
    assert not result.failed and result['changed'] is True
    assert result['msg'] == 'staged /boot/vmlinuz-7.3.4: the staged kernel differed in kernel_sha256'
    assert result['release'] == '7.3.5'
    assert record(root)['kernel_sha256'] == sha256(root, KERNEL)
    assert record(root)['release'] == '7.3.5'


def test_a_kernel_staged_by_something_else_is_replaced(root, run_module):
    write(root, LOADED, '1\n')
    result = run_module(kexec_load.main, stage_args())
    assert not result.failed and result['changed'] is True
    assert result['msg'] == 'staged /boot/vmlinuz-7.3.4: a kernel was staged without a record of this module (loaded by something else)'
    assert len(kexec_calls(root)) == 1
    assert record(root)['cmdline'] == REUSED


def test_a_record_without_a_staged_kernel_reloads(root, run_module):
    run_module(kexec_load.main, stage_args())
    write(root, LOADED, '0\n')  # unloaded behind the module's back
    result = run_module(kexec_load.main, stage_args())
    assert not result.failed and result['changed'] is True
    assert loaded(root) == '1'


def test_a_broken_record_reloads(root, run_module):
    run_module(kexec_load.main, stage_args())
    write(root, RECORD, '{"kernel": ')
    result = run_module(kexec_load.main, stage_args())
    assert not result.failed and result['changed'] is True
    assert record(root)['kernel'] == KERNEL


# Check and diff modes

def test_check_mode_reports_and_changes_nothing(root, run_module):
    result = run_module(kexec_load.main, stage_args(append=['kho_scratch=512M']), check_mode=True)
    assert not result.failed, result
    assert result['changed'] is True
    assert result['loaded'] is True
    assert result['cmdline'] == REUSED + ' kho_scratch=512M'
    assert result['argv'] == ['/usr/sbin/kexec', '-s', '-l', KERNEL, '--initrd=' + INITRD, '--command-line=' + result['cmdline']]
    assert result['compatible'] is True
    assert result['msg'] == 'would stage /boot/vmlinuz-7.3.4: nothing was staged'
    assert_untouched(root)


def test_check_mode_when_staged_already(root, run_module):
    run_module(kexec_load.main, stage_args())
    result = run_module(kexec_load.main, stage_args(), check_mode=True)
    assert not result.failed and result['changed'] is False


def test_check_mode_reports_an_incompatible_target_as_a_failure(root, run_module):
    install_kernel(root, TARGET, abi=(b'kho-v4', b'luo-v4', b'memfd-v2'))
    result = run_module(kexec_load.main, stage_args(), check_mode=True)
    assert result.failed
    assert result['compatible'] is False
    assert result['cmdline'] == REUSED
    assert result['argv'][:3] == ['/usr/sbin/kexec', '-s', '-l']
    assert_untouched(root)


def test_diff_from_nothing_to_the_new_record(root, run_module):
    result = run_module(kexec_load.main, stage_args(), diff=True)
    assert result['diff']['before'] == 'nothing staged\n'
    assert json.loads(result['diff']['after']) == record(root)
    assert result['diff']['before_header'] == 'staged kernel (/run/luo-liveupdate/kexec.json)'


def test_diff_from_the_previous_record(root, run_module):
    run_module(kexec_load.main, stage_args())
    previous = record(root)
    result = run_module(kexec_load.main, stage_args(append=['quiet', 'nokaslr']), diff=True, check_mode=True)
    assert json.loads(result['diff']['before']) == previous
    after = json.loads(result['diff']['after'])
    assert after['cmdline'] == 'root=/dev/vda1 ro console=ttyS0 liveupdate=on kho=on quiet nokaslr'
    assert record(root) == previous


def test_diff_from_a_kernel_staged_by_something_else(root, run_module):
    write(root, LOADED, '1\n')
    result = run_module(kexec_load.main, stage_args(), diff=True, check_mode=True)
    assert result['diff']['before'] == 'a kernel staged without a record of this module (loaded by something else)\n'


def test_diff_when_staged_already_is_empty(root, run_module):
    run_module(kexec_load.main, stage_args())
    result = run_module(kexec_load.main, stage_args(), diff=True)
    assert result['diff']['before'] == result['diff']['after']


# Compatibility

def test_luo_abi_mismatch_is_refused(root, run_module):
    install_kernel(root, TARGET, abi=(b'kho-v4', b'luo-v4', b'memfd-v2'))
    result = run_module(kexec_load.main, stage_args())
    assert result.failed
    assert 'refusing to stage /boot/vmlinuz-7.3.4 (release 7.3.4)' in result['msg']
    assert 'ABI luo-v4 of the target differs from luo-v5 of the running kernel' in result['msg']
    assert 'panics the new kernel' in result['msg']
    assert 'force: true' in result['msg']
    assert [reason['id'] for reason in result['target_reasons']] == ['target-abi-mismatch-luo']
    assert result['compatible'] is False
    assert_untouched(root)


def test_target_without_luo_config_is_refused(root, run_module):
    install_kernel(root, TARGET, config=NO_LUO_CONFIG)
    result = run_module(kexec_load.main, stage_args())
    assert result.failed
    assert [reason['id'] for reason in result['target_reasons']] == ['target-config-liveupdate']
    assert 'CONFIG_LIVEUPDATE=n in 7.3.4' in result['msg']
    assert_untouched(root)


def test_target_with_unknown_config_is_refused(root, run_module):
    os.unlink(os.path.join(root, 'boot/config-7.3.4'))
    result = run_module(kexec_load.main, stage_args())
    assert result.failed
    assert [reason['id'] for reason in result['target_reasons']] == ['target-config-unknown']
    assert_untouched(root)


def test_running_kernel_image_missing_makes_compatibility_unknown(root, run_module):
    os.unlink(os.path.join(root, 'boot/vmlinuz-7.2.13'))
    result = run_module(kexec_load.main, stage_args())
    assert result.failed
    assert [reason['id'] for reason in result['target_reasons']] == ['running-abi-unknown']
    assert_untouched(root)


def test_force_stages_an_incompatible_target_with_warnings(root, run_module):
    install_kernel(root, TARGET, abi=(b'kho-v4', b'luo-v4', b'memfd-v2'), config=NO_LUO_CONFIG)
    result = run_module(kexec_load.main, stage_args(force=True))
    assert not result.failed, result
    assert result['changed'] is True
    assert result['compatible'] is False
    assert [reason['id'] for reason in result['target_reasons']] == ['target-config-liveupdate', 'target-abi-mismatch-luo']
    expected = ['staging /boot/vmlinuz-7.3.4 anyway (force): %s' % reason['message'] for reason in result['target_reasons']]
    assert [warning['event']['msg'] for warning in result['warnings']] == expected
    assert loaded(root) == '1'
    assert record(root)['kernel'] == KERNEL


# Hosts that cannot stage

def test_kexec_missing_is_refused_even_with_force(root, run_module):
    os.unlink(os.path.join(root, 'usr/sbin/kexec'))
    result = run_module(kexec_load.main, stage_args(force=True))
    assert result.failed
    assert 'cannot stage /boot/vmlinuz-7.3.4: kexec (kexec-tools) is not installed' in result['msg']
    assert 'install kexec-tools' in result['msg']
    assert [reason['id'] for reason in result['reasons']] == ['kexec-missing']
    assert result['argv'][0] == 'kexec'
    assert loaded(root) == '0' and record(root) is None


def test_kexec_without_file_load_is_refused(root, run_module):
    write(root, 'kexec.no-file-load', '')
    result = run_module(kexec_load.main, stage_args())
    assert result.failed
    assert 'does not support kexec_file_load (-s)' in result['msg']
    assert_untouched(root)


def test_kexec_load_disabled_is_refused(root, run_module):
    write(root, '/proc/sys/kernel/kexec_load_disabled', '1\n')
    result = run_module(kexec_load.main, stage_args(), check_mode=True)
    assert result.failed
    assert 'kernel.kexec_load_disabled=1' in result['msg']
    assert_untouched(root)


def test_kexec_load_disabled_after_staging_keeps_the_staged_kernel(root, run_module):
    run_module(kexec_load.main, stage_args())
    write(root, '/proc/sys/kernel/kexec_load_disabled', '1\n')
    result = run_module(kexec_load.main, stage_args())
    assert not result.failed, result
    assert result['changed'] is False


# Bad input: clear message, nothing changed

@pytest.mark.parametrize('args, words', [
    ({'kernel': '/boot/vmlinuz-9.9.9'}, ['/boot/vmlinuz-9.9.9 does not exist']),
    ({'kernel': '/boot/config-7.3.4'}, ['config-7.3.4 is not a kernel image', 'give a vmlinuz']),
    ({'kernel': '/boot'}, ['is a directory, not a kernel image']),
    ({'kernel': 'boot/vmlinuz-7.3.4'}, ['kernel boot/vmlinuz-7.3.4 is relative', 'absolute path']),
    ({'kernel': KERNEL, 'initrd': 'initrd.img'}, ['initrd initrd.img is relative']),
    ({'kernel': KERNEL, 'initrd': '/boot/initrd.img-9'}, ['initrd /boot/initrd.img-9 does not exist', 'leave initrd out']),
    ({'kernel': KERNEL, 'initrd': '/boot'}, ['initrd /boot does not exist or is not a regular file']),
    ({'kernel': KERNEL, 'cmdline': 'root=/dev/vda1', 'reuse_cmdline': True}, ['cmdline and reuse_cmdline: true are both given']),
    ({'kernel': KERNEL, 'reuse_cmdline': False}, ['reuse_cmdline is false and no cmdline is given']),
    ({'kernel': KERNEL, 'cmdline': True}, ['cmdline is the boolean True', 'quote it']),
    ({'kernel': KERNEL, 'append': ['quiet', 'name="x"']}, ['append item 2', 'double quote']),
    ({'kernel': KERNEL, 'append': ['console=ttyS0 quiet']}, ["append item 1 'console=ttyS0 quiet' contains whitespace"]),
    ({'kernel': KERNEL, 'append': [True]}, ['append item 1 is the boolean True']),
    ({'kernel': KERNEL, 'append': ['liveupdate=off']}, ['liveupdate is always set to on']),
    ({'kernel': KERNEL, 'remove': ['kho']}, ['remove item 1 is kho']),
    ({'kernel': KERNEL, 'remove': ['console=ttyS0']}, ['remove item 1', 'names only']),
    ({'kernel': KERNEL, 'remove': ['quiet'], 'append': ['quiet']}, ['quiet is in both remove and append']),
])
def test_bad_input_fails_and_changes_nothing(root, run_module, args, words):
    result = run_module(kexec_load.main, args)
    assert result.failed, result
    for word in words:
        assert word in result['msg']
    assert result['changed'] is False
    assert result['loaded'] is False
    assert_untouched(root)


def test_kernel_is_required_to_load(root, run_module):
    result = run_module(kexec_load.main, {})
    assert result.failed
    assert result['msg'] == ('state is loaded but kernel is missing: give kernel: PATH (for example /boot/vmlinuz-7.3.4), '
                             'or preflight: {} to stage the newest installed kernel newer than the running one')
    assert_untouched(root)


def test_preflight_is_refused_for_unloading(root, run_module):
    write(root, LOADED, '1\n')
    result = run_module(kexec_load.main, {'state': 'unloaded', 'preflight': {}})
    assert result.failed and result['msg'] == 'preflight is for staging (state: loaded), not for state: unloaded: leave it out'
    assert loaded(root) == '1' and kexec_calls(root) == []


def test_bad_input_keeps_what_is_staged(root, run_module):
    run_module(kexec_load.main, stage_args())
    before = record(root)
    result = run_module(kexec_load.main, stage_args(append=['a b']))
    assert result.failed
    assert result['loaded'] is True
    assert loaded(root) == '1' and record(root) == before
    assert len(kexec_calls(root)) == 1


# kexec failing

def test_kexec_failure_reports_its_stderr_and_leaves_nothing_staged(root, run_module):
    write(root, 'kexec.fail-load', 'kexec_file_load failed: Invalid argument\n')
    result = run_module(kexec_load.main, stage_args())
    assert result.failed
    assert result['msg'] == ('/usr/sbin/kexec -s -l failed (rc 1): kexec_file_load failed: Invalid argument; '
                             'the staged state is as it was')
    assert result['loaded'] is False
    assert [call[:2] for call in kexec_calls(root)] == [['-s', '-l']]
    assert loaded(root) == '0' and record(root) is None


def test_kexec_failure_that_left_a_kernel_staged_unloads_it(root, run_module):
    write(root, 'kexec.fail-load', 'kexec_file_load failed: Cannot allocate memory\n')
    write(root, 'kexec.fail-staged', '')
    result = run_module(kexec_load.main, stage_args())
    assert result.failed
    assert result['msg'].endswith('Cannot allocate memory; a kernel was left staged and has been unloaded')
    assert result['loaded'] is False
    assert [call[:2] for call in kexec_calls(root)] == [['-s', '-l'], ['-s', '-u']]
    assert loaded(root) == '0' and record(root) is None


def test_kexec_failure_that_left_a_kernel_staged_that_will_not_unload(root, run_module):
    write(root, 'kexec.fail-load', 'kexec_file_load failed: Cannot allocate memory\n')
    write(root, 'kexec.fail-staged', '')
    write(root, 'kexec.fail-unload', 'kexec_file_load(unload) failed\n: Device or resource busy\n')
    result = run_module(kexec_load.main, stage_args())
    assert result.failed
    assert 'a kernel was left staged and unloading it failed too' in result['msg']
    assert result['loaded'] is True
    assert 'Device or resource busy' in result['msg']
    assert 'run kexec -s -u' in result['msg']
    assert record(root) is None


def test_kexec_failure_mentions_lockdown(root, run_module):
    write(root, '/sys/kernel/security/lockdown', 'none [integrity] confidentiality\n')
    write(root, 'kexec.fail-load', 'kexec_file_load failed: Operation not permitted\n')
    result = run_module(kexec_load.main, stage_args())
    assert result.failed
    assert 'Operation not permitted; kernel lockdown is integrity: kexec_file_load accepts only images signed' in result['msg']


def test_kexec_failure_keeps_the_previously_staged_kernel_and_its_record(root, run_module):
    run_module(kexec_load.main, stage_args())
    before = record(root)
    write(root, 'kexec.fail-load', 'kexec_file_load failed: Invalid argument\n')
    result = run_module(kexec_load.main, stage_args(append=['nokaslr']))
    assert result.failed
    assert result['loaded'] is True
    assert 'the staged state is as it was' in result['msg']
    assert loaded(root) == '1' and record(root) == before
    assert [call[:2] for call in kexec_calls(root)] == [['-s', '-l'], ['-s', '-l']]


def test_kexec_success_without_a_staged_kernel_fails(root, run_module):
    write(root, 'kexec.ignore', '')
    result = run_module(kexec_load.main, stage_args())
    assert result.failed
    assert '/usr/sbin/kexec -s -l returned 0 but /sys/kernel/kexec_loaded does not read 1' in result['msg']
    assert record(root) is None


def test_record_that_cannot_be_written_unloads_again(root, run_module):
    write(root, 'run/luo-liveupdate', 'a file where the directory belongs')
    result = run_module(kexec_load.main, stage_args())
    assert result.failed
    assert 'cannot write the record /run/luo-liveupdate/kexec.json' in result['msg']
    assert 'the kernel was unloaded again' in result['msg']
    assert [call[:2] for call in kexec_calls(root)] == [['-s', '-l'], ['-s', '-u']]
    assert result['loaded'] is False
    assert loaded(root) == '0'


def test_record_that_cannot_be_written_and_a_kernel_that_will_not_unload(root, run_module):
    write(root, 'run/luo-liveupdate', 'a file where the directory belongs')
    write(root, 'kexec.fail-unload', 'kexec_file_load(unload) failed\n: Operation not permitted\n')
    result = run_module(kexec_load.main, stage_args())
    assert result.failed
    assert 'unloading the kernel again failed too' in result['msg'] and 'run kexec -s -u' in result['msg']
    assert result['loaded'] is True


# Unloading

def test_unload_of_nothing_changes_nothing(root, run_module):
    result = run_module(kexec_load.main, {'state': 'unloaded'})
    assert not result.failed, result
    assert result['changed'] is False
    assert result['loaded'] is False
    assert result['argv'] == []
    assert result['msg'] == 'nothing is staged'
    assert result['record'] == '/run/luo-liveupdate/kexec.json'
    assert 'cmdline' not in result and 'target' not in result
    assert kexec_calls(root) == []


def test_unload_of_nothing_drops_a_stale_record(root, run_module):
    run_module(kexec_load.main, stage_args())
    write(root, LOADED, '0\n')
    result = run_module(kexec_load.main, {'state': 'unloaded'})
    assert not result.failed and result['changed'] is False
    assert record(root) is None


def test_unload_unloads_and_removes_the_record(root, run_module):
    run_module(kexec_load.main, stage_args())
    result = run_module(kexec_load.main, {'state': 'unloaded'}, diff=True)
    assert not result.failed, result
    assert result['changed'] is True
    assert result['loaded'] is False
    assert result['argv'] == ['/usr/sbin/kexec', '-s', '-u']
    assert result['msg'] == 'unloaded the staged kernel'
    assert kexec_calls(root)[-1] == ['-s', '-u']
    assert loaded(root) == '0' and record(root) is None
    assert json.loads(result['diff']['before'])['kernel'] == KERNEL
    assert result['diff']['after'] == 'nothing staged\n'
    again = run_module(kexec_load.main, {'state': 'unloaded'})
    assert again['changed'] is False


def test_unload_of_a_kernel_staged_by_something_else(root, run_module):
    write(root, LOADED, '1\n')
    result = run_module(kexec_load.main, {'state': 'unloaded'})
    assert not result.failed and result['changed'] is True
    assert loaded(root) == '0'


def test_unload_check_mode_changes_nothing(root, run_module):
    run_module(kexec_load.main, stage_args())
    before = record(root)
    result = run_module(kexec_load.main, {'state': 'unloaded'}, check_mode=True)
    assert not result.failed and result['changed'] is True
    assert result['loaded'] is False
    assert result['argv'] == ['/usr/sbin/kexec', '-s', '-u']
    assert result['msg'] == 'would unload the staged kernel'
    assert loaded(root) == '1' and record(root) == before
    assert len(kexec_calls(root)) == 1


def test_unload_check_mode_keeps_a_stale_record(root, run_module):
    run_module(kexec_load.main, stage_args())
    write(root, LOADED, '0\n')
    result = run_module(kexec_load.main, {'state': 'unloaded'}, check_mode=True)
    assert result['changed'] is False
    assert record(root) is not None


def test_unload_failure_reports_stderr_and_keeps_the_record(root, run_module):
    run_module(kexec_load.main, stage_args())
    before = record(root)
    write(root, 'kexec.fail-unload', 'kexec_file_load(unload) failed\n: Operation not permitted\n')
    result = run_module(kexec_load.main, {'state': 'unloaded'})
    assert result.failed
    assert result['msg'] == ('/usr/sbin/kexec -s -u failed (rc 1): kexec_file_load(unload) failed\n: Operation not permitted; '
                             'the kernel is still staged')
    assert result['loaded'] is True
    assert loaded(root) == '1' and record(root) == before


def test_unload_that_leaves_the_kernel_staged_fails(root, run_module):
    run_module(kexec_load.main, stage_args())
    write(root, 'kexec.ignore', '')
    result = run_module(kexec_load.main, {'state': 'unloaded'})
    assert result.failed
    assert 'still reads 1' in result['msg']
    assert record(root) is not None


def test_unload_without_kexec_fails(root, run_module):
    write(root, LOADED, '1\n')
    os.unlink(os.path.join(root, 'usr/sbin/kexec'))
    result = run_module(kexec_load.main, {'state': 'unloaded'})
    assert result.failed
    assert 'cannot unload the staged kernel: kexec (kexec-tools) is not installed' in result['msg']
    assert loaded(root) == '1'


def test_unload_ignores_the_load_options(root, run_module):
    run_module(kexec_load.main, stage_args())
    result = run_module(kexec_load.main, {'state': 'unloaded', 'kernel': 'relative/ignored'})
    assert not result.failed and result['changed'] is True


# Staging under the host lock

LOCK = 'var/lib/luo-liveupdate/lock'


def lock_record(root):
    text = read(root, LOCK)
    return None if text is None else json.loads(text)


def test_lock_owner_takes_the_lock_before_staging_and_keeps_it(root, run_module):
    result = run_module(kexec_load.main, stage_args(lock_owner='awx job 42', lock_ttl=1800, lock_controller='awx-ee'))
    assert not result.failed, result
    assert result['loaded'] is True and loaded(root) == '1'
    taken = result['lock']
    assert (taken['acquired'], taken['reentrant'], taken['taken_over'], taken['released_again']) == (True, False, False, False)
    assert taken['path'] == '/var/lib/luo-liveupdate/lock' and taken['msg'].startswith('took /var/lib/luo-liveupdate/lock')
    held = lock_record(root)
    assert (held['owner'], held['controller'], held['expires'] - held['started']) == ('awx job 42', 'awx-ee', 1800)


def test_without_lock_owner_no_lock_is_read_or_taken(root, run_module):
    result = run_module(kexec_load.main, stage_args())
    assert 'lock' not in result and lock_record(root) is None


def test_a_lock_held_by_another_run_refuses_and_nothing_is_staged(root, run_module):
    run_module(lock_module.main, {'owner': 'other run', 'ttl': 600})
    result = run_module(kexec_load.main, stage_args(lock_owner='awx job 42'))
    assert result.failed and result['changed'] is False
    assert result['msg'].startswith('/var/lib/luo-liveupdate/lock is held by other run')
    assert result['msg'].endswith('; nothing was staged')
    assert result['lock']['held_by']['owner'] == 'other run' and result['lock']['acquired'] is False
    assert_untouched(root)
    assert lock_record(root)['owner'] == 'other run'


def test_the_owner_holding_the_lock_already_stages_and_keeps_holding_it(root, run_module):
    run_module(lock_module.main, {'owner': 'rollout of web', 'ttl': 600})
    write(root, 'kexec.fail-load', 'kexec_file_load failed: Invalid argument\n')
    result = run_module(kexec_load.main, stage_args(lock_owner='rollout of web'))
    assert result.failed and result['lock']['reentrant'] is True
    assert result['lock']['released_again'] is False
    assert lock_record(root)['owner'] == 'rollout of web'  # the caller's lock is the caller's to release


def test_a_failed_stage_releases_the_lock_it_took(root, run_module):
    write(root, 'kexec.fail-load', 'kexec_file_load failed: Invalid argument\n')
    result = run_module(kexec_load.main, stage_args(lock_owner='awx job 42'))
    assert result.failed and result['msg'].startswith('/usr/sbin/kexec -s -l failed (rc 1)')
    assert result['lock']['released_again'] is True and result['lock']['msg'].endswith('released again after the failure')
    assert lock_record(root) is None and loaded(root) == '0'


def test_an_incompatible_target_releases_the_lock_it_took(root, run_module):
    install_kernel(root, TARGET, abi=(b'kho-v4', b'luo-v6', b'memfd-v2'))
    result = run_module(kexec_load.main, stage_args(lock_owner='awx job 42'))
    assert result.failed and 'refusing to stage' in result['msg']
    assert result['lock']['released_again'] is True and lock_record(root) is None
    assert_untouched(root)


def test_check_mode_says_whether_the_lock_would_be_refused_and_writes_none(root, run_module):
    planned = run_module(kexec_load.main, stage_args(lock_owner='awx job 42'), check_mode=True)
    assert not planned.failed and planned['lock']['acquired'] is True and lock_record(root) is None
    run_module(lock_module.main, {'owner': 'other run', 'ttl': 600})
    refused = run_module(kexec_load.main, stage_args(lock_owner='awx job 42'), check_mode=True)
    assert refused.failed and refused['lock']['held_by']['owner'] == 'other run'
    assert_untouched(root)


@pytest.mark.parametrize('args, msg', [
    ({'lock_owner': ''}, "lock_owner '' is empty: give a name for the run that takes the lock"),
    ({'lock_owner': 'a\nb'}, "lock_owner 'a\\nb' contains a control character"),
    ({'lock_owner': 'x', 'lock_ttl': 0}, 'lock_ttl 0 is not a positive number of seconds'),
])
def test_bad_lock_options_fail_and_change_nothing(root, run_module, args, msg):
    result = run_module(kexec_load.main, stage_args(**args))
    assert result.failed and result['msg'].startswith(msg), result['msg']
    assert result['changed'] is False
    assert_untouched(root)
    assert lock_record(root) is None


# The preflight: info's facts and the live update's refusals, before the lock and the stage, in the same run

@pytest.fixture
def ready(tmp_path, host_root):
    """A host ready for a live update (info_trees.ready_host: 7.2.13, device, systemd 262) with 7.3.4 and its initramfs
    in /boot and the stand-in kexec that stages."""
    return host_root(with_target_and_kexec(trees.ready_host(tmp_path / 'ready')))


NO_PROBE = {'probe_device': False}  # the tree's /dev/liveupdate is /dev/null, which a probe finds is not LUO's


def test_preflight_stages_and_returns_the_facts_it_read_before(ready, run_module):
    result = run_module(kexec_load.main, {'kernel': KERNEL, 'preflight': NO_PROBE, 'lock_owner': 'awx job 42'})
    assert not result.failed, result
    assert result['changed'] is True and loaded(ready) == '1' and result['initrd'] == INITRD
    facts = result['facts']
    assert facts['ready'] is True and facts['kexec']['loaded'] is False  # as it was before staging
    assert facts['target']['release'] == TARGET and facts['compatible'] is True
    assert result['target'] == facts['target'] and 'refused' not in result
    assert lock_record(ready)['owner'] == 'awx job 42'


def test_preflight_without_kernel_stages_the_newest_newer_one(ready, run_module):
    install_kernel(ready, '7.1.0')
    result = run_module(kexec_load.main, {'preflight': NO_PROBE})
    assert not result.failed, result
    assert result['kernel'] == KERNEL and result['facts']['target_chosen'] == KERNEL
    assert record(ready)['kernel'] == KERNEL and loaded(ready) == '1'


def test_preflight_without_a_newer_kernel_stages_nothing(ready, run_module):
    os.remove(os.path.join(ready, KERNEL.lstrip('/')))
    result = run_module(kexec_load.main, {'preflight': NO_PROBE, 'lock_owner': 'awx job 42'})
    assert not result.failed and result['changed'] is False and result['kernel'] is None
    assert result['msg'] == 'nothing to stage: no installed kernel is newer than the running 7.2.13'
    assert result['facts']['target_chosen'] is None
    assert_untouched(ready)
    assert lock_record(ready) is None


def test_preflight_refuses_a_host_that_is_not_ready_before_the_lock(ready, run_module):
    result = run_module(kexec_load.main, {'kernel': KERNEL, 'preflight': {}, 'lock_owner': 'awx job 42'})
    assert result.failed and result['refused'] == 'not-ready'
    assert result['msg'].startswith('the host is not ready for a live update: ')
    assert [item['id'] for item in result['facts']['reasons']] == ['device-not-a-device']
    assert_untouched(ready)
    assert lock_record(ready) is None


def test_preflight_refuses_a_kernel_staged_already_and_leaves_it(ready, run_module):
    staged = {'kernel': KERNEL, 'initrd': None, 'cmdline': 'root=/dev/vda1', 'release': TARGET, 'loaded_at': 'then'}
    write(ready, LOADED, '1\n')
    write(ready, RECORD, json.dumps(staged))
    result = run_module(kexec_load.main, {'kernel': KERNEL, 'preflight': NO_PROBE, 'lock_owner': 'awx job 42'})
    assert result.failed and result['refused'] == 'already-staged' and result['already_staged'] == staged
    assert 'a kernel is staged on the host already: /boot/vmlinuz-7.3.4 (release 7.3.4)' in result['msg']
    assert loaded(ready) == '1' and record(ready) == staged and kexec_calls(ready) == []
    assert lock_record(ready) is None


def test_preflight_refuses_an_incompatible_target_unless_forced(ready, run_module):
    install_kernel(ready, TARGET, abi=(b'kho-v4', b'luo-v6', b'memfd-v2'))
    result = run_module(kexec_load.main, {'kernel': KERNEL, 'preflight': NO_PROBE, 'lock_owner': 'awx job 42'})
    assert result.failed and result['refused'] == 'target-incompatible'
    assert result['msg'].startswith('/boot/vmlinuz-7.3.4 cannot take over with the state intact: ')
    assert_untouched(ready)
    assert lock_record(ready) is None
    forced = run_module(kexec_load.main, {'kernel': KERNEL, 'preflight': NO_PROBE, 'force': True})
    assert not forced.failed and loaded(ready) == '1'


def test_preflight_refuses_a_unit_to_verify_that_is_not_active(ready, run_module):
    trees.install_unit_tools(ready, {'demo.service': (0, 'LoadState=loaded\nActiveState=failed\nFileDescriptorStoreMax=4\n')},
                             {'demo.service': (0, '[]')})
    result = run_module(kexec_load.main, {'kernel': KERNEL, 'preflight': dict(NO_PROBE, units=['demo.service'])})
    assert result.failed and result['refused'] == 'verify-unit-inactive'
    assert result['msg'] == 'verify unit demo.service is failed, not active: start it first, or it cannot be proven to come back'
    assert result['facts']['units']['demo.service']['active_state'] == 'failed'
    assert_untouched(ready)


def test_preflight_names_a_target_that_is_no_kernel_image_by_the_kernel_option(ready, run_module):
    result = run_module(kexec_load.main, {'kernel': '/boot/missing', 'preflight': NO_PROBE})
    assert result.failed and result['msg'].startswith('kernel: kernel image %s/boot/missing does not exist' % ready)
    assert 'refused' not in result and result['facts']['ready'] is True
    assert_untouched(ready)


def test_preflight_in_check_mode_stages_nothing_and_reports(ready, run_module):
    result = run_module(kexec_load.main, {'kernel': KERNEL, 'preflight': NO_PROBE}, check_mode=True)
    assert not result.failed and result['changed'] is True and result['facts']['ready'] is True
    assert_untouched(ready)
