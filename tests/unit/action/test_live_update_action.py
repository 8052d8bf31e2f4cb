# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin's wiring: arguments, connection timeouts, results, through a fake connection."""
from __future__ import annotations

import os
import re
import socket

import pytest

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import connection_loader, shell_loader
from ansible.template import Templar

from ansible_collections.luo.liveupdate.plugins.action import live_update as action_module
from ansible_collections.luo.liveupdate.plugins.modules import live_update as doc_module
from ansible_collections.luo.liveupdate.tests.unit.action.fake_host import FakeHost
from ansible_collections.luo.liveupdate.tests.unit.return_docs import assert_documented, docs_of


class FakeConnection:
    """Only what ActionBase touches before the flow takes over, plus the options the action sets; with ssh=False,
    a connection plugin without ssh arguments (as ansible.builtin.local)."""

    def __init__(self, ssh=False):
        self._shell = shell_loader.get('sh')
        self.options = {'ssh_extra_args': ''} if ssh else {}
        self.resets = 0

    def get_option(self, name):
        return self.options[name]  # KeyError for an option the plugin does not have, as Ansible's plugins

    def set_option(self, name, value):
        if name not in ('timeout', 'ssh_extra_args'):  # as the ssh plugin: it has timeout, not connection_timeout
            raise AnsibleError("No config definition exists for '%s' for 'ssh' connection plugin." % name)
        self.options[name] = value

    def reset(self):
        self.resets += 1


@pytest.fixture(scope='module')
def action_class():
    from ansible_collections.luo.liveupdate.plugins.action import live_update  # pylint: disable=import-outside-toplevel
    return live_update.ActionModule


def run_action(action_class, host, check_mode=False, ssh=False, **args):
    task = Task.load(dict(action='luo.liveupdate.live_update', args=args))
    task.check_mode = check_mode
    host.check_mode = check_mode  # the modules the action runs get the task's check mode
    connection = FakeConnection(ssh)
    action = action_class(task, connection, PlayContext(), DataLoader(), Templar(loader=DataLoader()), None)
    # The host behind the connection: modules and commands go to the simulated host.
    action._execute_module = lambda module_name, module_args, task_vars: host.module(module_name, module_args)

    def low_level(cmd, sudoable=True):
        rc, out, err = host.command(cmd)
        return {'rc': rc, 'stdout': out, 'stderr': err}
    action._low_level_execute_command = low_level
    action._connection.reset = host.reset
    return assert_documented(doc_module.__file__, action.run(task_vars={})), connection


def test_action_runs_the_live_update(action_class, monkeypatch):
    host = FakeHost()
    monkeypatch.setattr('time.sleep', host.sleep)
    result, connection = run_action(action_class, host, kernel='/boot/vmlinuz-7.3.4', verify_units=['demo.service'],
                                    connect_timeout=5)
    assert not result.get('failed'), result
    assert result['kernel_after'] == '7.3.4'
    assert connection.options == {'timeout': 5}


def test_action_over_ssh_opens_a_connection_with_keepalive_probes_first(action_class, monkeypatch):
    host = FakeHost()
    monkeypatch.setattr('time.sleep', host.sleep)
    result, connection = run_action(action_class, host, ssh=True, kernel='/boot/vmlinuz-7.3.4', connect_timeout=5)
    assert not result.get('failed'), result
    assert connection.options == {'timeout': 5, 'ssh_extra_args': '-o ServerAliveInterval=2 -o ServerAliveCountMax=3'}
    assert host.reset_after[0] == 0  # before the first call: an earlier task's control master has no probes


def real_ssh_connection(**options):
    """Ansible's own ssh connection plugin, with options as an inventory would set them."""
    connection = connection_loader.get('ssh', PlayContext(), os.devnull)
    connection.set_options(direct=dict(options, host='host.example'))
    return connection


