# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Editing a command line inside a shared file's text: only the asked-for parameters change."""
from __future__ import annotations

import random

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as c
from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline import ANY, Change
from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline_text import edit_text


@pytest.mark.parametrize('text, changes, expected', [
    ('root=/dev/vda2  ro\tquiet\nrhgb   console=ttyS0 \n', [Change('liveupdate', 'on', True)],
     'root=/dev/vda2  ro\tquiet\nrhgb   console=ttyS0 liveupdate=on \n'),
    ('root=/dev/vda2  ro\tquiet\nrhgb \n', [Change('quiet', ANY, False)], 'root=/dev/vda2  ro\nrhgb \n'),
    ('quiet  ro\n', [Change('quiet', ANY, False)], 'ro\n'),
    ('quiet\n', [Change('quiet', ANY, False)], '\n'),
    ('a  kho-scratch=1G\tb kho_scratch=2G  c\n', [Change('kho_scratch', '4G', True)], 'a  kho-scratch=4G\tb  c\n'),
    ('console=tty0 quiet console=ttyS0', [Change('console', 'ttyS0', False)], 'console=tty0 quiet'),
    ('x x x', [Change('x', ANY, False)], ''),
    ('ro -- single', [Change('kho', 'on', True)], 'ro kho=on -- single'),
    ('-- single\n', [Change('kho', 'on', True)], 'kho=on -- single\n'),
    ('', [Change('kho', 'on', True)], 'kho=on'),
    ('  \n', [Change('kho', 'on', True)], 'kho=on  \n'),
    ('a="b c', [Change('kho', 'on', True)], 'a="b c" kho=on'),
    ('ro dyndbg', [Change('dyndbg', 'file x.c +p', True)], 'ro dyndbg="file x.c +p"'),
    ('ro  quiet \n', [Change('quiet', None, True)], 'ro  quiet \n'),
])
def test_edit_text_keeps_every_byte_it_does_not_change(text, changes, expected):
    assert edit_text(text, changes) == expected


def test_edit_text_refuses_a_quote_it_cannot_close():
    with pytest.raises(ValueError, match='fix its quoting first|unclosed double quote'):
        edit_text('a=x"y z', [Change('kho', 'on', True)])


def test_edit_text_reads_as_apply_changes_on_random_text():
    rng = random.Random(20261128)
    for _round in range(5000):
        text = ''.join(rng.choice('ab=" -\t\n') for _char in range(rng.randint(0, 12)))
        changes = [rng.choice([Change('a', 'v w', True), Change('b', None, True), Change('a', ANY, False), Change('b', '', False)])]
        try:
            edited = edit_text(text, changes)
        except ValueError:
            continue
        assert c.parse(edited) == c.apply_changes(c.parse(text), changes), (text, changes)
