# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel-install backend (systemd-boot and other Boot Loader Specification setups).

/etc/kernel/cmdline plus the ``options`` line of the boot entries
kernel-install wrote for this machine; no command runs.
"""

from __future__ import annotations

import glob
import os
import re

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as kcmdline, cmdline_text
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.common import (
    BLS_ENTRY_DIRS, KERNEL_CMDLINE, FileChange, Plan, edited_file, read_text, validate_changes)
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.transaction import apply_plan
from ansible_collections.luo.liveupdate.plugins.module_utils.kernel_version import version_key

MISSING = ('no boot entries (*.conf) in %s, or neither %s nor a kernel-install executable: use bootloader: auto'
           % (', '.join(BLS_ENTRY_DIRS), KERNEL_CMDLINE))


def bls_dirs(host):
    """The entry directories below the root, each once (/efi and /boot/efi may be the same)."""
    found = []
    for directory in BLS_ENTRY_DIRS:
        path = host.path(directory)
        if os.path.isdir(path) and os.path.realpath(path) not in [os.path.realpath(other) for other in found]:
            found.append(path)
    return found


def bls_entries(host):
    """Every entry file (*.conf) of the entry directories, sorted."""
    return sorted(path for directory in bls_dirs(host) for path in glob.glob(os.path.join(directory, '*.conf')))


def evidence(host):
    """Why kernel-install governs the boot here (entries, plus /etc/kernel/cmdline or kernel-install), or None."""
    entries = bls_entries(host)
    if not entries:
        return None
    found = ['boot entries in %s' % ', '.join(sorted(set(os.path.dirname(entry) for entry in entries)))]
    cmdline_file = host.path(KERNEL_CMDLINE)
    tool = host.which('kernel-install')
    if os.path.isfile(cmdline_file):
        found.append('%s exists' % cmdline_file)
    elif tool:
        found.append('kernel-install executable at %s' % tool)
    else:
        return None
    return found


def bls_options(text):
    """The command line of a BLS entry: its options lines, joined."""
    parts = []
    for line in text.splitlines():
        words = line.split(None, 1)
        if words[:1] == ['options']:
            parts.append(words[1] if len(words) == 2 else '')
    return kcmdline.parse(' '.join(parts))


def bls_version(text, path):
    """The version key of a BLS entry (its version line, else the file name)."""
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if len(words) == 2 and words[0] == 'version':
            return words[1].strip()
    return os.path.basename(path)[:-len('.conf')]


def replace_bls_options(text, options):
    """Entry text with a single options line carrying options, in place of the first one (or appended).

    The first options line keeps its spacing after the key; the other lines stay as they are.
    """
    result = []
    placed = False
    for line in text.splitlines():
        if line.split(None, 1)[:1] == ['options']:
            if not placed:
                prefix = re.match(r'\s*options\s*', line).group(0)
                result.append((prefix if prefix.strip() != prefix else prefix + ' ') + options)
                placed = True
            continue
        result.append(line)
    if not placed:
        result.append('options %s' % options)
    return '\n'.join(result) + '\n'


def edit_bls_options(text, changes):
    """Entry text with changes applied to its options: in place on its one options line, else in a single new one."""
    lines = text.split('\n')
    found = [index for index, line in enumerate(lines) if line.split(None, 1)[:1] == ['options']]
    if len(found) != 1:
        return replace_bls_options(text, kcmdline.render(kcmdline.apply_changes(bls_options(text), changes)))
    line = lines[found[0]]
    prefix = re.match(r'\s*options\s*', line).group(0)
    value = cmdline_text.edit_text(line[len(prefix):], changes)
    if value and not prefix[-1].isspace():
        prefix += ' '
    lines[found[0]] = prefix + value
    return '\n'.join(lines)


def strip_boot_loader_args(cmdline):
    """What kernel-install keeps of /proc/cmdline: everything but BOOT_IMAGE= and initrd=."""
    for name in ('BOOT_IMAGE', 'initrd'):
        cmdline = kcmdline.Cmdline(tuple(p for p in cmdline.params if not (p.name == name and p.value is not None)), cmdline.init_args)
    return cmdline


class KernelInstallBackend(object):
    """/etc/kernel/cmdline plus the options of this machine's Boot Loader Specification entries."""

    name = 'kernel-install'

    def __init__(self, host, found):
        self.host = host
        self.evidence = found
        self.kernel_cmdline = host.path(KERNEL_CMDLINE)

    def entry_token(self):
        """The prefix kernel-install names this machine's entries with (entry-token, else machine-id), or None."""
        for path in ('/etc/kernel/entry-token', '/etc/machine-id'):
            token = self.host.read(path)
            if token:
                return token
        return None

    def governed_entries(self):
        """The entry files kernel-install wrote for this machine (all entries when no token is known)."""
        entries = bls_entries(self.host)
        token = self.entry_token()
        if token is None:
            return entries
        return [path for path in entries if os.path.basename(path).startswith(token + '-')]

    def _cmdline_source(self):
        """/etc/kernel/cmdline, or what kernel-install would use without it."""
        text = read_text(self.kernel_cmdline)
        if text is not None:
            return text, kcmdline.parse(text)
        fallback = self.host.read('/usr/lib/kernel/cmdline')
        if fallback is not None:
            return None, kcmdline.parse(fallback)
        return None, strip_boot_loader_args(kcmdline.parse(self.host.read('/proc/cmdline', '')))

    def plan(self, changes):
        """New /etc/kernel/cmdline (created only when it must change, else edited in place) and entry options lines."""
        validate_changes(changes)
        old_text, before = self._cmdline_source()
        after = kcmdline.apply_changes(before, changes)
        files = []
        if old_text is not None:
            files.extend(change for change in [edited_file(self.kernel_cmdline, old_text, changes)] if change)
        elif after != before:
            files.append(FileChange(self.kernel_cmdline, None, kcmdline.render(after) + '\n'))
        newest = None
        for path in self.governed_entries():
            text = read_text(path)
            options = bls_options(text)
            new_options = kcmdline.apply_changes(options, changes)
            if new_options != options:
                files.append(FileChange(path, text, edit_bls_options(text, changes)))
            key = version_key(bls_version(text, path))
            if newest is None or key > newest[0]:
                newest = (key, options, new_options)
        # systemd-boot starts the newest entry when loader.conf names no default.
        next_before, next_after = (newest[1], newest[2]) if newest else (before, after)
        return Plan(kcmdline.render(next_before), kcmdline.render(next_after), tuple(files), (), bool(files))

    def outputs(self, plan):
        """No command runs: only the files of the plan change."""
        del plan
        return []

    def next_cmdline(self, plan):
        """The next boot command line after apply(): the plan's."""
        return plan.next_after

    def apply(self, plan, changes):
        """Write the files; restore all of them if one write fails."""
        del changes
        return apply_plan(plan, [], self.host)
