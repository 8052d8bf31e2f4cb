# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import dataclasses
import gzip
import os
import sys

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import decompress, kimage
from ansible_collections.luo.liveupdate.tests.unit.module_utils import kimage_builders as kb
from ansible_collections.luo.liveupdate.tests.unit.module_utils.kimage_builders import (
    NO_TOOLS, UNKNOWN_ABI, body_with_config, config_file, error_of)

# The compressions the standard library reads; those that need a tool are tested in
# tests/integration/module_utils/test_kimage_tools.py.
STDLIB_METHODS = ('gzip', 'xz', 'lzma', 'bzip2')
LAB_ABI = kb.INSPECTED_ABI


# --- compressed bzImages, one per compression ---

@pytest.mark.parametrize('method', STDLIB_METHODS)
def test_bzimage_each_compression(tmp_path, method):
    kb.assert_bzimage_reads(tmp_path, method)


@pytest.mark.skipif(sys.version_info < (3, 14), reason='compression.zstd exists from Python 3.14 on')
def test_bzimage_zstd_with_stdlib(tmp_path):
    body = body_with_config()
    stream = decompress._STDLIB_ZSTD.compress(body)  # pylint: disable=protected-access
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage(kb.with_size(stream, 'zstd', len(body))))
    image = kimage.inspect_image(path, root=str(tmp_path), **NO_TOOLS)
    assert image.payload_readable is True
    assert image.abi == LAB_ABI


def test_bzimage_release_from_banner_without_header_version(tmp_path):
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage_of(kb.kernel_body(release='7.3.4'), 'gzip', version=None))
    image = kimage.inspect_image(path, root=str(tmp_path))
    assert image.release == '7.3.4'
    assert image.version == '7.3.4 (builder@host) (gcc (Debian 12.2.0) 12.2.0) #1 SMP PREEMPT_DYNAMIC'


def test_bzimage_without_any_release(tmp_path):
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage_of(kb.kernel_body(release=None), 'gzip', version=None))
    image = kimage.inspect_image(path, root=str(tmp_path))
    assert image.release is None and image.version is None
    assert image.abi == LAB_ABI


def test_bzimage_header_version_not_a_release(tmp_path):
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage_of(kb.kernel_body(release='7.3.4'), 'gzip', version='garbage text'))
    assert kimage.inspect_image(path, root=str(tmp_path)).release == '7.3.4'


def test_bzimage_old_boot_protocol(tmp_path):
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage_of(kb.kernel_body(), 'gzip', protocol=0x207))
    image = kimage.inspect_image(path, root=str(tmp_path))
    assert image.release == '7.9.1-test'
    assert image.payload_readable is False
    assert image.payload_reason == 'boot protocol 2.07 is older than 2.08: its header does not locate the compressed kernel'
    assert image.abi == UNKNOWN_ABI and image.compression is None


def test_bzimage_unknown_payload_compression(tmp_path):
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage(b'\x01\x02\x03\x04\x05\x06' + b'\x00' * 64))
    image = kimage.inspect_image(path, root=str(tmp_path))
    assert image.payload_readable is False
    assert image.payload_reason == 'the compressed kernel starts with 010203040506, which is no compression this inspection knows'
    assert image.abi == UNKNOWN_ABI


def test_bzimage_setup_sects_zero_means_four(tmp_path):
    data = bytearray(kb.bzimage_of(kb.kernel_body(), 'gzip', setup_sects=4))
    data[0x1F1] = 0
    path = kb.write(tmp_path / 'vmlinuz', bytes(data))
    assert kimage.inspect_image(path).abi == LAB_ABI


# --- other formats ---

def test_arm64_raw_image(tmp_path):
    path = kb.write(tmp_path / 'Image', kb.arm64_image(body_with_config()))
    image = kimage.inspect_image(path, root=str(tmp_path))
    assert (image.format, image.compression, image.release) == ('arm64-Image', None, '7.9.1-test')
    assert image.payload_readable is True
    assert image.abi == LAB_ABI
    assert image.config['KEXEC_HANDOVER'] == 'y'


