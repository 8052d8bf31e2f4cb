# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One lab VM seen from the controller: lab/vm, ssh, the guest helper, clock offsets, waiting for a boot."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import time

GUEST_DIR = '/usr/local/lib/luo-bench'
GUEST = 'python3 %s/guest.py' % GUEST_DIR
BOOT_ID = 'cat /proc/sys/kernel/random/boot_id'
# Seconds a VM may take to come back from a reboot or kexec (TCG on a busy machine: minutes).
BOOT_TIMEOUT = 1200
POLL_S = 2.0


class BenchError(Exception):
    """The benchmark cannot go on; the message says why and what to look at."""


class Vm:
    """A running lab VM: `lab/vm start` JSON plus the repository it came from."""

    def __init__(self, repo, info):
        self.repo = repo
        self.info = info
        self.name = info['name']

    @classmethod
    def start(cls, repo, name, mem, variant='luo'):
        done = subprocess.run([os.path.join(repo, 'lab', 'vm'), 'start', name, '--variant', variant, '--mem', str(mem)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BenchError('lab/vm start %s failed (rc %d): %s' % (name, done.returncode, done.stderr.strip()[-3000:]))
        return cls(repo, json.loads(done.stdout))

    def destroy(self):
        subprocess.run([os.path.join(self.repo, 'lab', 'vm'), 'destroy', self.name], stdin=subprocess.DEVNULL, check=False)

    def ssh_argv(self, command, connect_timeout=5):
        return ['ssh', '-p', str(self.info['port']), '-i', os.path.expanduser(self.info['identity_file']),
                '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no',
                '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=%d' % connect_timeout,
                '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3',
                '%s@%s' % (self.info['user'], self.info['address']), '--', command]

    def ssh(self, command, timeout=1800, stdin=None, check=True):
        """Run a shell command in the VM; its stdout. check=False: (rc, stdout, stderr), rc None on timeout."""
        try:
            # Never the inherited stdin: ssh makes it non-blocking, and Ansible refuses to run on that.
            done = subprocess.run(self.ssh_argv(command), input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            if check:
                raise BenchError('`%s` in VM %s did not finish within %d s' % (command, self.name, timeout)) from None
            return None, '', 'timed out'
        if not check:
            return done.returncode, done.stdout, done.stderr
        if done.returncode != 0:
            raise BenchError('`%s` in VM %s failed with rc %d: %s' % (command, self.name, done.returncode, done.stderr.strip()))
        return done.stdout

    def guest(self, *args, timeout=1800):
        return self.ssh(' '.join([GUEST] + [shlex.quote(str(arg)) for arg in args]), timeout=timeout)

    def write(self, dest, text):
        """Write text to the file dest in the VM, creating its directory."""
        self.ssh('mkdir -p %s && cat > %s' % (shlex.quote(os.path.dirname(dest)), shlex.quote(dest)), stdin=text)

    def put(self, path, dest):
        """Copy the local text file path to dest in the VM."""
        with open(path, encoding='utf-8') as handle:
            self.write(dest, handle.read())

    def probe(self):
        return json.loads(self.guest('probe', timeout=120))

    def clock_offset(self, pings=7):
        """(guest realtime - controller realtime, round trip) from the fastest of a few pings over one ssh session."""
        proc = subprocess.Popen(self.ssh_argv(GUEST + ' clock'), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        best = None
        try:
            for _ping in range(pings):
                sent = time.time()
                proc.stdin.write('\n')
                proc.stdin.flush()
                line = proc.stdout.readline()
                received = time.time()
                if not line:
                    raise BenchError('the clock helper in VM %s stopped answering' % self.name)
                sample = (float(line) - (sent + received) / 2, received - sent)
                if best is None or sample[1] < best[1]:
                    best = sample
        finally:
            proc.stdin.close()
            proc.wait(timeout=60)
        return best

    def snapshot(self):
        """What the guest says about itself, plus this boot's clock offset."""
        probe = self.probe()
        probe['offset'], probe['offset_rtt'] = self.clock_offset()
        return probe

    def serial_size(self):
        try:
            return os.path.getsize(self.info['serial_log'])
        except OSError:
            return 0

    def _serial_since(self, offset):
        with open(self.info['serial_log'], 'rb') as handle:
            handle.seek(offset)
            return handle.read()

    def wait_back(self, old_boot_id, ready, serial_from=None, timeout=BOOT_TIMEOUT):
        """Wait for a new boot whose shell command `ready` succeeds; returns the controller time it did.

        With serial_from, ssh is not tried before a login prompt appears on the serial console after
        that offset: ssh attempts cost the single vCPU, and the boot being measured would pay for them."""
        deadline = time.monotonic() + timeout
        while serial_from is not None:
            text = self._serial_since(serial_from)
            if b'Kernel panic' in text:
                raise BenchError('VM %s: kernel panic, see %s' % (self.name, self.info['serial_log']))
            if b'login:' in text:
                break
            self._check_deadline(deadline, timeout, 'no login prompt on the serial console')
            time.sleep(0.5)
        while True:
            rc, out, _err = self.ssh('%s && %s' % (BOOT_ID, ready), timeout=20, check=False)
            if rc == 0 and out.split() and out.split()[0] != old_boot_id:
                return time.time()
            self._check_deadline(deadline, timeout, 'no new boot passing `%s`' % ready)
            time.sleep(POLL_S)

    def _check_deadline(self, deadline, timeout, what):
        if time.monotonic() > deadline:
            raise BenchError('VM %s: %s within %d s; see its serial log %s' % (self.name, what, timeout, self.info['serial_log']))
