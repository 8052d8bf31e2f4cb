# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""info's report on systemd units (module_utils/units.py): what the live update verifies, read with the other facts."""
from __future__ import annotations


class ModuleDocFragment:
    """The option (DOCUMENTATION) and the result key (RETURN, extends_documentation_fragment in RETURN)."""

    DOCUMENTATION = r'''
options:
  units:
    description:
      - Full names of systemd units to report on (returned in C(units)), for example units whose state must come back after a
        live update. A name that is not a full unit name (such as C(myapp) without C(.service)) is refused.
    type: list
    elements: str
    default: []
'''

    RETURN = r'''
units:
  description:
    - The state of each unit in O(units), by unit name; empty without O(units). Each holds
    - C(load_state) and C(active_state), systemd's C(LoadState) (for example C(loaded), C(not-found)) and
      C(ActiveState) (for example C(active), C(failed)); null when they could not be read.
    - C(fdstore), the sorted names of the file descriptors in the unit's fd store (a name once per fd), empty for a
      unit without one; null when it could not be read.
    - C(error), why systemd could not tell (the command that failed and what it said); null when it could.
    - For a C(luo-state@NAME.service) keeper, which holds its state only while stopped (its fd store is empty before
      and after a live update), also C(restore_record) - the record its last start wrote in
      C(/run/luo-state/NAME/restore.json) (C(result), C(boot_id), C(message), C(state)); null when there is none.
  returned: always
  type: dict
  sample:
    redis.service: {load_state: loaded, active_state: active, fdstore: [redis-data], error: null}
    luo-state@cache.service: {load_state: loaded, active_state: active, fdstore: [], error: null,
                              restore_record: {result: restored, boot_id: 9b1e42c0, message: restored 2 paths,
                                               state: {saved_boot_id: 5f1c9a3e}}}
'''