def ssh_argv(connection):
    """The ssh command line the plugin would run for one command."""
    return [arg.decode() for arg in connection._build_command('ssh', 'ssh', 'host.example', 'true')]


def bare_action(action_class, connection):
    task = Task.load(dict(action='luo.liveupdate.live_update', args={}))
    return action_class(task, connection, PlayContext(), DataLoader(), Templar(loader=DataLoader()), None)


def test_ssh_runs_every_command_of_the_action_with_keepalive_probes(action_class):
    connection = real_ssh_connection()
    assert 'ServerAliveInterval=5' not in ssh_argv(connection)
    assert bare_action(action_class, connection)._probe_ssh_sessions(10) is True
    argv = ssh_argv(connection)
    assert argv[argv.index('ServerAliveInterval=5') - 1] == '-o' and 'ServerAliveCountMax=3' in argv
    assert argv[-2:] == ['host.example', 'true']


def test_keepalive_settings_of_the_inventory_come_first_and_win(action_class):
    connection = real_ssh_connection(ssh_extra_args='-o ServerAliveInterval=30 -o ServerAliveCountMax=10')
    bare_action(action_class, connection)._probe_ssh_sessions(10)
    argv = ssh_argv(connection)
    assert argv.index('ServerAliveInterval=30') < argv.index('ServerAliveInterval=5')
    assert argv.index('ServerAliveCountMax=10') < argv.index('ServerAliveCountMax=3')


def test_a_connection_without_ssh_arguments_is_left_as_it_is(action_class):
    connection = connection_loader.get('local', PlayContext(), os.devnull)
    connection.set_options()
    assert bare_action(action_class, connection)._probe_ssh_sessions(10) is False


def test_action_reports_failure_with_what_is_known(action_class):
    host = FakeHost(ready=False)
    result, _connection = run_action(action_class, host, kernel='/boot/vmlinuz-7.3.4')
    assert result['failed'] is True
    assert 'not ready' in result['msg']
    assert result['reasons'][0]['id'] == 'device-missing'


def test_action_refuses_cmdline_with_reuse_cmdline(action_class):
    host = FakeHost()
    with pytest.raises(AnsibleActionFail, match='cmdline and reuse_cmdline: true are both given'):
        run_action(action_class, host, kernel='/boot/vmlinuz-7.3.4', cmdline='root=/dev/vda1', reuse_cmdline=True)
    assert host.calls == []


@pytest.mark.parametrize('args, message', [
    ({'append': [True]}, 'append item 1 is the boolean True: YAML turned an unquoted word like `on` into a boolean'),
    ({'remove': [3]}, 'remove item 1 is the number 3'),
    ({'cmdline': False}, 'cmdline is the boolean False'),
    ({'append': ['quiet'], 'remove': ['quiet']}, 'quiet is in both remove and append'),
    ({'reuse_cmdline': False}, 'reuse_cmdline is false and no cmdline is given'),
])
def test_action_refuses_what_kexec_load_would_refuse_before_the_host_is_touched(action_class, args, message):
    host = FakeHost()
    with pytest.raises(AnsibleActionFail, match=re.escape(message)):
        run_action(action_class, host, kernel='/boot/vmlinuz-7.3.4', **args)
    assert host.calls == []


def test_action_passes_the_stage_options_on_as_given(action_class):
    host = FakeHost()
    result, _connection = run_action(action_class, host, check_mode=True, kernel='/boot/vmlinuz-7.3.4',
                                     cmdline='root=/dev/vda1', reuse_cmdline=False, append=['quiet'])
    assert not result.get('failed'), result
    staged = [call[2] for call in host.calls if call[:2] == ('module', 'luo.liveupdate.kexec_load')]
    assert staged == [{'state': 'loaded', 'kernel': '/boot/vmlinuz-7.3.4', 'force': False,
                       'cmdline': 'root=/dev/vda1', 'reuse_cmdline': False, 'append': ['quiet'], 'remove': [],
                       'preflight': {'units': [], 'probe_device': True}}]


