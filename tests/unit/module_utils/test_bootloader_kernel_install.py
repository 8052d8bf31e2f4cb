# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel-install backend: /etc/kernel/cmdline and the options lines of Boot Loader Specification entries,
edited in place so every byte the change does not touch stays."""
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as c
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader import common, kernel_install, selection, transaction
from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline import ANY, Change
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host
from ansible_collections.luo.liveupdate.tests.unit.module_utils.bootloader_trees import (  # noqa: F401  pylint: disable=unused-import
    LUO, Runner, SDBOOT_FOREIGN, SDBOOT_ID, SDBOOT_NEW, SDBOOT_OLD, SHARED_CMDLINE, read, sdboot, tree_state, write)


def test_bls_options_and_version():
    text = 'title x\nversion 7.3.4\noptions a=1 b\noptions  c\noptionsx d\n'
    assert c.render(kernel_install.bls_options(text)) == 'a=1 b c'
    assert kernel_install.bls_version(text, '/e/x.conf') == '7.3.4'
    assert kernel_install.bls_version('title x\noptions\n', '/e/m-7.2.13.conf') == 'm-7.2.13'
    assert c.render(kernel_install.bls_options('title x\noptions\n')) == ''


def test_replace_bls_options():
    assert kernel_install.replace_bls_options('title x\noptions    a\nlinux /l\noptions b\n', 'a b c') == 'title x\noptions    a b c\nlinux /l\n'
    assert kernel_install.replace_bls_options('title x\noptions\n', 'a') == 'title x\noptions a\n'
    assert kernel_install.replace_bls_options('title x\nlinux /l', 'a') == 'title x\nlinux /l\noptions a\n'


def test_strip_boot_loader_args():
    cmdline = c.parse('BOOT_IMAGE=/vmlinuz initrd=\\x\\initrd root=/dev/vda1 initrd ro')
    assert c.render(kernel_install.strip_boot_loader_args(cmdline)) == 'root=/dev/vda1 initrd ro'


def test_kernel_install_creates_cmdline_from_proc_and_updates_own_entries(sdboot):
    foreign = read(sdboot, SDBOOT_FOREIGN)
    backend = selection.select(Host(sdboot, Runner()))
    plan = backend.plan(LUO)
    options = 'root=UUID=6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d ro console=ttyS0 systemd.machine_id=%s' % SDBOOT_ID
    assert plan.next_before == options
    assert plan.next_after == options + ' liveupdate=on kho=on'
    assert plan.commands == ()
    assert [change.path for change in plan.files] == [os.path.join(sdboot, path) for path in ('etc/kernel/cmdline', SDBOOT_OLD, SDBOOT_NEW)]
    assert plan.files[0].before is None
    assert backend.outputs(plan) == []
    changed = backend.apply(plan, LUO)
    assert changed == sorted(os.path.join(sdboot, path) for path in ('etc/kernel/cmdline', SDBOOT_OLD, SDBOOT_NEW))
    assert read(sdboot, 'etc/kernel/cmdline') == options + ' liveupdate=on kho=on\n'
    assert 'options    %s liveupdate=on kho=on\n' % options in read(sdboot, SDBOOT_NEW)
    assert read(sdboot, SDBOOT_FOREIGN) == foreign
    assert backend.next_cmdline(plan) == plan.next_after
    assert not selection.select(Host(sdboot, Runner())).plan(LUO).changed


def test_kernel_install_does_not_create_cmdline_when_nothing_changes(sdboot):
    changes = [Change('console', 'ttyS0', True)]
    plan = selection.select(Host(sdboot, Runner())).plan(changes)
    assert plan == common.Plan(plan.next_before, plan.next_before, (), (), False)


def test_kernel_install_prefers_usr_lib_kernel_cmdline(sdboot):
    write(sdboot, 'usr/lib/kernel/cmdline', 'root=/dev/vda2 ro\n')
    plan = selection.select(Host(sdboot, Runner())).plan(LUO)
    assert plan.files[0] == common.FileChange(os.path.join(sdboot, 'etc/kernel/cmdline'), None, 'root=/dev/vda2 ro liveupdate=on kho=on\n')


def test_kernel_install_edits_an_existing_cmdline_keeping_its_mode(sdboot):
    write(sdboot, 'etc/kernel/cmdline', 'root=/dev/vda2 ro quiet\n')
    os.chmod(os.path.join(sdboot, 'etc/kernel/cmdline'), 0o600)
    changes = [Change('quiet', ANY, False)]
    backend = selection.select(Host(sdboot, Runner()))
    backend.apply(backend.plan(changes), changes)
    assert read(sdboot, 'etc/kernel/cmdline') == 'root=/dev/vda2 ro\n'
    assert stat.S_IMODE(os.stat(os.path.join(sdboot, 'etc/kernel/cmdline')).st_mode) == 0o600


def test_kernel_install_entry_token_file_wins(sdboot):
    write(sdboot, 'etc/kernel/entry-token', '0123456789abcdef0123456789abcdef\n')
    backend = selection.select(Host(sdboot, Runner()))
    assert backend.governed_entries() == [os.path.join(sdboot, SDBOOT_FOREIGN)]
    assert backend.plan(LUO).next_before == 'root=/dev/sdb2 ro quiet'


def test_kernel_install_without_token_governs_every_entry(sdboot):
    os.remove(os.path.join(sdboot, 'etc/machine-id'))
    backend = selection.select(Host(sdboot, Runner()))
    assert len(backend.governed_entries()) == 3
    assert backend.entry_token() is None


def test_kernel_install_without_entries_of_this_machine_reports_the_cmdline_file(sdboot):
    write(sdboot, 'etc/machine-id', 'ffffffffffffffffffffffffffffffff\n')
    plan = selection.select(Host(sdboot, Runner())).plan(LUO)
    assert [change.path for change in plan.files] == [os.path.join(sdboot, 'etc/kernel/cmdline')]
    assert plan.next_after == plan.files[0].after.strip()


def test_kernel_install_entries_under_boot_too(sdboot):
    os.makedirs(os.path.join(sdboot, 'boot/loader/entries'))
    write(sdboot, 'boot/loader/entries/%s-7.10.0.conf' % SDBOOT_ID, 'title t\nversion 7.10.0\noptions root=/dev/vda1 ro\n')
    plan = selection.select(Host(sdboot, Runner())).plan(LUO)
    assert plan.next_after == 'root=/dev/vda1 ro liveupdate=on kho=on'
    assert len(plan.files) == 4


def test_kernel_install_restores_when_a_write_fails(sdboot, monkeypatch):
    before = tree_state(sdboot)
    backend = selection.select(Host(sdboot, Runner()))
    plan = backend.plan(LUO)
    real_write = transaction.atomic_write
    written = []

    def failing_write(path, text, default_mode=0o644):
        if written:
            raise OSError(28, 'No space left on device', path)
        written.append(path)
        real_write(path, text, default_mode)
    monkeypatch.setattr(transaction, 'atomic_write', failing_write)
    with pytest.raises(common.BootloaderError, match=r'No space left on device.*; the previous files were restored, nothing changed'):
        backend.apply(plan, LUO)
    assert written
    assert tree_state(sdboot) == before
    assert not os.path.exists(os.path.join(sdboot, 'etc/kernel'))


@pytest.mark.parametrize('value', ['7;echo', '$prefix', 'a#b', 'bar\\', "it's"])
def test_kernel_install_passes_values_unchanged(sdboot, value):
    changes = [Change('x', value, True)]
    backend = selection.select(Host(sdboot, Runner()))
    backend.apply(backend.plan(changes), changes)
    assert read(sdboot, 'etc/kernel/cmdline').endswith(' x=%s\n' % value)
    assert c.get(kernel_install.bls_options(read(sdboot, SDBOOT_NEW)), 'x') == value


def test_kernel_install_edits_etc_kernel_cmdline_in_place(sdboot):
    write(sdboot, 'etc/kernel/cmdline', SHARED_CMDLINE)
    changes = LUO + [Change('quiet', ANY, False), Change('console', 'ttyS1', True)]
    backend = selection.select(Host(sdboot, Runner()))
    backend.apply(backend.plan(changes), changes)
    assert read(sdboot, 'etc/kernel/cmdline') == 'root=/dev/vda2  ro\nrhgb   console=ttyS1 liveupdate=on kho=on \n'


def test_kernel_install_keeps_a_cmdline_without_final_newline(sdboot):
    write(sdboot, 'etc/kernel/cmdline', 'ro quiet')
    backend = selection.select(Host(sdboot, Runner()))
    backend.apply(backend.plan(LUO), LUO)
    assert read(sdboot, 'etc/kernel/cmdline') == 'ro quiet liveupdate=on kho=on'


def test_kernel_install_edits_options_lines_in_place(sdboot):
    write(sdboot, SDBOOT_NEW, read(sdboot, SDBOOT_NEW).replace('ro console=ttyS0 ', 'ro  console=ttyS0\t'))
    backend = selection.select(Host(sdboot, Runner()))
    backend.apply(backend.plan(LUO), LUO)
    assert 'ro  console=ttyS0\tsystemd.machine_id=9f8e7d6c5b4a39281706f5e4d3c2b1a0 liveupdate=on kho=on\n' in read(sdboot, SDBOOT_NEW)
