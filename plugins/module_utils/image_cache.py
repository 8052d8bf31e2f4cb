# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel image facts, kept per image file so that an image is decompressed once, not by every module run.

A live update inspects the running and the target image in its preflight (info), again when staging
(kexec_load), and the new running image when verifying: decompressing tens of MB each time is most of
what those module runs cost on a slow host. An entry counts only while the image file is the same
(device, inode, size, mtime and ctime: a rewrite or a replacement changes one of them) and, for a config
read from a file beside it, while that file is the same. Results that may change without the image
changing are not kept: an unreadable payload (a decompressor may be installed later) or no config found.

The cache is a JSON file readable by its owner only; one that is not this user's, or that others may
write, is ignored, so nobody else can plant facts that make an incompatible kernel look compatible.
"""
from __future__ import annotations

import dataclasses
import json
import os
import stat
import tempfile

from ansible_collections.luo.liveupdate.plugins.module_utils import kimage

CACHE_PATH = '/var/cache/luo-liveupdate/images.json'
MAX_ENTRIES = 4  # the running kernel, the target and a spare pair; older entries go first (each holds a config)


def identity(path):
    """What changes when the file at ``path`` changes; None when it cannot be read."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return [found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns]


def inspect(host, path):
    """kimage.inspect_image(path) as the host runs it, from the cache when the image has not changed since."""
    key = os.path.abspath(path)
    entries = load(host.path(CACHE_PATH))
    entry = entries.get(key)
    if entry is not None and _still_valid(entry, key):
        return kimage.KernelImage(**entry['image'])
    image = kimage.inspect_image(path, root=host.root, run=host.run_bytes, which=host.which)
    if image.payload_readable and image.config is not None:
        entries.pop(key, None)
        entries[key] = {'identity': identity(key), 'config_identity': _config_identity(image.config_source),
                        'image': dataclasses.asdict(image)}
        store(host.path(CACHE_PATH), dict(list(entries.items())[-MAX_ENTRIES:]))
    return image


def _config_identity(source):
    """The identity of a config file the image's config came from; None for an embedded one."""
    return identity(source) if source and os.path.isfile(source) else None


def _still_valid(entry, key):
    try:
        current = identity(key)
        source = entry['image']['config_source']
        return current is not None and entry['identity'] == current and entry['config_identity'] == _config_identity(source)
    except (KeyError, TypeError):
        return False


def _trusted(found):
    """Only a file or directory of this user that nobody else may write is believed."""
    return found.st_uid == os.geteuid() and not found.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def load(path):
    """{image path: entry} from the cache file; empty when it is missing, untrusted or unreadable."""
    try:
        directory = os.stat(os.path.dirname(path))
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return {}
    try:
        if not (_trusted(directory) and _trusted(os.fstat(handle))):
            return {}
        with os.fdopen(handle, encoding='utf-8') as stream:
            handle = None
            entries = json.load(stream)
    except (OSError, ValueError):
        return {}
    finally:
        if handle is not None:
            os.close(handle)
    return entries if isinstance(entries, dict) else {}


def store(path, entries):
    """Write the cache atomically; a host where it cannot be written (no root) just has no cache."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not _trusted(os.stat(directory)):
            return
        handle, temporary = tempfile.mkstemp(dir=directory, prefix='.images.')
    except OSError:
        return
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            json.dump(entries, stream)
        os.replace(temporary, path)
    except (OSError, TypeError, ValueError):
        try:
            os.unlink(temporary)
        except OSError:
            pass
