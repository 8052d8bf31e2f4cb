# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A simulated host for the live update: answers the flow's commands and modules, and can be kexec'ed."""
from __future__ import annotations

import json
import shlex

from ansible_collections.luo.liveupdate.plugins.module_utils import lock as lockrules
from ansible_collections.luo.liveupdate.plugins.module_utils import preflight
from ansible_collections.luo.liveupdate.plugins.module_utils.kernel_version import newest_newer_kernel
from ansible_collections.luo.liveupdate.plugins.plugin_utils import live_update_calls as calls
from ansible_collections.luo.liveupdate.plugins.plugin_utils import live_update_flow as flow
from ansible_collections.luo.liveupdate.plugins.plugin_utils import live_update_lock as hostlock

IMAGE_PREFIX = '/boot/vmlinuz-'
KMSG_DENIED = 'cannot read the kernel log /dev/kmsg: Operation not permitted'
WALL_START = 1798800000  # the host's wall clock when the fake clock reads 0


class HostDown(Exception):
    """What the connection raises while the host is away."""


def release_of(path):
    return path[len(IMAGE_PREFIX):] if path.startswith(IMAGE_PREFIX) else None


class FakeHost:
    """A host that answers the flow's commands and modules, and can be kexec'ed.

    ``installed``: {release: its initramfs path or None} of the kernels in /boot.
    ``needs_initrd``: the releases whose config says they need an initramfs.
    ``systemd_version``: 262 reports KExecCount; 261 has none.
    ``kernel_log``: whether /dev/kmsg can be read (KHO's "exec from" line proves a handover).
    ``down_polls``: boot id reads that fail after the kexec before the new boot answers.
    ``comes_back``: what the host boots into: 'target' (the live update), 'old' (a cold reboot into the
    running kernel), 'cold-target' (a cold reboot into the target), or None (never comes back).
    ``recreates_fdstore``: services put fresh state under the old fd store names when theirs came back empty.
    ``kexec_fails``: stderr of a ``systemctl kexec`` that exits 1 while the host stays up;
    ``kexec_job_fails``: it exits 0, but its job fails and the host keeps running.
    ``drops_after_boot``: calls that fail as dropped connections once the new boot has answered;
    ``gone_after_boot``: every call fails then.
    ``device_held``: how many probes of /dev/liveupdate find it held by another process.
    ``keepers``: {NAME: restore result of luo-state@NAME on the next boot}: 'restored' writes a record of the
    state saved by the boot before; anything else writes that result; None writes no record.
    ``check_mode``: modules run in check mode (Ansible passes the task's check mode to every module).
    ``staged``, ``kexec_record``: a kernel staged before the run, and kexec_load's record of it (None: none).
    ``lock``: the lock record on the host; ``lock_fails``, ``release_fails``: taking (by kexec_load) or releasing the lock fails with that message.
    ``boot_finish_s``: seconds systemd takes to finish booting once the new boot answers.
    ``module_s``, ``command_s``: seconds each module run and each command takes on the host's clock.
    """

    def __init__(self, **kw):
        self.release = '7.2.13'
        self.installed = {'7.2.13': None, '7.3.4': None, '7.10.1-rc1': None}
        self.needs_initrd = set()
        self.systemd_version = 262
        self.kernel_log = True
        self.boot_id = 'boot-1'
        self.kexec_count = 0
        self.kho_in = None
        self.units = {'demo.service': {'LoadState': 'loaded', 'ActiveState': 'active', 'fdstore': ['demo-state']}}
        self.ready = True
        self.compatible = True
        self.down_polls = 2
        self.comes_back = 'target'
        self.lose_fdstore = False
        self.recreates_fdstore = False
        self.stage_fails = False
        self.kexec_fails = None
        self.kexec_job_fails = False
        self.fdstore_fails = False
        self.drops_after_boot = 0
        self.gone_after_boot = False
        self.test_rc = 0
        self.test_hangs = False
        self.keepers = {}
        self.keeper_records = {}
        self.device_held = 0
        self.system_state = 'running'
        self.check_mode = False
        self.staged = None
        self.staged_initrd = None
        self.kexec_record = None
        self.lock = None
        self.lock_fails = None
        self.release_fails = None
        self.boot_finish_s = 0
        self.booted_at = None
        self.module_s = 0.0
        self.command_s = 0.0
        self.__dict__.update(kw)
        for name in self.keepers:
            self.units['luo-state@%s.service' % name] = {'LoadState': 'loaded', 'ActiveState': 'active', 'fdstore': []}
        self.now = 0.0
        self.kexeced = False
        self.new_boot_seen = False
        self.calls = []
        self.resets = 0
        self.reset_after = []  # how many calls had been made at each reset
        self.probes = 0  # how often /dev/liveupdate was probed

    # remote interface
    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def reset(self):
        self.resets += 1
        self.reset_after.append(len(self.calls))

    def module(self, name, args):
        self.calls.append(('module', name, args))
        self.now += self.module_s
        self.drop_if_away()
        if self.kexeced and self.comes_back is None:
            raise HostDown('ssh: connect to host 127.0.0.1 port 2222: Connection refused')
        if name == calls.INFO:
            return self.info(args)
        if name == hostlock.MODULE:
            return self.lock_module(args)
        assert name == flow.KEXEC_LOAD, name
        if args['state'] == 'unloaded':
            if not self.check_mode:
                self.staged = self.staged_initrd = self.kexec_record = None
            return {'changed': True}
        if 'preflight' not in args:
            return self.locked_stage(args)
        facts, refused = self.preflight(args)
        if refused is not None or facts.get('failed'):
            return refused or {'failed': True, 'changed': False, 'msg': facts['msg']}
        kernel = args.get('kernel') or facts.get('target_chosen')
        if kernel is None:
            return {'changed': False, 'kernel': None, 'facts': facts, 'msg': 'nothing to stage'}
        initrd = args.get('initrd') or facts['target']['initrd']['path']
        return dict(self.locked_stage(dict(args, kernel=kernel, initrd=initrd)), facts=facts)

    def preflight(self, args):
        """kexec_load's preflight option: info's facts (a busy device probed once more 3 s later), then the real
        checks of module_utils/preflight.py over them; (facts, the refusing answer or None)."""
        options = {'units': args['preflight']['units'], 'probe_device': args['preflight']['probe_device'],
                   'target_kernel': args.get('kernel'), 'target_newest': args.get('kernel') is None}
        facts = self.info(options)
        if any(item['id'] == 'device-busy' for item in facts.get('reasons') or []):
            self.now += 3.0
            facts = self.info(options)
        kernel = args.get('kernel') or facts.get('target_chosen')
        if facts.get('failed') or kernel is None:
            return facts, None
        try:
            preflight.check(facts, self.kexec_record, kernel, args.get('initrd'), args.get('force'), options['units'])
        except preflight.Refusal as exc:
            extra = {'already_staged': self.kexec_record} if exc.reason == 'already-staged' else {}
            return facts, dict({'failed': True, 'changed': False, 'msg': exc.text, 'refused': exc.reason, 'kernel': kernel,
                                'facts': facts}, **extra)
        return facts, None

    def locked_stage(self, args):
        """kexec_load staging, with the lock first when lock_owner is given."""
        if 'lock_owner' not in args:
            return self.stage(args)
        # kexec_load with lock_owner: the lock first, as the lock module takes it; given back when staging fails.
        taken = self.lock_module({'state': 'acquired', 'owner': args['lock_owner'], 'ttl': args['lock_ttl'],
                                  **({'controller': args['lock_controller']} if 'lock_controller' in args else {})})
        if taken.get('failed'):
            answer = dict(taken, acquired=False, released_again=False)
            answer.pop('failed')
            msg = ('%s; nothing was staged' % taken['msg'] if taken.get('held_by')
                   else 'cannot take the lock: %s; nothing was staged' % taken['msg'])
            return {'failed': True, 'changed': False, 'msg': msg, 'lock': answer}
        staged = self.stage(args)
        answer = dict(taken, released_again=False)
        if staged.get('failed') and not taken['reentrant'] and not self.check_mode:
            self.lock = None
            answer.update(released_again=True, msg=taken['msg'] + '; released again after the failure')
        return dict(staged, lock=answer)

    def stage(self, args):
        """kexec_load staging, without the lock."""
        cmdline = 'root=/dev/vda1 %sliveupdate=on kho=on' % ''.join(item + ' ' for item in args.get('append') or [])
        answer = {'changed': True, 'kernel': args['kernel'], 'cmdline': cmdline, 'initrd': args.get('initrd')}
        if self.check_mode:
            return answer
        if self.stage_fails:
            return {'failed': True, 'msg': 'kexec_file_load failed: Operation not permitted'}
        self.staged, self.staged_initrd = args['kernel'], args.get('initrd')
        self.kexec_record = {'kernel': args['kernel'], 'initrd': args.get('initrd'), 'cmdline': cmdline,
                             'release': release_of(args['kernel']), 'loaded_at': '2027-01-01T10:00:00Z'}
        return answer

    def lock_module(self, args):
        """luo.liveupdate.lock, on a lock kept in memory, answering as the module does; with ``facts``, info's facts
        read before the lock changes."""
        if args.get('facts') is not None:
            facts = self.info({'units': args['facts']['units']})
            return dict(self.lock_module(dict(args, facts=None)), facts=facts)
        path = args.get('path', lockrules.DEFAULT_PATH)
        now = WALL_START + self.now
        held = self.lock
        fails = self.lock_fails if args['state'] == 'acquired' else self.release_fails
        if fails:
            return {'failed': True, 'msg': fails, 'path': path}
        if args['state'] == 'released':
            if held is None or held['owner'] != args['owner']:
                return {'changed': False, 'released': False, 'lock': held, 'previous': held, 'path': path,
                        'msg': 'left the lock %s as it is' % path if held else 'no lock at %s' % path}
            if not self.check_mode:
                self.lock = None
            return {'changed': True, 'released': True, 'lock': None, 'previous': held, 'path': path, 'msg': 'released'}
        if held is not None and held['owner'] != args['owner'] and now < held['expires']:
            return {'failed': True, 'acquired': False, 'changed': False, 'lock': held, 'previous': held, 'held_by': held,
                    'reentrant': False, 'taken_over': False, 'path': path, 'msg': lockrules.refusal(path, held)}
        reentrant = held is not None and held['owner'] == args['owner']
        record = lockrules.make_record(args['owner'], args.get('controller'), held['started'] if reentrant else now,
                                       now + args['ttl'])
        if not self.check_mode:
            self.lock = record
        return {'changed': True, 'acquired': True, 'lock': record, 'previous': held, 'held_by': None, 'path': path,
                'reentrant': reentrant, 'taken_over': held is not None and not reentrant, 'msg': 'took it'}

    def info(self, args):
        reasons = [] if self.ready else [
            {'id': 'device-missing', 'message': '/dev/liveupdate does not exist', 'fix': 'boot with liveupdate=on'}]
        self.probes += 1 if args.get('probe_device') else 0
        if args.get('probe_device') and self.device_held > 0:
            self.device_held -= 1
            reasons.append({'id': 'device-busy', 'message': 'another process holds /dev/liveupdate (held now by pid 77 '
                            'stray-tool)', 'fix': 'retry later, and never hold it open'})
        result = {
            'ready': not reasons, 'reasons': reasons,
            'kernel': {'release': self.release, 'boot_id': self.boot_id},
            'kernels': [{'release': release, 'image': IMAGE_PREFIX + release} for release in self.installed],
            'kho': self.kho_facts(),
            'kexec': {'loaded': self.staged is not None},
            'systemd': {'version': self.systemd_version, 'kexec_count': self.kexec_count_property(),
                        'last_live_update_ms': {'total': 1234.5} if self.kexec_count else None},
            'units': {unit: self.unit_facts(unit) for unit in args.get('units') or []}}
        target_kernel = args.get('target_kernel')
        if args.get('target_newest'):
            chosen = newest_newer_kernel([{'release': r, 'image': IMAGE_PREFIX + r} for r in self.installed], self.release)
            target_kernel = result['target_chosen'] = chosen['image'] if chosen else None
        if target_kernel:
            release = release_of(target_kernel)
            if release not in self.installed:
                return {'failed': True, 'msg': 'kernel image %s does not exist' % target_kernel}
            result.update(target={'release': release, 'initrd': self.initrd_facts(release)}, compatible=self.compatible,
                          target_reasons=[] if self.compatible else [
                              {'id': 'target-abi-mismatch-luo', 'message': 'luo-v4 vs luo-v5', 'fix': 'pick another'}])
        return result

    def unit_facts(self, unit):
        """A unit as info's units option reports it (module_utils/units.py)."""
        found = self.units.get(unit)
        if found is None:
            state = {'load_state': 'not-found', 'active_state': 'inactive', 'fdstore': [], 'error': None}
        elif self.fdstore_fails and found.get('FileDescriptorStoreMax', 4):
            state = {'load_state': 'loaded', 'active_state': found['ActiveState'], 'fdstore': None,
                     'error': 'could not read the state of %s: `systemd-analyze fdstore %s --json=short` failed with exit '
                              'code 1: Unknown command verb fdstore.' % (unit, unit)}
        else:
            state = {'load_state': found['LoadState'], 'active_state': found['ActiveState'],
                     'fdstore': list(found['fdstore']) if found.get('FileDescriptorStoreMax', 4) else [], 'error': None}
        keeper = unit.startswith('luo-state@') and unit[len('luo-state@'):-len('.service')]
        if keeper:
            state['restore_record'] = self.keeper_records.get(keeper)
        return state

    def initrd_facts(self, release):
        return {'path': self.installed[release], 'needed': release in self.needs_initrd,
                'candidates': ['/boot/initrd.img-%s' % release, '/boot/initramfs-%s.img' % release]}

    def kexec_count_property(self):
        return self.kexec_count if self.systemd_version >= 262 else None

    def kho_facts(self):
        """As hostfacts reads them: from the kernel log when it can be read, else from KExecCount."""
        came = self.kho_in or {}
        facts = {'enabled': True, 'previous_release': came.get('previous_release'), 'count': came.get('count'),
                 'liveupdate_number': came.get('count'), 'kernel_log_error': None}
        if self.kernel_log:
            return dict(facts, incoming=bool(self.kho_in), evidence='kernel log')
        count = self.kexec_count_property()
        return dict(facts, incoming=None if count is None else count > 0,
                    evidence=None if count is None else 'KExecCount', previous_release=None, count=None,
                    liveupdate_number=None, kernel_log_error=KMSG_DENIED)

    def command(self, cmd):
        self.calls.append(('command', cmd))
        self.now += self.command_s
        self.drop_if_away()
        if self.kexeced:
            return self.after_kexec(cmd)
        return self.answer(cmd)

    def drop_if_away(self):
        """After the new boot answered: the connection drops as often as asked."""
        if not self.new_boot_seen:
            return
        if self.gone_after_boot or self.drops_after_boot > 0:
            self.drops_after_boot -= 1
            raise HostDown('Shared connection to 127.0.0.1 closed.')

    def answer(self, cmd):
        if cmd == flow.BOOT_ID:
            if self.kexeced:
                self.new_boot_seen = True
            return 0, self.boot_id + '\n', ''
        if cmd == flow.SYSTEM_STATE:
            return (0, 'running\n', '') if self.booted() else (1, 'starting\n', '')
        if cmd.startswith('timeout ') and cmd.endswith('systemctl is-system-running --wait'):
            seconds = int(cmd.split()[1])
            if self.booted_at is not None and self.now + seconds < self.booted_at + self.boot_finish_s:
                self.now += seconds
                return flow.TIMED_OUT, '', ''
            self.now = max(self.now, (self.booted_at or 0) + self.boot_finish_s)
            return (0, 'running\n', '') if self.system_state == 'running' else (1, self.system_state + '\n', '')
        if cmd == 'cat /run/luo-liveupdate/kexec.json':  # what kexec_load recorded about the kernel it staged
            return (0, json.dumps(self.kexec_record), '') if self.kexec_record else (1, '', 'No such file or directory')
        if cmd == flow.KEXEC_NOW:
            if self.kexec_fails:
                return 1, '', self.kexec_fails
            if self.kexec_job_fails:
                return 0, '', ''
            self.kexeced = True
            raise HostDown('Shared connection to 127.0.0.1 closed.')
        if cmd.startswith('timeout --kill-after=5 ') and ' sh -c ' in cmd:
            seconds, inner = shlex.split(cmd)[2], shlex.split(cmd)[-1]
            self.calls.append(('test_command', int(seconds), inner))
            if self.test_hangs:
                return flow.TIMED_OUT, '', ''
            return self.answer(inner)
        if cmd == 'curl -fsS http://127.0.0.1:8089/':
            return self.test_rc, '', 'connection refused' if self.test_rc else ''
        raise AssertionError('unexpected command %r' % cmd)

    def after_kexec(self, cmd):
        if self.comes_back is None or self.down_polls > 0:
            self.down_polls -= 1
            raise HostDown('ssh: connect to host 127.0.0.1 port 2222: Connection refused')
        if self.boot_id == 'boot-1':
            self.boot()
        return self.answer(cmd)

    def booted(self):
        """Whether systemd finished booting."""
        return self.booted_at is None or self.now >= self.booted_at + self.boot_finish_s

    def boot(self):
        """The new boot: a live update hands KHO state over and counts; a cold boot starts from nothing."""
        self.boot_id = 'boot-2'
        self.booted_at = self.now
        self.kexec_record = None  # /run is cleared
        old = self.release
        if self.comes_back in ('target', 'cold-target'):
            self.release = release_of(self.staged)
        if self.comes_back == 'target':
            self.kexec_count += 1
            self.kho_in = {'previous_release': old, 'count': (self.kho_in or {}).get('count', 0) + 1}
        else:
            self.kexec_count = 0
            self.kho_in = None
        for name, outcome in self.keepers.items():
            self.units['luo-state@%s.service' % name] = {'LoadState': 'loaded', 'ActiveState': 'active', 'fdstore': []}
            if outcome == 'restored' and self.comes_back == 'target':
                self.keeper_records[name] = {'result': 'restored', 'boot_id': self.boot_id, 'message': 'restored 2 paths',
                                             'state': {'saved_boot_id': 'boot-1'}}
            elif outcome is not None:
                self.keeper_records[name] = {'result': 'nothing-to-restore' if outcome == 'restored' else outcome,
                                             'boot_id': self.boot_id, 'message': 'no saved state', 'state': None}
        if self.lose_fdstore or self.comes_back != 'target':
            for unit in self.units.values():
                # A service that finds its fd store empty may make fresh state under the same name.
                unit['fdstore'] = list(unit['fdstore']) if self.recreates_fdstore else []
        self.staged = self.staged_initrd = None  # the staged kernel runs now, or went with the cold boot
