# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live update of one host: preflight, stage, kexec, wait, verify, report.

Controller-side logic of the ``luo.liveupdate.live_update`` action, kept apart
from Ansible's plugin classes so its decisions can be tested with a fake host.
The host is reached through a ``remote`` object:

- ``remote.module(name, args) -> dict``: run a module, return its result;
- ``remote.command(cmd) -> (rc, stdout, stderr)``: run a shell command line
  (built here from fixed text and shlex-quoted values only);
- ``remote.reset()``: drop the connection so the next call reconnects;
- ``remote.clock()`` and ``remote.sleep(seconds)``: monotonic time.

In check mode every module runs in check mode (Ansible passes the task's check mode on).

Connection failures surface as exceptions from ``command`` and ``module``.
Before the kexec one stops the update (the host is left as it was); after it,
every call is retried with back-off until ``reboot_timeout`` runs out, and a
line says every PROGRESS_EVERY_S how long the host has been away. Every
failure is a LiveUpdateFailed whose result says the ``phase`` reached and the
``reason``.

The host-side lock (live_update_lock.py) is taken after the preflight, before
anything is staged, and released at the end, after unstaging.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import socket
import time

from ansible_collections.luo.liveupdate.plugins.module_utils import hostfacts, kexec as kexecrules, readiness, systemd
from ansible_collections.luo.liveupdate.plugins.plugin_utils import live_update_lock as hostlock

INFO = 'luo.liveupdate.info'
KEXEC_LOAD = 'luo.liveupdate.kexec_load'
BOOT_ID = 'cat /proc/sys/kernel/random/boot_id'
# Dispatch the kexec job and return at once: the connection goes down with the host.
KEXEC_NOW = 'systemctl --no-block kexec'
SYSTEM_STATE = 'systemctl is-system-running'
# Wait until systemd finished booting (units started, FinishTimestamp set), bounded.
BOOT_FINISHED = 'timeout %d systemctl is-system-running --wait'
# What kexec_load recorded about the kernel it staged (kexec.json): what a kernel staged already is.
STAGED_RECORD = 'cat %s' % kexecrules.RECORD_PATH
# The test command runs within what is left of reboot_timeout: a check that hangs must not hang the run.
TEST_COMMAND = 'timeout --kill-after=5 %d sh -c %s'
TIMED_OUT = 124  # timeout(1)'s exit status when the time ran out
# A luo-state@NAME keeper holds its state only while stopped (its fd store is empty before and after a
# live update): what proves its restore is the record each start writes (roles/preserve/README.md).
KEEPER_UNIT = re.compile(r'\Aluo-state@([A-Za-z0-9_.-]+)\.service\Z')
KEEPER_RECORD = 'cat /run/luo-state/%s/restore.json'
DEVICE_BUSY_RETRY_S = 3.0
ANSI_ESCAPE = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')
BACKOFF_START = 1.0
BACKOFF_MAX = 10.0
# While the host is away, a line says how long it has been, at this pace.
PROGRESS_EVERY_S = 15.0
WAITING_FOR = {'wait': 'the new boot', 'boot': 'systemd to finish booting', 'verify': 'the host to answer again'}
# A shell reports a command killed by signal N as 128 + N: the shutdown systemctl kexec started killed it.
KILLED_BY_SIGNAL = 128
# How the new boot can be told from a cold one; KHO's own witnesses, as hostfacts names them.
KHO_EVIDENCE = {'kernel log': 'kernel_log', 'debugfs': 'debugfs'}
NO_KHO_STATE = {'kernel_log': 'the kernel log of the new boot shows no KHO handover',
                'debugfs': 'the new boot has no /sys/kernel/debug/kho/in: no KHO state came in'}


class LiveUpdateFailed(Exception):
    """The live update stopped; ``reason`` is a stable id, ``result`` holds what is known so far."""

    def __init__(self, message, reason='failed', result=None):
        super().__init__(message)
        self.reason = reason
        self.result = result or {}


class NotYet(Exception):
    """The host answered, but not with what is waited for."""


class ConnectionLost(Exception):
    """A module could not be run: the host was unreachable."""


def validate_units(units):
    """Unit names as systemd spells them; anything else is refused before the host is touched."""
    for unit in units:
        try:
            systemd.validate_unit(unit)
        except ValueError:
            raise LiveUpdateFailed('verify_units entry %r is not a unit name: give full names such as "myapp.service"'
                                   % (unit,), 'bad-unit') from None
    return list(units)


def handover_witnesses(info):
    """What will be able to prove the next boot was a live update: systemd's KExecCount, the kernel log."""
    witnesses = []
    if (info.get('systemd') or {}).get('kexec_count') is not None:
        witnesses.append('kexec_count')
    if (info.get('kho') or {}).get('kernel_log_error') is None:
        witnesses.append('kernel_log')
    return witnesses


def kho_count_of(kho):
    """KHO's count of live updates since the last cold boot for a boot with these kho facts; None when unknown."""
    if kho.get('incoming') is False:
        return 0
    return kho.get('count') if kho.get('incoming') else None


def judge_handover(before, after):
    """Whether the new boot (``after``: its info) is the live update from ``before``, and what proves it.

    Returns the ``handover`` result: ``live`` (True, False, None when nothing tells), ``proof`` (the
    witnesses that agree: kexec_count, kernel_log, debugfs), ``against`` (what disagrees), ``verdict``
    (live, cold-reboot, handover-mismatch, handover-unproven) and the counts read.
    """
    count_before, count_after = before['kexec_count'], (after.get('systemd') or {}).get('kexec_count')
    kho = after.get('kho') or {}
    proof, cold, mismatch = [], [], []
    if count_before is not None and count_after is not None:
        text = 'KExecCount is %s, expected %s' % (count_after, count_before + 1)
        if count_after == count_before + 1:
            proof.append('kexec_count')
        else:
            (cold if count_after == 0 else mismatch).append(text)
    witness = KHO_EVIDENCE.get(kho.get('evidence'))
    if witness and kho.get('incoming') is False:
        # After a counted kexec, no state means a kexec without KHO, not a cold boot.
        (mismatch if proof else cold).append(NO_KHO_STATE[witness])
    elif witness and kho.get('incoming'):
        wrong = _kho_mismatches(before, kho)
        mismatch.extend(wrong)
        if not wrong:
            proof.append(witness)
    verdict, live = _verdict(proof, cold, mismatch)
    return {'live': live, 'verdict': verdict, 'proof': proof, 'against': cold + mismatch,
            'kexec_count_before': count_before, 'kexec_count_after': count_after,
            'previous_release': kho.get('previous_release'), 'kho_count': kho.get('count'),
            'liveupdate_number': kho.get('liveupdate_number')}


def _verdict(proof, cold, mismatch):
    """(verdict, live): anything against wins over any proof; no proof at all proves nothing."""
    if cold:
        return 'cold-reboot', False
    if mismatch:
        return 'handover-mismatch', False
    if proof:
        return 'live', True
    return 'handover-unproven', None


def _kho_mismatches(before, kho):
    """How the KHO state that came in does not fit a handover from the kernel that ran before."""
    found = []
    if kho.get('previous_release') not in (None, before['release']):
        found.append('the kernel log says KHO exec from %s, not from the running %s' % (kho['previous_release'], before['release']))
    if None not in (kho.get('count'), before['kho_count']) and kho['count'] != before['kho_count'] + 1:
        found.append('KHO counts %s live updates, expected %s' % (kho['count'], before['kho_count'] + 1))
    if kho.get('evidence') == 'kernel log' and kho.get('liveupdate_number') is None:
        found.append('LUO did not take the handed-over state (no "luo: Retrieved live update data" line in the kernel log)')
    return found


def staged_record(text):
    """kexec_load's record of the kernel it staged, from the text of its record file; None when it is not one."""
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def staged_text(record):
    """What is staged, as far as kexec_load's record says."""
    if record is None:
        return ('a kernel is staged on the host already, by something other than luo.liveupdate.kexec_load (there is no '
                'record of it in %s), so what it is is unknown' % kexecrules.RECORD_PATH)
    initrd = ' with initrd %s' % record['initrd'] if record.get('initrd') else ''
    return ('a kernel is staged on the host already: %s (release %s)%s, command line %r, staged by '
            'luo.liveupdate.kexec_load at %s' % (record.get('kernel'), record.get('release') or 'unknown', initrd,
                                                 record.get('cmdline'), record.get('loaded_at') or 'an unknown time'))


def refuse_units_not_running(states):
    """Every unit to verify must be loaded and active before, or its coming back proves nothing."""
    for unit, state in states.items():
        if state['load_state'] != 'loaded':
            raise LiveUpdateFailed('preflight: verify unit %s is %s on the host: check the name (systemctl '
                                   'list-units) or drop it from verify_units' % (unit, state['load_state']),
                                   'verify-unit-missing')
        if state['active_state'] != 'active':
            raise LiveUpdateFailed('preflight: verify unit %s is %s, not active: start it first, or it cannot '
                                   'be proven to come back' % (unit, state['active_state']), 'verify-unit-inactive')


def keeper_problem(unit, record_text, boot_before, boot_now):
    """(reason, text) when a luo-state@ keeper's restore record does not prove that this boot got back the
    state saved by the boot before the kexec; None when it does."""
    try:
        record = json.loads(record_text)
    except ValueError:
        return ('keeper-not-restored', '%s wrote no readable restore record on the new boot: its state was not '
                'restored (journalctl -b -u %s says why)' % (unit, unit))
    saved_by = (record.get('state') or {}).get('saved_boot_id')
    if record.get('result') != 'restored' or record.get('boot_id') != boot_now or saved_by != boot_before:
        said = (unit, record.get('result'), record.get('message'), saved_by, record.get('boot_id'))
        return ('keeper-not-restored', '%s did not restore the state saved before the live update: its record says '
                '%s (%s), saved by boot %s, written by boot %s' % said)
    return None


def handover_problem(handover):
    """The verify problem (reason, text) of a handover that is not the live update; None when it is."""
    against = '; '.join(handover['against'])
    if handover['verdict'] == 'cold-reboot':
        return 'cold-reboot', ('the host rebooted cold (%s): the preserved state was lost; the console log tells why '
                               '(a kexec that fails falls back to a reboot)' % against)
    if handover['verdict'] == 'handover-mismatch':
        return 'handover-mismatch', 'the new boot did not take the state over from this live update (%s)' % against
    if handover['verdict'] == 'handover-unproven':
        return 'handover-unproven', ('nothing proves the new boot was the live update (no KExecCount, no KHO lines in the '
                                     'kernel log): treat the preserved state as lost')
    return None


class LiveUpdate:
    """One host's live update. ``params`` are the action's validated arguments."""

    def __init__(self, remote, params, check_mode=False, log=None):
        self.remote = remote
        self.params = params
        self.check_mode = check_mode
        self.log = log or (lambda message: None)
        self.result = {'changed': False}
        self.staged = False
        self.phase = 'preflight'
        self.deadline = None  # set at the kexec: from then on, calls are retried until it
        self.kexec_at = None
        self.next_progress = None  # when the next line saying how long the host has been away is due
        self.new_boot_id = None  # the boot id the host came back with
        controller = socket.gethostname()
        owner = params.get('lock_owner')
        if owner is None:
            owner = hostlock.default_owner(controller, os.getpid(), time.time())
        ttl = params.get('lock_ttl')
        self.lock = hostlock.HostLock(owner, self.timeout() + hostlock.TTL_MARGIN_S if ttl is None else ttl, controller,
                                      own=params.get('lock_owner') is None)

    # --- steps ------------------------------------------------------------

    def run(self):
        """Do the whole live update; returns the result or raises LiveUpdateFailed with phase and reason.

        A lock this run took is released at the end, success or failure (after unstaging).
        """
        try:
            self.steps()
        except LiveUpdateFailed as exc:
            phase = self.phase
            self.release_lock()
            exc.result = dict(self.result, **exc.result)
            exc.result.setdefault('phase', phase)
            exc.result.setdefault('reason', exc.reason)
            raise
        except Exception:
            self.release_lock()
            raise
        self.release_lock()
        return self.result

    def steps(self):
        started = self.remote.clock()
        units = validate_units(self.params.get('verify_units') or [])
        problem = hostlock.options_problem(self.lock.owner, self.lock.ttl)
        if problem:
            raise LiveUpdateFailed(problem, 'bad-lock-option')
        before = self.until_kexec(units)
        if before is None:
            return self.result
        kexec_at = self.remote.clock()
        self.new_boot_id = self.wait_for_new_boot(before['boot_id'], kexec_at)
        self.wait_for_boot_finished()
        after = self.verify(before, units)
        self.report(before, after, started)
        return self.result

    def until_kexec(self, units):
        """Preflight, stage and kexec; any failure unloads what was staged and leaves the host as it was.

        Returns what must be true again afterwards, or None when there is nothing (more) to do.
        """
        try:
            before = self.preflight(units)
            if before is None:
                return None
            if self.check_mode:
                self.result['plan'] = self.plan(before)
                return None
            self.take_lock()
            self.stage(before['target'])
            self.kexec(before)
            return before
        except LiveUpdateFailed as exc:
            raise self.unstaged(exc)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            raise self.unstaged(LiveUpdateFailed('%s: the connection to the host failed: %s' % (self.phase, _error(exc)),
                                                 'connection-lost'))

    def preflight(self, units):
        """Readiness of host and target, and what must be true again afterwards; None when no kernel is newer."""
        self.phase = 'preflight'
        kernel = self.params.get('kernel') or self.default_kernel()
        if kernel is None:
            return None
        info = self.preflight_info(kernel)
        self.result.update(kernel_before=info['kernel']['release'], kernel_target=info['target']['release'],
                           target=kernel, current=False)
        if not info['ready']:
            raise LiveUpdateFailed('preflight: the host is not ready for a live update: %s' % readiness.reasons_text(info['reasons']),
                                   'not-ready', {'reasons': info['reasons']})
        if (info.get('kexec') or {}).get('loaded'):
            self.refuse_staged_already()
        if not info['compatible'] and not self.params.get('force'):
            raise LiveUpdateFailed('preflight: %s cannot take over with the state intact: %s'
                                   % (kernel, readiness.reasons_text(info['target_reasons'])), 'target-incompatible',
                                   {'target_reasons': info['target_reasons']})
        self.say_direction(info['kernel']['release'], info['target']['release'])
        target = {'kernel': kernel, 'initrd': self.initrd_for(kernel, info['target']), 'release': info['target']['release']}
        self.result['initrd'] = target['initrd']
        witnesses = self.require_witnesses(info)
        before = {
            'target': target,
            'boot_id': self.read(BOOT_ID, 'read the boot id'),
            'release': info['kernel']['release'],
            'kexec_count': info['systemd'].get('kexec_count'),
            'kho_count': kho_count_of(info.get('kho') or {}),
            'witnesses': witnesses,
            'units': {unit: self.unit_state(unit) for unit in units},
        }
        refuse_units_not_running(before['units'])
        return before

    def preflight_info(self, kernel):
        """info on host and target, /dev/liveupdate opened once: a process holding it when systemd needs it (at
        shutdown, for LUOSession= services) breaks the handover. systemd itself holds it for a moment at times, so a
        busy device is looked at once more before it counts."""
        info = self.info({'target_kernel': kernel, 'probe_device': True})
        if any(item['id'] == 'device-busy' for item in info['reasons']):
            self.remote.sleep(DEVICE_BUSY_RETRY_S)
            info = self.info({'target_kernel': kernel, 'probe_device': True})
        return info

    def refuse_staged_already(self):
        """A kernel staged before this run is someone else's: kexec'ing would start theirs, unloading would break theirs."""
        rc, out, _err = self.command(STAGED_RECORD)
        record = staged_record(out) if rc == 0 else None
        raise LiveUpdateFailed('preflight: %s. Another run may be about to kexec into it: once sure nobody is, unload it '
                               '(luo.liveupdate.kexec_load with state: unloaded, or kexec -s -u on the host) and run again'
                               % staged_text(record), 'already-staged', {'already_staged': record})

    def default_kernel(self):
        """The newest installed kernel newer than the running one, said out loud; None when there is none."""
        info = self.info({})
        running = info['kernel']['release']
        chosen = hostfacts.newest_newer_kernel(info.get('kernels') or [], running)
        if chosen is None:
            installed = ', '.join(kernel['release'] for kernel in info.get('kernels') or []) or 'none'
            self.result.update(current=True, kernel_before=running, msg=(
                'nothing to do: the host runs %s and no newer kernel is installed (installed: %s); to go to another '
                'kernel, older or rebuilt, give kernel: PATH' % (running, installed)))
            return None
        self.log('kernel not given: chose %s, the newest installed kernel, newer than the running %s'
                 % (chosen['image'], running))
        self.result['kernel_chosen'] = chosen['image']
        return chosen['image']

    def say_direction(self, running, target):
        if target == running:
            self.log('target release %s is the running release: the live update restarts the same kernel' % target)
        elif hostfacts.release_key(target) < hostfacts.release_key(running):
            self.log('target release %s is older than the running %s: going back, as kernel: asks' % (target, running))

    def initrd_for(self, kernel, target):
        """The initramfs to stage with kernel: the one given, else the one paired with it; refuses a needed one missing."""
        paired = target.get('initrd') or {}
        initrd = self.params.get('initrd') or paired.get('path')
        if not initrd and paired.get('needed') and not self.params.get('force'):
            raise LiveUpdateFailed('preflight: refusing to stage %s; or set force: true to stage it anyway'
                                   % kexecrules.initrd_missing_text(kernel, target['release'], paired['candidates']),
                                   'initrd-missing')
        return initrd

    @staticmethod
    def require_witnesses(info):
        """What will tell the live update from a cold reboot afterwards; refuses when nothing will."""
        witnesses = handover_witnesses(info)
        if not witnesses:
            raise LiveUpdateFailed(
                'preflight: nothing could tell the new boot from a cold reboot afterwards: systemd %s reports no '
                'KExecCount (systemd 262 does), and %s. Run the task with become: true (reading /dev/kmsg needs '
                'CAP_SYSLOG when kernel.dmesg_restrict=1), or upgrade systemd to 262'
                % (info['systemd'].get('version'), (info.get('kho') or {}).get('kernel_log_error')),
                'handover-unprovable')
        return witnesses

    def plan(self, before):
        """Check mode: whether the lock would be refused, and what kexec_load (in check mode) would stage."""
        lock = self.lock.planned(self.module(hostlock.MODULE, self.lock.acquire_args()))
        self.phase = 'stage'
        target = before['target']
        staged = self.module(KEXEC_LOAD, self.stage_args(target))
        if staged.get('failed'):
            raise LiveUpdateFailed('stage: %s' % staged.get('msg'), 'stage-failed', {'stage': staged})
        return {
            'stage': {'kernel': target['kernel'], 'initrd': target['initrd'], 'cmdline': staged.get('cmdline')},
            'kexec': KEXEC_NOW,
            'lock': lock,
            'expect': {'release': target['release'], 'kexec_count': _plus_one(before['kexec_count']),
                       'handover_proof': before['witnesses'],
                       'units': {unit: state['fdstore'] for unit, state in before['units'].items()}},
        }

    def take_lock(self):
        """The host-side lock, before anything is staged; held by another run, the update stops here."""
        self.lock.asking()
        problem = self.lock.taken(self.module(hostlock.MODULE, self.lock.acquire_args()))
        self.result['lock'] = self.lock.state
        if problem:
            raise LiveUpdateFailed('preflight: %s' % problem[1], problem[0])
        if self.lock.state['taken_over']:
            self.log('took the lock over from %s, whose lock had expired' % self.lock.state['taken_over']['owner'])

    def release_lock(self):
        """Release the lock this run took; a release that fails is said, not fatal."""
        if not self.lock.must_release:
            return
        try:
            problem = self.lock.released(answer=self.module(hostlock.MODULE, self.lock.release_args()))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            problem = self.lock.released(error=_error(exc))
        if problem:
            self.log(problem)

    def stage_args(self, target):
        """kexec_load's arguments for the target: the same in check mode (the plan) as for staging."""
        args = {'state': 'loaded', 'kernel': target['kernel'], 'force': bool(self.params.get('force'))}
        if target['initrd']:
            args['initrd'] = target['initrd']
        for name in ('cmdline', 'reuse_cmdline', 'append', 'remove'):
            if self.params.get(name) is not None:
                args[name] = self.params[name]
        return args

    def stage(self, target):
        self.phase = 'stage'
        args = self.stage_args(target)
        self.staged = True  # until kexec_load says otherwise: a lost answer may hide a staged kernel
        staged = self.module(KEXEC_LOAD, args)
        if staged.get('failed'):
            self.staged = False  # kexec_load leaves the staged state as it was
            raise LiveUpdateFailed('stage: %s' % staged.get('msg'), 'stage-failed', {'stage': staged})
        self.result.update(changed=True, cmdline=staged.get('cmdline'))

    def unstaged(self, failure):
        """failure, once the kernel staged by this run is unloaded again, saying whether that worked."""
        if not self.staged:
            return failure
        try:
            unloaded = self.module(KEXEC_LOAD, {'state': 'unloaded'})
            problem = unloaded.get('msg') if unloaded.get('failed') else None
        except Exception as exc:  # pylint: disable=broad-exception-caught
            problem = _error(exc)
        self.staged = False
        self.result['unstaged'] = problem is None
        note = ('the staged kernel was unloaded again' if problem is None else
                'unloading the staged kernel failed too (%s): run kexec -s -u on the host' % problem)
        return LiveUpdateFailed('%s; %s' % (failure, note), failure.reason, failure.result)

    def kexec(self, before):
        """Start the kexec; a systemctl that fails while the host stays up stops the update at once."""
        self.phase = 'kexec'
        try:
            rc, out, err = self.remote.command(KEXEC_NOW)
        except Exception:  # pylint: disable=broad-exception-caught
            return  # The connection went down with the host: expected.
        if rc == 0 or rc > KILLED_BY_SIGNAL or self.going_down():
            return
        raise LiveUpdateFailed('kexec: `%s` failed with rc %s: %s; the host keeps running %s; fix what systemctl says and '
                               'run again' % (KEXEC_NOW, rc, _plain(err or out) or 'no output', before['release']),
                               'kexec-failed')

    def going_down(self):
        """Whether the host is shutting down after all (then its kernel must stay staged)."""
        try:
            _rc, out, _err = self.remote.command(SYSTEM_STATE)
        except Exception:  # pylint: disable=broad-exception-caught
            return True  # gone already
        return out.strip() == 'stopping'

    def wait_for_new_boot(self, old_boot_id, kexec_at):
        """Poll the boot id until it changes; capped exponential back-off; reconnect after each failure."""
        self.phase = 'wait'
        self.deadline = kexec_at + self.timeout()
        self.kexec_at = kexec_at
        self.next_progress = kexec_at + PROGRESS_EVERY_S

        def new_boot_id():
            rc, out, err = self.remote.command(BOOT_ID)
            if rc != 0:
                raise NotYet('reading the boot id failed: %s' % _plain(err or out))
            if not out.strip() or out.strip() == old_boot_id:
                self.refuse_old_boot_still_running(old_boot_id)
                raise NotYet('the host kept its boot id %s' % old_boot_id)
            return out.strip()

        def timed_out(last_error):
            return LiveUpdateFailed('wait: the host did not come back on a new boot within reboot_timeout=%ss (last: %s); '
                                    'look at its console: the new kernel may have failed to boot'
                                    % (self.timeout(), last_error), 'no-new-boot')
        boot_id = self.retrying(new_boot_id, timed_out)
        self.result['blackout_s'] = round(self.remote.clock() - kexec_at, 3)
        return boot_id

    def refuse_old_boot_still_running(self, old_boot_id):
        """The old boot answers: unless systemd is stopping it, the kexec job is not running and never will."""
        _rc, out, _err = self.remote.command(SYSTEM_STATE)
        if out.strip() in ('running', 'degraded'):
            raise self.unstaged(LiveUpdateFailed(
                'wait: the host is still running its old boot %s and systemd is %s, not stopping: the kexec job did not '
                'start or failed; see journalctl -b -u kexec.target -u systemd-kexec.service on the host'
                % (old_boot_id, out.strip()), 'kexec-not-started'))

    def wait_for_boot_finished(self):
        """Let systemd finish starting units before they are checked; say what state it reached.

        Waited for in pieces that end when the next progress line is due, so that the line comes on time.
        """
        self.phase = 'boot'
        while True:
            rc, out, _err = self.call(self.boot_finished_piece)
            state = out.strip()
            if rc != TIMED_OUT:
                break
            state = self.command(SYSTEM_STATE)[1].strip()
            if self.remote.clock() >= self.deadline:
                break
            self.progress('systemd is %s' % (state or 'not answering'))
        self.result['system_state'] = state or 'unknown'
        if self.result['system_state'] not in ('running', 'degraded'):
            self.log('systemd is %s after the live update (not finished within reboot_timeout)' % self.result['system_state'])

    def boot_finished_piece(self):
        """systemctl is-system-running --wait, until the next progress line is due (or the deadline, if sooner)."""
        now = self.remote.clock()
        return self.remote.command(BOOT_FINISHED % max(int(min(self.next_progress, self.deadline) - now), 1))

    def progress(self, last):
        """Say how long the host has been away, if a line is due; then the next is due a steady step later."""
        now = self.remote.clock()
        if self.kexec_at is None or now < self.next_progress:
            return
        self.log('waiting for %s: %d s since the kexec, up to %d s (last: %s)'
                 % (WAITING_FOR.get(self.phase, 'the host'), now - self.kexec_at, self.timeout(), last))
        self.next_progress += PROGRESS_EVERY_S * (int((now - self.next_progress) // PROGRESS_EVERY_S) + 1)

    def pause(self, seconds, last):
        """Sleep, saying how long the host has been away whenever a line falls due meanwhile."""
        end = self.remote.clock() + seconds
        while self.next_progress is not None and self.next_progress < end:
            self.remote.sleep(max(self.next_progress - self.remote.clock(), 0))
            self.progress(last)
        self.remote.sleep(max(end - self.remote.clock(), 0))

    def verify(self, before, units):
        """The new boot is the live update, on the target release, units back with the same fd store names."""
        self.phase = 'verify'
        release = self.read('uname -r', 'read the release after the kexec')
        self.result['kernel_after'] = release
        after = self.info({})
        handover = judge_handover(before, after)
        self.result.update(handover=handover, kexec_count=handover['kexec_count_after'])
        problems = [handover_problem(handover)]
        if release != before['target']['release']:
            problems.append(('wrong-release', 'running %s, not the target %s' % (release, before['target']['release'])))
        problems += self.verify_units(before, units, handover['live'] is True)
        problems += self.verify_test_command()
        problems = [problem for problem in problems if problem]
        if problems:
            raise LiveUpdateFailed('verify: ' + '; '.join(text for _reason, text in problems), problems[0][0])
        return after

    def verify_units(self, before, units, live):
        """Each unit active with the fd store names it had; ``live``: the handover is proven. After a cold boot a
        service may make fresh state under the old names: names alone never count as restored then."""
        problems = []
        restored = {}
        for unit in units:
            state = self.unit_state(unit)
            want = before['units'][unit]['fdstore']
            restored[unit] = {'active': state['active_state'] == 'active', 'fdstore': state['fdstore'],
                              'fdstore_restored': live and state['fdstore'] == want}
            if state['active_state'] != 'active':
                problems.append(('unit-not-active', '%s is %s after the live update' % (unit, state['active_state'])))
            if state['fdstore'] != want:
                problems.append(('fdstore-not-restored', '%s fd store holds %s, before it held %s'
                                 % (unit, state['fdstore'], want)))
            keeper = KEEPER_UNIT.match(unit)
            if keeper:
                _rc, record, _err = self.command(KEEPER_RECORD % keeper.group(1))
                problem = keeper_problem(unit, record, before['boot_id'], self.new_boot_id)
                restored[unit]['keeper_restored'] = problem is None
                problems.append(problem)
        self.result['restored'] = restored
        return problems

    def verify_test_command(self):
        test_command = self.params.get('test_command')
        if not test_command:
            return []
        seconds = max(int(self.deadline - self.remote.clock()), 1)
        rc, out, err = self.command(TEST_COMMAND % (seconds, shlex.quote(test_command)))
        self.result['test_command'] = {'rc': rc, 'stdout': out, 'stderr': err}
        if rc == TIMED_OUT:
            return [('test-command-timeout', 'test_command %r did not finish within the %s s left of reboot_timeout; '
                     'make it return sooner or raise reboot_timeout' % (test_command, seconds))]
        if rc != 0:
            return [('test-command-failed', 'test_command %r failed with rc %s: %s' % (test_command, rc, _plain(err or out)))]
        return []

    def report(self, before, after, started):
        self.result['blackout'] = {
            'controller_s': self.result.get('blackout_s'),
            'phases_ms': (after.get('systemd') or {}).get('last_live_update_ms'),
        }
        self.result['elapsed'] = round(self.remote.clock() - started, 3)
        self.result['boot_id_before'] = before['boot_id']

    # --- talking to the host ------------------------------------------------

    def timeout(self):
        return self.params.get('reboot_timeout') or 600

    def call(self, action):
        """action(): at once before the kexec; after it, retried through dropped connections until the deadline."""
        if self.deadline is None:
            return action()

        def lost(last_error):
            return LiveUpdateFailed('%s: the connection to the host failed until reboot_timeout=%ss ran out (last: %s); '
                                    'the host answered on a new boot, but whether it is the live update with its state '
                                    'is unknown: log in and check it' % (self.phase, self.timeout(), last_error),
                                    'connection-lost')
        return self.retrying(action, lost)

    def retrying(self, attempt, timed_out):
        """attempt() until it returns; NotYet and connection failures are retried with a capped back-off."""
        delay = BACKOFF_START
        while True:
            try:
                return attempt()
            except LiveUpdateFailed:
                raise
            except NotYet as exc:
                last_error = str(exc)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                last_error = _error(exc)
                self.remote.reset()
            self.progress(last_error)
            if self.remote.clock() + delay > self.deadline:
                raise timed_out(last_error)
            self.pause(delay, last_error)
            delay = min(delay * 2, BACKOFF_MAX)

    def command(self, cmd):
        return self.call(lambda: self.remote.command(cmd))

    def module(self, name, args):
        def run_module():
            result = self.remote.module(name, args)
            if result.get('unreachable'):
                raise ConnectionLost(result.get('msg') or 'the host is unreachable')
            return result
        return self.call(run_module)

    def info(self, args):
        """The info module's result; its failure stops the update in the current phase."""
        info = self.module(INFO, args)
        if info.get('failed'):
            raise LiveUpdateFailed('%s: %s' % (self.phase, info.get('msg')), 'info-failed', {'info': info})
        return info

    def read(self, cmd, what):
        rc, out, err = self.command(cmd)
        if rc != 0:
            raise LiveUpdateFailed('%s: could not %s (`%s` rc %s: %s)' % (self.phase, what, cmd, rc, _plain(err or out)),
                                   'read-failed')
        return out.strip()

    def unit_state(self, unit):
        quoted = shlex.quote(unit)
        show = self.read('systemctl show --property=LoadState,ActiveState,FileDescriptorStoreMax %s' % quoted,
                         'read the state of %s' % unit)
        props = dict(line.split('=', 1) for line in show.splitlines() if '=' in line)
        fdstore = []
        # systemd-analyze fails for a unit it cannot load, and for one without an fd store (nothing to keep there).
        if props.get('LoadState') == 'loaded' and props.get('FileDescriptorStoreMax', '0') != '0':
            listing = self.read('systemd-analyze fdstore %s --json=short' % quoted, 'read the fd store of %s' % unit)
            try:
                fdstore = systemd.parse_fdstore_names(listing)
            except ValueError as exc:
                raise LiveUpdateFailed('%s: could not read the fd store of %s: %s' % (self.phase, unit, exc),
                                       'read-failed') from None
        return {'load_state': props.get('LoadState'), 'active_state': props.get('ActiveState'), 'fdstore': fdstore}


def _plain(text):
    """Command output for a message: stripped, without the colours systemctl and friends write."""
    return ANSI_ESCAPE.sub('', text or '').strip()


def _error(exc):
    return '%s: %s' % (type(exc).__name__, exc)


def _plus_one(count):
    return None if count is None else count + 1
