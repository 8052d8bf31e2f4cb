# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GRUB script: how GRUB reads the linux lines of grub.cfg, and how to write words it passes on unchanged.

grub-mkconfig pastes GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT as they
are into the linux lines of grub.cfg, and GRUB parses grub.cfg as a script:
";" ends the command, "#" starts a comment, "$name" is expanded, quotes and
backslashes are removed. The rules below transcribe grub-core/script/yylex.l
(GRUB 2.06), the parts of parser.y that make grub-script-check fail, and
grub_create_loader_cmdline() (grub-core/lib/cmdline.c), which turns the
arguments of the linux command into the kernel command line.
"""

from __future__ import annotations

import collections
import re

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as kcmdline
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.common import BootloaderError


class GrubScriptError(BootloaderError):
    """Text GRUB would refuse, or read otherwise than written; detail says how, line where (1-based)."""

    def __init__(self, detail, line=1):
        super(GrubScriptError, self).__init__('line %d: %s' % (line, detail))
        self.detail = detail
        self.line = line


GrubWord = collections.namedtuple('GrubWord', ['raw', 'args', 'expansions'])
GrubWord.__doc__ = ('A word of GRUB script: its text, the arguments it gives (variables, unknown before boot, taken as '
                    'empty) and the variable expansions in it.')

_GRUB_BLANKS = ' \t'
_GRUB_WORD_END = ' \t\n{}|&;<>'
_GRUB_SEPARATORS = ('\n', ';', '{', '}')
# Tokens of GRUB's lexer that its grammar has no rule for: grub-script-check fails on them.
_GRUB_OPERATORS = (';;', '||', '&&', '|', '&', '<', '>')
_GRUB_RESERVED_WORDS = ('[[', ']]')
_GRUB_VARIABLE = re.compile(r'\{([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[?#*@])\}|[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[?#*@]')
# Characters GRUB reads literally outside quotes and passes to the kernel as they are.
GRUB_BARE = re.compile(r'[A-Za-z0-9_.,:/+=@%-]*\Z')
_GRUB_ALTERED = (
    ('\\', 'GRUB hands a backslash to the kernel doubled (\\\\)'),
    ("'", "GRUB hands a single quote to the kernel as \\'"),
)
_GRUB_LINUX_COMMANDS = ('linux', 'linux16', 'linuxefi')
_GRUB_KEYWORDS = ('then', 'else', 'do')


class _GrubLexer(object):
    """GRUB script split into words, separators and comments, the way GRUB's lexer splits it."""

    def __init__(self, text):
        self.text = text
        self.pos = 0

    def error(self, detail, pos=None):
        pos = self.pos if pos is None else pos
        return GrubScriptError(detail, self.text.count('\n', 0, pos) + 1)

    def context(self, pos):
        """The run of text around pos up to blanks or line ends: where a problem is."""
        start = pos
        while start > 0 and self.text[start - 1] not in ' \t\n':
            start -= 1
        end = pos
        while end < len(self.text) and self.text[end] not in ' \t\n':
            end += 1
        return self.text[start:end]

    def tokens(self):
        """Yield ('word', GrubWord), ('separator', one of newline ; { }) and ('comment', text)."""
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char in _GRUB_BLANKS:
                self.pos += 1
            elif text.startswith('\\\n', self.pos):
                self._continue_line()
            elif char == '#':
                end = text.find('\n', self.pos)
                end = len(text) if end < 0 else end
                yield 'comment', text[self.pos:end]
                self.pos = end
            else:
                operator = next((op for op in _GRUB_OPERATORS if text.startswith(op, self.pos)), None)
                if operator:
                    raise self.error('GRUB has no "%s" operator (in %s): quote it' % (operator, self.context(self.pos)))
                if char in _GRUB_SEPARATORS:
                    self.pos += 1
                    yield 'separator', char
                else:
                    yield 'word', self._word()

    def _continue_line(self):
        """Skip a backslash-newline; GRUB joins the next line, and fails when there is none."""
        start = self.pos
        self.pos += 2
        if self.pos >= len(self.text):
            raise self._trailing_backslash(start)

    def _trailing_backslash(self, pos):
        return self.error('a backslash at the end of the text (in %s) would join the next line: remove it' % self.context(pos), pos)

    def _word(self):
        text = self.text
        start = self.pos
        pieces, expansions, quoted = [], [], False
        while self.pos < len(text) and text[self.pos] not in _GRUB_WORD_END:
            char = text[self.pos]
            if char == '\\':
                pieces.append(self._escaped())
            elif char == "'":
                pieces.append(self._single_quoted())
                quoted = True
            elif char == '"' or text.startswith('$"', self.pos):
                # $"..." is a string GRUB translates at boot: an expansion too.
                opening = self.pos
                self.pos += 1 if char == '$' else 0
                piece, found = self._double_quoted()
                pieces.append(piece)
                expansions.extend(found + ([text[opening:self.pos]] if char == '$' else []))
                quoted = True
            elif char == '$':
                expansions.append(self._variable())
            else:
                pieces.append(char)
                self.pos += 1
        raw = text[start:self.pos]
        if raw in _GRUB_RESERVED_WORDS:
            raise self.error('GRUB has no "%s" operator (in %s): quote it' % (raw, raw), start)
        value = ''.join(pieces)
        return GrubWord(raw, [value] if value or quoted else [], tuple(expansions))

    def _escaped(self):
        if self.pos + 1 >= len(self.text):
            raise self._trailing_backslash(self.pos)
        if self.text[self.pos + 1] == '\n':
            self._continue_line()
            return ''
        self.pos += 2
        return self.text[self.pos - 1]

    def _single_quoted(self):
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise self.error('unclosed single quote in %s: close it' % self.context(self.pos))
        piece = self.text[self.pos + 1:end]
        self.pos = end + 1
        return piece

    def _double_quoted(self):
        """The text of a double-quoted string at pos (backslash escapes only \\, $ and "), and its expansions."""
        text = self.text
        opening = self.pos
        self.pos += 1
        pieces, expansions = [], []
        while self.pos < len(text) and text[self.pos] != '"':
            if text.startswith('\\\n', self.pos):
                self.pos += 2
            elif text[self.pos] == '\\' and text[self.pos + 1:self.pos + 2] in ('$', '\\', '"'):
                pieces.append(text[self.pos + 1])
                self.pos += 2
            elif text[self.pos] == '$':
                expansions.append(self._variable())
            else:
                pieces.append(text[self.pos])
                self.pos += 1
        if self.pos >= len(text):
            raise self.error('unclosed double quote in %s: close it' % self.context(opening), opening)
        self.pos += 1
        return ''.join(pieces), expansions

    def _variable(self):
        start = self.pos
        match = _GRUB_VARIABLE.match(self.text, self.pos + 1)
        if not match:
            raise self.error('"$" is not followed by a variable name (in %s): quote it' % self.context(start), start)
        self.pos = match.end()
        return self.text[start:self.pos]


