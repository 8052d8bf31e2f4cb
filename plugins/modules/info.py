#!/usr/bin/python
# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: info
short_description: Report whether a host can do a kernel live update with LUO
version_added: 1.0.0
description:
  - Reads, and changes nothing, what a kernel live update with the Live Update Orchestrator (LUO) needs on the
    host; the running kernel's config, its boot parameters, C(/dev/liveupdate), Kexec HandOver (KHO), kexec-tools
    and the kernel's kexec switches, and systemd.
  - Returns RV(ready) and a list of RV(reasons), one per blocker, each with an id, a message that names
    what is missing and the fix.
  - With O(target_kernel), also inspects that kernel image (release, config, the LUO ABI strings) and says whether it
    can take over from the running kernel without losing or corrupting the preserved state.
  - Never holds C(/dev/liveupdate) open; systemd needs it at boot, at shutdown and for C(LUOSession=) services.
    Opening it at all is opt-in (O(probe_device)).
author:
  - LUO live update maintainers (@luo-liveupdate)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - luo.liveupdate.unit_states
attributes:
  check_mode:
    support: full
    details: The module only reads; the one file it writes is its cache of kernel image facts (see the notes), in check
      mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  target_kernel:
    description:
      - Path on the managed host of a kernel image (bzImage/vmlinuz, arm64 Image or Image.gz) to check as the
        target of a live update.
      - Its config is taken from an embedded IKCONFIG, a C(config-RELEASE) file beside it, C(/boot/config-RELEASE)
        or C(/lib/modules/RELEASE/config).
      - When the image payload or its config cannot be read the answer is unknown, and unknown is never compatible.
    type: path
  target_newest:
    description:
      - Without O(target_kernel), check as the target the newest installed kernel (RV(kernels)) whose release is newer
        than the running one, and say which in RV(target_chosen); when none is newer, no target is checked.
      - The choice of M(luo.liveupdate.live_update) when it is given no kernel, made in the same module run.
    type: bool
    default: false
  probe_device:
    description:
      - Open C(/dev/liveupdate) once and close it at once, to tell a usable device from a busy (another opener, for
        example systemd during a C(LUOSession=) service start) or broken (incoming state unreadable) one.
      - Off by default so that a readiness check can never race systemd for the device.
    type: bool
    default: false
notes:
  - The facts of each kernel image it inspected are kept in C(/var/cache/luo-liveupdate/images.json) (mode 0600), so
    that M(luo.liveupdate.kexec_load) and later runs do not decompress the same image again. An entry counts only while
    the image file is unchanged (device, inode, size, mtime, ctime) and so is the config file read beside it; a payload
    that could not be decompressed or an image without a config is not kept. A cache file of another user, or that
    others may write, is ignored.
seealso:
  - module: luo.liveupdate.kernel_cmdline
requirements:
  - Linux. The facts about LUO mean something only on x86_64 and arm64.
'''

EXAMPLES = r'''
- name: Check that the host is ready for live updates
  luo.liveupdate.info:
  register: luo

- name: Stop here when it is not, with what to fix
  ansible.builtin.assert:
    that: luo.ready
    fail_msg: "{{ luo.reasons | map(attribute='message') | join('; ') }}"

- name: Check the target kernel too
  luo.liveupdate.info:
    target_kernel: /boot/vmlinuz-7.3.4
  register: luo_target

- name: Refuse a target that would lose or corrupt the state
  ansible.builtin.assert:
    that: luo_target.compatible
    fail_msg: "{{ luo_target.target_reasons | map(attribute='fix') | join('; ') }}"

- name: Tell a busy device from a missing one
  luo.liveupdate.info:
    probe_device: true

- name: What a service keeps in its fd store
  luo.liveupdate.info:
    units: [redis.service]
'''

RETURN = r'''
extends_documentation_fragment:
  - luo.liveupdate.unit_states
  - luo.liveupdate.kernel_target
ready:
  description: True when nothing blocks a live update on this host (RV(reasons) is empty).
  returned: always
  type: bool
  sample: false
