# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The measured ways through a kernel switch, on one lab VM; each returns one raw sample.

- live_update: the luo.liveupdate.live_update action (ansible-playbook), state carried by LUO;
- raw_kexec: what the action automates, by hand: kexec -s -l + systemctl kexec, state carried;
- kexec_no_state: the same kexec, with the demo's FileDescriptorStorePreserve=no (runtime
  drop-in): LUO stays on, only the service state is not carried, so it is rebuilt;
- cold_reboot: ansible.builtin.reboot through the firmware and GRUB, state lost and rebuilt;
- disk_round_trip: the state written to disk, a cold reboot, read back and hashed at boot;
- live_update_uefi, cold_reboot_uefi: live_update and cold_reboot on a VM that boots through
  UEFI firmware (OVMF) and GRUB-EFI, made ready with the luo.liveupdate.host role.
Kexec targets alternate: always the installed LUO kernel that is not running.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from . import timeline
from .vm import BOOT_ID, GUEST, GUEST_DIR, BenchError

DEMO_UNIT = 'luo-demo-memfd.service'
DEMO_READY = 'systemctl is-active --quiet %s' % DEMO_UNIT
READBACK_READY = 'grep -qF "$(%s)" /var/lib/luo-bench/readback.json' % BOOT_ID
# The blackout of a cold boot starts at this mark: systemd restores no shutdown timestamps then.
MARK = 'date +%s.%N > /var/lib/luo-bench/mark'
SIZE_DROPIN = '/etc/systemd/system/%s.d/50-luo-bench.conf' % DEMO_UNIT
# Under /run: gone after the next boot, so only one kexec runs without the demo's state.
NO_PRESERVE_DROPIN = '/run/systemd/system/%s.d/50-luo-bench-no-preserve.conf' % DEMO_UNIT
# Sandboxed like the demo unit, so that its start costs what the demo's would.
READBACK_UNIT = """[Unit]
Description=luo-bench: read the demo state back from disk after a cold boot
ConditionPathExists=/var/lib/luo-bench/state.bin

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 %s/guest.py readback
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ReadWritePaths=/var/lib/luo-bench

[Install]
WantedBy=multi-user.target
""" % GUEST_DIR
KEEPER_DIR = '/run/luo-bench'
KEEPER_DROPIN = """[Service]
ReadWritePaths=%s
TimeoutSec=1800
""" % KEEPER_DIR
METHODS = ('live_update', 'raw_kexec', 'kexec_no_state', 'cold_reboot', 'disk_round_trip')
# Measured on the UEFI VM, at the smallest size: the same steps as the BIOS methods they name.
UEFI_METHODS = {'live_update_uefi': 'live_update', 'cold_reboot_uefi': 'cold_reboot'}
RAW_POLL_S = 1.0


