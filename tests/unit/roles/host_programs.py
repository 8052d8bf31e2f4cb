# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host programs of the roles preserve and qemu_guest, for their tests.

load_program() loads a program from the checkout (it has no .py suffix), its modules from the
roles' files/luo-liveupdate, where the roles take them from; install_programs() lays the programs
and their modules out under a root as the roles install them; FakeManager stands in for the
notification socket of systemd."""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import pathlib
import shutil
import socket
import sys
import threading
import time

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]
PRESERVE = REPO / 'roles' / 'preserve'
QEMU_GUEST = REPO / 'roles' / 'qemu_guest'
# Where the roles install the programs and, next to them in ../lib/luo-liveupdate, their modules.
PROGRAM_DIR = 'usr/local/sbin'
LIBRARY_DIR = 'usr/local/lib/luo-liveupdate'
SHARED_MODULE = 'luo_service.py'


def use_checkout_modules():
    """Put the roles' module directories on sys.path, as the programs do with ../lib/luo-liveupdate."""
    for role in (QEMU_GUEST, PRESERVE):
        source = str(role / 'files' / 'luo-liveupdate')
        if source not in sys.path:
            sys.path.insert(0, source)


def import_module(name):
    """One of the programs' modules (luo_service, luo_state_format...) from the checkout."""
    use_checkout_modules()
    return importlib.import_module(name)


def load_program(path, name):
    """The program at path as a module called name, its modules imported from the checkout."""
    use_checkout_modules()
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def role_modules(role, variable):
    """The modules a role installs for its program: the list in its vars/main.yml."""
    return yaml.safe_load((role / 'vars' / 'main.yml').read_text())[variable]


def installed_files():
    """{path below the root: (source, mode)} of what the roles preserve and qemu_guest install for their programs.

    qemu_guest takes luo_service.py from preserve's files (tasks/main.yml says so)."""
    files = {PROGRAM_DIR + '/luo-state': (PRESERVE / 'files' / 'luo-state', 0o755),
             PROGRAM_DIR + '/luo-qemu-guest': (QEMU_GUEST / 'files' / 'luo-qemu-guest', 0o755)}
    for name in role_modules(PRESERVE, '__luo_preserve_library_modules'):
        files[LIBRARY_DIR + '/' + name] = (PRESERVE / 'files' / 'luo-liveupdate' / name, 0o644)
    for name in role_modules(QEMU_GUEST, '__luo_qemu_guest_library_modules'):
        files[LIBRARY_DIR + '/' + name] = (QEMU_GUEST / 'files' / 'luo-liveupdate' / name, 0o644)
    return files


def install_programs(root):
    """Copy the programs and their modules under root as the roles install them; {program name: its path}."""
    for relative, (source, mode) in installed_files().items():
        target = pathlib.Path(root) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(mode)
    return {name: pathlib.Path(root) / PROGRAM_DIR / name for name in ('luo-state', 'luo-qemu-guest')}


class FakeManager:
    """The notification socket of PID 1: READY, STATUS, BARRIER and the fd store (FDSTORE, FDSTOREREMOVE).

    With hold_barrier set, the fds of BARRIER=1 stay open, as with a manager that never gets to them."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.store = {}
        self.messages = []
        self.hold_barrier = False
        self.held = []
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        """Answer datagrams until close()."""
        while self.running:
            try:
                data, fds, _flags, _address = socket.recv_fds(self.sock, 4096, 8)
            except socket.timeout:
                continue
            fields = dict(line.split('=', 1) for line in data.decode().splitlines())
            self.messages.append(fields)
            if fields.get('BARRIER') == '1':
                if self.hold_barrier:
                    self.held.extend(fds)
                else:
                    for fd in fds:
                        os.close(fd)
            elif fields.get('FDSTOREREMOVE') == '1':
                old = self.store.pop(fields['FDNAME'], None)
                if old is not None:
                    os.close(old)
            elif fields.get('FDSTORE') == '1':
                self.store[fields['FDNAME']] = fds[0]

    def wait(self, count, timeout=5):
        """The messages, once there are count of them (or timeout seconds passed)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages

    def wait_for(self, key, value=None, timeout=15):
        """Wait for a message with key (=value); AssertionError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(key in m and (value is None or m[key] == value) for m in self.messages):
                return
            time.sleep(0.01)
        raise AssertionError('no %s=%s in %r' % (key, value, self.messages))

    def close(self):
        """Stop serving; close the socket and every fd held."""
        self.running = False
        self.thread.join()
        self.sock.close()
        for fd in list(self.store.values()) + self.held:
            os.close(fd)


@pytest.fixture
def manager(tmp_path, monkeypatch):
    """A FakeManager on tmp_path/notify, which NOTIFY_SOCKET names."""
    address = str(tmp_path / 'notify')
    fake = FakeManager(address)
    monkeypatch.setenv('NOTIFY_SOCKET', address)
    yield fake
    fake.close()
