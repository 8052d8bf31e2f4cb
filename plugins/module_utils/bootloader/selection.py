# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which backend governs the next boot's command line on a host, detected or chosen, with the evidence for it."""

from __future__ import annotations

import collections

from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader import grub, grubby, kernel_install
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.common import (
    BLS_ENTRY_DIRS, DEFAULT_GRUB_DROPIN, GRUB_DEFAULTS, KERNEL_CMDLINE, BootloaderError)
from ansible_collections.luo.liveupdate.plugins.module_utils.host import COMMAND_DIRS

# In the order auto detection tries them: grubby owns the boot entries where it is installed (Fedora,
# RHEL), kernel-install where entries and its configuration exist, grub where its settings do.
BACKENDS = collections.OrderedDict([('grubby', grubby), ('kernel-install', kernel_install), ('grub', grub)])

Detection = collections.namedtuple('Detection', ['backend', 'evidence'])


def detect(host):
    """Which backend governs the next boot's command line on host, with the evidence for it.

    grubby wins where it is installed (it owns the boot entries on Fedora and
    RHEL), then kernel-install (Boot Loader Specification entries plus
    /etc/kernel/cmdline or kernel-install), then grub (/etc/default/grub
    plus update-grub or grub-mkconfig).
    """
    for name, backend in BACKENDS.items():
        evidence = backend.evidence(host)
        if evidence:
            return Detection(name, evidence)
    raise BootloaderError(
        'no supported boot configuration found under %s: looked for a grubby executable in %s; for boot entries in %s with %s '
        'or a kernel-install executable; and for %s with update-grub, grub-mkconfig or grub2-mkconfig. '
        'Set bootloader to grub, grubby or kernel-install to choose one explicitly'
        % (host.root, ', '.join('/' + d for d in COMMAND_DIRS), ', '.join(BLS_ENTRY_DIRS), KERNEL_CMDLINE, GRUB_DEFAULTS))


def select(host, choice='auto', grub_dropin=DEFAULT_GRUB_DROPIN, kernel='ALL'):
    """The backend object for choice ('auto' detects), ready to plan() and apply()."""
    if choice == 'auto':
        detection = detect(host)
    elif choice in BACKENDS:
        evidence = BACKENDS[choice].evidence(host)
        if not evidence:
            raise BootloaderError('bootloader %s was chosen but is not installed under %s: %s'
                                  % (choice, host.root, BACKENDS[choice].MISSING))
        detection = Detection(choice, ['chosen explicitly'] + evidence)
    else:
        raise BootloaderError('unknown bootloader %r: choose one of auto, %s' % (choice, ', '.join(sorted(BACKENDS))))
    if detection.backend == 'grub':
        return grub.GrubBackend(host, detection.evidence, grub_dropin)
    if detection.backend == 'grubby':
        return grubby.GrubbyBackend(host, detection.evidence, kernel)
    return kernel_install.KernelInstallBackend(host, detection.evidence)
