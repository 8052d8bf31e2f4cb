# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import random

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as c
from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline import ANY, Change, Cmdline, Param


def pairs(cmdline):
    return [tuple(param) for param in cmdline.params]


# What lib/cmdline.c next_arg() makes of each text (worked through by hand from its code).
@pytest.mark.parametrize('text, expected', [
    ('', []),
    ('   \t\n', []),
    ('quiet', [('quiet', None)]),
    ('liveupdate=on kho=on', [('liveupdate', 'on'), ('kho', 'on')]),
    ('  root=/dev/vda1\tro \n console=ttyS0  ', [('root', '/dev/vda1'), ('ro', None), ('console', 'ttyS0')]),
    ('a=', [('a', '')]),
    ('a=""', [('a', '')]),
    ('a="b c"', [('a', 'b c')]),
    ('"a=b c"', [('a', 'b c')]),
    ('"a b"', [('a b', None)]),
    ('""', [('', None)]),
    ('a="', [('a', '')]),
    ('a=b"c d"e f', [('a', 'b"c d"e'), ('f', None)]),
    ('a=b=c', [('a', 'b=c')]),
    ('=a', [('=a', None)]),
    ('=a=b', [('=a', 'b')]),
    ('dyndbg="file x.c +p" quiet', [('dyndbg', 'file x.c +p'), ('quiet', None)]),
    ('kho=on kho=off', [('kho', 'on'), ('kho', 'off')]),
    ('a\x0bb\x0cc\rd', [('a', None), ('b', None), ('c', None), ('d', None)]),
])
def test_parse_follows_the_kernel(text, expected):
    assert pairs(c.parse(text)) == expected


def test_parse_double_dash_starts_init_args():
    parsed = c.parse('ro quiet -- single x="a b" -- y')
    assert pairs(parsed) == [('ro', None), ('quiet', None)]
    assert [tuple(p) for p in parsed.init_args] == [('single', None), ('x', 'a b'), ('--', None), ('y', None)]


def test_parse_double_dash_with_value_is_a_parameter():
    assert pairs(c.parse('--=x a')) == [('--', 'x'), ('a', None)]
    assert c.parse('--=x a').init_args == ()


def test_parse_quoted_double_dash_also_separates():
    assert c.parse('a "--" b') == Cmdline((Param('a', None),), (Param('b', None),))


@pytest.mark.parametrize('param, text', [
    (Param('quiet', None), 'quiet'),
    (Param('a', ''), 'a='),
    (Param('a', 'b c'), 'a="b c"'),
    (Param('a', 'b\tc'), 'a="b\tc"'),
    (Param('a b', None), '"a b"'),
    (Param('a b', 'c'), '"a b=c"'),
    (Param('', None), '""'),
    (Param('kho-scratch', '1G'), 'kho-scratch=1G'),
])
def test_render_param_quotes_only_whitespace(param, text):
    assert c.render_param(param) == text
    assert c.parse(text).params == (param,)


def test_render_keeps_parsed_text_as_read():
    text = 'a=b"c d"e "x=y z" quiet'
    assert c.render(c.parse(text)) == text


def test_render_normalises_whitespace_between_args():
    assert c.render(c.parse('  a   b\t\tc \n')) == 'a b c'


def test_render_puts_init_args_after_double_dash():
    assert c.render(Cmdline((Param('ro', None),), (Param('single', None), Param('x', 'a b')))) == 'ro -- single x="a b"'
    assert c.render(Cmdline((), (Param('single', None),))) == '-- single'
    assert c.render(c.empty()) == ''


def test_render_closes_an_unclosed_quote_before_more_args():
    cmdline = c.set_param(c.parse('a="b c'), 'kho', 'on')
    text = c.render(cmdline)
    assert text == 'a="b c" kho=on'
    assert c.parse(text) == cmdline


def test_render_refuses_an_unclosed_quote_it_cannot_close():
    cmdline = c.set_param(c.parse('a=x"y z'), 'kho', 'on')
    with pytest.raises(ValueError, match=r"argument 'a=x\"y z' has an unclosed double quote"):
        c.render(cmdline)


def test_unclosed_quote_at_the_end_stays_as_read():
    assert c.render(c.parse('quiet a="b c')) == 'quiet a="b c'


