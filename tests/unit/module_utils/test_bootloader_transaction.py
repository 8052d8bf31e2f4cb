# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic writes, snapshots and restores: every file is put back when a step fails, even when a
regeneration command cannot be started."""
from __future__ import annotations

import os
import shutil
import stat

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader import common, transaction
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host
from ansible_collections.luo.liveupdate.tests.unit.module_utils.bootloader_trees import (
    Runner, read, tree_state, write)


def test_read_text(tmp_path):
    assert common.read_text(str(tmp_path / 'missing')) is None
    (tmp_path / 'f').write_text('x\n')
    assert common.read_text(str(tmp_path / 'f')) == 'x\n'
    with pytest.raises(common.BootloaderError, match='cannot read .*: .*make it readable UTF-8 text'):
        common.read_text(str(tmp_path))
    (tmp_path / 'bin').write_bytes(b'\xff\xfe')
    with pytest.raises(common.BootloaderError, match='cannot read'):
        common.read_text(str(tmp_path / 'bin'))


def test_atomic_write_new_file_gets_default_mode(tmp_path):
    path = str(tmp_path / 'new.cfg')
    transaction.atomic_write(path, 'a\n')
    assert read(str(tmp_path), 'new.cfg') == 'a\n'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(str(tmp_path)) == ['new.cfg']


def test_atomic_write_keeps_mode(tmp_path):
    # Keeping the owner needs root: tests/integration/module_utils/test_bootloader_transaction_owners.py.
    path = str(tmp_path / 'cmdline')
    (tmp_path / 'cmdline').write_text('old\n')
    os.chmod(path, 0o600)
    inode = os.stat(path).st_ino
    transaction.atomic_write(path, 'new\n')
    info = os.stat(path)
    assert read(str(tmp_path), 'cmdline') == 'new\n'
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_ino != inode
    assert os.listdir(str(tmp_path)) == ['cmdline']


def test_atomic_write_leaves_no_temporary_file_on_failure(tmp_path):
    os.mkdir(str(tmp_path / 'target'))
    with pytest.raises(OSError):
        transaction.atomic_write(str(tmp_path / 'target'), 'x')
    assert os.listdir(str(tmp_path)) == ['target']


def test_remove_file(tmp_path):
    (tmp_path / 'f').write_text('x')
    transaction.remove_file(str(tmp_path / 'f'))
    transaction.remove_file(str(tmp_path / 'f'))
    assert not (tmp_path / 'f').exists()


def test_snapshot_restore_and_changed_paths(tmp_path):
    # Owners too, as root: tests/integration/module_utils/test_bootloader_transaction_owners.py.
    kept = str(tmp_path / 'kept')
    edited = str(tmp_path / 'edited')
    created = str(tmp_path / 'created')
    deleted = str(tmp_path / 'deleted')
    for path in (kept, edited, deleted):
        with open(path, 'wb') as handle:
            handle.write(b'original ' + path.encode())
    os.chmod(edited, 0o640)
    saved = transaction.snapshot([kept, edited, created, deleted])
    assert transaction.changed_paths(saved) == []
    with open(edited, 'wb') as handle:
        handle.write(b'changed')
    os.chmod(edited, 0o644)
    with open(created, 'wb') as handle:
        handle.write(b'new')
    os.remove(deleted)
    assert transaction.changed_paths(saved) == sorted([edited, created, deleted])
    assert transaction.restore(saved) == []
    assert transaction.changed_paths(saved) == []
    assert not os.path.exists(created)
    assert stat.S_IMODE(os.stat(edited).st_mode) == 0o640


def test_restore_reports_what_it_could_not_put_back(tmp_path):
    path = str(tmp_path / 'sub' / 'f')
    os.mkdir(str(tmp_path / 'sub'))
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('x')
    saved = transaction.snapshot([path])
    shutil.rmtree(str(tmp_path / 'sub'))
    problems = transaction.restore(saved)
    assert len(problems) == 1 and problems[0].startswith(path + ': ')


def test_apply_plan_restores_files_and_created_dirs_when_a_command_fails(tmp_path):
    root = str(tmp_path)
    write(root, 'etc/existing', 'old\n')
    guarded = os.path.join(root, 'boot/generated')
    write(root, 'boot/generated', 'generated\n')
    before = tree_state(root)
    plan = common.Plan('', '', (common.FileChange(os.path.join(root, 'etc/existing'), 'old\n', 'new\n'),
                                common.FileChange(os.path.join(root, 'etc/new.d/file'), None, 'file\n')),
                       (('/bin/sh', '-c', 'echo clobbered > "$1"; echo "it broke" >&2; exit 3', 'sh', guarded),), True)
    with pytest.raises(common.BootloaderError) as error:
        transaction.apply_plan(plan, [guarded], Host('/', Runner()))
    assert str(error.value) == ('regenerating the boot configuration failed (/bin/sh -c echo clobbered > "$1"; echo "it broke" >&2; exit 3 sh %s '
                                'exited with 3): it broke; the previous files were restored, nothing changed' % guarded)
    assert tree_state(root) == before
    assert not os.path.exists(os.path.join(root, 'etc/new.d'))


def test_apply_plan_runs_verify_and_restores_when_it_fails(tmp_path):
    root = str(tmp_path)
    path = os.path.join(root, 'f')
    plan = common.Plan('', '', (common.FileChange(path, None, 'x\n'),), (), True)

    def verify():
        assert read(root, 'f') == 'x\n'
        raise common.BootloaderError('verification failed')
    with pytest.raises(common.BootloaderError, match='^verification failed; the previous files were restored, nothing changed$'):
        transaction.apply_plan(plan, [], Host('/', Runner()), verify)
    assert not os.path.exists(path)


def test_apply_plan_reports_changed_paths(tmp_path):
    root = str(tmp_path)
    path = os.path.join(root, 'etc', 'f')
    plan = common.Plan('', '', (common.FileChange(path, None, 'x\n'),), (), True)
    assert transaction.apply_plan(plan, [], Host('/', Runner())) == [path]
    plan = common.Plan('', '', (common.FileChange(path, 'x\n', None),), (), True)
    assert transaction.apply_plan(plan, [], Host('/', Runner())) == [path]
    assert not os.path.exists(path)


def test_apply_plan_refuses_a_file_without_a_directory_and_changes_nothing(tmp_path):
    root = str(tmp_path)
    plan = common.Plan('', '', (common.FileChange(os.path.join(root, 'a/b/c/f'), None, 'x\n'),), (), True)
    with pytest.raises(common.BootloaderError, match='cannot write .*/a/b/c/f: directory .*/a/b/c does not exist; create it or choose another bootloader'):
        transaction.apply_plan(plan, [], Host('/', Runner()))
    assert os.listdir(root) == []


def test_apply_plan_refuses_when_not_writable(tmp_path, monkeypatch):
    root = str(tmp_path)
    write(root, 'etc/f', 'x\n')
    monkeypatch.setattr(transaction.os, 'access', lambda path, mode: False)
    plan = common.Plan('', '', (common.FileChange(os.path.join(root, 'etc/f'), 'x\n', 'y\n'),), (), True)
    with pytest.raises(common.BootloaderError, match='cannot write .*/etc/f: permission denied; run the task as root'):
        transaction.apply_plan(plan, [], Host('/', Runner()))
    assert read(root, 'etc/f') == 'x\n'


def test_apply_plan_says_when_restoring_fails_too(tmp_path):
    root = str(tmp_path)
    write(root, 'boot/grub/grub.cfg', 'old\n')
    guarded = os.path.join(root, 'boot/grub/grub.cfg')
    plan = common.Plan('', '', (), (('/bin/sh', '-c', 'rm -rf "$1"; echo gone >&2; exit 1', 'sh', os.path.join(root, 'boot/grub')),), True)
    with pytest.raises(common.BootloaderError) as error:
        transaction.apply_plan(plan, [guarded], Host('/', Runner()))
    message = str(error.value)
    assert 'gone; restoring the previous files also failed for %s: [Errno 2] No such file or directory' % guarded in message
    assert message.endswith(': restore them from backups')


def test_apply_plan_cannot_create_a_directory(tmp_path, monkeypatch):
    root = str(tmp_path)
    os.mkdir(os.path.join(root, 'etc'))
    real_mkdir = os.mkdir

    def mkdir(path, mode=0o777):
        if path.endswith('kernel'):
            raise PermissionError(13, 'Permission denied', path)
        real_mkdir(path, mode)
    monkeypatch.setattr(transaction.os, 'mkdir', mkdir)
    plan = common.Plan('', '', (common.FileChange(os.path.join(root, 'etc/default/grub.d/x.cfg'), None, 'x\n'),
                                common.FileChange(os.path.join(root, 'etc/kernel/cmdline'), None, 'x\n')), (), True)
    os.mkdir(os.path.join(root, 'etc/default'))
    with pytest.raises(common.BootloaderError, match=r'cannot create .*/etc/kernel: .*Permission denied.*; run the task as root \(become: true\)'):
        transaction.apply_plan(plan, [], Host('/', Runner()))
    assert sorted(os.listdir(os.path.join(root, 'etc'))) == ['default']
    assert os.listdir(os.path.join(root, 'etc/default')) == []


def test_apply_plan_leaves_a_created_directory_that_is_no_longer_empty(tmp_path):
    root = str(tmp_path)
    os.mkdir(os.path.join(root, 'etc'))
    other = os.path.join(root, 'etc/new.d/other')
    plan = common.Plan('', '', (common.FileChange(os.path.join(root, 'etc/new.d/mine'), None, 'x\n'),),
                       (('/bin/sh', '-c', 'echo other > "$1"; exit 1', 'sh', other),), True)
    with pytest.raises(common.BootloaderError):
        transaction.apply_plan(plan, [], Host('/', Runner()))
    assert os.listdir(os.path.join(root, 'etc/new.d')) == ['other']


@pytest.mark.parametrize('content, mode, reason', [
    ('#!/nonexistent/sh\nexit 0\n', 0o755, 'its interpreter (#!/nonexistent/sh) does not exist'),
    ('#!/bin/sh\nexit 0\n', 0o644, 'it is not executable'),
    ('\x7fELF\x02\x01garbage', 0o755, 'it is not a program for this machine (exec format error)'),
    (None, 0o755, 'it does not exist'),
])
def test_apply_plan_restores_when_a_command_cannot_be_started(tmp_path, content, mode, reason):
    root = str(tmp_path)
    write(root, 'etc/existing', 'old\n')
    tool = os.path.join(root, 'usr/sbin/update-grub')
    if content is not None:
        write(root, 'usr/sbin/update-grub', content)
        os.chmod(tool, mode)
    before = tree_state(root)
    plan = common.Plan('', '', (common.FileChange(os.path.join(root, 'etc/existing'), 'old\n', 'new\n'),
                                common.FileChange(os.path.join(root, 'etc/new.d/file'), None, 'file\n')), ((tool,),), True)
    with pytest.raises(common.BootloaderError) as error:
        transaction.apply_plan(plan, [], Host('/', Runner()))
    assert str(error.value) == ('regenerating the boot configuration failed: cannot run %s: %s; repair or reinstall it; '
                                'the previous files were restored, nothing changed' % (tool, reason))
    assert tree_state(root) == before
    assert not os.path.exists(os.path.join(root, 'etc/new.d'))


def test_apply_plan_restores_on_an_unexpected_error_and_lets_it_through(tmp_path):
    root = str(tmp_path)
    write(root, 'etc/existing', 'old\n')
    before = tree_state(root)
    plan = common.Plan('', '', (common.FileChange(os.path.join(root, 'etc/existing'), 'old\n', 'new\n'),), (), True)

    def verify():
        raise RuntimeError('unexpected')
    with pytest.raises(RuntimeError, match='unexpected'):
        transaction.apply_plan(plan, [], Host('/', Runner()), verify)
    assert tree_state(root) == before
