# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input changes nothing: every role variable that reaches a unit, a path or a command line, with bad values.

Each role runs once against localhost (connection local), one inventory host per bad value plus one with good
values. A bad host must stop at the role's argument spec or its validation tasks, with a message that names the
variable and shows the value; nothing runs after, nothing is changed, and the directories the roles write to are
the same afterwards. The table CASES is the documentation: `python -m tests.integration.playbooks.test_role_inputs` prints
it as markdown.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

from ansible_collections.luo.liveupdate.tests.integration.playbooks.private_state import can_use_private_var_lib, private_var_lib

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
# Where the three roles write: unit drop-ins, the keeper, boot configuration.
WRITTEN_TREES = ('/etc/systemd/system', '/etc/luo-state', '/usr/local/sbin', '/usr/local/lib/luo-liveupdate', '/etc/default', '/etc/kernel')

Case = collections.namedtuple('Case', 'role variable value says settings')


ENTRIES = {  # a good first entry of each list of dicts
    'luo_preserve_fdstore_services': {'name': 'db.service'},
    'luo_preserve_state': {'name': 'cache', 'service': 'mycache.service', 'paths': ['/run/mycache']},
    'luo_host_extra_params': {'name': 'quiet'},
}


def entry(variable, **keys):
    """The list variable with one good entry, keys changed."""
    return {variable: [dict(ENTRIES[variable], **keys)]}


def fdstore(**keys):
    return entry('luo_preserve_fdstore_services', **keys)


def keeper(**keys):
    return entry('luo_preserve_state', **keys)


def extra_param(**keys):
    return entry('luo_host_extra_params', **keys)


def one(variable, value):
    return {variable: value}


def case(role, variable, value, says, settings=None):
    """A bad value of variable (as the message names it); settings: the role variables that carry it."""
    return Case(role, variable, value, says, one(variable, value) if settings is None else settings)


def first_item(role, variable, value, says):
    """A bad value as the only item of the list variable."""
    return case(role, variable + '[0]', value, says, one(variable, [value]))


ROLES = {'luo_preserve_fdstore_services': 'preserve', 'luo_preserve_state': 'preserve', 'luo_host_extra_params': 'host'}


def in_entry(variable, key, value, says):
    """A bad value of one key of the first entry of a list of dicts."""
    return case(ROLES[variable], '%s[0].%s' % (variable, key), value, says, entry(variable, **{key: value}))


def kept_path(value):
    return case('preserve', 'luo_preserve_state[0].paths[0]', value, UNIT_PATH, keeper(paths=[value]))


UNIT = 'is not a service unit name'
KEEPER = 'is not a keeper name'
SESSION = 'is not a LUO session name'
UNIT_PATH = 'is not an absolute path that a unit file can name'
HOST_PATH = 'is not an absolute path on the host'
PARAM = 'is not one kernel parameter'
PARAM_NAME = 'is not a kernel parameter name'
UNIT_NAME = 'is not a unit name'
COMMAND = 'is not a one-line shell command'
URL = 'is not an http or https URL'
POSITIVE = 'is not a whole number above 0'