class Bench:
    """The methods on one VM. workdir holds the inventory and the playbook logs."""

    def __init__(self, vm, repo, workdir, log):
        self.vm = vm
        self.repo = repo
        self.workdir = workdir
        self.log = log
        self.kernels = []
        self.plays = 0
        self.inventory = os.path.join(workdir, 'inventory-%s.json' % vm.name)
        self.write_inventory()

    # --- setup -------------------------------------------------------------

    def setup(self):
        """The guest helper, the read-back unit and the luo-state keeper in the VM."""
        here = os.path.dirname(os.path.abspath(__file__))
        self.vm.put(os.path.join(here, 'guest.py'), GUEST_DIR + '/guest.py')
        self.vm.write('/etc/systemd/system/luo-bench-readback.service', READBACK_UNIT)
        preserve = os.path.join(self.repo, 'roles', 'preserve', 'files')
        self.vm.put(os.path.join(preserve, 'luo-state'), '/usr/local/sbin/luo-state')
        modules = os.path.join(preserve, 'luo-liveupdate')  # the program imports them from ../lib/luo-liveupdate
        for name in sorted(n for n in os.listdir(modules) if n.endswith('.py')):
            self.vm.put(os.path.join(modules, name), '/usr/local/lib/luo-liveupdate/' + name)
        self.vm.put(os.path.join(preserve, 'luo-state@.service'), '/etc/systemd/system/luo-state@.service')
        self.vm.write('/etc/systemd/system/luo-state@.service.d/50-luo-bench.conf', KEEPER_DROPIN)
        self.vm.ssh('systemctl daemon-reload && systemctl enable --quiet luo-bench-readback.service && mkdir -p /var/lib/luo-bench')
        self.kernels = sorted(name[len('vmlinuz-'):] for name in self.vm.ssh('ls /boot').split() if name.startswith('vmlinuz-'))
        if len(self.kernels) < 2:
            raise BenchError('VM %s has kernels %s in /boot: the lab disk needs both LUO kernels' % (self.vm.name, self.kernels))

    def write_inventory(self):
        """An inventory with the VM alone, for the playbooks."""
        info = self.vm.info
        host = {'ansible_host': info['address'], 'ansible_port': info['port'], 'ansible_user': info['user'],
                'ansible_ssh_private_key_file': os.path.expanduser(info['identity_file']),
                'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null '
                                           '-o ConnectTimeout=10 -o ServerAliveInterval=5 -o ServerAliveCountMax=3',
                'ansible_python_interpreter': '/usr/bin/python3'}
        with open(self.inventory, 'w', encoding='utf-8') as handle:
            json.dump({'all': {'hosts': {self.vm.name: host}}}, handle)

    def enable_luo(self):
        """Make a VM that boots without the LUO parameters ready, as a user would: the host role, a cold reboot."""
        self.log('VM %s: enabling LUO with the luo.liveupdate.host role (cold reboot)' % self.vm.name)
        result, _wall = self.playbook('enable.yml', {})
        if not result.get('ready'):
            raise BenchError('VM %s is not ready for a live update after the host role: %s'
                             % (self.vm.name, [reason.get('message') for reason in result.get('reasons', [])]))

    def set_size(self, mib):
        """Give the demo a new state of mib MiB: drop-in, fd store cleared, started again."""
        self.log('demo state: %d MiB (new random state)' % mib)
        self.vm.write(SIZE_DROPIN, '[Service]\nEnvironment=LUO_DEMO_SIZE_MIB=%d\nTimeoutStartSec=1800\n' % mib)
        self.vm.ssh('systemctl daemon-reload && systemctl stop %s && systemctl clean --what=fdstore %s && systemctl start %s'
                    % (DEMO_UNIT, DEMO_UNIT, DEMO_UNIT))

    def recover(self, mib):
        """After a failed sample: wait for the VM, give the demo a fresh state of mib MiB."""
        self.log('recovering: waiting for the VM, then a new demo state')
        self.vm.wait_back(None, 'systemctl enable --quiet %s' % DEMO_UNIT)
        self.set_size(mib)

    def other_kernel(self, release):
        others = [name for name in self.kernels if name != release]
        return '/boot/vmlinuz-' + others[-1]

    # --- one sample ----------------------------------------------------------

    def measure(self, method, size_mib, run):
        """Run one method; the sample with both snapshots, the timeline and what the method adds."""
        before = self.vm.snapshot()
        if not before['demo_health'] or before['demo_state_bytes'] != size_mib * 1024 * 1024:
            raise BenchError('before %s: the demo answers %r with %r bytes of state, expected %d MiB: look at `systemctl status %s` in VM %s'
                             % (method, before['demo_health'], before['demo_state_bytes'], size_mib, DEMO_UNIT, self.vm.name))
        self.log('run %d, %d MiB: %s from %s' % (run + 1, size_mib, method, before['release']))
        extra = getattr(self, UEFI_METHODS.get(method, method))(before)
        after = self.vm.snapshot()
        until = 'readback' if method == 'disk_round_trip' else 'demo'
        sample = {'method': method, 'size_mib': size_mib, 'run': run, 'kernel_from': before['release'],
                  'kernel_to': after['release'], 'timeline': timeline.compute(before, after, until),
                  'before': before, 'after': after}
        if until == 'readback':
            sample['state_kept'] = (after['readback'] or {}).get('sha256') == before['demo_health']
            self.vm.ssh('systemctl enable --quiet --now %s' % DEMO_UNIT)
        else:
            sample['state_kept'] = after['demo_health'] == before['demo_health'] and after['demo_restored'] == '1'
        sample.update(extra)
        self.log('  blackout %.1f s (until the service started %.1f s), state %s'
                 % (sample['timeline']['blackout_s'], sample['timeline']['until_service_s'],
                    'kept' if sample['state_kept'] else 'lost'))
        return sample

    # --- the methods -----------------------------------------------------------

    def live_update(self, before):
        result, wall = self.playbook('live_update.yml', {'bench_kernel': self.other_kernel(before['release'])})
        self.vm.wait_back(before['boot_id'], DEMO_READY)
        keep = ('blackout', 'elapsed', 'kernel_before', 'kernel_after', 'kexec_count', 'cmdline', 'test_command', 'calls')
        return {'action': {key: result.get(key) for key in keep}, 'playbook_wall_s': round(wall, 3),
                'ping_s': result.get('bench_ping_s')}

    def raw_kexec(self, before):
        """What the action automates, timed from the controller: stage, kexec, new boot id, demo active."""
        start = time.time()
        self.trigger('kexec -s -l %s --reuse-cmdline && %s && systemctl --no-block kexec' % (self.other_kernel(before['release']), MARK))
        boot_id_at = self.poll(before['boot_id'], 'true')
        ready_at = self.poll(before['boot_id'], DEMO_READY)
        return {'raw_to_boot_id_s': round(boot_id_at - start, 3), 'raw_path_s': round(ready_at - start, 3)}

    def kexec_no_state(self, before):
        self.vm.write(NO_PRESERVE_DROPIN, '[Service]\nFileDescriptorStorePreserve=no\n')
        self.vm.ssh('systemctl daemon-reload')
        serial = self.vm.serial_size()
        self.trigger('kexec -s -l %s --reuse-cmdline && %s && systemctl --no-block kexec' % (self.other_kernel(before['release']), MARK))
        self.vm.wait_back(before['boot_id'], DEMO_READY, serial_from=serial)
        return {}

    def cold_reboot(self, before):
        result, wall = self.playbook('cold_reboot.yml', {'bench_reboot_command': "/bin/sh -c '%s && systemctl reboot'" % MARK})
        self.vm.wait_back(before['boot_id'], DEMO_READY)
        return {'reboot': {'elapsed': result.get('elapsed'), 'rebooted': result.get('rebooted')},
                'playbook_wall_s': round(wall, 3)}

    def disk_round_trip(self, before):
        """Dump the memfd to disk, cold reboot with the demo disabled, read back at boot (luo-bench-readback)."""
        self.vm.ssh('systemctl disable --quiet %s && rm -f /var/lib/luo-bench/readback.json' % DEMO_UNIT)
        serial = self.vm.serial_size()
        self.trigger('%s dump && %s && systemctl reboot' % (GUEST, MARK))
        self.vm.wait_back(before['boot_id'], READBACK_READY, serial_from=serial)
        return {}

    # --- helpers -------------------------------------------------------------

    def trigger(self, command):
        """Run the command that takes the VM down; the connection may drop under it (ssh rc 255)."""
        rc, _out, err = self.vm.ssh(command, timeout=900, check=False)
        if rc not in (0, 255, None):
            raise BenchError('`%s` in VM %s failed with rc %s: %s' % (command, self.vm.name, rc, err.strip()))

    def poll(self, old_boot_id, ready, timeout=1200):
        """Controller time when a new boot passes `ready`, polled every second like a script would."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc, out, _err = self.vm.ssh('%s && %s' % (BOOT_ID, ready), timeout=10, check=False)
            if rc == 0 and out.split() and out.split()[0] != old_boot_id:
                return time.time()
            time.sleep(RAW_POLL_S)
        raise BenchError('VM %s: no new boot passing `%s` within %d s; see %s' % (self.vm.name, ready, timeout, self.vm.info['serial_log']))

    def playbook(self, name, extra_vars):
        """Run bench/playbooks/NAME on the VM; (the result its task saved, wall seconds)."""
        self.plays += 1
        result_path = os.path.join(self.workdir, '%s-play-%03d-result.json' % (self.vm.name, self.plays))
        log_path = os.path.join(self.workdir, '%s-play-%03d-%s.log' % (self.vm.name, self.plays, name.split('.')[0]))
        argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', self.inventory,
                os.path.join(self.repo, 'bench', 'playbooks', name), '-e', json.dumps(dict(extra_vars, bench_result=result_path))]
        env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_RETRY_FILES_ENABLED='False', ANSIBLE_NOCOLOR='1')
        start = time.time()
        with open(log_path, 'w', encoding='utf-8') as log:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
        wall = time.time() - start
        if done.returncode != 0 or not os.path.exists(result_path):
            with open(log_path, encoding='utf-8') as log:
                tail = log.read()[-3000:]
            raise BenchError('ansible-playbook %s failed (rc %d) or saved no result, log %s:\n%s' % (name, done.returncode, log_path, tail))
        with open(result_path, encoding='utf-8') as handle:
            return json.load(handle), wall

    # --- luo-state -------------------------------------------------------------

    def keeper_setup(self, files, big_mib):
        """Test data on a tmpfs under /run (where a keeper's paths usually are): files and one big file."""
        self.log('luo-state: %d small files and one %d MiB file in %s' % (files, big_mib, KEEPER_DIR))
        self.vm.ssh('mkdir -p {0} && mountpoint -q {0} || mount -t tmpfs -o size=1G,mode=0755 luo-bench {0}'.format(KEEPER_DIR))
        self.vm.guest('make-files', KEEPER_DIR + '/files', files)
        self.vm.guest('make-file', KEEPER_DIR + '/big.bin', big_mib)
        self.vm.write('/etc/luo-state/bench-files.conf', 'paths = %s/files\nmax_size = 2G\n' % KEEPER_DIR)
        self.vm.write('/etc/luo-state/bench-big.conf', 'paths = %s/big.bin\nmax_size = 2G\n' % KEEPER_DIR)
        return {'files': {'name': 'bench-files', 'path': KEEPER_DIR + '/files', 'what': '%d small files' % files},
                'big': {'name': 'bench-big', 'path': KEEPER_DIR + '/big.bin', 'what': 'one %d MiB file' % big_mib}}

    def keeper(self, dataset, info, run):
        """One save (systemctl stop) and restore (systemctl start) of luo-state@NAME, timed in the VM."""
        result = json.loads(self.vm.guest('keeper-cycle', info['name'], info['path']))
        self.log('run %d: luo-state %s: save %.1f s, restore %.1f s, %s'
                 % (run + 1, info['what'], result['save_s'], result['restore_s'], 'intact' if result['intact'] else 'NOT INTACT'))
        return dict(result, dataset=dataset, what=info['what'], run=run)
