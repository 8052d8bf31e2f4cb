# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the host's files are and how to run its commands.

Modules read the real host: ``Host.from_module`` has the root ``/``. A ``Host`` with
another root reads every path below it and looks commands up in its ``usr/sbin``,
``usr/bin``, ``sbin``, ``bin`` (tests build one over a fixture tree).
"""
from __future__ import annotations

import errno
import os

COMMAND_DIRS = ('usr/local/sbin', 'usr/local/bin', 'usr/sbin', 'usr/bin', 'sbin', 'bin')
# A command that cannot be started gives this rc, as a shell does, and says why on stderr.
NOT_STARTED = 127
CANNOT_RUN = 'cannot run %s: %s'


class Host:
    """A root prefix plus a command runner.

    ``runner(argv, text)`` runs argv and returns ``(rc, stdout, stderr)`` as
    text or, with ``text=False``, bytes.
    """

    def __init__(self, root, runner):
        self.root = root
        self._runner = runner

    @classmethod
    def from_module(cls, module):
        """The host an AnsibleModule runs on."""
        return cls('/', module_runner(module))

    def _resolve(self, argv):
        # A bare command name is looked up below the root, so tests run their fixture tools.
        if os.sep not in argv[0]:
            found = self.which(argv[0])
            if found:
                return [found] + list(argv[1:])
        return list(argv)

    def run(self, argv):
        """Run argv; text (rc, stdout, stderr)."""
        return self._runner(self._resolve(argv), True)

    def run_bytes(self, argv):
        """Run argv; bytes (rc, stdout, stderr)."""
        return self._runner(self._resolve(argv), False)

    def path(self, path):
        """``path`` (absolute, as on the host) below the root."""
        return os.path.join(self.root, path.lstrip('/'))

    def read(self, path, default=None):
        """Text of a host file, stripped; ``default`` when it is missing or unreadable."""
        try:
            with open(self.path(path), encoding='utf-8', errors='replace') as handle:
                return handle.read().strip()
        except OSError:
            return default

    def exists(self, path):
        return os.path.lexists(self.path(path))

    def which(self, name):
        """Host path of command ``name`` from the standard directories, or None."""
        for directory in COMMAND_DIRS:
            candidate = self.path(os.path.join('/', directory, name))
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return None

    def host_view(self, path):
        """Undo ``path()``: how the host itself names a path below the root."""
        if self.root == '/':
            return path
        return '/' + os.path.relpath(path, self.root)


def module_runner(module):
    """A runner through ``module.run_command``.

    Arguments reach the command verbatim (run_command would otherwise expand ``$VAR`` and
    ``~`` in them: a kernel command line with ``x=$prefix`` would change on the way), and a
    command that cannot be started is an rc 127 result saying why, not an exit of the module.
    Commands run in the C locale: their output is parsed, and shell globs sort bytewise.
    """
    def runner(argv, text):
        options = {'expand_user_and_vars': False, 'handle_exceptions': False, 'environ_update': {'LC_ALL': 'C'}}
        if not text:
            options['encoding'] = None
        try:
            return module.run_command(argv, **options)
        except OSError as error:
            return not_started(argv[0], error, text)
    return runner


def _interpreter(path):
    """The interpreter a script names on its #! line, or None."""
    try:
        with open(path, 'rb') as handle:
            first = handle.readline(4096)
    except OSError:
        return None
    words = first[2:].decode('utf-8', 'replace').split() if first.startswith(b'#!') else []
    return words[0] if words else None


def not_started(command, error, text=True):
    """The (rc, stdout, stderr) of a command exec() refused with error (an OSError): NOT_STARTED and why."""
    message = CANNOT_RUN % (command, why_not_started(command, error))
    return NOT_STARTED, ('' if text else b''), (message if text else message.encode())


def failure_to_start(command, result):
    """The "cannot run COMMAND: why" of the run() result of command (a path) when it could not be started; None when it ran."""
    rc, out, err = result
    if rc == NOT_STARTED and not out and isinstance(err, str) and err.startswith(CANNOT_RUN % (command, '')):
        return err
    return None


def why_not_started(path, error):
    """Why exec() of path failed (an OSError), in words a user can act on."""
    if error.errno == errno.ENOENT and not os.path.exists(path):
        return 'it does not exist'
    if error.errno == errno.ENOENT and _interpreter(path):
        return 'its interpreter (#!%s) does not exist' % _interpreter(path)
    if error.errno == errno.EACCES:
        return 'it is not executable'
    if error.errno == errno.ENOEXEC:
        return 'it is not a program for this machine (exec format error)'
    return error.strerror or str(error)
