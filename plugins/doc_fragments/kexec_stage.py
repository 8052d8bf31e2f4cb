# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options that say what to stage for the next kernel: kexec_load takes them, live_update passes them on to it."""
from __future__ import annotations


class ModuleDocFragment:
    """Used by the kexec_load module and the live_update action; their argument specs must match these types."""

    DOCUMENTATION = r'''
options:
  kernel:
    description:
      - Absolute path on the managed host of the kernel image to stage (bzImage/vmlinuz, arm64 Image).
      - Its config is found as M(luo.liveupdate.info) finds it for O(luo.liveupdate.info#module:target_kernel).
    type: path
  initrd:
    description:
      - Absolute path on the managed host of the initramfs for O(kernel).
      - When left out, the initramfs named after O(kernel) as distributions name it is staged with it, the first that
        exists of C(initrd) beside a kernel-install C(linux) (C(/boot/ENTRY-TOKEN/RELEASE/linux)), the names below
        beside an image named C(vmlinuz-RELEASE) outside C(/boot), then C(/boot/initrd.img-RELEASE) (Debian, Ubuntu),
        C(/boot/initramfs-RELEASE.img) (RHEL, Fedora) and C(/boot/initrd-RELEASE) (SUSE). RELEASE is the image's own
        release, then the suffix of its file name.
      - When none exists and O(kernel) needs one, staging is refused (with O(force=true), warned about). A kernel
        needs one when its config has loadable modules (C(CONFIG_MODULES=y)) and initramfs support
        (C(CONFIG_BLK_DEV_INITRD=y)), since its storage and filesystem drivers are modules in it. A kernel with everything
        built in needs none.
    type: path
  cmdline:
    description:
      - The command line of the next kernel, before O(remove), O(append) and the forced C(liveupdate=on kho=on).
        Quote values with spaces as the kernel reads them (C(name="a b")).
      - Mutually exclusive with O(reuse_cmdline=true). V("") starts from an empty command line.
      - A string; anything else (an unquoted YAML boolean or number) is refused.
    type: raw
  reuse_cmdline:
    description:
      - Start from the running kernel's command line (C(/proc/cmdline)) without C(BOOT_IMAGE=) and C(initrd=).
      - This is what happens when neither O(cmdline) nor O(reuse_cmdline) is given.
    type: bool
  append:
    description:
      - Parameters to add, each C(name) (a bare flag) or C(name=value), without whitespace or double quotes.
      - Each name given here replaces every occurrence of that name in the starting command line; the entries are
        added at the end in the order given, so the same name may be given twice (two C(console=)).
      - C(liveupdate) and C(kho) can only be given as C(on), which they always are.
      - Quote words YAML would turn into booleans or numbers; anything but a string is refused.
    type: list
    elements: raw
    default: []
  remove:
    description:
      - Names of parameters to drop, every occurrence (dashes and underscores in names are the same).
      - Not C(liveupdate) or C(kho), and not a name that is also in O(append).
    type: list
    elements: raw
    default: []
  force:
    description:
      - Stage a target that is incompatible with the running kernel, or whose compatibility is unknown (for example
        one whose ABI strings cannot be read), with a warning for each reason. The preserved state may be lost, and a
        C(luo) ABI mismatch panics the new kernel at boot.
      - Also stage a kernel that needs an initramfs when none was found, with a warning; it will not find its root
        filesystem.
      - Does not override a host that cannot stage at all (no kexec, kexec without C(-s), C(kexec_load_disabled)).
    type: bool
    default: false
'''
