# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which kernel release is newer: one order for the boot entries, the installed kernels and the controller."""

from __future__ import annotations

import re


def version_key(text):
    """Sort key of versions: digit runs compare as numbers, and a pre-release part (``-rcN``, ``~...``)
    sorts before the end of the string, so that 7.10.1-rc1 < 7.10.1 < 7.10.1-2 (as dpkg orders ``~``)."""
    key = []
    for part in re.findall(r'\d+|\D+', text):
        if part.isdigit():
            key.append((2, int(part), ''))
        elif part.startswith('~') or part.lower() in ('-rc', '.rc', 'rc', '~rc'):
            key.append((0, 0, part))
        else:
            key.append((3, 0, part))
    key.append((1, 0, ''))  # the end: after a pre-release, before anything that goes on
    return key


def newest_newer_kernel(kernels, running):
    """The entry ({release, ...}) of ``kernels`` with the newest release newer than ``running``; None when none is newer.

    A live update chosen by default never goes back to an older kernel.
    """
    newer = [kernel for kernel in kernels if version_key(kernel['release']) > version_key(running)]
    return max(newer, key=lambda kernel: version_key(kernel['release'])) if newer else None
