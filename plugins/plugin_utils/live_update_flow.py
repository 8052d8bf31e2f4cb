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

Connection failures while the host is away surface as exceptions from
``command``; waiting treats every exception as "not back yet".
"""
from __future__ import annotations

import json
import re
import shlex

INFO = 'luo.liveupdate.info'
KEXEC_LOAD = 'luo.liveupdate.kexec_load'
BOOT_ID = 'cat /proc/sys/kernel/random/boot_id'
KEXEC_COUNT = 'systemctl show --property=KExecCount --value'
# Dispatch the kexec job and return at once: the connection goes down with the host.
KEXEC_NOW = 'systemctl --no-block kexec'
LIST_KERNELS = 'ls -1 /boot'
# Wait until systemd finished booting (units started, FinishTimestamp set), bounded.
BOOT_FINISHED = 'timeout %d systemctl is-system-running --wait'
UNIT_NAME = re.compile(r'^[A-Za-z0-9:_.\\@-]+\.(service|socket|target|mount|timer|path|slice|scope)$')
BACKOFF_START = 1.0
BACKOFF_MAX = 10.0


class LiveUpdateFailed(Exception):
    """The live update stopped; ``result`` holds what is known so far."""

    def __init__(self, message, result=None):
        super().__init__(message)
        self.result = result or {}


def version_key(release):
    """Sort key for kernel releases: numbers compare as numbers ("7.10" > "7.9")."""
    return [(0, int(part), '') if part.isdigit() else (1, 0, part) for part in re.split(r'[.+~-]', release)]


def newest_other_kernel(listing, running):
    """From ``ls /boot`` output, the newest vmlinuz-R with R != running; None when there is none."""
    releases = []
    for name in listing.split():
        if name.startswith('vmlinuz-') and name != 'vmlinuz-' + running:
            releases.append(name[len('vmlinuz-'):])
    if not releases:
        return None
    return '/boot/vmlinuz-' + max(releases, key=version_key)


def validate_units(units):
    """Unit names as systemd spells them; anything else is refused before the host is touched."""
    for unit in units:
        if not isinstance(unit, str) or not UNIT_NAME.match(unit):
            raise LiveUpdateFailed('verify_units entry %r is not a unit name: give full names such as "myapp.service"'
                                   % (unit,))
    return list(units)


def parse_fdstore_names(text):
    """Sorted FDNAMEs from ``systemd-analyze fdstore UNIT --json=short``."""
    entries = json.loads(text or '[]')
    return sorted(entry.get('fdname') or '' for entry in entries)


class LiveUpdate:
    """One host's live update. ``params`` are the action's validated arguments."""

    def __init__(self, remote, params, check_mode=False, log=None):
        self.remote = remote
        self.params = params
        self.check_mode = check_mode
        self.log = log or (lambda message: None)
        self.result = {'changed': False}
        self.staged = False

    # --- steps ------------------------------------------------------------

    def run(self):
        """Do the whole live update; returns the result or raises LiveUpdateFailed."""
        started = self.remote.clock()
        units = validate_units(self.params.get('verify_units') or [])
        try:
            before = self.preflight(units)
            if self.check_mode:
                self.result.update(plan=self.plan(before))
                return self.result
            self.stage()
        except LiveUpdateFailed as exc:
            self.unstage()
            exc.result = dict(self.result, **exc.result)
            raise
        kexec_at = self.remote.clock()
        self.kexec()
        self.wait_for_new_boot(before['boot_id'], kexec_at)
        self.wait_for_boot_finished(kexec_at)
        self.verify(before, units)
        self.report(before, started)
        return self.result

    def preflight(self, units):
        """Readiness of host and target, and what must be true again afterwards."""
        kernel = self.params.get('kernel') or self.default_kernel()
        info = self.remote.module(INFO, {'target_kernel': kernel})
        if info.get('failed'):
            raise LiveUpdateFailed('preflight: %s' % info.get('msg'), {'preflight': info})
        self.result.update(kernel_before=info['kernel']['release'], kernel_target=info['target']['release'],
                           target=kernel)
        if not info['ready']:
            raise LiveUpdateFailed('preflight: the host is not ready for a live update: %s' % _reasons_text(info['reasons']),
                                   {'reasons': info['reasons']})
        if not info['compatible'] and not self.params.get('force'):
            raise LiveUpdateFailed('preflight: %s cannot take over with the state intact: %s'
                                   % (kernel, _reasons_text(info['target_reasons'])),
                                   {'target_reasons': info['target_reasons']})
        if info['target']['release'] == info['kernel']['release']:
            self.log('target release %s is the running release: the live update restarts the same kernel'
                     % info['target']['release'])
        before = {
            'boot_id': self.read(BOOT_ID, 'read the boot id'),
            'kexec_count': _count(self.read(KEXEC_COUNT, 'read KExecCount')),
            'units': {unit: self.unit_state(unit) for unit in units},
        }
        for unit, state in before['units'].items():
            if state['load_state'] != 'loaded':
                raise LiveUpdateFailed('preflight: verify unit %s is %s on the host: check the name (systemctl '
                                       'list-units) or drop it from verify_units' % (unit, state['load_state']))
            if state['active_state'] != 'active':
                raise LiveUpdateFailed('preflight: verify unit %s is %s, not active: start it first, or it cannot '
                                       'be proven to come back' % (unit, state['active_state']))
        return before

    def default_kernel(self):
        """The newest installed kernel that is not running, said out loud."""
        running = self.read('uname -r', 'read the running release')
        chosen = newest_other_kernel(self.read(LIST_KERNELS, 'list /boot'), running)
        if chosen is None:
            raise LiveUpdateFailed('no kernel to update to: /boot has no vmlinuz-* other than the running %s; '
                                   'install the new kernel or give kernel: PATH' % running)
        self.log('kernel not given: chose %s, the newest installed kernel that is not running (%s)' % (chosen, running))
        self.result['kernel_chosen'] = chosen
        return chosen

    def plan(self, before):
        return {
            'stage': {'kernel': self.result['target'], 'initrd': self.params.get('initrd')},
            'kexec': KEXEC_NOW,
            'expect': {'release': self.result['kernel_target'], 'kexec_count': _plus_one(before['kexec_count']),
                       'units': {unit: state['fdstore'] for unit, state in before['units'].items()}},
        }

    def stage(self):
        args = {'state': 'loaded', 'kernel': self.result['target'], 'force': bool(self.params.get('force'))}
        for name in ('initrd', 'cmdline', 'reuse_cmdline', 'append', 'remove'):
            if self.params.get(name) is not None:
                args[name] = self.params[name]
        staged = self.remote.module(KEXEC_LOAD, args)
        if staged.get('failed'):
            raise LiveUpdateFailed('stage: %s' % staged.get('msg'), {'stage': staged})
        self.staged = True
        self.result.update(changed=True, cmdline=staged.get('cmdline'))

    def unstage(self):
        """Leave the host as it was: nothing staged."""
        if not self.staged:
            return
        unloaded = self.remote.module(KEXEC_LOAD, {'state': 'unloaded'})
        self.staged = False
        self.result['unstaged'] = not unloaded.get('failed')

    def kexec(self):
        try:
            self.remote.command(KEXEC_NOW)
        except Exception:  # pylint: disable=broad-exception-caught
            # The connection may go down before the command returns: expected.
            pass

    def wait_for_new_boot(self, old_boot_id, kexec_at):
        """Poll the boot id until it changes; capped exponential back-off; reconnect after each failure."""
        timeout = self.params.get('reboot_timeout') or 600
        delay = BACKOFF_START
        last_error = 'the host kept its boot id %s' % old_boot_id
        while True:
            try:
                rc, out, err = self.remote.command(BOOT_ID)
                if rc == 0 and out.strip() and out.strip() != old_boot_id:
                    self.result['blackout_s'] = round(self.remote.clock() - kexec_at, 3)
                    return out.strip()
                if rc != 0:
                    last_error = 'reading the boot id failed: %s' % (err or out).strip()
            except Exception as exc:  # pylint: disable=broad-exception-caught
                last_error = '%s: %s' % (type(exc).__name__, exc)
                self.remote.reset()
            if self.remote.clock() - kexec_at + delay > timeout:
                raise LiveUpdateFailed('the host did not come back on a new boot within reboot_timeout=%ss (last: %s); '
                                       'look at its console: the new kernel may have failed to boot' % (timeout, last_error),
                                       dict(self.result))
            self.remote.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    def wait_for_boot_finished(self, kexec_at):
        """Let systemd finish starting units before they are checked; say what state it reached."""
        timeout = self.params.get('reboot_timeout') or 600
        remaining = max(int(timeout - (self.remote.clock() - kexec_at)), 1)
        _rc, out, _err = self.remote.command(BOOT_FINISHED % remaining)
        self.result['system_state'] = out.strip() or 'unknown'
        if self.result['system_state'] not in ('running', 'degraded'):
            self.log('systemd is %s after the live update (not finished within reboot_timeout)' % self.result['system_state'])

    def verify(self, before, units):
        """Running the target release, one more kexec counted, units back with the same fd store names."""
        problems = []
        release = self.read('uname -r', 'read the release after the kexec')
        self.result['kernel_after'] = release
        if release != self.result['kernel_target']:
            problems.append('running %s, not the target %s (the host may have rebooted cold into its default kernel)'
                            % (release, self.result['kernel_target']))
        count = _count(self.read(KEXEC_COUNT, 'read KExecCount after the kexec'))
        self.result['kexec_count'] = count
        if before['kexec_count'] is not None and count != before['kexec_count'] + 1:
            problems.append('KExecCount is %s, expected %s: this boot was not the live update' % (count, before['kexec_count'] + 1))
        restored = {}
        for unit in units:
            state = self.unit_state(unit)
            want = before['units'][unit]['fdstore']
            restored[unit] = {'active': state['active_state'] == 'active', 'fdstore': state['fdstore'],
                              'fdstore_restored': state['fdstore'] == want}
            if state['active_state'] != 'active':
                problems.append('%s is %s after the live update' % (unit, state['active_state']))
            if state['fdstore'] != want:
                problems.append('%s fd store holds %s, before it held %s' % (unit, state['fdstore'], want))
        self.result['restored'] = restored
        test_command = self.params.get('test_command')
        if test_command:
            rc, out, err = self.remote.command(test_command)
            self.result['test_command'] = {'rc': rc, 'stdout': out, 'stderr': err}
            if rc != 0:
                problems.append('test_command %r failed with rc %s: %s' % (test_command, rc, (err or out).strip()))
        if problems:
            raise LiveUpdateFailed('after the live update: ' + '; '.join(problems), dict(self.result))

    def report(self, before, started):
        info = self.remote.module(INFO, {})
        self.result['blackout'] = {
            'controller_s': self.result.get('blackout_s'),
            'phases_ms': (info.get('systemd') or {}).get('last_live_update_ms'),
        }
        self.result['elapsed'] = round(self.remote.clock() - started, 3)
        self.result['boot_id_before'] = before['boot_id']

    # --- helpers ----------------------------------------------------------

    def read(self, cmd, what):
        rc, out, err = self.remote.command(cmd)
        if rc != 0:
            raise LiveUpdateFailed('could not %s (`%s` rc %s: %s)' % (what, cmd, rc, (err or out).strip()))
        return out.strip()

    def unit_state(self, unit):
        quoted = shlex.quote(unit)
        show = self.read('systemctl show --property=LoadState,ActiveState %s' % quoted, 'read the state of %s' % unit)
        props = dict(line.split('=', 1) for line in show.splitlines() if '=' in line)
        rc, out, err = self.remote.command('systemd-analyze fdstore %s --json=short' % quoted)
        fdstore = parse_fdstore_names(out) if rc == 0 else []
        return {'load_state': props.get('LoadState'), 'active_state': props.get('ActiveState'), 'fdstore': fdstore}


def _count(text):
    return int(text) if text and text.isdigit() else None


def _plus_one(count):
    return None if count is None else count + 1


def _reasons_text(reasons):
    return '; '.join('%s (fix: %s)' % (item['message'], item['fix']) for item in reasons)