def test_action_refuses_unknown_options(action_class):
    host = FakeHost()
    with pytest.raises(AnsibleActionFail, match='Unsupported parameters.*kernal'):
        run_action(action_class, host, kernal='/boot/vmlinuz-7.3.4')
    assert host.calls == []


def test_action_check_mode_plans_only(action_class):
    host = FakeHost()
    result, _connection = run_action(action_class, host, check_mode=True, kernel='/boot/vmlinuz-7.3.4')
    assert result['plan']['expect']['release'] == '7.3.4'
    assert not host.kexeced


def test_action_on_a_current_host_is_ok_and_unchanged(action_class):
    host = FakeHost(release='7.3.4', installed={'7.2.13': None, '7.3.4': None})
    result, _connection = run_action(action_class, host)
    assert not result.get('failed'), result
    assert result['changed'] is False and result['current'] is True
    assert 'no newer kernel is installed' in result['msg']
    assert not host.kexeced


def test_action_turns_a_lost_connection_into_a_failure_with_its_phase(action_class, monkeypatch):
    from ansible.errors import AnsibleConnectionFailure  # pylint: disable=import-outside-toplevel

    class Unreachable(FakeHost):
        def drop_if_away(self):
            if self.new_boot_seen:
                raise AnsibleConnectionFailure('Failed to connect to the host via ssh: Connection timed out')
    host = Unreachable()
    monkeypatch.setattr('time.sleep', host.sleep)
    monkeypatch.setattr('time.monotonic', host.clock)
    result, _connection = run_action(action_class, host, kernel='/boot/vmlinuz-7.3.4', reboot_timeout=60)
    assert result['failed'] is True
    assert (result['phase'], result['reason']) == ('boot', 'connection-lost')
    assert 'Connection timed out' in result['msg']
    assert result['kernel_target'] == '7.3.4'


def test_action_failure_of_systemctl_kexec_says_why(action_class, monkeypatch):
    host = FakeHost(kexec_fails='Failed to execute kexec: Permission denied')
    monkeypatch.setattr('time.sleep', host.sleep)
    monkeypatch.setattr('time.monotonic', host.clock)
    result, _connection = run_action(action_class, host, kernel='/boot/vmlinuz-7.3.4')
    assert result['failed'] is True
    assert host.now < 1
    assert (result['phase'], result['reason']) == ('kexec', 'kexec-failed')
    assert 'Permission denied' in result['msg'] and result['unstaged'] is True


def test_action_takes_and_releases_the_lock_of_this_task(action_class, monkeypatch):
    host = FakeHost()
    monkeypatch.setattr('time.sleep', host.sleep)
    result, _connection = run_action(action_class, host, kernel='/boot/vmlinuz-7.3.4', reboot_timeout=300)
    assert not result.get('failed'), result
    owner = 'live_update on %s pid %d at ' % (socket.gethostname(), os.getpid())
    assert result['lock']['owner'].startswith(owner) and result['lock']['released'] is True
    (stage,) = [call[2] for call in host.calls if call[:2] == ('module', 'luo.liveupdate.kexec_load')]
    assert stage['lock_owner'] == result['lock']['owner'] and stage['lock_ttl'] == 900
    assert host.lock is None


def test_action_passes_lock_owner_and_lock_ttl_on(action_class, monkeypatch):
    host = FakeHost(lock={'owner': 'awx job 42', 'controller': 'awx', 'started': 1798799000, 'expires': 1798800100})
    monkeypatch.setattr('time.sleep', host.sleep)
    result, _connection = run_action(action_class, host, kernel='/boot/vmlinuz-7.3.4', lock_owner='awx job 42', lock_ttl=7200)
    assert result['lock']['reentrant'] is True and result['lock']['released'] is None
    assert host.lock['owner'] == 'awx job 42' and host.lock['expires'] >= 1798800000 + 7200


