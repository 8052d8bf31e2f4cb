# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every backend shares: its error, the Plan it makes, the host's boot files, and how it runs commands."""

from __future__ import annotations

import collections

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as kcmdline, cmdline_text
from ansible_collections.luo.liveupdate.plugins.module_utils.host import failure_to_start

# Host paths of the boot configuration (Host.path() puts them below the root).
BLS_ENTRY_DIRS = ('/boot/loader/entries', '/efi/loader/entries', '/boot/efi/loader/entries')
GRUB_DEFAULTS = '/etc/default/grub'
GRUB_DROPIN_DIR = '/etc/default/grub.d'
KERNEL_CMDLINE = '/etc/kernel/cmdline'
DEFAULT_GRUB_DROPIN = '90-luo-liveupdate.cfg'

FileChange = collections.namedtuple('FileChange', ['path', 'before', 'after'])
FileChange.__doc__ = 'A file the backend writes itself: text before and after, None for absent.'
Plan = collections.namedtuple('Plan', ['next_before', 'next_after', 'files', 'commands', 'changed'])
Plan.__doc__ = ('What a backend would do: the next boot command line before and after, the files it '
                'writes, the commands it runs (argv lists) and whether anything changes.')


class BootloaderError(Exception):
    """Something about the boot configuration that stops the change; the message says what to do."""


def read_text(path):
    """Exact content of a file the backend parses or edits (path below the root), or None when it does not exist.

    Unlike Host.read() nothing is stripped or replaced: shared files keep every byte the change does not touch.
    """
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise BootloaderError('cannot read %s: %s; make it readable UTF-8 text (run as root, e.g. become: true)' % (path, error))


def run_command(host, argv, what):
    """host.run(argv) -> (rc, out, err); BootloaderError saying why when the command cannot even be started."""
    result = host.run(list(argv))
    failure = failure_to_start(argv[0], result)
    if failure:
        raise BootloaderError('%s failed: %s; repair or reinstall it' % (what, failure))
    return result


def run_checked(host, argv, what):
    """The output of argv; BootloaderError with its exit status and message when it fails."""
    rc, out, err = run_command(host, argv, what)
    if rc != 0:
        detail = (err or out or '').strip() or 'no output'
        raise BootloaderError('%s failed (%s exited with %s): %s' % (what, ' '.join(argv), rc, detail))
    return out


def validate_changes(changes):
    """Raise BootloaderError unless every change names a kernel parameter and a value that can be written."""
    try:
        for change in changes:
            kcmdline.validate_change(change)
    except ValueError as error:
        raise BootloaderError(str(error))


def edited_file(path, text, changes):
    """The FileChange that applies changes to the shared file path in place, or None when it already has them."""
    try:
        after = cmdline_text.edit_text(text, changes)
    except ValueError as error:
        raise BootloaderError('cannot edit %s: %s' % (path, error))
    return None if after == text else FileChange(path, text, after)