def grub_script_commands(text):
    """The simple commands of GRUB script text, each a list of GrubWord, in order (blocks flattened).

    Raises GrubScriptError where grub-script-check fails too: unclosed quotes,
    a "$" without a variable name, a backslash at the very end, operators GRUB
    has no rule for, and unbalanced or empty blocks.
    """
    lexer = _GrubLexer(text)
    commands, current, blocks = [], [], [0]
    for kind, token in lexer.tokens():
        if kind == 'word':
            current.append(token)
            continue
        if kind == 'comment':
            continue
        if current:
            commands.append(current)
            blocks[-1] += 1
        elif token == ';':
            raise lexer.error('";" follows no command', lexer.pos - 1)
        current = []
        if token == '{':
            blocks.append(0)
        elif token == '}' and len(blocks) == 1:
            raise lexer.error('"}" closes no block', lexer.pos - 1)
        elif token == '}' and not blocks.pop():
            raise lexer.error('the block closed here holds no command', lexer.pos - 1)
    if current:
        commands.append(current)
    if len(blocks) > 1:
        raise lexer.error('a block opened with "{" is not closed')
    return commands


def grub_loader_cmdline(args):
    """The kernel command line GRUB's linux command makes of its arguments (grub_create_loader_cmdline)."""
    words = []
    for arg in args:
        escaped = re.sub(r'''([\\'"])''', r'\\\1', arg)
        words.append('"%s"' % escaped if ' ' in arg else escaped)
    return ' '.join(words)


