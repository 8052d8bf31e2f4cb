# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host-side lock that keeps two runs from live-updating one host at once.

The lock is a JSON file on disk (it must survive the kexec, so not in /run): ``owner`` (who holds it),
``controller`` (where that run runs), ``started`` and ``expires``, both wall-clock epoch seconds, since a
kexec resets the monotonic clocks. A new lock is created with O_CREAT|O_EXCL, so of two runs only one
gets it. Every step that reads the lock and then changes it (refresh, take-over of an expired lock,
release) runs while holding flock() on the lock's directory, so no other run of these functions can
change the file between the read and the write.

Host paths go through host.py's root prefix (``host.path``), so tests run on fixture trees; messages
name the path as the host sees it.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time

DEFAULT_PATH = '/var/lib/luo-liveupdate/lock'
OWNER_MAX = 200
FIELDS = ('owner', 'controller', 'started', 'expires')
NO_LOCK = 'no lock\n'


class LockError(Exception):
    """The lock file cannot be read or written; the message says which, why, and what to do."""


def check_inputs(owner, ttl, path, names=('owner', 'ttl')):
    """Refuse bad input before anything is read or written (ValueError naming the value and the fix); ``names``: what
    the user called owner and ttl."""
    check_owner(owner, names[0])
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise ValueError('%s %r is not a positive number of seconds: give how long the lock may be held at most, '
                         'such as 3600' % (names[1], ttl))
    check_path(path)


def check_owner(owner, name='owner'):
    """Refuse an owner that is empty, too long or not one line; ``name`` is what the user called it."""
    if not isinstance(owner, str) or not owner.strip():
        raise ValueError('%s %r is empty: give a name for the run that takes the lock, such as "awx job 42"' % (name, owner))
    if len(owner) > OWNER_MAX:
        raise ValueError('%s %r... is %d characters long: give a name of up to %d characters, such as "awx job 42"'
                         % (name, owner[:40], len(owner), OWNER_MAX))
    if any(ord(char) < 32 or ord(char) == 127 for char in owner):
        raise ValueError('%s %r contains a control character: give a one-line name without them, such as "awx job 42"'
                         % (name, owner))


def check_path(path):
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ValueError('path %r is relative: give an absolute path on the managed host, such as %s' % (path, DEFAULT_PATH))
    if '\0' in path:
        raise ValueError('path %r contains a NUL byte: give an absolute path on the managed host, such as %s'
                         % (path, DEFAULT_PATH))


def make_record(owner, controller, started, expires):
    """What the lock file holds."""
    return {'owner': owner, 'controller': controller, 'started': int(started), 'expires': int(expires)}


def when(epoch):
    """Epoch seconds as UTC time, as the messages say it."""
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def describe(record):
    """OWNER (controller C) since T, until T."""
    return '%s (controller %s) since %s, until %s' % (
        record['owner'], record.get('controller') or 'unknown', when(record['started']), when(record['expires']))


def expired(record, now):
    return now >= record['expires']


def diff_text(record):
    """The lock as a diff shows it."""
    return NO_LOCK if record is None else json.dumps(record, indent=2, sort_keys=True) + '\n'


def read(host, path):
    """The lock record at host path ``path``; None when there is none; LockError when it is not a lock."""
    try:
        with open(host.path(path), encoding='utf-8') as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockError('cannot read the lock %s: %s; run with root privileges (become: true)' % (path, exc.strerror))
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if (not isinstance(record, dict) or not isinstance(record.get('owner'), str)
            or not all(_is_time(record.get(name)) for name in ('started', 'expires'))):
        raise LockError('the lock %s is not a lock record (%r): if no live update is running on this host, remove it '
                        '(rm %s) and run again' % (path, text[:200], path))
    return {name: record.get(name) for name in FIELDS}


def _is_time(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@contextlib.contextmanager
def _guarded(host, path, create):
    """Hold flock() on the lock's directory (made when ``create``) while reading and changing the lock.

    Without the directory (check mode before any lock was taken) there is nothing to guard.
    """
    directory = os.path.dirname(host.path(path))
    if create:
        try:
            os.makedirs(directory, mode=0o755, exist_ok=True)
        except OSError as exc:
            raise LockError('cannot create the directory %s of the lock: %s; run with root privileges (become: true) '
                            'or give path: a file in a directory the remote user can write'
                            % (os.path.dirname(path), exc.strerror))
    try:
        handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        yield
        return
    except OSError as exc:
        raise LockError('cannot open the directory %s of the lock: %s; run with root privileges (become: true)'
                        % (os.path.dirname(path), exc.strerror))
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def _write_new(host, path, record):
    """Create the lock file with O_CREAT|O_EXCL; False when it exists already."""
    real = host.path(path)
    try:
        handle = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    except OSError as exc:
        raise LockError('cannot create the lock %s: %s; run with root privileges (become: true)' % (path, exc.strerror))
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            _dump(stream, record)
    except OSError as exc:
        os.unlink(real)
        raise LockError('cannot write the lock %s: %s; free space on its file system and run again' % (path, exc.strerror))
    _sync_directory(real)
    return True


def _replace(host, path, record):
    """Replace the lock file by a new record at once (a file beside it, renamed over it)."""
    real = host.path(path)
    try:
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(real), prefix='.%s.' % os.path.basename(real))
    except OSError as exc:
        raise LockError('cannot write the lock %s: %s; run with root privileges (become: true)' % (path, exc.strerror))
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            _dump(stream, record)
        os.chmod(temporary, 0o644)
        os.replace(temporary, real)
    except OSError as exc:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise LockError('cannot write the lock %s: %s; free space on its file system and run again' % (path, exc.strerror))
    _sync_directory(real)


