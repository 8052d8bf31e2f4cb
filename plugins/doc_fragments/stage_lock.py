# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kexec_load's options and result for staging under the host lock of the lock module."""
from __future__ import annotations


class ModuleDocFragment:
    """Options (DOCUMENTATION) and the result key (RETURN, extends_documentation_fragment in RETURN)."""

    DOCUMENTATION = r'''
options:
  lock_owner:
    description:
      - Stage under the host lock of M(luo.liveupdate.lock) (C(/var/lib/luo-liveupdate/lock)), taken for this owner
        before anything about the staged state is read, so that two runs cannot stage or kexec one host at once.
        Another owner's lock that has not expired refuses the task and nothing is staged.
      - The lock stays held after staging (release it with M(luo.liveupdate.lock) once the kexec is over); a lock this
        task took is released again when staging fails. One the owner held before the task stays held.
      - Only with O(state=loaded). Without it, no lock is read or taken.
    type: str
  lock_ttl:
    description:
      - Seconds the lock is held at most, as M(luo.liveupdate.lock)'s O(luo.liveupdate.lock#module:ttl). Must be
        more than 0.
    type: int
    default: 3600
  lock_controller:
    description: Where the run taking the lock runs, recorded in the lock (M(luo.liveupdate.lock)'s
      O(luo.liveupdate.lock#module:controller)).
    type: str
'''

    RETURN = r'''
lock:
  description:
    - With O(lock_owner), what taking the host lock did, as M(luo.liveupdate.lock) returns it - C(acquired),
      C(reentrant) (the owner held it already), C(taken_over) (an expired lock of another owner was replaced),
      C(previous) (the record before), C(held_by) (the holder when refused), C(lock) (the record now; the holder's
      when refused), C(path) and C(msg).
    - C(released_again) - the lock this task took was released again because staging failed.
  returned: with O(lock_owner), once the lock was asked for
  type: dict
  sample: {"acquired": true, "reentrant": false, "taken_over": false, "previous": null, "held_by": null,
           "lock": {"owner": "awx job 42", "controller": "awx-ee-5c7d", "started": 1798800000, "expires": 1798801800},
           "path": /var/lib/luo-liveupdate/lock, "msg": "took /var/lib/luo-liveupdate/lock for awx job 42 until
           2027-01-01T10:30:00Z", "released_again": false}
'''
