# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight and the stage of the live update, in one kexec_load run on the host.

kexec_load's preflight option reads what info reports, makes the checks of module_utils/preflight.py and
refuses, changing nothing, before it takes the lock and stages; this side reads its answer: the refusal and
its reason, the lock, the stage, and from the facts what must be true again after the kexec.
"""
from __future__ import annotations

from ansible_collections.luo.liveupdate.plugins.module_utils.kernel_version import version_key
from ansible_collections.luo.liveupdate.plugins.module_utils.preflight import handover_witnesses
from ansible_collections.luo.liveupdate.plugins.plugin_utils.live_update_calls import HostCalls
from ansible_collections.luo.liveupdate.plugins.plugin_utils.live_update_checks import LiveUpdateFailed, kho_count_of, unit_states

KEXEC_LOAD = 'luo.liveupdate.kexec_load'
BOOT_ID = 'cat /proc/sys/kernel/random/boot_id'
# What a refusal adds to the result, from kexec_load's facts.
REFUSAL_FACTS = {'not-ready': 'reasons', 'target-incompatible': 'target_reasons'}


class Preflight(HostCalls):
    """Preflight and stage; results go into ``self.result``. ``lock`` (live_update_lock.HostLock) and ``check_mode``
    are set by the flow; ``staged`` says whether a kernel this run staged may be staged now."""

    lock = None
    check_mode = False

    def __init__(self, remote, params, log=None):
        super().__init__(remote, params, log)
        self.result = {'changed': False}
        self.staged = False

    def stage_args(self):
        """kexec_load's arguments: what to stage (no kernel: the newest newer one), and its preflight."""
        args = {'state': 'loaded', 'force': bool(self.params.get('force'))}
        for name in ('kernel', 'initrd', 'cmdline', 'reuse_cmdline', 'append', 'remove'):
            if self.params.get(name) is not None:
                args[name] = self.params[name]
        return args

    def prepare(self, units):
        """Preflight, lock and stage in one kexec_load run (in check mode: the preflight and what would be staged,
        no lock). Returns kexec_load's answer and what must be true again afterwards; None when no kernel is newer."""
        self.phase = 'preflight'
        args = dict(self.stage_args(), preflight={'units': units, 'probe_device': True})
        if not self.check_mode:
            args.update(self.lock.stage_args())
            self.lock.asking()
            self.staged = True  # until kexec_load says otherwise: a lost answer may hide a staged kernel
        answer = self.module(KEXEC_LOAD, args)
        lock_problem = None
        if not self.check_mode:
            self.staged = False
            lock_problem = self.lock.taken_with_stage(answer)
            self.result['lock'] = self.lock.state
        facts = answer.get('facts') or {}
        self.read_target(answer, facts)
        if answer.get('refused'):
            extra = {'already_staged': answer.get('already_staged')} if answer['refused'] == 'already-staged' else {}
            if answer['refused'] in REFUSAL_FACTS:
                extra[REFUSAL_FACTS[answer['refused']]] = facts.get(REFUSAL_FACTS[answer['refused']])
            raise LiveUpdateFailed('preflight: %s' % answer.get('msg'), answer['refused'], extra)
        if answer.get('failed') and 'lock' in answer:
            self.phase = 'stage'  # the lock was asked for: what failed from there failed staging
        if lock_problem:
            raise LiveUpdateFailed('stage: %s' % lock_problem[1], lock_problem[0])
        if answer.get('failed'):
            raise LiveUpdateFailed('%s: %s' % (self.phase, answer.get('msg')), 'stage-failed', {'stage': answer})
        if answer.get('kernel') is None:
            return None, None
        self.staged = not self.check_mode
        if self.lock.state['taken_over']:
            self.log('took the lock over from %s, whose lock had expired' % self.lock.state['taken_over']['owner'])
        self.say_direction(facts['kernel']['release'], facts['target']['release'])
        return answer, self.expected(answer, facts, units)

    def read_target(self, answer, facts):
        """Into the result: the kernels before and after, the one chosen (said out loud), or that none is newer."""
        if not facts:
            return
        running = facts['kernel']['release']
        self.result['kernel_before'] = running
        if answer.get('kernel') is None and not answer.get('failed'):
            installed = ', '.join(kernel['release'] for kernel in facts.get('kernels') or []) or 'none'
            self.result.update(current=True, msg=(
                'nothing to do: the host runs %s and no newer kernel is installed (installed: %s); to go to another '
                'kernel, older or rebuilt, give kernel: PATH' % (running, installed)))
            return
        if facts.get('target'):
            self.result.update(kernel_target=facts['target']['release'], target=answer.get('kernel'), current=False)
        if facts.get('target_chosen'):
            self.log('kernel not given: chose %s, the newest installed kernel, newer than the running %s'
                     % (facts['target_chosen'], running))
            self.result['kernel_chosen'] = facts['target_chosen']

    def expected(self, answer, facts, units):
        """What must be true again after the kexec, from the facts read before staging."""
        self.result['initrd'] = answer.get('initrd')
        return {
            'target': {'kernel': answer['kernel'], 'initrd': answer.get('initrd'), 'release': facts['target']['release']},
            'boot_id': facts['kernel'].get('boot_id') or self.read(BOOT_ID, 'read the boot id'),
            'release': facts['kernel']['release'],
            'kexec_count': facts['systemd'].get('kexec_count'),
            'kho_count': kho_count_of(facts.get('kho') or {}),
            'witnesses': handover_witnesses(facts),
            'units': unit_states(facts, units, self.phase),
        }

    def say_direction(self, running, target):
        if target == running:
            self.log('target release %s is the running release: the live update restarts the same kernel' % target)
        elif version_key(target) < version_key(running):
            self.log('target release %s is older than the running %s: going back, as kernel: asks' % (target, running))