def test_action_refuses_a_bad_lock_ttl_before_the_host_is_touched(action_class):
    host = FakeHost()
    result, _connection = run_action(action_class, host, kernel='/boot/vmlinuz-7.3.4', lock_ttl=0)
    assert result['failed'] is True and result['reason'] == 'bad-lock-option'
    assert 'lock_ttl 0 is not a positive number of seconds' in result['msg']
    assert host.calls == []


def test_action_says_how_long_the_host_has_been_away_on_the_display(action_class, monkeypatch):
    host = FakeHost(down_polls=8)
    shown = []
    monkeypatch.setattr('time.sleep', host.sleep)
    monkeypatch.setattr('time.monotonic', host.clock)
    monkeypatch.setattr(action_module.display, 'display', lambda message, *args, **kwargs: shown.append(message))
    result, _connection = run_action(action_class, host, kernel='/boot/vmlinuz-7.3.4', reboot_timeout=900)
    assert not result.get('failed'), result
    lines = [line for line in shown if 'waiting for the new boot' in line]
    assert len(lines) == 3
    assert lines[0].endswith(': waiting for the new boot: 15 s since the kexec, up to 900 s (last: HostDown: ssh: connect '
                             'to host 127.0.0.1 port 2222: Connection refused)')


def test_action_check_mode_plans_with_the_command_line_and_the_lock(action_class):
    host = FakeHost(lock={'owner': 'awx job 7', 'controller': 'awx', 'started': 1798799000, 'expires': 1798809000})
    result, _connection = run_action(action_class, host, check_mode=True, kernel='/boot/vmlinuz-7.3.4')
    assert not result.get('failed'), result
    assert result['plan']['stage']['cmdline'] == 'root=/dev/vda1 liveupdate=on kho=on'
    assert result['plan']['lock']['refused'] is True and result['plan']['lock']['held_by']['owner'] == 'awx job 7'
    assert host.staged is None and host.lock['owner'] == 'awx job 7'


def test_documentation_matches_the_argument_spec():
    options = docs_of(doc_module.__file__)[0]['options']
    assert set(options) == set(action_module.ARGUMENT_SPEC)
    for name, spec in action_module.ARGUMENT_SPEC.items():
        assert options[name]['type'] == spec['type'], name
        assert options[name].get('default') == spec.get('default'), name
        assert options[name].get('elements') == spec.get('elements'), name


def test_the_stage_options_are_those_of_kexec_load():
    """live_update passes them on to kexec_load: the same definition (doc fragment luo.liveupdate.kexec_stage)."""
    from ansible_collections.luo.liveupdate.plugins.modules import kexec_load  # pylint: disable=import-outside-toplevel
    ours, theirs = docs_of(doc_module.__file__)[0]['options'], docs_of(kexec_load.__file__)[0]['options']
    shared = set(ours) & set(theirs) - {'lock_owner', 'lock_ttl'}  # passed on to kexec_load, which takes the lock
    assert shared == {'kernel', 'initrd', 'cmdline', 'reuse_cmdline', 'append', 'remove', 'force'}
    assert all(ours[name] == theirs[name] for name in shared)


def test_a_host_gone_at_cleanup_keeps_the_result_of_the_live_update(action_class):
    connection = FakeConnection()
    action = action_class(Task.load(dict(action='luo.liveupdate.live_update', args={})), connection, PlayContext(),
                          DataLoader(), Templar(loader=DataLoader()), None)
    connection._shell.tmpdir = '/root/.ansible/tmp/ansible-tmp-1'  # left by a module call the host went away in

    def gone(tmp_path, tmp_path_is_file=False):
        from ansible.errors import AnsibleConnectionFailure  # pylint: disable=import-outside-toplevel
        raise AnsibleConnectionFailure('Connection timed out during banner exchange')
    action._remove_tmp_path = gone
    action.cleanup()  # must not raise: the task's failure (no-new-boot...) stands
