# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GRUB script read as GRUB reads it, and words GRUB passes on unchanged.

Checked against GRUB's grub-script-check in tests/integration/module_utils/test_bootloader_grub_script_check.py."""
from __future__ import annotations


import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as c
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader import common, grub, grub_script
from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline import Cmdline, Param
from ansible_collections.luo.liveupdate.tests.unit.module_utils.bootloader_trees import (
    GRUB_SCRIPT_VERDICTS, GRUB_SPECIAL_VALUES, REAL_GRUB_CFG, grub_kernel_params, in_module_verdict)


def test_grub_cfg_cmdlines():
    text = 'menuentry x {\n\tlinux\t/vmlinuz root=/dev/vda1 ro quiet\n  linux16 /k\n}\nlinuxefi /k a=1\n  # linux /x b\ninitrd /i\n'
    assert [c.render(line) for line in grub_script.grub_cfg_cmdlines(text)] == ['root=/dev/vda1 ro quiet', '', 'a=1']
    assert grub_script.grub_cfg_cmdlines(None) == []


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


@pytest.mark.parametrize('text, parses', GRUB_SCRIPT_VERDICTS)
def test_grub_script_parser_verdicts(text, parses):
    assert in_module_verdict(text) is parses


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
    with pytest.raises(grub_script.GrubScriptError) as error:
        grub_script.grub_script_commands(text)
    assert str(error.value) == message


def test_grub_loader_cmdline_quotes_like_grubs_linux_command():
    # grub_create_loader_cmdline(): an argument with a space is double-quoted; \, ' and " get a backslash.
    assert grub_script.grub_loader_cmdline(['ro', 'a=b c', "it's", 'x\\y']) == 'ro "a=b c" it\\\'s x\\\\y'
    assert grub_script.grub_loader_cmdline([]) == ''


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
    assert grub_script.grub_word(Param('x', value)) == word
    assert grub_kernel_params('linux /v %s\n' % word) == [[('x', value)]]


@pytest.mark.parametrize('value', GRUB_SPECIAL_VALUES)
def test_grub_word_round_trips_through_grub(value):
    assert grub_kernel_params('linux /v %s\n' % grub_script.grub_word(Param('x', value))) == [[('x', value)]]


@pytest.mark.parametrize('value, why', [
    ('bar\\', 'GRUB hands a backslash to the kernel doubled (\\\\)'),
    ("it's", "GRUB hands a single quote to the kernel as \\'"),
])
def test_grub_word_refuses_what_grub_cannot_pass_unchanged(value, why):
    with pytest.raises(common.BootloaderError) as error:
        grub_script.grub_word(Param('x', value))
    assert str(error.value) == ('value for x is %r: %s; use a value without it, or bootloader: kernel-install (systemd-boot), '
                                'which passes it unchanged' % (value, why))


# grub.cfg as Debian's grub-mkconfig 2.06 wrote it from /etc/default/grub (console=ttyS0, quiet) and a drop-in
# from render_grub_dropin() with the values below: functions, if blocks, submenus and all.
REAL_DROPIN_PARAMS = [('x', '7;echo'), ('y', '$prefix'), ('z', 'file luo.c +p'), ('w', 'a#b'), ('v', '`id`$(id)'), ('liveupdate', 'on')]


def test_grub_cfg_cmdlines_of_a_grub_cfg_grub_mkconfig_wrote():
    with open(REAL_GRUB_CFG, encoding='utf-8') as handle:
        text = handle.read()
    normal = [('root', '/dev/vda1'), ('ro', None), ('console', 'ttyS0'), ('quiet', None)] + REAL_DROPIN_PARAMS
    recovery = [('root', '/dev/vda1'), ('ro', None), ('single', None), ('console', 'ttyS0')]
    assert grub_kernel_params(text) == [normal, normal, recovery, normal, recovery]
    dropin = grub.render_grub_dropin((c.empty(), c.empty()), (c.empty(), Cmdline(tuple(Param(*pair) for pair in REAL_DROPIN_PARAMS), ())))
    assert "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT x='7;echo' y='\\$prefix' z='file luo.c +p' w='a#b' v='\\`id\\`\\$(id)' " in dropin
