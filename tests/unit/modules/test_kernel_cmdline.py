# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader import grub, transaction
from ansible_collections.luo.liveupdate.plugins.modules import kernel_cmdline
# The fixture trees and stand-in tools are shared with the module_utils tests.
from ansible_collections.luo.liveupdate.tests.unit.module_utils.bootloader_trees import FIXTURES, install_tool, read, tree_state, write

DROPIN = 'etc/default/grub.d/90-luo-liveupdate.cfg'
LUO = [{'name': 'liveupdate', 'value': 'on'}, {'name': 'kho', 'value': 'on'}]


def make_root(tmp_path, host_root, tree, tools):
    """A copy of fixture tree ``tree`` with stand-ins of ``tools``, which the module then works on."""
    root = str(tmp_path / tree)
    shutil.copytree(os.path.join(FIXTURES, 'trees', tree), root)
    for tool in tools:
        install_tool(root, *tool)
    return host_root(root)


@pytest.fixture
def debian(tmp_path, host_root):
    return make_root(tmp_path, host_root, 'debian-grub', [('grub-mkconfig',), ('update-grub',)])


@pytest.fixture
def fedora(tmp_path, host_root):
    return make_root(tmp_path, host_root, 'fedora-grubby', [('grubby.py',)])


@pytest.fixture
def sdboot(tmp_path, host_root):
    return make_root(tmp_path, host_root, 'systemd-boot', [('kernel-install', 'usr/bin')])


def test_grub_sets_params_and_reports(debian, run_module):
    result = run_module(kernel_cmdline.main, {'params': LUO})
    assert not result.failed, result
    assert result['changed'] is True
    assert result['backend'] == 'grub'
    assert result['backend_evidence'] == ['%s/etc/default/grub exists' % debian,
                                          'update-grub executable at %s/usr/sbin/update-grub' % debian,
                                          'grub-mkconfig executable at %s/usr/sbin/grub-mkconfig' % debian]
    assert result['cmdline_next'] == 'console=ttyS0 quiet liveupdate=on kho=on'
    assert result['cmdline_running'] == 'BOOT_IMAGE=/boot/vmlinuz-7.3.4 root=/dev/vda1 ro console=ttyS0 quiet'
    assert result['reboot_required'] is True
    assert result['changed_files'] == [os.path.join(debian, 'boot/grub/grub.cfg'), os.path.join(debian, DROPIN)]
    assert 'diff' not in result
    assert read(debian, DROPIN).endswith('GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on kho=on"\n')
    assert '\tlinux\t/boot/vmlinuz-7.3.4 root=/dev/vda1 ro console=ttyS0 quiet liveupdate=on kho=on\n' in read(debian, 'boot/grub/grub.cfg')


def test_grub_second_run_is_idempotent(debian, run_module):
    run_module(kernel_cmdline.main, {'params': LUO})
    before = tree_state(debian)
    result = run_module(kernel_cmdline.main, {'params': LUO})
    assert not result.failed
    assert result['changed'] is False
    assert result['changed_files'] == []
    assert result['reboot_required'] is True
    assert tree_state(debian) == before


def test_reboot_not_required_when_running_kernel_has_the_params(debian, run_module):
    write(debian, 'proc/cmdline', 'BOOT_IMAGE=/boot/vmlinuz-7.3.4 root=/dev/vda1 ro console=ttyS0 quiet liveupdate=on kho=on\n')
    result = run_module(kernel_cmdline.main, {'params': LUO})
    assert not result.failed and result['changed'] is True
    assert result['reboot_required'] is False


def test_reboot_required_for_a_removal_the_running_kernel_lacks(debian, run_module):
    result = run_module(kernel_cmdline.main, {'params': [{'name': 'quiet', 'state': 'absent'}]})
    assert not result.failed
    assert result['cmdline_next'] == 'console=ttyS0'
    assert result['reboot_required'] is True


def test_check_mode_changes_nothing_and_reports(debian, run_module):
    before = tree_state(debian)
    result = run_module(kernel_cmdline.main, {'params': LUO}, check_mode=True)
    assert not result.failed
    assert result['changed'] is True
    assert result['cmdline_next'] == 'console=ttyS0 quiet liveupdate=on kho=on'
    assert result['changed_files'] == [os.path.join(debian, 'boot/grub/grub.cfg'), os.path.join(debian, DROPIN)]
    assert tree_state(debian) == before
    assert read(debian, 'calls.log') is None