def _dump(stream, record):
    json.dump(record, stream, indent=2, sort_keys=True)
    stream.write('\n')
    stream.flush()
    os.fsync(stream.fileno())


def _sync_directory(real):
    """The lock must be on disk before the kexec: sync the directory entry too, where the file system can."""
    try:
        handle = os.open(os.path.dirname(real), os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # a file system that cannot sync directories (EINVAL): the file itself was synced
    finally:
        os.close(handle)


def refusal(path, holder):
    """What a run refused the lock is told: who holds it, since and until when, and what to do."""
    text = ('%s is held by %s: another run is live-updating this host. Wait until that run ends (the lock expires at '
            '%s), or, if that run is dead, remove %s on the host and run again')
    return text % (path, describe(holder), when(holder['expires']), path)


def acquire(host, path, owner, ttl, controller, now, check_mode=False):
    """Take the lock for ``owner`` until ``now + ttl``.

    Returns ``acquired``, ``changed``, ``lock`` (the record after; the holder's when refused), ``previous``
    (the record before, None without one), ``reentrant`` (``owner`` held it already: its expiry is
    refreshed), ``taken_over`` (an expired lock of another owner was replaced: ``previous`` says whose),
    ``held_by`` (the holder when refused, else None) and ``msg``. In check mode nothing is written.
    """
    check_inputs(owner, ttl, path)
    verb = 'would take' if check_mode else 'took'
    with _guarded(host, path, create=not check_mode):
        previous = read(host, path)
        result = {'acquired': True, 'changed': True, 'previous': previous, 'reentrant': False, 'taken_over': False,
                  'held_by': None}
        if previous is not None and previous['owner'] != owner and not expired(previous, now):
            return refused(result, path, previous)
        if previous is not None and previous['owner'] == owner:
            record = make_record(owner, controller, previous['started'], now + ttl)
            result.update(reentrant=True, msg='%s holds %s already: %s it again, until %s' % (
                owner, path, verb, when(record['expires'])))
        else:
            record = make_record(owner, controller, now, now + ttl)
            result['msg'] = '%s %s for %s until %s' % (verb, path, owner, when(record['expires']))
            if previous is not None:
                result['taken_over'] = True
                result['msg'] += ', over from %s, which had expired' % describe(previous)
        result['lock'] = record
        if check_mode:
            return result
        if previous is not None:
            _replace(host, path, record)
        elif not _write_new(host, path, record):
            holder = read(host, path)  # created meanwhile by a run that did not hold the directory lock
            if holder is None:
                raise LockError('the lock %s came and went while it was taken: run again' % path)
            return refused(result, path, holder)
    return result


def refused(result, path, holder):
    return dict(result, acquired=False, changed=False, lock=holder, held_by=holder, msg=refusal(path, holder))


def release(host, path, owner, now, check_mode=False):
    """Remove the lock when ``owner`` holds it; leave anybody else's and say whose it is.

    Returns ``released``, ``changed``, ``lock`` (the record left, None when none), ``previous`` and ``msg``.
    """
    check_owner(owner)
    check_path(path)
    with _guarded(host, path, create=False):
        previous = read(host, path)
        result = {'released': False, 'changed': False, 'lock': previous, 'previous': previous}
        if previous is None:
            return dict(result, msg='no lock at %s: nothing to release' % path)
        if previous['owner'] != owner:
            note = ' (it expired: the next run to take it takes it over)' if expired(previous, now) else ''
            return dict(result, msg='left the lock %s as it is: it is held by %s, not by %s%s'
                        % (path, describe(previous), owner, note))
        result.update(released=True, changed=True, lock=None)
        if check_mode:
            return dict(result, msg='would release %s, held by %s' % (path, describe(previous)))
        try:
            os.unlink(host.path(path))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LockError('cannot remove the lock %s: %s; run with root privileges (become: true)' % (path, exc.strerror))
        _sync_directory(host.path(path))
    return dict(result, msg='released %s, held by %s' % (path, describe(previous)))


def take_for_staging(host, owner, ttl, controller, now, check_mode=False):
    """acquire() at the default path, as kexec_load reports it: the answer plus ``path`` and ``released_again``;
    a lock that cannot be read or written is an answer with ``acquired`` false and ``held_by`` None."""
    try:
        taken = acquire(host, DEFAULT_PATH, owner, ttl, controller, now, check_mode)
    except LockError as exc:
        taken = {'acquired': False, 'changed': False, 'reentrant': False, 'taken_over': False, 'previous': None,
                 'held_by': None, 'lock': None, 'msg': str(exc)}
    taken = dict(taken, path=DEFAULT_PATH, released_again=False)
    taken.pop('changed')
    return taken


def give_back(host, taken, owner, now, check_mode=False):
    """After a failed stage, release a lock take_for_staging() took (not one ``owner`` held before); the report again."""
    if taken['reentrant'] or check_mode:
        return taken
    try:
        release(host, DEFAULT_PATH, owner, now)
    except LockError as exc:
        return dict(taken, msg='%s; releasing it again after the failure failed: %s' % (taken['msg'], exc))
    return dict(taken, released_again=True, msg='%s; released again after the failure' % taken['msg'])
