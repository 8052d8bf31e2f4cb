#!/usr/bin/python
# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: kernel_cmdline
short_description: Manage kernel parameters of the next boot (grub drop-in, grubby, kernel-install)
version_added: 1.0.0
description:
  - Makes kernel parameters such as C(liveupdate=on) and C(kho=on) present in, or absent from, the
    command line the next boot gets, through the boot configuration the host uses.
  - C(grub) (Debian, Ubuntu) writes a drop-in in C(/etc/default/grub.d/) that C(update-grub) sources
    after C(/etc/default/grub), then runs C(update-grub) (else C(grub-mkconfig -o) or C(grub2-mkconfig -o)
    on the existing C(grub.cfg)). The packaged C(/etc/default/grub) is never edited. The drop-in appends
    to what the files before it set (C(GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on"))
    so later edits of C(/etc/default/grub) still count; removing a parameter set there makes the drop-in
    carry the full computed value, recomputed on every run. Several tasks may share the drop-in, each
    keeping what the others put there.
  - The drop-in's first line marks it as written by this module. An existing file of that name without it
    (an administrator's settings, a symlink) is never rewritten - the task fails and says so - choose
    another O(grub_dropin) name, or rename or remove that file.
  - GRUB parses the C(linux) lines of C(grub.cfg) as a script, with the command line pasted in as written
    - C(;) ends the command, C(#) starts a comment, C($name) is expanded, quotes and backslashes are
    removed. So a value with characters other than letters, digits and C(_.,:/+=@%-) is written
    in single quotes for GRUB (C(x='7;echo')), inside the double quotes of the shell that sources the
    drop-in. GRUB hands a backslash or a single quote to the kernel with an extra backslash, so such values
    are refused for this backend. Settings in C(/etc/default/grub) or other drop-ins that GRUB would read
    otherwise (a C(#) comment, a C(;), an unclosed quote) are refused with the file that sets them.
  - After C(update-grub) the module reads the regenerated C(grub.cfg) the way GRUB does - with
    C(grub-script-check) where it is installed, then its own transcription of GRUB's word splitting,
    quoting, C($var), C(;) and C(#) rules - and restores everything unless a C(linux) line has the change.
  - C(grubby) (Fedora, RHEL) runs C(grubby --update-kernel) with C(--args) and C(--remove-args) for the
    entries that need it, and applies the same change to C(/etc/kernel/cmdline) when that file exists, since
    kernel-install gives its content to kernels installed later. C(/etc/default/grub) is left to grubby,
    which updates it itself where it does so (recent releases with O(kernel=ALL)). grubby writes values
    unquoted into boot entries whose options GRUB reads as script, so values are limited to letters,
    digits and C(_.,:/+=@%-) there.
  - C(kernel-install) (systemd-boot and other Boot Loader Specification setups) updates
    C(/etc/kernel/cmdline) (created from C(/usr/lib/kernel/cmdline), else from C(/proc/cmdline) without
    C(BOOT_IMAGE=) and C(initrd=), as kernel-install does) and the C(options) line of the existing entries
    kernel-install wrote for this machine (named after C(/etc/kernel/entry-token) or C(/etc/machine-id)), so
    the next boot has the change without re-running kernel-install. Values are passed unchanged.
  - C(/etc/kernel/cmdline) and the C(options) lines of boot entries are shared with other tools and people -
    parameters are changed where they stand, and every other byte (spacing, line breaks, other parameters)
    is kept.
  - Parameter names compare as the kernel compares them (C(kho-scratch) is C(kho_scratch)). Names are
    letters, digits, C(_), C(-) and C(.), starting with a letter, digit or C(_) (C(rd.luks.uuid),
    C(systemd.unit)); values are printable ASCII - a NUL, newline, tab or other control character is refused
    on every backend. Values with whitespace are quoted for the kernel.
  - Every refusal names the bad value and what to do, and changes nothing. Every write is atomic and keeps
    the file's owner and mode; when regenerating the boot configuration fails, or its command cannot even be
    started (missing interpreter, not executable, not a program), every file is put back as it was and the
    task fails saying why.
author:
  - LUO live update maintainers (@luo-liveupdate)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports what would change and the next boot command line it would give; changes nothing.
  diff_mode:
    support: full
    details: Shows the next boot command line and each file the module writes, before and after.
  platform:
    platforms: posix
options:
  params:
    description:
      - The kernel parameters to manage, each once (dashes and underscores in names are the same).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The parameter name, for example C(liveupdate) or C(rd.luks.uuid). Letters, digits, C(_), C(-) and C(.),
            starting with a letter, digit or C(_).
        type: str
        required: true
      value:
        description:
          - The value, as a string. Quote words YAML would turn into booleans, such as V("on"), V("off") or V("yes");
            a boolean is refused. A float is refused too (YAML drops digits); an integer is written in decimal.
          - With O(params[].state=present), omit it for a bare flag such as C(quiet); every other
            occurrence of the name is replaced by this one.
          - With O(params[].state=absent), omit it to remove every occurrence, or give it to remove only
            the occurrences with this value.
          - Printable ASCII without double quotes. With O(bootloader=grub) no backslash or single quote either; with
            O(bootloader=grubby) only letters, digits and C(_.,:/+=@%-).
        type: raw
      state:
        description:
          - V(present) makes the next boot have exactly this value, V(absent) removes the parameter.
        type: str
        choices: [present, absent]
        default: present
  bootloader:
    description:
      - Which boot configuration to change. V(auto) picks V(grubby) when a grubby executable is installed,
        else V(kernel-install) when there are Boot Loader Specification entries (C(/boot/loader/entries),
        C(/efi/loader/entries) or C(/boot/efi/loader/entries)) plus C(/etc/kernel/cmdline) or kernel-install,
        else V(grub) when C(/etc/default/grub) and C(update-grub), C(grub-mkconfig) or C(grub2-mkconfig) exist.
    type: str
    choices: [auto, grub, grubby, kernel-install]
    default: auto
  grub_dropin:
    description:
      - File name of the drop-in in C(/etc/default/grub.d/) for the V(grub) backend. Letters, digits, C(_), C(-)
        and C(.), ending in C(.cfg); give it a name that sorts after any other drop-in setting the command line
        variables.
      - A file of that name the module did not write is never rewritten; the task fails instead.
    type: str
    default: 90-luo-liveupdate.cfg
  kernel:
    description:
      - The entries the V(grubby) backend changes, as C(grubby --update-kernel) takes them - V(ALL), V(DEFAULT),
        an entry index or the absolute path of a kernel image.
    type: str
    default: ALL
notes:
  - Values cannot contain double quotes - the kernel has no escape for them. The V(grubby) backend cannot set a
    value containing whitespace, since grubby splits its arguments at whitespace.
  - A value the chosen backend cannot pass to the kernel unchanged is refused with the backend that can; for
    example C(bar\) with V(grub) - use V(kernel-install) (systemd-boot), which passes values as they are.
  - O(kernel) only applies to the V(grubby) backend, O(grub_dropin) only to the V(grub) backend.
seealso:
  - name: Kernel parameters
    description: The kernel's documentation of its command line.
    link: https://docs.kernel.org/admin-guide/kernel-parameters.html
  - name: Boot Loader Specification
    description: The boot entries the kernel-install backend updates.
    link: https://uapi-group.org/specifications/specs/boot_loader_specification/
'''

EXAMPLES = r'''
- name: Boot the next kernel with the Live Update Orchestrator enabled
  luo.liveupdate.kernel_cmdline:
    params:
      - name: liveupdate
        value: "on"
      - name: kho
        value: "on"
  register: cmdline

- name: Reboot when the running kernel lacks them
  ansible.builtin.reboot:
  when: cmdline.reboot_required

- name: Reserve more scratch memory for KHO and drop a leftover flag
  luo.liveupdate.kernel_cmdline:
    params:
      - name: kho_scratch
        value: 200%
      - name: nokaslr
        state: absent

- name: Only the default entry, on a grubby host
  luo.liveupdate.kernel_cmdline:
    bootloader: grubby
    kernel: DEFAULT
    params:
      - name: liveupdate
        value: "on"
'''

RETURN = r'''
backend:
  description: The boot configuration backend used.
  returned: success
  type: str
  sample: grub
backend_evidence:
  description: What the choice of backend rests on (what auto detection found, or that it was chosen).
  returned: success
  type: list
  elements: str
  sample: ["/etc/default/grub exists", "update-grub executable at /usr/sbin/update-grub"]
cmdline_next:
  description:
    - The command line the next boot gets, after the change (in check mode, after the change it would make).
    - For V(grub), C(GRUB_CMDLINE_LINUX) followed by C(GRUB_CMDLINE_LINUX_DEFAULT) as C(/etc/default/grub) and its
      drop-ins set them (grub adds C(root=) and C(ro) in front). For V(grubby), the arguments of the default entry
      (of the first entry O(kernel) selects when it is not V(ALL)). For V(kernel-install), the options of the newest
      entry of this machine, which systemd-boot boots unless C(loader.conf) names another, else C(/etc/kernel/cmdline).
  returned: success
  type: str
  sample: console=ttyS0 quiet liveupdate=on kho=on
cmdline_running:
  description: The running kernel's command line (C(/proc/cmdline)).
  returned: success
  type: str
  sample: BOOT_IMAGE=/boot/vmlinuz-7.2.13 root=/dev/vda1 ro console=ttyS0 quiet
reboot_required:
  description: Whether the running command line lacks the requested state of some parameter, so that only a boot gives it.
  returned: success
  type: bool
  sample: true
changed_files:
  description:
    - The files that changed (the drop-in, C(grub.cfg), boot entries, C(/etc/kernel/cmdline)...).
    - In check mode, the files the module would write and the C(grub.cfg) it would regenerate; files grubby would change
      show up only in a real run.
  returned: success
  type: list
  elements: str
  sample: ["/boot/grub/grub.cfg", "/etc/default/grub.d/90-luo-liveupdate.cfg"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as kcmdline, cmdline_items
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.common import DEFAULT_GRUB_DROPIN, BootloaderError
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.grub import validate_grub_dropin
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.selection import select
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host


def build_diff(backend, plan):
    """The next boot command line and each written file, before and after."""
    diff = [{
        'before_header': 'next boot command line (%s)' % backend.name,
        'after_header': 'next boot command line (%s)' % backend.name,
        'before': plan.next_before + '\n',
        'after': plan.next_after + '\n',
    }]
    for change in plan.files:
        diff.append({'before_header': change.path, 'after_header': change.path,
                     'before': change.before or '', 'after': change.after or ''})
    return diff


def main():
    module = AnsibleModule(
        argument_spec=dict(
            params=dict(type='list', elements='dict', required=True, options=dict(
                name=dict(type='str', required=True),
                value=dict(type='raw'),
                state=dict(type='str', choices=['present', 'absent'], default='present'),
            )),
            bootloader=dict(type='str', choices=['auto', 'grub', 'grubby', 'kernel-install'], default='auto'),
            grub_dropin=dict(type='str', default=DEFAULT_GRUB_DROPIN),
            kernel=dict(type='str', default='ALL'),
        ),
        supports_check_mode=True,
    )
    try:
        changes = cmdline_items.changes_from_items(module.params['params'])
    except ValueError as error:
        module.fail_json(msg=str(error))
    host = Host.from_module(module)
    try:
        validate_grub_dropin(module.params['grub_dropin'])
        backend = select(host, module.params['bootloader'], module.params['grub_dropin'], module.params['kernel'])
        plan = backend.plan(changes)
        changed_files = sorted(set(change.path for change in plan.files) | set(backend.outputs(plan)))
        if plan.changed and not module.check_mode:
            changed_files = backend.apply(plan, changes)
            plan = plan._replace(next_after=backend.next_cmdline(plan))
    except (BootloaderError, ValueError) as error:
        module.fail_json(msg=str(error))
    running = host.read('/proc/cmdline', '')
    result = dict(
        changed=plan.changed,
        backend=backend.name,
        backend_evidence=backend.evidence,
        cmdline_next=plan.next_after,
        cmdline_running=running,
        reboot_required=not kcmdline.all_satisfied(kcmdline.parse(running), changes),
        changed_files=changed_files,
    )
    if module._diff:
        result['diff'] = build_diff(backend, plan)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