def grub_cfg_cmdlines(text):
    """The kernel command line of every linux/linux16/linuxefi command of a grub.cfg, read as GRUB reads it.

    Raises GrubScriptError when GRUB could not parse text.
    """
    found = []
    for command in grub_script_commands(text or ''):
        args = [arg for word in command for arg in word.args]
        while args[:1] and args[0] in _GRUB_KEYWORDS:
            args = args[1:]
        if args[:1] and args[0] in _GRUB_LINUX_COMMANDS:
            found.append(kcmdline.parse(grub_loader_cmdline(args[2:])))
    return found


def grub_linux_words(text):
    """The words text gives where it stands in a linux line of grub.cfg.

    Raises GrubScriptError when GRUB would read it as more than words of that
    line: a comment, the end of the command, a block, or a syntax error.
    """
    words = []
    for kind, token in _GrubLexer(text).tokens():
        if kind == 'word':
            words.append(token)
        elif kind == 'comment':
            raise GrubScriptError('GRUB reads "%s" and what follows as a comment' % token.split()[0])
        elif token == ';':
            raise GrubScriptError('GRUB ends the linux command at ";" and runs what follows as a command of its own')
        elif token == '\n':
            raise GrubScriptError('a newline ends the linux command in grub.cfg: GRUB runs what follows as a command of its own')
        else:
            raise GrubScriptError('GRUB reads "%s" as a block of commands: quote it' % token)
    return words


def grub_settings_cmdline(text):
    """A GRUB_CMDLINE_* value as the kernel parameters GRUB passes on, each remembering its GRUB text (raw).

    A word GRUB expands at boot (such as $vt_handoff), or one giving other
    than one parameter, is kept as written, named by its text.
    """
    params, init_args = [], []
    target = params
    for word in grub_linux_words(text):
        if target is params and word.args == [kcmdline.INIT_SEPARATOR]:
            target = init_args
            continue
        found = kcmdline.parse(grub_loader_cmdline(word.args)).params
        if len(found) == 1 and not word.expansions:
            target.append(kcmdline.Param(found[0].name, found[0].value, word.raw))
        else:
            target.append(kcmdline.Param(word.raw, None, word.raw))
    return kcmdline.Cmdline(tuple(params), tuple(init_args))


def grub_word(param):
    """param as a word of a linux line that GRUB hands to the kernel unchanged: bare, or in single quotes.

    Raises BootloaderError for a value GRUB cannot pass unchanged.
    """
    name, value = param
    if value is None:
        return name
    for char, why in _GRUB_ALTERED:
        if char in value:
            raise BootloaderError('value for %s is %r: %s; use a value without it, or bootloader: kernel-install (systemd-boot), '
                                  'which passes it unchanged' % (name, value, why))
    # Inside single quotes GRUB expands and splits nothing; grub_create_loader_cmdline
    # then double-quotes an argument with spaces for the kernel.
    return '%s=%s' % (name, value) if GRUB_BARE.match(value) else "%s='%s'" % (name, value)


def render_grub_text(cmdline):
    """cmdline as the text of a GRUB_CMDLINE_* value: words read from the settings as written, new ones quoted for GRUB."""
    def words(params):
        return [param.raw if param.raw is not None else grub_word(param) for param in params]
    separator = [kcmdline.INIT_SEPARATOR] if cmdline.init_args else []
    return ' '.join(words(cmdline.params) + separator + words(cmdline.init_args))
