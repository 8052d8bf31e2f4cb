# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Kernel image inspection without booting the image: format, release,
# compression, the LUO ABI strings (kho-vN, luo-vN, memfd-vN) and the
# config, embedded (IKCONFIG) or installed next to the image. Decompression,
# bounded, is decompress.py's.

import mmap
import os
import re
import stat
import struct
from dataclasses import dataclass, field

from ansible_collections.luo.liveupdate.plugins.module_utils import kconfig
from ansible_collections.luo.liveupdate.plugins.module_utils.decompress import (
    CompressedDataError, DecompressionLimit, DecompressorMissing, decompress, detect_compression)

# The LUO ABI strings, in the order their mismatches are reported: the worst (a panic at boot) first.
ABI_NAMES = ('luo', 'kho', 'memfd')

# x86 boot protocol (Documentation/arch/x86/boot.rst); offsets from the file start.
_SETUP_SECTS = 0x1F1
_HEADER_MAGIC = 0x202
_PROTOCOL = 0x206
_KERNEL_VERSION = 0x20E
_PAYLOAD = 0x248
_ARM64_MAGIC = 0x38

# The compatible strings as the kernel defines them (KHO_FDT_COMPATIBLE,
# LUO_ABI_COMPATIBLE, MEMFD_LUO_FH_COMPATIBLE): a NUL-terminated C string that
# does not continue a longer name such as "vfiofd-v1" or "liveupdate-test-flb-v1".
# The version part is searched first: a literal-led pattern scans 35 MB fast.
_ABI_VERSION = re.compile(br'-v([0-9]{1,6})\x00')
_ABI_NAME = re.compile(br'(?<![A-Za-z0-9_.-])(kho|luo|memfd)\Z')
_BANNER = re.compile(br'Linux version ([0-9][^\s%\x00]*) \(([^\x00\n]{0,400})')
_IKCONFIG = b'IKCFG_ST\x1f\x8b\x08'
_IMAGE_NAME = re.compile(r'^(?:vmlinuz|vmlinux|bzImage|Image|zImage)-(.+)$')


class KernelImageError(Exception):
    """The image cannot be inspected; the message names the path and the fix."""


@dataclass
class KernelImage:
    """What inspect_image found.

    format: bzImage, efi-zboot, arm64-Image or vmlinux.
    release: what uname -r will say; version: the kernel's version string (the
      bzImage header's, else the "Linux version" banner's), or None.
    compression: gzip, xz, lzma, bzip2, zstd, lz4, lzo, or None (not compressed).
    payload_readable: False when the kernel inside could not be decompressed here
      (payload_reason says why and what would help); abi and the embedded config
      are then unknown.
    abi: {'kho': [...], 'luo': [...], 'memfd': [...]}, each the sorted distinct
      compatible strings found ([] when none), or None when unknown.
    config / config_source: the kernel config and where it came from, or None.
    """

    path: str
    format: str
    release: str | None = None
    version: str | None = None
    compression: str | None = None
    payload_readable: bool = True
    payload_reason: str | None = None
    abi: dict = field(default_factory=lambda: dict.fromkeys(ABI_NAMES))
    config: dict | None = None
    config_source: str | None = None


def abi_strings(data):
    """{'kho': [...], 'luo': [...], 'memfd': [...]}: distinct compatible strings, lowest version first."""
    found = dict((name, set()) for name in ABI_NAMES)
    for match in _ABI_VERSION.finditer(data):
        name = _ABI_NAME.search(data[max(0, match.start() - 7):match.start()])
        if name:
            found[name.group(1).decode('ascii')].add(int(match.group(1)))
    return dict((name, ['%s-v%d' % (name, version) for version in sorted(found[name])]) for name in ABI_NAMES)


def banner(data):
    """(release, version text) from the first "Linux version R (...)" banner, or (None, None)."""
    match = _BANNER.search(data)
    if not match:
        return None, None
    release = match.group(1).decode('utf-8', errors='replace')
    return release, '%s (%s' % (release, match.group(2).decode('utf-8', errors='replace').rstrip())