reasons:
  description: One entry per blocker, in the order to fix them.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Stable identifier, for example C(kernel-config-liveupdate), C(cmdline-kho), C(device-missing).
      type: str
    message:
      description: What is missing, with the values found.
      type: str
    fix:
      description: What to do about it.
      type: str
  sample:
    - id: cmdline-liveupdate
      message: the running kernel was booted without liveupdate=on (liveupdate=absent)
      fix: run luo.liveupdate.kernel_cmdline with liveupdate=on and kho=on, then reboot
kernel:
  description: The running kernel.
  returned: always
  type: dict
  contains:
    release:
      description: C(uname -r).
      type: str
    boot_id:
      description: This boot's id (C(/proc/sys/kernel/random/boot_id)), new at every boot, a kexec too; null when unreadable.
      type: str
    arch:
      description: C(uname -m).
      type: str
    page_size:
      description: Page size in bytes.
      type: int
    config_source:
      description: Where the config was read from, null when none was found.
      type: str
    options:
      description: The LUO-relevant config options (without the C(CONFIG_) prefix) and their values; C(n) when unset.
      type: dict
    image:
      description: The running kernel's image found in C(/boot), null when none was found.
      type: str
    abi:
      description: The LUO ABI strings (C(kho), C(luo), C(memfd)) of the running kernel's image, null when unknown.
      type: dict
  sample:
    release: 7.2.13
    arch: x86_64
    page_size: 4096
    config_source: /boot/config-7.2.13
    options: {LIVEUPDATE: y, KEXEC_HANDOVER: y, LIVEUPDATE_MEMFD: y, KEXEC_HANDOVER_ENABLE_DEFAULT: n}
    image: /boot/vmlinuz-7.2.13
    abi: {kho: kho-v4, luo: luo-v5, memfd: memfd-v2}
cmdline:
  description: The running kernel's command line and the LUO parameters in it (null when absent).
  returned: always
  type: dict
  contains:
    raw:
      description: C(/proc/cmdline).
      type: str
    liveupdate:
      description: Value of C(liveupdate=).
      type: str
    kho:
      description: Value of C(kho=).
      type: str
    kho_scratch:
      description: Value of C(kho_scratch=).
      type: str
device:
  description: C(/dev/liveupdate).
  returned: always
  type: dict
  contains:
    path:
      description: The device path.
      type: str
    present:
      description: Whether it exists.
      type: bool
    char_device:
      description: Whether it is a character device.
      type: bool
    major_minor:
      description: C(MAJOR:MINOR), null when not a device.
      type: str
    probe:
      description:
        - Result of opening it once (O(probe_device)), null when not probed; C(state) is C(ok), C(absent), C(busy),
          C(io-error), C(permission-denied) or C(not-a-device).
        - When busy, C(holders) lists the processes that have it open (C(pid), C(comm)), as far as C(/proc) tells.
      type: dict
kho:
  description: Kexec HandOver.
  returned: always
  type: dict
  contains:
    enabled:
      description: KHO is switched on in this boot (C(kho=on), or on by default in the kernel config).
      type: bool
    incoming:
      description: This boot received KHO state, that is it was a live update. Null when unknown.
      type: bool
    evidence:
      description:
        - What RV(kho.incoming) was decided from, the best witness first; null when unknown.
        - "C(kernel log) - the lines C(KHO: found kexec handover data) and C(KHO: exec from) of this boot, or their
          absence from a log that still starts at this boot's first line."
        - C(debugfs) - C(/sys/kernel/debug/kho/in) (and C(out)).
        - C(KExecCount) - systemd's count of kexecs since the last cold boot; it counts a kexec without state too.
      type: str
    previous_release:
      description: The release of the kernel that handed over to this one (C(KHO exec from)), null when not logged.
      type: str
    count:
      description: KHO's count of live updates since the last cold boot, as this kernel logged it; null when not logged.
      type: int
    liveupdate_number:
      description: LUO's live update number, as logged when it retrieved the handed-over state; null when not logged.
      type: int
    kernel_log_error:
      description: Why the kernel log (C(/dev/kmsg)) could not be read, null when it was read. Reading it needs root
        when C(kernel.dmesg_restrict=1).
      type: str
