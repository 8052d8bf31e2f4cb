# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every lab VM boots with the lab's kernel parameters: no_timer_check keeps a starved TCG vCPU from failing
the kernel's IO-APIC timer check and panicking (seen on a kexec into 7.3.4, lab/README.md)."""
from __future__ import annotations

import pathlib
import re
import subprocess

LAB = pathlib.Path(__file__).resolve().parents[1]


def lab_kernel_params():
    done = subprocess.run(['bash', '-c', '. "$1/lib.sh"; printf %s "$LAB_KERNEL_PARAMS"', 'lib', str(LAB)],
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_the_params_have_the_serial_console_and_no_timer_check():
    assert lab_kernel_params() == ['console=ttyS0', 'no_timer_check']


def test_every_way_a_lab_disk_boots_takes_them():
    rootfs, disk = (LAB / 'rootfs').read_text(), (LAB / 'disk').read_text()
    assert 'GRUB_CMDLINE_LINUX="$LAB_KERNEL_PARAMS"' in rootfs  # the BIOS and GRUB-EFI disks, and what a kexec reuses
    assert re.search(r'^SDBOOT_CMDLINE="root=/dev/vda2 rw \$LAB_KERNEL_PARAMS"$', disk, re.M)  # systemd-boot
    assert '-append "root=$root rw $LAB_KERNEL_PARAMS"' in disk  # the disks' first boot
    assert not re.search(r'console=ttyS0', rootfs + disk), 'a command line written out instead of LAB_KERNEL_PARAMS'


def test_a_change_of_the_params_rebuilds_the_cached_tree():
    key = re.search(r'^tree_key\(\) \{.*?^\}', (LAB / 'rootfs').read_text(), re.M | re.S).group(0)
    assert '"$LAB_KERNEL_PARAMS"' in key
