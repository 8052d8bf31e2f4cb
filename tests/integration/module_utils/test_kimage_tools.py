# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kimage on kernels compressed with zstd, lz4 and lzo: built and read with the tools lab/install-deps installs."""
from __future__ import annotations

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import decompress, kimage
from ansible_collections.luo.liveupdate.tests.integration.requirements import require_decompressor
from ansible_collections.luo.liveupdate.tests.unit.module_utils import kimage_builders as kb
from ansible_collections.luo.liveupdate.tests.unit.module_utils.kimage_builders import (
    MISSING_REASONS, NO_TOOLS, UNKNOWN_ABI, body_with_config, config_file, error_of)

TOOL_METHODS = ('zstd', 'lz4', 'lzo')
LAB_ABI = kb.INSPECTED_ABI


@pytest.mark.parametrize('method', TOOL_METHODS)
def test_bzimage_each_compression(tmp_path, method, no_stdlib_zstd):
    require_decompressor(method)
    kb.assert_bzimage_reads(tmp_path, method)


@pytest.mark.parametrize('method', TOOL_METHODS)
def test_detect_compression(method):
    require_decompressor(method)
    assert decompress.detect_compression(kb.compress(b'hello' * 100, method)) == method


@pytest.mark.parametrize('method', TOOL_METHODS)
def test_bzimage_without_decompressor_is_unknown(tmp_path, method, no_stdlib_zstd):
    require_decompressor(method)
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage_of(body_with_config(), method))
    image = kimage.inspect_image(path, root=str(tmp_path), **NO_TOOLS)
    assert image.payload_readable is False
    assert image.payload_reason == MISSING_REASONS[method]
    assert image.abi == UNKNOWN_ABI
    assert image.config is None and image.config_source is None
    # The header still tells the release and the compression.
    assert (image.release, image.compression) == ('7.9.1-test', method)


def test_tool_gets_stream_without_size_trailer(tmp_path, no_stdlib_zstd):
    require_decompressor('zstd')
    body = kb.kernel_body()
    stream = kb.compress(body, 'zstd')
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage(kb.with_size(stream, 'zstd', len(body))))
    calls = []

    def run(argv):
        with open(argv[-1], 'rb') as handle:  # zstd ... -o OUT IN
            calls.append((argv[:5], handle.read()))
        return kb.run_tool(argv)

    image = kimage.inspect_image(path, run=run, which=lambda name: '/usr/bin/' + name if name == 'zstd' else None)
    assert calls == [(['/usr/bin/zstd', '-d', '-q', '-f', '-o'], stream)]
    assert image.abi == LAB_ABI


def test_tool_that_cannot_run_leaves_payload_unknown(tmp_path, no_stdlib_zstd):
    require_decompressor('zstd')
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage_of(kb.kernel_body(), 'zstd'))
    missing = str(tmp_path / 'no-such-zstd')
    image = kimage.inspect_image(path, which=lambda name: missing, **kb.RUN)
    assert image.payload_readable is False
    assert image.payload_reason.startswith('zstd payload: %s could not run (' % missing)
    assert image.payload_reason.endswith('needs Python >= 3.14 or the zstd tool (apt-get install zstd)')
    assert image.abi == UNKNOWN_ABI


def test_efi_zboot_without_decompressor(tmp_path, no_stdlib_zstd):
    require_decompressor('zstd')
    path = kb.write(tmp_path / 'vmlinuz', kb.zboot_image(kb.compress(kb.kernel_body(), 'zstd')))
    image = kimage.inspect_image(path, root=str(tmp_path), **NO_TOOLS)
    assert (image.format, image.payload_readable, image.abi) == ('efi-zboot', False, UNKNOWN_ABI)
    assert image.payload_reason == MISSING_REASONS['zstd']


def test_decompress_tool_failure_names_tool(no_stdlib_zstd):
    require_decompressor('zstd')
    stream = kb.compress(kb.noise(20000), 'zstd')
    with pytest.raises(decompress.CompressedDataError) as err:
        decompress.decompress(stream[:len(stream) // 2], 'zstd', **kb.RUN)
    assert str(err.value).startswith('zstd failed with rc 1 (')
    assert str(err.value).endswith('): the data is truncated or damaged')


def test_config_file_used_when_payload_unreadable(tmp_path, no_stdlib_zstd):
    require_decompressor('zstd')
    image_path = kb.write(tmp_path / 'vmlinuz-7.9.1-test', kb.bzimage_of(body_with_config(), 'zstd'))
    source = config_file(tmp_path / 'config-7.9.1-test')
    image = kimage.inspect_image(image_path, root=str(tmp_path), **NO_TOOLS)
    assert (image.payload_readable, image.config_source, image.config) == (False, source, {'LIVEUPDATE': 'y'})


def test_compressed_file_without_decompressor(tmp_path, no_stdlib_zstd):
    require_decompressor('zstd')
    path = kb.write(tmp_path / 'Image.zst', kb.compress(kb.arm64_image(kb.kernel_body()), 'zstd'))
    assert error_of(path, **NO_TOOLS) == ('%s is a zstd-compressed file and cannot be opened here (%s), so whether it is a kernel is unknown'
                                          % (path, MISSING_REASONS['zstd']))


@pytest.mark.parametrize('method', ('zstd', 'lz4'))
def test_payload_truncated_for_tool(tmp_path, method, no_stdlib_zstd):
    require_decompressor(method)
    body = kb.kernel_body(extra=kb.noise(30000))
    stream = kb.compress(body, method)
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage(kb.with_size(stream[:len(stream) // 2], method, len(body))))
    message = error_of(path, **kb.RUN)
    assert message.startswith('kernel image %s: its %s-compressed kernel does not decompress: %s failed with rc ' % (path, method, method))
    assert message.endswith(': the data is truncated or damaged; copy the image again from its package or build')
