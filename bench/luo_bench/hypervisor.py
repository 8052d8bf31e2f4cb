# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hypervisor case: a nested guest that filled its RAM, kept across the host's kernel switch three ways.

- hv_live_update: the qemu_guest role's guest (RAM a memfd in the unit's fd store, CPR device state in
  another memfd) and the live_update action: the RAM stays where it is;
- hv_save_reboot: what hypervisors do today (libvirt-guests' managed save): the guest's RAM and device state
  migrated to a file on disk, a cold reboot through the firmware and GRUB, the guest restored from the file;
- hv_save_kexec: the same save and restore around a plain kexec (LUO carries nothing): what the copy to disk
  costs without the firmware.

Per sample: the guest's pause (host clock from the pause to the resume, and the jump of the guest's own RTC),
the host's blackout (its ssh outage by its own journals, ssh.service stopping on the old boot to started on the
new one, each boot's clock set against the controller's; the same for every method: the controller's own view
depends on how often it polls, which the live update's back-off does up to 10 s apart), the bytes the save wrote
to disk, and whether the guest kept its token, boot id, counter and memory (bench/luo_bench/guest_lines.py).
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import time

from .guest_lines import around_pause, boots, filled_and_running
from .methods import Bench
from .vm import BOOT_ID, GUEST_DIR, BenchError

HV_METHODS = ('hv_live_update', 'hv_save_reboot', 'hv_save_kexec')
GUEST_NAME = 'bench'
GUEST_ELF = '/srv/luo-guest/luo-guest.elf'
ROLE_UNIT = 'luo-qemu-guest@%s.service' % GUEST_NAME
ROLE_SERIAL = '/var/log/luo-qemu-guest/%s.serial.log' % GUEST_NAME
ROLE_STATE = '/var/lib/luo-qemu-guest/%s' % GUEST_NAME
OWN_DIR = '/var/lib/luo-bench/managed-guest'  # the managed-save guest: QMP socket, serial log, pid file
SAVE_FILE = '/var/lib/luo-bench/managed-save.state'  # on disk, as libvirt's /var/lib/libvirt/qemu/save
MANAGED_SAVE = 'python3 %s/managed_save.py' % GUEST_DIR
# What a guest's save writes to the disks: sectors written, summed over the VM's disks (diskstats field 10).
SECTORS_WRITTEN = "awk '$3 ~ /^vd[a-z]+$/ { s += $10 } END { print s * 512 }' /proc/diskstats"
FILL_TIMEOUT_S = 900
# When ssh.service stopped on the boot before and started on this one, by each boot's realtime clock.
SSH_STOPPED = "journalctl -b -1 -o short-unix --no-pager -u ssh.service | grep ' Stopping ssh.service' | tail -1"
SSH_STARTED = "journalctl -b 0 -o short-unix --no-pager -u ssh.service | grep ' Started ssh.service' | head -1"


def ssh_outage_s(stopped_line, started_line, offset_before, offset_after):
    """Seconds from ssh.service stopping (a journal line of the old boot, `short-unix`) to it started on the new boot,
    on the controller's clock: each boot's clock less its offset (boot realtime - controller realtime)."""
    lines = {'stopped': stopped_line, 'started': started_line}
    for what, line in lines.items():
        if not line.strip():
            raise BenchError('the journal has no line of ssh.service %s around the kernel switch' % what)
    stopped = float(stopped_line.split()[0]) - offset_before
    started = float(started_line.split()[0]) - offset_after
    return round(started - stopped, 3)


