# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The state luo-state keeps in its memfd: which files it takes, how they are packed, how they are read back.

Memfd layout: a 56-byte header (magic b"LUOSTAT1", then little-endian u64 metadata size, u64
archive size, and the 32-byte sha256 of metadata + archive), the metadata (JSON: name, saved_at,
kernel, boot_id, paths saved, paths missing at the save), then a POSIX (pax) tar archive. Its
members are regular files, directories and symlinks, named by their absolute path without the
leading slash, with numeric owner and group, mode, and LUO.mtime_ns / LUO.atime_ns pax records so
times come back to the nanosecond. Hard links are stored as separate copies; extended
attributes and ACLs are not kept.

Installed by the role preserve beside luo_service.py in /usr/local/lib/luo-liveupdate.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import stat
import struct
import tarfile
import time

from luo_service import ServiceError, host_facts

FDNAME = 'luo-state'
HEADER = struct.Struct('<8sQQ32s')
MAGIC = b'LUOSTAT1'
CHUNK = 1024 * 1024
KINDS = {stat.S_IFREG: 'file', stat.S_IFDIR: 'directory', stat.S_IFLNK: 'symlink'}
TAR_KINDS = {tarfile.REGTYPE: 'file', tarfile.DIRTYPE: 'directory', tarfile.SYMTYPE: 'symlink'}
EXIT_REFUSED = 3

Header = collections.namedtuple('Header', 'meta_size archive_size sha256')


class StateRefused(ServiceError):
    """The state cannot be saved or restored; nothing was changed."""

    exit_code = EXIT_REFUSED


def format_size(size):
    """536870912 -> '512.0 MiB'."""
    if size < 1024:
        return '%d B' % size
    for unit in ('KiB', 'MiB', 'GiB'):
        size /= 1024.0
        if size < 1024:
            break
    return '%.1f %s' % (size, unit)


# ---------------------------------------------------------------- collecting files

def entry_kind(path, mode):
    """'file', 'directory' or 'symlink'; anything else is refused."""
    kind = KINDS.get(stat.S_IFMT(mode))
    if kind is None:
        raise StateRefused('%s is a %s: luo-state keeps regular files, directories and symlinks only; '
                           'list the files next to it in paths= instead of its directory, or have the '
                           'service create it again on start' % (path, special_kind(mode)))
    return kind


def special_kind(mode):
    """Human name of a file type luo-state does not keep."""
    for test, name in ((stat.S_ISSOCK, 'socket'), (stat.S_ISFIFO, 'FIFO'),
                       (stat.S_ISCHR, 'character device'), (stat.S_ISBLK, 'block device')):
        if test(mode):
            return name
    return 'file of unknown type'


def walk_tree(root):
    """[(path, lstat)] of root and, for a directory, everything below it, parents first.

    Symlinks are kept as links, never followed."""
    st = os.lstat(root)
    entries = [(root, st)]
    if entry_kind(root, st.st_mode) == 'directory':
        for name in sorted(os.listdir(root)):
            entries.extend(walk_tree(os.path.join(root, name)))
    return entries


