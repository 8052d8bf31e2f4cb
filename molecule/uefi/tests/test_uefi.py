# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After converge: each UEFI VM came back cold through its loader with the LUO parameters on disk and in use."""
from __future__ import annotations


def test_booted_by_uefi_with_the_parameters(host):
    assert host.file('/sys/firmware/efi').is_directory
    cmdline = host.file('/proc/cmdline').content_string.split()
    assert 'liveupdate=on' in cmdline
    assert 'kho=on' in cmdline
    assert host.run('test -c /dev/liveupdate').rc == 0


def test_the_boot_configuration_carries_the_parameters(host):
    if host.backend.host == 'uefi-sdboot':
        assert 'liveupdate=on kho=on' in host.file('/etc/kernel/cmdline').content_string
        entries = host.check_output('ls /boot/efi/loader/entries/*.conf').split()
        assert len(entries) == 2
        for entry in entries:
            options = [line for line in host.file(entry).content_string.splitlines() if line.startswith('options')]
            assert options and all('liveupdate=on' in line and 'kho=on' in line for line in options)
    else:
        assert 'liveupdate=on kho=on' in host.file('/etc/default/grub.d/90-luo-liveupdate.cfg').content_string
        linux = [line for line in host.file('/boot/grub/grub.cfg').content_string.splitlines()
                 if line.strip().startswith('linux') and ' single' not in line]
        assert linux and all('liveupdate=on kho=on' in line for line in linux)
