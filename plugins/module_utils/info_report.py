# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The info module's whole result, for every module that returns it: info itself, and kexec_load and lock,
which read it in the same run as they act (the live update then needs fewer runs on each host)."""
from __future__ import annotations

import time

from ansible_collections.luo.liveupdate.plugins.module_utils import hostfacts, readiness, target, units
from ansible_collections.luo.liveupdate.plugins.module_utils.kernel_version import newest_newer_kernel
from ansible_collections.luo.liveupdate.plugins.module_utils.kimage import KernelImageError

# The options of info, as the other modules take them in their facts option.
OPTIONS = dict(
    target_kernel=dict(type='path'),
    target_newest=dict(type='bool', default=False),
    probe_device=dict(type='bool', default=False),
    units=dict(type='list', elements='str', default=[]),
)


class ReportFailed(Exception):
    """The report could not be made (a bad option, a target that is no kernel image); ``result``: what was read."""

    def __init__(self, msg, result):
        super().__init__(msg)
        self.msg = msg
        self.result = result


def report(host, options, target_option='target_kernel', busy_retry_s=0.0, sleep=time.sleep):
    """(info's result, the target image's facts or None) for ``options`` (info's options, all present); messages
    name the target by ``target_option``, the option the module was given it in.

    ``busy_retry_s``: a /dev/liveupdate held by another process is probed once more after this many seconds,
    since systemd itself holds it for a moment at times. Raises ReportFailed.
    """
    if options['target_kernel'] and options['target_newest']:
        raise ReportFailed('target_kernel and target_newest are mutually exclusive: give one of them', {})
    try:
        unit_names = units.validate_units(options['units'])
    except ValueError as exc:
        raise ReportFailed(str(exc), {}) from None
    facts = hostfacts.gather(host, probe_device=options['probe_device'])
    reasons = readiness.host_reasons(facts)
    if busy_retry_s and any(item['id'] == 'device-busy' for item in reasons):
        sleep(busy_retry_s)
        facts['device'] = hostfacts.device_facts(host, True)
        reasons = readiness.host_reasons(facts)
    result = dict(ready=not reasons, reasons=reasons, units=units.unit_states(host, unit_names),
                  **hostfacts.public(facts))
    target_kernel = options['target_kernel']
    if options['target_newest']:
        chosen = newest_newer_kernel(facts['kernels'], facts['kernel']['release'])
        target_kernel = result['target_chosen'] = chosen['image'] if chosen else None
    if not target_kernel:
        return result, None
    try:
        image, judged = target.judge(host, target_option, target_kernel, facts['kernel'])
    except ValueError as exc:
        raise ReportFailed(str(exc), result) from None
    except KernelImageError as exc:
        raise ReportFailed('%s: %s' % (target_option, exc), result) from None
    result.update(judged)
    return result, image
