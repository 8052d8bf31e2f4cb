# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boot files as one transaction: atomic writes, snapshots, and every file put back when a step fails."""

from __future__ import annotations

import os
import stat
import tempfile

from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.common import BootloaderError, run_checked


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, text, default_mode=0o644):
    """Replace path with text in one rename, keeping an existing file's owner and mode.

    The temporary file lives in the same directory (same filesystem) and is
    fsynced before the rename; the directory is fsynced after it.
    """
    directory = os.path.dirname(path)
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    fd, temporary = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path), suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(text)
            handle.flush()
            if old is not None:
                os.fchmod(handle.fileno(), stat.S_IMODE(old.st_mode))
                if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(handle.fileno(), old.st_uid, old.st_gid)
            else:
                os.fchmod(handle.fileno(), default_mode)
            os.fsync(handle.fileno())
        os.rename(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise
    _fsync_dir(directory)


def remove_file(path):
    """Remove path if it exists (and make the removal durable)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    _fsync_dir(os.path.dirname(path))


def snapshot(paths):
    """Content (bytes) and mode of each path, None for absent ones, to restore() later."""
    saved = {}
    for path in paths:
        try:
            with open(path, 'rb') as handle:
                content = handle.read()
            info = os.stat(path)
            saved[path] = (content, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
        except FileNotFoundError:
            saved[path] = None
    return saved


def _current(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def restore(saved):
    """Put every snapshotted path back as it was: same bytes, mode and owner, or absent."""
    problems = []
    for path, state in saved.items():
        try:
            if state is None:
                remove_file(path)
                continue
            content, mode, uid, gid = state
            if _current(path) == content:
                continue
            fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.%s.' % os.path.basename(path), suffix='.tmp')
            with os.fdopen(fd, 'wb') as handle:
                handle.write(content)
                os.fchmod(handle.fileno(), mode)
                if (uid, gid) != (os.geteuid(), os.getegid()):
                    os.fchown(handle.fileno(), uid, gid)
                os.fsync(handle.fileno())
            os.rename(temporary, path)
            _fsync_dir(os.path.dirname(path))
        except OSError as error:
            problems.append('%s: %s' % (path, error))
    return problems


def changed_paths(saved):
    """The snapshotted paths whose content (or existence) differs now, sorted."""
    return sorted(path for path, state in saved.items() if _current(path) != (None if state is None else state[0]))


def _check_writable(paths):
    for path in paths:
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            raise BootloaderError('cannot write %s: directory %s does not exist; create it or choose another bootloader' % (path, directory))
        if not os.access(directory, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
            raise BootloaderError('cannot write %s: permission denied; run the task as root (become: true)' % path)


def _make_parent_dirs(paths):
    """Create each missing parent directory (0755) whose own parent exists; return them for _remove_dirs()."""
    created = []
    for path in paths:
        directory = os.path.dirname(path)
        if not os.path.isdir(directory) and os.path.isdir(os.path.dirname(directory)) and directory not in created:
            try:
                os.mkdir(directory, 0o755)
            except OSError as error:
                _remove_dirs(created)
                raise BootloaderError('cannot create %s: %s; run the task as root (become: true)' % (directory, error))
            created.append(directory)
    return created


def _remove_dirs(directories):
    for directory in reversed(directories):
        try:
            os.rmdir(directory)
        except OSError:
            pass


def _carry_out(plan, host, verify):
    for change in plan.files:
        if change.after is None:
            remove_file(change.path)
        else:
            atomic_write(change.path, change.after)
    for argv in plan.commands:
        run_checked(host, argv, 'regenerating the boot configuration')
    if verify is not None:
        verify()


def _restore_all(saved, created, message):
    """Put every snapshotted file back and remove the directories created; message plus how that went."""
    problems = restore(saved)
    _remove_dirs(created)
    if problems:
        return message + '; restoring the previous files also failed for %s: restore them from backups' % ', '.join(problems)
    return message + '; the previous files were restored, nothing changed'


def apply_plan(plan, guarded, host, verify=None):
    """Write plan.files, run plan.commands on host, then verify(); on any failure restore every file.

    guarded lists the other files the commands may change (the generated
    grub.cfg, boot entries...): they are snapshotted and restored too.
    An unexpected exception is let through after the restore. Returns the
    paths whose content changed.
    """
    created = _make_parent_dirs(change.path for change in plan.files if change.after is not None)
    try:
        _check_writable(change.path for change in plan.files)
    except BootloaderError:
        _remove_dirs(created)
        raise
    saved = snapshot(sorted(set(guarded) | set(change.path for change in plan.files)))
    try:
        _carry_out(plan, host, verify)
    except (BootloaderError, OSError, ValueError) as error:
        raise BootloaderError(_restore_all(saved, created, str(error)))
    except BaseException:
        _restore_all(saved, created, '')
        raise
    return changed_paths(saved)
