# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live update of one host: preflight, stage, kexec, wait, verify, report.

Controller-side logic of the ``luo.liveupdate.live_update`` action, kept apart
from Ansible's plugin classes so its decisions can be tested with a fake host.
The host is reached through a ``remote`` object:

- ``remote.module(name, args) -> dict``: run a module, return its result;
- ``remote.command(cmd) -> (rc, stdout, stderr)``: run a shell command line
  (built here from fixed text and shlex-quoted values only);
- ``remote.reset()``: drop the connection so the next call reconnects;
- ``remote.clock()`` and ``remote.sleep(seconds)``: monotonic time.

In check mode every module runs in check mode (Ansible passes the task's check mode on).

Connection failures surface as exceptions from ``command`` and ``module``.
Before the kexec one stops the update (the host is left as it was); after it,
every call is retried with back-off until ``reboot_timeout`` runs out, and a
line says every PROGRESS_EVERY_S how long the host has been away. Every
failure is a LiveUpdateFailed whose result says the ``phase`` reached and the
``reason``.

Each host sees two module runs when all goes well: kexec_load makes the preflight
checks, takes the host-side lock (live_update_lock.py) and stages, in one run;
after the kexec, the lock module reads the new boot's facts and releases the lock,
in one run. Between them: plain commands (the kexec, the boot id, systemd's state).
A failure releases the lock at the end, after unstaging.

Beside this file: live_update_preflight.py (the preflight and stage run),
live_update_calls.py (calls to the host, retried after the kexec, with the
progress lines) and live_update_checks.py (the decisions, pure functions over
what the host said).
"""
from __future__ import annotations

import os
import shlex
import socket
import time

from ansible_collections.luo.liveupdate.plugins.plugin_utils import live_update_lock as hostlock
from ansible_collections.luo.liveupdate.plugins.plugin_utils.live_update_calls import NotYet, error_text, plain
from ansible_collections.luo.liveupdate.plugins.module_utils.units import KEEPER_UNIT
from ansible_collections.luo.liveupdate.plugins.plugin_utils.live_update_checks import (
    LiveUpdateFailed, handover_problem, judge_handover, keeper_problem, unit_states, validate_units)
from ansible_collections.luo.liveupdate.plugins.plugin_utils.live_update_preflight import BOOT_ID, KEXEC_LOAD, Preflight

# Dispatch the kexec job and return at once: the connection goes down with the host.
KEXEC_NOW = 'systemctl --no-block kexec'
SYSTEM_STATE = 'systemctl is-system-running'
# Wait until systemd finished booting (units started, FinishTimestamp set), bounded.
BOOT_FINISHED = 'timeout %d systemctl is-system-running --wait'
# The test command runs within what is left of reboot_timeout: a check that hangs must not hang the run.
TEST_COMMAND = 'timeout --kill-after=5 %d sh -c %s'
TIMED_OUT = 124  # timeout(1)'s exit status when the time ran out
# A shell reports a command killed by signal N as 128 + N: the shutdown systemctl kexec started killed it.
KILLED_BY_SIGNAL = 128


class LiveUpdate(Preflight):
    """One host's live update. ``params`` are the action's validated arguments."""

    def __init__(self, remote, params, check_mode=False, log=None):
        super().__init__(remote, params, log)
        self.check_mode = check_mode
        self.new_boot_id = None  # the boot id the host came back with
        controller = socket.gethostname()
        owner = params.get('lock_owner')
        if owner is None:
            owner = hostlock.default_owner(controller, os.getpid(), time.time())
        ttl = params.get('lock_ttl')
        self.lock = hostlock.HostLock(owner, self.timeout() + hostlock.TTL_MARGIN_S if ttl is None else ttl, controller,
                                      own=params.get('lock_owner') is None)

    # --- steps ------------------------------------------------------------

    def run(self):
        """Do the whole live update; returns the result or raises LiveUpdateFailed with phase and reason.

        A lock this run took is released at the end, success or failure (after unstaging).
        """
        try:
            self.steps()
        except LiveUpdateFailed as exc:
            phase = self.phase
            self.release_lock()
            self.result['calls'] = self.remote.summary()
            exc.result = dict(self.result, **exc.result)
            exc.result.setdefault('phase', phase)
            exc.result.setdefault('reason', exc.reason)
            raise
        except Exception:
            self.release_lock()
            raise
        self.release_lock()
        self.result['calls'] = self.remote.summary()
        return self.result

    def steps(self):
        started = self.remote.clock()
        units = validate_units(self.params.get('verify_units') or [])
        problem = hostlock.options_problem(self.lock.owner, self.lock.ttl)
        if problem:
            raise LiveUpdateFailed(problem, 'bad-lock-option')
        before = self.until_kexec(units)
        if before is None:
            return self.result
        kexec_at = self.remote.clock()
        self.new_boot_id = self.wait_for_new_boot(before['boot_id'], kexec_at)
        self.wait_for_boot_finished()
        after = self.verify(before, units)
        self.report(before, after, started)
        return self.result

    def until_kexec(self, units):
        """Preflight, stage and kexec; any failure unloads what was staged and leaves the host as it was.

        Returns what must be true again afterwards, or None when there is nothing (more) to do.
        """
        try:
            answer, before = self.prepare(units)
            if before is None:
                return None
            if self.check_mode:
                self.result['plan'] = self.plan(answer, before)
                return None
            self.result.update(changed=True, cmdline=answer.get('cmdline'))
            self.kexec(before)
            return before
        except LiveUpdateFailed as exc:
            raise self.unstaged(exc)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            raise self.unstaged(LiveUpdateFailed('%s: the connection to the host failed: %s' % (self.phase, error_text(exc)),
                                                 'connection-lost'))

    def plan(self, staged, before):
        """Check mode: what kexec_load (in check mode) would stage, and whether the lock would be refused."""
        self.phase = 'stage'
        lock = self.lock.planned(self.module(hostlock.MODULE, self.lock.acquire_args()))
        target = before['target']
        return {
            'stage': {'kernel': target['kernel'], 'initrd': target['initrd'], 'cmdline': staged.get('cmdline')},
            'kexec': KEXEC_NOW,
            'lock': lock,
            'expect': {'release': target['release'], 'kexec_count': _plus_one(before['kexec_count']),
                       'handover_proof': before['witnesses'],
                       'units': {unit: state['fdstore'] for unit, state in before['units'].items()}},
        }

    def release_lock(self):
        """Release the lock this run took; a release that fails is said, not fatal."""
        if not self.lock.must_release:
            return
        self.phase = 'release'
        try:
            problem = self.lock.released(answer=self.module(hostlock.MODULE, self.lock.release_args()))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            problem = self.lock.released(error=error_text(exc))
        if problem:
            self.log(problem)

    def unstaged(self, failure):
        """failure, once the kernel staged by this run is unloaded again, saying whether that worked."""
        if not self.staged:
            return failure
        try:
            unloaded = self.module(KEXEC_LOAD, {'state': 'unloaded'})
            problem = unloaded.get('msg') if unloaded.get('failed') else None
        except Exception as exc:  # pylint: disable=broad-exception-caught
            problem = error_text(exc)
        self.staged = False
        self.result['unstaged'] = problem is None
        note = ('the staged kernel was unloaded again' if problem is None else
                'unloading the staged kernel failed too (%s): run kexec -s -u on the host' % problem)
        return LiveUpdateFailed('%s; %s' % (failure, note), failure.reason, failure.result)

    def kexec(self, before):
        """Start the kexec; a systemctl that fails while the host stays up stops the update at once."""
        self.phase = 'kexec'
        try:
            rc, out, err = self.remote.command(KEXEC_NOW)
        except Exception:  # pylint: disable=broad-exception-caught
            return  # The connection went down with the host: expected.
        finally:
            # The connection (ssh's control master) leads to a boot that is going away: the next call opens a new one.
            self.remote.reset()
        if rc == 0 or rc > KILLED_BY_SIGNAL or self.going_down():
            return
        raise LiveUpdateFailed('kexec: `%s` failed with rc %s: %s; the host keeps running %s; fix what systemctl says and '
                               'run again' % (KEXEC_NOW, rc, plain(err or out) or 'no output', before['release']),
                               'kexec-failed')

    def going_down(self):
        """Whether the host is shutting down after all (then its kernel must stay staged)."""
        try:
            _rc, out, _err = self.remote.command(SYSTEM_STATE)
        except Exception:  # pylint: disable=broad-exception-caught
            return True  # gone already
        return out.strip() == 'stopping'

    def wait_for_new_boot(self, old_boot_id, kexec_at):
        """Poll the boot id until it changes; capped exponential back-off; reconnect after each failure."""
        self.phase = 'wait'
        self.kexec_done(kexec_at)

        def new_boot_id():
            rc, out, err = self.remote.command(BOOT_ID)
            if rc != 0:
                raise NotYet('reading the boot id failed: %s' % plain(err or out))
            if not out.strip() or out.strip() == old_boot_id:
                self.refuse_old_boot_still_running(old_boot_id)
                raise NotYet('the host kept its boot id %s' % old_boot_id)
            return out.strip()

        def timed_out(last_error):
            return LiveUpdateFailed('wait: the host did not come back on a new boot within reboot_timeout=%ss (last: %s); '
                                    'look at its console: the new kernel may have failed to boot'
                                    % (self.timeout(), last_error), 'no-new-boot')
        boot_id = self.retrying(new_boot_id, timed_out)
        # How long the host was away, said on failures from here on too; the report adds systemd's phases.
        self.result['blackout'] = {'controller_s': round(self.remote.clock() - kexec_at, 3), 'phases_ms': None}
        return boot_id

    def refuse_old_boot_still_running(self, old_boot_id):
        """The old boot answers: unless systemd is stopping it, the kexec job is not running and never will."""
        _rc, out, _err = self.remote.command(SYSTEM_STATE)
        if out.strip() in ('running', 'degraded'):
            raise self.unstaged(LiveUpdateFailed(
                'wait: the host is still running its old boot %s and systemd is %s, not stopping: the kexec job did not '
                'start or failed; see journalctl -b -u kexec.target -u systemd-kexec.service on the host'
                % (old_boot_id, out.strip()), 'kexec-not-started'))

    def wait_for_boot_finished(self):
        """Let systemd finish starting units before they are checked; say what state it reached.

        Waited for in pieces that end when the next progress line is due, so that the line comes on time.
        """
        self.phase = 'boot'
        while True:
            rc, out, _err = self.call(self.boot_finished_piece)
            state = out.strip()
            if rc != TIMED_OUT:
                break
            state = self.command(SYSTEM_STATE)[1].strip()
            if self.remote.clock() >= self.deadline:
                break
            self.progress('systemd is %s' % (state or 'not answering'))
        self.result['system_state'] = state or 'unknown'
        if self.result['system_state'] not in ('running', 'degraded'):
            self.log('systemd is %s after the live update (not finished within reboot_timeout)' % self.result['system_state'])

    def boot_finished_piece(self):
        """systemctl is-system-running --wait, until the next progress line is due (or the deadline, if sooner)."""
        now = self.remote.clock()
        return self.remote.command(BOOT_FINISHED % max(int(min(self.next_progress, self.deadline) - now), 1))

    def verify(self, before, units):
        """The new boot is the live update, on the target release, units back with the same fd store names."""
        self.phase = 'verify'
        after = self.new_boot_facts(units)
        release = after['kernel']['release']
        self.result['kernel_after'] = release
        handover = judge_handover(before, after)
        self.result.update(handover=handover, kexec_count=handover['kexec_count_after'])
        problems = [handover_problem(handover)]
        if release != before['target']['release']:
            problems.append(('wrong-release', 'running %s, not the target %s' % (release, before['target']['release'])))
        problems += self.verify_units(before, unit_states(after, units, self.phase), handover['live'] is True)
        problems += self.verify_test_command()
        problems = [problem for problem in problems if problem]
        if problems:
            raise LiveUpdateFailed('verify: ' + '; '.join(text for _reason, text in problems), problems[0][0])
        return after

    def new_boot_facts(self, units):
        """info's facts of the new boot with ``units``; read by the lock module as it releases this run's lock, when
        it is this run's to release (one module run), else by info."""
        if self.lock.must_release:
            self.phase = 'verify'
            answer = self.module(hostlock.MODULE, dict(self.lock.release_args(), facts={'units': units}))
            problem = self.lock.released(answer=answer)
            if problem:
                self.log(problem)
            if answer.get('facts') is not None:
                return answer['facts']
        return self.info({'units': units})

    def verify_units(self, before, states, live):
        """Each unit active with the fd store names it had; ``live``: the handover is proven. After a cold boot a
        service may make fresh state under the old names: names alone never count as restored then."""
        problems = []
        restored = {}
        for unit, state in states.items():
            want = before['units'][unit]['fdstore']
            restored[unit] = {'active': state['active_state'] == 'active', 'fdstore': state['fdstore'],
                              'fdstore_restored': live and state['fdstore'] == want}
            if state['active_state'] != 'active':
                problems.append(('unit-not-active', '%s is %s after the live update' % (unit, state['active_state'])))
            if state['fdstore'] != want:
                problems.append(('fdstore-not-restored', '%s fd store holds %s, before it held %s'
                                 % (unit, state['fdstore'], want)))
            keeper = KEEPER_UNIT.match(unit)
            if keeper:
                problem = keeper_problem(unit, state.get('restore_record'), before['boot_id'], self.new_boot_id)
                restored[unit]['keeper_restored'] = problem is None
                problems.append(problem)
        self.result['restored'] = restored
        return problems

    def verify_test_command(self):
        test_command = self.params.get('test_command')
        if not test_command:
            return []
        seconds = max(int(self.deadline - self.remote.clock()), 1)
        self.phase = 'test_command'  # the user's check: its time is not the update's own
        rc, out, err = self.command(TEST_COMMAND % (seconds, shlex.quote(test_command)))
        self.phase = 'verify'
        self.result['test_command'] = {'rc': rc, 'stdout': out, 'stderr': err}
        if rc == TIMED_OUT:
            return [('test-command-timeout', 'test_command %r did not finish within the %s s left of reboot_timeout; '
                     'make it return sooner or raise reboot_timeout' % (test_command, seconds))]
        if rc != 0:
            return [('test-command-failed', 'test_command %r failed with rc %s: %s' % (test_command, rc, plain(err or out)))]
        return []

    def report(self, before, after, started):
        self.result['blackout']['phases_ms'] = (after.get('systemd') or {}).get('last_live_update_ms')
        self.result['elapsed'] = round(self.remote.clock() - started, 3)
        self.result['boot_id_before'] = before['boot_id']


def _plus_one(count):
    return None if count is None else count + 1
