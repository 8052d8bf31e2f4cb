# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic writes, snapshots and restores keep a file's owner (chown to other users needs root)."""
from __future__ import annotations

import os

from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader import transaction
from ansible_collections.luo.liveupdate.tests.integration.requirements import require_root


def test_atomic_write_keeps_owner(tmp_path):
    require_root('chown to uid 1234')
    path = str(tmp_path / 'cmdline')
    (tmp_path / 'cmdline').write_text('old\n')
    os.chown(path, 1234, 5678)
    transaction.atomic_write(path, 'new\n')
    info = os.stat(path)
    assert (info.st_uid, info.st_gid) == (1234, 5678)
    assert os.listdir(str(tmp_path)) == ['cmdline']


def test_restore_puts_the_owner_back(tmp_path):
    require_root('chown to uid 1234')
    edited = str(tmp_path / 'edited')
    with open(edited, 'wb') as handle:
        handle.write(b'original')
    os.chown(edited, 1234, 5678)
    saved = transaction.snapshot([edited])
    assert transaction.changed_paths(saved) == []
    with open(edited, 'wb') as handle:
        handle.write(b'changed')
    os.chown(edited, 0, 0)
    assert transaction.changed_paths(saved) == [edited]
    assert transaction.restore(saved) == []
    assert transaction.changed_paths(saved) == []
    assert (os.stat(edited).st_uid, os.stat(edited).st_gid) == (1234, 5678)