def embedded_config(data):
    """Config dict from an embedded IKCONFIG block, or None when there is none.

    Raises CompressedDataError when the block does not decompress, and
    DecompressionLimit when it holds more than any config.
    """
    start = data.find(_IKCONFIG)
    if start < 0:
        return None
    # A view, not a copy of the rest of the kernel; released before returning
    # because an mmap cannot close while views of it exist.
    with memoryview(data) as view, view[start + 8:] as block:
        text = decompress(block, 'gzip', limit=kconfig.CONFIG_TEXT_LIMIT)
    return kconfig.parse_config(text.decode('utf-8', errors='replace'))


def image_config_candidates(path, release, root='/'):
    """Config files that may belong to the image at path, most specific first.

    vmlinuz-SUFFIX -> config-SUFFIX beside it (lab kernels: vmlinuz-7.2.13-luo
    and config-7.2.13-luo), then by release: config-R beside it, config in a
    .../modules/R/ directory holding the image, and the installed places under
    root (/boot/config-R, /lib/modules/R/config, /usr/lib/modules/R/config).
    /proc/config.gz is left out: it describes the running kernel, not a file.
    """
    directory, name = os.path.split(os.path.abspath(path))
    candidates = []
    match = _IMAGE_NAME.match(name)
    if match:
        candidates.append(os.path.join(directory, 'config-%s' % match.group(1)))
    if release:
        candidates.append(os.path.join(directory, 'config-%s' % release))
        if os.path.basename(directory) == release:
            candidates.append(os.path.join(directory, 'config'))
        candidates.extend(kconfig.release_config_paths(release, root))
    unique = []
    for candidate in candidates:
        if os.path.normpath(candidate) not in unique:
            unique.append(os.path.normpath(candidate))
    return unique


def find_image_config(path, release, root='/'):
    """(source path, config) of the config file that belongs to the image, or None."""
    return kconfig.first_config(image_config_candidates(path, release, root))


def _u16(data, offset):
    return struct.unpack_from('<H', data, offset)[0]


def _c_string(data, start, limit=256):
    end = data.find(b'\x00', start, start + limit)
    raw = data[start:end if end >= 0 else start + limit]
    return raw.decode('utf-8', errors='replace').strip()


def _truncated(path, what):
    return KernelImageError('kernel image %s is truncated: %s; copy the image again from its package or build' % (path, what))


def _too_large(path, what, exc, bound):
    """The refusal of data that decompresses past a limit: bound says what stays within it."""
    reason = 'more than any kernel build asks for' if exc.memory else 'more than %s' % bound
    return KernelImageError('kernel image %s: %s %s, %s: the image is not a kernel or is damaged; give a real kernel image'
                            % (path, what, exc, reason))


def _damaged(path, what, detail):
    return KernelImageError('kernel image %s: %s does not decompress: %s; copy the image again from its package or build' % (path, what, detail))


