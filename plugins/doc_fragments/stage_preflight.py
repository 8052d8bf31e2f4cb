# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kexec_load's preflight: the live update's checks before the lock and the stage, in the same module run."""
from __future__ import annotations


class ModuleDocFragment:
    """Options (DOCUMENTATION) and the result keys (RETURN, extends_documentation_fragment in RETURN)."""

    DOCUMENTATION = r'''
options:
  preflight:
    description:
      - Before the lock and the stage, in the same run, read what M(luo.liveupdate.info) reports (returned in C(facts))
        and refuse, changing nothing, what a live update must not start with (C(refused) names which); a host that is
        not ready (a held C(/dev/liveupdate) is probed once more after 3 s), a kernel staged already (by anyone), an
        incompatible target or a needed initramfs missing (both unless O(force=true)), nothing able to tell the next
        boot from a cold one, a unit of O(preflight.units) that is not active.
      - With it O(kernel) may be left out; then the newest installed kernel newer than the running one is staged, and
        nothing happens when there is none.
      - This is the first host step of M(luo.liveupdate.live_update); only with O(state=loaded).
    type: dict
    suboptions:
      units:
        description: Units that must be active now, since they are checked after the live update; their states are in C(facts).
        type: list
        elements: str
        default: []
      probe_device:
        description: Open C(/dev/liveupdate) once (and close it) to find another process holding it.
        type: bool
        default: true
'''

    RETURN = r'''
facts:
  description:
    - What M(luo.liveupdate.info) returns for this host, read before the lock and the stage, with the target
      (O(kernel), or the one chosen, RV(luo.liveupdate.info#module:target_chosen)) and the units of O(preflight.units).
  returned: with O(preflight), unless an option was refused before anything was read
  type: dict
  sample: {ready: true, reasons: [], kernel: {release: 7.2.13}, target: {release: 7.3.4}, compatible: true}
refused:
  description:
    - Which preflight check refused the live update (then nothing changed); V(not-ready), V(already-staged),
      V(target-incompatible), V(initrd-missing), V(handover-unprovable), V(verify-unit-missing),
      V(verify-unit-inactive), V(read-failed) (a unit's state could not be read).
  returned: when O(preflight) refused
  type: str
  sample: already-staged
already_staged:
  description: This module's record of the kernel staged before (null when something else staged it).
  returned: when O(preflight) refused with V(already-staged)
  type: dict
  sample: {kernel: /boot/vmlinuz-7.3.4, release: 7.3.4, cmdline: root=/dev/vda1 liveupdate=on kho=on}
'''
