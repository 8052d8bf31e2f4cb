# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kimage on real kernels (the lab's LUO kernels, Debian's stock kernel) and on a file of this machine's sysfs."""
from __future__ import annotations

import os
import time

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import kimage, readiness
from ansible_collections.luo.liveupdate.tests.integration.requirements import (
    LAB_KERNELS, lab_kernel, require_decompressor, require_file, stock_kernel)
from ansible_collections.luo.liveupdate.tests.unit.module_utils import kimage_builders as kb
from ansible_collections.luo.liveupdate.tests.unit.module_utils.kimage_builders import (
    MISSING_REASONS, NO_TOOLS, UNKNOWN_ABI, error_of)

LAB_ABI = kb.INSPECTED_ABI


def test_file_that_cannot_be_mapped():
    path = require_file('/sys/kernel/uevent_seqnum', 'sysfs is not mounted at /sys: run the tests on a Linux machine')
    assert error_of(path).startswith('%s is not a kernel image: no bzImage header' % path)


@pytest.mark.parametrize('release', ('7.2.13', '7.3.4'))
def test_lab_kernel(release):
    path = lab_kernel('vmlinuz-%s-luo' % release)
    started = time.monotonic()
    image = kimage.inspect_image(path)
    elapsed = time.monotonic() - started
    assert (image.format, image.release, image.compression) == ('bzImage', release, 'gzip')
    assert image.version.startswith('%s (root@vm) #1 SMP PREEMPT_DYNAMIC ' % release)
    assert image.payload_readable is True
    assert image.abi == LAB_ABI
    assert image.config_source == str(LAB_KERNELS / ('config-%s-luo' % release))
    assert readiness.missing_options(image.config) == []
    assert elapsed < 5, 'inspecting %s took %.1f s' % (path, elapsed)


def test_stock_kernel_without_zstd_decompressor(no_stdlib_zstd):
    image = kimage.inspect_image(stock_kernel(), **NO_TOOLS)
    assert (image.format, image.compression, image.payload_readable) == ('bzImage', 'zstd', False)
    assert image.payload_reason == MISSING_REASONS['zstd']
    assert image.abi == UNKNOWN_ABI
    assert image.release.endswith('-cloud-amd64')


def test_stock_kernel_with_zstd_tool(no_stdlib_zstd):
    require_decompressor('zstd')
    path = stock_kernel()
    image = kimage.inspect_image(path, **kb.RUN)
    assert (image.compression, image.payload_readable) == ('zstd', True)
    assert image.abi == {'kho': [], 'luo': [], 'memfd': []}
    assert image.config_source == os.path.join(os.path.dirname(path), 'config')
    assert 'LIVEUPDATE' not in image.config
    assert [option for option, _role in readiness.missing_options(image.config)] == ['KEXEC_HANDOVER', 'LIVEUPDATE', 'LIVEUPDATE_MEMFD']
