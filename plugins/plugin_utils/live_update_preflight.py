# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight of the live update: the target chosen, host and target ready, what must come back.

Runs before anything on the host changes: every refusal here leaves the host as it was.
"""
from __future__ import annotations

from ansible_collections.luo.liveupdate.plugins.module_utils import kexec as kexecrules, readiness
from ansible_collections.luo.liveupdate.plugins.module_utils.kernel_version import version_key
from ansible_collections.luo.liveupdate.plugins.plugin_utils.live_update_calls import HostCalls
from ansible_collections.luo.liveupdate.plugins.plugin_utils.live_update_checks import (
    LiveUpdateFailed, handover_witnesses, kho_count_of, refuse_units_not_running, staged_record, staged_text, unit_states)

BOOT_ID = 'cat /proc/sys/kernel/random/boot_id'
# What kexec_load recorded about the kernel it staged (kexec.json): what a kernel staged already is.
STAGED_RECORD = 'cat %s' % kexecrules.RECORD_PATH
DEVICE_BUSY_RETRY_S = 3.0


class Preflight(HostCalls):
    """The checks and choices before the lock is taken and the kernel staged; results go into ``self.result``."""

    def __init__(self, remote, params, log=None):
        super().__init__(remote, params, log)
        self.result = {'changed': False}

    def preflight(self, units):
        """Readiness of host and target, and what must be true again afterwards; None when no kernel is newer."""
        self.phase = 'preflight'
        info = self.preflight_info(self.params.get('kernel'), units)
        kernel = self.params.get('kernel') or self.default_kernel(info)
        if kernel is None:
            return None
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
            'boot_id': info['kernel'].get('boot_id') or self.read(BOOT_ID, 'read the boot id'),
            'release': info['kernel']['release'],
            'kexec_count': info['systemd'].get('kexec_count'),
            'kho_count': kho_count_of(info.get('kho') or {}),
            'witnesses': witnesses,
            'units': unit_states(info, units, self.phase),
        }
        refuse_units_not_running(before['units'])
        return before

    def preflight_info(self, kernel, units):
        """info on host, target (``kernel``, else the newest newer installed one) and units, /dev/liveupdate opened
        once: a process holding it when systemd needs it (at shutdown, for LUOSession= services) breaks the handover.
        systemd itself holds it for a moment at times, so a busy device is looked at once more before it counts."""
        args = {'probe_device': True, 'units': units}
        args.update({'target_kernel': kernel} if kernel else {'target_newest': True})
        info = self.info(args)
        if any(item['id'] == 'device-busy' for item in info['reasons']):
            self.remote.sleep(DEVICE_BUSY_RETRY_S)
            info = self.info(args)
        return info

    def refuse_staged_already(self):
        """A kernel staged before this run is someone else's: kexec'ing would start theirs, unloading would break theirs."""
        rc, out, _err = self.command(STAGED_RECORD)
        record = staged_record(out) if rc == 0 else None
        raise LiveUpdateFailed('preflight: %s. Another run may be about to kexec into it: once sure nobody is, unload it '
                               '(luo.liveupdate.kexec_load with state: unloaded, or kexec -s -u on the host) and run again'
                               % staged_text(record), 'already-staged', {'already_staged': record})

    def default_kernel(self, info):
        """The newest installed kernel newer than the running one, as info chose it, said out loud; None when none is."""
        running = info['kernel']['release']
        chosen = info.get('target_chosen')
        if chosen is None:
            installed = ', '.join(kernel['release'] for kernel in info.get('kernels') or []) or 'none'
            self.result.update(current=True, kernel_before=running, msg=(
                'nothing to do: the host runs %s and no newer kernel is installed (installed: %s); to go to another '
                'kernel, older or rebuilt, give kernel: PATH' % (running, installed)))
            return None
        self.log('kernel not given: chose %s, the newest installed kernel, newer than the running %s' % (chosen, running))
        self.result['kernel_chosen'] = chosen
        return chosen

    def say_direction(self, running, target):
        if target == running:
            self.log('target release %s is the running release: the live update restarts the same kernel' % target)
        elif version_key(target) < version_key(running):
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
