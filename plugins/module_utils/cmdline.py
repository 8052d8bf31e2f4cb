# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel command line: parse and render with the kernel's own quoting rules.

The rules are those of lib/cmdline.c ``next_arg()`` as used by kernel/params.c
``parse_args()`` and init/main.c:

* ASCII whitespace separates arguments;
* a double quote toggles "inside quotes", where whitespace does not separate:
  ``a="b c"`` and ``"a=b c"`` are both the parameter ``a`` with value ``b c``;
* the kernel strips the quotes around a value (and around a whole quoted
  argument), other quotes stay in the value;
* the first ``=`` splits name and value: ``quiet`` is a bare flag (value
  ``None``), ``a=`` has the empty value;
* a bare ``--`` ends the kernel parameters: what follows goes to init;
* ``-`` and ``_`` are the same character in parameter names.

Repeated parameters are kept in order: the kernel hands each occurrence to the
parameter's handler, and for the core parameters that store a value the last
occurrence wins, which is what ``get()`` returns.

Cmdline values are immutable; every edit returns a new one. cmdline_text.edit_text()
makes the same edits in the text of a file shared with others, keeping every byte
the edit does not touch.

Names managed here use the kernel's parameter alphabet and values are
printable ASCII (validate_name, validate_value): nothing the kernel, a boot
loader or a shell on the way would split, cut or rewrite.
"""

from __future__ import annotations

import collections
import string

# The bytes isspace() is true for in the kernel's ctype table (ASCII part).
WHITESPACE = ' \t\n\v\f\r'
INIT_SEPARATOR = '--'
# Letters, digits, "_", "-" and ".": what the kernel's, dracut's and systemd's
# parameters are named with (rd.luks.uuid, 8250.nr_uarts). Anything else the
# kernel might split on, or a boot loader or shell on the way might rewrite.
_NAME_CHARACTERS = frozenset(string.ascii_letters + string.digits + '_-.')
_NAME_FIRST_CHARACTERS = frozenset(string.ascii_letters + string.digits + '_')
NAME_RULE = ('kernel parameter names are letters, digits, "_", "-" and "." (e.g. rd.luks.uuid, systemd.unit, console), '
             'starting with a letter, digit or "_"; give the name as the kernel documents it')
_CHARACTER_NAMES = {'\0': 'a NUL byte', '\n': 'a newline', '\r': 'a carriage return', '\t': 'a tab'}


class _Any(object):
    """Marker for "any value" in has() and remove_param()."""

    def __repr__(self):
        return 'ANY'


ANY = _Any()


class Param(collections.namedtuple('_Param', ['name', 'value'])):
    """One argument: name as spelled, value (str) or None for a bare flag.

    Parsed arguments remember their text (raw) so that rendering gives back
    exactly what was read, odd quoting included; equality ignores it.
    """

    def __new__(cls, name, value, raw=None):
        self = super(Param, cls).__new__(cls, name, value)
        self.raw = raw
        return self


Cmdline = collections.namedtuple('Cmdline', ['params', 'init_args'])
Cmdline.__doc__ = 'Kernel parameters and the arguments after "--" (for init), both tuples of Param.'

Change = collections.namedtuple('Change', ['name', 'value', 'present'])
Change.__doc__ = ('A wanted state: present=True means exactly this value (None: bare flag); '
                  'present=False means no occurrence with this value (ANY: no occurrence at all).')


def empty():
    """An empty command line."""
    return Cmdline((), ())


def normalize_name(name):
    """The name as the kernel compares it: dashes and underscores are equal."""
    return name.replace('-', '_')


def is_space(char):
    return char in WHITESPACE


def is_printable_ascii(char):
    """Whether char is printable ASCII (space included): what a command line can carry safely."""
    return ' ' <= char <= '~'


def describe_character(char):
    """char as a message names it: a NUL byte, the control character U+001B, "\xe9" (U+00E9, not ASCII), "#"."""
    if char in _CHARACTER_NAMES:
        return _CHARACTER_NAMES[char]
    if ord(char) > ord('~') and char.isprintable():
        return '"%s" (U+%04X, not ASCII)' % (char, ord(char))
    if not is_printable_ascii(char):
        return 'the control character U+%04X' % ord(char)
    return '"%s"' % char


def next_arg(text, pos):
    """Split one argument off text at pos (not whitespace); return (Param, next pos).

    A transcription of lib/cmdline.c next_arg().
    """
    quoted = False
    in_quote = False
    start = pos
    if text[pos] == '"':
        start += 1
        in_quote = True
        quoted = True
    end = start
    equals = -1
    while end < len(text):
        char = text[end]
        if is_space(char) and not in_quote:
            break
        # The kernel records the first '=' unless it is the first character
        # (equals == 0 means "none" there).
        if equals < 0 and char == '=' and end > start:
            equals = end
        if char == '"':
            in_quote = not in_quote
        end += 1
    arg = text[start:end]
    raw = text[pos:end]
    # Whole-argument quotes: the closing quote is dropped from what remains.
    strip_last = quoted and end > start and text[end - 1] == '"'
    if equals < 0:
        name = arg[:-1] if strip_last else arg
        value = None
    else:
        name = text[start:equals]
        value = text[equals + 1:end]
        if value.startswith('"'):
            value = value[1:]
            if text[end - 1] == '"' and value:
                value = value[:-1]
        elif strip_last:
            value = value[:-1]
    while end < len(text) and is_space(text[end]):
        end += 1
    return Param(name, value, raw), end


def parse(text):
    """Parse command line text into a Cmdline, the way the kernel splits it."""
    params = []
    init_args = []
    target = params
    pos = 0
    while pos < len(text) and is_space(text[pos]):
        pos += 1
    while pos < len(text):
        param, pos = next_arg(text, pos)
        if target is params and param.value is None and param.name == INIT_SEPARATOR:
            target = init_args
            continue
        target.append(param)
    return Cmdline(tuple(params), tuple(init_args))


def _has_space(text):
    return any(is_space(char) for char in text)


def render_param(param):
    """One argument as command line text: as it was read, or quoted only where whitespace needs it."""
    if param.raw is not None:
        return param.raw
    name, value = param
    text = name if value is None else '%s=%s' % (name, value)
    if '"' in text:
        # validate_name/validate_value keep quotes out of what callers add.
        return text
    if _has_space(name) or name == '':
        # Only a whole quoted argument can carry whitespace (or nothing) in the name.
        return '"%s"' % text
    if value is not None and _has_space(value):
        return '%s="%s"' % (name, value)
    return text


def render(cmdline):
    """The command line as text: parameters, then "--" and the init arguments if any."""
    args = list(cmdline.params)
    if cmdline.init_args:
        args.append(Param(INIT_SEPARATOR, None))
        args.extend(cmdline.init_args)
    words = []
    for index, param in enumerate(args):
        word = render_param(param)
        if word.count('"') % 2 and index < len(args) - 1:
            word = close_quote(param)
        words.append(word)
    return ' '.join(words)


def close_quote(param):
    """Text for an argument read with an unclosed quote, safe to follow with more.

    An unclosed quote only ends at the end of the text: anywhere else it would
    swallow what follows.
    """
    word = render_param(Param(param.name, param.value))
    probe = parse(word + ' x').params
    if len(probe) != 2 or probe[0] != param:
        raise ValueError('argument %r has an unclosed double quote, which would swallow the arguments after it: '
                         'fix the quoting of %r in the command line first' % (param.raw, param.name))
    return word


def matches(param, name, value=ANY):
    if normalize_name(param.name) != normalize_name(name):
        return False
    return value is ANY or param.value == value


def values(cmdline, name):
    """Every value given to name, in order (None for bare flag occurrences)."""
    return [param.value for param in cmdline.params if matches(param, name)]


def get(cmdline, name, default=None):
    """The value of the last occurrence of name, or default when absent.

    The last occurrence is what the kernel's core parameters end up with (each
    occurrence is handed to the handler in order, and a stored value is
    overwritten). A bare flag returns None: use has() to tell it from absence.
    """
    found = values(cmdline, name)
    return found[-1] if found else default


def has(cmdline, name, value=ANY):
    """Whether name occurs (with this value, if one is given; None means a bare flag)."""
    return any(matches(param, name, value) for param in cmdline.params)


def set_param(cmdline, name, value):
    """Set name to value: one occurrence, in place of the first (keeping its spelling), or appended."""
    params = []
    placed = False
    for param in cmdline.params:
        if not matches(param, name):
            params.append(param)
        elif not placed:
            params.append(Param(param.name, value))
            placed = True
    if not placed:
        params.append(Param(name, value))
    return Cmdline(tuple(params), cmdline.init_args)


def remove_param(cmdline, name, value=ANY):
    """Drop every occurrence of name (only those with this value when one is given)."""
    params = tuple(param for param in cmdline.params if not matches(param, name, value))
    return Cmdline(params, cmdline.init_args)


def is_satisfied(cmdline, change):
    """Whether cmdline already has the state change asks for.

    present: at least one occurrence and every occurrence has the value (in any
    spelling of the name); absent: no occurrence with the value (any, for ANY).
    """
    if change.present:
        found = values(cmdline, change.name)
        return bool(found) and all(value == change.value for value in found)
    return not has(cmdline, change.name, change.value)


def apply_change(cmdline, change):
    """Cmdline with change applied; unchanged when it is already satisfied."""
    if is_satisfied(cmdline, change):
        return cmdline
    if change.present:
        return set_param(cmdline, change.name, change.value)
    return remove_param(cmdline, change.name, change.value)


def apply_changes(cmdline, changes):
    """Apply changes in order."""
    for change in changes:
        cmdline = apply_change(cmdline, change)
    return cmdline


def all_satisfied(cmdline, changes):
    """Whether every change is already satisfied by cmdline."""
    return all(is_satisfied(cmdline, change) for change in changes)


def validate_name(name):
    """Raise ValueError unless name can be managed as one kernel parameter name."""
    if not isinstance(name, str):
        raise ValueError('parameter name %r is a %s: give the name as a string, e.g. name: liveupdate' % (name, type(name).__name__))
    if name == '':
        raise ValueError('parameter name is empty: give the name of a kernel parameter, e.g. name: liveupdate')
    if '=' in name:
        head, tail = name.split('=', 1)
        raise ValueError('parameter name %r contains "=": put the name in name and the part after "=" in value, e.g. name: %s, value: "%s"'
                         % (name, head, tail))
    if _has_space(name):
        raise ValueError('parameter name %r contains whitespace: give one parameter per list item' % name)
    if '"' in name:
        raise ValueError('parameter name %r contains a double quote: give the name without quotes' % name)
    if name == INIT_SEPARATOR:
        raise ValueError('parameter name %r is the separator before init arguments, not a kernel parameter: it cannot be managed' % name)
    outside = [char for char in name if char not in _NAME_CHARACTERS]
    if outside:
        raise ValueError('parameter name %r contains %s: %s' % (name, describe_character(outside[0]), NAME_RULE))
    if name[0] not in _NAME_FIRST_CHARACTERS:
        raise ValueError('parameter name %r starts with "%s": %s' % (name, name[0], NAME_RULE))


def validate_value(name, value):
    """Raise ValueError unless value (str or None) can be written as the value of name."""
    if value is None:
        return
    if not isinstance(value, str):
        raise ValueError('value for %s is %r, a %s: give the value as a string, e.g. value: "on"' % (name, value, type(value).__name__))
    if '"' in value:
        raise ValueError('value for %s is %r, which contains a double quote: the kernel has no escape for quotes; give the value without them '
                         '(values with spaces are quoted automatically)' % (name, value))
    outside = [char for char in value if not is_printable_ascii(char)]
    if outside:
        raise ValueError('value for %s is %r, which contains %s: the kernel command line is one line of printable ASCII text; remove it'
                         % (name, value, describe_character(outside[0])))


def validate_change(change):
    """Raise ValueError unless change names a kernel parameter and a value that can be written."""
    validate_name(change.name)
    if change.value is not ANY:
        validate_value(change.name, change.value)
