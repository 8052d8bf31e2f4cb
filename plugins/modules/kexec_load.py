#!/usr/bin/python
# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: kexec_load
short_description: Stage or unload the next kernel for a live update (kexec_file_load only)
version_added: 1.0.0
description:
  - Stages a kernel for the next C(kexec) (C(systemctl kexec)) with C(kexec -s -l), that is C(kexec_file_load),
    the only way the Live Update Orchestrator (LUO) state travels to the next kernel; or unloads the staged
    kernel with C(kexec -s -u).
  - Before loading, checks the image against the running kernel as M(luo.liveupdate.info) does (LUO, KHO and
    memfd support in its config, the C(kho), C(luo) and C(memfd) ABI strings identical to the running kernel's,
    the page size) and refuses an incompatible target, or one whose compatibility is unknown, unless O(force=true).
    A C(luo) ABI mismatch panics the new kernel at boot.
  - The command line of the next kernel starts from O(cmdline), or from the running one (O(reuse_cmdline)) without
    C(BOOT_IMAGE=) and C(initrd=); O(remove) and O(append) apply on top. C(liveupdate=on) and C(kho=on) are always
    set, replacing other values of them, since the next kernel needs both to take the state over.
  - Records what it loaded in C(/run/luo-liveupdate/kexec.json) (kernel and initrd paths with their sha256, the
    final command line, the target release, the time); a boot clears C(/run) as it clears the staged kernel. The
    same inputs, with a kernel staged (C(/sys/kernel/kexec_loaded)) and a matching record, change nothing. A
    record that does not match, or a staged kernel without a record, means a reload.
  - A failed load leaves the staged state as it was; should a kernel be staged by a failed load nonetheless, it is
    unloaded again.
author:
  - LUO live update maintainers (@luo-liveupdate)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - luo.liveupdate.kexec_stage
  - luo.liveupdate.stage_lock
  - luo.liveupdate.stage_preflight
attributes:
  check_mode:
    support: full
    details: Inspects the image and reports what it would load (RV(argv), RV(cmdline)) and the compatibility verdict;
      stages nothing and writes nothing but the cache of image facts (see the notes).
  diff_mode:
    support: full
    details: The staged state before (nothing, a kernel without record, or the previous record) and after.
  platform:
    platforms: posix
options:
  state:
    description:
      - V(loaded) stages O(kernel), which it requires; V(unloaded) unloads whatever is staged and removes the record.
    type: str
    choices: [loaded, unloaded]
    default: loaded
notes:
  - The image facts come from the cache M(luo.liveupdate.info) keeps (see its notes) while the image file is unchanged.
  - The kernel says only whether a kernel is staged, not which. A kernel staged by another tool after this module
    staged one, with the record left in place, cannot be told apart from the recorded one.
  - Under kernel lockdown (C(integrity) or C(confidentiality)) C(kexec_file_load) accepts only images signed with a
    key the kernel trusts.
seealso:
  - module: luo.liveupdate.info
  - module: luo.liveupdate.kernel_cmdline
requirements:
  - kexec-tools with C(kexec_file_load) support (C(-s)), and a kernel that allows kexec (C(kernel.kexec_load_disabled=0)).
'''

EXAMPLES = r'''
- name: Stage 7.3.4 and its initramfs with the running command line (plus liveupdate=on kho=on)
  luo.liveupdate.kexec_load:
    kernel: /boot/vmlinuz-7.3.4
  register: staged

- name: Stage it with an initramfs of its own
  luo.liveupdate.kexec_load:
    kernel: /boot/vmlinuz-7.3.4
    initrd: /srv/initramfs-7.3.4-debug.img

- name: Stage with a command line of its own, plus more KHO scratch memory
  luo.liveupdate.kexec_load:
    kernel: /boot/vmlinuz-7.3.4
    cmdline: root=/dev/vda1 ro console=ttyS0
    append:
      - kho_scratch=200%
    remove:
      - quiet

- name: See what would be staged and whether the target fits
  luo.liveupdate.kexec_load:
    kernel: /boot/vmlinuz-7.3.4
  check_mode: true
  register: plan

