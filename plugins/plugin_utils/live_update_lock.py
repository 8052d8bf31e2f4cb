# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host-side lock around one live update: taken by ``luo.liveupdate.kexec_load`` in the same run as it
stages (its lock_owner option), released through the ``luo.liveupdate.lock`` module.

The live update takes the lock after its preflight and before it stages a kernel, and releases it at the
end, success or failure, after unstaging; a lock held by another owner stops it (reason ``locked``) with
nothing staged. When the owner held the lock before the task (a caller, such as the rollout role, holds it
around the whole host and passes its owner), taking it again is re-entrant and the live update leaves it
held. Check mode never takes the lock: it only says whether it would be refused.
"""
from __future__ import annotations

import time

from ansible_collections.luo.liveupdate.plugins.module_utils import lock as lockrules

MODULE = 'luo.liveupdate.lock'
# The default lock_ttl is reboot_timeout plus this: the preflight, staging and checks around the wait.
TTL_MARGIN_S = 600


def default_owner(controller, pid, started):
    """A per-task owner: the controller's host name, its process id and the task's start time."""
    stamp = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(started))
    return 'live_update on %s pid %d at %s.%06dZ' % (controller, pid, stamp, int(started % 1 * 1000000))


def options_problem(owner, ttl):
    """Why lock_owner or lock_ttl cannot be used (text naming the value and the fix), or None."""
    try:
        lockrules.check_owner(owner, 'lock_owner')
    except ValueError as exc:
        return str(exc)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        return ('lock_ttl %r is not a positive number of seconds: give how long the lock may be held at most, longer '
                'than reboot_timeout, or leave it out (reboot_timeout + %d)' % (ttl, TTL_MARGIN_S))
    return None


class HostLock:
    """One live update's view of the lock: what it asked, what it got, whether it must release it."""

    def __init__(self, owner, ttl, controller=None, own=False):
        self.owner = owner
        self.ttl = ttl
        self.controller = controller
        self.own = own  # the owner is this task's alone: nobody held the lock under it before
        self.must_release = False
        self.state = {'owner': owner, 'path': None, 'held_by': None, 'reentrant': False, 'taken_over': None,
                      'expires': None, 'released': None, 'release_msg': None}

    def asking(self):
        """Before the lock is asked for: an answer lost on the way may hide a lock taken, which only an owner of this
        task alone can release without knowing (a caller's owner may have held it before)."""
        self.must_release = self.own

    def acquire_args(self):
        args = {'state': 'acquired', 'owner': self.owner, 'ttl': self.ttl}
        if self.controller:
            args['controller'] = self.controller
        return args

    def stage_args(self):
        """kexec_load's options that take the lock before it stages."""
        args = {'lock_owner': self.owner, 'lock_ttl': self.ttl}
        if self.controller:
            args['lock_controller'] = self.controller
        return args

    def taken_with_stage(self, staged):
        """Read kexec_load's answer to stage_args(); (reason, text) when the lock stopped the update, else None.

        Without a ``lock`` in the answer, kexec_load refused before asking for it: nothing is held."""
        answer = staged.get('lock')
        if answer is None:
            self.must_release = False
            return None
        problem = self.taken(dict(answer, failed=not answer['acquired']))
        if answer.get('released_again'):
            self.must_release = False
            self.state.update(released=True, release_msg=answer.get('msg'))
        return problem

    def release_args(self):
        return {'state': 'released', 'owner': self.owner}

    def taken(self, answer):
        """Read the module's answer to acquire_args(); (reason, text) when the update must stop, else None."""
        self.state['path'] = answer.get('path')
        if answer.get('failed'):
            if answer.get('held_by'):
                self.state['held_by'] = answer['held_by']
                return 'locked', '%s; nothing was staged' % answer.get('msg')
            return 'lock-failed', 'cannot take the lock: %s; nothing was staged' % answer.get('msg')
        previous = answer.get('previous')
        self.state.update(reentrant=bool(answer.get('reentrant')), expires=(answer.get('lock') or {}).get('expires'),
                          taken_over=previous if answer.get('taken_over') else None)
        self.must_release = not self.state['reentrant']
        return None

    def planned(self, answer):
        """In check mode: whether taking the lock would be refused, and what the module said."""
        return {'owner': self.owner, 'path': answer.get('path'), 'refused': bool(answer.get('failed')),
                'held_by': answer.get('held_by'), 'reentrant': bool(answer.get('reentrant')), 'msg': answer.get('msg')}

    def released(self, answer=None, error=None):
        """Record how the release went; the text to say when it did not."""
        self.must_release = False
        if error is None and answer.get('failed'):
            error = answer.get('msg')
        self.state['released'] = error is None and bool(answer.get('released'))
        if error is not None:
            self.state['release_msg'] = error
            until = ' until it expires at %s' % lockrules.when(self.state['expires']) if self.state['expires'] else ''
            return ('releasing the lock %s failed (%s): it keeps other runs out%s; remove it on the host (rm %s) unless '
                    'another run holds it now' % (self.state['path'], error, until, self.state['path']))
        self.state['release_msg'] = answer.get('msg')
        return None if self.state['released'] else answer.get('msg')
