# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Persistent kernel command line: where the next boot's parameters live, and how to change them.

Three backends:

* ``grub`` (Debian, Ubuntu): a drop-in ``/etc/default/grub.d/NAME.cfg`` that
  grub-mkconfig sources after ``/etc/default/grub``, then ``update-grub`` (or
  ``grub-mkconfig -o``/``grub2-mkconfig -o``). The packaged
  ``/etc/default/grub`` is never edited.
* ``grubby`` (Fedora, RHEL): ``grubby --update-kernel=... --args/--remove-args``
  on the boot entries, and ``/etc/kernel/cmdline`` (what kernel-install gives
  kernels installed later) kept in step when it exists.
* ``kernel-install`` (systemd-boot and other Boot Loader Specification setups):
  ``/etc/kernel/cmdline`` plus the ``options`` line of the boot entries
  kernel-install wrote for this machine.

Every path is taken under a root prefix (``/`` on a host, a fixture tree in
tests) and every command goes through a ``run`` callable:
``run(argv) -> (rc, stdout, stderr)``, raising OSError when the command
cannot be started.

Nothing is damaged silently: a grub drop-in is only rewritten when its first
line says the module wrote it; shared files (``/etc/kernel/cmdline``, the
``options`` lines of boot entries) change only where the requested
parameters stand; the grub.cfg GRUB will read is parsed with GRUB's own word
rules (and ``grub-script-check`` where installed) after it is regenerated;
and every file is put back when anything after the first write fails.
"""

from __future__ import annotations

import collections
import glob
import os
import re
import stat
import tempfile

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as kcmdline
from ansible_collections.luo.liveupdate.plugins.module_utils.host import COMMAND_DIRS, TEST_ROOT_ENV, why_not_started
from ansible_collections.luo.liveupdate.plugins.module_utils.kernel_version import version_key

ROOT_ENV = TEST_ROOT_ENV
BACKENDS = ('grub', 'grubby', 'kernel-install')
DEFAULT_GRUB_DROPIN = '90-luo-liveupdate.cfg'

# Where executables are looked up, relative to the root (the usual PATH of root).
EXECUTABLE_DIRS = COMMAND_DIRS
BLS_ENTRY_DIRS = ('boot/loader/entries', 'efi/loader/entries', 'boot/efi/loader/entries')
GRUB_DEFAULTS = 'etc/default/grub'
GRUB_DROPIN_DIR = 'etc/default/grub.d'
KERNEL_CMDLINE = 'etc/kernel/cmdline'
# How grub-mkconfig itself reads its settings: sourced in order, with set -e.
# Output of the sourced files goes to stderr; after each file the two
# variables are printed, NUL-terminated.
GRUB_EVAL_SCRIPT = r'''set -e
unset GRUB_CMDLINE_LINUX GRUB_CMDLINE_LINUX_DEFAULT
for luo_liveupdate_file do
    . "$luo_liveupdate_file" >&2
    printf '%s\0%s\0' "${GRUB_CMDLINE_LINUX-}" "${GRUB_CMDLINE_LINUX_DEFAULT-}"
done
'''
SHELL = '/bin/sh'

Detection = collections.namedtuple('Detection', ['backend', 'evidence'])
FileChange = collections.namedtuple('FileChange', ['path', 'before', 'after'])
FileChange.__doc__ = 'A file the backend writes itself: text before and after, None for absent.'
Plan = collections.namedtuple('Plan', ['next_before', 'next_after', 'files', 'commands', 'changed'])
Plan.__doc__ = ('What a backend would do: the next boot command line before and after, the files it '
                'writes, the commands it runs (argv lists) and whether anything changes.')


class BootloaderError(Exception):
    """Something about the boot configuration that stops the change; the message says what to do."""


def root_prefix(environ=None):
    """The root all paths are taken under: "/" unless the test-only variable says otherwise."""
    environ = os.environ if environ is None else environ
    return environ.get(ROOT_ENV) or '/'


def under(root, path):
    """path (absolute or relative) under root."""
    return os.path.join(root, path.lstrip('/'))


def find_executable(root, name):
    """The path of executable name in the usual sbin/bin directories under root, or None."""
    for directory in EXECUTABLE_DIRS:
        candidate = os.path.join(root, directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def read_text(path):
    """Content of a text file, or None when it does not exist."""
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise BootloaderError('cannot read %s: %s; make it readable UTF-8 text (run as root, e.g. become: true)' % (path, error))


def running_cmdline(root):
    """The running kernel's command line text (/proc/cmdline), or '' when unreadable."""
    try:
        return read_text(under(root, 'proc/cmdline')) or ''
    except BootloaderError:
        return ''


# --- files: atomic writes, snapshots, restore ---------------------------------

