# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What stops a live update before anything on the host changes, judged over info's report (info_report.py).

kexec_load makes these checks on the host (its preflight option) before it takes the lock and stages, in the
same run, so that a refusal leaves the host as it was; the live update action reads the refusal's ``reason``.
"""
from __future__ import annotations

from ansible_collections.luo.liveupdate.plugins.module_utils import kexec, readiness


class Refusal(Exception):
    """The live update must not start; ``reason`` is a stable id."""

    def __init__(self, reason, text):
        super().__init__(text)
        self.reason = reason
        self.text = text


def handover_witnesses(report):
    """What will be able to prove the next boot was a live update: systemd's KExecCount, the kernel log."""
    witnesses = []
    if (report.get('systemd') or {}).get('kexec_count') is not None:
        witnesses.append('kexec_count')
    if (report.get('kho') or {}).get('kernel_log_error') is None:
        witnesses.append('kernel_log')
    return witnesses


def staged_text(record):
    """What is staged, as far as kexec_load's record (None: there is none) says."""
    if record is None:
        return ('a kernel is staged on the host already, by something other than luo.liveupdate.kexec_load (there is no '
                'record of it in %s), so what it is is unknown' % kexec.RECORD_PATH)
    initrd = ' with initrd %s' % record['initrd'] if record.get('initrd') else ''
    return ('a kernel is staged on the host already: %s (release %s)%s, command line %r, staged by '
            'luo.liveupdate.kexec_load at %s' % (record.get('kernel'), record.get('release') or 'unknown', initrd,
                                                 record.get('cmdline'), record.get('loaded_at') or 'an unknown time'))


def check_initrd(kernel, initrd, report, force):
    """Refuse ``kernel`` without an initramfs (``initrd`` not given, none paired with it) when it needs one, unless
    ``force``."""
    paired = (report.get('target') or {}).get('initrd') or {}
    if not (initrd or paired.get('path')) and paired.get('needed') and not force:
        text = kexec.initrd_missing_text(kernel, report['target']['release'], paired['candidates'])
        raise Refusal('initrd-missing', 'refusing to stage %s; or set force: true to stage it anyway' % text)


def check(report, record, kernel, initrd=None, force=False, units=()):
    """Refuse (Refusal) what a live update of ``kernel`` must not start with.

    ``report``: info's result with the target and ``units``; ``record``: kexec_load's record of a staged kernel.
    """
    if not report['ready']:
        raise Refusal('not-ready', 'the host is not ready for a live update: %s' % readiness.reasons_text(report['reasons']))
    if (report.get('kexec') or {}).get('loaded'):
        raise Refusal('already-staged', '%s. Another run may be about to kexec into it: once sure nobody is, unload it '
                      '(luo.liveupdate.kexec_load with state: unloaded, or kexec -s -u on the host) and run again'
                      % staged_text(record))
    if not report['compatible'] and not force:
        raise Refusal('target-incompatible', '%s cannot take over with the state intact: %s'
                      % (kernel, readiness.reasons_text(report['target_reasons'])))
    check_initrd(kernel, initrd, report, force)
    if not handover_witnesses(report):
        raise Refusal('handover-unprovable', (
            'nothing could tell the new boot from a cold reboot afterwards: systemd %s reports no KExecCount (systemd '
            '262 does), and %s. Run the task with become: true (reading /dev/kmsg needs CAP_SYSLOG when '
            'kernel.dmesg_restrict=1), or upgrade systemd to 262'
            % (report['systemd'].get('version'), (report.get('kho') or {}).get('kernel_log_error'))))
    check_units(report.get('units') or {}, units)


def check_units(states, units):
    """Every unit to verify afterwards must be loaded and active now, or its coming back proves nothing."""
    for unit in units:
        state = states.get(unit) or {'error': 'info did not report on %s' % unit}
        if state.get('error'):
            raise Refusal('read-failed', state['error'])
        if state['load_state'] != 'loaded':
            raise Refusal('verify-unit-missing', 'verify unit %s is %s on the host: check the name (systemctl '
                          'list-units) or drop it from verify_units' % (unit, state['load_state']))
        if state['active_state'] != 'active':
            raise Refusal('verify-unit-inactive', 'verify unit %s is %s, not active: start it first, or it cannot '
                          'be proven to come back' % (unit, state['active_state']))
