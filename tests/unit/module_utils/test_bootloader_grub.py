# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The grub backend: the drop-in it writes, update-grub, and the grub.cfg it reads back.

GRUB reads the command line the drop-in puts into grub.cfg as GRUB script; a drop-in the module did not
write is never rewritten."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as c
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader import common, grub, grub_script, selection
from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline import ANY, Change
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host
from ansible_collections.luo.liveupdate.tests.unit.module_utils.bootloader_trees import (  # noqa: F401  pylint: disable=unused-import
    DEBIAN_DROPIN, FIXTURES, GRUB_SPECIAL_VALUES, LUO, Runner, debian, dropin_linux_line, grub_kernel_params, pair,
    read, tree_state, write)


def grub_linux_lines(root, path='boot/grub/grub.cfg'):
    return [c.render(line) for line in grub_script.grub_cfg_cmdlines(read(root, path))]


@pytest.mark.parametrize('name', ['90-luo-liveupdate.cfg', 'x.cfg', '99-z.cfg'])
def test_validate_grub_dropin_accepts(name):
    grub.validate_grub_dropin(name)


@pytest.mark.parametrize('name, message', [
    ('', 'must be a plain file name'),
    ('../grub', 'must be a plain file name'),
    ('.hidden.cfg', 'must be a plain file name'),
    (None, 'must be a plain file name'),
    ('90-luo', r"does not end in .cfg: grub-mkconfig only sources /etc/default/grub.d/\*.cfg; use e.g. 90-luo.cfg"),
])
def test_validate_grub_dropin_refuses(name, message):
    with pytest.raises(common.BootloaderError, match=message):
        grub.validate_grub_dropin(name)


@pytest.mark.parametrize('text', ['plain', 'a="b c"', '$HOME `id` \\ "q" $(x) \'s\''])
def test_shell_escape_survives_the_shell(text):
    out = subprocess.run(['/bin/sh', '-c', 'printf %%s "%s"' % grub.shell_escape(text)], capture_output=True, text=True, check=True).stdout
    assert out == text


