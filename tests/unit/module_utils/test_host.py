# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.luo.liveupdate.plugins.module_utils import host as host_utils
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host, failure_to_start


def make_tool(root, directory, name, text='#!/bin/sh\necho "$0 $*"\n', mode=0o755):
    path = os.path.join(str(root), directory, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.chmod(path, mode)
    return path


class Recorder:
    """A runner that remembers what it was asked to run."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv, text):
        self.calls.append((argv, text))
        return 0, 'out' if text else b'out', '' if text else b''


@pytest.fixture
def ansible_module():
    with patch_module_args({}):
        yield AnsibleModule(argument_spec={})


# --- from_module: the root and a runner built on run_command ---

def test_from_module_reads_the_real_host(ansible_module):
    assert Host.from_module(ansible_module).root == '/'


def test_module_runner_runs_text_and_bytes_through_run_command(ansible_module, tmp_path):
    tool = make_tool(tmp_path, 'usr/bin', 'hello', '#!/bin/sh\nprintf "hello %s\\n" "$1"\necho warn >&2\nexit 3\n')
    host = Host(str(tmp_path), host_utils.module_runner(ansible_module))
    assert host.run(['hello', 'world']) == (3, 'hello world\n', 'warn\n')
    assert host.run_bytes(['hello', 'bytes']) == (3, b'hello bytes\n', b'warn\n')
    assert host.run([tool, 'by-path']) == (3, 'hello by-path\n', 'warn\n')


def test_no_environment_variable_changes_the_root(ansible_module, monkeypatch, tmp_path):
    """The product reads the host it runs on: no test switch in the environment moves it."""
    for name in ('LUO_LIVEUPDATE_TEST_ROOT', 'LUO_LIVEUPDATE_ROOT', 'ROOT'):
        monkeypatch.setenv(name, str(tmp_path))
    assert Host.from_module(ansible_module).root == '/'


# --- run: bare names resolve below the root ---

def test_bare_name_resolves_below_the_root(tmp_path):
    tool = make_tool(tmp_path, 'usr/sbin', 'kexec')
    runner = Recorder()
    host = Host(str(tmp_path), runner)
    assert host.run(['kexec', '--version']) == (0, 'out', '')
    assert host.run_bytes(['kexec', '-s']) == (0, b'out', b'')
    assert runner.calls == [([tool, '--version'], True), ([tool, '-s'], False)]


def test_unknown_bare_name_is_passed_on_unchanged(tmp_path):
    runner = Recorder()
    Host(str(tmp_path), runner).run(['no-such-tool', '-x'])
    assert runner.calls == [(['no-such-tool', '-x'], True)]


def test_path_with_a_slash_is_not_looked_up(tmp_path):
    make_tool(tmp_path, 'usr/bin', 'tool')
    runner = Recorder()
    Host(str(tmp_path), runner).run(['./tool'])
    Host(str(tmp_path), runner).run(('/usr/bin/tool', 'arg'))
    assert runner.calls == [(['./tool'], True), (['/usr/bin/tool', 'arg'], True)]


# --- paths ---

@pytest.mark.parametrize('path, expected', [
    ('/boot/vmlinuz-7.2.13', 'ROOT/boot/vmlinuz-7.2.13'),
    ('//proc/cmdline', 'ROOT/proc/cmdline'),
    ('proc/cmdline', 'ROOT/proc/cmdline'),
])
def test_path_below_the_root(path, expected):
    assert Host('/srv/tree', Recorder()).path(path) == expected.replace('ROOT', '/srv/tree')


def test_path_on_the_real_host():
    assert Host('/', Recorder()).path('/dev/liveupdate') == '/dev/liveupdate'


def test_host_view_undoes_path(tmp_path):
    host = Host(str(tmp_path), Recorder())
    assert host.host_view(host.path('/boot/config-7.2.13')) == '/boot/config-7.2.13'
    assert host.host_view(str(tmp_path)) == '/.'


def test_host_view_on_the_real_host_is_the_path():
    assert Host('/', Recorder()).host_view('/boot/config-7.2.13') == '/boot/config-7.2.13'


# --- reading files ---

def test_read_strips_the_text(tmp_path):
    (tmp_path / 'proc').mkdir()
    (tmp_path / 'proc' / 'cmdline').write_text('  root=/dev/vda1 liveupdate=on\n\n')
    assert Host(str(tmp_path), Recorder()).read('/proc/cmdline') == 'root=/dev/vda1 liveupdate=on'


def test_read_replaces_bytes_that_are_not_utf8(tmp_path):
    (tmp_path / 'name').write_bytes(b'caf\xe9\n')
    assert Host(str(tmp_path), Recorder()).read('/name') == 'caf\ufffd'


def test_read_missing_file_gives_the_default(tmp_path):
    host = Host(str(tmp_path), Recorder())
    assert host.read('/proc/cmdline') is None
    assert host.read('/proc/cmdline', default='') == ''


def test_read_directory_gives_the_default(tmp_path):
    (tmp_path / 'proc').mkdir()
    assert Host(str(tmp_path), Recorder()).read('/proc', default='none') == 'none'


def test_exists_counts_dangling_symlinks(tmp_path):
    (tmp_path / 'dev').mkdir()
    os.symlink('/nonexistent/target', str(tmp_path / 'dev' / 'liveupdate'))
    host = Host(str(tmp_path), Recorder())
    assert host.exists('/dev/liveupdate') is True
    assert host.exists('/dev/other') is False


# --- which ---

def test_which_follows_the_directory_order(tmp_path):
    make_tool(tmp_path, 'usr/bin', 'kexec')
    local = make_tool(tmp_path, 'usr/local/sbin', 'kexec')
    assert Host(str(tmp_path), Recorder()).which('kexec') == local


@pytest.mark.parametrize('directory', host_utils.COMMAND_DIRS)
def test_which_searches_every_command_directory(tmp_path, directory):
    tool = make_tool(tmp_path, directory, 'systemctl')
    assert Host(str(tmp_path), Recorder()).which('systemctl') == tool


def test_which_skips_files_that_are_not_executable(tmp_path):
    make_tool(tmp_path, 'usr/sbin', 'kexec', mode=0o644)
    tool = make_tool(tmp_path, 'sbin', 'kexec')
    assert Host(str(tmp_path), Recorder()).which('kexec') == tool


def test_which_skips_directories(tmp_path):
    (tmp_path / 'usr' / 'sbin' / 'kexec').mkdir(parents=True)
    assert Host(str(tmp_path), Recorder()).which('kexec') is None


def test_which_finds_nothing(tmp_path):
    assert Host(str(tmp_path), Recorder()).which('kexec') is None


def test_which_on_the_real_host_finds_sh():
    assert Host('/', Recorder()).which('sh') in ['/%s/sh' % directory for directory in host_utils.COMMAND_DIRS]


def test_from_module_passes_arguments_verbatim(ansible_module, monkeypatch):
    """A kernel command line such as x=$prefix must reach kexec as written, not with $prefix or ~ expanded."""
    monkeypatch.setenv('prefix', 'EXPANDED')
    rc, out, _err = Host.from_module(ansible_module).run(['/bin/echo', 'x=$prefix', '~root/y'])
    assert (rc, out) == (0, 'x=$prefix ~root/y\n')


def test_from_module_reports_a_command_that_cannot_start(ansible_module, monkeypatch, tmp_path):
    """A command that cannot be started is an error result with the reason, not an exit of the module."""
    broken = tmp_path / 'broken'
    broken.write_text('#!/nonexistent/interpreter\n')
    broken.chmod(0o755)
    rc, out, err = Host.from_module(ansible_module).run([str(broken)])
    assert rc == 127 and out == ''
    assert str(broken) in err and 'cannot run' in err


def test_from_module_runs_commands_in_the_c_locale(ansible_module, monkeypatch):
    """Output is parsed, and update-grub's shell globs the drop-ins bytewise only in the C locale."""
    monkeypatch.setenv('LC_ALL', 'en_US.UTF-8')
    assert Host.from_module(ansible_module).run(['/bin/sh', '-c', 'echo "$LC_ALL"'])[:2] == (0, 'C\n')


def test_a_command_that_cannot_start_is_told_from_one_that_failed(ansible_module, monkeypatch, tmp_path):
    """Whoever must undo its work when a command cannot even start (kernel_cmdline) can tell; an exit status 127 is not enough."""
    broken = tmp_path / 'broken'
    broken.write_text('#!/nonexistent/interpreter\n')
    broken.chmod(0o755)
    host = Host.from_module(ansible_module)
    assert failure_to_start(str(broken), host.run([str(broken)])) == (
        'cannot run %s: its interpreter (#!/nonexistent/interpreter) does not exist' % broken)
    failed = host.run(['/bin/sh', '-c', 'luo-no-such-command'])  # started, then its shell found no such command
    assert failed[0] == 127
    assert failure_to_start('/bin/sh', failed) is None
    assert failure_to_start('/bin/sh', (0, '', '')) is None
