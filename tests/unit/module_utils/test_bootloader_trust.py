# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boot configuration cannot be damaged silently.

GRUB reads the command line the drop-in puts into grub.cfg as GRUB script;
files the module did not write are never rewritten; shared files keep every
byte the change does not touch; a regeneration command that cannot even be
started still gets every file restored.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import bootloader as b
from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as c
from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline import ANY, Change, Cmdline, Param
from ansible_collections.luo.liveupdate.tests.unit.module_utils.test_bootloader import (  # noqa: F401  pylint: disable=unused-import
    DEBIAN_DROPIN, FEDORA_NEW, LUO, SDBOOT_NEW, Runner, debian, fedora, read, sdboot, tree_state, write)

GRUB_SCRIPT_CHECK = shutil.which('grub-script-check')
needs_grub_script_check = pytest.mark.skipif(GRUB_SCRIPT_CHECK is None, reason='grub-script-check (Debian package grub-common) is not installed')

# Values GRUB would rewrite if they stood unquoted in a linux line of grub.cfg.
GRUB_SPECIAL_VALUES = ['7;echo', '$prefix', '${root}', 'a#b', '#x', 'file luo.c +p', '{x}', 'a|b', 'a&b', '<x>', '*', "[[", '!x', 'a(b)']


def pairs(cmdline):
    return [tuple(param) for param in cmdline.params]


def grub_kernel_params(text):
    """The kernel parameters of each linux line of text, as GRUB hands them over."""
    return [pairs(cmdline) for cmdline in b.grub_cfg_cmdlines(text)]


# --- reading grub.cfg as GRUB does ----------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('linux /v ro a=7;echo liveupdate=on\n', [('ro', None), ('a', '7')]),
    ('linux /v ro #debug liveupdate=on\n', [('ro', None)]),
    ('linux /v ro a#b\n', [('ro', None), ('a#b', None)]),
    ("linux /v ro a='$prefix' b=$prefix c=\"$prefix\" d=${root}/x $vt_handoff\n", [('ro', None), ('a', '$prefix'), ('b', ''), ('c', ''), ('d', '/x')]),
    ('menuentry x {\n\tlinux /v ro a=bar\\\n}\n', [('ro', None), ('a', 'bar')]),
    ('linux /v ro a=b\\c\n', [('ro', None), ('a', 'bc')]),
    ("linux /v ro x='file luo.c +p' y=\"a b\"\n", [('ro', None), ('x', 'file luo.c +p'), ('y', 'a b')]),
    ('linux /v ro a="x\\$y\\\\z"\n', [('ro', None), ('a', 'x$y\\\\z')]),
    ("linux /v ro a=it\\'s\n", [('ro', None), ('a', "it\\'s")]),
    # An empty argument adds nothing but a space to the kernel command line.
    ("linux /v ro a=b'c'\"d\" ''\n", [('ro', None), ('a', 'bcd')]),
    ('linux /v ro in do fi a]]\n', [('ro', None), ('in', None), ('do', None), ('fi', None), ('a]]', None)]),
    ('linux /v ro a=1 \\\n b=2\n', [('ro', None), ('a', '1'), ('b', '2')]),
])
def test_grub_cfg_cmdlines_read_the_line_as_grub_does(text, expected):
    assert grub_kernel_params(text) == [expected]


def test_grub_cfg_cmdlines_find_every_linux_command():
    text = ('function load_video {\n  insmod all_video\n}\nif [ x$feature = xy ]; then\n  set a=b\nfi\n'
            "menuentry 'Debian' --class debian $menuentry_id_option 'gnulinux' {\n\tload_video\n"
            '\tlinux\t/vmlinuz root=/dev/vda1 ro quiet\n\tinitrd\t/initrd.img\n}\n'
            'submenu x {\n  menuentry y {\n    linux16 /k a=1; linuxefi /k b=2\n  }\n}\n')
    assert grub_kernel_params(text) == [[('root', '/dev/vda1'), ('ro', None), ('quiet', None)], [('a', '1')], [('b', '2')]]


