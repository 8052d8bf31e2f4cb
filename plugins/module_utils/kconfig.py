# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Kernel build configuration: parse it, find it for a release, pick what LUO depends on
# (readiness.py judges it).

import gzip
import io
import os
import re
import zlib

# Options worth reporting for LUO; absent means 'n' (Kconfig leaves out
# symbols whose dependencies are not met).
LUO_OPTIONS = (
    'KEXEC_FILE',
    'KEXEC_HANDOVER',
    'KEXEC_HANDOVER_ENABLE_DEFAULT',
    'KEXEC_HANDOVER_DEBUGFS',
    'LIVEUPDATE',
    'LIVEUPDATE_MEMFD',
    'MEMFD_CREATE',
    'SHMEM',
)

# Page size decides whether preserved memory can be handed over at all;
# reported only when the config has them (x86 has no choice to make).
PAGE_SIZE_OPTIONS = ('ARM64_4K_PAGES', 'ARM64_16K_PAGES', 'ARM64_64K_PAGES', 'PAGE_SHIFT')

_ARM64_PAGE_SIZES = (('ARM64_4K_PAGES', 4096), ('ARM64_16K_PAGES', 16384), ('ARM64_64K_PAGES', 65536))

# A kernel config is a few hundred KiB of text (Debian's about 300 KiB). Four
# MiB is ten times that: a file or an embedded IKCONFIG block that is (or
# decompresses to) more is not a config, and is refused before it fills the memory.
CONFIG_TEXT_LIMIT = 4 * 1024 * 1024

_SET_LINE = re.compile(r'^CONFIG_([A-Za-z0-9_]+)=(.*)$')
_UNSET_LINE = re.compile(r'^# CONFIG_([A-Za-z0-9_]+) is not set$')
_ESCAPE = re.compile(r'\\(.)')


class KernelConfigError(Exception):
    """A kernel config file exists but cannot be read or is not a kernel config."""


def _value(raw):
    """Kconfig writes strings quoted with \\ and " escaped; everything else is bare."""
    if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
        return _ESCAPE.sub(r'\1', raw[1:-1])
    return raw


def parse_config(text):
    """Parse kernel config text into {'NAME': value} without the CONFIG_ prefix.

    Values stay strings: 'y', 'm', 'n' (from "# CONFIG_X is not set"),
    numbers as written ('12', '0x1000') and strings unquoted.
    """
    config = {}
    for line in text.splitlines():
        line = line.strip()
        match = _SET_LINE.match(line)
        if match:
            config[match.group(1)] = _value(match.group(2))
            continue
        match = _UNSET_LINE.match(line)
        if match:
            config[match.group(1)] = 'n'
    return config


def read_config_file(path):
    """Read a config file (plain, or gzip like /proc/config.gz) into a dict."""
    try:
        with open(path, 'rb') as handle:
            data = handle.read(CONFIG_TEXT_LIMIT + 1)
    except PermissionError as exc:
        raise KernelConfigError('cannot read kernel config %s: permission denied; run with root privileges (become: true)' % path) from exc
    except OSError as exc:
        raise KernelConfigError('cannot read kernel config %s: %s' % (path, exc.strerror or exc)) from exc
    if len(data) > CONFIG_TEXT_LIMIT:
        raise KernelConfigError('kernel config %s is larger than %s, more than any kernel config: point to the config of the kernel build'
                                % (path, _mib(CONFIG_TEXT_LIMIT)))
    if data[:2] == b'\x1f\x8b':
        data = _gunzip(path, data)
    config = parse_config(data.decode('utf-8', errors='replace'))
    if not config:
        raise KernelConfigError('%s holds no kernel config lines (CONFIG_NAME=value); point to the config of the kernel build' % path)
    return config


def _mib(size):
    return '%d MiB' % (size // (1024 * 1024))


def _gunzip(path, data):
    """The text of a gzip config file (/proc/config.gz), read no further than CONFIG_TEXT_LIMIT."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            text = stream.read(CONFIG_TEXT_LIMIT + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise KernelConfigError('kernel config %s is a damaged gzip file (%s); restore it from the kernel package' % (path, exc)) from exc
    if len(text) > CONFIG_TEXT_LIMIT:
        raise KernelConfigError('kernel config %s decompresses to more than %s, more than any kernel config: point to the config of the kernel build'
                                % (path, _mib(CONFIG_TEXT_LIMIT)))
    return text


def running_release(root='/'):
    """Release of the running kernel as seen under root (proc/sys/kernel/osrelease), or None."""
    try:
        with open(os.path.join(root, 'proc/sys/kernel/osrelease'), encoding='utf-8') as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def release_config_paths(release, root='/'):
    """Files that hold the config of release when its package installed one."""
    return [
        os.path.join(root, 'boot/config-%s' % release),
        os.path.join(root, 'lib/modules/%s/config' % release),
        os.path.join(root, 'usr/lib/modules/%s/config' % release),
    ]


def config_candidates(release, root='/', running=None):
    """Places that may hold the config of release, most trustworthy first.

    /proc/config.gz describes the running kernel only, so it is a candidate
    only when release is the running one (running=None reads it under root).
    """
    if running is None:
        running = running_release(root)
    candidates = [os.path.join(root, 'proc/config.gz')] if running == release else []
    return candidates + release_config_paths(release, root)


def first_config(paths):
    """(path, config) of the first existing file in paths, or None."""
    for path in paths:
        if os.path.isfile(path):
            return path, read_config_file(path)
    return None


def find_config(release, root='/', running=None):
    """(source path, config dict) for release, or None when no config is found."""
    return first_config(config_candidates(release, root, running))


def luo_options(config):
    """The LUO-relevant options: every LUO_OPTIONS entry ('n' when absent) plus the page-size options present."""
    options = dict((name, config.get(name, 'n')) for name in LUO_OPTIONS)
    options.update((name, config[name]) for name in PAGE_SIZE_OPTIONS if name in config)
    return options


def page_size(config):
    """Page size in bytes from the config, or None when the config does not tell."""
    if config.get('X86_64') == 'y':
        return 4096
    if config.get('ARM64') == 'y':
        for name, size in _ARM64_PAGE_SIZES:
            if config.get(name) == 'y':
                return size
    shift = config.get('PAGE_SHIFT', '')
    if shift.isdigit():
        return 1 << int(shift)
    return None