class HvBench(Bench):
    """The three methods on one lab VM with QEMU; the guest's size changes with set_guest_size."""

    def __init__(self, vm, repo, workdir, log):
        super().__init__(vm, repo, workdir, log)
        self.size = None
        self.own_guest = False  # which guest runs: the role's (hv_live_update) or the managed-save one

    def setup_hv(self):
        """QEMU and the role in the VM, the guest built here and copied, the managed-save helper."""
        build = os.path.join(self.workdir, 'luo-guest.elf')
        subprocess.run([os.path.join(self.repo, 'lab', 'hypervisor', 'build-guest'), build], check=True, capture_output=True)
        with open(build, 'rb') as handle:
            self.vm.ssh('mkdir -p /srv/luo-guest && base64 -d > %s' % GUEST_ELF, stdin=base64.b64encode(handle.read()).decode())
        here = os.path.dirname(os.path.abspath(__file__))
        self.vm.put(os.path.join(here, 'managed_save.py'), GUEST_DIR + '/managed_save.py')
        self.vm.put(os.path.join(here, 'guest.py'), GUEST_DIR + '/guest.py')  # its clock, for clock_offset()
        self.kernels = sorted(name[len('vmlinuz-'):] for name in self.vm.ssh('ls /boot').split() if name.startswith('vmlinuz-'))

    def set_guest_size(self, mib):
        """The role's guest with mib MiB, booted afresh (a new size applies only to a fresh boot), RAM filled."""
        self.log('guest: %d MiB, booted afresh and filled' % mib)
        self.stop_own_guest()
        booted = boots(self.serial_lines(ROLE_SERIAL))
        self.vm.ssh('systemctl stop %s 2>/dev/null; systemctl clean --what=fdstore %s 2>/dev/null; true' % (ROLE_UNIT, ROLE_UNIT))
        self.playbook('hypervisor.yml', {'bench_guest_mib': mib, 'bench_guest_kernel': GUEST_ELF})
        self.size = mib
        self.wait_filled(ROLE_SERIAL, booted)

    def use_own_guest(self):
        """From the role's guest to the managed-save guest of the same size (the role's unit stopped and disabled)."""
        if self.own_guest:
            return
        self.vm.ssh('systemctl disable --now %s && systemctl clean --what=fdstore %s' % (ROLE_UNIT, ROLE_UNIT))
        self.vm.ssh('rm -rf %s && %s start %s %d %s fill' % (OWN_DIR, MANAGED_SAVE, OWN_DIR, self.size, GUEST_ELF))
        self.own_guest = True
        self.wait_filled(OWN_DIR + '/serial.log')

    def stop_own_guest(self):
        if self.own_guest:
            self.vm.ssh('kill $(cat %s/qemu.pid) 2>/dev/null; rm -f %s; true' % (OWN_DIR, SAVE_FILE))
            self.vm.ssh('systemctl enable --quiet %s' % ROLE_UNIT)
            self.own_guest = False

    def wait_filled(self, serial, boots_before=0):
        """Until the guest (one that booted after the log's first boots_before) filled its RAM and runs."""
        deadline = time.monotonic() + FILL_TIMEOUT_S
        while not filled_and_running(self.serial_lines(serial), boots_before):
            if time.monotonic() > deadline:
                raise BenchError('VM %s: the guest did not fill its %d MiB within %d s; its log: %s'
                                 % (self.vm.name, self.size, FILL_TIMEOUT_S, self.serial_lines(serial)[-5:]))
            time.sleep(2)

    def serial_lines(self, path):
        rc, out, _err = self.vm.ssh('cat %s' % path, timeout=60, check=False)
        return out.splitlines() if rc == 0 else []

    # --- one sample -------------------------------------------------------------

    def measure_hv(self, method, run):
        # The live update's save goes to memfds: what it writes to disk is measured on a restart of the unit
        # (the same save and resume the kexec's stop and start run), before the sample's own pause.
        disk_bytes = self.restart_bytes() if method == 'hv_live_update' else None
        if method != 'hv_live_update':
            self.use_own_guest()
        serial = OWN_DIR + '/serial.log' if self.own_guest else ROLE_SERIAL
        self.wait_filled(serial)  # running, its last line a check after the last pause
        boot_id, release = self.vm.ssh('%s; uname -r' % BOOT_ID).split()
        before = self.serial_lines(serial)
        offset_before = self.vm.clock_offset()[0]
        self.log('run %d, guest %d MiB: %s from %s' % (run + 1, self.size, method, release))
        figures = getattr(self, method)(boot_id, release)
        figures['host_blackout_s'] = ssh_outage_s(self.vm.ssh(SSH_STOPPED), self.vm.ssh(SSH_STARTED), offset_before,
                                                  self.vm.clock_offset()[0])
        if disk_bytes is not None:
            figures['disk_bytes'] = disk_bytes
        after = self.serial_lines(serial)[len(before):]
        guest = around_pause(before, after)
        sample = dict(figures, method=method, size_mib=self.size, run=run, kernel_from=release,
                      kernel_to=self.vm.ssh('uname -r').strip(), guest=guest)
        self.log('  guest paused %.1f s (its clock: %s s), host away %.1f s (ssh down; the controller saw it back after '
                 '%.1f s), %d bytes to disk, guest %s'
                 % (sample['pause_s'], guest['rtc_pause_s'], sample['host_blackout_s'], sample['controller_back_s'],
                    sample['disk_bytes'],
                    'kept' if guest['kept'] and guest['memory_ok'] else 'NOT kept'))
        return sample

    # --- the methods --------------------------------------------------------------

    def hv_live_update(self, boot_id, release):
        """The live update with the role's guest: its RAM stays in its memfd, its device state goes to another."""
        start = time.time()
        result, _wall = self.playbook('live_update.yml', {
            'bench_kernel': self.other_kernel(release),
            'bench_test_command': 'timeout 1200 sh -c "until systemctl is-active --quiet %s; do sleep 1; done"' % ROLE_UNIT})
        self.vm.wait_back(boot_id, 'systemctl is-active --quiet %s' % ROLE_UNIT)
        record = json.loads(self.vm.ssh('cat %s/last-start.json' % ROLE_STATE))
        return {'pause_s': record.get('pause_to_resume_s'), 'controller_back_s': (result.get('blackout') or {}).get('controller_s'),
                'state_bytes': record.get('state_bytes'), 'elapsed_s': round(time.time() - start, 3)}

    def restart_bytes(self):
        """Bytes written to the disks while the role saves and resumes the guest (what the kexec's stop does)."""
        self.vm.ssh('sync')
        before = int(self.vm.ssh(SECTORS_WRITTEN))
        self.vm.ssh('systemctl restart %s && sync' % ROLE_UNIT)
        return int(self.vm.ssh(SECTORS_WRITTEN)) - before

    def hv_save_reboot(self, boot_id, release):
        return self.save_around(boot_id, release, "/bin/sh -c 'systemctl reboot'")

    def hv_save_kexec(self, boot_id, release):
        return self.save_around(boot_id, release, 'kexec -s -l %s --reuse-cmdline && systemctl --no-block kexec'
                                % self.other_kernel(release))

    def save_around(self, boot_id, _release, command):
        """Managed save to disk, the host switched by command, restore; times from the helper's host clock."""
        saved = json.loads(self.vm.ssh('%s save %s %s' % (MANAGED_SAVE, OWN_DIR, SAVE_FILE)))
        start = time.time()
        self.trigger(command)
        back_at = self.vm.wait_back(boot_id, 'true', serial_from=self.vm.serial_size())
        restored = json.loads(self.vm.ssh('%s restore %s %s %d %s fill' % (MANAGED_SAVE, OWN_DIR, SAVE_FILE, self.size, GUEST_ELF)))
        return {'pause_s': round(restored['resumed_at'] - saved['stopped_at'], 3), 'controller_back_s': round(back_at - start, 3),
                'disk_bytes': saved['bytes'], 'save_s': saved['save_s'], 'load_s': restored['load_s']}
