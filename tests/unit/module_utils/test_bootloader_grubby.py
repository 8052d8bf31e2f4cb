# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The grubby backend: grubby --update-kernel on the boot entries, and /etc/kernel/cmdline in step."""
from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as c
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader import common, grubby, selection
from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline import ANY, Change
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host
from ansible_collections.luo.liveupdate.tests.unit.module_utils.bootloader_trees import (  # noqa: F401  pylint: disable=unused-import
    FEDORA_ID, FEDORA_NEW, FEDORA_OLD, LUO, Runner, SHARED_CMDLINE, fedora, read, tree_state, write)

GRUBBY_INFO = '''index=0
kernel="/boot/vmlinuz-6.12.5-200.fc41.x86_64"
args="ro rootflags=subvol=root rhgb quiet"
root="UUID=0f1e"
initrd="/boot/initramfs-6.12.5-200.fc41.x86_64.img"
title="Fedora Linux (6.12.5-200.fc41.x86_64) 41 (Server Edition)"
id="x-6.12.5"
index=1
kernel=/boot/vmlinuz-6.11.9
args="root=/dev/sda1 ro a="b c""
index=2
non linux entry
'''


def test_parse_grubby_info():
    entries = grubby.parse_grubby_info(GRUBBY_INFO)
    assert [(e.index, e.kernel, c.render(e.cmdline)) for e in entries] == [
        ('0', '/boot/vmlinuz-6.12.5-200.fc41.x86_64', 'root=UUID=0f1e ro rootflags=subvol=root rhgb quiet'),
        ('1', '/boot/vmlinuz-6.11.9', 'root=/dev/sda1 ro a="b c"'),
    ]
    assert grubby.parse_grubby_info('') == []


def entry(text, index='0'):
    return grubby.GrubbyEntry(index, '/boot/vmlinuz-%s' % index, c.parse(text))


def test_grubby_arguments():
    entries = [entry('ro quiet kho-scratch=1G console=tty0 console=ttyS0'), entry('ro liveupdate=on kho_scratch=2G', '1')]
    changes = [Change('liveupdate', 'on', True), Change('kho_scratch', '4G', True), Change('quiet', ANY, False),
               Change('console', 'tty0', False), Change('nokaslr', ANY, False)]
    assert grubby.grubby_arguments(entries, changes) == (['kho-scratch', 'kho_scratch', 'quiet', 'console=tty0'], ['liveupdate=on', 'kho_scratch=4G'])
    assert grubby.grubby_arguments(entries, [Change('ro', None, True)]) == ([], [])


def test_grubby_adds_and_removes_on_all_entries(fedora):
    changes = LUO + [Change('rhgb', ANY, False)]
    backend = selection.select(Host(fedora, Runner()))
    plan = backend.plan(changes)
    grubby = os.path.join(fedora, 'usr/sbin/grubby')
    assert plan.commands == ((grubby, '--update-kernel=ALL', '--remove-args=rhgb', '--args=liveupdate=on kho=on'),)
    assert plan.next_before == 'root=UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro rootflags=subvol=root rhgb quiet'
    assert plan.next_after == 'root=UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro rootflags=subvol=root quiet liveupdate=on kho=on'
    assert plan.files == (common.FileChange(os.path.join(fedora, 'etc/kernel/cmdline'),
                                            'root=UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro rootflags=subvol=root rhgb quiet\n',
                                            'root=UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro rootflags=subvol=root quiet liveupdate=on kho=on\n'),)
    assert backend.outputs(plan) == []
    changed = backend.apply(plan, changes)
    assert changed == sorted(os.path.join(fedora, path) for path in (FEDORA_NEW, FEDORA_OLD, 'etc/kernel/cmdline'))
    for path in (FEDORA_NEW, FEDORA_OLD):
        assert 'options root=UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro rootflags=subvol=root quiet liveupdate=on kho=on\n' in read(fedora, path)
    assert backend.next_cmdline(plan) == plan.next_after
    second = selection.select(Host(fedora, Runner())).plan(changes)
    assert not second.changed and second.commands == () and second.files == ()


def test_grubby_without_etc_kernel_cmdline_only_runs_grubby(fedora):
    os.remove(os.path.join(fedora, 'etc/kernel/cmdline'))
    backend = selection.select(Host(fedora, Runner()))
    plan = backend.plan(LUO)
    assert plan.files == ()
    backend.apply(plan, LUO)
    assert read(fedora, 'etc/kernel/cmdline') is None