CASES = [
    in_entry('luo_preserve_fdstore_services', 'name', 'db.service\n', UNIT),
    in_entry('luo_preserve_fdstore_services', 'name', '../../../etc/x.service', UNIT),
    in_entry('luo_preserve_fdstore_services', 'name', 'my db.service', UNIT),
    in_entry('luo_preserve_fdstore_services', 'name', 'db', UNIT),
    in_entry('luo_preserve_fdstore_services', 'luo_session', 'db\nExecStartPre=/bin/sh -c reboot', SESSION),
    in_entry('luo_preserve_fdstore_services', 'luo_session', 'systemd', SESSION),
    in_entry('luo_preserve_fdstore_services', 'luo_session', 'x' * 64, SESSION),
    case('preserve', 'luo_preserve_fdstore_services[0].fdstore_max', '0', POSITIVE, fdstore(fdstore_max=0)),
    case('preserve', 'luo_preserve_fdstore_services[0].preserve', 'True', 'is not a FileDescriptorStorePreserve= value',
         fdstore(preserve=True)),
    case('preserve', 'luo_preserve_fdstore_services[0].preserve', 'no',
         'value of preserve must be one of: yes, on-success, got: no', fdstore(preserve='no')),
    case('preserve', 'luo_preserve_fdstore_services[*].name', ['db.service', 'db.service'], 'has db.service more than once',
         {'luo_preserve_fdstore_services': [{'name': 'db.service'}, {'name': 'db.service'}]}),
    in_entry('luo_preserve_state', 'name', '../../etc/passwd', KEEPER),
    in_entry('luo_preserve_state', 'name', 'cache\n', KEEPER),
    in_entry('luo_preserve_state', 'name', '.cache', KEEPER),
    in_entry('luo_preserve_state', 'name', 'my cache', KEEPER),
    in_entry('luo_preserve_state', 'service', 'mycache.service\nExecStartPre=/bin/sh', UNIT),
    kept_path('run/mycache'),
    kept_path('/run/../etc'),
    kept_path('/run/my cache'),
    kept_path('/run/mycache\n'),
    kept_path('/run/my\0cache'),
    kept_path('/run/%i'),
    kept_path('/run/mycache/'),
    kept_path('/'),
    in_entry('luo_preserve_state', 'paths', ['/run/a', '/run/a/b'], 'cannot be kept: /run/a/b is inside /run/a'),
    in_entry('luo_preserve_state', 'paths', ['/run/a', '/run/a'], 'cannot be kept: list each path once'),
    in_entry('luo_preserve_state', 'paths', ['/tmp/cache'], 'cannot be kept: the keeper has its own /tmp'),
    in_entry('luo_preserve_state', 'paths', [], 'cannot be kept: list at least one path'),
    in_entry('luo_preserve_state', 'max_size', '1G\n', 'is not a size'),
    in_entry('luo_preserve_state', 'max_size', '0', 'is not a size'),
    case('preserve', 'luo_preserve_state[*].name', ['cache', 'cache'], 'has cache more than once',
         {'luo_preserve_state': [{'name': 'cache', 'service': 'a.service', 'paths': ['/run/a']},
                                 {'name': 'cache', 'service': 'b.service', 'paths': ['/run/b']}]}),
    case('preserve', 'luo_preserve_state[*].service', ['a.service', 'a.service'], 'has a.service more than once',
         {'luo_preserve_state': [{'name': 'a', 'service': 'a.service', 'paths': ['/run/a']},
                                 {'name': 'b', 'service': 'a.service', 'paths': ['/run/b']}]}),
    case('preserve', 'luo_preserve_program', 'luo-state', UNIT_PATH),
    case('preserve', 'luo_preserve_program', '/usr/local/sbin/luo-state --config=/tmp/x', UNIT_PATH),
    case('preserve', 'luo_preserve_program', '/usr/local/sbin/../../../tmp/luo-state', UNIT_PATH),
    case('rollout', 'luo_rollout_kernel', 'vmlinuz-7.3.4', HOST_PATH),
    case('rollout', 'luo_rollout_kernel', '/boot/vmlinuz-7.3.4\n', HOST_PATH),
    case('rollout', 'luo_rollout_kernel', '/boot/../tmp/vmlinuz', HOST_PATH),
    case('rollout', 'luo_rollout_initrd', '/boot/initrd.img 7.3.4', HOST_PATH),
    first_item('rollout', 'luo_rollout_append', 'quiet\n', PARAM),
    first_item('rollout', 'luo_rollout_append', 'quiet splash', PARAM),
    first_item('rollout', 'luo_rollout_append', 'x="y"', PARAM),
    first_item('rollout', 'luo_rollout_append', '--', PARAM),
    first_item('rollout', 'luo_rollout_remove', 'quiet=1', PARAM_NAME),
    first_item('rollout', 'luo_rollout_remove', 'quiet\0', PARAM_NAME),
    first_item('rollout', 'luo_rollout_verify_units', 'mydb.service\n', UNIT_NAME),
    first_item('rollout', 'luo_rollout_verify_units', 'mydb', UNIT_NAME),
    first_item('rollout', 'luo_rollout_verify_units', '../mydb.service', UNIT_NAME),
    first_item('rollout', 'luo_rollout_health_units', 'a.service b.service', UNIT_NAME),
    first_item('rollout', 'luo_rollout_health_urls', 'localhost:8080/health', URL),
    first_item('rollout', 'luo_rollout_health_urls', 'file:///etc/shadow', URL),
    first_item('rollout', 'luo_rollout_health_urls', 'http://localhost/\n', URL),
    first_item('rollout', 'luo_rollout_health_commands', 'true\nreboot', COMMAND),
    first_item('rollout', 'luo_rollout_health_commands', ' ', COMMAND),
    case('rollout', 'luo_rollout_test_command', 'curl -f http://localhost/\0', COMMAND),
    case('rollout', 'luo_rollout_pre_tasks', 'drain.yml\n', 'is not a task file'),
    case('rollout', 'luo_rollout_post_tasks', 'undrain.sh', 'is not a task file'),
    case('rollout', 'luo_rollout_reboot_timeout', '0', POSITIVE, one('luo_rollout_reboot_timeout', 0)),
    case('rollout', 'luo_rollout_health_retries', '0', POSITIVE, one('luo_rollout_health_retries', 0)),
    case('rollout', 'luo_rollout_health_delay', '-1', 'is not a whole number of seconds',
         one('luo_rollout_health_delay', -1)),
    case('rollout', 'luo_rollout_fallback', 'ignore',
         'value of luo_rollout_fallback must be one of: fail, skip, reboot, got: ignore'),
    case('rollout', 'luo_rollout_on_failure', 'never',
         'value of luo_rollout_on_failure must be one of: stop, rollback, got: never'),
    case('rollout', 'luo_rollout_max_fail_percentage', '101', 'is not a percentage',
         one('luo_rollout_max_fail_percentage', 101)),
    case('rollout', 'luo_rollout_lock_owner', 'awx job 1\nrm -rf /', 'is not a lock owner'),
    case('rollout', 'luo_rollout_report_path', 'report.txt', 'is not a report file'),
    case('rollout', 'luo_rollout_window', {'day': ['mon']}, 'is not a maintenance window'),
    first_item('host', 'luo_host_packages', '-oAPT::Update::Pre-Invoke::=reboot', 'is not a package name'),
    first_item('host', 'luo_host_packages', 'kexec-tools\n', 'is not a package name'),
    first_item('host', 'luo_host_packages', 'kexec tools', 'is not a package name'),
    case('host', 'luo_host_bootloader', 'grub\n',
         'value of luo_host_bootloader must be one of: auto, grub, grubby, kernel-install, got: grub\n'),
    case('host', 'luo_host_kho_scratch', '512M', 'is not a kho_scratch= value'),
    case('host', 'luo_host_kho_scratch', '200%\n', 'is not a kho_scratch= value'),
    case('host', 'luo_host_kho_scratch', '16M,512M 256M', 'is not a kho_scratch= value'),
    in_entry('luo_host_extra_params', 'name', 'quiet\ninit=/bin/sh', PARAM_NAME),
    in_entry('luo_host_extra_params', 'name', 'console=ttyS0', PARAM_NAME),
    case('host', 'luo_host_extra_params[0].name', 'kho', 'is not a parameter this variable may set',
         extra_param(name='kho', value='off')),
    case('host', 'luo_host_extra_params[0].name', 'kho-scratch', 'is not a parameter this variable may set',
         extra_param(name='kho-scratch', value='200%')),
    case('host', 'luo_host_extra_params[0].value', 'a b', 'is not a kernel parameter value',
         extra_param(name='x', value='a b')),
    case('host', 'luo_host_extra_params[0].value', 'on\n', 'is not a kernel parameter value',
         extra_param(name='x', value='on\n')),
    case('host', 'luo_host_extra_params[0].value', 'a"b', 'is not a kernel parameter value',
         extra_param(name='x', value='a"b')),
    in_entry('luo_host_extra_params', 'state', 'gone', 'value of state must be one of: present, absent, got: gone'),
    case('host', 'luo_host_reboot_method', 'warm', 'value of luo_host_reboot_method must be one of: cold, kexec, got: warm'),
    case('host', 'luo_host_reboot_timeout', '0', POSITIVE, one('luo_host_reboot_timeout', 0)),
]

