# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decompression bombs: a crafted kernel image or config is refused at the limit, with bounded memory.

Every compression a kernel may use, so the zstd, lz4 and lzop tools too; each bomb takes seconds to build and read."""
from __future__ import annotations

import functools
import gzip
import json
import os
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import decompress, kconfig, kimage
from ansible_collections.luo.liveupdate.tests.integration.requirements import DECOMPRESSOR_TOOLS, require_decompressor
from ansible_collections.luo.liveupdate.tests.unit.module_utils import kimage_builders as kb

MiB = 1 << 20
BOMB_SIZE = 320 * MiB  # past the 256 MiB a kernel may decompress to, and past the memory bound below
METHODS = ('gzip', 'xz', 'lzma', 'bzip2', 'zstd', 'lz4', 'lzo')
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))

# Inspect the image in a fresh interpreter and report how much its resident memory grew.
CHILD = textwrap.dedent('''
    import json, resource, sys
    from ansible_collections.luo.liveupdate.plugins.module_utils import decompress, kimage
    from ansible_collections.luo.liveupdate.tests.unit.module_utils import kimage_builders as kb
    if sys.argv[2] == 'no-stdlib-zstd':
        decompress._STDLIB_ZSTD = None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        kimage.inspect_image(sys.argv[1], run=kb.run_tool)
        error = None
    except kimage.KernelImageError as exc:
        error = str(exc)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({'error': error, 'grown_kib': grown}))
''')


@functools.lru_cache(maxsize=None)
def bomb(method):
    return kb.bomb(method, BOMB_SIZE)


def inspect_in_child(path, no_stdlib_zstd=True):
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, 'build', 'collections'))
    proc = subprocess.run([sys.executable, '-c', CHILD, path, 'no-stdlib-zstd' if no_stdlib_zstd else 'stdlib'],
                          capture_output=True, text=True, env=env, check=True, timeout=300)
    return json.loads(proc.stdout)


@pytest.mark.parametrize('method', METHODS)
def test_a_kernel_payload_bomb_is_refused_at_the_limit_with_bounded_memory(tmp_path, method):
    if method in DECOMPRESSOR_TOOLS:
        require_decompressor(method)
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage(kb.with_size(bomb(method), method, 0)))
    report = inspect_in_child(path)
    assert report['error'] == ('kernel image %s: its %s-compressed kernel decompresses to more than 256 MiB, more '
                               'than any kernel does: the image is not a kernel or is damaged; give a real kernel '
                               'image' % (path, method))
    # Growth: the 256 MiB of output a kernel may have, and little more.
    assert report['grown_kib'] < (256 + 32) * 1024, report


def test_a_compressed_file_bomb_is_refused_at_the_limit(tmp_path):
    path = kb.write(tmp_path / 'Image.gz', bomb('gzip'))
    report = inspect_in_child(path)
    assert report['error'] == ('kernel image %s: the gzip-compressed file decompresses to more than 256 MiB, more '
                               'than any kernel does: the image is not a kernel or is damaged; give a real kernel '
                               'image' % path)
    assert report['grown_kib'] < (256 + 32) * 1024, report


def test_decompress_stops_at_the_limit_it_is_given():
    stream = kb.compress(bytes(3 * MiB), 'xz')
    assert len(decompress.decompress(stream, 'xz', limit=3 * MiB)) == 3 * MiB
    with pytest.raises(decompress.DecompressionLimit) as err:
        decompress.decompress(stream, 'xz', limit=3 * MiB - 1)
    assert str(err.value) == 'decompresses to more than 3145727 bytes'


def test_an_lzma_header_asking_for_a_huge_dictionary_is_refused(tmp_path):
    path = kb.write(tmp_path / 'vmlinuz', kb.bzimage(kb.with_size(kb.lzma_asking_for(1 << 30), 'lzma', 0)))
    with pytest.raises(kimage.KernelImageError) as err:
        kimage.inspect_image(path)
    assert str(err.value) == ('kernel image %s: its lzma-compressed kernel needs more than 128 MiB of memory to '
                              'decompress, more than any kernel build asks for: the image is not a kernel or is '
                              'damaged; give a real kernel image' % path)


def test_data_without_the_magic_of_its_compression_runs_no_tool(tmp_path, monkeypatch):
    monkeypatch.setattr(decompress, '_STDLIB_ZSTD', None)
    ran = tmp_path / 'ran'
    tool = tmp_path / 'zstd'
    tool.write_text('#!/bin/sh\ntouch %s\n' % ran)
    tool.chmod(0o755)
    with pytest.raises(decompress.CompressedDataError) as err:
        decompress.decompress(b'not zstd at all', 'zstd', run=kb.run_tool, which=lambda name: str(tool))
    assert str(err.value) == 'the data does not start with the zstd magic 28b52ffd but with 6e6f74207a73'
    assert not ran.exists()


def test_an_embedded_config_bomb_is_refused(tmp_path):
    body = kb.kernel_body(extra=b'IKCFG_ST' + gzip.compress(bytes(64 * MiB), mtime=0) + b'IKCFG_ED')
    path = kb.write(tmp_path / 'vmlinux', body)
    with pytest.raises(kimage.KernelImageError) as err:
        kimage.inspect_image(path)
    assert str(err.value) == ('kernel image %s: its embedded config (IKCONFIG) decompresses to more than 4 MiB, '
                              'more than any kernel config: the image is not a kernel or is damaged; give a real '
                              'kernel image' % path)


def test_a_config_gz_bomb_is_refused(tmp_path):
    path = kb.write(tmp_path / 'config.gz', gzip.compress(bytes(64 * MiB), mtime=0))
    with pytest.raises(kconfig.KernelConfigError) as err:
        kconfig.read_config_file(path)
    assert str(err.value) == ('kernel config %s decompresses to more than 4 MiB, more than any kernel config: '
                              'point to the config of the kernel build' % path)


def test_a_huge_plain_config_file_is_refused(tmp_path):
    path = kb.write(tmp_path / 'config', b'CONFIG_X=y\n' * (kconfig.CONFIG_TEXT_LIMIT // 11 + 1))
    with pytest.raises(kconfig.KernelConfigError) as err:
        kconfig.read_config_file(path)
    assert str(err.value) == ('kernel config %s is larger than 4 MiB, more than any kernel config: point to the '
                              'config of the kernel build' % path)


@pytest.mark.parametrize('method', METHODS)
def test_a_stream_longer_than_the_pieces_decompresses_whole(method, monkeypatch):
    if method in DECOMPRESSOR_TOOLS:
        require_decompressor(method)
    monkeypatch.setattr(decompress, '_STDLIB_ZSTD', None)
    data = kb.noise(MiB) * 9  # output in several pieces; the gzip input too
    assert decompress.decompress(kb.compress(data, method), method, **kb.RUN) == data


def test_the_file_size_limit_of_this_process_is_back_after_a_refused_tool(monkeypatch):
    require_decompressor('lz4')
    before = decompress.resource.getrlimit(decompress.resource.RLIMIT_FSIZE)
    with pytest.raises(decompress.DecompressionLimit, match='decompresses to more than 1 MiB'):
        decompress.decompress(kb.bomb('lz4', 8 * MiB), 'lz4', limit=MiB, **kb.RUN)
    assert decompress.resource.getrlimit(decompress.resource.RLIMIT_FSIZE) == before
