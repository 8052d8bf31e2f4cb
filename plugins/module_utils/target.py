# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The target kernel of a live update: whether the image at a path can take over from the running kernel.

One decision for every module that is given a target (info's target_kernel, kexec_load's kernel):
the image is inspected (hostfacts) and judged (readiness) the same way for both.
"""
from __future__ import annotations

import os

from ansible_collections.luo.liveupdate.plugins.module_utils import hostfacts, readiness

KERNEL_EXAMPLE = '/boot/vmlinuz-7.3.4'


def require_absolute(option, path, example):
    """Refuse a relative path: the module runs in a temporary directory, where it means nothing."""
    if path is not None and not os.path.isabs(path):
        raise ValueError('%s %s is relative: give the absolute path on the managed host, for example %s'
                         % (option, path, example))
    return path


def judge(host, option, path, running):
    """(facts, result) of the target image at ``path`` (named by the module's ``option``) against the ``running``
    kernel's facts; ``result`` holds what the modules return: target, compatible, target_reasons.

    Raises ValueError for a relative path and kimage.KernelImageError for a file that is no readable kernel image.
    """
    require_absolute(option, path, KERNEL_EXAMPLE)
    facts = hostfacts.target(host, path)
    reasons = readiness.target_reasons(running, facts)
    return facts, {'target': hostfacts.public_target(facts), 'compatible': not reasons, 'target_reasons': reasons}