GOOD = {
    'preserve': {'luo_preserve_fdstore_services': [{'name': 'mydb.service', 'fdstore_max': 64, 'preserve': 'on-success',
                                                    'luo_session': 'mydb'}],
                 'luo_preserve_state': [{'name': 'cache', 'service': 'mycache@1.service',
                                         'paths': ['/run/mycache', '/var/cache/mycache/state.db'], 'max_size': '1G'}]},
    'rollout': {'luo_rollout_kernel': '/boot/vmlinuz-7.3.4', 'luo_rollout_initrd': '/boot/initrd.img-7.3.4',
                'luo_rollout_append': ['quiet', 'console=ttyS0,115200'], 'luo_rollout_remove': ['splash'],
                'luo_rollout_verify_units': ['mydb.service', 'luo-state@cache.service'],
                'luo_rollout_health_urls': ['http://localhost:8080/health'],
                'luo_rollout_health_commands': ['systemctl is-active mydb && curl -fs http://localhost/'],
                'luo_rollout_test_command': 'test -e /run/mycache', 'luo_rollout_pre_tasks': 'tasks/drain.yml'},
    'host': {'luo_host_kho_scratch': '16M,512M,256M', 'luo_host_install_packages': False,
             'luo_host_extra_params': [{'name': 'console', 'value': 'ttyS0,115200'}, {'name': 'quiet', 'state': 'absent'},
                                       {'name': 'loglevel', 'value': 7}]},
}


