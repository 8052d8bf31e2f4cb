# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The blackout of one reboot, kexec or live update, in phases, from two guest snapshots.

``before`` is taken in the old boot, ``after`` in the new one (``guest.py probe`` plus
``offset``: guest realtime minus controller realtime in that boot). Both ends are guest
times; each is moved onto the controller's clock with its own boot's offset, because
every boot starts its clock from the RTC, which has whole seconds only.

The blackout starts when PID 1 began the shutdown (``PreviousShutdownStartTimestamp``,
restored by systemd after a kexec on a LUO kernel) or, after a cold boot where systemd
restores nothing, at the mark the trigger wrote just before ``systemctl reboot``
(the disk round trip starts when the state is being written to disk). It ends when
the service is back: the demo unit became active (READY=1, just before it answers on its
health port), or the state file was read back and hashed.
"""
from __future__ import annotations

from ansible_collections.luo.liveupdate.plugins.module_utils import systemd

# Phases in the order they happen; a method has the ones that apply to it.
PHASES = ('dump', 'stopping', 'exit', 'systemd_shutdown', 'kexec', 'shutdown_firmware_grub', 'kernel', 'userspace',
          'service_start')
PHASE_LABELS = {
    'dump': 'state written to disk',
    'stopping': 'PID 1 stops units',
    'exit': 'PID 1 -> systemd-shutdown',
    'systemd_shutdown': 'systemd-shutdown',
    'kexec': 'kexec into the new kernel',
    'shutdown_firmware_grub': 'shutdown + firmware + GRUB',
    'kernel': 'kernel',
    'userspace': 'userspace until the service starts',
    'service_start': 'service start (state hashed, rebuilt or read)',
}


class TimelineError(ValueError):
    """The snapshots cannot give a timeline; the message names what is missing."""


def _seconds_usec(value):
    usec = systemd.parse_usec(value)
    return None if usec is None else usec / 1e6


def _realtime(props, name):
    usec = systemd.parse_realtime(props.get(name))
    return None if usec is None else usec / 1e6


def _need(value, what):
    if value is None:
        raise TimelineError('%s is missing from the snapshot after the boot' % what)
    return value


def carried_over(before, after):
    """True when systemd counted this boot as a kexec after the old one (and restored its shutdown timestamps)."""
    old = systemd.parse_count(before['manager'].get('KExecCount')) or 0
    new = systemd.parse_count(after['manager'].get('KExecCount'))
    return new == old + 1 and _realtime(after['manager'], 'PreviousShutdownStartTimestamp') is not None


def compute(before, after, until='demo'):
    """{'blackout_s', 'until_service_s', 'until_state_s', 'phases_s', 'start_from', 'mark_lag_s'} of the boot
    between the snapshots.

    until='demo': the demo unit became active; until='readback': the state file was read back.
    until_state_s: until the demo held its state (fd received or state made, before the hash); None when
    it did not say so in this boot."""
    if after['boot_id'] == before['boot_id']:
        raise TimelineError('the boot id did not change (%s): there was no reboot between the snapshots' % after['boot_id'])
    old_off, new_off = before['offset'], after['offset']
    manager = after['manager']
    # This boot's CLOCK_MONOTONIC starts with the kernel: kernel start = realtime - monotonic.
    kernel_start = after['realtime'] - after['monotonic'] - new_off
    userspace = _need(_seconds_usec(manager.get('UserspaceTimestampMonotonic')), 'UserspaceTimestampMonotonic')
    mark = after.get('mark') if (after.get('mark') or 0) > before['realtime'] else None
    phases = {}
    result = {'start_from': None, 'mark_lag_s': None}
    if until == 'readback':
        dump = _need(after.get('dump'), 'the dump timings')
        if dump['start'] < before['realtime']:
            raise TimelineError('the dump timings are older than the snapshot before: the dump did not run')
        start = dump['start'] - old_off
        phases['dump'] = dump['end'] - dump['start']
        phases['shutdown_firmware_grub'] = kernel_start - (dump['end'] - old_off)
        result['start_from'] = 'dump'
    elif carried_over(before, after):
        marks = [_realtime(manager, 'PreviousShutdown%sTimestamp' % name) for name in ('Start', 'Finish', 'LateStart', 'LateFinish')]
        _need(None if None in marks else marks, 'a PreviousShutdown*Timestamp')
        start = marks[0] - old_off
        phases.update(stopping=marks[1] - marks[0], exit=marks[2] - marks[1], systemd_shutdown=marks[3] - marks[2],
                      kexec=kernel_start - (marks[3] - old_off))
        result['start_from'] = 'systemd'
        if mark is not None:
            result['mark_lag_s'] = marks[0] - mark
    else:
        start = _need(mark, 'the mark of the reboot command (and systemd restored no shutdown timestamps)') - old_off
        phases['shutdown_firmware_grub'] = kernel_start - start
        result['start_from'] = 'mark'
    phases['kernel'] = userspace
    if until == 'readback':
        readback = _need(after.get('readback'), 'the read-back timings')
        if readback.get('boot_id') != after['boot_id']:
            raise TimelineError('the read-back timings are from boot %s, not this boot %s' % (readback.get('boot_id'), after['boot_id']))
        service, end = readback['start'] - new_off, readback['end'] - new_off
    else:
        demo = after['demo']
        service = kernel_start + _need(_seconds_usec(demo.get('ExecMainStartTimestampMonotonic')), 'the demo ExecMainStartTimestampMonotonic')
        end = kernel_start + _need(_seconds_usec(demo.get('ActiveEnterTimestampMonotonic')), 'the demo ActiveEnterTimestampMonotonic')
    phases['userspace'] = service - kernel_start - userspace
    phases['service_start'] = end - service
    held = after.get('demo_state_at') if until == 'demo' else None
    result['until_state_s'] = round(held - new_off - start, 3) if held and held - new_off >= kernel_start else None
    result.update(blackout_s=end - start, until_service_s=service - start,
                  phases_s={name: round(phases[name], 3) for name in PHASES if name in phases})
    result['blackout_s'] = round(result['blackout_s'], 3)
    result['until_service_s'] = round(result['until_service_s'], 3)
    return result
