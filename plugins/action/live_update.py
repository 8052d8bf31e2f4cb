# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for luo.liveupdate.live_update: wires the flow to Ansible's connection."""
from __future__ import annotations

import time

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure, AnsibleError
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.luo.liveupdate.plugins.module_utils import kexec
from ansible_collections.luo.liveupdate.plugins.plugin_utils.live_update_flow import LiveUpdate, LiveUpdateFailed

display = Display()

# ssh's keep-alive probes: a session whose host went away for the kexec (its TCP connection gone without a reset
# reaching this side) fails after 3 unanswered probes instead of waiting forever for an answer.
SERVER_ALIVE = '-o ServerAliveInterval=%d -o ServerAliveCountMax=3'

# The stage options go to kexec_load as given, with kexec_load's own types.
ARGUMENT_SPEC = dict(
    kexec.STAGE_OPTIONS,
    verify_units=dict(type='list', elements='str', default=[]),
    test_command=dict(type='str'),
    reboot_timeout=dict(type='int', default=600),
    connect_timeout=dict(type='int', default=10),
    lock_owner=dict(type='str'),
    lock_ttl=dict(type='int'),
)


def _refuse_bad_command_line(params):
    """What kexec_load would refuse about the next command line, refused before the host is touched."""
    try:
        start = kexec.base_cmdline(params['cmdline'], params['reuse_cmdline'], '')
        kexec.final_cmdline(start, kexec.append_params(params['append']), kexec.remove_names(params['remove']))
    except ValueError as exc:
        raise AnsibleActionFail(str(exc)) from None


class _Remote:
    """The flow's view of the host, through this action's connection."""

    def __init__(self, action, task_vars):
        self._action = action
        self._task_vars = task_vars

    def module(self, name, args):
        return self._action._execute_module(module_name=name, module_args=args, task_vars=self._task_vars)

    def command(self, cmd):
        result = self._action._low_level_execute_command(cmd, sudoable=True)
        return result.get('rc'), result.get('stdout', ''), result.get('stderr', '')

    def reset(self):
        try:
            self._action._connection.reset()
        except AnsibleError as exc:
            display.vvv('live_update: connection reset failed: %s' % exc)

    @staticmethod
    def clock():
        return time.monotonic()

    @staticmethod
    def sleep(seconds):
        time.sleep(seconds)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        _refuse_bad_command_line(params)
        self._set_connect_timeout(params['connect_timeout'])
        remote = _Remote(self, task_vars)
        if self._probe_ssh_sessions(params['connect_timeout']):
            remote.reset()  # a control master opened by an earlier task has no probes: the next call opens one that has
        flow = LiveUpdate(remote, params, check_mode=self._task.check_mode,
                          log=lambda message: display.display('%s: %s' % (self._task.get_name(), message)))
        try:
            result.update(flow.run())
        except LiveUpdateFailed as exc:
            result.update(exc.result, failed=True, msg=str(exc))
        return result

    def cleanup(self, force=False):
        """Ansible removes the task's temporary directory on the host after run(): a host that never came back
        cannot be reached for that, and its failure must not turn the result (reason, phase) into "unreachable"."""
        try:
            super().cleanup(force)
        except AnsibleConnectionFailure as exc:
            display.warning('live_update: the temporary directory on the host was not removed (%s)' % exc)

    def _probe_ssh_sessions(self, connect_timeout):
        """With the ssh connection: keep-alive probes every connect_timeout/2 s (at least 1), after the extra
        arguments the inventory gives (ssh takes the first value of an option: the inventory's win). False with
        another connection plugin."""
        try:
            extra = self._connection.get_option('ssh_extra_args') or ''
        except (KeyError, AnsibleError):
            return False  # this connection plugin has no ssh arguments
        self._connection.set_option('ssh_extra_args', ('%s %s' % (extra, SERVER_ALIVE % max(connect_timeout // 2, 1))).strip())
        return True

    def _set_connect_timeout(self, seconds):
        """Short connect timeouts: an ssh that connects while the host is down must give up, not hang."""
        for option in ('connection_timeout', 'timeout'):
            try:
                self._connection.set_option(option, seconds)
                return
            except (KeyError, AnsibleError):
                continue  # this connection plugin has no such option