# What grub-script-check (GRUB 2.06) says of each text: True when it parses.
GRUB_SCRIPT_VERDICTS = [
    ('linux /v ro a=7;echo x\n', True),
    ('linux /v ro #debug liveupdate=on\n', True),
    ('menuentry x {\n linux /v ro a=bar\\\n}\n', True),
    ('linux /v ro a=$prefix b=${prefix}/x c=$1 d=$? "e=$root" f=$# g=$@ h=$*\n', True),
    ("linux /v ro x='file luo.c +p' y='$prefix' z='7;echo' w='a|b'\n", True),
    ('linux /v ro in do time fi a]] ! a=(x) a=* a={x}\n', True),
    ('linux /v ro a=$"x"\n', True),
    ('linux /v a="x\\$y\\"z\\\\"\n', True),
    ('linux /v a\\\nb\n', True),
    ('if [ x = y ]; then\n linux /v\nfi\n', True),
    ('linux /v ro ;\n', True),
    ('linux /v ro bar\\', False),
    ('linux /v ro a=\\\n', False),
    ('linux /v ro a=b|c\n', False),
    ('linux /v ro a&&b\n', False),
    ('linux /v ro a||b\n', False),
    ('linux /v ro a&b\n', False),
    ('linux /v ro a<b\n', False),
    ('linux /v ro a>b\n', False),
    ('linux /v a=b;;\n', False),
    ('linux /v ro [[ x\n', False),
    ('linux /v ro ]]\n', False),
    ('linux /v ro a=$-\n', False),
    ('linux /v ro a=${-}\n', False),
    ('linux /v ro a=x$\n', False),
    ('linux /v ro a="$"\n', False),
    ('linux /v ro a=${x\n', False),
    ('linux /v ro a=$"x\n', False),
    ("linux /v ro a='x\n", False),
    ('linux /v ro a="x\n', False),
    ('linux /v ro {\n', False),
    ('linux /v {\n}\n', False),
    ('}\n', False),
    ('; linux /v\n', False),
]


def in_module_verdict(text):
    try:
        b.grub_script_commands(text)
    except b.GrubScriptError:
        return False
    return True


@pytest.mark.parametrize('text, parses', GRUB_SCRIPT_VERDICTS)
def test_grub_script_parser_verdicts(text, parses):
    assert in_module_verdict(text) is parses


@needs_grub_script_check
@pytest.mark.parametrize('text, parses', GRUB_SCRIPT_VERDICTS)
def test_grub_script_parser_agrees_with_grub_script_check(tmp_path, text, parses):
    path = tmp_path / 'grub.cfg'
    path.write_text(text)
    real = subprocess.run([GRUB_SCRIPT_CHECK, str(path)], capture_output=True, check=False).returncode == 0
    assert (real, in_module_verdict(text)) == (parses, parses)


@pytest.mark.parametrize('text, message', [
    ("linux /v a='x\n", "line 1: unclosed single quote in a='x: close it"),
    ('linux /v a="x\n', 'line 1: unclosed double quote in a="x: close it'),
    ('linux /v\nlinux /v a=b|c\n', 'line 2: GRUB has no "|" operator (in a=b|c): quote it'),
    ('linux /v a=$-\n', 'line 1: "$" is not followed by a variable name (in a=$-): quote it'),
    ('linux /v a=x\\', 'line 1: a backslash at the end of the text (in a=x\\) would join the next line: remove it'),
    ('}\n', 'line 1: "}" closes no block'),
    ('menuentry x {\n', 'line 2: a block opened with "{" is not closed'),
])
def test_grub_script_errors_say_where_and_what(text, message):
    with pytest.raises(b.GrubScriptError) as error:
        b.grub_script_commands(text)
    assert str(error.value) == message