kexec:
  description: kexec-tools and the kernel's kexec switches.
  returned: always
  type: dict
  contains:
    path:
      description: Path of the kexec tool, null when not installed.
      type: str
    version:
      description: Its version.
      type: str
    file_load_supported:
      description: It supports C(kexec_file_load) (C(-s)).
      type: bool
    loaded:
      description: A kernel is staged (C(/sys/kernel/kexec_loaded)).
      type: bool
    load_disabled:
      description: C(kernel.kexec_load_disabled) is set.
      type: bool
    lockdown:
      description: The kernel lockdown mode (C(none), C(integrity), C(confidentiality)), null when unknown.
      type: str
systemd:
  description: The service manager.
  returned: always
  type: dict
  contains:
    version:
      description: systemd's major version, null when systemd is not there.
      type: int
    fdstore_preserve_supported:
      description: fd stores survive C(systemctl kexec) (systemd >= 261).
      type: bool
    luo_session_supported:
      description: C(LUOSession=) is available (systemd >= 262).
      type: bool
    error:
      description: Why systemd facts could not be read, null when they could.
      type: str
    kexec_count:
      description: Live updates since the last cold boot (C(KExecCount)).
      type: int
    last_live_update_ms:
      description: >-
        Phases of the last live update in milliseconds (C(stopping), C(exit), C(systemd_shutdown), C(kexec),
        C(kernel), C(initrd), C(userspace) and their C(total)), from the shutdown timestamps systemd restored; a
        phase that cannot be computed is null; null when this boot was not a live update.
      type: dict
kernels:
  description:
    - The installed kernel images (C(/boot/vmlinuz-RELEASE), C(/boot/Image-RELEASE), C(/lib/modules/RELEASE/vmlinuz),
      C(/usr/lib/modules/RELEASE/vmlinuz)), one per release, the newest first as the boot loader orders releases.
  returned: always
  type: list
  elements: dict
  contains:
    release:
      description: The release, from the file or directory name.
      type: str
    image:
      description: The image path (the one in C(/boot) when there are several).
      type: str
  sample:
    - {release: 7.3.4, image: /boot/vmlinuz-7.3.4}
    - {release: 7.2.13, image: /boot/vmlinuz-7.2.13}
boot:
  description: How the host boots, and which boot configuration governs the next boot's command line.
  returned: always
  type: dict
  contains:
    firmware:
      description: C(uefi) when the kernel was started by UEFI firmware (C(/sys/firmware/efi) exists), else C(bios).
      type: str
    secure_boot:
      description: Whether the firmware enforces Secure Boot (the C(SecureBoot) EFI variable); null on BIOS or when unreadable.
      type: bool
    loader:
      description:
        - The boot loader's name and version as it told the firmware (the C(LoaderInfo) EFI variable of the Boot
          Loader Interface, set by systemd-boot and by GRUB 2.12 and later), for example C(systemd-boot 262.1-1) or
          C(GRUB 2.14-4); null when the loader set none, and on BIOS.
      type: str
    bootloader:
      description:
        - The backend M(luo.liveupdate.kernel_cmdline) picks with C(bootloader=auto) (C(grubby), C(kernel-install) or
          C(grub)); null when none was found.
      type: str
    evidence:
      description: What the backend was recognised by (files and executables found).
      type: list
      elements: str
    error:
      description: Why no backend was found, with what was looked for; null when one was.
      type: str
  sample:
    firmware: uefi
    secure_boot: false
    loader: systemd-boot 262.1-1
    bootloader: kernel-install
    evidence: [boot entries in /boot/efi/loader/entries, /etc/kernel/cmdline exists]
    error: null
target_chosen:
  description: With O(target_newest), the image of the newest installed kernel newer than the running one, checked as
    the target; null when none is newer.
  returned: with O(target_newest)
  type: str
  sample: /boot/vmlinuz-7.3.4
cautions:
  description: Conditions that do not block but may surprise, for example kernel lockdown (kexec then needs signed images).
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.luo.liveupdate.plugins.module_utils import info_report
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host


def main():
    module = AnsibleModule(
        argument_spec=info_report.OPTIONS,
        mutually_exclusive=[('target_kernel', 'target_newest')],
        supports_check_mode=True,
    )
    try:
        result, _image = info_report.report(Host.from_module(module), module.params)
    except info_report.ReportFailed as exc:
        module.fail_json(msg=exc.msg, changed=False, **exc.result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
