# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decompression of what kernel images hold (the kernel, an embedded config), bounded.

Every kernel compression by its magic: the standard library where it can, else the tool that can (zstd, lz4,
lzop), run on temporary files with the output size capped. Data that decompresses past a limit, or asks for
more memory than a kernel build does, is refused before it fills the memory or the disk.
"""
from __future__ import annotations

import bz2
import importlib
import lzma
import os
import resource
import shutil
import signal
import tempfile
import zlib

try:
    # Python >= 3.14 decompresses zstd itself; older ones need the zstd tool.
    _STDLIB_ZSTD = importlib.import_module('compression.zstd')
except ImportError:
    _STDLIB_ZSTD = None

MiB = 1024 * 1024

# A decompressed kernel is tens of MiB (Debian's x86 kernels about 60 MiB).
# Nothing legitimate comes near this; a crafted image (a "decompression bomb")
# is refused here instead of filling the memory: 1 MB of gzip makes 1 GiB.
KERNEL_LIMIT = 256 * MiB

# What liblzma may allocate, above all the dictionary: kernel builds use at
# most 64 MiB (xz: 32 MiB, lzma -9: 64 MiB); a crafted header can ask for 4 GiB.
LZMA_MEMORY_LIMIT = 128 * MiB

# Compressed input is fed, and output taken, in pieces of these sizes, so the
# memory used stays near the output itself.
_IN_CHUNK = 256 * 1024

_OUT_CHUNK = 4 * MiB

# Magic numbers as the kernel's compressors write them. The kernel uses lz4's
# legacy frame (lz4 -l), whose magic differs from the lz4 frame format's.
_COMPRESSION_MAGICS = (
    ('gzip', b'\x1f\x8b\x08'),
    ('xz', b'\xfd7zXZ\x00'),
    ('bzip2', b'BZh'),
    ('zstd', b'\x28\xb5\x2f\xfd'),
    ('lz4', b'\x02\x21\x4c\x18'),
    ('lzo', b'\x89LZO'),
    ('lzma', b'\x5d\x00\x00'),
)

# name: (tool, argv after the tool's path to decompress file IN into file OUT, how to get a decompressor)
_TOOLS = {
    'zstd': ('zstd', ['-d', '-q', '-f', '-o', '{out}', '{in}'], 'needs Python >= 3.14 or the zstd tool (apt-get install zstd)'),
    'lz4': ('lz4', ['-d', '-q', '-f', '{in}', '{out}'], 'needs the lz4 tool (apt-get install lz4)'),
    'lzo': ('lzop', ['-d', '-q', '-f', '-o', '{out}', '{in}'], 'needs the lzop tool (apt-get install lzop)'),
}


class DecompressorMissing(Exception):
    """Nothing here can decompress this data; the message says what would."""


class DecompressionLimit(Exception):
    """The data decompresses to more than the limit, or needs more memory than it allows."""

    def __init__(self, limit, memory=False):
        what = 'needs more than %s of memory to decompress' if memory else 'decompresses to more than %s'
        super().__init__(what % size_text(limit))
        self.memory = memory


def size_text(size):
    """4194304 -> '4 MiB'; sizes that are not whole MiB in bytes."""
    return '%d MiB' % (size // MiB) if size % MiB == 0 else '%d bytes' % size


class CompressedDataError(Exception):
    """Compressed data that does not decompress; truncated tells whether it ended early."""

    def __init__(self, message, truncated=False):
        super().__init__(message)
        self.truncated = truncated


def detect_compression(data):
    """Name of the compression whose magic starts data, or None."""
    for name, magic in _COMPRESSION_MAGICS:
        if data[:len(magic)] == magic:
            return name
    return None


class _GzipDecompressor:
    """zlib's gzip decompressor with the needs_input interface of the lzma, bz2 and zstd ones."""

    def __init__(self):
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.needs_input = True

    @property
    def eof(self):
        return self._zlib.eof

    def decompress(self, data, max_length):
        out = self._zlib.decompress(data or self._zlib.unconsumed_tail, max_length)
        self.needs_input = not self._zlib.unconsumed_tail and len(out) < max_length
        return out


def _stdlib_decompressor(compression):
    if compression == 'gzip':
        return _GzipDecompressor()
    if compression == 'xz':
        return lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=LZMA_MEMORY_LIMIT)
    if compression == 'lzma':
        return lzma.LZMADecompressor(lzma.FORMAT_ALONE, memlimit=LZMA_MEMORY_LIMIT)
    if compression == 'bzip2':
        return bz2.BZ2Decompressor()
    if compression == 'zstd' and _STDLIB_ZSTD is not None:
        return _STDLIB_ZSTD.ZstdDecompressor()
    return None


def _stdlib_errors():
    errors = (zlib.error, lzma.LZMAError, OSError, ValueError, EOFError)
    if _STDLIB_ZSTD is not None:
        errors += (_STDLIB_ZSTD.ZstdError,)
    return errors


