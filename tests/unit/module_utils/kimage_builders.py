# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Builders of small but real kernel-image files for the kimage tests: a
# vmlinux-like body, compressed the way the kernel build compresses it, put
# behind an x86 boot-protocol header, an arm64 Image header or an EFI zboot
# header.

import bz2
import contextlib
import gzip
import itertools
import lzma
import os
import random
import shutil
import struct
import subprocess
import tempfile
import threading
import zlib

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import kimage

LAB_ABI = (b'kho-v4', b'luo-v5', b'memfd-v2')

# Where each compressor comes from; the tool-based ones are None when absent.
TOOLS = {'zstd': shutil.which('zstd'), 'lz4': shutil.which('lz4'), 'lzo': shutil.which('lzop')}

CONFIG_TEXT = '''#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_X86_64=y
CONFIG_KEXEC_FILE=y
CONFIG_KEXEC_HANDOVER=y
# CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT is not set
CONFIG_LIVEUPDATE=y
CONFIG_LIVEUPDATE_MEMFD=y
CONFIG_LOCALVERSION="-test"
'''


def kernel_body(release='7.9.1-test', abi=LAB_ABI, config_text=None, extra=b''):
    """Bytes shaped like a decompressed kernel: ELF magic, banner, ABI strings, optional IKCONFIG."""
    parts = [b'\x7fELF\x02\x01\x01' + b'\x00' * 57, b'\x90' * 4000]
    if release is not None:
        parts.append(b'\x00Linux version %s (builder@host) (gcc (Debian 12.2.0) 12.2.0) #1 SMP PREEMPT_DYNAMIC\n\x00' % release.encode())
    for index, name in enumerate(abi):
        # Real kernels hold them after other strings or after pointers.
        parts.append((b'compatible\x00' if index % 2 else b'\xff\xff\xff\xff') + name + b'\x00')
    if config_text is not None:
        parts.append(b'IKCFG_ST' + gzip.compress(config_text.encode(), mtime=0) + b'IKCFG_ED')
    parts.append(extra)
    parts.append(bytes(range(256)) * 64)
    return b''.join(parts)


def _tool(argv, data):
    return subprocess.run(argv, input=data, stdout=subprocess.PIPE, check=True).stdout


def compress(data, method):
    """data compressed as the kernel build does it (without the size trailer)."""
    if method == 'gzip':
        return gzip.compress(data, compresslevel=9, mtime=0)
    if method == 'xz':
        return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)
    if method == 'lzma':
        return lzma.compress(data, format=lzma.FORMAT_ALONE)
    if method == 'bzip2':
        return bz2.compress(data, 9)
    if method == 'zstd':
        return _tool([TOOLS['zstd'], '-19', '-q', '-c'], data)
    if method == 'lz4':
        return _tool([TOOLS['lz4'], '-l', '-9', '-q', '-c'], data)
    if method == 'lzo':
        return _tool([TOOLS['lzo'], '-9', '-c'], data)
    raise ValueError(method)