class _Inspector:
    """One inspection: the mapped file, the options, and the result being filled."""

    def __init__(self, path, data, run, which):
        self.path = path
        self.data = data
        self.run = run
        self.which = which

    def payload(self, image, stream, compression, what):
        """Decompressed bytes, or None when nothing here decompresses them (noted in image)."""
        image.compression = compression
        try:
            return decompress(stream, compression, self.run, self.which)
        except DecompressorMissing as exc:
            image.payload_readable = False
            image.payload_reason = str(exc)
            return None
        except CompressedDataError as exc:
            if exc.truncated:
                raise _truncated(self.path, 'its %s: %s' % (what, exc)) from exc
            raise _damaged(self.path, 'its %s' % what, exc) from exc
        except DecompressionLimit as exc:
            raise _too_large(self.path, 'its %s' % what, exc, 'any kernel does') from exc

    def inspect(self):
        data = self.data
        if len(data) >= _HEADER_MAGIC + 4 and data[_HEADER_MAGIC:_HEADER_MAGIC + 4] == b'HdrS':
            image, kernel = self.bzimage()
        elif data[:2] == b'MZ' and data[4:8] == b'zimg':
            image, kernel = self.zboot()
        elif data[_ARM64_MAGIC:_ARM64_MAGIC + 4] == b'ARM\x64':
            image, kernel = KernelImage(self.path, 'arm64-Image'), data
        elif data[:4] == b'\x7fELF':
            image, kernel = KernelImage(self.path, 'vmlinux'), data
        else:
            image, kernel = self.compressed_file()
        if kernel is None:
            return image
        release, version = banner(kernel)
        if image.format == 'vmlinux' and release is None:
            raise KernelImageError('%s is an ELF file without a "Linux version" banner, so not a kernel; give a vmlinuz, bzImage, Image or vmlinux'
                                   % self.path)
        image.release = image.release or release
        image.version = image.version or version
        image.abi = abi_strings(kernel)
        try:
            image.config = embedded_config(kernel)
        except CompressedDataError as exc:
            raise _damaged(self.path, 'its embedded config (IKCONFIG)', exc) from exc
        except DecompressionLimit as exc:
            raise _too_large(self.path, 'its embedded config (IKCONFIG)', exc, 'any kernel config') from exc
        if image.config is not None:
            image.config_source = '%s (embedded IKCONFIG)' % self.path
        return image

    def bzimage(self):
        data = self.data
        setup_size = ((data[_SETUP_SECTS] or 4) + 1) * 512
        if len(data) < setup_size:
            raise _truncated(self.path, 'the header says the setup code takes %d bytes but the file has %d' % (setup_size, len(data)))
        image = KernelImage(self.path, 'bzImage')
        protocol = _u16(data, _PROTOCOL)
        pointer = _u16(data, _KERNEL_VERSION) if protocol >= 0x200 else 0
        if pointer:
            image.version = _c_string(data, pointer + 0x200) or None
            first = image.version.split()[0] if image.version else ''
            image.release = first if first[:1].isdigit() else None
        if protocol < 0x208:
            image.payload_readable = False
            image.payload_reason = 'boot protocol %d.%02d is older than 2.08: its header does not locate the compressed kernel' % (
                protocol >> 8, protocol & 0xFF)
            return image, None
        offset, length = struct.unpack_from('<II', data, _PAYLOAD)
        start, end = setup_size + offset, setup_size + offset + length
        if end > len(data) or length < 8:
            raise _truncated(self.path, 'the header puts the compressed kernel at bytes %d..%d but the file has %d bytes' % (start, end, len(data)))
        stream = data[start:end]
        compression = detect_compression(stream)
        if compression is None:
            image.payload_readable = False
            image.payload_reason = 'the compressed kernel starts with %s, which is no compression this inspection knows' % stream[:6].hex()
            return image, None
        # The kernel build appends the decompressed size (u32) after every
        # stream but gzip's, whose own trailer ends with that size.
        if compression != 'gzip':
            stream = stream[:-4]
        return image, self.payload(image, stream, compression, '%s-compressed kernel' % compression)

    def zboot(self):
        # EFI zboot (arm64, riscv): "MZ", "zimg", then payload offset and size.
        data = self.data
        image = KernelImage(self.path, 'efi-zboot')
        if len(data) < 16:
            raise _truncated(self.path, 'the EFI zboot header is cut short')
        offset, length = struct.unpack_from('<II', data, 8)
        if offset + length > len(data):
            raise _truncated(self.path, 'the header puts the compressed kernel at bytes %d..%d but the file has %d bytes'
                             % (offset, offset + length, len(data)))
        stream = data[offset:offset + length]
        compression = detect_compression(stream)
        if compression is None:
            image.payload_readable = False
            image.payload_reason = 'the compressed kernel starts with %s, which is no compression this inspection knows' % stream[:6].hex()
            return image, None
        return image, self.payload(image, stream, compression, '%s-compressed kernel' % compression)

    def compressed_file(self):
        # A whole file compressed (Image.gz, vmlinux.xz): look inside it.
        compression = detect_compression(self.data)
        if compression is None:
            raise KernelImageError('%s is not a kernel image: no bzImage header ("HdrS" at 0x202), no arm64 Image magic at 0x38, '
                                   'not an ELF vmlinux and not a compressed file; give a vmlinuz, bzImage, Image, Image.gz or vmlinux'
                                   % self.path)
        try:
            inner = decompress(self.data, compression, self.run, self.which)
        except DecompressorMissing as exc:
            raise KernelImageError('%s is a %s-compressed file and cannot be opened here (%s), so whether it is a kernel is unknown'
                                   % (self.path, compression, exc)) from exc
        except CompressedDataError as exc:
            if exc.truncated:
                raise _truncated(self.path, exc) from exc
            raise _damaged(self.path, 'the %s-compressed file' % compression, exc) from exc
        except DecompressionLimit as exc:
            raise _too_large(self.path, 'the %s-compressed file' % compression, exc, 'any kernel does') from exc
        if inner[_ARM64_MAGIC:_ARM64_MAGIC + 4] == b'ARM\x64':
            image = KernelImage(self.path, 'arm64-Image')
        elif inner[:4] == b'\x7fELF':
            image = KernelImage(self.path, 'vmlinux')
        else:
            raise KernelImageError('%s is a %s-compressed file without a kernel inside (no arm64 Image magic, not an ELF vmlinux); '
                                   'give a vmlinuz, bzImage, Image, Image.gz or vmlinux' % (self.path, compression))
        image.compression = compression
        return image, inner


