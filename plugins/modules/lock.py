#!/usr/bin/python
# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: lock
short_description: Take or release the host-side lock that keeps two runs from live-updating a host at once
version_added: 1.0.0
description:
  - Takes (O(state=acquired)) or releases (O(state=released)) a lock file on the managed host, so that two runs, two
    AWX jobs for example, never live-update the same host at the same time.
  - The lock is a JSON file on disk, C(/var/lib/luo-liveupdate/lock) by default, so that it survives the kexec. It
    holds C(owner), C(controller), C(started) and C(expires); the times are wall-clock epoch seconds, since a kexec
    resets the monotonic clocks.
  - "A new lock is created with C(O_CREAT|O_EXCL): of two runs taking it at once, one gets it and the other is refused.
    The same O(owner) taking it again gets it again (re-entrant) and its expiry is moved to now plus O(ttl). A lock
    past its expiry is taken over, and the result says whose it was (RV(previous)). A lock held by another owner
    and not expired is refused, naming the holder, since when and until when, with the fix (wait, or remove the file
    if that run is dead)."
  - Releasing removes the lock only when O(owner) holds it; anybody else's lock is left in place and the result
    says whose it is (RV(lock)).
  - M(luo.liveupdate.live_update) takes this lock before it stages a kernel and releases it at the end; a caller that
    holds the lock around a longer turn passes its owner to it (O(luo.liveupdate.live_update#module:lock_owner)).
author:
  - LUO live update maintainers (@luo-liveupdate)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the lock and reports what would happen, failing when the lock would be refused; writes nothing.
  diff_mode:
    support: full
    details: The lock file before and after.
  platform:
    platforms: posix
options:
  state:
    description:
      - V(acquired) takes the lock for O(owner); V(released) removes it when O(owner) holds it.
    type: str
    choices: [acquired, released]
    default: acquired
  owner:
    description:
      - Who takes or releases the lock, one line of up to 200 characters, the same for every task of one run (for
        example C(awx job 42)).
    type: str
    required: true
  ttl:
    description:
      - Seconds the lock is held at most; after that another owner takes it over. Must be more than 0.
      - Only used with O(state=acquired).
    type: int
    default: 3600
  path:
    description:
      - Absolute path on the managed host of the lock file. It must be on a disk, not in C(/run), to survive the kexec.
    type: path
    default: /var/lib/luo-liveupdate/lock
  controller:
    description:
      - Where the run that takes the lock runs, recorded in the lock so that a refusal can say it.
      - When not given, the address the connection came from (C(SSH_CLIENT)), else null.
    type: str
  facts:
    description:
      - Also return what M(luo.liveupdate.info) reports about this host (RV(facts)), read before the lock changes.
        M(luo.liveupdate.live_update) reads the new boot and releases its lock in this one run.
    type: dict
    suboptions:
      units:
        description: Units whose states the facts hold, as O(luo.liveupdate.info#module:units) takes them.
        type: list
        elements: str
        default: []
notes:
  - Writing the lock in C(/var/lib) needs root (C(become)).
seealso:
  - module: luo.liveupdate.live_update
'''

EXAMPLES = r'''
- name: Hold the host for this job
  luo.liveupdate.lock:
    owner: "awx job {{ awx_job_id }}"
    ttl: 3600

- name: Live update, under the same owner (the action finds the lock held and leaves it held)
  luo.liveupdate.live_update:
    kernel: /boot/vmlinuz-7.3.4
    lock_owner: "awx job {{ awx_job_id }}"

- name: Let the next job in
  luo.liveupdate.lock:
    state: released
    owner: "awx job {{ awx_job_id }}"

- name: Let the next job in, with what the host looks like as it does
  luo.liveupdate.lock:
    state: released
    owner: "awx job {{ awx_job_id }}"
    facts:
      units: [postgresql.service]
  register: released
'''

RETURN = r'''
path:
  description: The lock file on the host.
  returned: always
  type: str
  sample: /var/lib/luo-liveupdate/lock
lock:
  description:
    - The lock after the task (in check mode, as it would be), null when there is none.
    - When the lock is refused, or when O(state=released) leaves another owner's lock, the holder's.
  returned: when the lock could be read
  type: dict
  contains:
    owner:
      description: Who holds it.
      type: str
    controller:
      description: Where the run that holds it runs, null when unknown.
      type: str
    started:
      description: When it was taken, wall-clock epoch seconds.
      type: int
    expires:
      description: When it expires, wall-clock epoch seconds.
      type: int
  sample: {"owner": "awx job 42", "controller": "awx-ee-5c7d", "started": 1798800000, "expires": 1798803600}
previous:
  description: The lock before the task, null when there was none. After a take-over, whose it was.
  returned: when the lock could be read
  type: dict
acquired:
  description: Whether O(owner) holds the lock now (in check mode, would).
  returned: with O(state=acquired)
  type: bool
  sample: true
reentrant:
  description: O(owner) held the lock already; its expiry was moved.
  returned: with O(state=acquired)
  type: bool
  sample: false
taken_over:
  description: The lock of another owner had expired and was taken over; RV(previous) says whose it was.
  returned: with O(state=acquired)
  type: bool
  sample: false
held_by:
  description: The holder when the lock is refused, else null.
  returned: with O(state=acquired)
  type: dict
released:
  description: Whether the lock of O(owner) was removed (in check mode, would be).
  returned: with O(state=released)
  type: bool
  sample: true
facts:
  description: What M(luo.liveupdate.info) returns for this host with the units of O(facts.units), read before the lock changed.
  returned: with O(facts)
  type: dict
  sample: {ready: true, reasons: [], kernel: {release: 7.3.4}, units: {}}
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.luo.liveupdate.plugins.module_utils import info_report, lock
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host


def default_controller():
    """The address the connection came from, when ssh says it."""
    words = (os.environ.get('SSH_CLIENT') or '').split()
    return words[0] if words else None


def facts_of(module, host, units):
    """info's report on the host and ``units``; a bad unit name fails the task before the lock changes."""
    options = dict(target_kernel=None, target_newest=False, probe_device=False, units=units)
    try:
        return info_report.report(host, options)[0]
    except info_report.ReportFailed as exc:
        module.fail_json(msg='facts: %s' % exc.msg, changed=False, path=module.params['path'])
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['acquired', 'released'], default='acquired'),
            owner=dict(type='str', required=True),
            ttl=dict(type='int', default=3600),
            path=dict(type='path', default=lock.DEFAULT_PATH),
            controller=dict(type='str'),
            facts=dict(type='dict', options=dict(units=dict(type='list', elements='str', default=[]))),
        ),
        supports_check_mode=True,
    )
    params = module.params
    result = dict(changed=False, path=params['path'])
    host = Host.from_module(module)
    if params['facts'] is not None:
        result['facts'] = facts_of(module, host, params['facts']['units'])
    try:
        if params['state'] == 'acquired':
            outcome = lock.acquire(host, params['path'], params['owner'], params['ttl'],
                                   params['controller'] or default_controller(), time.time(), module.check_mode)
        else:
            outcome = lock.release(host, params['path'], params['owner'], time.time(), module.check_mode)
    except (ValueError, lock.LockError) as exc:
        module.fail_json(msg=str(exc), **result)
    result.update(outcome)
    if module._diff:
        after = outcome['lock'] if outcome['changed'] else outcome['previous']
        header = 'lock (%s)' % params['path']
        result['diff'] = {'before_header': header, 'after_header': header,
                          'before': lock.diff_text(outcome['previous']), 'after': lock.diff_text(after)}
    if params['state'] == 'acquired' and not outcome['acquired']:
        module.fail_json(**result)
    if params['state'] == 'released' and outcome['lock'] is not None:
        module.warn(outcome['msg'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
