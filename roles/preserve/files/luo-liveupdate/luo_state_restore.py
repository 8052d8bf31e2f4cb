# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore of a luo-state memfd: all configured paths or none.

Every check (checksum, member names inside the configured paths, member types, the type of what
is on disk now) passes before anything is written; each path is then extracted into a temporary
directory next to it, and only then renamed into place, one path after the other. What was there
stays in the temporary directory (a directory renamed aside, a file under a second hard link)
until every path is in: if one cannot go in, those already replaced are put back and nothing is
changed; if one cannot be put back, the message says where its previous content is.

Installed by the role preserve beside luo_service.py in /usr/local/lib/luo-liveupdate.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile

from luo_service import EXIT_FAILED, ServiceError, log
from luo_state_format import (CHUNK, KINDS, TAR_KINDS, StateRefused, check_size, format_size, meta_list,
                              open_archive, read_manifest, special_kind, verify_checksum)


class RestoreFailed(ServiceError):
    """A restore stopped part way; the message says what is on disk now."""

    exit_code = EXIT_FAILED


def member_root(name, roots):
    """The saved root a member name belongs to ('run/x/y' -> '/run/x'); refuse names outside them."""
    path = '/' + name
    parts = name.split('/')
    if name.startswith('/') or any(part in ('', '.', '..') for part in parts):
        raise StateRefused('the saved state has a member named %r, which is not a plain relative path; nothing '
                           'was restored: drop it with systemctl clean --what=fdstore on the keeper unit' % name)
    for root in roots:
        if path == root or path.startswith(root + '/'):
            return root
    raise StateRefused('the saved state holds %s, outside the saved paths %s; nothing was restored: drop it '
                       'with systemctl clean --what=fdstore on the keeper unit' % (path, ' '.join(roots)))


def current_kind(path):
    """The kind of what is at path now, or None when nothing is."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    return KINDS.get(stat.S_IFMT(mode), special_kind(mode))


def plan_restore(meta, members, config):
    """Check everything before touching anything: {root: [members]} in archive order."""
    saved = meta_list(meta, 'paths')
    for root in saved + meta_list(meta, 'missing'):
        if root not in config.paths:
            raise StateRefused('the saved state holds %s, which is not in paths= of %s; nothing was restored: add '
                               'it back to paths= and start the unit again, or drop the state with systemctl '
                               'clean --what=fdstore luo-state@%s.service' % (root, config.source, config.name))
    plan = {root: [] for root in saved}
    dirs, seen = set(), set()
    for member in members:
        root = member_root(member.name, saved)
        path = '/' + member.name
        kind = TAR_KINDS.get(member.type)
        if kind is None:
            raise StateRefused('the saved state holds %s of tar type %r, which luo-state does not restore; nothing '
                               'was restored' % (path, member.type))
        if path in seen:
            raise StateRefused('the saved state holds %s twice; nothing was restored' % path)
        if path != root and os.path.dirname(path) not in dirs:
            raise StateRefused('the saved state holds %s before (or without) its directory; nothing was restored'
                               % path)
        if path == root:
            check_root_kind(root, kind, config)
        if kind == 'directory':
            dirs.add(path)
        seen.add(path)
        plan[root].append(member)
    for root, items in plan.items():
        if not items:
            raise StateRefused('the saved state lists %s but holds nothing of it; nothing was restored' % root)
    check_size(sum(m.size for m in members if m.isreg()), config)
    return plan


def check_root_kind(root, kind, config):
    """Refuse to replace a path whose type changed since the save (a directory now a file...)."""
    now = current_kind(root)
    if now is not None and now != kind:
        raise StateRefused('%s was a %s when saved and is a %s now; nothing was restored and the saved state '
                           'stays in the fd store: move %s away and start luo-state@%s.service again, or drop '
                           'the state with systemctl clean --what=fdstore luo-state@%s.service'
                           % (root, kind, now, root, config.name, config.name))


def member_ns(member, key, default):
    """A nanosecond time from the member's pax header, else from its seconds."""
    value = member.pax_headers.get(key)
    return int(value) if value and value.lstrip('-').isdigit() else int(default * 10 ** 9)


def apply_metadata(path, member):
    """Owner, then mode (chown clears setuid bits), then times; symlinks keep their mode."""
    os.chown(path, member.uid, member.gid, follow_symlinks=False)
    if not member.issym():
        os.chmod(path, member.mode)
    mtime = member_ns(member, 'LUO.mtime_ns', member.mtime)
    atime = member_ns(member, 'LUO.atime_ns', member.mtime)
    os.utime(path, ns=(atime, mtime), follow_symlinks=False)


def extract_member(tar, member, dest):
    """Create one member at dest (which must not exist); a directory's metadata comes later."""
    if member.isdir():
        os.mkdir(dest, 0o700)
        return
    if member.issym():
        os.symlink(member.linkname, dest)
    else:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, 'wb') as out:
            shutil.copyfileobj(tar.extractfile(member), out, CHUNK)
    apply_metadata(dest, member)


def create_parents(roots):
    """Create the missing parent directories of roots: those created, outermost first.

    Mode 0755 whatever the umask (the unit's is 0077): the service must reach its files."""
    created = []
    try:
        for root in roots:
            missing = []
            parent = os.path.dirname(root)
            while not os.path.isdir(parent):
                missing.append(parent)
                parent = os.path.dirname(parent)
            for directory in reversed(missing):
                make_parent(directory, root)
                created.append(directory)
            if missing:
                log('created the missing parent directory %s of %s' % (os.path.dirname(root), root), 5)
    except BaseException:
        remove_directories(created)
        raise
    return created