def _tool_stream(argv, chunks):
    """Pipe chunks through a compression tool without holding its input: the tool's stdout."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()))
    reader.start()
    for chunk in chunks:
        proc.stdin.write(chunk)
    proc.stdin.close()
    reader.join()
    proc.wait()
    return out[0]


_STREAM_COMPRESSORS = {
    'gzip': lambda: zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS),
    'xz': lambda: lzma.LZMACompressor(lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, preset=0),
    'lzma': lambda: lzma.LZMACompressor(lzma.FORMAT_ALONE, preset=0),
    'bzip2': lambda: bz2.BZ2Compressor(9),
}
_STREAM_TOOLS = {'zstd': ['-q', '-c', '-1'], 'lz4': ['-l', '-q', '-c', '-1'], 'lzo': ['-1', '-c']}


def bomb(method, size):
    """size bytes of zeros compressed with method, built a MiB at a time (a decompression bomb)."""
    chunks = itertools.repeat(bytes(1 << 20), size >> 20)
    if method in _STREAM_TOOLS:
        return _tool_stream([TOOLS[method]] + _STREAM_TOOLS[method], chunks)
    compressor = _STREAM_COMPRESSORS[method]()
    return b''.join([compressor.compress(chunk) for chunk in chunks] + [compressor.flush()])


def lzma_asking_for(dictionary_size, data=b'kernel'):
    """An .lzma stream (the kernel's lzma format) whose header asks for a dictionary of dictionary_size bytes."""
    stream = bytearray(compress(data, 'lzma'))
    struct.pack_into('<I', stream, 1, dictionary_size)
    return bytes(stream)


def run_tool(argv):
    """The command runner that modules build from run_command: argv -> (rc, stdout bytes, stderr bytes)."""
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    return proc.returncode, proc.stdout, proc.stderr


RUN = {'run': run_tool}


def noise(size, seed=1):
    """Incompressible but repeatable bytes."""
    return random.Random(seed).randbytes(size)


def damage(stream, method):
    """stream with a header byte broken in a way the decompressor reports as damage, not truncation."""
    data = bytearray(stream)
    if method == 'gzip':
        data[10] = 0x07  # first deflate block: final, type 3 (reserved)
    elif method == 'xz':
        data[7] ^= 0xFF  # stream flags no longer match the header CRC
    elif method == 'lzma':
        data[13] = 0xFF  # the range coder's first byte, always 0
    elif method == 'bzip2':
        data[4:10] = b'\x00' * 6  # block magic (pi) gone
    else:
        raise ValueError(method)
    return bytes(data)


def with_size(stream, method, size):
    """The payload as the kernel build stores it: every stream but gzip gets the size appended."""
    return stream if method == 'gzip' else stream + struct.pack('<I', size)


def bzimage(payload, version='7.9.1-test (builder@host) #1 SMP PREEMPT_DYNAMIC', setup_sects=4, protocol=0x20F,
            payload_length=None, tail=b'\xcc' * 700):
    """An x86 bzImage: setup sectors with the boot-protocol header, then the protected-mode part holding payload."""
    setup = bytearray((setup_sects + 1) * 512)
    setup[0:2] = b'MZ'
    setup[0x1F1] = setup_sects
    setup[0x1FE:0x200] = b'\x55\xaa'
    setup[0x202:0x206] = b'HdrS'
    struct.pack_into('<H', setup, 0x206, protocol)
    if version is not None:
        struct.pack_into('<H', setup, 0x20E, 0x300 - 0x200)
        setup[0x300:0x300 + len(version) + 1] = version.encode() + b'\x00'
    payload_offset = 0x2C4
    struct.pack_into('<II', setup, 0x248, payload_offset, len(payload) if payload_length is None else payload_length)
    head = b'\xc3' * payload_offset
    return bytes(setup) + head + payload + tail


def bzimage_of(body, method, **kwargs):
    """bzImage whose payload is body compressed with method, stored as the kernel stores it."""
    return bzimage(with_size(compress(body, method), method, len(body)), **kwargs)


def arm64_image(body):
    """A raw arm64 Image: 64-byte header with "ARM\\x64" at 0x38, then the kernel."""
    header = bytearray(64)
    header[0:2] = b'MZ'
    struct.pack_into('<QQQ', header, 8, 0, 64 + len(body), 0xA)
    header[0x38:0x3C] = b'ARM\x64'
    return bytes(header) + body


def zboot_image(stream, payload_length=None):
    """An EFI zboot image: "MZ", "zimg", payload offset and size, then the compressed kernel."""
    header = bytearray(0x40)
    header[0:2] = b'MZ'
    header[4:8] = b'zimg'
    struct.pack_into('<II', header, 8, len(header), len(stream) if payload_length is None else payload_length)
    header[0x18:0x1C] = b'gzip'
    return bytes(header) + stream


def write(path, data):
    with open(path, 'wb') as handle:
        handle.write(data)
    return str(path)


@contextlib.contextmanager
def unreadable_file(data, name='vmlinuz-unreadable'):
    """Path of a file the current (effective) user cannot read, with that user in force.

    As root, permissions do not stop reads, so the effective user becomes
    nobody for the duration; the file's directory stays enterable.
    """
    directory = tempfile.mkdtemp()
    path = os.path.join(directory, name)
    try:
        write(path, data)
        os.chmod(directory, 0o755)
        os.chmod(path, 0o000)
        if os.geteuid() != 0:
            yield path
            return
        os.setegid(65534)
        os.seteuid(65534)
        try:
            yield path
        finally:
            os.seteuid(0)
            os.setegid(0)
    finally:
        shutil.rmtree(directory)


# What inspect_image reports on the images built here, shared by the unit and integration tests.
INSPECTED_ABI = {'kho': ['kho-v4'], 'luo': ['luo-v5'], 'memfd': ['memfd-v2']}
UNKNOWN_ABI = {'kho': None, 'luo': None, 'memfd': None}
NO_TOOLS = {'which': lambda name: None}
MISSING_REASONS = {
    'zstd': 'zstd payload: needs Python >= 3.14 or the zstd tool (apt-get install zstd)',
    'lz4': 'lz4 payload: needs the lz4 tool (apt-get install lz4)',
    'lzo': 'lzo payload: needs the lzop tool (apt-get install lzop)',
}


def body_with_config():
    return kernel_body(config_text=CONFIG_TEXT)


def config_file(path, text='CONFIG_LIVEUPDATE=y\n'):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def error_of(path, **kwargs):
    """The message of the KernelImageError inspect_image raises on path."""
    with pytest.raises(kimage.KernelImageError) as err:
        kimage.inspect_image(str(path), **kwargs)
    return str(err.value)


def assert_bzimage_reads(tmp_path, method):
    """A bzImage compressed with method: inspect_image reads all of it (format, release, ABI, embedded config)."""
    path = write(tmp_path / 'vmlinuz', bzimage_of(body_with_config(), method))
    image = kimage.inspect_image(path, root=str(tmp_path), **RUN)
    assert image.format == 'bzImage'
    assert image.compression == method
    assert image.release == '7.9.1-test'
    assert image.version == '7.9.1-test (builder@host) #1 SMP PREEMPT_DYNAMIC'
    assert image.payload_readable is True and image.payload_reason is None
    assert image.abi == INSPECTED_ABI
    assert image.config['LIVEUPDATE'] == 'y' and image.config['LOCALVERSION'] == '-test'
    assert image.config_source == '%s (embedded IKCONFIG)' % path