@pytest.mark.parametrize('method', ('gzip', 'xz'))
def test_arm64_compressed_image(tmp_path, method):
    path = kb.write(tmp_path / 'Image.gz', kb.compress(kb.arm64_image(kb.kernel_body()), method))
    image = kimage.inspect_image(path, root=str(tmp_path))
    assert (image.format, image.compression, image.release) == ('arm64-Image', method, '7.9.1-test')
    assert image.abi == LAB_ABI


def test_vmlinux_elf(tmp_path):
    path = kb.write(tmp_path / 'vmlinux', body_with_config())
    image = kimage.inspect_image(path, root=str(tmp_path))
    assert (image.format, image.compression, image.release) == ('vmlinux', None, '7.9.1-test')
    assert image.abi == LAB_ABI
    assert image.config_source.endswith('(embedded IKCONFIG)')


def test_compressed_vmlinux(tmp_path):
    path = kb.write(tmp_path / 'vmlinux.bz2', kb.compress(kb.kernel_body(), 'bzip2'))
    image = kimage.inspect_image(path, root=str(tmp_path))
    assert (image.format, image.compression) == ('vmlinux', 'bzip2')


def test_efi_zboot(tmp_path):
    path = kb.write(tmp_path / 'vmlinuz', kb.zboot_image(kb.compress(kb.arm64_image(kb.kernel_body()), 'gzip')))
    image = kimage.inspect_image(path, root=str(tmp_path))
    assert (image.format, image.compression, image.release) == ('efi-zboot', 'gzip', '7.9.1-test')
    assert image.abi == LAB_ABI


def test_efi_zboot_unknown_compression(tmp_path):
    path = kb.write(tmp_path / 'vmlinuz', kb.zboot_image(b'\xaa' * 32))
    image = kimage.inspect_image(path, root=str(tmp_path))
    assert image.payload_readable is False
    assert image.payload_reason.startswith('the compressed kernel starts with aaaaaaaaaaaa')


def test_as_dict(tmp_path):
    path = kb.write(tmp_path / 'vmlinux', kb.kernel_body())
    assert dataclasses.asdict(kimage.inspect_image(path, root=str(tmp_path))) == {
        'path': path, 'format': 'vmlinux', 'release': '7.9.1-test',
        'version': '7.9.1-test (builder@host) (gcc (Debian 12.2.0) 12.2.0) #1 SMP PREEMPT_DYNAMIC',
        'compression': None, 'payload_readable': True, 'payload_reason': None,
        'abi': LAB_ABI, 'config': None, 'config_source': None,
    }


# --- ABI strings, banner, IKCONFIG, compression helpers ---

def test_abi_strings_exact_matches_only():
    data = (b'\x00kho-v4\x00compatible\x00luo-v5\x00\xff\xffmemfd-v2\x00'
            b'vfiofd-v1\x00xluo-v9\x00luo-session-v1\x00luo-v7x\x00memfd-v3 \x00liveupdate-test-flb-v1\x00_kho-v8\x00')
    assert kimage.abi_strings(data) == LAB_ABI


def test_abi_strings_several_versions_sorted():
    data = b'luo-v10\x00luo-v5\x00luo-v5\x00kho-v4\x00'
    assert kimage.abi_strings(data) == {'kho': ['kho-v4'], 'luo': ['luo-v5', 'luo-v10'], 'memfd': []}


def test_abi_strings_at_start_of_data():
    assert kimage.abi_strings(b'memfd-v2\x00')['memfd'] == ['memfd-v2']


def test_abi_strings_absent():
    assert kimage.abi_strings(b'nothing here\x00') == {'kho': [], 'luo': [], 'memfd': []}


def test_banner_skips_format_strings():
    data = b'Linux version %s (%s@%s)\x00Linux version 7.2.13 (root@vm) (gcc) #1 SMP\n\x00'
    assert kimage.banner(data) == ('7.2.13', '7.2.13 (root@vm) (gcc) #1 SMP')
    assert kimage.banner(b'no banner') == (None, None)


def test_embedded_config():
    data = b'xx' + b'IKCFG_ST' + gzip.compress(b'CONFIG_A=y\n# CONFIG_B is not set\n') + b'IKCFG_ED'
    assert kimage.embedded_config(data) == {'A': 'y', 'B': 'n'}
    assert kimage.embedded_config(b'IKCFG_ST but no gzip') is None


