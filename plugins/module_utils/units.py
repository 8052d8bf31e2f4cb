# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state of the systemd units a live update verifies, read on the host in one go.

Per unit: whether systemd loaded it, whether it is active, the names in its fd store and, for a
luo-state@NAME keeper (whose fd store is empty before and after: it holds its state only while
stopped), the restore record its last start wrote. Read before the kexec and again after it, in the
same module run as the other facts, so verifying a unit costs no round trip of its own.
"""
from __future__ import annotations

import json
import re

from ansible_collections.luo.liveupdate.plugins.module_utils import systemd

# A luo-state@NAME keeper proves its restore with the record each start writes (roles/preserve/README.md).
KEEPER_UNIT = re.compile(r'\Aluo-state@([A-Za-z0-9_.-]+)\.service\Z')
KEEPER_RECORD = '/run/luo-state/%s/restore.json'
SHOW = ['systemctl', 'show', '--property=LoadState,ActiveState,FileDescriptorStoreMax']


def validate_units(units, option='units'):
    """Full unit names only: anything else is refused before anything is read (ValueError naming the entry of
    ``option``, as the user called it, and the fix)."""
    for unit in units:
        try:
            systemd.validate_unit(unit)
        except ValueError:
            raise ValueError('%s entry %r is not a unit name: give full names such as "myapp.service"' % (option, unit)) from None
    return list(units)


def unit_state(host, unit):
    """LoadState, ActiveState and fd store names of ``unit``; ``error`` says why systemd could not tell."""
    state = {'load_state': None, 'active_state': None, 'fdstore': None, 'error': None}
    try:
        props = systemd.parse_show(systemd.command_output(host.run, SHOW + [unit]))
        state.update(load_state=props.get('LoadState'), active_state=props.get('ActiveState'), fdstore=[])
        # systemd-analyze fails for a unit it cannot load, and for one without an fd store (nothing to keep there).
        if props.get('LoadState') == 'loaded' and props.get('FileDescriptorStoreMax', '0') != '0':
            listing = systemd.command_output(host.run, ['systemd-analyze', 'fdstore', unit, '--json=short'])
            try:
                state['fdstore'] = systemd.parse_fdstore_names(listing)
            except ValueError as exc:
                raise systemd.SystemdError(['systemd-analyze', 'fdstore', unit], str(exc)) from None
    except systemd.SystemdError as exc:
        state.update(fdstore=None, error='could not read the state of %s: %s' % (unit, exc))
    keeper = KEEPER_UNIT.match(unit)
    if keeper:
        state['restore_record'] = keeper_record(host, keeper.group(1))
    return state


def keeper_record(host, name):
    """The restore record luo-state@NAME wrote at its last start, as a dict; None when there is none to read."""
    text = host.read(KEEPER_RECORD % name)
    if text is None:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def unit_states(host, units):
    """{unit: its state} for each of ``units``, in the order given."""
    return {unit: unit_state(host, unit) for unit in units}
