#!/usr/bin/python
# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: live_update
short_description: Move a host to a new kernel with a LUO live update and prove its state came back
version_added: 1.0.0
description:
  - Takes one host through a kernel live update with the Live Update Orchestrator (LUO), the way
    M(ansible.builtin.reboot) takes it through a reboot, and proves the result.
  - "Target: O(kernel), or when it is not given the newest installed kernel (C(/boot/vmlinuz-RELEASE),
    C(/boot/Image-RELEASE), C(/usr/lib/modules/RELEASE/vmlinuz)) whose release is newer than the running one,
    releases ordered as the boot loader orders them (numbers as numbers); the result says which in
    RV(kernel_chosen). When no installed kernel is newer, nothing is done and the task is ok and unchanged with
    RV(current=true). A default never goes back to an older or the same kernel; give O(kernel) for that."
  - "Stage options: O(initrd), O(cmdline), O(reuse_cmdline), O(append), O(remove) and O(force) are passed on to
    M(luo.liveupdate.kexec_load) as given and mean what they mean there; O(force) also lets the preflight accept a
    target it would refuse. Command line options it would refuse are refused before the host is touched."
  - "Two module runs when all goes well (RV(calls)): M(luo.liveupdate.kexec_load) makes the preflight, takes the lock and
    stages; after the kexec, M(luo.liveupdate.lock) reads the new boot and releases the lock."
  - "Preflight: what M(luo.liveupdate.info) reports on the host and the target kernel: the host must be ready (LUO kernel booted
    with C(liveupdate=on kho=on), C(/dev/liveupdate), kexec with C(kexec_file_load), systemd >= 261) and the target
    compatible (LUO, KHO and memfd config, identical ABI strings, same page size). The units in O(verify_units) must be
    loaded and active; their fd store entries are recorded. A target that needs an initramfs (a kernel with loadable
    modules) and has none is refused, and so is a host where nothing could tell the live update from a cold reboot
    afterwards (neither systemd's C(KExecCount) nor the kernel log can be read)."
  - "A host with a kernel staged already (C(/sys/kernel/kexec_loaded), see M(luo.liveupdate.kexec_load)) is refused in
    the preflight with nothing changed: another run may be about to kexec into it. The message says what is staged when
    the record of M(luo.liveupdate.kexec_load) says it (RV(already_staged)), and the fix: once sure nobody is about to
    use it, unload it (M(luo.liveupdate.kexec_load) with C(state=unloaded), or C(kexec -s -u))."
  - "Lock: after the preflight and before anything is staged, the host-side lock of M(luo.liveupdate.lock) is taken
    for O(lock_owner) (by M(luo.liveupdate.kexec_load), in the module run that stages), so that two runs (two AWX
    jobs) never live-update the same host at once. A lock held by another owner fails the task with
    RV(reason=locked), naming the holder, and nothing staged. The lock is released as the new boot is read, or after a
    failure (after unstaging); a release that fails is reported in RV(lock), not fatal. When O(lock_owner) held the
    lock before the task (a caller holding it around a longer turn), taking it again is re-entrant and leaves it held."
  - "Stage: M(luo.liveupdate.kexec_load) loads the target and its initramfs with C(kexec_file_load), making sure the
    next command line has C(liveupdate=on kho=on). Then C(systemctl kexec): systemd stops the services, keeps the fd
    stores marked C(FileDescriptorStorePreserve=) in LUO and jumps into the new kernel. The connection loss that
    follows is expected; a C(systemctl kexec) that fails while the host stays up fails the task at once, with
    systemctl's message, and the staged kernel is unloaded again; so does an old boot that still answers with
    systemd not stopping it (the kexec job failed)."
  - "Wait: the host's boot id is polled with short connect timeouts and a capped back-off until it changes, then
    systemd is given the rest of O(reboot_timeout) to finish starting units (C(systemctl is-system-running --wait)).
    While the host is away, a line says every 15 seconds how long it has been since the kexec, what is waited for and
    the last error, for example C(waiting for the new boot: 45 s since the kexec, up to 900 s (last: ssh: connect to
    host ... Connection refused)); AWX shows it in the job output."
  - "Verify: the new boot is the live update and not a cold reboot, proven by systemd's C(KExecCount) (one more,
    systemd >= 262) and by the kernel log of the new boot (C(KHO: found kexec handover data), C(KHO: exec from:
    RELEASE (count N)) naming the kernel that ran before, C(luo: Retrieved live update data)); anything against it,
    or nothing for it, fails the task (RV(handover)). Then the running release is the target's, every unit in
    O(verify_units) is active with the same fd store entry names, and O(test_command) succeeds."
  - "After the kexec, connection failures are retried with back-off until O(reboot_timeout) runs out. Every failure
    returns RV(phase) and RV(reason); after one before the kexec, the staged kernel is unloaded, the host untouched."
  - This module is an action plugin; it runs on the controller and drives the host through its connection.