def file_sha256(path):
    """sha256 hex of a regular file's data (never through a symlink)."""
    digest = hashlib.sha256()
    with open(path, 'rb', opener=open_nofollow) as data:
        for chunk in iter(lambda: data.read(CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digest(root):
    """sha256 hex of what is at root: names, kinds, modes, owners and contents, not times or where it is.

    One line per entry, in walk_tree order (root, then each directory's entries sorted by name, parents first):
    the compact JSON array [name relative to root ("." for root), kind ("file", "directory" or "symlink"),
    permission bits, uid, gid, content (the file's sha256 hex, the link's target, "" for a directory)] and "\n".
    """
    digest = hashlib.sha256()
    for path, st in walk_tree(root):
        kind = entry_kind(path, st.st_mode)
        content = {'file': file_sha256, 'symlink': os.readlink}.get(kind, lambda p: '')(path)
        name = '.' if path == root else path[len(root) + 1:]
        line = json.dumps([name, kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, content], separators=(',', ':'))
        digest.update(line.encode() + b'\n')
    return digest.hexdigest()


def collect_state(config):
    """Walk the configured paths: ([(path, lstat)], [missing paths]); refuse a state over max_size."""
    entries, missing = [], []
    for path in config.paths:
        try:
            entries.extend(walk_tree(path))
        except FileNotFoundError:
            if not os.path.lexists(path):
                missing.append(path)
                continue
            raise
    check_size(sum(entry[1].st_size for entry in entries if stat.S_ISREG(entry[1].st_mode)), config)
    return entries, missing


def check_size(size, config):
    """Refuse a state larger than max_size."""
    if size > config.max_size:
        raise StateRefused('the state of %s is %s (%d bytes), more than max_size = %s (%d bytes): raise max_size in %s '
                           'or remove paths from it' % (config.name, format_size(size), size,
                                                        format_size(config.max_size), config.max_size, config.source))


# ---------------------------------------------------------------- archive

def tarinfo_for(path, st):
    """A pax TarInfo for one file, directory or symlink, with nanosecond times."""
    info = tarfile.TarInfo(path.lstrip('/'))
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = st.st_mtime_ns // 10 ** 9
    info.pax_headers = {'LUO.mtime_ns': str(st.st_mtime_ns), 'LUO.atime_ns': str(st.st_atime_ns)}
    kind = entry_kind(path, st.st_mode)
    if kind == 'directory':
        info.type = tarfile.DIRTYPE
    elif kind == 'symlink':
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
    else:
        info.type = tarfile.REGTYPE
        info.size = st.st_size
    return info


def utc_now():
    """The time as 2026-01-31T12:00:00Z."""
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())


def state_meta(config, missing):
    """The metadata stored before the archive: who, when, on which kernel, which paths."""
    facts = host_facts()
    return {
        'name': config.name,
        'saved_at': utc_now(),
        'kernel': facts['kernel'],
        'boot_id': facts['boot_id'],
        'paths': [p for p in config.paths if p not in missing],
        'missing': list(missing),
    }


def open_nofollow(path, flags):
    """Opener for open(): never follow a symlink put in place of a file."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)


def write_archive(fileobj, entries):
    """Stream a pax tar of entries (from collect_state) into fileobj."""
    with tarfile.open(fileobj=fileobj, mode='w|', format=tarfile.PAX_FORMAT,
                      encoding='utf-8', errors='surrogateescape') as tar:
        for path, st in entries:
            info = tarinfo_for(path, st)
            if info.isreg():
                with open(path, 'rb', opener=open_nofollow) as data:
                    tar.addfile(info, data)
            else:
                tar.addfile(info)


class HashingWriter:
    """File-like writer onto an fd that counts and hashes what it writes."""

    def __init__(self, fd):
        self.fd = fd
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, data):
        """Write all of data."""
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            self.sha256.update(view[:written])
            self.size += written
            view = view[written:]
        return len(data)


class MemfdReader:
    """File-like reader over a byte range of an fd (pread: the fd's position is left alone)."""

    def __init__(self, fd, start, length):
        self.fd = fd
        self.pos = start
        self.end = start + length

    def read(self, size=-1):
        """Read up to size bytes (all that is left when size < 0)."""
        left = self.end - self.pos
        size = left if size is None or size < 0 else min(size, left)
        parts = []
        while size > 0:
            data = os.pread(self.fd, min(size, CHUNK), self.pos)
            if not data:
                break
            parts.append(data)
            self.pos += len(data)
            size -= len(data)
        return b''.join(parts)


# ---------------------------------------------------------------- memfd

def write_state(fd, entries, meta):
    """Header, metadata and archive into fd: returns the Header written."""
    meta_bytes = json.dumps(meta, sort_keys=True).encode()
    os.lseek(fd, HEADER.size, os.SEEK_SET)
    writer = HashingWriter(fd)
    writer.write(meta_bytes)
    write_archive(writer, entries)
    header = Header(len(meta_bytes), writer.size - len(meta_bytes), writer.sha256.digest())
    os.pwrite(fd, HEADER.pack(MAGIC, *header), 0)
    os.lseek(fd, 0, os.SEEK_SET)
    return header


def read_header(fd):
    """The Header of a state memfd; refuse what is not a whole luo-state memfd."""
    data = os.pread(fd, HEADER.size, 0)
    if len(data) < HEADER.size or data[:len(MAGIC)] != MAGIC:
        raise StateRefused('the fd store entry %s is not a luo-state memfd (header %r): drop it with '
                           'systemctl clean --what=fdstore on the keeper unit' % (FDNAME, data[:len(MAGIC)]))
    header = Header(*HEADER.unpack(data)[1:])
    actual = os.fstat(fd).st_size - HEADER.size
    if actual != header.meta_size + header.archive_size:
        raise StateRefused('the saved state is cut: its header says %d bytes, the memfd holds %d; nothing was '
                           'restored: drop it with systemctl clean --what=fdstore on the keeper unit'
                           % (header.meta_size + header.archive_size, actual))
    return header


def content_sha256(fd, header):
    """sha256 hex of the metadata and archive bytes in fd."""
    digest = hashlib.sha256()
    reader = MemfdReader(fd, HEADER.size, header.meta_size + header.archive_size)
    for chunk in iter(lambda: reader.read(CHUNK), b''):
        digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(fd):
    """The Header when the content matches its sha256; StateRefused otherwise."""
    header = read_header(fd)
    actual = content_sha256(fd, header)
    if actual != header.sha256.hex():
        raise StateRefused('checksum mismatch: the saved state should have sha256 %s but has %s; nothing was '
                           'restored and the files on disk are untouched: drop the state with systemctl clean '
                           '--what=fdstore on the keeper unit and start it again' % (header.sha256.hex(), actual))
    return header


def read_meta(fd, header):
    """The metadata dict; a broken one is refused."""
    try:
        meta = json.loads(os.pread(fd, header.meta_size, HEADER.size))
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise StateRefused('the saved state has broken metadata: drop it with systemctl clean --what=fdstore on '
                           'the keeper unit')
    return meta


def open_archive(fd, header):
    """A streaming tar reader over the archive part of fd."""
    reader = MemfdReader(fd, HEADER.size + header.meta_size, header.archive_size)
    return tarfile.open(fileobj=reader, mode='r|', encoding='utf-8', errors='surrogateescape')


def read_manifest(fd, header):
    """(metadata, [TarInfo]) of a state, without the file data."""
    with open_archive(fd, header) as tar:
        return read_meta(fd, header), list(tar)


def meta_list(meta, key):
    """A list of paths from the metadata; a broken one is refused."""
    value = meta.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StateRefused('the saved state has a broken %s list (%r): drop it with systemctl clean '
                           '--what=fdstore on the keeper unit' % (key, value))
    return value
