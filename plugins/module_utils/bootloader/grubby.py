# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The grubby backend (Fedora, RHEL): grubby --update-kernel with --args/--remove-args on the boot entries.

/etc/kernel/cmdline (what kernel-install gives kernels installed later) is
kept in step when it exists.
"""

from __future__ import annotations

import collections
import glob

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as kcmdline
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.common import (
    GRUB_DEFAULTS, KERNEL_CMDLINE, BootloaderError, Plan, edited_file, read_text, run_checked, run_command, validate_changes)
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.grub_script import GRUB_BARE
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.transaction import apply_plan

MISSING = 'no grubby executable in the usual sbin/bin directories: install grubby, or use bootloader: auto'


def evidence(host):
    """Why grubby governs the boot here (it is installed), or None."""
    path = host.which('grubby')
    return ['grubby executable at %s' % path] if path else None


KERNEL_FIX = 'give ALL, DEFAULT, an entry index or the path of a kernel image, e.g. /boot/vmlinuz-6.12.0'


def _kernel_problem(kernel):
    if not isinstance(kernel, str) or not kernel.strip():
        return 'is empty'
    outside = [char for char in kernel if char == ' ' or not kcmdline.is_printable_ascii(char)]
    if outside:
        return 'contains %s' % kcmdline.describe_character(outside[0])
    if kernel in ('ALL', 'DEFAULT') or kernel.isdigit() or kernel.startswith('/'):
        return None
    return 'is not ALL, DEFAULT, an entry index or the absolute path of a kernel image'


def validate_grubby_kernel(kernel):
    """Raise BootloaderError unless grubby --update-kernel takes kernel: ALL, DEFAULT, an entry index or a kernel path."""
    problem = _kernel_problem(kernel)
    if problem:
        raise BootloaderError('kernel %r %s: %s' % (kernel, problem, KERNEL_FIX))


def _refuse_grubby_value(change):
    """Refuse a value grubby cannot write as one word that GRUB's blscfg reads back unchanged."""
    if any(char.isspace() for char in change.value):
        raise BootloaderError('value for %s is %r: grubby splits --args at whitespace, so it cannot set a value with spaces; '
                              'use bootloader: grub or kernel-install, or a value without spaces' % (change.name, change.value))
    if not GRUB_BARE.match(change.value):
        raise BootloaderError('value for %s is %r: grubby writes it unquoted into the boot entries, whose options GRUB reads as script; '
                              'use letters, digits and _ . , : / + = @ %% - only, or bootloader: kernel-install (systemd-boot)'
                              % (change.name, change.value))


GrubbyEntry = collections.namedtuple('GrubbyEntry', ['index', 'kernel', 'cmdline'])


def _unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse_grubby_info(text):
    """Entries of `grubby --info` output: index, kernel path and command line (root= included)."""
    entries = []
    fields = None
    for line in text.splitlines():
        key, sep, value = line.partition('=')
        if not sep:
            continue
        if key == 'index':
            fields = {'index': value.strip()}
            entries.append(fields)
        elif fields is not None:
            fields[key] = _unquote(value)
    result = []
    for fields in entries:
        if 'kernel' not in fields:
            continue
        args = fields.get('args', '')
        root = fields.get('root')
        if root and not kcmdline.has(kcmdline.parse(args), 'root'):
            # grubby shows root= apart from the other arguments.
            args = ('root=%s %s' % (root, args)).strip()
        result.append(GrubbyEntry(fields['index'], fields['kernel'], kcmdline.parse(args)))
    return result


def grubby_arguments(entries, changes):
    """(--remove-args words, --args words) that bring every entry to the wanted state."""
    remove, add = [], []
    for change in changes:
        unsatisfied = [entry for entry in entries if not kcmdline.is_satisfied(entry.cmdline, change)]
        if not unsatisfied:
            continue
        for entry in unsatisfied:
            for param in entry.cmdline.params:
                if kcmdline.normalize_name(param.name) != kcmdline.normalize_name(change.name):
                    continue
                if change.present:
                    # grubby matches names literally: drop every spelling, then add one.
                    word = param.name
                elif change.value is kcmdline.ANY:
                    word = param.name
                elif param.value == change.value:
                    word = kcmdline.render_param(kcmdline.Param(param.name, param.value))
                else:
                    continue
                if word not in remove:
                    remove.append(word)
        if change.present:
            add.append(kcmdline.render_param(kcmdline.Param(change.name, change.value)))
    return remove, add