def test_diff_mode_shows_next_cmdline_and_dropin(debian, run_module):
    result = run_module(kernel_cmdline.main, {'params': LUO}, check_mode=True, diff=True)
    assert not result.failed
    assert result['diff'][0] == {'before_header': 'next boot command line (grub)', 'after_header': 'next boot command line (grub)',
                                 'before': 'console=ttyS0 quiet\n', 'after': 'console=ttyS0 quiet liveupdate=on kho=on\n'}
    assert result['diff'][1]['before_header'] == os.path.join(debian, DROPIN)
    assert result['diff'][1]['before'] == ''
    assert result['diff'][1]['after'].endswith('"$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on kho=on"\n')
    assert len(result['diff']) == 2


def test_diff_mode_without_change(debian, run_module):
    run_module(kernel_cmdline.main, {'params': LUO})
    result = run_module(kernel_cmdline.main, {'params': LUO}, diff=True)
    assert not result.failed and result['changed'] is False
    assert result['diff'] == [{'before_header': 'next boot command line (grub)', 'after_header': 'next boot command line (grub)',
                               'before': 'console=ttyS0 quiet liveupdate=on kho=on\n', 'after': 'console=ttyS0 quiet liveupdate=on kho=on\n'}]


def test_custom_dropin_name(debian, run_module):
    result = run_module(kernel_cmdline.main, {'params': LUO, 'grub_dropin': '99-live.cfg'})
    assert not result.failed
    assert read(debian, 'etc/default/grub.d/99-live.cfg') is not None
    assert read(debian, DROPIN) is None
    assert os.path.join(debian, 'etc/default/grub.d/99-live.cfg') in result['changed_files']


@pytest.mark.parametrize('value', ['7;echo', '$prefix', 'a #b'])
def test_grub_values_reach_grub_cfg_quoted_for_grub(debian, run_module, value):
    result = run_module(kernel_cmdline.main, {'params': [{'name': 'x', 'value': value}] + LUO})
    assert not result.failed, result
    # Single quotes: GRUB neither ends the command at ";", nor expands "$prefix", nor reads "#b" as a comment.
    assert " quiet x='%s' liveupdate=on kho=on\n" % value in read(debian, 'boot/grub/grub.cfg')
    assert run_module(kernel_cmdline.main, {'params': [{'name': 'x', 'value': value}] + LUO})['changed'] is False


def test_integer_value_is_written_in_decimal(debian, run_module):
    result = run_module(kernel_cmdline.main, {'params': [{'name': 'loglevel', 'value': 7}]})
    assert not result.failed
    assert result['cmdline_next'] == 'console=ttyS0 quiet loglevel=7'


def test_failed_update_grub_restores_and_fails_with_its_error(debian, run_module):
    write(debian, 'fail-mkconfig', 'grub-mkconfig: error: out of disk space.\n')
    before = tree_state(debian)
    result = run_module(kernel_cmdline.main, {'params': LUO})
    assert result.failed
    assert result['msg'] == ('regenerating the boot configuration failed (%s/usr/sbin/update-grub exited with 1): grub-mkconfig: error: '
                             'out of disk space.; the previous files were restored, nothing changed' % debian)
    assert tree_state(debian) == before


def test_grubby_backend(fedora, run_module):
    result = run_module(kernel_cmdline.main, {'params': LUO + [{'name': 'rhgb', 'state': 'absent'}]}, diff=True)
    assert not result.failed, result
    assert result['backend'] == 'grubby'
    assert result['changed'] is True
    assert result['cmdline_next'] == 'root=UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro rootflags=subvol=root quiet liveupdate=on kho=on'
    assert os.path.join(fedora, 'etc/kernel/cmdline') in result['changed_files']
    assert len(result['changed_files']) == 3
    assert [d['before_header'] for d in result['diff']] == ['next boot command line (grubby)', os.path.join(fedora, 'etc/kernel/cmdline')]
    result = run_module(kernel_cmdline.main, {'params': LUO + [{'name': 'rhgb', 'state': 'absent'}]})
    assert result['changed'] is False


