# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What info and kexec_load return about a target kernel image and whether it can take over from the running one."""
from __future__ import annotations


class ModuleDocFragment:
    """A RETURN fragment (extends_documentation_fragment in RETURN); both modules build these keys the same way."""

    RETURN = r'''
target:
  description: The target kernel image, as inspected on the managed host.
  returned: when the target kernel image was inspected
  type: dict
  contains:
    path:
      description: The image path.
      type: str
    release:
      description: Its release string (what C(uname -r) will say), null when unknown.
      type: str
    compression:
      description: Payload compression (gzip, xz, zstd, lzma, lz4, bzip2, none).
      type: str
    payload_readable:
      description: Whether the payload could be decompressed here.
      type: bool
    payload_reason:
      description: Why the payload could not be read and what would help, null when it was read.
      type: str
    config_source:
      description: Where its config came from (for a config built into the image, its path followed by
        "(embedded IKCONFIG)"), null when none.
      type: str
    options:
      description: Its LUO-relevant config options (without the C(CONFIG_) prefix), null when its config is unknown.
      type: dict
    abi:
      description: Its LUO ABI strings (C(kho), C(luo), C(memfd)), null when unknown.
      type: dict
    initrd:
      description: Its initramfs, paired by the names distributions give it (see M(luo.liveupdate.kexec_load)).
      type: dict
      contains:
        path:
          description: The first of RV(target.initrd.candidates) that exists, null when none does.
          type: str
        needed:
          description:
            - Whether the kernel needs an initramfs to boot, null when its config is unknown.
            - True for a kernel with loadable modules and initramfs support (C(CONFIG_MODULES=y),
              C(CONFIG_BLK_DEV_INITRD=y)), as distribution kernels are; false for one with everything built in.
          type: bool
        candidates:
          description: The paths looked at, in order.
          type: list
          elements: str
  sample:
    path: /boot/vmlinuz-7.3.4
    release: 7.3.4
    compression: gzip
    payload_readable: true
    payload_reason: null
    config_source: /boot/config-7.3.4
    options: {LIVEUPDATE: y, KEXEC_HANDOVER: y, LIVEUPDATE_MEMFD: y}
    abi: {kho: kho-v4, luo: luo-v5, memfd: memfd-v2}
    initrd: {path: /boot/initrd.img-7.3.4, needed: true, candidates: [/boot/initrd.img-7.3.4, /boot/initramfs-7.3.4.img, /boot/initrd-7.3.4]}
compatible:
  description: True when the target can take over from the running kernel with the state intact. Unknown is false.
  returned: when the target kernel image was inspected
  type: bool
  sample: true
target_reasons:
  description: Why the target is not compatible, one entry per reason; empty when it is.
  returned: when the target kernel image was inspected
  type: list
  elements: dict
  contains:
    id:
      description: Stable identifier, for example C(target-abi-mismatch-luo).
      type: str
    message:
      description: What does not fit, with the values found.
      type: str
    fix:
      description: What to do about it.
      type: str
  sample:
    - id: target-abi-mismatch-luo
      message: 'ABI luo-v4 of the target differs from luo-v5 of the running kernel: a luo ABI mismatch panics the new kernel at boot'
      fix: pick a target kernel with luo-v5, or go through a cold reboot for this update
'''