def test_grub_loader_cmdline_quotes_like_grubs_linux_command():
    # grub_create_loader_cmdline(): an argument with a space is double-quoted; \, ' and " get a backslash.
    assert b.grub_loader_cmdline(['ro', 'a=b c', "it's", 'x\\y']) == 'ro "a=b c" it\\\'s x\\\\y'
    assert b.grub_loader_cmdline([]) == ''


# --- writing values GRUB reads back unchanged ----------------------------------

@pytest.mark.parametrize('value, word', [
    ('on', 'x=on'),
    ('', 'x='),
    (None, 'x'),
    ('ttyS0,115200n8', 'x=ttyS0,115200n8'),
    ('UUID=0f1e-2d3c', 'x=UUID=0f1e-2d3c'),
    ('1G-4G:192M,4G-:256M@16M', 'x=1G-4G:192M,4G-:256M@16M'),
    ('7;echo', "x='7;echo'"),
    ('$prefix', "x='$prefix'"),
    ('a#b', "x='a#b'"),
    ('file luo.c +p', "x='file luo.c +p'"),
])
def test_grub_word_quotes_what_grub_would_rewrite(value, word):
    assert b.grub_word(Param('x', value)) == word
    assert grub_kernel_params('linux /v %s\n' % word) == [[('x', value)]]


@pytest.mark.parametrize('value', GRUB_SPECIAL_VALUES)
def test_grub_word_round_trips_through_grub(value):
    assert grub_kernel_params('linux /v %s\n' % b.grub_word(Param('x', value))) == [[('x', value)]]


@pytest.mark.parametrize('value, why', [
    ('bar\\', 'GRUB hands a backslash to the kernel doubled (\\\\)'),
    ("it's", "GRUB hands a single quote to the kernel as \\'"),
])
def test_grub_word_refuses_what_grub_cannot_pass_unchanged(value, why):
    with pytest.raises(b.BootloaderError) as error:
        b.grub_word(Param('x', value))
    assert str(error.value) == ('value for x is %r: %s; use a value without it, or bootloader: kernel-install (systemd-boot), '
                                'which passes it unchanged' % (value, why))