def test_parse_render_round_trip_on_random_text():
    # Quotes, '=', dashes and whitespace in every position: what the kernel
    # reads from render(parse(text)) is what it read from text, and stays so
    # after appending a parameter (or render refuses).
    rng = random.Random(20261127)
    refused = 0
    for _round in range(20000):
        text = ''.join(rng.choice('ab=" -\t') for _char in range(rng.randint(0, 10)))
        parsed = c.parse(text)
        assert c.parse(c.render(parsed)) == parsed, text
        edited = c.set_param(parsed, 'zz', 'v w')
        try:
            rendered = c.render(edited)
        except ValueError:
            refused += 1
            continue
        assert c.parse(rendered) == edited, text
    assert refused < 20000 // 4


def test_param_equality_ignores_raw_text():
    assert c.parse('a="b"').params[0] == Param('a', 'b')
    assert c.parse('a="b"').params[0].raw == 'a="b"'


def test_normalize_name():
    assert c.normalize_name('kho-scratch') == c.normalize_name('kho_scratch') == 'kho_scratch'


def test_values_get_and_has():
    cmdline = c.parse('console=tty0 quiet console=ttyS0,115200 kho-scratch=1G')
    assert c.values(cmdline, 'console') == ['tty0', 'ttyS0,115200']
    assert c.get(cmdline, 'console') == 'ttyS0,115200'
    assert c.get(cmdline, 'kho_scratch') == '1G'
    assert c.get(cmdline, 'quiet') is None
    assert c.get(cmdline, 'missing') is None
    assert c.get(cmdline, 'missing', 'default') == 'default'
    assert c.has(cmdline, 'quiet')
    assert c.has(cmdline, 'quiet', None)
    assert not c.has(cmdline, 'quiet', 'on')
    assert c.has(cmdline, 'console', 'tty0')
    assert not c.has(cmdline, 'console', 'tty1')
    assert not c.has(cmdline, 'missing')


def test_lookups_ignore_init_args():
    cmdline = c.parse('ro -- liveupdate=on')
    assert not c.has(cmdline, 'liveupdate')
    assert c.get(cmdline, 'liveupdate') is None


def test_set_param_replaces_all_in_place_of_first_keeping_spelling():
    cmdline = c.parse('a kho-scratch=1G b kho_scratch=2G c')
    assert c.render(c.set_param(cmdline, 'kho_scratch', '4G')) == 'a kho-scratch=4G b c'


def test_set_param_appends_when_absent_and_keeps_init_args():
    cmdline = c.parse('ro -- single')
    assert c.render(c.set_param(cmdline, 'liveupdate', 'on')) == 'ro liveupdate=on -- single'
    assert c.render(c.set_param(cmdline, 'quiet', None)) == 'ro quiet -- single'


def test_set_param_does_not_change_its_input():
    cmdline = c.parse('a=1')
    c.set_param(cmdline, 'a', '2')
    assert c.render(cmdline) == 'a=1'


def test_remove_param_all_or_by_value():
    cmdline = c.parse('console=tty0 quiet console=ttyS0 Console=x')
    assert c.render(c.remove_param(cmdline, 'console')) == 'quiet Console=x'
    assert c.render(c.remove_param(cmdline, 'console', 'ttyS0')) == 'console=tty0 quiet Console=x'
    assert c.render(c.remove_param(c.parse('kho-scratch=1G'), 'kho_scratch')) == ''
    assert c.render(c.remove_param(c.parse('quiet quiet=1'), 'quiet', None)) == 'quiet=1'


@pytest.mark.parametrize('text, change, satisfied', [
    ('kho=on', Change('kho', 'on', True), True),
    ('kho=on kho=on', Change('kho', 'on', True), True),
    ('kho=off kho=on', Change('kho', 'on', True), False),
    ('', Change('kho', 'on', True), False),
    ('quiet', Change('quiet', None, True), True),
    ('quiet=1', Change('quiet', None, True), False),
    ('kho-scratch=1G', Change('kho_scratch', '1G', True), True),
    ('quiet', Change('quiet', ANY, False), False),
    ('', Change('quiet', ANY, False), True),
    ('console=tty0', Change('console', 'ttyS0', False), True),
    ('console=ttyS0', Change('console', 'ttyS0', False), False),
])
def test_is_satisfied(text, change, satisfied):
    assert c.is_satisfied(c.parse(text), change) is satisfied


def test_apply_change_leaves_satisfied_cmdline_untouched():
    cmdline = c.parse('kho=on kho=on')
    assert c.apply_change(cmdline, Change('kho', 'on', True)) is cmdline