class GrubbyBackend(object):
    """grubby --update-kernel on the boot entries (and /etc/kernel/cmdline when it exists)."""

    name = 'grubby'

    def __init__(self, host, found, kernel='ALL'):
        validate_grubby_kernel(kernel)
        self.host = host
        self.evidence = found
        self.kernel = kernel
        self.grubby = host.which('grubby')
        self.kernel_cmdline = host.path(KERNEL_CMDLINE)
        self._verified_next = None

    def entries(self):
        """The entries kernel selects, as grubby reports them."""
        out = run_checked(self.host, [self.grubby, '--info=%s' % self.kernel], 'reading the boot entries')
        entries = parse_grubby_info(out)
        if not entries:
            raise BootloaderError('grubby --info=%s lists no boot entry: give kernel as ALL, DEFAULT or the path of an installed kernel' % self.kernel)
        return entries

    def _next_entry(self, entries):
        if self.kernel != 'ALL':
            return entries[0]
        rc, out, _err = run_command(self.host, [self.grubby, '--default-index'], 'reading the default boot entry')
        index = out.strip() if rc == 0 else ''
        for entry in entries:
            if entry.index == index:
                return entry
        return entries[0]

    def plan(self, changes):
        """The grubby command (if any entry needs it) and the /etc/kernel/cmdline update."""
        validate_changes(changes)
        for change in changes:
            if change.present and change.value is not None:
                _refuse_grubby_value(change)
        entries = self.entries()
        remove, add = grubby_arguments(entries, changes)
        commands = []
        if remove or add:
            argv = [self.grubby, '--update-kernel=%s' % self.kernel]
            if remove:
                argv.append('--remove-args=%s' % ' '.join(remove))
            if add:
                argv.append('--args=%s' % ' '.join(add))
            commands.append(tuple(argv))
        # /etc/kernel/cmdline is shared: only the requested parameters change in it.
        old = read_text(self.kernel_cmdline)
        edited = None if old is None else edited_file(self.kernel_cmdline, old, changes)
        files = (edited,) if edited else ()
        next_entry = self._next_entry(entries)
        next_after = kcmdline.apply_changes(next_entry.cmdline, changes)
        changed = bool(commands or files)
        return Plan(kcmdline.render(next_entry.cmdline), kcmdline.render(next_after), files, tuple(commands), changed)

    def guarded(self):
        """Files grubby may rewrite: boot entries, grubenv, grub.cfg, /etc/default/grub."""
        patterns = ['/boot/loader/entries/*.conf', '/boot/grub2/grubenv', '/boot/grub2/grub.cfg', '/boot/grub/grub.cfg',
                    '/boot/efi/EFI/*/grub.cfg', '/boot/efi/EFI/*/grubenv', GRUB_DEFAULTS, '/etc/zipl.conf']
        return sorted(set(path for pattern in patterns for path in glob.glob(self.host.path(pattern))))

    def outputs(self, plan):
        """Files the plan's commands change: grubby's own files are only known after it ran."""
        del plan
        return []

    def next_cmdline(self, plan):
        """The next boot command line after apply(), as grubby reported it when the change was verified."""
        return plan.next_after if self._verified_next is None else self._verified_next

    def apply(self, plan, changes):
        """Run grubby, then check every selected entry has the change; restore all on failure."""
        def verify():
            entries = self.entries()
            missing = [entry.kernel for entry in entries if not kcmdline.all_satisfied(entry.cmdline, changes)]
            if missing:
                raise BootloaderError('grubby ran but the entries for %s still lack the requested parameters' % ', '.join(missing))
            self._verified_next = kcmdline.render(self._next_entry(entries).cmdline)
        return apply_plan(plan, self.guarded(), self.host, verify if plan.commands else None)
