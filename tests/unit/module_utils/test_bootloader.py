# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import bootloader as b
from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as c
from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline import ANY, Change

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'bootloader')
DEBIAN_DROPIN = 'etc/default/grub.d/90-luo-liveupdate.cfg'
FEDORA_ID = '4b1d0c3a9e8f47a6b5c4d3e2f1a09876'
FEDORA_NEW = 'boot/loader/entries/%s-6.12.5-200.fc41.x86_64.conf' % FEDORA_ID
FEDORA_OLD = 'boot/loader/entries/%s-6.11.9-300.fc41.x86_64.conf' % FEDORA_ID
SDBOOT_ID = '9f8e7d6c5b4a39281706f5e4d3c2b1a0'
SDBOOT_NEW = 'efi/loader/entries/%s-7.3.4.conf' % SDBOOT_ID
SDBOOT_OLD = 'efi/loader/entries/%s-7.2.13.conf' % SDBOOT_ID
SDBOOT_FOREIGN = 'efi/loader/entries/0123456789abcdef0123456789abcdef-6.1.0.conf'
LUO = [Change('liveupdate', 'on', True), Change('kho', 'on', True)]


class Runner(object):
    """Runs commands for real and remembers them."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv):
        assert isinstance(argv, list)
        self.calls.append(argv)
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr


def install_tool(root, name, directory='usr/sbin', as_name=None):
    """Copy a stand-in tool into root, executable; Python ones get this interpreter."""
    source = os.path.join(FIXTURES, 'tools', name)
    with open(source, encoding='utf-8') as handle:
        text = handle.read()
    if text.startswith('#!/usr/bin/env python\n'):
        text = '#!%s\n%s' % (sys.executable, text.split('\n', 1)[1])
    target = os.path.join(root, directory, as_name or name.replace('.py', ''))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.chmod(target, 0o755)
    return target


def make_root(tmp_path, tree):
    root = str(tmp_path / tree)
    shutil.copytree(os.path.join(FIXTURES, 'trees', tree), root)
    return root


def read(root, path):
    full = os.path.join(root, path)
    if not os.path.exists(full):
        return None
    with open(full, encoding='utf-8') as handle:
        return handle.read()


def write(root, path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w', encoding='utf-8') as handle:
        handle.write(text)


def tree_state(root):
    """Every file under root with its bytes and mode (calls.log left out)."""
    state = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            if name == 'calls.log':
                continue
            with open(path, 'rb') as handle:
                state[os.path.relpath(path, root)] = (handle.read(), stat.S_IMODE(os.stat(path).st_mode))
    return state


@pytest.fixture
def debian(tmp_path):
    root = make_root(tmp_path, 'debian-grub')
    install_tool(root, 'grub-mkconfig')
    install_tool(root, 'update-grub')
    return root


@pytest.fixture
def fedora(tmp_path):
    root = make_root(tmp_path, 'fedora-grubby')
    install_tool(root, 'grubby.py')
    return root


@pytest.fixture
def sdboot(tmp_path):
    root = make_root(tmp_path, 'systemd-boot')
    install_tool(root, 'kernel-install', 'usr/bin')
    return root


def grub_linux_lines(root, path='boot/grub/grub.cfg'):
    return [c.render(line) for line in b.grub_cfg_cmdlines(read(root, path))]


# --- small helpers ------------------------------------------------------------

def test_root_prefix():
    assert b.root_prefix({}) == '/'
    assert b.root_prefix({b.ROOT_ENV: ''}) == '/'
    assert b.root_prefix({b.ROOT_ENV: '/tmp/x'}) == '/tmp/x'


def test_root_prefix_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv(b.ROOT_ENV, '/srv/fixture')
    assert b.root_prefix() == '/srv/fixture'


def test_under():
    assert b.under('/', '/etc/default/grub') == '/etc/default/grub'
    assert b.under('/tmp/r', '/etc/default/grub') == '/tmp/r/etc/default/grub'
    assert b.under('/tmp/r', 'boot') == '/tmp/r/boot'


def test_find_executable_needs_the_exec_bit_and_follows_dir_order(tmp_path):
    root = str(tmp_path)
    assert b.find_executable(root, 'grubby') is None
    write(root, 'usr/sbin/grubby', '#!/bin/sh\n')
    assert b.find_executable(root, 'grubby') is None
    os.chmod(os.path.join(root, 'usr/sbin/grubby'), 0o755)
    assert b.find_executable(root, 'grubby') == os.path.join(root, 'usr/sbin/grubby')
    write(root, 'usr/local/sbin/grubby', '#!/bin/sh\n')
    os.chmod(os.path.join(root, 'usr/local/sbin/grubby'), 0o755)
    assert b.find_executable(root, 'grubby') == os.path.join(root, 'usr/local/sbin/grubby')


def test_read_text(tmp_path):
    assert b.read_text(str(tmp_path / 'missing')) is None
    (tmp_path / 'f').write_text('x\n')
    assert b.read_text(str(tmp_path / 'f')) == 'x\n'
    with pytest.raises(b.BootloaderError, match='cannot read .*: .*make it readable UTF-8 text'):
        b.read_text(str(tmp_path))
    (tmp_path / 'bin').write_bytes(b'\xff\xfe')
    with pytest.raises(b.BootloaderError, match='cannot read'):
        b.read_text(str(tmp_path / 'bin'))


def test_running_cmdline(tmp_path):
    assert b.running_cmdline(str(tmp_path)) == ''
    write(str(tmp_path), 'proc/cmdline', 'ro quiet\n')
    assert b.running_cmdline(str(tmp_path)) == 'ro quiet\n'
    os.remove(str(tmp_path / 'proc/cmdline'))
    os.mkdir(str(tmp_path / 'proc/cmdline'))
    assert b.running_cmdline(str(tmp_path)) == ''


# --- files ---------------------------------------------------------------------

def test_atomic_write_new_file_gets_default_mode(tmp_path):
    path = str(tmp_path / 'new.cfg')
    b.atomic_write(path, 'a\n')
    assert read(str(tmp_path), 'new.cfg') == 'a\n'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(str(tmp_path)) == ['new.cfg']


def test_atomic_write_keeps_mode_and_owner(tmp_path):
    path = str(tmp_path / 'cmdline')
    (tmp_path / 'cmdline').write_text('old\n')
    os.chmod(path, 0o600)
    if os.geteuid() == 0:
        os.chown(path, 1234, 5678)
    inode = os.stat(path).st_ino
    b.atomic_write(path, 'new\n')
    info = os.stat(path)
    assert read(str(tmp_path), 'cmdline') == 'new\n'
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_ino != inode
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (1234, 5678)
    assert os.listdir(str(tmp_path)) == ['cmdline']


def test_atomic_write_leaves_no_temporary_file_on_failure(tmp_path):
    os.mkdir(str(tmp_path / 'target'))
    with pytest.raises(OSError):
        b.atomic_write(str(tmp_path / 'target'), 'x')
    assert os.listdir(str(tmp_path)) == ['target']


def test_remove_file(tmp_path):
    (tmp_path / 'f').write_text('x')
    b.remove_file(str(tmp_path / 'f'))
    b.remove_file(str(tmp_path / 'f'))
    assert not (tmp_path / 'f').exists()


def test_snapshot_restore_and_changed_paths(tmp_path):
    kept = str(tmp_path / 'kept')
    edited = str(tmp_path / 'edited')
    created = str(tmp_path / 'created')
    deleted = str(tmp_path / 'deleted')
    for path in (kept, edited, deleted):
        with open(path, 'wb') as handle:
            handle.write(b'original ' + path.encode())
    os.chmod(edited, 0o640)
    if os.geteuid() == 0:
        os.chown(edited, 1234, 5678)
    saved = b.snapshot([kept, edited, created, deleted])
    assert b.changed_paths(saved) == []
    with open(edited, 'wb') as handle:
        handle.write(b'changed')
    os.chmod(edited, 0o644)
    if os.geteuid() == 0:
        os.chown(edited, 0, 0)
    with open(created, 'wb') as handle:
        handle.write(b'new')
    os.remove(deleted)
    assert b.changed_paths(saved) == sorted([edited, created, deleted])
    assert b.restore(saved) == []
    assert b.changed_paths(saved) == []
    assert not os.path.exists(created)
    assert stat.S_IMODE(os.stat(edited).st_mode) == 0o640
    if os.geteuid() == 0:
        assert (os.stat(edited).st_uid, os.stat(edited).st_gid) == (1234, 5678)


def test_restore_reports_what_it_could_not_put_back(tmp_path):
    path = str(tmp_path / 'sub' / 'f')
    os.mkdir(str(tmp_path / 'sub'))
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('x')
    saved = b.snapshot([path])
    shutil.rmtree(str(tmp_path / 'sub'))
    problems = b.restore(saved)
    assert len(problems) == 1 and problems[0].startswith(path + ': ')


def test_apply_plan_restores_files_and_created_dirs_when_a_command_fails(tmp_path):
    root = str(tmp_path)
    write(root, 'etc/existing', 'old\n')
    guarded = os.path.join(root, 'boot/generated')
    write(root, 'boot/generated', 'generated\n')
    before = tree_state(root)
    plan = b.Plan('', '', (b.FileChange(os.path.join(root, 'etc/existing'), 'old\n', 'new\n'),
                           b.FileChange(os.path.join(root, 'etc/new.d/file'), None, 'file\n')),
                  (('/bin/sh', '-c', 'echo clobbered > "$1"; echo "it broke" >&2; exit 3', 'sh', guarded),), True)
    with pytest.raises(b.BootloaderError) as error:
        b.apply_plan(plan, [guarded], Runner())
    assert str(error.value) == ('regenerating the boot configuration failed (/bin/sh -c echo clobbered > "$1"; echo "it broke" >&2; exit 3 sh %s '
                                'exited with 3): it broke; the previous files were restored, nothing changed' % guarded)
    assert tree_state(root) == before
    assert not os.path.exists(os.path.join(root, 'etc/new.d'))


def test_apply_plan_runs_verify_and_restores_when_it_fails(tmp_path):
    root = str(tmp_path)
    path = os.path.join(root, 'f')
    plan = b.Plan('', '', (b.FileChange(path, None, 'x\n'),), (), True)

    def verify():
        assert read(root, 'f') == 'x\n'
        raise b.BootloaderError('verification failed')
    with pytest.raises(b.BootloaderError, match='^verification failed; the previous files were restored, nothing changed$'):
        b.apply_plan(plan, [], Runner(), verify)
    assert not os.path.exists(path)


def test_apply_plan_reports_changed_paths(tmp_path):
    root = str(tmp_path)
    path = os.path.join(root, 'etc', 'f')
    plan = b.Plan('', '', (b.FileChange(path, None, 'x\n'),), (), True)
    assert b.apply_plan(plan, [], Runner()) == [path]
    plan = b.Plan('', '', (b.FileChange(path, 'x\n', None),), (), True)
    assert b.apply_plan(plan, [], Runner()) == [path]
    assert not os.path.exists(path)


def test_apply_plan_refuses_a_file_without_a_directory_and_changes_nothing(tmp_path):
    root = str(tmp_path)
    plan = b.Plan('', '', (b.FileChange(os.path.join(root, 'a/b/c/f'), None, 'x\n'),), (), True)
    with pytest.raises(b.BootloaderError, match='cannot write .*/a/b/c/f: directory .*/a/b/c does not exist; create it or choose another bootloader'):
        b.apply_plan(plan, [], Runner())
    assert os.listdir(root) == []


def test_apply_plan_refuses_when_not_writable(tmp_path, monkeypatch):
    root = str(tmp_path)
    write(root, 'etc/f', 'x\n')
    monkeypatch.setattr(b.os, 'access', lambda path, mode: False)
    plan = b.Plan('', '', (b.FileChange(os.path.join(root, 'etc/f'), 'x\n', 'y\n'),), (), True)
    with pytest.raises(b.BootloaderError, match='cannot write .*/etc/f: permission denied; run the task as root'):
        b.apply_plan(plan, [], Runner())
    assert read(root, 'etc/f') == 'x\n'


# --- detection ------------------------------------------------------------------

def test_detect_grub(debian):
    detection = b.detect(debian)
    assert detection.backend == 'grub'
    assert detection.evidence == ['%s/etc/default/grub exists' % debian,
                                  'update-grub executable at %s/usr/sbin/update-grub' % debian,
                                  'grub-mkconfig executable at %s/usr/sbin/grub-mkconfig' % debian]


def test_detect_grubby(fedora):
    assert b.detect(fedora) == b.Detection('grubby', ['grubby executable at %s/usr/sbin/grubby' % fedora])


def test_detect_kernel_install(sdboot):
    assert b.detect(sdboot) == b.Detection('kernel-install', ['boot entries in %s/efi/loader/entries' % sdboot,
                                                              'kernel-install executable at %s/usr/bin/kernel-install' % sdboot])


def test_detect_kernel_install_by_its_cmdline_file(sdboot):
    os.remove(os.path.join(sdboot, 'usr/bin/kernel-install'))
    with pytest.raises(b.BootloaderError):
        b.detect(sdboot)
    write(sdboot, 'etc/kernel/cmdline', 'ro\n')
    assert b.detect(sdboot).evidence == ['boot entries in %s/efi/loader/entries' % sdboot, '%s/etc/kernel/cmdline exists' % sdboot]


def test_detect_prefers_grubby_over_kernel_install_and_grub(sdboot):
    install_tool(sdboot, 'update-grub')
    write(sdboot, 'etc/default/grub', 'GRUB_CMDLINE_LINUX=""\n')
    assert b.detect(sdboot).backend == 'kernel-install'
    install_tool(sdboot, 'grubby.py')
    assert b.detect(sdboot).backend == 'grubby'


def test_detect_grub_needs_a_tool(debian):
    for name in ('update-grub', 'grub-mkconfig'):
        os.remove(os.path.join(debian, 'usr/sbin', name))
    with pytest.raises(b.BootloaderError) as error:
        b.detect(debian)
    message = str(error.value)
    assert message.startswith('no supported boot configuration found under %s: looked for a grubby executable in /usr/local/sbin' % debian)
    assert '/boot/loader/entries, /efi/loader/entries, /boot/efi/loader/entries' in message
    assert 'update-grub, grub-mkconfig or grub2-mkconfig' in message
    assert message.endswith('Set bootloader to grub, grubby or kernel-install to choose one explicitly')


def test_detect_grub_with_only_a_dropin_dir(debian):
    os.remove(os.path.join(debian, 'etc/default/grub'))
    assert b.detect(debian).evidence[0] == '%s/etc/default/grub.d exists' % debian


def test_select_explicit_choice(debian):
    backend = b.select(debian, Runner(), 'grub')
    assert isinstance(backend, b.GrubBackend)
    assert backend.evidence[0] == 'chosen explicitly'


@pytest.mark.parametrize('choice, message', [
    ('grubby', 'bootloader grubby was chosen but is not installed under .*: no grubby executable'),
    ('kernel-install', r'bootloader kernel-install was chosen but is not installed .*: no boot entries \(\*.conf\)'),
])
def test_select_refuses_a_backend_that_is_not_installed(debian, choice, message):
    with pytest.raises(b.BootloaderError, match=message):
        b.select(debian, Runner(), choice)


def test_select_refuses_grub_when_missing(sdboot):
    with pytest.raises(b.BootloaderError, match='bootloader grub was chosen but is not installed .*: it needs /etc/default/grub'):
        b.select(sdboot, Runner(), 'grub')


def test_select_refuses_unknown_backend(debian):
    with pytest.raises(b.BootloaderError, match="unknown bootloader 'lilo': choose one of auto, grub, grubby, kernel-install"):
        b.select(debian, Runner(), 'lilo')


def test_select_returns_each_backend(fedora, sdboot):
    assert isinstance(b.select(fedora, Runner()), b.GrubbyBackend)
    assert isinstance(b.select(sdboot, Runner()), b.KernelInstallBackend)


# --- grub -----------------------------------------------------------------------------

@pytest.mark.parametrize('name', ['90-luo-liveupdate.cfg', 'x.cfg', '99-z.cfg'])
def test_validate_grub_dropin_accepts(name):
    b.validate_grub_dropin(name)


@pytest.mark.parametrize('name, message', [
    ('', 'must be a plain file name'),
    ('../grub', 'must be a plain file name'),
    ('.hidden.cfg', 'must be a plain file name'),
    (None, 'must be a plain file name'),
    ('90-luo', r"does not end in .cfg: grub-mkconfig only sources /etc/default/grub.d/\*.cfg; use e.g. 90-luo.cfg"),
])
def test_validate_grub_dropin_refuses(name, message):
    with pytest.raises(b.BootloaderError, match=message):
        b.validate_grub_dropin(name)


@pytest.mark.parametrize('text', ['plain', 'a="b c"', '$HOME `id` \\ "q" $(x) \'s\''])
def test_shell_escape_survives_the_shell(text):
    out = subprocess.run(['/bin/sh', '-c', 'printf %%s "%s"' % b.shell_escape(text)], capture_output=True, text=True, check=True).stdout
    assert out == text


def pair(linux, default):
    return c.parse(linux), c.parse(default)


def test_render_grub_dropin_appends_when_only_adding():
    text = b.render_grub_dropin(pair('console=ttyS0', 'quiet'), pair('console=ttyS0', 'quiet liveupdate=on kho=on'))
    assert text == b.DROPIN_HEADER + 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on kho=on"\n'


def test_render_grub_dropin_appends_to_empty():
    text = b.render_grub_dropin(pair('', ''), pair('', 'a="b c"'))
    assert text == b.DROPIN_HEADER + 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT a=\\"b c\\""\n'


def test_render_grub_dropin_full_value_when_removing():
    text = b.render_grub_dropin(pair('console=ttyS0 nokaslr', 'quiet'), pair('console=ttyS0', 'liveupdate=on'))
    assert text == b.DROPIN_HEADER + 'GRUB_CMDLINE_LINUX="console=ttyS0"\nGRUB_CMDLINE_LINUX_DEFAULT="liveupdate=on"\n'


def test_render_grub_dropin_full_value_when_init_args():
    text = b.render_grub_dropin(pair('', 'quiet -- single'), pair('', 'quiet kho=on -- single'))
    assert text == b.DROPIN_HEADER + 'GRUB_CMDLINE_LINUX_DEFAULT="quiet kho=on -- single"\n'


def test_render_grub_dropin_none_when_nothing_to_do():
    assert b.render_grub_dropin(pair('a', 'b'), pair('a', 'b')) is None


def test_grub_cfg_cmdlines():
    text = 'menuentry x {\n\tlinux\t/vmlinuz root=/dev/vda1 ro quiet\n  linux16 /k\n}\nlinuxefi /k a=1\n  # linux /x b\ninitrd /i\n'
    assert [c.render(line) for line in b.grub_cfg_cmdlines(text)] == ['root=/dev/vda1 ro quiet', '', 'a=1']
    assert b.grub_cfg_cmdlines(None) == []


def test_grub_adds_params_with_a_dropin_and_update_grub(debian):
    runner = Runner()
    backend = b.select(debian, runner)
    grub_before = read(debian, 'etc/default/grub')
    plan = backend.plan(LUO)
    assert plan.changed
    assert plan.next_before == 'console=ttyS0 quiet'
    assert plan.next_after == 'console=ttyS0 quiet liveupdate=on kho=on'
    assert plan.files == (b.FileChange(os.path.join(debian, DEBIAN_DROPIN), None, b.DROPIN_HEADER +
                                       'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on kho=on"\n'),)
    assert plan.commands == ((os.path.join(debian, 'usr/sbin/update-grub'),),)
    assert backend.outputs(plan) == [os.path.join(debian, 'boot/grub/grub.cfg')]
    assert read(debian, DEBIAN_DROPIN) is None
    changed = backend.apply(plan, LUO)
    assert changed == [os.path.join(debian, 'boot/grub/grub.cfg'), os.path.join(debian, DEBIAN_DROPIN)]
    assert read(debian, 'etc/default/grub') == grub_before
    assert stat.S_IMODE(os.stat(os.path.join(debian, DEBIAN_DROPIN)).st_mode) == 0o644
    assert grub_linux_lines(debian) == [
        'root=/dev/vda1 ro console=ttyS0 quiet liveupdate=on kho=on', 'root=/dev/vda1 ro single console=ttyS0',
        'root=/dev/vda1 ro console=ttyS0 quiet liveupdate=on kho=on', 'root=/dev/vda1 ro single console=ttyS0']
    assert read(debian, 'calls.log') == 'update-grub \ngrub-mkconfig -o %s/boot/grub/grub.cfg\n' % debian
    # The settings are read with sh and an argument list, as grub-mkconfig sources them.
    evaluations = [call for call in runner.calls if call[0] == b.SHELL]
    assert evaluations and all(call[1:4] == ['-c', b.GRUB_EVAL_SCRIPT, 'sh'] for call in evaluations)
    assert backend.next_cmdline(plan) == plan.next_after


def test_grub_second_run_changes_nothing(debian):
    backend = b.select(debian, Runner())
    backend.apply(backend.plan(LUO), LUO)
    before = tree_state(debian)
    plan = b.select(debian, Runner()).plan(LUO)
    assert plan == b.Plan('console=ttyS0 quiet liveupdate=on kho=on', 'console=ttyS0 quiet liveupdate=on kho=on', (), (), False)
    assert tree_state(debian) == before


def test_grub_plan_changes_nothing_on_disk(debian):
    before = tree_state(debian)
    b.select(debian, Runner()).plan(LUO + [Change('quiet', ANY, False)])
    assert tree_state(debian) == before
    assert read(debian, 'calls.log') is None


def test_grub_removes_a_param_set_in_etc_default_grub_with_a_full_value(debian):
    changes = LUO + [Change('quiet', ANY, False)]
    backend = b.select(debian, Runner())
    plan = backend.plan(changes)
    assert plan.next_after == 'console=ttyS0 liveupdate=on kho=on'
    assert plan.files[0].after == b.DROPIN_HEADER + 'GRUB_CMDLINE_LINUX_DEFAULT="liveupdate=on kho=on"\n'
    backend.apply(plan, changes)
    assert 'quiet' not in read(debian, 'boot/grub/grub.cfg')
    assert not b.select(debian, Runner()).plan(changes).changed


def test_grub_replaces_a_value_set_in_grub_cmdline_linux(debian):
    os.remove(os.path.join(debian, 'etc/default/grub.d/lab.cfg'))
    write(debian, 'etc/default/grub', 'GRUB_CMDLINE_LINUX="console=ttyS0 kho=off"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    backend = b.select(debian, Runner())
    plan = backend.plan(LUO)
    assert plan.next_after == 'console=ttyS0 quiet liveupdate=on kho=on'
    assert plan.files[0].after == b.DROPIN_HEADER + ('GRUB_CMDLINE_LINUX="console=ttyS0"\n'
                                                     'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on kho=on"\n')


def test_grub_param_already_in_etc_default_grub_needs_no_dropin(debian):
    write(debian, 'etc/default/grub.d/lab.cfg', 'GRUB_CMDLINE_LINUX="console=ttyS0 liveupdate=on kho=on"\n')
    backend = b.select(debian, Runner())
    # grub.cfg from the fixture predates the edit above: regenerating is what is missing.
    plan = backend.plan(LUO)
    assert plan.files == ()
    assert plan.commands and plan.changed
    backend.apply(plan, LUO)
    assert not b.select(debian, Runner()).plan(LUO).changed
    assert read(debian, DEBIAN_DROPIN) is None


def test_grub_dropin_is_shared_by_tasks_and_removed_when_empty(debian):
    first = [Change('liveupdate', 'on', True)]
    second = [Change('kho_scratch', '512M', True)]
    for changes in (first, second):
        backend = b.select(debian, Runner())
        backend.apply(backend.plan(changes), changes)
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on kho_scratch=512M"' in read(debian, DEBIAN_DROPIN)
    assert not b.select(debian, Runner()).plan(first).changed
    undo = [Change('liveupdate', ANY, False), Change('kho-scratch', ANY, False)]
    backend = b.select(debian, Runner())
    plan = backend.plan(undo)
    assert plan.files[0].after is None
    backend.apply(plan, undo)
    assert read(debian, DEBIAN_DROPIN) is None
    assert grub_linux_lines(debian)[0] == 'root=/dev/vda1 ro console=ttyS0 quiet'


def test_grub_later_edits_of_etc_default_grub_still_count(debian):
    backend = b.select(debian, Runner())
    backend.apply(backend.plan(LUO), LUO)
    write(debian, 'etc/default/grub', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\n')
    plan = b.select(debian, Runner()).plan(LUO)
    assert plan.files == ()
    assert plan.next_before == 'console=ttyS0 quiet splash liveupdate=on kho=on'


def test_grub_value_with_spaces_reaches_grub_cfg(debian):
    changes = [Change('dyndbg', 'file luo.c +p', True)]
    backend = b.select(debian, Runner())
    plan = backend.plan(changes)
    # Single quotes for GRUB inside the shell's double quotes; GRUB's linux command double-quotes it for the kernel.
    assert plan.files[0].after.endswith('GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT dyndbg=\'file luo.c +p\'"\n')
    backend.apply(plan, changes)
    assert grub_linux_lines(debian)[0] == 'root=/dev/vda1 ro console=ttyS0 quiet "dyndbg=file luo.c +p"'


def test_grub_regenerates_a_stale_grub_cfg(debian):
    backend = b.select(debian, Runner())
    backend.apply(backend.plan(LUO), LUO)
    shutil.copy(os.path.join(FIXTURES, 'trees/debian-grub/boot/grub/grub.cfg'), os.path.join(debian, 'boot/grub/grub.cfg'))
    plan = b.select(debian, Runner()).plan(LUO)
    assert plan.files == () and plan.commands and plan.changed
    os.remove(os.path.join(debian, 'boot/grub/grub.cfg'))
    assert b.select(debian, Runner()).plan(LUO).commands


def test_grub_refuses_when_a_later_dropin_overrides(debian):
    write(debian, 'etc/default/grub.d/95-cloud.cfg', 'GRUB_CMDLINE_LINUX_DEFAULT="console=tty1"\n')
    before = tree_state(debian)
    with pytest.raises(b.BootloaderError) as error:
        b.select(debian, Runner()).plan(LUO)
    assert str(error.value) == (
        'the GRUB settings still lack the requested parameters after %s/%s (console=ttyS0 console=tty1): %s/etc/default/grub.d/95-cloud.cfg '
        'set GRUB_CMDLINE_LINUX or GRUB_CMDLINE_LINUX_DEFAULT after it; give grub_dropin a name that sorts after them, e.g. 99-luo-liveupdate.cfg'
        % (debian, DEBIAN_DROPIN, debian))
    assert tree_state(debian) == before
    backend = b.select(debian, Runner(), grub_dropin='99-luo-liveupdate.cfg')
    assert backend.plan(LUO).next_after == 'console=ttyS0 console=tty1 liveupdate=on kho=on'


def test_grub_dropins_are_sourced_in_bytewise_order(debian):
    # dash sorts the glob bytewise (B before a), whatever the locale says.
    write(debian, 'etc/default/grub.d/a.cfg', 'GRUB_CMDLINE_LINUX_DEFAULT="from-a"\n')
    write(debian, 'etc/default/grub.d/B.cfg', 'GRUB_CMDLINE_LINUX_DEFAULT="from-B"\n')
    write(debian, 'etc/default/grub.d/not-a-dropin.conf', 'GRUB_CMDLINE_LINUX_DEFAULT="ignored"\n')
    backend = b.select(debian, Runner())
    files, position = backend._sources()
    assert [os.path.relpath(path, debian) for path in files] == [
        'etc/default/grub', DEBIAN_DROPIN, 'etc/default/grub.d/B.cfg', 'etc/default/grub.d/a.cfg', 'etc/default/grub.d/lab.cfg']
    assert position == 1
    assert backend.plan([]).next_before == 'console=ttyS0 from-a'
    with pytest.raises(b.BootloaderError, match=r'\(console=ttyS0 from-a\): .*/B.cfg set GRUB_CMDLINE_LINUX'):
        backend.plan(LUO)


def test_grub_settings_error_names_the_files(debian):
    write(debian, 'etc/default/grub', 'GRUB_CMDLINE_LINUX="unclosed\n')
    with pytest.raises(b.BootloaderError, match=r'reading the GRUB settings from .*/etc/default/grub, .* failed \(exit 2\): .*fix those files'):
        b.select(debian, Runner()).plan(LUO)


def test_grub_settings_output_of_sourced_files_is_ignored(debian):
    write(debian, 'etc/default/grub', 'echo noise\nprintf "more\\0noise"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    assert b.select(debian, Runner()).plan(LUO).next_before == 'console=ttyS0 quiet'


def test_grub_evaluate_without_files(debian):
    assert b.select(debian, Runner()).evaluate([]) == []


def test_grub_restores_everything_when_update_grub_fails(debian):
    write(debian, 'fail-mkconfig', '/usr/sbin/grub-probe: error: failed to get canonical path of `/dev/root\'.\n')
    before = tree_state(debian)
    backend = b.select(debian, Runner())
    plan = backend.plan(LUO)
    with pytest.raises(b.BootloaderError) as error:
        backend.apply(plan, LUO)
    assert str(error.value) == ('regenerating the boot configuration failed (%s/usr/sbin/update-grub exited with 1): /usr/sbin/grub-probe: error: '
                                'failed to get canonical path of `/dev/root\'.; the previous files were restored, nothing changed' % debian)
    assert tree_state(debian) == before


def test_grub_restores_a_previous_dropin_exactly(debian):
    write(debian, DEBIAN_DROPIN, b.DROPIN_HEADER + 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on"\n')
    os.chmod(os.path.join(debian, DEBIAN_DROPIN), 0o600)
    write(debian, 'fail-mkconfig', 'boom\n')
    before = tree_state(debian)
    backend = b.select(debian, Runner())
    with pytest.raises(b.BootloaderError, match='boom; the previous files were restored'):
        backend.apply(backend.plan(LUO), LUO)
    assert tree_state(debian) == before


def test_grub_restores_when_grub_cfg_lacks_the_change(debian):
    write(debian, 'ignore-dropins', '')
    before = tree_state(debian)
    backend = b.select(debian, Runner())
    with pytest.raises(b.BootloaderError, match=r'update-grub regenerated .*/boot/grub/grub.cfg but no linux line in it has the requested parameters'):
        backend.apply(backend.plan(LUO), LUO)
    assert tree_state(debian) == before


def test_grub_creates_the_dropin_dir(debian):
    shutil.rmtree(os.path.join(debian, 'etc/default/grub.d'))
    backend = b.select(debian, Runner())
    backend.apply(backend.plan(LUO), LUO)
    assert read(debian, DEBIAN_DROPIN).endswith('"$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on kho=on"\n')
    assert grub_linux_lines(debian)[0] == 'root=/dev/vda1 ro quiet liveupdate=on kho=on'


def test_grub_mkconfig_without_update_grub(debian):
    os.remove(os.path.join(debian, 'usr/sbin/update-grub'))
    backend = b.select(debian, Runner())
    plan = backend.plan(LUO)
    assert plan.commands == ((os.path.join(debian, 'usr/sbin/grub-mkconfig'), '-o', os.path.join(debian, 'boot/grub/grub.cfg')),)
    backend.apply(plan, LUO)
    assert grub_linux_lines(debian)[0].endswith('liveupdate=on kho=on')


def test_grub2_mkconfig_writes_boot_grub2(debian):
    os.remove(os.path.join(debian, 'usr/sbin/update-grub'))
    os.rename(os.path.join(debian, 'usr/sbin/grub-mkconfig'), os.path.join(debian, 'usr/sbin/grub2-mkconfig'))
    os.makedirs(os.path.join(debian, 'boot/grub2'))
    shutil.move(os.path.join(debian, 'boot/grub/grub.cfg'), os.path.join(debian, 'boot/grub2/grub.cfg'))
    backend = b.select(debian, Runner())
    assert backend.command == [os.path.join(debian, 'usr/sbin/grub2-mkconfig'), '-o', os.path.join(debian, 'boot/grub2/grub.cfg')]
    backend.apply(backend.plan(LUO), LUO)
    assert grub_linux_lines(debian, 'boot/grub2/grub.cfg')[0].endswith('liveupdate=on kho=on')


def test_grub_mkconfig_uses_the_efi_grub_cfg_when_that_is_what_exists(debian):
    os.remove(os.path.join(debian, 'usr/sbin/update-grub'))
    os.makedirs(os.path.join(debian, 'boot/efi/EFI/debian'))
    shutil.move(os.path.join(debian, 'boot/grub/grub.cfg'), os.path.join(debian, 'boot/efi/EFI/debian/grub.cfg'))
    os.rmdir(os.path.join(debian, 'boot/grub'))
    backend = b.select(debian, Runner())
    assert backend.grub_cfg == os.path.join(debian, 'boot/efi/EFI/debian/grub.cfg')


def test_grub_mkconfig_writes_a_new_grub_cfg_in_its_own_dir(debian):
    os.remove(os.path.join(debian, 'usr/sbin/update-grub'))
    os.remove(os.path.join(debian, 'boot/grub/grub.cfg'))
    assert b.select(debian, Runner()).grub_cfg == os.path.join(debian, 'boot/grub/grub.cfg')


def test_grub_mkconfig_without_any_grub_dir(debian):
    os.remove(os.path.join(debian, 'usr/sbin/update-grub'))
    shutil.rmtree(os.path.join(debian, 'boot/grub'))
    with pytest.raises(b.BootloaderError, match=r'no grub.cfg to regenerate: looked for .*/boot/grub/grub.cfg, .*/boot/grub2/grub.cfg; install GRUB'):
        b.select(debian, Runner())


def test_grub_refuses_a_mkconfig_that_ignores_dropins(debian):
    write(debian, 'usr/sbin/grub-mkconfig', '#!/bin/sh\n. /etc/default/grub\n')
    with pytest.raises(b.BootloaderError, match=r'grub-mkconfig does not read /etc/default/grub.d/\*.cfg drop-ins .*use bootloader: grubby'):
        b.select(debian, Runner())


def test_grub_backend_refuses_a_bad_dropin_name(debian):
    with pytest.raises(b.BootloaderError, match='does not end in .cfg'):
        b.select(debian, Runner(), grub_dropin='luo.conf')


# --- grubby ---------------------------------------------------------------------------

GRUBBY_INFO = '''index=0
kernel="/boot/vmlinuz-6.12.5-200.fc41.x86_64"
args="ro rootflags=subvol=root rhgb quiet"
root="UUID=0f1e"
initrd="/boot/initramfs-6.12.5-200.fc41.x86_64.img"
title="Fedora Linux (6.12.5-200.fc41.x86_64) 41 (Server Edition)"
id="x-6.12.5"
index=1
kernel=/boot/vmlinuz-6.11.9
args="root=/dev/sda1 ro a="b c""
index=2
non linux entry
'''


def test_parse_grubby_info():
    entries = b.parse_grubby_info(GRUBBY_INFO)
    assert [(e.index, e.kernel, c.render(e.cmdline)) for e in entries] == [
        ('0', '/boot/vmlinuz-6.12.5-200.fc41.x86_64', 'root=UUID=0f1e ro rootflags=subvol=root rhgb quiet'),
        ('1', '/boot/vmlinuz-6.11.9', 'root=/dev/sda1 ro a="b c"'),
    ]
    assert b.parse_grubby_info('') == []


def entry(text, index='0'):
    return b.GrubbyEntry(index, '/boot/vmlinuz-%s' % index, c.parse(text))


def test_grubby_arguments():
    entries = [entry('ro quiet kho-scratch=1G console=tty0 console=ttyS0'), entry('ro liveupdate=on kho_scratch=2G', '1')]
    changes = [Change('liveupdate', 'on', True), Change('kho_scratch', '4G', True), Change('quiet', ANY, False),
               Change('console', 'tty0', False), Change('nokaslr', ANY, False)]
    assert b.grubby_arguments(entries, changes) == (['kho-scratch', 'kho_scratch', 'quiet', 'console=tty0'], ['liveupdate=on', 'kho_scratch=4G'])
    assert b.grubby_arguments(entries, [Change('ro', None, True)]) == ([], [])


def test_grubby_adds_and_removes_on_all_entries(fedora):
    changes = LUO + [Change('rhgb', ANY, False)]
    backend = b.select(fedora, Runner())
    plan = backend.plan(changes)
    grubby = os.path.join(fedora, 'usr/sbin/grubby')
    assert plan.commands == ((grubby, '--update-kernel=ALL', '--remove-args=rhgb', '--args=liveupdate=on kho=on'),)
    assert plan.next_before == 'root=UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro rootflags=subvol=root rhgb quiet'
    assert plan.next_after == 'root=UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro rootflags=subvol=root quiet liveupdate=on kho=on'
    assert plan.files == (b.FileChange(os.path.join(fedora, 'etc/kernel/cmdline'),
                                       'root=UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro rootflags=subvol=root rhgb quiet\n',
                                       'root=UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro rootflags=subvol=root quiet liveupdate=on kho=on\n'),)
    assert backend.outputs(plan) == []
    changed = backend.apply(plan, changes)
    assert changed == sorted(os.path.join(fedora, path) for path in (FEDORA_NEW, FEDORA_OLD, 'etc/kernel/cmdline'))
    for path in (FEDORA_NEW, FEDORA_OLD):
        assert 'options root=UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 ro rootflags=subvol=root quiet liveupdate=on kho=on\n' in read(fedora, path)
    assert backend.next_cmdline(plan) == plan.next_after
    second = b.select(fedora, Runner()).plan(changes)
    assert not second.changed and second.commands == () and second.files == ()


def test_grubby_without_etc_kernel_cmdline_only_runs_grubby(fedora):
    os.remove(os.path.join(fedora, 'etc/kernel/cmdline'))
    backend = b.select(fedora, Runner())
    plan = backend.plan(LUO)
    assert plan.files == ()
    backend.apply(plan, LUO)
    assert read(fedora, 'etc/kernel/cmdline') is None


def test_grubby_default_kernel_only(fedora):
    backend = b.select(fedora, Runner(), kernel='DEFAULT')
    plan = backend.plan(LUO)
    assert plan.commands[0][1] == '--update-kernel=DEFAULT'
    backend.apply(plan, LUO)
    assert 'kho=on' in read(fedora, FEDORA_NEW)
    assert 'kho=on' not in read(fedora, FEDORA_OLD)


def test_grubby_follows_the_saved_default_entry(fedora):
    write(fedora, 'boot/grub2/grubenv', 'saved_entry=%s-6.11.9-300.fc41.x86_64\n' % FEDORA_ID)
    write(fedora, FEDORA_OLD, read(fedora, FEDORA_OLD).replace(' quiet', ' quiet kho=on'))
    plan = b.select(fedora, Runner()).plan([Change('kho', 'on', True)])
    assert plan.next_before.endswith('quiet kho=on')
    assert plan.next_before == plan.next_after
    assert plan.changed


def test_grubby_replaces_other_spellings(fedora):
    write(fedora, FEDORA_NEW, read(fedora, FEDORA_NEW).replace(' quiet', ' quiet kho-scratch=1G'))
    changes = [Change('kho_scratch', '2G', True)]
    backend = b.select(fedora, Runner())
    plan = backend.plan(changes)
    assert plan.commands[0][2:] == ('--remove-args=kho-scratch', '--args=kho_scratch=2G')
    backend.apply(plan, changes)
    assert read(fedora, FEDORA_NEW).count('kho') == 1 and 'kho_scratch=2G' in read(fedora, FEDORA_NEW)


def test_grubby_named_kernel(fedora):
    backend = b.select(fedora, Runner(), kernel='/boot/vmlinuz-6.11.9-300.fc41.x86_64')
    plan = backend.plan(LUO)
    assert plan.next_after.endswith('liveupdate=on kho=on')
    backend.apply(plan, LUO)
    assert 'kho=on' in read(fedora, FEDORA_OLD) and 'kho=on' not in read(fedora, FEDORA_NEW)


def test_grubby_unknown_kernel_is_refused(fedora):
    message = r'reading the boot entries failed \(.*--info=/boot/vmlinuz-0 exited with 1\): The param /boot/vmlinuz-0 is incorrect'
    with pytest.raises(b.BootloaderError, match=message):
        b.select(fedora, Runner(), kernel='/boot/vmlinuz-0').plan(LUO)


def test_grubby_without_entries_is_refused(fedora):
    shutil.rmtree(os.path.join(fedora, 'boot/loader/entries'))
    os.makedirs(os.path.join(fedora, 'boot/loader/entries'))
    with pytest.raises(b.BootloaderError, match='grubby --info=ALL lists no boot entry: give kernel as ALL, DEFAULT or the path of an installed kernel'):
        b.select(fedora, Runner()).plan(LUO)


def test_grubby_empty_listing_is_refused(tmp_path):
    root = str(tmp_path)
    write(root, 'usr/sbin/grubby', '#!/bin/sh\nexit 0\n')
    os.chmod(os.path.join(root, 'usr/sbin/grubby'), 0o755)
    with pytest.raises(b.BootloaderError, match='grubby --info=ALL lists no boot entry'):
        b.select(root, Runner()).plan(LUO)


def test_grubby_refuses_values_with_whitespace(fedora):
    with pytest.raises(b.BootloaderError, match="value for dyndbg is 'file x.c \\+p': grubby splits --args at whitespace"):
        b.select(fedora, Runner()).plan([Change('dyndbg', 'file x.c +p', True)])


@pytest.mark.parametrize('kernel', ['', '  ', None])
def test_grubby_refuses_an_empty_kernel(fedora, kernel):
    with pytest.raises(b.BootloaderError, match='is empty: give ALL, DEFAULT, an entry index or the path of a kernel image'):
        b.select(fedora, Runner(), kernel=kernel)


def test_grubby_failure_restores_every_file(fedora):
    write(fedora, 'fail-grubby', 'grubby fatal error: unable to write\n')
    before = tree_state(fedora)
    backend = b.select(fedora, Runner())
    with pytest.raises(b.BootloaderError) as error:
        backend.apply(backend.plan(LUO), LUO)
    assert 'exited with 1): grubby fatal error: unable to write; the previous files were restored, nothing changed' in str(error.value)
    assert tree_state(fedora) == before


def test_grubby_that_does_not_apply_the_change_is_caught(fedora):
    write(fedora, 'usr/sbin/grubby', read(fedora, 'usr/sbin/grubby').replace('return words + add', 'return words'))
    before = tree_state(fedora)
    backend = b.select(fedora, Runner())
    with pytest.raises(b.BootloaderError, match='grubby ran but the entries for /boot/vmlinuz-6.12.5-200.fc41.x86_64, /boot/vmlinuz-6.11.9-300.fc41.x86_64 '
                                                'still lack the requested parameters'):
        backend.apply(backend.plan(LUO), LUO)
    assert tree_state(fedora) == before


def test_grubby_guarded_files(fedora):
    guarded = b.select(fedora, Runner()).guarded()
    assert guarded == sorted(os.path.join(fedora, path) for path in (FEDORA_NEW, FEDORA_OLD, 'boot/grub2/grubenv', 'etc/default/grub'))


# --- kernel-install ------------------------------------------------------------------

def test_bls_options_and_version():
    text = 'title x\nversion 7.3.4\noptions a=1 b\noptions  c\noptionsx d\n'
    assert c.render(b.bls_options(text)) == 'a=1 b c'
    assert b.bls_version(text, '/e/x.conf') == '7.3.4'
    assert b.bls_version('title x\noptions\n', '/e/m-7.2.13.conf') == 'm-7.2.13'
    assert c.render(b.bls_options('title x\noptions\n')) == ''


def test_replace_bls_options():
    assert b.replace_bls_options('title x\noptions    a\nlinux /l\noptions b\n', 'a b c') == 'title x\noptions    a b c\nlinux /l\n'
    assert b.replace_bls_options('title x\noptions\n', 'a') == 'title x\noptions a\n'
    assert b.replace_bls_options('title x\nlinux /l', 'a') == 'title x\nlinux /l\noptions a\n'


def test_strip_boot_loader_args():
    cmdline = c.parse('BOOT_IMAGE=/vmlinuz initrd=\\x\\initrd root=/dev/vda1 initrd ro')
    assert c.render(b.strip_boot_loader_args(cmdline)) == 'root=/dev/vda1 initrd ro'


def test_kernel_install_creates_cmdline_from_proc_and_updates_own_entries(sdboot):
    foreign = read(sdboot, SDBOOT_FOREIGN)
    backend = b.select(sdboot, Runner())
    plan = backend.plan(LUO)
    options = 'root=UUID=6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d ro console=ttyS0 systemd.machine_id=%s' % SDBOOT_ID
    assert plan.next_before == options
    assert plan.next_after == options + ' liveupdate=on kho=on'
    assert plan.commands == ()
    assert [change.path for change in plan.files] == [os.path.join(sdboot, path) for path in ('etc/kernel/cmdline', SDBOOT_OLD, SDBOOT_NEW)]
    assert plan.files[0].before is None
    assert backend.outputs(plan) == []
    changed = backend.apply(plan, LUO)
    assert changed == sorted(os.path.join(sdboot, path) for path in ('etc/kernel/cmdline', SDBOOT_OLD, SDBOOT_NEW))
    assert read(sdboot, 'etc/kernel/cmdline') == options + ' liveupdate=on kho=on\n'
    assert 'options    %s liveupdate=on kho=on\n' % options in read(sdboot, SDBOOT_NEW)
    assert read(sdboot, SDBOOT_FOREIGN) == foreign
    assert backend.next_cmdline(plan) == plan.next_after
    assert not b.select(sdboot, Runner()).plan(LUO).changed


def test_kernel_install_does_not_create_cmdline_when_nothing_changes(sdboot):
    changes = [Change('console', 'ttyS0', True)]
    plan = b.select(sdboot, Runner()).plan(changes)
    assert plan == b.Plan(plan.next_before, plan.next_before, (), (), False)


def test_kernel_install_prefers_usr_lib_kernel_cmdline(sdboot):
    write(sdboot, 'usr/lib/kernel/cmdline', 'root=/dev/vda2 ro\n')
    plan = b.select(sdboot, Runner()).plan(LUO)
    assert plan.files[0] == b.FileChange(os.path.join(sdboot, 'etc/kernel/cmdline'), None, 'root=/dev/vda2 ro liveupdate=on kho=on\n')


def test_kernel_install_edits_an_existing_cmdline_keeping_its_mode(sdboot):
    write(sdboot, 'etc/kernel/cmdline', 'root=/dev/vda2 ro quiet\n')
    os.chmod(os.path.join(sdboot, 'etc/kernel/cmdline'), 0o600)
    changes = [Change('quiet', ANY, False)]
    backend = b.select(sdboot, Runner())
    backend.apply(backend.plan(changes), changes)
    assert read(sdboot, 'etc/kernel/cmdline') == 'root=/dev/vda2 ro\n'
    assert stat.S_IMODE(os.stat(os.path.join(sdboot, 'etc/kernel/cmdline')).st_mode) == 0o600


def test_kernel_install_entry_token_file_wins(sdboot):
    write(sdboot, 'etc/kernel/entry-token', '0123456789abcdef0123456789abcdef\n')
    backend = b.select(sdboot, Runner())
    assert backend.governed_entries() == [os.path.join(sdboot, SDBOOT_FOREIGN)]
    assert backend.plan(LUO).next_before == 'root=/dev/sdb2 ro quiet'


def test_kernel_install_without_token_governs_every_entry(sdboot):
    os.remove(os.path.join(sdboot, 'etc/machine-id'))
    backend = b.select(sdboot, Runner())
    assert len(backend.governed_entries()) == 3
    assert backend.entry_token() is None


def test_kernel_install_without_entries_of_this_machine_reports_the_cmdline_file(sdboot):
    write(sdboot, 'etc/machine-id', 'ffffffffffffffffffffffffffffffff\n')
    plan = b.select(sdboot, Runner()).plan(LUO)
    assert [change.path for change in plan.files] == [os.path.join(sdboot, 'etc/kernel/cmdline')]
    assert plan.next_after == plan.files[0].after.strip()


def test_kernel_install_entries_under_boot_too(sdboot):
    os.makedirs(os.path.join(sdboot, 'boot/loader/entries'))
    write(sdboot, 'boot/loader/entries/%s-7.10.0.conf' % SDBOOT_ID, 'title t\nversion 7.10.0\noptions root=/dev/vda1 ro\n')
    plan = b.select(sdboot, Runner()).plan(LUO)
    assert plan.next_after == 'root=/dev/vda1 ro liveupdate=on kho=on'
    assert len(plan.files) == 4


def test_kernel_install_restores_when_a_write_fails(sdboot, monkeypatch):
    before = tree_state(sdboot)
    backend = b.select(sdboot, Runner())
    plan = backend.plan(LUO)
    real_write = b.atomic_write
    written = []

    def failing_write(path, text, default_mode=0o644):
        if written:
            raise OSError(28, 'No space left on device', path)
        written.append(path)
        real_write(path, text, default_mode)
    monkeypatch.setattr(b, 'atomic_write', failing_write)
    with pytest.raises(b.BootloaderError, match=r'No space left on device.*; the previous files were restored, nothing changed'):
        backend.apply(plan, LUO)
    assert written
    assert tree_state(sdboot) == before
    assert not os.path.exists(os.path.join(sdboot, 'etc/kernel'))


def test_apply_plan_says_when_restoring_fails_too(tmp_path):
    root = str(tmp_path)
    write(root, 'boot/grub/grub.cfg', 'old\n')
    guarded = os.path.join(root, 'boot/grub/grub.cfg')
    plan = b.Plan('', '', (), (('/bin/sh', '-c', 'rm -rf "$1"; echo gone >&2; exit 1', 'sh', os.path.join(root, 'boot/grub')),), True)
    with pytest.raises(b.BootloaderError) as error:
        b.apply_plan(plan, [guarded], Runner())
    message = str(error.value)
    assert 'gone; restoring the previous files also failed for %s: [Errno 2] No such file or directory' % guarded in message
    assert message.endswith(': restore them from backups')


def test_apply_plan_cannot_create_a_directory(tmp_path, monkeypatch):
    root = str(tmp_path)
    os.mkdir(os.path.join(root, 'etc'))
    real_mkdir = os.mkdir

    def mkdir(path, mode=0o777):
        if path.endswith('kernel'):
            raise PermissionError(13, 'Permission denied', path)
        real_mkdir(path, mode)
    monkeypatch.setattr(b.os, 'mkdir', mkdir)
    plan = b.Plan('', '', (b.FileChange(os.path.join(root, 'etc/default/grub.d/x.cfg'), None, 'x\n'),
                           b.FileChange(os.path.join(root, 'etc/kernel/cmdline'), None, 'x\n')), (), True)
    os.mkdir(os.path.join(root, 'etc/default'))
    with pytest.raises(b.BootloaderError, match=r'cannot create .*/etc/kernel: .*Permission denied.*; run the task as root \(become: true\)'):
        b.apply_plan(plan, [], Runner())
    assert sorted(os.listdir(os.path.join(root, 'etc'))) == ['default']
    assert os.listdir(os.path.join(root, 'etc/default')) == []


def test_apply_plan_leaves_a_created_directory_that_is_no_longer_empty(tmp_path):
    root = str(tmp_path)
    os.mkdir(os.path.join(root, 'etc'))
    other = os.path.join(root, 'etc/new.d/other')
    plan = b.Plan('', '', (b.FileChange(os.path.join(root, 'etc/new.d/mine'), None, 'x\n'),),
                  (('/bin/sh', '-c', 'echo other > "$1"; exit 1', 'sh', other),), True)
    with pytest.raises(b.BootloaderError):
        b.apply_plan(plan, [], Runner())
    assert os.listdir(os.path.join(root, 'etc/new.d')) == ['other']


def test_grubby_next_entry_falls_back_to_the_first(fedora):
    backend = b.select(fedora, lambda argv: (0, '7\n', ''))
    entries = [entry('a', '0'), entry('b', '1')]
    assert backend._next_entry(entries) == entries[0]
    backend = b.select(fedora, lambda argv: (1, '', 'error'))
    assert backend._next_entry(entries) == entries[0]
    backend = b.select(fedora, lambda argv: (0, '1\n', ''))
    assert backend._next_entry(entries) == entries[1]
