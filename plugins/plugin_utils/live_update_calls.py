# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Calls to the host for the live update, through a connection that goes down with the kexec.

Before the kexec a call runs once and its failure is final; after it, every call is retried with a capped
back-off until ``reboot_timeout`` runs out, and a line says every PROGRESS_EVERY_S how long the host has been
away. The host is reached through a ``remote`` object (see live_update_flow.py).
"""
from __future__ import annotations

import re

from ansible_collections.luo.liveupdate.plugins.plugin_utils.live_update_checks import LiveUpdateFailed

INFO = 'luo.liveupdate.info'
ANSI_ESCAPE = re.compile(r'\x1b\[[0-9;?]*[A-Za-z]')
BACKOFF_START = 1.0
BACKOFF_MAX = 10.0
# While the host is away, a line says how long it has been, at this pace.
PROGRESS_EVERY_S = 15.0
WAITING_FOR = {'wait': 'the new boot', 'boot': 'systemd to finish booting', 'verify': 'the host to answer again'}


class NotYet(Exception):
    """The host answered, but not with what is waited for."""


class ConnectionLost(Exception):
    """A module could not be run: the host was unreachable."""


class CountedRemote:
    """The remote, counting the modules and commands run on the host and the seconds spent per phase: what the
    update costs each host, and where its time goes."""

    def __init__(self, remote):
        self._remote = remote
        self.counts = {}
        self._phase = None
        self._since = None

    def enter(self, phase):
        """From now on, time and calls count for ``phase``."""
        self._close()
        self._phase = phase
        self._bucket()

    def _bucket(self):
        return self.counts.setdefault(self._phase, {'modules': 0, 'commands': 0, 'seconds': 0.0})

    def _close(self):
        now = self._remote.clock()
        if self._phase is not None:
            bucket = self._bucket()
            bucket['seconds'] = round(bucket['seconds'] + now - self._since, 3)
        self._since = now

    def module(self, name, args):
        self._bucket()['modules'] += 1
        return self._remote.module(name, args)

    def command(self, cmd):
        self._bucket()['commands'] += 1
        return self._remote.command(cmd)

    def summary(self):
        """The counts and seconds per phase, in the order the phases ran, and their total."""
        self._close()
        total = {kind: sum(counts[kind] for counts in self.counts.values()) for kind in ('modules', 'commands')}
        total['seconds'] = round(sum(counts['seconds'] for counts in self.counts.values()), 3)
        return dict(self.counts, total=total)

    def __getattr__(self, name):
        return getattr(self._remote, name)


class HostCalls:
    """The host as the live update talks to it; ``phase`` names the step for messages, ``deadline`` (set at the
    kexec) bounds the retries."""

    def __init__(self, remote, params, log=None):
        self.remote = CountedRemote(remote)
        self.params = params
        self.log = log or (lambda message: None)
        self._phase = None
        self.phase = 'preflight'
        self.deadline = None  # set at the kexec: from then on, calls are retried until it
        self.kexec_at = None
        self.next_progress = None  # when the next line saying how long the host has been away is due

    @property
    def phase(self):
        """The step the update is in: named in messages and in the result, and what calls and time count for."""
        return self._phase

    @phase.setter
    def phase(self, name):
        if name != self._phase:
            self._phase = name
            self.remote.enter(name)

    def kexec_done(self, kexec_at):
        """From the kexec at ``kexec_at`` on, calls are retried until reboot_timeout runs out, saying the time away."""
        self.deadline = kexec_at + self.timeout()
        self.kexec_at = kexec_at
        self.next_progress = kexec_at + PROGRESS_EVERY_S

    def timeout(self):
        return self.params.get('reboot_timeout') or 600

    def call(self, action):
        """action(): at once before the kexec; after it, retried through dropped connections until the deadline."""
        if self.deadline is None:
            return action()

        def lost(last_error):
            return LiveUpdateFailed('%s: the connection to the host failed until reboot_timeout=%ss ran out (last: %s); '
                                    'the host answered on a new boot, but whether it is the live update with its state '
                                    'is unknown: log in and check it' % (self.phase, self.timeout(), last_error),
                                    'connection-lost')
        return self.retrying(action, lost)

    def retrying(self, attempt, timed_out):
        """attempt() until it returns; NotYet and connection failures are retried with a capped back-off."""
        delay = BACKOFF_START
        while True:
            try:
                return attempt()
            except LiveUpdateFailed:
                raise
            except NotYet as exc:
                last_error = str(exc)
            except Exception as exc:  # pylint: disable=broad-exception-caught
                last_error = error_text(exc)
                self.remote.reset()
            self.progress(last_error)
            if self.remote.clock() + delay > self.deadline:
                raise timed_out(last_error)
            self.pause(delay, last_error)
            delay = min(delay * 2, BACKOFF_MAX)

    def command(self, cmd):
        return self.call(lambda: self.remote.command(cmd))

    def module(self, name, args):
        def run_module():
            result = self.remote.module(name, args)
            if result.get('unreachable'):
                raise ConnectionLost(result.get('msg') or 'the host is unreachable')
            return result
        return self.call(run_module)

    def info(self, args):
        """The info module's result; its failure stops the update in the current phase."""
        info = self.module(INFO, args)
        if info.get('failed'):
            raise LiveUpdateFailed('%s: %s' % (self.phase, info.get('msg')), 'info-failed', {'info': info})
        return info

    def read(self, cmd, what):
        rc, out, err = self.command(cmd)
        if rc != 0:
            raise LiveUpdateFailed('%s: could not %s (`%s` rc %s: %s)' % (self.phase, what, cmd, rc, plain(err or out)),
                                   'read-failed')
        return out.strip()

    def progress(self, last):
        """Say how long the host has been away, if a line is due; then the next is due a steady step later."""
        now = self.remote.clock()
        if self.kexec_at is None or now < self.next_progress:
            return
        self.log('waiting for %s: %d s since the kexec, up to %d s (last: %s)'
                 % (WAITING_FOR.get(self.phase, 'the host'), now - self.kexec_at, self.timeout(), last))
        self.next_progress += PROGRESS_EVERY_S * (int((now - self.next_progress) // PROGRESS_EVERY_S) + 1)

    def pause(self, seconds, last):
        """Sleep, saying how long the host has been away whenever a line falls due meanwhile."""
        end = self.remote.clock() + seconds
        while self.next_progress is not None and self.next_progress < end:
            self.remote.sleep(max(self.next_progress - self.remote.clock(), 0))
            self.progress(last)
        self.remote.sleep(max(end - self.remote.clock(), 0))


def plain(text):
    """Command output for a message: stripped, without the colours systemctl and friends write."""
    return ANSI_ESCAPE.sub('', text or '').strip()


def error_text(exc):
    return '%s: %s' % (type(exc).__name__, exc)