def tree_digest(paths):
    """sha256 of the names, types, sizes, modes and times of everything below paths."""
    digest = hashlib.sha256()
    for top in paths:
        for directory, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(dirs + files):
                st = os.lstat(os.path.join(directory, name))
                digest.update(repr((directory, name, st.st_mode, st.st_size, st.st_mtime_ns)).encode())
    return digest.hexdigest()


def run_role(role, hosts, tmp_path):
    """ansible-playbook of the role over hosts {name: vars}: (stdout, {host: last task result}).

    The playbook runs with a private /var/lib (where the rollout's lock goes): a good host goes on past the checks.
    """
    inventory = {'all': {'hosts': hosts, 'vars': {'ansible_connection': 'local',
                                                  'ansible_python_interpreter': sys.executable}}}
    (tmp_path / 'inventory.json').write_text(json.dumps(inventory))
    (tmp_path / 'play.yml').write_text('- hosts: all\n  gather_facts: false\n  roles:\n    - luo.liveupdate.%s\n' % role)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, 'build', 'collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_CALLBACKS_ENABLED='ansible.builtin.tree', ANSIBLE_CALLBACK_TREE_DIR=str(tmp_path / 'tree'),
               ANSIBLE_FORKS='8', ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_HOST_KEY_CHECKING='false')
    (tmp_path / 'var-lib').mkdir()
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(tmp_path / 'inventory.json'),
            str(tmp_path / 'play.yml')]
    reason = can_use_private_var_lib()
    assert reason is None, 'these tests run ansible-playbook with a private /var/lib: %s' % reason
    proc = subprocess.run(private_var_lib(argv, tmp_path / 'var-lib'), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env, check=False, timeout=600)
    results = {host: json.loads((tmp_path / 'tree' / host).read_text()) for host in hosts}
    return proc.stdout, results


def messages(result):
    """Every message in a task result: its own, its loop items', its argument errors."""
    found = [result.get('msg') or ''] + [item.get('msg') or '' for item in result.get('results', [])]
    return '\n'.join(found + list(result.get('argument_errors', [])))


def stopped_by_validation(result):
    """Whether the last result of a host is a failed check of its variables (spec or validation tasks)."""
    items = result.get('results', [])
    return 'argument_errors' in result or any('assertion' in item for item in items) or 'assertion' in result


def expected_text(bad):
    if bad.says.startswith('value of '):  # ansible's own argument spec message
        return bad.says
    return '%s = %s %s' % (bad.variable, json.dumps(bad.value), bad.says)


@pytest.mark.parametrize('role', ['preserve', 'rollout', 'host'])
def test_bad_input_is_refused_by_name_before_anything_changes(role, tmp_path):
    cases = [bad for bad in CASES if bad.role == role]
    hosts = dict(('bad%02d' % index, bad.settings) for index, bad in enumerate(cases))
    hosts['good'] = GOOD[role]
    before = tree_digest(WRITTEN_TREES)
    out, results = run_role(role, hosts, tmp_path)
    assert tree_digest(WRITTEN_TREES) == before
    recap = dict(re.findall(r'^(\S+)\s+: ok=\d+\s+changed=(\d+)', out, re.M))
    # The good host gets past the checks: the rollout takes its lock and releases it (in the private /var/lib),
    # and changes nothing else.
    expected = dict.fromkeys(hosts, '0')
    if role == 'rollout':
        expected['good'] = '2'
    assert recap == expected, out
    assert not (tmp_path / 'var-lib' / 'luo-liveupdate' / 'lock').exists()
    assert not stopped_by_validation(results['good']), messages(results['good'])
    for index, bad in enumerate(cases):
        result = results['bad%02d' % index]
        assert stopped_by_validation(result), (bad, messages(result))
        assert expected_text(bad) in messages(result), (bad, messages(result))


def markdown_table():
    """CASES as a markdown table, one row per variable: its bad inputs and what the refusals say."""
    rows = collections.OrderedDict()
    for bad in CASES:
        inputs, says = rows.setdefault((bad.role, re.sub(r'\[\d+\]', '[]', bad.variable)), ([], []))
        inputs.append('`%s`' % json.dumps(bad.value).replace('|', '\\|'))
        if bad.says not in says:
            says.append(bad.says.replace('\n', '\\n'))
    lines = ['| role | variable | bad inputs | refused with |', '|---|---|---|---|']
    for (role, variable), (inputs, says) in rows.items():
        lines.append('| %s | `%s` | %s | %s |' % (role, variable, ' '.join(inputs), '; '.join(says)))
    return '\n'.join(lines)


if __name__ == '__main__':
    print(markdown_table())