def test_grubby_default_kernel_only(fedora):
    backend = selection.select(Host(fedora, Runner()), kernel='DEFAULT')
    plan = backend.plan(LUO)
    assert plan.commands[0][1] == '--update-kernel=DEFAULT'
    backend.apply(plan, LUO)
    assert 'kho=on' in read(fedora, FEDORA_NEW)
    assert 'kho=on' not in read(fedora, FEDORA_OLD)


def test_grubby_follows_the_saved_default_entry(fedora):
    write(fedora, 'boot/grub2/grubenv', 'saved_entry=%s-6.11.9-300.fc41.x86_64\n' % FEDORA_ID)
    write(fedora, FEDORA_OLD, read(fedora, FEDORA_OLD).replace(' quiet', ' quiet kho=on'))
    plan = selection.select(Host(fedora, Runner())).plan([Change('kho', 'on', True)])
    assert plan.next_before.endswith('quiet kho=on')
    assert plan.next_before == plan.next_after
    assert plan.changed


def test_grubby_replaces_other_spellings(fedora):
    write(fedora, FEDORA_NEW, read(fedora, FEDORA_NEW).replace(' quiet', ' quiet kho-scratch=1G'))
    changes = [Change('kho_scratch', '2G', True)]
    backend = selection.select(Host(fedora, Runner()))
    plan = backend.plan(changes)
    assert plan.commands[0][2:] == ('--remove-args=kho-scratch', '--args=kho_scratch=2G')
    backend.apply(plan, changes)
    assert read(fedora, FEDORA_NEW).count('kho') == 1 and 'kho_scratch=2G' in read(fedora, FEDORA_NEW)


def test_grubby_named_kernel(fedora):
    backend = selection.select(Host(fedora, Runner()), kernel='/boot/vmlinuz-6.11.9-300.fc41.x86_64')
    plan = backend.plan(LUO)
    assert plan.next_after.endswith('liveupdate=on kho=on')
    backend.apply(plan, LUO)
    assert 'kho=on' in read(fedora, FEDORA_OLD) and 'kho=on' not in read(fedora, FEDORA_NEW)


def test_grubby_unknown_kernel_is_refused(fedora):
    message = r'reading the boot entries failed \(.*--info=/boot/vmlinuz-0 exited with 1\): The param /boot/vmlinuz-0 is incorrect'
    with pytest.raises(common.BootloaderError, match=message):
        selection.select(Host(fedora, Runner()), kernel='/boot/vmlinuz-0').plan(LUO)


def test_grubby_without_entries_is_refused(fedora):
    shutil.rmtree(os.path.join(fedora, 'boot/loader/entries'))
    os.makedirs(os.path.join(fedora, 'boot/loader/entries'))
    with pytest.raises(common.BootloaderError, match='grubby --info=ALL lists no boot entry: give kernel as ALL, DEFAULT or the path of an installed kernel'):
        selection.select(Host(fedora, Runner())).plan(LUO)


def test_grubby_empty_listing_is_refused(tmp_path):
    root = str(tmp_path)
    write(root, 'usr/sbin/grubby', '#!/bin/sh\nexit 0\n')
    os.chmod(os.path.join(root, 'usr/sbin/grubby'), 0o755)
    with pytest.raises(common.BootloaderError, match='grubby --info=ALL lists no boot entry'):
        selection.select(Host(root, Runner())).plan(LUO)


def test_grubby_refuses_values_with_whitespace(fedora):
    with pytest.raises(common.BootloaderError, match="value for dyndbg is 'file x.c \\+p': grubby splits --args at whitespace"):
        selection.select(Host(fedora, Runner())).plan([Change('dyndbg', 'file x.c +p', True)])


@pytest.mark.parametrize('kernel', ['', '  ', None])
def test_grubby_refuses_an_empty_kernel(fedora, kernel):
    with pytest.raises(common.BootloaderError, match='is empty: give ALL, DEFAULT, an entry index or the path of a kernel image'):
        selection.select(Host(fedora, Runner()), kernel=kernel)


def test_grubby_failure_restores_every_file(fedora):
    write(fedora, 'fail-grubby', 'grubby fatal error: unable to write\n')
    before = tree_state(fedora)
    backend = selection.select(Host(fedora, Runner()))
    with pytest.raises(common.BootloaderError) as error:
        backend.apply(backend.plan(LUO), LUO)
    assert 'exited with 1): grubby fatal error: unable to write; the previous files were restored, nothing changed' in str(error.value)
    assert tree_state(fedora) == before