- name: Stage it under the host lock, so that no other run stages or kexecs this host meanwhile
  luo.liveupdate.kexec_load:
    kernel: /boot/vmlinuz-7.3.4
    lock_owner: "awx job {{ awx_job_id | default('manual') }}"
    lock_ttl: 1800

- name: Stage the newest installed kernel newer than the running one, if the host can take a live update now
  luo.liveupdate.kexec_load:
    preflight:
      units: [postgresql.service]
  register: prepared

- name: Unload whatever is staged
  luo.liveupdate.kexec_load:
    state: unloaded
'''

RETURN = r'''
extends_documentation_fragment:
  - luo.liveupdate.kernel_target
  - luo.liveupdate.stage_lock
  - luo.liveupdate.stage_preflight
loaded:
  description: Whether a kernel is staged after the task (in check mode, would be).
  returned: always
  type: bool
  sample: true
kernel:
  description: The staged kernel image.
  returned: when O(state=loaded)
  type: str
  sample: /boot/vmlinuz-7.3.4
initrd:
  description: The staged initramfs (O(initrd), or the one paired with O(kernel)), null when none.
  returned: when O(state=loaded)
  type: str
  sample: /boot/initrd.img-7.3.4
release:
  description: The release of the staged kernel (what C(uname -r) will say), null when unknown.
  returned: when the target kernel image was inspected
  type: str
  sample: 7.3.4
cmdline:
  description: The final command line of the next kernel.
  returned: when the target kernel image was inspected
  type: str
  sample: root=/dev/vda1 ro console=ttyS0 liveupdate=on kho=on
argv:
  description:
    - The kexec command that was run (or, in check mode or when nothing needed to change, that staging runs).
    - With O(state=unloaded), the unload command, or an empty list when nothing was staged.
  returned: always
  type: list
  elements: str
  sample: [/usr/sbin/kexec, -s, -l, /boot/vmlinuz-7.3.4, --initrd=/boot/initrd.img-7.3.4,
           --command-line=root=/dev/vda1 ro console=ttyS0 liveupdate=on kho=on]
record:
  description: The file that records what this module staged.
  returned: always
  type: str
  sample: /run/luo-liveupdate/kexec.json