def _decompress_stdlib(decompressor, data, compression, limit):
    """Feed data piece by piece and collect the output, refusing to go past limit."""
    out = bytearray()
    position = 0
    while not decompressor.eof:
        piece = b''
        if decompressor.needs_input:
            if position >= len(data):
                raise CompressedDataError('the %s data ends before its end marker' % compression, truncated=True)
            # A copy: a view would keep a mapped image from closing while an error travels up.
            piece, position = bytes(data[position:position + _IN_CHUNK]), position + _IN_CHUNK
        try:
            out += decompressor.decompress(piece, min(_OUT_CHUNK, limit + 1 - len(out)))
        except lzma.LZMAError as exc:
            if 'Memory usage limit' in str(exc):  # liblzma's LZMA_MEMLIMIT_ERROR
                raise DecompressionLimit(LZMA_MEMORY_LIMIT, memory=True) from exc
            raise CompressedDataError('the %s data is damaged (%s)' % (compression, exc)) from exc
        except _stdlib_errors() as exc:
            raise CompressedDataError('the %s data is damaged (%s)' % (compression, exc)) from exc
        if len(out) > limit:
            raise DecompressionLimit(limit)
    return out


def _check_magic(data, compression):
    """Refuse data that does not start as compression's data, before running anything on it."""
    magic = dict(_COMPRESSION_MAGICS)[compression]
    if bytes(data[:len(magic)]) != magic:
        raise CompressedDataError('the data does not start with the %s magic %s but with %s'
                                  % (compression, magic.hex(), bytes(data[:6]).hex()))


class _FileSizeLimit:
    """RLIMIT_FSIZE lowered for what runs inside, so a tool started there cannot write a file past size.

    The runner gives no way to limit what a tool writes, but a child inherits
    the limit: a write past it kills the tool (SIGXFSZ; subprocess restores
    the default action in the child) instead of filling the disk, or the
    memory when the temporary directory is a tmpfs. This process writes
    nothing meanwhile (and Python ignores SIGXFSZ: a write of its own would
    fail with EFBIG, not kill it).
    """

    def __init__(self, size):
        self.size = size
        self.saved = None

    def __enter__(self):
        self.saved = resource.getrlimit(resource.RLIMIT_FSIZE)
        hard = self.saved[1]
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.size if hard == resource.RLIM_INFINITY else min(self.size, hard), hard))
        return self

    def __exit__(self, *exc_info):
        resource.setrlimit(resource.RLIMIT_FSIZE, self.saved)


def _decompress_with_tool(data, compression, executable, run, limit):
    """Decompress with the tool, through temporary files, writing no more than limit + 1 bytes.

    Files, not pipes: a runner that writes all of stdin before reading stdout
    (as module.run_command does) deadlocks on a payload larger than a pipe,
    and it returns all of stdout at once, which is what a decompression bomb
    needs.
    """
    tool, args, how = _TOOLS[compression]
    workdir = tempfile.mkdtemp(prefix='luo-kernel-payload-')
    try:
        source, target = os.path.join(workdir, 'in'), os.path.join(workdir, 'out')
        with open(source, 'wb') as stream:
            stream.write(data)
        try:
            with _FileSizeLimit(limit + 1):
                rc, _out, err = run([executable] + [arg.format(**{'in': source, 'out': target}) for arg in args])
        except OSError as exc:
            raise DecompressorMissing('%s payload: %s could not run (%s); %s' % (compression, executable, exc, how)) from exc
        # Killed for writing past the limit; the size alone can stay small: zstd
        # seeks over zeros (sparse output) and is killed at the write after them.
        if rc == -signal.SIGXFSZ or (os.path.exists(target) and os.path.getsize(target) > limit):
            raise DecompressionLimit(limit)
        if rc == 0:
            with open(target, 'rb') as stream:
                out = stream.read()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if rc != 0:
        detail = (err or b'').decode('utf-8', errors='replace').strip().splitlines()
        raise CompressedDataError('%s failed with rc %s (%s): the data is truncated or damaged'
                                  % (tool, rc, detail[-1] if detail else 'no message'))
    return out


def decompress(data, compression, run=None, which=None, limit=KERNEL_LIMIT):
    """Decompress the first compressed stream in data (bytes after it are ignored): a bytearray.

    Uses the standard library where it can, else the tool in _TOOLS, found with
    which (name -> path or None, default shutil.which) and run as
    run(argv) -> (rc, stdout_bytes, stderr_bytes); without run no tool is tried.
    Output past limit bytes is refused, and the data must start with the magic
    of its compression: nothing runs on data that is not what it claims.
    Raises DecompressorMissing, CompressedDataError or DecompressionLimit.
    """
    if compression not in dict(_COMPRESSION_MAGICS):
        raise DecompressorMissing('%s payload: no decompressor is known for it' % compression)
    _check_magic(data, compression)
    decompressor = _stdlib_decompressor(compression)
    if decompressor is not None:
        return _decompress_stdlib(decompressor, data, compression, limit)
    tool, _args, how = _TOOLS[compression]
    executable = (which or shutil.which)(tool)
    if not executable:
        raise DecompressorMissing('%s payload: %s' % (compression, how))
    if run is None:
        raise DecompressorMissing('%s payload: the %s tool (%s) was not run: no command runner was given' % (compression, tool, executable))
    return _decompress_with_tool(data, compression, executable, run, limit)