def test_grubby_check_mode(fedora, run_module):
    before = tree_state(fedora)
    result = run_module(kernel_cmdline.main, {'params': LUO, 'kernel': 'DEFAULT'}, check_mode=True)
    assert not result.failed and result['changed'] is True
    assert result['changed_files'] == [os.path.join(fedora, 'etc/kernel/cmdline')]
    assert tree_state(fedora) == before
    assert '--update-kernel' not in read(fedora, 'calls.log')


def test_kernel_install_backend(sdboot, run_module):
    result = run_module(kernel_cmdline.main, {'params': LUO, 'bootloader': 'kernel-install'})
    assert not result.failed, result
    assert result['backend'] == 'kernel-install'
    assert result['backend_evidence'][0] == 'chosen explicitly'
    assert result['cmdline_next'].endswith('systemd.machine_id=9f8e7d6c5b4a39281706f5e4d3c2b1a0 liveupdate=on kho=on')
    assert len(result['changed_files']) == 3
    assert read(sdboot, 'etc/kernel/cmdline').endswith(' liveupdate=on kho=on\n')
    result = run_module(kernel_cmdline.main, {'params': LUO, 'bootloader': 'kernel-install'})
    assert result['changed'] is False


def test_no_bootloader_found(tmp_path, host_root, run_module):
    host_root(tmp_path)
    result = run_module(kernel_cmdline.main, {'params': LUO})
    assert result.failed
    assert result['msg'].startswith('no supported boot configuration found under %s' % tmp_path)
    assert os.listdir(str(tmp_path)) == []


def test_no_writable_config(debian, monkeypatch, run_module):
    before = tree_state(debian)
    monkeypatch.setattr(transaction.os, 'access', lambda path, mode: not path.endswith('.cfg') and not path.endswith('grub.d'))
    result = run_module(kernel_cmdline.main, {'params': LUO})
    assert result.failed
    assert result['msg'] == 'cannot write %s/%s: permission denied; run the task as root (become: true)' % (debian, DROPIN)
    assert tree_state(debian) == before


def test_grubby_value_with_spaces_is_refused(fedora, run_module):
    before = tree_state(fedora)
    result = run_module(kernel_cmdline.main, {'params': [{'name': 'dyndbg', 'value': 'file x.c +p'}]})
    assert result.failed
    assert "grubby splits --args at whitespace" in result['msg']
    assert tree_state(fedora) == before


@pytest.mark.parametrize('content, reason', [
    ('#!/nonexistent/sh\nexit 0\n', 'its interpreter (#!/nonexistent/sh) does not exist'),
    ('\x7fELF\x02\x01garbage', 'it is not a program for this machine (exec format error)'),
])
def test_update_grub_that_cannot_be_started_restores_and_says_why(debian, run_module, content, reason):
    write(debian, 'usr/sbin/update-grub', content)
    before = tree_state(debian)
    result = run_module(kernel_cmdline.main, {'params': LUO})
    assert result.failed
    assert result['msg'] == ('regenerating the boot configuration failed: cannot run %s/usr/sbin/update-grub: %s; repair or reinstall it; '
                             'the previous files were restored, nothing changed' % (debian, reason))
    assert tree_state(debian) == before


def test_update_grub_that_lost_its_exec_bit_restores(debian, run_module, monkeypatch):
    # Between planning and regenerating (a package upgrade, say), update-grub stops being executable.
    real_apply = grub.GrubBackend.apply

    def apply(backend, plan, changes):
        os.chmod(os.path.join(debian, 'usr/sbin/update-grub'), 0o644)
        return real_apply(backend, plan, changes)
    monkeypatch.setattr(grub.GrubBackend, 'apply', apply)
    before = tree_state(debian)
    result = run_module(kernel_cmdline.main, {'params': LUO})
    assert result.failed
    assert result['msg'] == ('regenerating the boot configuration failed: cannot run %s/usr/sbin/update-grub: it is not executable; '
                             'repair or reinstall it; the previous files were restored, nothing changed' % debian)
    os.chmod(os.path.join(debian, 'usr/sbin/update-grub'), 0o755)
    assert tree_state(debian) == before


@pytest.mark.parametrize('backend', ['grubby', 'kernel-install'])
def test_a_chosen_backend_that_is_not_installed_is_refused_and_changes_nothing(debian, run_module, backend):
    before = tree_state(debian)
    result = run_module(kernel_cmdline.main, {'params': LUO, 'bootloader': backend})
    assert result.failed
    assert 'bootloader %s was chosen but is not installed' % backend in result['msg']
    assert tree_state(debian) == before
