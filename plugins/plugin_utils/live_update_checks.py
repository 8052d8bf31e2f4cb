# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the live update decides from what the host said: pure functions, no connection.

Used by the flow (live_update_flow.py): whether the new boot is the live update (``judge_handover``), and
whether units and luo-state keepers came back. What stops an update before anything changes is decided on the
host (module_utils/preflight.py, through kexec_load).
"""
from __future__ import annotations

from ansible_collections.luo.liveupdate.plugins.module_utils import units as unitrules

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


def validate_units(units):
    """Unit names as systemd spells them; anything else is refused before the host is touched."""
    try:
        return unitrules.validate_units(units, 'verify_units')
    except ValueError as exc:
        raise LiveUpdateFailed(str(exc), 'bad-unit') from None


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


def unit_states(info, units, phase):
    """The states info read of ``units``; a unit systemd could not tell about stops the update in ``phase``."""
    states = info.get('units') or {}
    for unit in units:
        state = states.get(unit) or {'error': 'info did not report on %s' % unit}
        if state.get('error'):
            raise LiveUpdateFailed('%s: %s' % (phase, state['error']), 'read-failed')
    return {unit: states[unit] for unit in units}


def keeper_problem(unit, record, boot_before, boot_now):
    """(reason, text) when a luo-state@ keeper's restore record (a dict, None when unreadable) does not prove that
    this boot got back the state saved by the boot before the kexec; None when it does."""
    if record is None:
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
