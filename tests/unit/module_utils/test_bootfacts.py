# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bootfacts.py: firmware, Secure Boot, the loader's own name and the governing backend, on fixture roots."""
from __future__ import annotations

import os
import struct

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import bootfacts
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host
from ansible_collections.luo.liveupdate.tests.unit.module_utils.bootloader_trees import (  # noqa: F401  pylint: disable=unused-import
    Runner, debian, fedora, sdboot)

# efivarfs prefixes each variable's data with its 4 attribute bytes (here NV+BS+RT).
ATTRIBUTES = struct.pack('<I', 7)


def efi_firmware(root, **variables):
    """Make root look booted by UEFI, with the given EFI variables (name -> data bytes)."""
    efivars = os.path.join(root, bootfacts.EFIVARS.lstrip('/'))
    os.makedirs(efivars, exist_ok=True)
    for name, data in variables.items():
        with open(os.path.join(efivars, name), 'wb') as handle:
            handle.write(ATTRIBUTES + data)


def loader_info(text):
    return (text + '\0').encode('utf-16-le')


def test_bios_debian_grub(debian):
    facts = bootfacts.gather(Host(debian, Runner()))
    assert facts == {'firmware': 'bios', 'secure_boot': None, 'loader': None, 'bootloader': 'grub',
                     'evidence': facts['evidence'], 'error': None}
    assert facts['evidence'][0] == '%s/etc/default/grub exists' % debian


def test_uefi_systemd_boot(sdboot):
    efi_firmware(sdboot, **{bootfacts.SECURE_BOOT_VAR: b'\x00', bootfacts.LOADER_INFO_VAR: loader_info('systemd-boot 262.1')})
    facts = bootfacts.gather(Host(sdboot, Runner()))
    assert (facts['firmware'], facts['secure_boot'], facts['loader'], facts['bootloader']) == (
        'uefi', False, 'systemd-boot 262.1', 'kernel-install')
    assert facts['error'] is None


def test_uefi_grub_older_than_2_12_sets_no_loader_info(debian):
    efi_firmware(debian, **{bootfacts.SECURE_BOOT_VAR: b'\x01'})
    facts = bootfacts.gather(Host(debian, Runner()))
    assert (facts['firmware'], facts['secure_boot'], facts['loader'], facts['bootloader']) == ('uefi', True, None, 'grub')


def test_uefi_without_efivars_mounted(fedora):
    os.makedirs(os.path.join(fedora, 'sys/firmware/efi'))
    facts = bootfacts.gather(Host(fedora, Runner()))
    assert (facts['firmware'], facts['secure_boot'], facts['loader'], facts['bootloader']) == ('uefi', None, None, 'grubby')


@pytest.mark.parametrize('raw', [b'', b'\x07\x00\x00\x00'])
def test_variable_without_data_is_unknown(tmp_path, raw):
    efivars = tmp_path / bootfacts.EFIVARS.lstrip('/')
    efivars.mkdir(parents=True)
    (efivars / bootfacts.SECURE_BOOT_VAR).write_bytes(raw)
    (efivars / bootfacts.LOADER_INFO_VAR).write_bytes(raw)
    host = Host(str(tmp_path), Runner())
    assert bootfacts.secure_boot(host) is None
    assert bootfacts.loader_info(host) is None


def test_loader_info_blank_is_none(tmp_path):
    efi_firmware(str(tmp_path), **{bootfacts.LOADER_INFO_VAR: loader_info('  ')})
    assert bootfacts.loader_info(Host(str(tmp_path), Runner())) is None


def test_no_boot_configuration_says_what_was_looked_for(tmp_path):
    facts = bootfacts.gather(Host(str(tmp_path), Runner()))
    assert facts['bootloader'] is None and facts['evidence'] == []
    assert facts['error'].startswith('no supported boot configuration found under %s' % tmp_path)
    assert 'Set bootloader to grub, grubby or kernel-install' in facts['error']


def test_uefi_grub_2_12_names_itself(debian):
    efi_firmware(debian, **{bootfacts.LOADER_INFO_VAR: loader_info('GRUB 2.14-4')})
    facts = bootfacts.gather(Host(debian, Runner()))
    assert (facts['firmware'], facts['secure_boot'], facts['loader'], facts['bootloader']) == ('uefi', None, 'GRUB 2.14-4', 'grub')
