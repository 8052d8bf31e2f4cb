# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After converge: the VM came back through GRUB with the LUO parameters, LUO is on."""
from __future__ import annotations


def test_booted_through_grub_with_the_parameters(host):
    cmdline = host.file('/proc/cmdline').content_string.split()
    assert any(arg.startswith('BOOT_IMAGE=') for arg in cmdline)
    assert 'liveupdate=on' in cmdline
    assert 'kho=on' in cmdline


def test_liveupdate_device_is_there(host):
    assert host.file('/dev/liveupdate').exists
    assert host.run('test -c /dev/liveupdate').rc == 0


def test_packaged_grub_defaults_are_untouched(host):
    assert 'liveupdate' not in host.file('/etc/default/grub').content_string
    dropin = host.file('/etc/default/grub.d/90-luo-liveupdate.cfg')
    assert dropin.exists
    assert 'liveupdate=on kho=on' in dropin.content_string


def test_grub_cfg_carries_the_parameters(host):
    # Recovery entries ("ro single") get GRUB_CMDLINE_LINUX only, not the _DEFAULT the drop-in sets.
    linux_lines = [line for line in host.file('/boot/grub/grub.cfg').content_string.splitlines()
                   if line.strip().startswith('linux') and ' single' not in line]
    assert linux_lines
    assert all('liveupdate=on kho=on' in line for line in linux_lines)


def test_a_value_grub_would_run_as_a_command_reached_the_kernel_as_written(host):
    # luo_grub_quoting=7;echo: unquoted, GRUB would end the linux command at ';' and run 'echo'.
    assert 'luo_grub_quoting=7;echo' in host.file('/proc/cmdline').content_string.split()


def test_the_admins_drop_in_is_untouched(host):
    assert host.file('/etc/default/grub.d/50-admin-serial.cfg').content_string == 'GRUB_TERMINAL_OUTPUT="serial console"\n'