author:
  - LUO live update maintainers (@luo-liveupdate)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - luo.liveupdate.kexec_stage
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Runs the preflight and returns the plan (RV(plan)), what would be staged, with the command line
      M(luo.liveupdate.kexec_load) in check mode computes, whether the lock would be refused, and what must be true
      afterwards; takes no lock and stages nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  verify_units:
    description:
      - systemd units that must be active before and after, with the same fd store entry names (FDNAMEs).
      - A C(luo-state@NAME.service) keeper (role P(luo.liveupdate.preserve#role)) holds its state only while stopped, so its
        fd store is empty before and after; for it, its restore record C(/run/luo-state/NAME/restore.json) must say
        C(restored), be written by the new boot and name the boot before the kexec as the one that saved the state.
    type: list
    elements: str
    default: []
  test_command:
    description: A shell command run on the host after the live update; it must exit 0.
    type: str
  reboot_timeout:
    description: Seconds to wait for the host to come back on its new boot.
    type: int
    default: 600
  connect_timeout:
    description: Seconds a connection attempt may take while waiting; short, so an attempt into a host that is down gives
      up. Over ssh also the keep-alive (C(ServerAliveInterval) half of it, C(ServerAliveCountMax=3), unless the inventory
      sets them), with a new control master at the start and after the kexec; so no session hangs on a boot gone away.
    type: int
    default: 10
  lock_owner:
    description:
      - Who holds the host-side lock (M(luo.liveupdate.lock)) during the live update, one line of up to 200 characters.
      - When not given, an owner of this task alone, made of the controller's host name, its process id and the start
        time, so that the task is protected against other runs but never finds its own lock held.
      - A caller that holds the lock already (for example around health checks after the update) passes its owner; the
        task then takes it again (re-entrant) and leaves it held at the end.
    type: str
  lock_ttl:
    description:
      - Seconds the lock is taken for; after that another run may take it over. More than 0.
      - When not given, O(reboot_timeout) plus 600.
    type: int
notes:
  - The host must use systemd as PID 1. C(systemctl kexec) is dispatched with C(--no-block).
  - Reading the kernel log (C(/dev/kmsg)) needs root (C(become)) when C(kernel.dmesg_restrict=1); with systemd 261,
    which has no C(KExecCount), it is the only proof of the handover.
  - Blackout phases come from the shutdown timestamps systemd restores after a live update (systemd >= 262).
seealso:
  - module: luo.liveupdate.info
  - module: luo.liveupdate.kexec_load
  - module: luo.liveupdate.lock
  - module: ansible.builtin.reboot
'''

EXAMPLES = r'''
- name: Live update to the newest installed kernel, if one is newer than the running one
  luo.liveupdate.live_update:
  register: update

- name: Say which hosts were current already
  ansible.builtin.debug:
    msg: "{{ update.msg }}"
  when: update.current

- name: Live update to a given kernel, proving that the database kept its memory
  luo.liveupdate.live_update:
    kernel: /boot/vmlinuz-7.3.4
    verify_units:
      - mydb.service
    test_command: systemctl is-active mydb.service
    reboot_timeout: 900

- name: See what would happen, and whether another run holds the host
  luo.liveupdate.live_update:
    kernel: /boot/vmlinuz-7.3.4
  check_mode: true
  register: plan

- name: Live update under the lock of this AWX job
  luo.liveupdate.live_update:
    kernel: /boot/vmlinuz-7.3.4
    lock_owner: "awx job {{ awx_job_id }}"
'''

RETURN = r'''
kernel_before:
  description: Release running before.
  returned: when the preflight read it
  type: str
  sample: 7.2.13
kernel_target:
  description: Release of the target image.
  returned: when the preflight could read the target
  type: str
  sample: 7.3.4
kernel_after:
  description: Release running after the live update.
  returned: after the kexec
  type: str
  sample: 7.3.4
current:
  description:
    - True when O(kernel) was not given and no installed kernel is newer than the running one; then nothing was done,
      C(msg) says so and lists the installed releases.
  returned: when the preflight got that far
  type: bool
  sample: false
initrd:
  description: The initramfs staged with the target, null when none.
  returned: after the preflight
  type: str
  sample: /boot/initrd.img-7.3.4
handover:
  description: How the new boot was told from a cold reboot.
  returned: after the kexec
  type: dict
  contains:
    live:
      description: True when proven to be the live update; false when it is not (a cold reboot, or another handover);
        null when nothing tells.
      type: bool
    verdict:
      description: C(live), C(cold-reboot), C(handover-mismatch) or C(handover-unproven).
      type: str
    proof:
      description: The witnesses that agree, among C(kexec_count) (KExecCount one more), C(kernel_log) (the KHO and LUO
        lines of the new boot) and C(debugfs) (C(/sys/kernel/debug/kho/in)).
      type: list
      elements: str
    against:
      description: What contradicts a live update, as sentences.
      type: list
      elements: str
    kexec_count_before:
      description: systemd's KExecCount before, null without one (systemd 261).
      type: int
    kexec_count_after:
      description: systemd's KExecCount on the new boot, null without one.
      type: int
    previous_release:
      description: The release KHO says the new kernel was started from (C(KHO exec from)), null when not logged.
      type: str
    kho_count:
      description: KHO's count of live updates since the last cold boot, null when not logged.
      type: int
    liveupdate_number:
      description: LUO's live update number, null when LUO did not log it.
      type: int
  sample:
    live: true
    verdict: live
    proof: [kexec_count, kernel_log]
    against: []
    kexec_count_before: 0
    kexec_count_after: 1
    previous_release: 7.2.13
    kho_count: 1
    liveupdate_number: 1
kernel_chosen:
  description: The target picked when O(kernel) was not given.
  returned: when O(kernel) was not given
  type: str
  sample: /boot/vmlinuz-7.3.4
target:
  description: Path of the target kernel image.
  returned: unless RV(current) is true
  type: str
cmdline:
  description: Command line the new kernel was started with.
  returned: after staging
  type: str
system_state:
  description: What C(systemctl is-system-running --wait) said on the new boot before the checks (C(running), C(degraded)...).
  returned: after the kexec
  type: str
  sample: running
kexec_count:
  description: systemd's KExecCount after the live update, null when systemd has none (261).
  returned: after the kexec
  type: int
restored:
  description:
    - Per unit of O(verify_units), whether it is active and its fd store came back with the same names
      (C(fdstore_restored)); never true when the new boot is not a proven live update, since a service may make
      fresh state under the old names after a cold boot.
    - For a C(luo-state@) keeper also C(keeper_restored), whether its restore record proves the saved state came back.
  returned: after the kexec
  type: dict
  sample: {"demo.service": {"active": true, "fdstore": ["demo-state"], "fdstore_restored": true},
           "luo-state@cache.service": {"active": true, "fdstore": [], "fdstore_restored": true, "keeper_restored": true}}
blackout:
  description: How long the host was away.
  returned: once the host answered on its new boot
  type: dict
  contains:
    controller_s:
      description: Seconds from the kexec command to the first answer on the new boot, seen from the controller.
      type: float
    phases_ms:
      description:
        - The phases in milliseconds as systemd recorded them on the new boot (C(stopping), C(exit),
          C(systemd_shutdown), C(kexec), C(kernel), C(initrd), C(userspace), C(total)), see
          RV(luo.liveupdate.info#module:systemd.last_live_update_ms).
        - Null when the verification failed, or systemd recorded none (before systemd 262).
      type: dict
  sample: {controller_s: 31.2, phases_ms: {stopping: 812.0, exit: 40.1, systemd_shutdown: 120.4, kexec: 95.0,
                                           kernel: 2210.7, initrd: 1502.3, userspace: 4120.9, total: 8901.4}}
boot_id_before:
  description: The boot id of the boot before the live update; C(journalctl -b BOOT_ID) shows how it shut down.
  returned: on success
  type: str
  sample: 4f3b1c2e-8d5a-4b8e-9c61-2a7d0e5f9b13
test_command:
  description: What O(test_command) did on the new boot, C(rc), C(stdout) and C(stderr).
  returned: when O(test_command) ran
  type: dict
  sample: {rc: 0, stdout: "", stderr: ""}
info:
  description: The failed result of M(luo.liveupdate.info), as it came back.
  returned: when the reason is C(info-failed)
  type: dict
stage:
  description: The failed result of M(luo.liveupdate.kexec_load), as it came back.
  returned: when the reason is C(stage-failed)
  type: dict
elapsed:
  description: Seconds the whole live update took, preflight to report.
  returned: on success
  type: float
calls:
  description:
    - What the live update cost the host, per phase it reached (C(preflight) with the stage in the same module run,
      C(kexec), C(wait), C(boot), C(verify) with the lock's release, C(test_command); C(stage) and C(release) on
      failures) and in C(total), each as C(modules) (module runs), C(commands) (shell commands) and C(seconds)
      (controller clock). Each attempt counts, also those retried while the host was away.
    - The update's own work is C(total.seconds) less C(wait) (the host away), C(boot) (systemd finishing its boot)
      and C(test_command) (the caller's check).
  returned: always, also on failure
  type: dict
  sample: {"preflight": {"modules": 1, "commands": 0, "seconds": 5.5}, "kexec": {"modules": 0, "commands": 1, "seconds": 0.4},
           "wait": {"modules": 0, "commands": 9, "seconds": 24.6},
           "boot": {"modules": 0, "commands": 1, "seconds": 3.2}, "verify": {"modules": 1, "commands": 0, "seconds": 4.9},
           "test_command": {"modules": 0, "commands": 1, "seconds": 8.3}, "total": {"modules": 2, "commands": 12, "seconds": 46.9}}
plan:
  description: In check mode, what would be staged, whether the lock would be refused, and what must be true afterwards.
  returned: in check mode
  type: dict
  contains:
    stage:
      description: C(kernel), C(initrd) (null when none) and C(cmdline), the command line the new kernel would get,
        as M(luo.liveupdate.kexec_load) computes it in check mode from the same arguments.
      type: dict
    kexec:
      description: The command that would start the kexec.
      type: str
    lock:
      description: C(owner), C(path), C(refused) (whether taking the lock would be refused now), C(held_by) (the
        holder then, else null), C(reentrant) (the owner holds it already) and C(msg), what M(luo.liveupdate.lock) said.
      type: dict
    expect:
      description: What must be true afterwards, C(release), C(kexec_count) (the expected KExecCount, null without one),
        C(handover_proof) (what will prove the handover) and C(units) (the fd store names of each unit to verify).
      type: dict
  sample:
    stage: {kernel: /boot/vmlinuz-7.3.4, initrd: /boot/initrd.img-7.3.4, cmdline: root=/dev/vda1 ro liveupdate=on kho=on}
    kexec: systemctl --no-block kexec
    lock: {owner: awx job 42, path: /var/lib/luo-liveupdate/lock, refused: false, held_by: null, reentrant: false,
           msg: would take /var/lib/luo-liveupdate/lock for awx job 42 until 2027-01-01T11:10:00Z}
    expect: {release: 7.3.4, kexec_count: 1, handover_proof: [kexec_count, kernel_log], units: {demo.service: [demo-state]}}
lock:
  description:
    - The host-side lock of this run. C(owner), C(path), C(expires) (wall-clock epoch seconds), C(reentrant) (the owner
      held it before the task, so it is left held), C(taken_over) (the expired lock of another run that was replaced,
      else null), C(held_by) (the holder when refused, else null), C(released) (true once released, false when the release
      failed or found the lock no longer this run's, null when not this run's to release) and C(release_msg) (what the
      release said or why it failed).
  returned: when the lock was asked for (not in check mode)
  type: dict
  sample: {owner: awx job 42, path: /var/lib/luo-liveupdate/lock, expires: 1798804200, reentrant: false, taken_over: null,
           held_by: null, released: true, release_msg: released /var/lib/luo-liveupdate/lock}
already_staged:
  description: What M(luo.liveupdate.kexec_load) recorded about the kernel found staged (C(kernel), C(initrd), C(cmdline),
    C(release), C(loaded_at)), null when a kernel is staged without its record.
  returned: when the reason is C(already-staged)
  type: dict
reasons:
  description: Blockers found by the preflight (see M(luo.liveupdate.info)).
  returned: when the host is not ready
  type: list
  elements: dict
target_reasons:
  description: Why the target is not compatible (see M(luo.liveupdate.info)).
  returned: when the target is refused
  type: list
  elements: dict
unstaged:
  description: A kernel staged by this run was unloaded again after a failure before the kexec.
  returned: when a failure followed staging
  type: bool
phase:
  description: Where a failure happened, C(preflight), C(stage), C(kexec) (all with the host left as it was), C(wait)
    (no new boot), C(boot), C(verify) or C(test_command) (the connection failed while O(test_command) ran; on the
    new boot).
  returned: on failure
  type: str
  sample: verify
reason:
  description:
    - Why it failed, a stable id; C(msg) says it in words, with the fix.
    - C(preflight) - C(bad-unit), C(bad-lock-option) (before the host is touched), C(not-ready), C(already-staged),
      C(target-incompatible), C(initrd-missing), C(handover-unprovable), C(verify-unit-missing), C(verify-unit-inactive),
      C(read-failed), C(stage-failed) (before the lock, for example a O(kernel) that is no image), C(connection-lost).
    - C(stage) - C(locked) (another run holds the lock; nothing staged), C(lock-failed) (the lock could not be taken),
      C(stage-failed) (after taking the lock, given back), C(connection-lost) (in check mode, asking for the lock).
      C(kexec) - C(kexec-failed).
    - C(wait) - C(no-new-boot), C(kexec-not-started) (the old boot still runs and systemd is not stopping it; the
      staged kernel is unloaded again).
    - C(boot) and C(verify) - C(connection-lost), C(read-failed), C(info-failed), C(cold-reboot) (the preserved state
      was lost), C(handover-mismatch), C(handover-unproven), C(wrong-release), C(unit-not-active),
      C(fdstore-not-restored), C(keeper-not-restored) (a C(luo-state@) keeper's restore record does not prove the
      state came back), C(test-command-failed), C(test-command-timeout); with several, the first.
  returned: on failure
  type: str
  sample: cold-reboot
'''
