# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the host's files are and how to run its commands.

Modules read the real host (root ``/``). The collection's own tests point
``LUO_LIVEUPDATE_TEST_ROOT`` at a fixture tree: every path is then read below
it and commands are looked up in its ``usr/sbin``, ``usr/bin``, ``sbin``, ``bin``.
"""
from __future__ import annotations

import os

TEST_ROOT_ENV = 'LUO_LIVEUPDATE_TEST_ROOT'
COMMAND_DIRS = ('usr/local/sbin', 'usr/local/bin', 'usr/sbin', 'usr/bin', 'sbin', 'bin')


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
        """The host an AnsibleModule runs on (or the test root)."""
        def runner(argv, text):
            if text:
                return module.run_command(argv)
            return module.run_command(argv, encoding=None)
        return cls(os.environ.get(TEST_ROOT_ENV) or '/', runner)

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