@pytest.mark.parametrize('base, wanted, lines', [
    pytest.param(('console=ttyS0', 'quiet'), ('console=ttyS0', 'quiet liveupdate=on kho=on'),
                 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on kho=on"\n', id='appends when only adding'),
    pytest.param(('', ''), ('', 'a="b c"'),
                 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT a=\\"b c\\""\n', id='appends to empty'),
    pytest.param(('console=ttyS0 nokaslr', 'quiet'), ('console=ttyS0', 'liveupdate=on'),
                 'GRUB_CMDLINE_LINUX="console=ttyS0"\nGRUB_CMDLINE_LINUX_DEFAULT="liveupdate=on"\n', id='full value when removing'),
    pytest.param(('', 'quiet -- single'), ('', 'quiet kho=on -- single'),
                 'GRUB_CMDLINE_LINUX_DEFAULT="quiet kho=on -- single"\n', id='full value when init args'),
    pytest.param(('a', 'b'), ('a', 'b'), None, id='none when nothing to do'),
])
def test_render_grub_dropin(base, wanted, lines):
    text = grub.render_grub_dropin(pair(*base), pair(*wanted))
    assert text == (None if lines is None else grub.DROPIN_HEADER + lines)


def test_grub_adds_params_with_a_dropin_and_update_grub(debian):
    runner = Runner()
    backend = selection.select(Host(debian, runner))
    grub_before = read(debian, 'etc/default/grub')
    plan = backend.plan(LUO)
    assert plan.changed
    assert plan.next_before == 'console=ttyS0 quiet'
    assert plan.next_after == 'console=ttyS0 quiet liveupdate=on kho=on'
    assert plan.files == (common.FileChange(os.path.join(debian, DEBIAN_DROPIN), None, grub.DROPIN_HEADER +
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
    evaluations = [call for call in runner.calls if call[0] == grub.SHELL]
    assert evaluations and all(call[1:4] == ['-c', grub.GRUB_EVAL_SCRIPT, 'sh'] for call in evaluations)
    assert backend.next_cmdline(plan) == plan.next_after


def test_grub_second_run_changes_nothing(debian):
    backend = selection.select(Host(debian, Runner()))
    backend.apply(backend.plan(LUO), LUO)
    before = tree_state(debian)
    plan = selection.select(Host(debian, Runner())).plan(LUO)
    assert plan == common.Plan('console=ttyS0 quiet liveupdate=on kho=on', 'console=ttyS0 quiet liveupdate=on kho=on', (), (), False)
    assert tree_state(debian) == before


def test_grub_plan_changes_nothing_on_disk(debian):
    before = tree_state(debian)
    selection.select(Host(debian, Runner())).plan(LUO + [Change('quiet', ANY, False)])
    assert tree_state(debian) == before
    assert read(debian, 'calls.log') is None


def test_grub_removes_a_param_set_in_etc_default_grub_with_a_full_value(debian):
    changes = LUO + [Change('quiet', ANY, False)]
    backend = selection.select(Host(debian, Runner()))
    plan = backend.plan(changes)
    assert plan.next_after == 'console=ttyS0 liveupdate=on kho=on'
    assert plan.files[0].after == grub.DROPIN_HEADER + 'GRUB_CMDLINE_LINUX_DEFAULT="liveupdate=on kho=on"\n'
    backend.apply(plan, changes)
    assert 'quiet' not in read(debian, 'boot/grub/grub.cfg')
    assert not selection.select(Host(debian, Runner())).plan(changes).changed


def test_grub_replaces_a_value_set_in_grub_cmdline_linux(debian):
    os.remove(os.path.join(debian, 'etc/default/grub.d/lab.cfg'))
    write(debian, 'etc/default/grub', 'GRUB_CMDLINE_LINUX="console=ttyS0 kho=off"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    backend = selection.select(Host(debian, Runner()))
    plan = backend.plan(LUO)
    assert plan.next_after == 'console=ttyS0 quiet liveupdate=on kho=on'
    assert plan.files[0].after == grub.DROPIN_HEADER + ('GRUB_CMDLINE_LINUX="console=ttyS0"\n'
                                                        'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on kho=on"\n')


def test_grub_param_already_in_etc_default_grub_needs_no_dropin(debian):
    write(debian, 'etc/default/grub.d/lab.cfg', 'GRUB_CMDLINE_LINUX="console=ttyS0 liveupdate=on kho=on"\n')
    backend = selection.select(Host(debian, Runner()))
    # grub.cfg from the fixture predates the edit above: regenerating is what is missing.
    plan = backend.plan(LUO)
    assert plan.files == ()
    assert plan.commands and plan.changed
    backend.apply(plan, LUO)
    assert not selection.select(Host(debian, Runner())).plan(LUO).changed
    assert read(debian, DEBIAN_DROPIN) is None


def test_grub_dropin_is_shared_by_tasks_and_removed_when_empty(debian):
    first = [Change('liveupdate', 'on', True)]
    second = [Change('kho_scratch', '512M', True)]
    for changes in (first, second):
        backend = selection.select(Host(debian, Runner()))
        backend.apply(backend.plan(changes), changes)
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on kho_scratch=512M"' in read(debian, DEBIAN_DROPIN)
    assert not selection.select(Host(debian, Runner())).plan(first).changed
    undo = [Change('liveupdate', ANY, False), Change('kho-scratch', ANY, False)]
    backend = selection.select(Host(debian, Runner()))
    plan = backend.plan(undo)
    assert plan.files[0].after is None
    backend.apply(plan, undo)
    assert read(debian, DEBIAN_DROPIN) is None
    assert grub_linux_lines(debian)[0] == 'root=/dev/vda1 ro console=ttyS0 quiet'


def test_grub_later_edits_of_etc_default_grub_still_count(debian):
    backend = selection.select(Host(debian, Runner()))
    backend.apply(backend.plan(LUO), LUO)
    write(debian, 'etc/default/grub', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\n')
    plan = selection.select(Host(debian, Runner())).plan(LUO)
    assert plan.files == ()
    assert plan.next_before == 'console=ttyS0 quiet splash liveupdate=on kho=on'


def test_grub_value_with_spaces_reaches_grub_cfg(debian):
    changes = [Change('dyndbg', 'file luo.c +p', True)]
    backend = selection.select(Host(debian, Runner()))
    plan = backend.plan(changes)
    # Single quotes for GRUB inside the shell's double quotes; GRUB's linux command double-quotes it for the kernel.
    assert plan.files[0].after.endswith('GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT dyndbg=\'file luo.c +p\'"\n')
    backend.apply(plan, changes)
    assert grub_linux_lines(debian)[0] == 'root=/dev/vda1 ro console=ttyS0 quiet "dyndbg=file luo.c +p"'


def test_grub_regenerates_a_stale_grub_cfg(debian):
    backend = selection.select(Host(debian, Runner()))
    backend.apply(backend.plan(LUO), LUO)
    shutil.copy(os.path.join(FIXTURES, 'trees/debian-grub/boot/grub/grub.cfg'), os.path.join(debian, 'boot/grub/grub.cfg'))
    plan = selection.select(Host(debian, Runner())).plan(LUO)
    assert plan.files == () and plan.commands and plan.changed
    os.remove(os.path.join(debian, 'boot/grub/grub.cfg'))
    assert selection.select(Host(debian, Runner())).plan(LUO).commands


def test_grub_refuses_when_a_later_dropin_overrides(debian):
    write(debian, 'etc/default/grub.d/95-cloud.cfg', 'GRUB_CMDLINE_LINUX_DEFAULT="console=tty1"\n')
    before = tree_state(debian)
    with pytest.raises(common.BootloaderError) as error:
        selection.select(Host(debian, Runner())).plan(LUO)
    assert str(error.value) == (
        'the GRUB settings still lack the requested parameters after %s/%s (console=ttyS0 console=tty1): %s/etc/default/grub.d/95-cloud.cfg '
        'set GRUB_CMDLINE_LINUX or GRUB_CMDLINE_LINUX_DEFAULT after it; give grub_dropin a name that sorts after them, e.g. 99-luo-liveupdate.cfg'
        % (debian, DEBIAN_DROPIN, debian))
    assert tree_state(debian) == before
    backend = selection.select(Host(debian, Runner()), grub_dropin='99-luo-liveupdate.cfg')
    assert backend.plan(LUO).next_after == 'console=ttyS0 console=tty1 liveupdate=on kho=on'


def test_grub_dropins_are_sourced_in_bytewise_order(debian):
    # dash sorts the glob bytewise (B before a), whatever the locale says.
    write(debian, 'etc/default/grub.d/a.cfg', 'GRUB_CMDLINE_LINUX_DEFAULT="from-a"\n')
    write(debian, 'etc/default/grub.d/B.cfg', 'GRUB_CMDLINE_LINUX_DEFAULT="from-B"\n')
    write(debian, 'etc/default/grub.d/not-a-dropin.conf', 'GRUB_CMDLINE_LINUX_DEFAULT="ignored"\n')
    backend = selection.select(Host(debian, Runner()))
    files, position = backend._sources()
    assert [os.path.relpath(path, debian) for path in files] == [
        'etc/default/grub', DEBIAN_DROPIN, 'etc/default/grub.d/B.cfg', 'etc/default/grub.d/a.cfg', 'etc/default/grub.d/lab.cfg']
    assert position == 1
    assert backend.plan([]).next_before == 'console=ttyS0 from-a'
    with pytest.raises(common.BootloaderError, match=r'\(console=ttyS0 from-a\): .*/B.cfg set GRUB_CMDLINE_LINUX'):
        backend.plan(LUO)


def test_grub_settings_error_names_the_files(debian):
    write(debian, 'etc/default/grub', 'GRUB_CMDLINE_LINUX="unclosed\n')
    with pytest.raises(common.BootloaderError, match=r'reading the GRUB settings from .*/etc/default/grub, .* failed \(exit 2\): .*fix those files'):
        selection.select(Host(debian, Runner())).plan(LUO)


def test_grub_settings_output_of_sourced_files_is_ignored(debian):
    write(debian, 'etc/default/grub', 'echo noise\nprintf "more\\0noise"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    assert selection.select(Host(debian, Runner())).plan(LUO).next_before == 'console=ttyS0 quiet'


def test_grub_evaluate_without_files(debian):
    assert selection.select(Host(debian, Runner())).evaluate([]) == []


def test_grub_restores_everything_when_update_grub_fails(debian):
    write(debian, 'fail-mkconfig', '/usr/sbin/grub-probe: error: failed to get canonical path of `/dev/root\'.\n')
    before = tree_state(debian)
    backend = selection.select(Host(debian, Runner()))
    plan = backend.plan(LUO)
    with pytest.raises(common.BootloaderError) as error:
        backend.apply(plan, LUO)
    assert str(error.value) == ('regenerating the boot configuration failed (%s/usr/sbin/update-grub exited with 1): /usr/sbin/grub-probe: error: '
                                'failed to get canonical path of `/dev/root\'.; the previous files were restored, nothing changed' % debian)
    assert tree_state(debian) == before


def test_grub_restores_a_previous_dropin_exactly(debian):
    write(debian, DEBIAN_DROPIN, grub.DROPIN_HEADER + 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on"\n')
    os.chmod(os.path.join(debian, DEBIAN_DROPIN), 0o600)
    write(debian, 'fail-mkconfig', 'boom\n')
    before = tree_state(debian)
    backend = selection.select(Host(debian, Runner()))
    with pytest.raises(common.BootloaderError, match='boom; the previous files were restored'):
        backend.apply(backend.plan(LUO), LUO)
    assert tree_state(debian) == before


def test_grub_restores_when_grub_cfg_lacks_the_change(debian):
    write(debian, 'ignore-dropins', '')
    before = tree_state(debian)
    backend = selection.select(Host(debian, Runner()))
    with pytest.raises(common.BootloaderError, match=r'update-grub regenerated .*/boot/grub/grub.cfg but no linux line in it has the requested parameters'):
        backend.apply(backend.plan(LUO), LUO)
    assert tree_state(debian) == before


def test_grub_creates_the_dropin_dir(debian):
    shutil.rmtree(os.path.join(debian, 'etc/default/grub.d'))
    backend = selection.select(Host(debian, Runner()))
    backend.apply(backend.plan(LUO), LUO)
    assert read(debian, DEBIAN_DROPIN).endswith('"$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on kho=on"\n')
    assert grub_linux_lines(debian)[0] == 'root=/dev/vda1 ro quiet liveupdate=on kho=on'


def test_grub_mkconfig_without_update_grub(debian):
    os.remove(os.path.join(debian, 'usr/sbin/update-grub'))
    backend = selection.select(Host(debian, Runner()))
    plan = backend.plan(LUO)
    assert plan.commands == ((os.path.join(debian, 'usr/sbin/grub-mkconfig'), '-o', os.path.join(debian, 'boot/grub/grub.cfg')),)
    backend.apply(plan, LUO)
    assert grub_linux_lines(debian)[0].endswith('liveupdate=on kho=on')


def test_grub2_mkconfig_writes_boot_grub2(debian):
    os.remove(os.path.join(debian, 'usr/sbin/update-grub'))
    os.rename(os.path.join(debian, 'usr/sbin/grub-mkconfig'), os.path.join(debian, 'usr/sbin/grub2-mkconfig'))
    os.makedirs(os.path.join(debian, 'boot/grub2'))
    shutil.move(os.path.join(debian, 'boot/grub/grub.cfg'), os.path.join(debian, 'boot/grub2/grub.cfg'))
    backend = selection.select(Host(debian, Runner()))
    assert backend.command == [os.path.join(debian, 'usr/sbin/grub2-mkconfig'), '-o', os.path.join(debian, 'boot/grub2/grub.cfg')]
    backend.apply(backend.plan(LUO), LUO)
    assert grub_linux_lines(debian, 'boot/grub2/grub.cfg')[0].endswith('liveupdate=on kho=on')


def test_grub_mkconfig_uses_the_efi_grub_cfg_when_that_is_what_exists(debian):
    os.remove(os.path.join(debian, 'usr/sbin/update-grub'))
    os.makedirs(os.path.join(debian, 'boot/efi/EFI/debian'))
    shutil.move(os.path.join(debian, 'boot/grub/grub.cfg'), os.path.join(debian, 'boot/efi/EFI/debian/grub.cfg'))
    os.rmdir(os.path.join(debian, 'boot/grub'))
    backend = selection.select(Host(debian, Runner()))
    assert backend.grub_cfg == os.path.join(debian, 'boot/efi/EFI/debian/grub.cfg')


def test_grub_mkconfig_writes_a_new_grub_cfg_in_its_own_dir(debian):
    os.remove(os.path.join(debian, 'usr/sbin/update-grub'))
    os.remove(os.path.join(debian, 'boot/grub/grub.cfg'))
    assert selection.select(Host(debian, Runner())).grub_cfg == os.path.join(debian, 'boot/grub/grub.cfg')


def test_grub_mkconfig_without_any_grub_dir(debian):
    os.remove(os.path.join(debian, 'usr/sbin/update-grub'))
    shutil.rmtree(os.path.join(debian, 'boot/grub'))
    with pytest.raises(common.BootloaderError, match=r'no grub.cfg to regenerate: looked for .*/boot/grub/grub.cfg, .*/boot/grub2/grub.cfg; install GRUB'):
        selection.select(Host(debian, Runner()))


def test_grub_refuses_a_mkconfig_that_ignores_dropins(debian):
    write(debian, 'usr/sbin/grub-mkconfig', '#!/bin/sh\n. /etc/default/grub\n')
    with pytest.raises(common.BootloaderError, match=r'grub-mkconfig does not read /etc/default/grub.d/\*.cfg drop-ins .*use bootloader: grubby'):
        selection.select(Host(debian, Runner()))


def test_grub_backend_refuses_a_bad_dropin_name(debian):
    with pytest.raises(common.BootloaderError, match='does not end in .cfg'):
        selection.select(Host(debian, Runner()), grub_dropin='luo.conf')


@pytest.mark.parametrize('value', GRUB_SPECIAL_VALUES + ['`id`', '$(id)', 'plain'])
def test_dropin_quoting_survives_sh_then_grub(tmp_path, value):
    line = dropin_linux_line(tmp_path, value)
    assert grub_kernel_params(line) == [[('root', '/dev/vda1'), ('ro', None), ('x', value)]]


@pytest.mark.parametrize('value', ['7;echo', '$prefix', 'a#b', 'x|y', 'file luo.c +p'])
def test_grub_values_grub_would_rewrite_reach_the_kernel_intact(debian, value):
    changes = [Change('x', value, True), Change('liveupdate', 'on', True)]
    backend = selection.select(Host(debian, Runner()))
    backend.apply(backend.plan(changes), changes)
    grub_cfg = read(debian, 'boot/grub/grub.cfg')
    assert " x='%s' liveupdate=on\n" % value in grub_cfg
    assert grub_kernel_params(grub_cfg)[0][-2:] == [('x', value), ('liveupdate', 'on')]
    assert not selection.select(Host(debian, Runner())).plan(changes).changed


@pytest.mark.parametrize('value', ['bar\\', "it's"])
def test_grub_refuses_values_grub_cannot_pass_unchanged(debian, value):
    before = tree_state(debian)
    with pytest.raises(common.BootloaderError, match='^value for x is .*: GRUB hands'):
        selection.select(Host(debian, Runner())).plan([Change('x', value, True)])
    assert tree_state(debian) == before


@pytest.mark.parametrize('setting, problem', [
    ('quiet #debug', 'GRUB reads "#debug" and what follows as a comment'),
    ('quiet;echo hi', 'GRUB ends the linux command at ";" and runs what follows as a command of its own'),
    ('quiet bar\\', 'a backslash at the end of the text (in bar\\) would join the next line: remove it'),
    ("quiet a='x", "unclosed single quote in a='x: close it"),
    ('quiet a|b', 'GRUB has no "|" operator (in a|b): quote it'),
])
def test_grub_refuses_settings_grub_would_read_otherwise(debian, setting, problem):
    write(debian, 'etc/default/grub', 'GRUB_CMDLINE_LINUX_DEFAULT=\'%s\'\n' % setting.replace("'", "'\\''"))
    before = tree_state(debian)
    with pytest.raises(common.BootloaderError) as error:
        selection.select(Host(debian, Runner())).plan(LUO)
    assert str(error.value) == ('GRUB_CMDLINE_LINUX_DEFAULT as %s/etc/default/grub sets it (%s) does not reach the kernel as written: %s; '
                                'fix it there' % (debian, setting, problem))
    assert tree_state(debian) == before


def test_grub_keeps_words_grub_expands_at_boot(debian):
    write(debian, 'etc/default/grub', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet \\$vt_handoff nokaslr"\n')
    changes = LUO + [Change('nokaslr', ANY, False)]
    plan = selection.select(Host(debian, Runner())).plan(changes)
    assert plan.files[0].after.endswith('GRUB_CMDLINE_LINUX_DEFAULT="quiet \\$vt_handoff liveupdate=on kho=on"\n')


def install_script(root, name, text, mode=0o755):
    path = os.path.join(root, 'usr/bin', name)
    write(root, 'usr/bin/' + name, text)
    os.chmod(path, mode)
    return path


def test_grub_checks_the_regenerated_grub_cfg_with_grub_script_check(debian):
    install_script(debian, 'grub-script-check', '#!/bin/sh\necho "grub-script-check $*" >> "$(dirname "$0")/../../calls.log"\n'
                                                'echo "Syntax error at line 3" >&2\nexit 1\n')
    before = tree_state(debian)
    backend = selection.select(Host(debian, Runner()))
    with pytest.raises(common.BootloaderError) as error:
        backend.apply(backend.plan(LUO), LUO)
    assert str(error.value) == ('checking the regenerated %s/boot/grub/grub.cfg failed (%s/usr/bin/grub-script-check %s/boot/grub/grub.cfg exited '
                                'with 1): Syntax error at line 3; the previous files were restored, nothing changed' % (debian, debian, debian))
    assert tree_state(debian) == before
    assert read(debian, 'calls.log').endswith('grub-script-check %s/boot/grub/grub.cfg\n' % debian)


def test_grub_restores_when_grub_cannot_read_the_regenerated_grub_cfg(debian):
    # A grub-mkconfig that writes an operator GRUB has no rule for after the command line.
    mkconfig = read(debian, 'usr/sbin/grub-mkconfig').replace('ro %s %s\\n', 'ro %s %s |\\n')
    write(debian, 'usr/sbin/grub-mkconfig', mkconfig)
    before = tree_state(debian)
    backend = selection.select(Host(debian, Runner()))
    with pytest.raises(common.BootloaderError) as error:
        backend.apply(backend.plan(LUO), LUO)
    assert str(error.value).startswith('GRUB cannot read the regenerated %s/boot/grub/grub.cfg: line ' % debian)
    assert str(error.value).endswith('; the previous files were restored, nothing changed')
    assert tree_state(debian) == before


ADMIN_DROPIN = 'GRUB_TERMINAL=serial\nGRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\nGRUB_CMDLINE_LINUX="console=ttyS0,115200"\n'


@pytest.mark.parametrize('content', [ADMIN_DROPIN, '', 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on"\n',
                                     'x\n' + grub.DROPIN_HEADER])
def test_grub_refuses_a_dropin_it_did_not_write(debian, content):
    write(debian, DEBIAN_DROPIN, content)
    before = tree_state(debian)
    with pytest.raises(common.BootloaderError) as error:
        selection.select(Host(debian, Runner())).plan(LUO)
    assert str(error.value) == (
        'grub_dropin %s/%s exists but was not written by this module (its first line is not "%s"), so it holds settings of '
        'someone else that rewriting it would lose: give grub_dropin another name, e.g. 91-luo-liveupdate.cfg, or rename or '
        'remove that file' % (debian, DEBIAN_DROPIN, grub.DROPIN_HEADER.splitlines()[0]))
    assert tree_state(debian) == before


def test_grub_refuses_a_dropin_that_is_a_symlink(debian):
    os.symlink('../grub', os.path.join(debian, DEBIAN_DROPIN))
    before = tree_state(debian)
    with pytest.raises(common.BootloaderError, match='exists but was not written by this module'):
        selection.select(Host(debian, Runner())).plan(LUO)
    assert tree_state(debian) == before
    assert os.path.islink(os.path.join(debian, DEBIAN_DROPIN))


def test_grub_updates_a_dropin_it_wrote(debian):
    write(debian, DEBIAN_DROPIN, grub.DROPIN_HEADER + 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on"\n')
    backend = selection.select(Host(debian, Runner()))
    backend.apply(backend.plan(LUO), LUO)
    assert read(debian, DEBIAN_DROPIN).endswith('GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on kho=on"\n')


@pytest.mark.parametrize('name', ['a\0.cfg', 'a\n.cfg', 'a b.cfg', '$x.cfg', 'a;b.cfg'])
def test_validate_grub_dropin_refuses_names_sh_would_trip_on(name):
    with pytest.raises(common.BootloaderError) as error:
        grub.validate_grub_dropin(name)
    assert str(error.value) == ('grub_dropin %r must be a file name of letters, digits, "_", "-" and "." ending in .cfg, '
                                'e.g. 90-luo-liveupdate.cfg' % name)
