# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After converge: each UEFI VM came back cold through its loader with the LUO parameters on disk and in use."""
from __future__ import annotations


def test_booted_by_uefi_with_the_parameters(host):
    assert host.file('/sys/firmware/efi').is_directory
    cmdline = host.file('/proc/cmdline').content_string.split()
    assert 'liveupdate=on' in cmdline
    assert 'kho=on' in cmdline
    assert host.file('/dev/liveupdate').exists
    assert host.run('test -c /dev/liveupdate').rc == 0


def test_the_loader_started_the_kernel_with_what_the_module_wrote(host):
    cmdline = host.file('/proc/cmdline').content_string.split()
    if host.backend.host == 'uefi-sdboot':
        # systemd-boot hands the entry's options line over as it is: no GRUB BOOT_IMAGE=.
        assert not any(arg.startswith('BOOT_IMAGE=') for arg in cmdline)
        assert 'liveupdate=on kho=on' in host.file('/etc/kernel/cmdline').content_string
        entries = host.check_output('ls /boot/efi/loader/entries/*.conf').split()
        assert len(entries) == 2
        for entry in entries:
            options = [line for line in host.file(entry).content_string.splitlines() if line.startswith('options')]
            assert options and all('liveupdate=on' in line and 'kho=on' in line for line in options)
        return
    # GRUB: what kernel_cmdline wrote in the first play of converge, in detail.
    assert any(arg.startswith('BOOT_IMAGE=') for arg in cmdline)
    # luo_grub_quoting=7;echo: unquoted, GRUB would end the linux command at ';' and run 'echo'.
    assert 'luo_grub_quoting=7;echo' in cmdline
    dropin = host.file('/etc/default/grub.d/90-luo-liveupdate.cfg')
    assert dropin.exists
    assert 'liveupdate=on kho=on' in dropin.content_string
    linux = [line for line in host.file('/boot/grub/grub.cfg').content_string.splitlines()
             if line.strip().startswith('linux') and ' single' not in line]
    assert linux and all('liveupdate=on kho=on' in line for line in linux)
    # The packaged defaults and an admin's own drop-in are never rewritten.
    assert 'liveupdate' not in host.file('/etc/default/grub').content_string
    assert host.file('/etc/default/grub.d/50-admin-serial.cfg').content_string == 'GRUB_TERMINAL_OUTPUT="serial console"\n'