reasons:
  description:
    - Why this host cannot stage or unload at all (no kexec, kexec without C(-s), C(kexec_load_disabled)), as
      M(luo.liveupdate.info) returns them in RV(luo.liveupdate.info#module:reasons); O(force) does not change that.
  returned: when the host cannot run kexec_file_load
  type: list
  elements: dict
  contains:
    id:
      description: Stable identifier, for example C(kexec-missing).
      type: str
    message:
      description: What is missing.
      type: str
    fix:
      description: What to do about it.
      type: str
  sample:
    - id: kexec-missing
      message: kexec (kexec-tools) is not installed
      fix: install kexec-tools (apt-get install kexec-tools / dnf install kexec-tools)
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.luo.liveupdate.plugins.module_utils import hostfacts, info_report, kexec, preflight, staging, target
from ansible_collections.luo.liveupdate.plugins.module_utils import lock as lockrules
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host
from ansible_collections.luo.liveupdate.plugins.module_utils.kexec import Refused
from ansible_collections.luo.liveupdate.plugins.module_utils.kimage import KernelImageError

# systemd itself holds /dev/liveupdate for a moment at times: a busy device is probed once more after this.
DEVICE_BUSY_RETRY_S = 3.0


def paired_initrd(module, host, kernel, image, result):
    """The initramfs to stage: the one given, else the one named after the kernel as its distribution names it."""
    params = module.params
    if params['initrd'] and not os.path.isfile(host.path(params['initrd'])):
        raise Refused('initrd %s does not exist or is not a regular file: give the path of the initramfs of %s, '
                      'for example /boot/initrd.img-%s, or leave initrd out for a kernel that needs none'
                      % (params['initrd'], kernel, image['release'] or 'RELEASE'), result)
    result['initrd'] = params['initrd'] or image['initrd']['path']
    return result['initrd']


def refuse_missing_initrd(module, kernel, image, initrd, result):
    """A kernel that needs an initramfs does not boot without one: refuse, or warn with force."""
    if initrd or not image['initrd']['needed']:
        return
    text = kexec.initrd_missing_text(kernel, image['release'], image['initrd']['candidates'])
    if not module.params['force']:
        raise Refused('refusing to stage %s; or set force: true to stage it anyway' % text, result)
    module.warn('staging %s anyway (force): it will not find its root filesystem' % text)


def judged_target(host, kernel, result, image=None):
    """The kernel's facts, judged against the running kernel (target, compatible, target_reasons in result); ``image``:
    its facts when the preflight judged it already (then the result holds that judgement)."""
    if image is not None:
        return image
    try:
        image, judged = target.judge(host, 'kernel', kernel, hostfacts.running_kernel(host))
    except ValueError as exc:
        raise Refused(str(exc), result) from None
    except KernelImageError as exc:
        raise Refused('kernel: %s' % exc, result) from None
    result.update(judged)
    return image


def refuse_incompatible(module, kernel, image, result):
    """A kernel that cannot take over from the running one is refused, unless forced (then each reason is a warning)."""
    reasons = result['target_reasons']
    if reasons and not module.params['force']:
        raise Refused('refusing to stage %s (release %s): it cannot take over from the running kernel: %s. '
                      'Fix: %s; or set force: true to stage it anyway' % (
                          kernel, image['release'], '; '.join(r['message'] for r in reasons),
                          '; '.join(sorted(set(r['fix'] for r in reasons)))), result)
    for found in reasons:
        module.warn('staging %s anyway (force): %s' % (kernel, found['message']))


def take_lock(module, host, result):
    """With lock_owner, the host lock, before anything about the staged state is read; None without it."""
    params = module.params
    if params['lock_owner'] is None:
        return None
    taken = lockrules.take_for_staging(host, params['lock_owner'], params['lock_ttl'], params['lock_controller'],
                                       time.time(), module.check_mode)
    if not taken['acquired']:
        why = 'cannot take the lock: %s' % taken['msg'] if taken['held_by'] is None else taken['msg']
        raise Refused('%s; nothing was staged' % why, dict(result, lock=taken))
    return taken


def stage(module, host):
    params = module.params
    # Until it is staged, "loaded" tells what a failure leaves: whatever was staged before.
    result = dict(changed=False, loaded=staging.loaded_now(host), record=kexec.RECORD_PATH, argv=[], kernel=params['kernel'],
                  initrd=params['initrd'])
    try:
        target.require_absolute('initrd', params['initrd'], '/boot/initrd.img-7.3.4')
        append = kexec.append_params(params['append'])
        remove = kexec.remove_names(params['remove'])
        base = kexec.base_cmdline(params['cmdline'], params['reuse_cmdline'], host.read('/proc/cmdline'))
        cmdline = kexec.final_cmdline(base, append, remove)
        if params['lock_owner'] is not None:
            lockrules.check_inputs(params['lock_owner'], params['lock_ttl'], lockrules.DEFAULT_PATH, ('lock_owner', 'lock_ttl'))
    except ValueError as exc:
        raise Refused(str(exc), result) from None
    kernel, image = params['kernel'], None
    if params['preflight'] is not None:
        kernel, image = prepared(module, host, result)
        if kernel is None:
            return dict(result, msg='nothing to stage: no installed kernel is newer than the running %s'
                        % result['facts']['kernel']['release'])
    taken = take_lock(module, host, result)
    try:
        done = stage_locked(module, host, dict(result, cmdline=cmdline), kernel, image)
    except Refused as refused:
        if taken is not None:
            refused.result['lock'] = lockrules.give_back(host, taken, params['lock_owner'], time.time(), module.check_mode)
        raise
    if taken is not None:
        done['lock'] = taken
    return done


def prepared(module, host, result):
    """The preflight option: info's report (into result's facts), then the kernel to stage (given, else the newest
    newer one; None when there is none) and its image facts; Refused, with ``refused``, by a preflight check."""
    params = module.params
    options = dict(target_kernel=params['kernel'], target_newest=params['kernel'] is None,
                   **params['preflight'])
    try:
        report, image = info_report.report(host, options, 'kernel', busy_retry_s=DEVICE_BUSY_RETRY_S)
    except info_report.ReportFailed as exc:
        raise Refused(exc.msg, dict(result, facts=exc.result or None)) from None
    result['facts'] = report
    kernel = params['kernel'] or report.get('target_chosen')
    if kernel is None:
        return None, None
    result['kernel'] = kernel
    record = kexec.read_record(host.path(kexec.RECORD_PATH))
    try:
        preflight.check(report, record, kernel, params['initrd'], params['force'], params['preflight']['units'])
    except preflight.Refusal as exc:
        extra = {'already_staged': record} if exc.reason == 'already-staged' else {}
        raise Refused(exc.text, dict(result, refused=exc.reason, **extra)) from None
    result.update(target=report['target'], compatible=report['compatible'], target_reasons=report['target_reasons'])
    return kernel, image


def stage_locked(module, host, result, kernel, image=None):
    """Stage ``kernel`` (``image``: its facts, when known already), or say it is staged already; the returned result
    carries the msg."""
    params = module.params
    cmdline = result.pop('cmdline')
    image = judged_target(host, kernel, result, image)
    initrd = paired_initrd(module, host, kernel, image, result)
    facts = hostfacts.kexec_facts(host)
    result.update(release=image['release'], cmdline=cmdline,
                  argv=kexec.load_argv(staging.kexec_path(facts), kernel, initrd, cmdline))
    refuse_incompatible(module, kernel, image, result)
    refuse_missing_initrd(module, kernel, image, initrd, result)
    try:
        wanted = kexec.make_record(kernel, kexec.file_sha256(host.path(kernel)), initrd,
                                   kexec.file_sha256(host.path(initrd)) if initrd else None,
                                   cmdline, image['release'], staging.now())
    except OSError as exc:
        raise Refused('cannot read %s: %s; run with root privileges (become: true) or make it readable'
                      % (exc.filename, exc.strerror), result) from None
    record = kexec.read_record(host.path(kexec.RECORD_PATH))
    why = kexec.load_reason(facts['loaded'], record, wanted)
    result['loaded'] = True
    if module._diff:
        after = kexec.describe_staged(True, wanted if why else record)
        result['diff'] = kexec.diff_of(kexec.describe_staged(facts['loaded'], record), after)
    if why is None:
        return dict(result, msg='%s is staged already with this command line (%s=1, the record matches)'
                    % (kernel, kexec.LOADED_PATH))
    result['changed'] = True
    staging.refuse_host(facts, 'stage %s' % kernel, dict(result, loaded=facts['loaded']))
    if not module.check_mode:
        staging.run_load(host, facts, kernel, wanted, dict(result, loaded=facts['loaded']))
    return dict(result, msg='%s %s: %s' % ('would stage' if module.check_mode else 'staged', kernel, why))


def refuse_bad_state(module):
    """kernel is needed to stage, unless the preflight chooses it; the preflight is for staging only."""
    params = module.params
    if params['state'] == 'loaded' and params['kernel'] is None and params['preflight'] is None:
        module.fail_json(msg='state is loaded but kernel is missing: give kernel: PATH (for example /boot/vmlinuz-7.3.4), '
                         'or preflight: {} to stage the newest installed kernel newer than the running one', changed=False)
    if params['state'] == 'unloaded' and params['preflight'] is not None:
        module.fail_json(msg='preflight is for staging (state: loaded), not for state: unloaded: leave it out', changed=False)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['loaded', 'unloaded'], default='loaded'),
            preflight=dict(type='dict', options=dict(
                units=dict(type='list', elements='str', default=[]),
                probe_device=dict(type='bool', default=True),
            )),
            lock_owner=dict(type='str'),
            lock_ttl=dict(type='int', default=3600),
            lock_controller=dict(type='str'),
            **kexec.STAGE_OPTIONS
        ),
        supports_check_mode=True,
    )
    refuse_bad_state(module)
    host = Host.from_module(module)
    try:
        done = stage(module, host) if module.params['state'] == 'loaded' else staging.unload(host, module.check_mode, module._diff)
    except Refused as refused:
        module.fail_json(msg=refused.msg, **refused.result)
    module.exit_json(**done)


if __name__ == '__main__':
    main()