def make_parent(directory, root):
    """mkdir 0755; a read-only file system here means the keeper may not write there."""
    try:
        os.mkdir(directory, 0o755)
    except OSError as exc:
        if exc.errno != errno.EROFS:
            raise
        raise RestoreFailed('cannot create %s, the missing parent directory of %s: it is read-only for the keeper, '
                            'which may write only below the ReadWritePaths= of its drop-in (the parents of the kept '
                            'paths); keep %s itself in paths= instead of %s, or create it before the keeper starts; '
                            'nothing was changed' % (directory, root, os.path.dirname(root), root)) from None
    os.chmod(directory, 0o755)


def remove_directories(directories):
    """Remove directories created for a restore that did not happen (innermost first, only if empty)."""
    for directory in reversed(directories):
        try:
            os.rmdir(directory)
        except OSError:
            pass


def stage_roots(fd, header, plan):
    """Extract each root into a new temporary directory next to it: {root: staging dir}."""
    stages = {}
    try:
        for root in plan:
            stages[root] = tempfile.mkdtemp(prefix='.luo-state-', dir=os.path.dirname(root))
        owner = {member.name: root for root, members in plan.items() for member in members}
        dirs = []
        with open_archive(fd, header) as tar:
            for member in tar:
                root = owner[member.name]
                dest = os.path.join(stages[root], 'new') + ('/' + member.name)[len(root):]
                extract_member(tar, member, dest)
                if member.isdir():
                    dirs.append((dest, member))
        for dest, member in reversed(dirs):
            apply_metadata(dest, member)
    except BaseException:
        remove_stages(stages)
        raise
    return stages


def remove_stages(stages):
    """Remove staging directories (after a failure, or once committed)."""
    for stage in stages.values():
        shutil.rmtree(stage, ignore_errors=True)


def is_directory(path):
    """A real directory, not a symlink to one."""
    return os.path.isdir(path) and not os.path.islink(path)


def swap_in(root, incoming, aside):
    """Rename root to aside and incoming to root; when incoming cannot go in, root goes back."""
    os.rename(root, aside)
    try:
        os.rename(incoming, root)
    except OSError:
        os.rename(aside, root)
        raise


def commit_root(root, stage):
    """Put the staged copy in place; what was at root stays in stage/old until every root is in."""
    new, old = os.path.join(stage, 'new'), os.path.join(stage, 'old')
    if not os.path.lexists(root):
        os.rename(new, root)
    elif is_directory(root):
        swap_in(root, new, old)
    else:
        os.link(root, old, follow_symlinks=False)  # a second name for the old file: rename replaces it atomically
        os.rename(new, root)


def rollback_root(root, stage):
    """Undo commit_root: what was at root goes back (nothing, if nothing was there)."""
    new, old = os.path.join(stage, 'new'), os.path.join(stage, 'old')
    if not os.path.lexists(old):
        os.rename(root, new)
    elif is_directory(old):
        swap_in(root, old, new)
    else:
        os.rename(old, root)


def rollback_roots(roots, stages):
    """Undo the commits of roots, last first: {root: error} of those that could not be put back."""
    stuck = {}
    for root in reversed(roots):
        try:
            rollback_root(root, stages[root])
        except OSError as exc:
            stuck[root] = exc
    return stuck


def commit_roots(stages, created):
    """Put every staged root in place, or none: a failure puts back the roots already replaced."""
    done = []
    for root, stage in stages.items():
        try:
            commit_root(root, stage)
        except OSError as exc:
            stuck = rollback_roots(done, stages)
            remove_stages({r: s for r, s in stages.items() if r not in stuck})
            if not stuck:
                remove_directories(created)
            raise RestoreFailed(commit_failure(root, exc, done, stuck, stages)) from exc
        done.append(root)
    remove_stages(stages)


def commit_failure(root, exc, done, stuck, stages):
    """What a failed commit left on disk, truthfully."""
    text = 'cannot put %s in place (%s)' % (root, exc.strerror or exc)
    back = [r for r in done if r not in stuck]
    if back:
        text += '; put back as it was: %s' % ' '.join(back)
    if not stuck:
        return text + ('; nothing was changed and the saved state stays in the fd store: fix the cause and start '
                       'the unit again')
    for path, error in stuck.items():
        old = os.path.join(stages[path], 'old')
        text += ('; could not put back %s (%s): it holds the restored state and its previous content is in %s: '
                 'move that back by hand if the service needs it' % (path, error.strerror or error, old))
    return text + '; the saved state stays in the fd store'


def restore_state(fd, config):
    """Verify and restore the state in fd, all paths or none; returns a summary {root: member count}."""
    header = verify_checksum(fd)
    meta, members = read_manifest(fd, header)
    plan = plan_restore(meta, members, config)
    created = create_parents(plan)
    try:
        stages = stage_roots(fd, header, plan)
    except BaseException:
        remove_directories(created)
        raise
    commit_roots(stages, created)
    for path in meta_list(meta, 'missing'):
        log('%s did not exist when the state was saved: left as it is' % path)
    for path in config.paths:
        if path not in plan and path not in meta_list(meta, 'missing'):
            log('%s is not in the saved state (added to paths= after the save?): left as it is' % path, 4)
    message = ('restored %s from the state saved at %s on kernel %s (sha256 %s, %s)'
               % (' '.join(plan) or 'nothing', meta.get('saved_at', '?'), meta.get('kernel', '?'),
                  header.sha256.hex(), format_size(header.archive_size)))
    log(message)
    return message