def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, text, default_mode=0o644):
    """Replace path with text in one rename, keeping an existing file's owner and mode.

    The temporary file lives in the same directory (same filesystem) and is
    fsynced before the rename; the directory is fsynced after it.
    """
    directory = os.path.dirname(path)
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    fd, temporary = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path), suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(text)
            handle.flush()
            if old is not None:
                os.fchmod(handle.fileno(), stat.S_IMODE(old.st_mode))
                if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(handle.fileno(), old.st_uid, old.st_gid)
            else:
                os.fchmod(handle.fileno(), default_mode)
            os.fsync(handle.fileno())
        os.rename(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise
    _fsync_dir(directory)


def remove_file(path):
    """Remove path if it exists (and make the removal durable)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    _fsync_dir(os.path.dirname(path))


def snapshot(paths):
    """Content (bytes) and mode of each path, None for absent ones, to restore() later."""
    saved = {}
    for path in paths:
        try:
            with open(path, 'rb') as handle:
                content = handle.read()
            info = os.stat(path)
            saved[path] = (content, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
        except FileNotFoundError:
            saved[path] = None
    return saved


def _current(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def restore(saved):
    """Put every snapshotted path back as it was: same bytes, mode and owner, or absent."""
    problems = []
    for path, state in saved.items():
        try:
            if state is None:
                remove_file(path)
                continue
            content, mode, uid, gid = state
            if _current(path) == content:
                continue
            fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.%s.' % os.path.basename(path), suffix='.tmp')
            with os.fdopen(fd, 'wb') as handle:
                handle.write(content)
                os.fchmod(handle.fileno(), mode)
                if (uid, gid) != (os.geteuid(), os.getegid()):
                    os.fchown(handle.fileno(), uid, gid)
                os.fsync(handle.fileno())
            os.rename(temporary, path)
            _fsync_dir(os.path.dirname(path))
        except OSError as error:
            problems.append('%s: %s' % (path, error))
    return problems


def changed_paths(saved):
    """The snapshotted paths whose content (or existence) differs now, sorted."""
    return sorted(path for path, state in saved.items() if _current(path) != (None if state is None else state[0]))


def _check_writable(paths):
    for path in paths:
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            raise BootloaderError('cannot write %s: directory %s does not exist; create it or choose another bootloader' % (path, directory))
        if not os.access(directory, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
            raise BootloaderError('cannot write %s: permission denied; run the task as root (become: true)' % path)


def _make_parent_dirs(paths):
    """Create each missing parent directory (0755) whose own parent exists; return them for _remove_dirs()."""
    created = []
    for path in paths:
        directory = os.path.dirname(path)
        if not os.path.isdir(directory) and os.path.isdir(os.path.dirname(directory)) and directory not in created:
            try:
                os.mkdir(directory, 0o755)
            except OSError as error:
                _remove_dirs(created)
                raise BootloaderError('cannot create %s: %s; run the task as root (become: true)' % (directory, error))
            created.append(directory)
    return created


def _remove_dirs(directories):
    for directory in reversed(directories):
        try:
            os.rmdir(directory)
        except OSError:
            pass


def run_command(run, argv, what):
    """run(argv) -> (rc, out, err); BootloaderError saying why when the command cannot even be started."""
    try:
        return run(list(argv))
    except OSError as error:
        raise BootloaderError('%s failed: cannot run %s: %s; repair or reinstall it' % (what, argv[0], why_not_started(argv[0], error)))


def _run_checked(run, argv, what):
    rc, out, err = run_command(run, argv, what)
    if rc != 0:
        detail = (err or out or '').strip() or 'no output'
        raise BootloaderError('%s failed (%s exited with %s): %s' % (what, ' '.join(argv), rc, detail))
    return out


def _carry_out(plan, run, verify):
    for change in plan.files:
        if change.after is None:
            remove_file(change.path)
        else:
            atomic_write(change.path, change.after)
    for argv in plan.commands:
        _run_checked(run, argv, 'regenerating the boot configuration')
    if verify is not None:
        verify()


def _restore_all(saved, created, message):
    """Put every snapshotted file back and remove the directories created; message plus how that went."""
    problems = restore(saved)
    _remove_dirs(created)
    if problems:
        return message + '; restoring the previous files also failed for %s: restore them from backups' % ', '.join(problems)
    return message + '; the previous files were restored, nothing changed'


def apply_plan(plan, guarded, run, verify=None):
    """Write plan.files, run plan.commands, then verify(); on any failure restore every file.

    guarded lists the other files the commands may change (the generated
    grub.cfg, boot entries...): they are snapshotted and restored too.
    An unexpected exception is let through after the restore. Returns the
    paths whose content changed.
    """
    created = _make_parent_dirs(change.path for change in plan.files if change.after is not None)
    try:
        _check_writable(change.path for change in plan.files)
    except BootloaderError:
        _remove_dirs(created)
        raise
    saved = snapshot(sorted(set(guarded) | set(change.path for change in plan.files)))
    try:
        _carry_out(plan, run, verify)
    except (BootloaderError, OSError, ValueError) as error:
        raise BootloaderError(_restore_all(saved, created, str(error)))
    except BaseException:
        _restore_all(saved, created, '')
        raise
    return changed_paths(saved)


def validate_changes(changes):
    """Raise BootloaderError unless every change names a kernel parameter and a value that can be written."""
    try:
        for change in changes:
            kcmdline.validate_change(change)
    except ValueError as error:
        raise BootloaderError(str(error))


def edited_file(path, text, changes):
    """The FileChange that applies changes to the shared file path in place, or None when it already has them."""
    try:
        after = kcmdline.edit_text(text, changes)
    except ValueError as error:
        raise BootloaderError('cannot edit %s: %s' % (path, error))
    return None if after == text else FileChange(path, text, after)


# --- detection ----------------------------------------------------------------

def _bls_dirs(root):
    found = []
    for relative in BLS_ENTRY_DIRS:
        path = under(root, relative)
        if os.path.isdir(path) and os.path.realpath(path) not in [os.path.realpath(other) for other in found]:
            found.append(path)
    return found


def _bls_entries(directories):
    return sorted(path for directory in directories for path in glob.glob(os.path.join(directory, '*.conf')))


def _grub_tools(root):
    return [(name, find_executable(root, name)) for name in ('update-grub', 'grub-mkconfig', 'grub2-mkconfig') if find_executable(root, name)]


def _evidence_grubby(root):
    path = find_executable(root, 'grubby')
    return ['grubby executable at %s' % path] if path else None


def _evidence_kernel_install(root):
    entries = _bls_entries(_bls_dirs(root))
    if not entries:
        return None
    evidence = ['boot entries in %s' % ', '.join(sorted(set(os.path.dirname(entry) for entry in entries)))]
    cmdline_file = under(root, KERNEL_CMDLINE)
    tool = find_executable(root, 'kernel-install')
    if os.path.isfile(cmdline_file):
        evidence.append('%s exists' % cmdline_file)
    elif tool:
        evidence.append('kernel-install executable at %s' % tool)
    else:
        return None
    return evidence


def _evidence_grub(root):
    tools = _grub_tools(root)
    defaults = under(root, GRUB_DEFAULTS)
    if not tools or not (os.path.isfile(defaults) or os.path.isdir(under(root, GRUB_DROPIN_DIR))):
        return None
    evidence = ['%s exists' % defaults] if os.path.isfile(defaults) else ['%s exists' % under(root, GRUB_DROPIN_DIR)]
    evidence.extend('%s executable at %s' % (name, path) for name, path in tools)
    return evidence


_EVIDENCE = (('grubby', _evidence_grubby), ('kernel-install', _evidence_kernel_install), ('grub', _evidence_grub))


def detect(root):
    """Which backend governs the next boot's command line here, with the evidence for it.

    grubby wins where it is installed (it owns the boot entries on Fedora and
    RHEL), then kernel-install (Boot Loader Specification entries plus
    /etc/kernel/cmdline or kernel-install), then grub (/etc/default/grub
    plus update-grub or grub-mkconfig).
    """
    for name, probe in _EVIDENCE:
        evidence = probe(root)
        if evidence:
            return Detection(name, evidence)
    raise BootloaderError(
        'no supported boot configuration found under %s: looked for a grubby executable in %s; for boot entries in %s with %s '
        'or a kernel-install executable; and for %s with update-grub, grub-mkconfig or grub2-mkconfig. '
        'Set bootloader to grub, grubby or kernel-install to choose one explicitly'
        % (root, ', '.join('/' + d for d in EXECUTABLE_DIRS), ', '.join('/' + d for d in BLS_ENTRY_DIRS), '/' + KERNEL_CMDLINE, '/' + GRUB_DEFAULTS))


_MISSING = {
    'grubby': 'no grubby executable in the usual sbin/bin directories: install grubby, or use bootloader: auto',
    'kernel-install': 'no boot entries (*.conf) in %s, or neither /%s nor a kernel-install executable: use bootloader: auto'
                      % (', '.join('/' + d for d in BLS_ENTRY_DIRS), KERNEL_CMDLINE),
    'grub': 'it needs /%s (or /%s) and update-grub, grub-mkconfig or grub2-mkconfig: install GRUB, or use bootloader: auto'
            % (GRUB_DEFAULTS, GRUB_DROPIN_DIR),
}


def select(root, run, choice='auto', grub_dropin=DEFAULT_GRUB_DROPIN, kernel='ALL'):
    """The backend object for choice ('auto' detects), ready to plan() and apply()."""
    if choice == 'auto':
        detection = detect(root)
    elif choice in BACKENDS:
        evidence = dict(_EVIDENCE)[choice](root)
        if not evidence:
            raise BootloaderError('bootloader %s was chosen but is not installed under %s: %s' % (choice, root, _MISSING[choice]))
        detection = Detection(choice, ['chosen explicitly'] + evidence)
    else:
        raise BootloaderError('unknown bootloader %r: choose one of auto, %s' % (choice, ', '.join(BACKENDS)))
    if detection.backend == 'grub':
        return GrubBackend(root, run, detection.evidence, grub_dropin)
    if detection.backend == 'grubby':
        return GrubbyBackend(root, run, detection.evidence, kernel)
    return KernelInstallBackend(root, run, detection.evidence)


# --- GRUB script: how GRUB reads the linux lines of grub.cfg ---------------------
#
# grub-mkconfig pastes GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT as they
# are into the linux lines of grub.cfg, and GRUB parses grub.cfg as a script:
# ";" ends the command, "#" starts a comment, "$name" is expanded, quotes and
# backslashes are removed. The rules below transcribe grub-core/script/yylex.l
# (GRUB 2.06), the parts of parser.y that make grub-script-check fail, and
# grub_create_loader_cmdline() (grub-core/lib/cmdline.c), which turns the
# arguments of the linux command into the kernel command line.

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


# --- grub ---------------------------------------------------------------------

def validate_grub_dropin(name):
    """Raise BootloaderError unless name is a drop-in file name grub-mkconfig will source."""
    if not isinstance(name, str) or not name or '/' in name or name.startswith('.'):
        raise BootloaderError('grub_dropin %r must be a plain file name inside /%s, e.g. %s' % (name, GRUB_DROPIN_DIR, DEFAULT_GRUB_DROPIN))
    if not re.match(r'[A-Za-z0-9_.-]+\Z', name):
        raise BootloaderError('grub_dropin %r must be a file name of letters, digits, "_", "-" and "." ending in .cfg, e.g. %s'
                              % (name, DEFAULT_GRUB_DROPIN))
    if not name.endswith('.cfg'):
        raise BootloaderError('grub_dropin %r does not end in .cfg: grub-mkconfig only sources /%s/*.cfg; use e.g. %s.cfg'
                              % (name, GRUB_DROPIN_DIR, name))


def shell_escape(text):
    """text for the inside of a POSIX shell double-quoted string, nothing expanded."""
    return re.sub(r'([\\"$`])', r'\\\1', text)


GRUB_VARIABLES = ('GRUB_CMDLINE_LINUX', 'GRUB_CMDLINE_LINUX_DEFAULT')
DROPIN_HEADER = (
    '# Kernel command line parameters managed by the luo.liveupdate.kernel_cmdline Ansible module.\n'
    '# grub-mkconfig (update-grub) sources this file after /etc/default/grub and the drop-ins\n'
    '# sorting before it. The module rewrites it: change the task, not this file.\n')
# The first line of every drop-in the module writes: how it tells its own drop-in from someone else's file.
DROPIN_MARK = DROPIN_HEADER.split('\n', 1)[0]


def render_grub_dropin(base, wanted):
    """Drop-in text that turns the settings base into wanted, or None when nothing is needed.

    base and wanted are (GRUB_CMDLINE_LINUX, GRUB_CMDLINE_LINUX_DEFAULT) Cmdline
    pairs. A value that only gains parameters is written as an append to
    what the earlier files set ("$VAR new..."), so later edits of
    /etc/default/grub still count; a value that loses some is written in full.
    Quoting holds at both levels: GRUB script inside (render_grub_text), a
    shell double-quoted string around it (grub-mkconfig sources the file).
    """
    lines = []
    for variable, before, after in zip(GRUB_VARIABLES, base, wanted):
        if after == before:
            continue
        count = len(before.params)
        if after.init_args == before.init_args == () and after.params[:count] == before.params:
            extra = render_grub_text(kcmdline.Cmdline(after.params[count:], ()))
            lines.append('%s="$%s %s"' % (variable, variable, shell_escape(extra)))
        else:
            lines.append('%s="%s"' % (variable, shell_escape(render_grub_text(after))))
    if not lines:
        return None
    return DROPIN_HEADER + '\n'.join(lines) + '\n'


def _setter(files, states, index):
    """The file that last changed variable index of the settings states (one per file)."""
    setter, previous = files[0], None
    for path, state in zip(files, states):
        if state[index] != previous:
            setter, previous = path, state[index]
    return setter


def _lenient(texts):
    """The settings texts as Cmdline pairs, or None where GRUB would read them otherwise."""
    try:
        return tuple(grub_settings_cmdline(text) for text in texts)
    except GrubScriptError:
        return None


class GrubBackend(object):
    """The /etc/default/grub.d drop-in plus update-grub (or grub-mkconfig)."""

    name = 'grub'

    def __init__(self, root, run, evidence, dropin=DEFAULT_GRUB_DROPIN):
        validate_grub_dropin(dropin)
        self.root = root
        self.run = run
        self.evidence = evidence
        self.dropin = os.path.join(under(root, GRUB_DROPIN_DIR), dropin)
        self.command, self.grub_cfg = self._regenerate_command()
        self.script_check = find_executable(root, 'grub-script-check')

    def _regenerate_command(self):
        tools = dict(_grub_tools(self.root))
        mkconfig_name = 'grub-mkconfig' if 'grub-mkconfig' in tools else 'grub2-mkconfig'
        mkconfig = tools.get(mkconfig_name)
        if mkconfig:
            with open(mkconfig, 'rb') as handle:
                script = handle.read(1 << 20)
            if b'default/grub.d' not in script:
                raise BootloaderError('%s does not read /%s/*.cfg drop-ins (Fedora and RHEL builds do not): '
                                      'use bootloader: grubby there' % (mkconfig, GRUB_DROPIN_DIR))
        if 'update-grub' in tools:
            # update-grub is "grub-mkconfig -o /boot/grub/grub.cfg".
            return [tools['update-grub']], under(self.root, 'boot/grub/grub.cfg')
        target = self._grub_cfg_for(mkconfig_name)
        return [mkconfig, '-o', target], target

    def _grub_cfg_for(self, mkconfig_name):
        own, other = ('boot/grub2/grub.cfg', 'boot/grub/grub.cfg') if mkconfig_name == 'grub2-mkconfig' else ('boot/grub/grub.cfg', 'boot/grub2/grub.cfg')
        candidates = [under(self.root, own), under(self.root, other)] + sorted(glob.glob(under(self.root, 'boot/efi/EFI/*/grub.cfg')))
        for candidate in candidates:
            if os.path.isfile(candidate):
                return candidate
        if os.path.isdir(os.path.dirname(candidates[0])):
            return candidates[0]
        raise BootloaderError('no grub.cfg to regenerate: looked for %s; install GRUB (grub-install) or choose another bootloader'
                              % ', '.join(candidates))

    def _refuse_foreign_dropin(self):
        """Refuse a file of the drop-in's name that this module did not write: rewriting it would lose its settings."""
        if not os.path.lexists(self.dropin):
            return
        first_line = '' if os.path.islink(self.dropin) else (read_text(self.dropin) or '').split('\n', 1)[0]
        if first_line != DROPIN_MARK:
            other = '91-luo-liveupdate.cfg' if os.path.basename(self.dropin) == DEFAULT_GRUB_DROPIN else DEFAULT_GRUB_DROPIN
            raise BootloaderError('grub_dropin %s exists but was not written by this module (its first line is not "%s"), so it holds '
                                  'settings of someone else that rewriting it would lose: give grub_dropin another name, e.g. %s, '
                                  'or rename or remove that file' % (self.dropin, DROPIN_MARK, other))

    def _sources(self):
        """The files grub-mkconfig sources, in its order, and where the drop-in sits among them."""
        files = []
        defaults = under(self.root, GRUB_DEFAULTS)
        if os.path.isfile(defaults):
            files.append(defaults)
        # grub-mkconfig globs grub.d/*.cfg in /bin/sh; dash sorts the names bytewise.
        dropins = set(glob.glob(os.path.join(under(self.root, GRUB_DROPIN_DIR), '*.cfg')))
        dropins.add(self.dropin)
        ordered = sorted(dropins, key=lambda path: os.path.basename(path).encode('utf-8'))
        files.extend(ordered)
        return files, files.index(self.dropin)

    def evaluate(self, files):
        """The (GRUB_CMDLINE_LINUX, GRUB_CMDLINE_LINUX_DEFAULT) texts after sourcing each file, as grub-mkconfig does."""
        if not files:
            return []
        rc, out, err = run_command(self.run, [SHELL, '-c', GRUB_EVAL_SCRIPT, 'sh'] + list(files), 'reading the GRUB settings')
        fields = out.split('\0')
        if rc != 0 or len(fields) != 2 * len(files) + 1:
            raise BootloaderError('reading the GRUB settings from %s failed (exit %s): %s; grub-mkconfig would fail the same way: fix those files'
                                  % (', '.join(files), rc, (err or '').strip() or 'no output'))
        return [(fields[2 * index], fields[2 * index + 1]) for index in range(len(files))]

    def _settings(self, files, content):
        """The files sourced with the drop-in holding content (None: absent), and the settings texts after each."""
        present = [path for path in files if path != self.dropin or content is not None]
        present = [path for path in present if path == self.dropin or os.path.exists(path)]
        if content is None:
            return present, self.evaluate(present)
        fd, stand_in = tempfile.mkstemp(prefix='luo-liveupdate-grub-', suffix='.cfg')
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as handle:
                handle.write(content)
            return present, self.evaluate([stand_in if path == self.dropin else path for path in present])
        finally:
            os.unlink(stand_in)

    @staticmethod
    def _final(files, states):
        """The settings after the last of files as Cmdline pairs, read as GRUB reads them.

        Raises BootloaderError naming the file that set a value GRUB would read otherwise.
        """
        if not states:
            return kcmdline.empty(), kcmdline.empty()
        parsed = []
        for index, (variable, text) in enumerate(zip(GRUB_VARIABLES, states[-1])):
            try:
                parsed.append(grub_settings_cmdline(text))
            except GrubScriptError as error:
                raise BootloaderError('%s as %s sets it (%s) does not reach the kernel as written: %s; fix it there'
                                      % (variable, _setter(files, states, index), text, error.detail))
        return tuple(parsed)

    @staticmethod
    def combined(settings):
        """The kernel command line grub's default entries get: GRUB_CMDLINE_LINUX then GRUB_CMDLINE_LINUX_DEFAULT."""
        linux, default = settings
        # 10_linux joins the two strings: a "--" in the first makes the second init arguments.
        return grub_settings_cmdline('%s %s' % (render_grub_text(linux), render_grub_text(default)))

    def _wanted(self, current, changes):
        linux, default = current
        for change in changes:
            if kcmdline.is_satisfied(self.combined((linux, default)), change):
                continue
            if change.present:
                linux = kcmdline.remove_param(linux, change.name)
                default = kcmdline.set_param(default, change.name, change.value)
            else:
                linux = kcmdline.remove_param(linux, change.name, change.value)
                default = kcmdline.remove_param(default, change.name, change.value)
        return linux, default

    @staticmethod
    def _refuse_values_grub_alters(changes):
        validate_changes(changes)
        for change in changes:
            if change.present:
                grub_word(kcmdline.Param(change.name, change.value))

    def plan(self, changes):
        """What setting changes needs: the drop-in content, update-grub when anything (or grub.cfg) is behind."""
        self._refuse_values_grub_alters(changes)
        self._refuse_foreign_dropin()
        files, position = self._sources()
        old_content = read_text(self.dropin)
        existing = [path for path in files if os.path.exists(path)]
        states = self.evaluate(existing)
        next_before = self.combined(self._final(existing, states))
        content = old_content
        if not kcmdline.all_satisfied(next_before, changes):
            before_dropin = len([path for path in files[:position] if path in existing])
            base = self._final(existing[:before_dropin], states[:before_dropin])
            current = self._final(existing[:before_dropin + 1], states[:before_dropin + 1]) if self.dropin in existing else base
            content = render_grub_dropin(base, self._wanted(current, changes))
        present = existing
        if content != old_content:
            present, states = self._settings(files, content)
        next_after = self.combined(self._final(present, states))
        if not kcmdline.all_satisfied(next_after, changes):
            raise self._overridden(files[position + 1:], present, states, changes)
        file_changes = () if content == old_content else (FileChange(self.dropin, old_content, content),)
        stale = not self._grub_cfg_satisfies(changes)
        commands = (tuple(self.command),) if file_changes or stale else ()
        return Plan(render_grub_text(next_before), render_grub_text(next_after), file_changes, commands, bool(commands))

    def _overridden(self, later, present, states, changes):
        """The error for files sourced after the drop-in that undo what it sets, naming them."""
        def satisfied(state):
            parsed = _lenient(state)
            return parsed is not None and kcmdline.all_satisfied(self.combined(parsed), changes)
        flags = [satisfied(state) for state in states]
        culprits = [path for index, path in enumerate(present)
                    if path in later and not flags[index] and (index == 0 or flags[index - 1])]
        final = _lenient(states[-1]) if states else (kcmdline.empty(), kcmdline.empty())
        shown = render_grub_text(self.combined(final)) if final else ' '.join(states[-1])
        return BootloaderError('the GRUB settings still lack the requested parameters after %s (%s): %s set GRUB_CMDLINE_LINUX or '
                               'GRUB_CMDLINE_LINUX_DEFAULT after it; give grub_dropin a name that sorts after them, e.g. 99-luo-liveupdate.cfg'
                               % (self.dropin, shown, ', '.join(culprits) or 'the files sourced'))

    def _grub_cfg_lines(self):
        """The kernel command lines of grub.cfg as GRUB reads them (None when it is missing)."""
        text = read_text(self.grub_cfg)
        return None if text is None else grub_cfg_cmdlines(text)

    def _grub_cfg_satisfies(self, changes):
        """Whether the generated grub.cfg already has a linux line with the wanted state (no linux line: nothing to judge)."""
        try:
            lines = self._grub_cfg_lines()
        except GrubScriptError:
            return False
        return lines is not None and (not lines or any(kcmdline.all_satisfied(line, changes) for line in lines))

    def outputs(self, plan):
        """Files the plan's commands regenerate."""
        return [self.grub_cfg] if plan.commands else []

    def next_cmdline(self, plan):
        """The next boot command line after apply(): what the settings now give."""
        return plan.next_after

    def _verify_grub_cfg(self, changes):
        """Read the regenerated grub.cfg as GRUB does: grub-script-check where installed, then the linux lines."""
        if self.script_check:
            _run_checked(self.run, [self.script_check, self.grub_cfg], 'checking the regenerated %s' % self.grub_cfg)
        try:
            lines = self._grub_cfg_lines()
        except GrubScriptError as error:
            raise BootloaderError('GRUB cannot read the regenerated %s: %s' % (self.grub_cfg, error))
        if lines is None or (lines and not any(kcmdline.all_satisfied(line, changes) for line in lines)):
            raise BootloaderError('%s regenerated %s but no linux line in it has the requested parameters; check that it reads /%s '
                                  '(or use bootloader: grubby on Fedora/RHEL)' % (self.command[0], self.grub_cfg, GRUB_DROPIN_DIR))

    def apply(self, plan, changes):
        """Carry plan out; restore everything if update-grub fails or GRUB would not read the change from its grub.cfg."""
        return apply_plan(plan, [self.grub_cfg], self.run, lambda: self._verify_grub_cfg(changes))


# --- grubby -------------------------------------------------------------------

KERNEL_FIX = 'give ALL, DEFAULT, an entry index or the path of a kernel image, e.g. /boot/vmlinuz-6.12.0'


def _kernel_problem(kernel):
    if not isinstance(kernel, str) or not kernel.strip():
        return 'is empty'
    outside = [char for char in kernel if char == ' ' or not kcmdline.is_printable_ascii(char)]
    if outside:
        return 'contains %s' % kcmdline.describe_character(outside[0])
    if kernel in ('ALL', 'DEFAULT') or kernel.isdigit() or kernel.startswith('/'):
        return None
    return 'is not ALL, DEFAULT, an entry index or the absolute path of a kernel image'


def validate_grubby_kernel(kernel):
    """Raise BootloaderError unless grubby --update-kernel takes kernel: ALL, DEFAULT, an entry index or a kernel path."""
    problem = _kernel_problem(kernel)
    if problem:
        raise BootloaderError('kernel %r %s: %s' % (kernel, problem, KERNEL_FIX))


def _refuse_grubby_value(change):
    """Refuse a value grubby cannot write as one word that GRUB's blscfg reads back unchanged."""
    if any(char.isspace() for char in change.value):
        raise BootloaderError('value for %s is %r: grubby splits --args at whitespace, so it cannot set a value with spaces; '
                              'use bootloader: grub or kernel-install, or a value without spaces' % (change.name, change.value))
    if not GRUB_BARE.match(change.value):
        raise BootloaderError('value for %s is %r: grubby writes it unquoted into the boot entries, whose options GRUB reads as script; '
                              'use letters, digits and _ . , : / + = @ %% - only, or bootloader: kernel-install (systemd-boot)'
                              % (change.name, change.value))


GrubbyEntry = collections.namedtuple('GrubbyEntry', ['index', 'kernel', 'cmdline'])


def _unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def parse_grubby_info(text):
    """Entries of `grubby --info` output: index, kernel path and command line (root= included)."""
    entries = []
    fields = None
    for line in text.splitlines():
        key, sep, value = line.partition('=')
        if not sep:
            continue
        if key == 'index':
            fields = {'index': value.strip()}
            entries.append(fields)
        elif fields is not None:
            fields[key] = _unquote(value)
    result = []
    for fields in entries:
        if 'kernel' not in fields:
            continue
        args = fields.get('args', '')
        root = fields.get('root')
        if root and not kcmdline.has(kcmdline.parse(args), 'root'):
            # grubby shows root= apart from the other arguments.
            args = ('root=%s %s' % (root, args)).strip()
        result.append(GrubbyEntry(fields['index'], fields['kernel'], kcmdline.parse(args)))
    return result


def grubby_arguments(entries, changes):
    """(--remove-args words, --args words) that bring every entry to the wanted state."""
    remove, add = [], []
    for change in changes:
        unsatisfied = [entry for entry in entries if not kcmdline.is_satisfied(entry.cmdline, change)]
        if not unsatisfied:
            continue
        for entry in unsatisfied:
            for param in entry.cmdline.params:
                if kcmdline.normalize_name(param.name) != kcmdline.normalize_name(change.name):
                    continue
                if change.present:
                    # grubby matches names literally: drop every spelling, then add one.
                    word = param.name
                elif change.value is kcmdline.ANY:
                    word = param.name
                elif param.value == change.value:
                    word = kcmdline.render_param(kcmdline.Param(param.name, param.value))
                else:
                    continue
                if word not in remove:
                    remove.append(word)
        if change.present:
            add.append(kcmdline.render_param(kcmdline.Param(change.name, change.value)))
    return remove, add


class GrubbyBackend(object):
    """grubby --update-kernel on the boot entries (and /etc/kernel/cmdline when it exists)."""

    name = 'grubby'

    def __init__(self, root, run, evidence, kernel='ALL'):
        validate_grubby_kernel(kernel)
        self.root = root
        self.run = run
        self.evidence = evidence
        self.kernel = kernel
        self.grubby = find_executable(root, 'grubby')
        self.kernel_cmdline = under(root, KERNEL_CMDLINE)
        self._verified_next = None

    def entries(self):
        """The entries kernel selects, as grubby reports them."""
        out = _run_checked(self.run, [self.grubby, '--info=%s' % self.kernel], 'reading the boot entries')
        entries = parse_grubby_info(out)
        if not entries:
            raise BootloaderError('grubby --info=%s lists no boot entry: give kernel as ALL, DEFAULT or the path of an installed kernel' % self.kernel)
        return entries

    def _next_entry(self, entries):
        if self.kernel != 'ALL':
            return entries[0]
        rc, out, _err = run_command(self.run, [self.grubby, '--default-index'], 'reading the default boot entry')
        index = out.strip() if rc == 0 else ''
        for entry in entries:
            if entry.index == index:
                return entry
        return entries[0]

    def plan(self, changes):
        """The grubby command (if any entry needs it) and the /etc/kernel/cmdline update."""
        validate_changes(changes)
        for change in changes:
            if change.present and change.value is not None:
                _refuse_grubby_value(change)
        entries = self.entries()
        remove, add = grubby_arguments(entries, changes)
        commands = []
        if remove or add:
            argv = [self.grubby, '--update-kernel=%s' % self.kernel]
            if remove:
                argv.append('--remove-args=%s' % ' '.join(remove))
            if add:
                argv.append('--args=%s' % ' '.join(add))
            commands.append(tuple(argv))
        # /etc/kernel/cmdline is shared: only the requested parameters change in it.
        old = read_text(self.kernel_cmdline)
        edited = None if old is None else edited_file(self.kernel_cmdline, old, changes)
        files = (edited,) if edited else ()
        next_entry = self._next_entry(entries)
        next_after = kcmdline.apply_changes(next_entry.cmdline, changes)
        changed = bool(commands or files)
        return Plan(kcmdline.render(next_entry.cmdline), kcmdline.render(next_after), files, tuple(commands), changed)

    def guarded(self):
        """Files grubby may rewrite: boot entries, grubenv, grub.cfg, /etc/default/grub."""
        patterns = ['boot/loader/entries/*.conf', 'boot/grub2/grubenv', 'boot/grub2/grub.cfg', 'boot/grub/grub.cfg',
                    'boot/efi/EFI/*/grub.cfg', 'boot/efi/EFI/*/grubenv', GRUB_DEFAULTS, 'etc/zipl.conf']
        return sorted(set(path for pattern in patterns for path in glob.glob(under(self.root, pattern))))

    def outputs(self, plan):
        """Files the plan's commands change: grubby's own files are only known after it ran."""
        del plan
        return []

    def next_cmdline(self, plan):
        """The next boot command line after apply(), as grubby reported it when the change was verified."""
        return plan.next_after if self._verified_next is None else self._verified_next

    def apply(self, plan, changes):
        """Run grubby, then check every selected entry has the change; restore all on failure."""
        def verify():
            entries = self.entries()
            missing = [entry.kernel for entry in entries if not kcmdline.all_satisfied(entry.cmdline, changes)]
            if missing:
                raise BootloaderError('grubby ran but the entries for %s still lack the requested parameters' % ', '.join(missing))
            self._verified_next = kcmdline.render(self._next_entry(entries).cmdline)
        return apply_plan(plan, self.guarded(), self.run, verify if plan.commands else None)


# --- kernel-install (Boot Loader Specification) -------------------------------

def bls_options(text):
    """The command line of a BLS entry: its options lines, joined."""
    parts = []
    for line in text.splitlines():
        words = line.split(None, 1)
        if words[:1] == ['options']:
            parts.append(words[1] if len(words) == 2 else '')
    return kcmdline.parse(' '.join(parts))


def bls_version(text, path):
    """The version key of a BLS entry (its version line, else the file name)."""
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if len(words) == 2 and words[0] == 'version':
            return words[1].strip()
    return os.path.basename(path)[:-len('.conf')]


def replace_bls_options(text, options):
    """Entry text with a single options line carrying options, in place of the first one (or appended).

    The first options line keeps its spacing after the key; the other lines stay as they are.
    """
    result = []
    placed = False
    for line in text.splitlines():
        if line.split(None, 1)[:1] == ['options']:
            if not placed:
                prefix = re.match(r'\s*options\s*', line).group(0)
                result.append((prefix if prefix.strip() != prefix else prefix + ' ') + options)
                placed = True
            continue
        result.append(line)
    if not placed:
        result.append('options %s' % options)
    return '\n'.join(result) + '\n'


def edit_bls_options(text, changes):
    """Entry text with changes applied to its options: in place on its one options line, else in a single new one."""
    lines = text.split('\n')
    found = [index for index, line in enumerate(lines) if line.split(None, 1)[:1] == ['options']]
    if len(found) != 1:
        return replace_bls_options(text, kcmdline.render(kcmdline.apply_changes(bls_options(text), changes)))
    line = lines[found[0]]
    prefix = re.match(r'\s*options\s*', line).group(0)
    value = kcmdline.edit_text(line[len(prefix):], changes)
    if value and not prefix[-1].isspace():
        prefix += ' '
    lines[found[0]] = prefix + value
    return '\n'.join(lines)


def strip_boot_loader_args(cmdline):
    """What kernel-install keeps of /proc/cmdline: everything but BOOT_IMAGE= and initrd=."""
    for name in ('BOOT_IMAGE', 'initrd'):
        cmdline = kcmdline.Cmdline(tuple(p for p in cmdline.params if not (p.name == name and p.value is not None)), cmdline.init_args)
    return cmdline


class KernelInstallBackend(object):
    """/etc/kernel/cmdline plus the options of this machine's Boot Loader Specification entries."""

    name = 'kernel-install'

    def __init__(self, root, run, evidence):
        self.root = root
        self.run = run
        self.evidence = evidence
        self.kernel_cmdline = under(root, KERNEL_CMDLINE)

    def entry_token(self):
        """The prefix kernel-install names this machine's entries with (entry-token, else machine-id), or None."""
        for relative in ('etc/kernel/entry-token', 'etc/machine-id'):
            text = read_text(under(self.root, relative))
            if text and text.strip():
                return text.strip()
        return None

    def governed_entries(self):
        """The entry files kernel-install wrote for this machine (all entries when no token is known)."""
        entries = _bls_entries(_bls_dirs(self.root))
        token = self.entry_token()
        if token is None:
            return entries
        return [path for path in entries if os.path.basename(path).startswith(token + '-')]

    def _cmdline_source(self):
        """/etc/kernel/cmdline, or what kernel-install would use without it."""
        text = read_text(self.kernel_cmdline)
        if text is not None:
            return text, kcmdline.parse(text)
        fallback = read_text(under(self.root, 'usr/lib/kernel/cmdline'))
        if fallback is not None:
            return None, kcmdline.parse(fallback)
        return None, strip_boot_loader_args(kcmdline.parse(running_cmdline(self.root)))

    def plan(self, changes):
        """New /etc/kernel/cmdline (created only when it must change, else edited in place) and entry options lines."""
        validate_changes(changes)
        old_text, before = self._cmdline_source()
        after = kcmdline.apply_changes(before, changes)
        files = []
        if old_text is not None:
            files.extend(change for change in [edited_file(self.kernel_cmdline, old_text, changes)] if change)
        elif after != before:
            files.append(FileChange(self.kernel_cmdline, None, kcmdline.render(after) + '\n'))
        newest = None
        for path in self.governed_entries():
            text = read_text(path)
            options = bls_options(text)
            new_options = kcmdline.apply_changes(options, changes)
            if new_options != options:
                files.append(FileChange(path, text, edit_bls_options(text, changes)))
            key = version_key(bls_version(text, path))
            if newest is None or key > newest[0]:
                newest = (key, options, new_options)
        # systemd-boot starts the newest entry when loader.conf names no default.
        next_before, next_after = (newest[1], newest[2]) if newest else (before, after)
        return Plan(kcmdline.render(next_before), kcmdline.render(next_after), tuple(files), (), bool(files))

    def outputs(self, plan):
        """No command runs: only the files of the plan change."""
        del plan
        return []

    def next_cmdline(self, plan):
        """The next boot command line after apply(): the plan's."""
        return plan.next_after

    def apply(self, plan, changes):
        """Write the files; restore all of them if one write fails."""
        del changes
        return apply_plan(plan, [], self.run)