@pytest.mark.parametrize('method', STDLIB_METHODS)
def test_detect_compression(method):
    assert decompress.detect_compression(kb.compress(b'hello' * 100, method)) == method


def test_detect_compression_unknown():
    assert decompress.detect_compression(b'\x7fELF') is None


@pytest.mark.parametrize('method', STDLIB_METHODS)
def test_decompress_ignores_data_after_stream(method):
    assert decompress.decompress(kb.compress(b'payload' * 99, method) + b'trailing junk', method) == b'payload' * 99


@pytest.mark.parametrize('method', STDLIB_METHODS)
def test_decompress_truncated(method):
    stream = kb.compress(kb.noise(20000), method)
    with pytest.raises(decompress.CompressedDataError) as err:
        decompress.decompress(stream[:len(stream) // 2], method)
    assert err.value.truncated is True
    assert str(err.value) == 'the %s data ends before its end marker' % method


@pytest.mark.parametrize('method', STDLIB_METHODS)
def test_decompress_damaged(method):
    with pytest.raises(decompress.CompressedDataError) as err:
        decompress.decompress(kb.damage(kb.compress(kb.noise(20000), method), method), method)
    assert err.value.truncated is False
    assert str(err.value).startswith('the %s data is damaged (' % method)


def test_decompress_tool_failure_without_message(no_stdlib_zstd):
    with pytest.raises(decompress.CompressedDataError) as err:
        decompress.decompress(b'\x28\xb5\x2f\xfd', 'zstd', run=lambda argv: (2, b'', b''), which=lambda name: '/bin/zstd')
    assert str(err.value) == 'zstd failed with rc 2 (no message): the data is truncated or damaged'


def test_decompress_unknown_method():
    with pytest.raises(decompress.DecompressorMissing) as err:
        decompress.decompress(b'x', 'brotli')
    assert str(err.value) == 'brotli payload: no decompressor is known for it'


def test_decompress_without_runner_runs_no_tool(no_stdlib_zstd):
    with pytest.raises(decompress.DecompressorMissing) as err:
        decompress.decompress(b'\x28\xb5\x2f\xfd', 'zstd', which=lambda name: '/usr/bin/zstd')
    assert str(err.value) == 'zstd payload: the zstd tool (/usr/bin/zstd) was not run: no command runner was given'


# --- config next to the image ---

def test_config_with_same_suffix_as_lab_image(tmp_path):
    image_path = kb.write(tmp_path / 'vmlinuz-7.2.13-luo', kb.bzimage_of(kb.kernel_body(release='7.2.13'), 'gzip', version=None))
    source = config_file(tmp_path / 'config-7.2.13-luo')
    config_file(tmp_path / 'config-7.2.13', 'CONFIG_LIVEUPDATE=n\n')
    image = kimage.inspect_image(image_path, root=str(tmp_path / 'root'))
    assert (image.config_source, image.config) == (source, {'LIVEUPDATE': 'y'})


def test_config_by_release_beside_image(tmp_path):
    image_path = kb.write(tmp_path / 'bzImage', kb.bzimage_of(kb.kernel_body(), 'gzip'))
    source = config_file(tmp_path / 'config-7.9.1-test')
    assert kimage.inspect_image(image_path, root=str(tmp_path / 'root')).config_source == source


def test_config_in_modules_directory(tmp_path):
    directory = tmp_path / 'usr/lib/modules/7.9.1-test'
    directory.mkdir(parents=True)
    image_path = kb.write(directory / 'vmlinuz', kb.bzimage_of(kb.kernel_body(), 'gzip'))
    source = config_file(directory / 'config')
    assert kimage.inspect_image(image_path, root=str(tmp_path / 'elsewhere')).config_source == source


def test_config_named_config_ignored_outside_release_directory(tmp_path):
    image_path = kb.write(tmp_path / 'vmlinuz', kb.bzimage_of(kb.kernel_body(), 'gzip'))
    config_file(tmp_path / 'config')
    assert kimage.inspect_image(image_path, root=str(tmp_path / 'root')).config is None


@pytest.mark.parametrize('place', ('boot/config-7.9.1-test', 'lib/modules/7.9.1-test/config', 'usr/lib/modules/7.9.1-test/config'))
def test_config_installed_under_root(tmp_path, place):
    image_path = kb.write(tmp_path / 'vmlinuz', kb.bzimage_of(kb.kernel_body(), 'gzip'))
    source = config_file(tmp_path / 'root' / place)
    assert kimage.inspect_image(image_path, root=str(tmp_path / 'root')).config_source == source


def test_embedded_config_wins_over_files(tmp_path):
    image_path = kb.write(tmp_path / 'vmlinuz-7.9.1-test', kb.bzimage_of(body_with_config(), 'gzip'))
    config_file(tmp_path / 'config-7.9.1-test', 'CONFIG_LIVEUPDATE=n\n')
    image = kimage.inspect_image(image_path, root=str(tmp_path))
    assert image.config_source.endswith('(embedded IKCONFIG)') and image.config['LIVEUPDATE'] == 'y'


def test_image_config_candidates_order_and_no_duplicates(tmp_path):
    boot = tmp_path / 'boot'
    assert kimage.image_config_candidates(str(boot / 'vmlinuz-7.2.13-luo'), '7.2.13', root=str(tmp_path)) == [
        str(boot / 'config-7.2.13-luo'),
        str(boot / 'config-7.2.13'),
        str(tmp_path / 'lib/modules/7.2.13/config'),
        str(tmp_path / 'usr/lib/modules/7.2.13/config'),
    ]


def test_image_config_candidates_without_release(tmp_path):
    assert kimage.image_config_candidates(str(tmp_path / 'vmlinuz'), None) == []


def test_find_image_config_none(tmp_path):
    assert kimage.find_image_config(str(tmp_path / 'vmlinuz-1.0'), '1.0', root=str(tmp_path)) is None


def test_bad_config_file_is_an_image_error(tmp_path):
    image_path = kb.write(tmp_path / 'vmlinuz-7.9.1-test', kb.bzimage_of(kb.kernel_body(), 'gzip'))
    source = config_file(tmp_path / 'config-7.9.1-test', 'not a config\n')
    with pytest.raises(kimage.KernelImageError) as err:
        kimage.inspect_image(image_path, root=str(tmp_path))
    assert str(err.value) == '%s holds no kernel config lines (CONFIG_NAME=value); point to the config of the kernel build' % source


# --- errors ---

def test_missing_file(tmp_path):
    path = tmp_path / 'vmlinuz-nope'
    assert error_of(path) == ('kernel image %s does not exist; give the path of an existing image, for example /boot/vmlinuz-RELEASE' % path)


def test_directory(tmp_path):
    assert error_of(tmp_path) == ('%s is a directory, not a kernel image; give the image file in it, for example %s/vmlinuz-RELEASE'
                                  % (tmp_path, tmp_path))


def test_not_a_regular_file():
    assert error_of('/dev/null') == '/dev/null is not a regular file; give the path of a kernel image file'


def test_path_through_a_file(tmp_path):
    path = os.path.join(kb.write(tmp_path / 'vmlinuz', b'x'), 'vmlinuz')
    assert error_of(path) == 'cannot read kernel image %s: Not a directory' % path


def test_unreadable_file():
    with kb.unreadable_file(kb.bzimage_of(kb.kernel_body(), 'gzip')) as path:
        message = error_of(path)
    assert message == ('cannot read kernel image %s: permission denied; run with root privileges (become: true) '
                       'or make the file readable' % path)


def test_empty_file(tmp_path):
    path = kb.write(tmp_path / 'vmlinuz', b'')
    assert error_of(path) == 'kernel image %s is empty; copy the image again from its package or build' % path


def test_not_a_kernel(tmp_path):
    path = kb.write(tmp_path / 'vmlinuz', b'#!/bin/sh\necho hello\n' * 100)
    assert error_of(path) == ('%s is not a kernel image: no bzImage header ("HdrS" at 0x202), no arm64 Image magic at 0x38, '
                              'not an ELF vmlinux and not a compressed file; give a vmlinuz, bzImage, Image, Image.gz or vmlinux' % path)


def test_elf_without_banner(tmp_path):
    path = kb.write(tmp_path / 'ls', kb.kernel_body(release=None))
    assert error_of(path) == ('%s is an ELF file without a "Linux version" banner, so not a kernel; give a vmlinuz, bzImage, Image or vmlinux'
                              % path)


def test_compressed_file_without_kernel(tmp_path):
    path = kb.write(tmp_path / 'notes.gz', gzip.compress(b'just text\n' * 50))
    assert error_of(path) == ('%s is a gzip-compressed file without a kernel inside (no arm64 Image magic, not an ELF vmlinux); '
                              'give a vmlinuz, bzImage, Image, Image.gz or vmlinux' % path)


def test_truncated_compressed_file(tmp_path):
    data = kb.compress(kb.arm64_image(kb.noise(50000)), 'gzip')
    path = kb.write(tmp_path / 'Image.gz', data[:len(data) // 2])
    assert error_of(path) == ('kernel image %s is truncated: the gzip data ends before its end marker; '
                              'copy the image again from its package or build' % path)


def test_damaged_compressed_file(tmp_path):
    path = kb.write(tmp_path / 'Image.gz', kb.damage(kb.compress(kb.arm64_image(kb.noise(50000)), 'gzip'), 'gzip'))
    assert error_of(path).startswith('kernel image %s: the gzip-compressed file does not decompress: the gzip data is damaged (' % path)


def test_truncated_setup(tmp_path):
    data = kb.bzimage_of(kb.kernel_body(), 'gzip', setup_sects=30)
    path = kb.write(tmp_path / 'vmlinuz', data[:4000])
    assert error_of(path) == ('kernel image %s is truncated: the header says the setup code takes 15872 bytes but the file has 4000; '
                              'copy the image again from its package or build' % path)


def test_payload_past_end_of_file(tmp_path):
    data = kb.bzimage_of(kb.kernel_body(), 'gzip', tail=b'')
    path = kb.write(tmp_path / 'vmlinuz', data[:-100])
    end = len(data)
    assert error_of(path) == ('kernel image %s is truncated: the header puts the compressed kernel at bytes %d..%d but the file has %d bytes; '
                              'copy the image again from its package or build' % (path, 5 * 512 + 0x2C4, end, end - 100))


@pytest.mark.parametrize('method', STDLIB_METHODS)
def test_payload_stream_ends_early(tmp_path, method):
    body = kb.kernel_body(extra=kb.noise(30000))
    stream = kb.compress(body, method)
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage(kb.with_size(stream[:len(stream) // 2], method, len(body))))
    assert error_of(path) == ('kernel image %s is truncated: its %s-compressed kernel: the %s data ends before its end marker; '
                              'copy the image again from its package or build' % (path, method, method))


def test_payload_damaged(tmp_path):
    body = kb.kernel_body()
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage(kb.with_size(kb.damage(kb.compress(body, 'xz'), 'xz'), 'xz', len(body))))
    assert error_of(path).startswith('kernel image %s: its xz-compressed kernel does not decompress: the xz data is damaged (' % path)


def test_damaged_embedded_config(tmp_path):
    config = gzip.compress(b'CONFIG_A=y\n' * 100)
    body = kb.kernel_body(extra=b'IKCFG_ST' + config[:len(config) // 2] + b'\x00' * 8)
    path = kb.write(tmp_path / 'vmlinux', body)
    assert error_of(path).startswith('kernel image %s: its embedded config (IKCONFIG) does not decompress: the gzip data' % path)


def test_truncated_zboot(tmp_path):
    stream = kb.compress(kb.kernel_body(), 'gzip')
    path = kb.write(tmp_path / 'vmlinuz', kb.zboot_image(stream, payload_length=len(stream) + 10))
    assert error_of(path) == ('kernel image %s is truncated: the header puts the compressed kernel at bytes 64..%d but the file has %d bytes; '
                              'copy the image again from its package or build' % (path, 64 + len(stream) + 10, 64 + len(stream)))


def test_zboot_header_cut_short(tmp_path):
    path = kb.write(tmp_path / 'vmlinuz', b'MZ\x00\x00zimg\x01\x02')
    assert error_of(path) == ('kernel image %s is truncated: the EFI zboot header is cut short; '
                              'copy the image again from its package or build' % path)