def sourced_variable(path, variable='GRUB_CMDLINE_LINUX_DEFAULT'):
    """The variable after sh sources path, as grub-mkconfig sources the drop-in."""
    return subprocess.run(['/bin/sh', '-c', '. "$1"; printf %s "$' + variable + '"', 'sh', path],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize('value', GRUB_SPECIAL_VALUES + ['`id`', '$(id)', 'plain'])
def test_dropin_quoting_survives_sh_then_grub(tmp_path, value):
    text = b.render_grub_dropin((c.empty(), c.empty()), (c.empty(), Cmdline((Param('x', value),), ())))
    path = tmp_path / 'x.cfg'
    path.write_text(text)
    line = 'linux /vmlinuz root=/dev/vda1 ro %s\n' % sourced_variable(str(path))
    assert grub_kernel_params(line) == [[('root', '/dev/vda1'), ('ro', None), ('x', value)]]
    if GRUB_SCRIPT_CHECK:
        (tmp_path / 'grub.cfg').write_text(line)
        subprocess.run([GRUB_SCRIPT_CHECK, str(tmp_path / 'grub.cfg')], check=True)


@pytest.mark.parametrize('value', ['7;echo', '$prefix', 'a#b', 'x|y', 'file luo.c +p'])
def test_grub_values_grub_would_rewrite_reach_the_kernel_intact(debian, value):
    changes = [Change('x', value, True), Change('liveupdate', 'on', True)]
    backend = b.select(debian, Runner())
    backend.apply(backend.plan(changes), changes)
    grub_cfg = read(debian, 'boot/grub/grub.cfg')
    assert " x='%s' liveupdate=on\n" % value in grub_cfg
    assert grub_kernel_params(grub_cfg)[0][-2:] == [('x', value), ('liveupdate', 'on')]
    assert not b.select(debian, Runner()).plan(changes).changed


@pytest.mark.parametrize('value', ['bar\\', "it's"])
def test_grub_refuses_values_grub_cannot_pass_unchanged(debian, value):
    before = tree_state(debian)
    with pytest.raises(b.BootloaderError, match='^value for x is .*: GRUB hands'):
        b.select(debian, Runner()).plan([Change('x', value, True)])
    assert tree_state(debian) == before


@pytest.mark.parametrize('value', ['7;echo', '$prefix', 'a#b', 'bar\\', "it's", '{x}'])
def test_grubby_refuses_values_grub_would_rewrite(fedora, value):
    before = tree_state(fedora)
    with pytest.raises(b.BootloaderError) as error:
        b.select(fedora, Runner()).plan([Change('x', value, True)])
    assert str(error.value) == ('value for x is %r: grubby writes it unquoted into the boot entries, whose options GRUB reads as script; '
                                'use letters, digits and _ . , : / + = @ %% - only, or bootloader: kernel-install (systemd-boot)' % value)
    assert tree_state(fedora) == before


@pytest.mark.parametrize('value', ['7;echo', '$prefix', 'a#b', 'bar\\', "it's"])
def test_kernel_install_passes_values_unchanged(sdboot, value):
    changes = [Change('x', value, True)]
    backend = b.select(sdboot, Runner())
    backend.apply(backend.plan(changes), changes)
    assert read(sdboot, 'etc/kernel/cmdline').endswith(' x=%s\n' % value)
    assert c.get(b.bls_options(read(sdboot, SDBOOT_NEW)), 'x') == value


@pytest.mark.parametrize('change', [Change('a\0b', 'on', True), Change('x', 'a\nb', True), Change('#debug', None, True),
                                    Change('x', 'a\0b', False), Change('a\nb', ANY, False)])
@pytest.mark.parametrize('tree', ['debian', 'fedora', 'sdboot'])
def test_every_backend_refuses_bad_names_and_control_characters(request, tree, change):
    root = request.getfixturevalue(tree)
    before = tree_state(root)
    with pytest.raises(b.BootloaderError, match='^(parameter name|value for)'):
        b.select(root, Runner()).plan([change])
    assert tree_state(root) == before


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
    with pytest.raises(b.BootloaderError) as error:
        b.select(debian, Runner()).plan(LUO)
    assert str(error.value) == ('GRUB_CMDLINE_LINUX_DEFAULT as %s/etc/default/grub sets it (%s) does not reach the kernel as written: %s; '
                                'fix it there' % (debian, setting, problem))
    assert tree_state(debian) == before


def test_grub_keeps_words_grub_expands_at_boot(debian):
    write(debian, 'etc/default/grub', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet \\$vt_handoff nokaslr"\n')
    changes = LUO + [Change('nokaslr', ANY, False)]
    plan = b.select(debian, Runner()).plan(changes)
    assert plan.files[0].after.endswith('GRUB_CMDLINE_LINUX_DEFAULT="quiet \\$vt_handoff liveupdate=on kho=on"\n')


# --- the check after regenerating -------------------------------------------------

def install_script(root, name, text, mode=0o755):
    path = os.path.join(root, 'usr/bin', name)
    write(root, 'usr/bin/' + name, text)
    os.chmod(path, mode)
    return path


def test_grub_checks_the_regenerated_grub_cfg_with_grub_script_check(debian):
    install_script(debian, 'grub-script-check', '#!/bin/sh\necho "grub-script-check $*" >> "$(dirname "$0")/../../calls.log"\n'
                                                'echo "Syntax error at line 3" >&2\nexit 1\n')
    before = tree_state(debian)
    backend = b.select(debian, Runner())
    with pytest.raises(b.BootloaderError) as error:
        backend.apply(backend.plan(LUO), LUO)
    assert str(error.value) == ('checking the regenerated %s/boot/grub/grub.cfg failed (%s/usr/bin/grub-script-check %s/boot/grub/grub.cfg exited '
                                'with 1): Syntax error at line 3; the previous files were restored, nothing changed' % (debian, debian, debian))
    assert tree_state(debian) == before
    assert read(debian, 'calls.log').endswith('grub-script-check %s/boot/grub/grub.cfg\n' % debian)


@needs_grub_script_check
def test_grub_checks_the_regenerated_grub_cfg_with_the_real_grub_script_check(debian):
    os.makedirs(os.path.join(debian, 'usr/bin'))
    shutil.copy(GRUB_SCRIPT_CHECK, os.path.join(debian, 'usr/bin/grub-script-check'))
    changes = [Change('x', '7;echo', True), Change('y', 'file luo.c +p', True)]
    runner = Runner()
    backend = b.select(debian, runner)
    backend.apply(backend.plan(changes), changes)
    assert [os.path.join(debian, 'usr/bin/grub-script-check'), os.path.join(debian, 'boot/grub/grub.cfg')] in runner.calls


def test_grub_restores_when_grub_cannot_read_the_regenerated_grub_cfg(debian):
    # A grub-mkconfig that writes an operator GRUB has no rule for after the command line.
    mkconfig = read(debian, 'usr/sbin/grub-mkconfig').replace('ro %s %s\\n', 'ro %s %s |\\n')
    write(debian, 'usr/sbin/grub-mkconfig', mkconfig)
    before = tree_state(debian)
    backend = b.select(debian, Runner())
    with pytest.raises(b.BootloaderError) as error:
        backend.apply(backend.plan(LUO), LUO)
    assert str(error.value).startswith('GRUB cannot read the regenerated %s/boot/grub/grub.cfg: line ' % debian)
    assert str(error.value).endswith('; the previous files were restored, nothing changed')
    assert tree_state(debian) == before


# --- files the module did not write -------------------------------------------------

ADMIN_DROPIN = 'GRUB_TERMINAL=serial\nGRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\nGRUB_CMDLINE_LINUX="console=ttyS0,115200"\n'


@pytest.mark.parametrize('content', [ADMIN_DROPIN, '', 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on"\n',
                                     'x\n' + b.DROPIN_HEADER])
def test_grub_refuses_a_dropin_it_did_not_write(debian, content):
    write(debian, DEBIAN_DROPIN, content)
    before = tree_state(debian)
    with pytest.raises(b.BootloaderError) as error:
        b.select(debian, Runner()).plan(LUO)
    assert str(error.value) == (
        'grub_dropin %s/%s exists but was not written by this module (its first line is not "%s"), so it holds settings of '
        'someone else that rewriting it would lose: give grub_dropin another name, e.g. 91-luo-liveupdate.cfg, or rename or '
        'remove that file' % (debian, DEBIAN_DROPIN, b.DROPIN_HEADER.splitlines()[0]))
    assert tree_state(debian) == before


def test_grub_refuses_a_dropin_that_is_a_symlink(debian):
    os.symlink('../grub', os.path.join(debian, DEBIAN_DROPIN))
    before = tree_state(debian)
    with pytest.raises(b.BootloaderError, match='exists but was not written by this module'):
        b.select(debian, Runner()).plan(LUO)
    assert tree_state(debian) == before
    assert os.path.islink(os.path.join(debian, DEBIAN_DROPIN))


def test_grub_updates_a_dropin_it_wrote(debian):
    write(debian, DEBIAN_DROPIN, b.DROPIN_HEADER + 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on"\n')
    backend = b.select(debian, Runner())
    backend.apply(backend.plan(LUO), LUO)
    assert read(debian, DEBIAN_DROPIN).endswith('GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT liveupdate=on kho=on"\n')


SHARED_CMDLINE = 'root=/dev/vda2  ro\tquiet\nrhgb   console=ttyS0,115200 \n'


def test_kernel_install_edits_etc_kernel_cmdline_in_place(sdboot):
    write(sdboot, 'etc/kernel/cmdline', SHARED_CMDLINE)
    changes = LUO + [Change('quiet', ANY, False), Change('console', 'ttyS1', True)]
    backend = b.select(sdboot, Runner())
    backend.apply(backend.plan(changes), changes)
    assert read(sdboot, 'etc/kernel/cmdline') == 'root=/dev/vda2  ro\nrhgb   console=ttyS1 liveupdate=on kho=on \n'


def test_kernel_install_keeps_a_cmdline_without_final_newline(sdboot):
    write(sdboot, 'etc/kernel/cmdline', 'ro quiet')
    backend = b.select(sdboot, Runner())
    backend.apply(backend.plan(LUO), LUO)
    assert read(sdboot, 'etc/kernel/cmdline') == 'ro quiet liveupdate=on kho=on'


def test_kernel_install_edits_options_lines_in_place(sdboot):
    write(sdboot, SDBOOT_NEW, read(sdboot, SDBOOT_NEW).replace('ro console=ttyS0 ', 'ro  console=ttyS0\t'))
    backend = b.select(sdboot, Runner())
    backend.apply(backend.plan(LUO), LUO)
    assert 'ro  console=ttyS0\tsystemd.machine_id=9f8e7d6c5b4a39281706f5e4d3c2b1a0 liveupdate=on kho=on\n' in read(sdboot, SDBOOT_NEW)


def test_grubby_edits_etc_kernel_cmdline_in_place(fedora):
    write(fedora, 'etc/kernel/cmdline', SHARED_CMDLINE)
    changes = LUO + [Change('rhgb', ANY, False)]
    backend = b.select(fedora, Runner())
    backend.apply(backend.plan(changes), changes)
    assert read(fedora, 'etc/kernel/cmdline') == 'root=/dev/vda2  ro\tquiet   console=ttyS0,115200 liveupdate=on kho=on \n'
    assert 'kho=on' in read(fedora, FEDORA_NEW)


# --- commands that cannot even be started -----------------------------------------

@pytest.mark.parametrize('content, mode, reason', [
    ('#!/nonexistent/sh\nexit 0\n', 0o755, 'its interpreter (#!/nonexistent/sh) does not exist'),
    ('#!/bin/sh\nexit 0\n', 0o644, 'it is not executable'),
    ('\x7fELF\x02\x01garbage', 0o755, 'it is not a program for this machine (exec format error)'),
    (None, 0o755, 'it does not exist'),
])
def test_apply_plan_restores_when_a_command_cannot_be_started(tmp_path, content, mode, reason):
    root = str(tmp_path)
    write(root, 'etc/existing', 'old\n')
    tool = os.path.join(root, 'usr/sbin/update-grub')
    if content is not None:
        write(root, 'usr/sbin/update-grub', content)
        os.chmod(tool, mode)
    before = tree_state(root)
    plan = b.Plan('', '', (b.FileChange(os.path.join(root, 'etc/existing'), 'old\n', 'new\n'),
                           b.FileChange(os.path.join(root, 'etc/new.d/file'), None, 'file\n')), ((tool,),), True)
    with pytest.raises(b.BootloaderError) as error:
        b.apply_plan(plan, [], Runner())
    assert str(error.value) == ('regenerating the boot configuration failed: cannot run %s: %s; repair or reinstall it; '
                                'the previous files were restored, nothing changed' % (tool, reason))
    assert tree_state(root) == before
    assert not os.path.exists(os.path.join(root, 'etc/new.d'))


def test_apply_plan_restores_on_an_unexpected_error_and_lets_it_through(tmp_path):
    root = str(tmp_path)
    write(root, 'etc/existing', 'old\n')
    before = tree_state(root)
    plan = b.Plan('', '', (b.FileChange(os.path.join(root, 'etc/existing'), 'old\n', 'new\n'),), (), True)

    def verify():
        raise RuntimeError('unexpected')
    with pytest.raises(RuntimeError, match='unexpected'):
        b.apply_plan(plan, [], Runner(), verify)
    assert tree_state(root) == before


def test_grubby_that_cannot_be_started_changes_nothing(fedora):
    write(fedora, 'usr/sbin/grubby', '#!/nonexistent/bash\n')
    before = tree_state(fedora)
    with pytest.raises(b.BootloaderError) as error:
        b.select(fedora, Runner()).plan(LUO)
    assert str(error.value) == ('reading the boot entries failed: cannot run %s/usr/sbin/grubby: its interpreter (#!/nonexistent/bash) '
                                'does not exist; repair or reinstall it' % fedora)
    assert tree_state(fedora) == before


def test_grubby_next_cmdline_is_the_one_verified(fedora):
    backend = b.select(fedora, Runner())
    plan = backend.plan(LUO)
    backend.apply(plan, LUO)
    write(fedora, 'usr/sbin/grubby', '#!/nonexistent/bash\n')
    assert backend.next_cmdline(plan) == plan.next_after


@pytest.mark.parametrize('kernel, message', [
    ('/boot/vmlinuz\0x', "kernel '/boot/vmlinuz\\x00x' contains a NUL byte"),
    ('/boot/vmlinuz\nx', "kernel '/boot/vmlinuz\\nx' contains a newline"),
    ('vmlinuz-6.12', "kernel 'vmlinuz-6.12' is not ALL, DEFAULT, an entry index or the absolute path of a kernel image"),
])
def test_grubby_refuses_a_kernel_it_cannot_pass(fedora, kernel, message):
    with pytest.raises(b.BootloaderError) as error:
        b.select(fedora, Runner(), kernel=kernel)
    assert str(error.value) == message + ': give ALL, DEFAULT, an entry index or the path of a kernel image, e.g. /boot/vmlinuz-6.12.0'


@pytest.mark.parametrize('name', ['a\0.cfg', 'a\n.cfg', 'a b.cfg', '$x.cfg', 'a;b.cfg'])
def test_validate_grub_dropin_refuses_names_sh_would_trip_on(name):
    with pytest.raises(b.BootloaderError) as error:
        b.validate_grub_dropin(name)
    assert str(error.value) == ('grub_dropin %r must be a file name of letters, digits, "_", "-" and "." ending in .cfg, '
                                'e.g. 90-luo-liveupdate.cfg' % name)


# grub.cfg as Debian's grub-mkconfig 2.06 wrote it from /etc/default/grub (console=ttyS0, quiet) and a drop-in
# from render_grub_dropin() with the values below: functions, if blocks, submenus and all.
REAL_GRUB_CFG = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'bootloader', 'grub-mkconfig-2.06.cfg')
REAL_DROPIN_PARAMS = [('x', '7;echo'), ('y', '$prefix'), ('z', 'file luo.c +p'), ('w', 'a#b'), ('v', '`id`$(id)'), ('liveupdate', 'on')]


def test_grub_cfg_cmdlines_of_a_grub_cfg_grub_mkconfig_wrote():
    with open(REAL_GRUB_CFG, encoding='utf-8') as handle:
        text = handle.read()
    normal = [('root', '/dev/vda1'), ('ro', None), ('console', 'ttyS0'), ('quiet', None)] + REAL_DROPIN_PARAMS
    recovery = [('root', '/dev/vda1'), ('ro', None), ('single', None), ('console', 'ttyS0')]
    assert grub_kernel_params(text) == [normal, normal, recovery, normal, recovery]
    dropin = b.render_grub_dropin((c.empty(), c.empty()), (c.empty(), Cmdline(tuple(Param(*pair) for pair in REAL_DROPIN_PARAMS), ())))
    assert "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT x='7;echo' y='\\$prefix' z='file luo.c +p' w='a#b' v='\\`id\\`\\$(id)' " in dropin


@needs_grub_script_check
def test_grub_script_check_accepts_the_grub_cfg_grub_mkconfig_wrote():
    subprocess.run([GRUB_SCRIPT_CHECK, REAL_GRUB_CFG], check=True)
