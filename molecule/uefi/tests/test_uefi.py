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


# What kernel_cmdline wrote on the GRUB host, in detail (the first play of converge).

def grub_host(host):
    return host.backend.host == 'uefi-grub'


def test_grub_booted_through_grub_with_a_value_it_would_run_as_a_command_as_written(host):
    if not grub_host(host):
        return
    cmdline = host.file('/proc/cmdline').content_string.split()
    assert any(arg.startswith('BOOT_IMAGE=') for arg in cmdline)
    # luo_grub_quoting=7;echo: unquoted, GRUB would end the linux command at ';' and run 'echo'.
    assert 'luo_grub_quoting=7;echo' in cmdline


def test_grub_packaged_defaults_and_the_admins_drop_in_are_untouched(host):
    if not grub_host(host):
        return
    assert 'liveupdate' not in host.file('/etc/default/grub').content_string
    assert host.file('/etc/default/grub.d/50-admin-serial.cfg').content_string == 'GRUB_TERMINAL_OUTPUT="serial console"\n'