def test_apply_changes_in_order():
    cmdline = c.parse('quiet kho=off console=tty0 console=ttyS0')
    changes = [Change('kho', 'on', True), Change('liveupdate', 'on', True), Change('quiet', ANY, False), Change('console', 'tty0', False)]
    after = c.apply_changes(cmdline, changes)
    assert c.render(after) == 'kho=on console=ttyS0 liveupdate=on'
    assert c.all_satisfied(after, changes)
    assert not c.all_satisfied(cmdline, changes)
    assert c.apply_changes(after, changes) == after


@pytest.mark.parametrize('name, message', [
    ('', 'parameter name is empty'),
    ('kho=on', r'parameter name \'kho=on\' contains "=": put the name in name and the part after "=" in value, e.g. name: kho, value: "on"'),
    ('a b', "parameter name 'a b' contains whitespace"),
    ('a\tb', 'contains whitespace'),
    ('a"b', 'contains a double quote'),
    ('--', 'separator before init arguments'),
    (None, "parameter name None is a NoneType"),
    (3, "parameter name 3 is a int"),
])
def test_validate_name_refuses(name, message):
    with pytest.raises(ValueError, match=message):
        c.validate_name(name)


@pytest.mark.parametrize('name', ['liveupdate', 'kho_scratch', 'kho-scratch', 'console', 'rd.break', 'a.b-c_d', 'rd.luks.uuid', 'systemd.unit',
                                  '8250.nr_uarts', 'BOOT_IMAGE', 'i915.enable_guc', '_x'])
def test_validate_name_accepts(name):
    c.validate_name(name)


NAME_ALPHABET = ('kernel parameter names are letters, digits, "_", "-" and "." (e.g. rd.luks.uuid, systemd.unit, console), '
                 'starting with a letter, digit or "_"; give the name as the kernel documents it')


# Names the kernel would read differently, or that GRUB and the shell (grub.cfg, the drop-in) would rewrite.
@pytest.mark.parametrize('name, what', [
    ('#debug', 'contains "#"'),
    ('a;b', 'contains ";"'),
    ('$prefix', 'contains "$"'),
    ("it's", 'contains "\'"'),
    ('bar\\', 'contains "\\"'),
    ('a/b', 'contains "/"'),
    ('a\0b', 'contains a NUL byte'),
    ('a\x1bb', 'contains the control character U+001B'),
    ('a\x7fb', 'contains the control character U+007F'),
    ('caf\xe9', 'contains "\xe9" (U+00E9, not ASCII)'),
    ('-x', 'starts with "-"'),
    ('.x', 'starts with "."'),
])
def test_validate_name_refuses_what_is_not_the_kernel_alphabet(name, what):
    with pytest.raises(ValueError) as error:
        c.validate_name(name)
    assert str(error.value) == 'parameter name %r %s: %s' % (name, what, NAME_ALPHABET)


@pytest.mark.parametrize('value, message', [
    ('a"b', "value for x is 'a\"b', which contains a double quote"),
    ('a\nb', 'contains a newline'),
    ('a\rb', 'contains a carriage return'),
    ('a\0b', 'contains a NUL byte'),
    (5, "value for x is 5, a int: give the value as a string"),
    ('a\tb', "value for x is 'a\\tb', which contains a tab: the kernel command line is one line of printable ASCII text; remove it"),
    ('a\x1bb', 'which contains the control character U+001B: the kernel command line is one line of printable ASCII text; remove it'),
    ('a\x7f', 'which contains the control character U+007F'),
    ('caf\xe9', 'which contains "\xe9" (U+00E9, not ASCII): the kernel command line is one line of printable ASCII text'),
])
def test_validate_value_refuses(value, message):
    with pytest.raises(ValueError) as error:
        c.validate_value('x', value)
    assert message in str(error.value)


@pytest.mark.parametrize('value', [None, '', 'on', 'file x.c +p', '1G'])
def test_validate_value_accepts(value):
    c.validate_value('x', value)


def test_any_has_a_readable_repr():
    assert repr(ANY) == 'ANY'


def test_validate_change():
    c.validate_change(Change('quiet', ANY, False))
    with pytest.raises(ValueError, match='contains a NUL byte'):
        c.validate_change(Change('x', 'a\0', True))
    with pytest.raises(ValueError, match='contains "#"'):
        c.validate_change(Change('#debug', ANY, False))
