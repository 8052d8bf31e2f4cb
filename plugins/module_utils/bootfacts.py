# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the host boots: firmware (BIOS or UEFI), Secure Boot, the boot loader that started this boot,
and the boot configuration that governs the next one. Read only."""

from __future__ import annotations

import os

from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader import selection
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.common import BootloaderError

# Present only when the kernel was started by UEFI firmware (and kept its runtime services).
EFI_DIR = '/sys/firmware/efi'
EFIVARS = '/sys/firmware/efi/efivars'
SECURE_BOOT_VAR = 'SecureBoot-8be4df61-93ca-11d2-aa0d-e98c0ba1d65b'
# Set by boot loaders that follow the Boot Loader Interface: "systemd-boot 262.1-1", "GRUB 2.14-4" (GRUB >= 2.12).
LOADER_INFO_VAR = 'LoaderInfo-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f'


def gather(host):
    """Firmware, Secure Boot, the loader that booted, and which backend governs the next boot's command line."""
    uefi = os.path.isdir(host.path(EFI_DIR))
    facts = {
        'firmware': 'uefi' if uefi else 'bios',
        'secure_boot': secure_boot(host) if uefi else None,
        'loader': loader_info(host) if uefi else None,
        'bootloader': None,
        'evidence': [],
        'error': None,
    }
    try:
        detection = selection.detect(host)
    except BootloaderError as exc:
        facts['error'] = str(exc)
    else:
        facts['bootloader'] = detection.backend
        facts['evidence'] = list(detection.evidence)
    return facts


def efi_variable(host, name):
    """The data of an EFI variable (without efivarfs' 4 attribute bytes), None when unset or unreadable."""
    try:
        with open(host.path(os.path.join(EFIVARS, name)), 'rb') as handle:
            raw = handle.read()
    except OSError:
        return None
    return raw[4:] if len(raw) > 4 else None


def secure_boot(host):
    """Whether the firmware enforces Secure Boot; None when the firmware does not say."""
    data = efi_variable(host, SECURE_BOOT_VAR)
    return None if data is None else data[0] == 1


def loader_info(host):
    """The loader's own name and version from LoaderInfo (UTF-16, NUL-terminated), None when it set none."""
    data = efi_variable(host, LOADER_INFO_VAR)
    if data is None:
        return None
    text = data.decode('utf-16-le', 'replace').split('\0', 1)[0].strip()
    return text or None