def test_grubby_that_does_not_apply_the_change_is_caught(fedora):
    write(fedora, 'usr/sbin/grubby', read(fedora, 'usr/sbin/grubby').replace('return words + add', 'return words'))
    before = tree_state(fedora)
    backend = selection.select(Host(fedora, Runner()))
    with pytest.raises(common.BootloaderError, match='grubby ran but the entries for /boot/vmlinuz-6.12.5-200.fc41.x86_64, '
                       '/boot/vmlinuz-6.11.9-300.fc41.x86_64 still lack the requested parameters'):
        backend.apply(backend.plan(LUO), LUO)
    assert tree_state(fedora) == before


def test_grubby_guarded_files(fedora):
    guarded = selection.select(Host(fedora, Runner())).guarded()
    assert guarded == sorted(os.path.join(fedora, path) for path in (FEDORA_NEW, FEDORA_OLD, 'boot/grub2/grubenv', 'etc/default/grub'))


def test_grubby_next_entry_falls_back_to_the_first(fedora):
    backend = selection.select(Host(fedora, lambda argv, text: (0, '7\n', '')))
    entries = [entry('a', '0'), entry('b', '1')]
    assert backend._next_entry(entries) == entries[0]
    backend = selection.select(Host(fedora, lambda argv, text: (1, '', 'error')))
    assert backend._next_entry(entries) == entries[0]
    backend = selection.select(Host(fedora, lambda argv, text: (0, '1\n', '')))
    assert backend._next_entry(entries) == entries[1]


@pytest.mark.parametrize('value', ['7;echo', '$prefix', 'a#b', 'bar\\', "it's", '{x}'])
def test_grubby_refuses_values_grub_would_rewrite(fedora, value):
    before = tree_state(fedora)
    with pytest.raises(common.BootloaderError) as error:
        selection.select(Host(fedora, Runner())).plan([Change('x', value, True)])
    assert str(error.value) == ('value for x is %r: grubby writes it unquoted into the boot entries, whose options GRUB reads as script; '
                                'use letters, digits and _ . , : / + = @ %% - only, or bootloader: kernel-install (systemd-boot)' % value)
    assert tree_state(fedora) == before


def test_grubby_edits_etc_kernel_cmdline_in_place(fedora):
    write(fedora, 'etc/kernel/cmdline', SHARED_CMDLINE)
    changes = LUO + [Change('rhgb', ANY, False)]
    backend = selection.select(Host(fedora, Runner()))
    backend.apply(backend.plan(changes), changes)
    assert read(fedora, 'etc/kernel/cmdline') == 'root=/dev/vda2  ro\tquiet   console=ttyS0,115200 liveupdate=on kho=on \n'
    assert 'kho=on' in read(fedora, FEDORA_NEW)


def test_grubby_that_cannot_be_started_changes_nothing(fedora):
    write(fedora, 'usr/sbin/grubby', '#!/nonexistent/bash\n')
    before = tree_state(fedora)
    with pytest.raises(common.BootloaderError) as error:
        selection.select(Host(fedora, Runner())).plan(LUO)
    assert str(error.value) == ('reading the boot entries failed: cannot run %s/usr/sbin/grubby: its interpreter (#!/nonexistent/bash) '
                                'does not exist; repair or reinstall it' % fedora)
    assert tree_state(fedora) == before


def test_grubby_next_cmdline_is_the_one_verified(fedora):
    backend = selection.select(Host(fedora, Runner()))
    plan = backend.plan(LUO)
    backend.apply(plan, LUO)
    write(fedora, 'usr/sbin/grubby', '#!/nonexistent/bash\n')
    assert backend.next_cmdline(plan) == plan.next_after


@pytest.mark.parametrize('kernel, message', [
    ('/boot/vmlinuz\0x', "kernel '/boot/vmlinuz\\x00x' contains a NUL byte"),
    ('/boot/vmlinuz\nx', "kernel '/boot/vmlinuz\\nx' contains a newline"),
    ('vmlinuz-6.12', "kernel 'vmlinuz-6.12' is not ALL, DEFAULT, an entry index or the absolute path of a kernel image"),
])
def test_grubby_refuses_a_kernel_it_cannot_pass(fedora, kernel, message):
    with pytest.raises(common.BootloaderError) as error:
        selection.select(Host(fedora, Runner()), kernel=kernel)
    assert str(error.value) == message + ': give ALL, DEFAULT, an entry index or the path of a kernel image, e.g. /boot/vmlinuz-6.12.0'