def _open_error(path, exc):
    if isinstance(exc, FileNotFoundError):
        return KernelImageError('kernel image %s does not exist; give the path of an existing image, for example /boot/vmlinuz-RELEASE' % path)
    if isinstance(exc, PermissionError):
        return KernelImageError('cannot read kernel image %s: permission denied; run with root privileges (become: true) '
                                'or make the file readable' % path)
    return KernelImageError('cannot read kernel image %s: %s' % (path, exc.strerror or exc))


def inspect_image(path, root='/', run=None, which=None):
    """Inspect the kernel image at path; returns a KernelImage.

    root: where installed configs are looked up by release (/boot, /lib/modules).
    run, which: how decompression tools are found and run (see decompress).
    Raises KernelImageError for a missing, unreadable, truncated, damaged or
    non-kernel file.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _open_error(path, exc) from exc
    if stat.S_ISDIR(info.st_mode):
        raise KernelImageError('%s is a directory, not a kernel image; give the image file in it, for example %s'
                               % (path, os.path.join(path, 'vmlinuz-RELEASE')))
    if not stat.S_ISREG(info.st_mode):
        raise KernelImageError('%s is not a regular file; give the path of a kernel image file' % path)
    if info.st_size == 0:
        raise KernelImageError('kernel image %s is empty; copy the image again from its package or build' % path)
    try:
        handle = open(path, 'rb')  # pylint: disable=consider-using-with
    except OSError as exc:
        raise _open_error(path, exc) from exc
    with handle:
        try:
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            # Some filesystems (sysfs, some FUSE mounts) cannot map files.
            try:
                data = handle.read()
            except OSError as exc:
                raise _open_error(path, exc) from exc
            image = _Inspector(path, data, run, which).inspect()
        else:
            with data:
                image = _Inspector(path, data, run, which).inspect()
    if image.config is None:
        try:
            found = find_image_config(path, image.release, root)
        except kconfig.KernelConfigError as exc:
            raise KernelImageError(str(exc)) from exc
        if found:
            image.config_source, image.config = found
    return image
