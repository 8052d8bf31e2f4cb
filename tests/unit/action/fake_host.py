# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A simulated host for the live update: answers the flow's commands and modules, and can be kexec'ed."""
from __future__ import annotations

import json

from ansible_collections.luo.liveupdate.plugins.plugin_utils import live_update_flow as flow


class HostDown(Exception):
    """What the connection raises while the host is away."""


class FakeHost:
    """A host that answers the flow's commands and modules, and can be kexec'ed.

    ``down_polls``: boot id reads that fail after the kexec before the new boot answers.
    ``comes_back``: what the host boots into: 'target', 'old' (cold reboot into the default
    kernel), or None (never comes back).
    """

    def __init__(self, **kw):
        self.release = '7.2.13'
        self.target_release = '7.3.4'
        self.boot_id = 'boot-1'
        self.kexec_count = 0
        self.units = {'demo.service': {'LoadState': 'loaded', 'ActiveState': 'active', 'fdstore': ['demo-state']}}
        self.ready = True
        self.compatible = True
        self.down_polls = 2
        self.comes_back = 'target'
        self.lose_fdstore = False
        self.stage_fails = False
        self.test_rc = 0
        self.system_state = 'running'
        self.boot_listing = 'config-7.2.13\nconfig-7.3.4\ngrub\nvmlinuz-7.2.13\nvmlinuz-7.3.4\nvmlinuz-7.10.1-rc1\n'
        self.__dict__.update(kw)
        self.now = 0.0
        self.staged = None
        self.kexeced = False
        self.calls = []
        self.resets = 0

    # remote interface
    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def reset(self):
        self.resets += 1

    def module(self, name, args):
        self.calls.append(('module', name, args))
        if name == flow.INFO:
            return self.info(args)
        if args['state'] == 'unloaded':
            self.staged = None
            return {'changed': True}
        if self.stage_fails:
            return {'failed': True, 'msg': 'kexec_file_load failed: Operation not permitted'}
        self.staged = args['kernel']
        return {'changed': True, 'cmdline': 'root=/dev/vda1 liveupdate=on kho=on'}

    def info(self, args):
        result = {'ready': self.ready, 'reasons': [] if self.ready else [
            {'id': 'device-missing', 'message': '/dev/liveupdate does not exist', 'fix': 'boot with liveupdate=on'}],
            'kernel': {'release': self.release},
            'systemd': {'last_live_update_ms': {'total': 1234.5} if self.kexec_count else None}}
        if 'target_kernel' in args:
            if args['target_kernel'].endswith('missing'):
                return {'failed': True, 'msg': 'kernel image %s does not exist' % args['target_kernel']}
            result.update(target={'release': self.target_release}, compatible=self.compatible,
                          target_reasons=[] if self.compatible else [
                              {'id': 'target-abi-mismatch-luo', 'message': 'luo-v4 vs luo-v5', 'fix': 'pick another'}])
        return result

    def command(self, cmd):
        self.calls.append(('command', cmd))
        if self.kexeced:
            return self.after_kexec(cmd)
        return self.answer(cmd)

    def answer(self, cmd):
        if cmd == flow.BOOT_ID:
            return 0, self.boot_id + '\n', ''
        if cmd == flow.KEXEC_COUNT:
            return 0, '%d\n' % self.kexec_count, ''
        if cmd == 'uname -r':
            return 0, self.release + '\n', ''
        if cmd.startswith('timeout ') and cmd.endswith('systemctl is-system-running --wait'):
            return (0, 'running\n', '') if self.system_state == 'running' else (1, self.system_state + '\n', '')
        if cmd == flow.LIST_KERNELS:
            return 0, self.boot_listing, ''
        if cmd == flow.KEXEC_NOW:
            self.kexeced = True
            raise HostDown('Shared connection to 127.0.0.1 closed.')
        if cmd.startswith('systemctl show --property=LoadState,ActiveState '):
            unit = self.units.get(cmd.split()[-1])
            if unit is None:
                return 0, 'LoadState=not-found\nActiveState=inactive\n', ''
            return 0, 'LoadState=%s\nActiveState=%s\n' % (unit['LoadState'], unit['ActiveState']), ''
        if cmd.startswith('systemd-analyze fdstore '):
            unit = self.units.get(cmd.split()[2])
            return 0, json.dumps([{'fdname': name} for name in unit['fdstore']]) if unit else '[]', ''
        if cmd == 'curl -fsS http://127.0.0.1:8089/':
            return self.test_rc, '', 'connection refused' if self.test_rc else ''
        raise AssertionError('unexpected command %r' % cmd)

    def after_kexec(self, cmd):
        if self.comes_back is None or self.down_polls > 0:
            self.down_polls -= 1
            raise HostDown('ssh: connect to host 127.0.0.1 port 2222: Connection refused')
        if self.boot_id == 'boot-1':
            self.boot_id = 'boot-2'
            if self.comes_back == 'target':
                self.release = self.target_release
                self.kexec_count += 1
            if self.lose_fdstore:
                for unit in self.units.values():
                    unit['fdstore'] = []
        return self.answer(cmd)
