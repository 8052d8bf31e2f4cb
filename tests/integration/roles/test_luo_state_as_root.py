# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/preserve/files/luo-state on real trees under tmp_path owned by uid/gid 65534: saved, restored, rolled back.

chown to 65534 needs root; the tests that need none are in tests/unit/roles/test_luo_state.py."""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import pathlib
import shutil
import socket
import stat
import tarfile
import time

import pytest

from ansible_collections.luo.liveupdate.tests.integration.requirements import require_root
from ansible_collections.luo.liveupdate.tests.unit.roles.host_programs import manager  # noqa: F401  pylint: disable=unused-import
from ansible_collections.luo.liveupdate.tests.unit.roles.luo_state_fixtures import (  # noqa: F401  pylint: disable=unused-import
    config_for, fail_renames_onto, fmt, ls, read_record, record_root, rst, saved_memfd, svc, write_config)

NOBODY = 65534
REQUIRED_SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL


@pytest.fixture(autouse=True)
def as_root():
    """Every test here owns files by uid/gid 65534."""
    require_root('chown to uid 65534')


def make_tree(root):
    """A directory with a file, an empty file, a setgid subdirectory and symlinks, owned by nobody."""
    (root / 'sub').mkdir(parents=True)
    (root / 'data.db').write_bytes(b'important state\n' * 100)
    (root / 'empty').write_bytes(b'')
    (root / 'sub' / 'deep.txt').write_text('deep')
    os.symlink('data.db', root / 'current')
    os.symlink('/nonexistent/target', root / 'sub' / 'dangling')
    for path, mode in ((root / 'data.db', 0o640), (root / 'empty', 0o4755), (root / 'sub' / 'deep.txt', 0o600),
                       (root / 'sub', 0o2770), (root, 0o750)):
        os.chown(path, NOBODY, NOBODY)
        os.chmod(path, mode)
    os.chown(root / 'current', NOBODY, 0, follow_symlinks=False)
    for index, path in enumerate((root / 'data.db', root / 'empty', root / 'current', root / 'sub' / 'deep.txt',
                                  root / 'sub' / 'dangling', root / 'sub', root)):
        ns = 1_600_000_000_123_456_789 + index * 1_000_000_007
        os.utime(path, ns=(ns - 5, ns), follow_symlinks=False)
    return root


def snapshot(root):
    """{relative path: (kind, mode, uid, gid, mtime_ns, content or link target)} of a tree."""
    result = {}
    for path in [root] + sorted(root.rglob('*')):
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            content = os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            content = path.read_bytes()
        else:
            content = None
        result[str(path.relative_to(root))] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                                               st.st_gid, st.st_mtime_ns, content)
    return result


def corrupt(fd, offset):
    """Flip every bit of one byte of an unsealed memfd."""
    os.pwrite(fd, bytes([os.pread(fd, 1, offset)[0] ^ 0xff]), offset)


def stage_leftovers(parent):
    return [p for p in os.listdir(parent) if p.startswith('.luo-state-')]


@pytest.fixture
def state_dir(tmp_path):
    return make_tree(tmp_path / 'run' / 'myapp')


def this_boot_id():
    return pathlib.Path('/proc/sys/kernel/random/boot_id').read_text().strip()


def two_roots_saved(tmp_path, state_dir):
    """A directory and a single file saved together, both changed after the save: (config, fd, newer snapshots)."""
    single = tmp_path / 'var' / 'state.db'
    single.parent.mkdir()
    single.write_text('saved db')
    config = config_for(tmp_path, [state_dir, single])
    fd = saved_memfd(config)
    (state_dir / 'data.db').write_text('newer than the save')
    (state_dir / 'added-later').write_text('newer too')
    single.write_text('newer db')
    return config, fd, single


def test_walk_tree_lists_parents_first_and_never_follows_symlinks(state_dir, tmp_path):
    (tmp_path / 'elsewhere').mkdir()
    (tmp_path / 'elsewhere' / 'secret').write_text('x')
    os.symlink(tmp_path / 'elsewhere', state_dir / 'link-to-dir')
    paths = [entry[0] for entry in fmt.walk_tree(str(state_dir))]
    assert paths == [str(state_dir)] + [str(state_dir / n) for n in
                                        ('current', 'data.db', 'empty', 'link-to-dir', 'sub', 'sub/dangling',
                                         'sub/deep.txt')]
    assert fmt.walk_tree(str(state_dir / 'data.db'))[0][1].st_size == 1600


def test_walk_tree_refuses_a_fifo(state_dir):
    os.mkfifo(state_dir / 'sub' / 'pipe')
    with pytest.raises(fmt.StateRefused, match='sub/pipe is a FIFO'):
        fmt.walk_tree(str(state_dir))


def test_collect_state_records_missing_paths(state_dir, tmp_path):
    config = config_for(tmp_path, [state_dir, tmp_path / 'gone'])
    entries, missing = fmt.collect_state(config)
    assert len(entries) == 7
    assert missing == [str(tmp_path / 'gone')]


def test_collect_state_does_not_hide_a_file_that_vanished_during_the_walk(state_dir, tmp_path, monkeypatch):
    real = os.listdir
    monkeypatch.setattr(os, 'listdir', lambda path: real(path) + ['vanished'])
    with pytest.raises(FileNotFoundError, match='vanished'):
        fmt.collect_state(config_for(tmp_path, [state_dir]))


def test_collect_state_refuses_more_than_max_size(state_dir, tmp_path):
    config = config_for(tmp_path, [state_dir], 'max_size = 1K\n')
    with pytest.raises(fmt.StateRefused, match=r'the state of myapp is 1.6 KiB \(1604 bytes\), more than max_size = '
                                               r'1.0 KiB \(1024 bytes\): raise max_size in .*myapp.conf'):
        fmt.collect_state(config)


def test_tarinfo_for_keeps_type_owner_mode_and_nanosecond_times(state_dir):
    info = fmt.tarinfo_for(str(state_dir / 'data.db'), os.lstat(state_dir / 'data.db'))
    st = os.lstat(state_dir / 'data.db')
    assert (info.name, info.type, info.size, info.mode, info.uid, info.gid) == (
        str(state_dir / 'data.db').lstrip('/'), tarfile.REGTYPE, 1600, 0o640, NOBODY, NOBODY)
    assert info.pax_headers == {'LUO.mtime_ns': str(st.st_mtime_ns), 'LUO.atime_ns': str(st.st_atime_ns)}
    link = fmt.tarinfo_for(str(state_dir / 'current'), os.lstat(state_dir / 'current'))
    assert (link.type, link.linkname, link.uid, link.gid) == (tarfile.SYMTYPE, 'data.db', NOBODY, 0)
    assert fmt.tarinfo_for(str(state_dir / 'sub'), os.lstat(state_dir / 'sub')).mode == 0o2770


def test_open_nofollow_refuses_a_symlink(state_dir):
    with pytest.raises(OSError) as raised:
        open(state_dir / 'current', 'rb', opener=fmt.open_nofollow)
    assert raised.value.errno == errno.ELOOP
    with open(state_dir / 'data.db', 'rb', opener=fmt.open_nofollow) as handle:
        assert handle.read(9) == b'important'


def test_seal_really_sets_the_seals(state_dir, tmp_path):
    fd = saved_memfd(config_for(tmp_path, [state_dir]))
    assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) & REQUIRED_SEALS == REQUIRED_SEALS
    assert svc.get_seals(fd) == fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    for change in (lambda: os.pwrite(fd, b'x', 0), lambda: os.ftruncate(fd, 1),
                   lambda: os.ftruncate(fd, 1 << 20), lambda: fcntl.fcntl(fd, fcntl.F_ADD_SEALS, 0)):
        with pytest.raises(PermissionError):
            change()
    os.close(fd)


def test_write_state_header_checksum_and_manifest_round_trip(state_dir, tmp_path):
    config = config_for(tmp_path, [state_dir, tmp_path / 'gone'])
    entries, missing = fmt.collect_state(config)
    fd = svc.create_memfd('myapp')
    meta = fmt.state_meta(config, missing)
    header = fmt.write_state(fd, entries, meta)
    assert os.lseek(fd, 0, os.SEEK_CUR) == 0
    assert os.fstat(fd).st_size == fmt.HEADER.size + header.meta_size + header.archive_size
    assert os.pread(fd, 8, 0) == b'LUOSTAT1'
    assert fmt.read_header(fd) == header
    content = os.pread(fd, header.meta_size + header.archive_size, fmt.HEADER.size)
    assert fmt.content_sha256(fd, header) == hashlib.sha256(content).hexdigest() == header.sha256.hex()
    assert fmt.verify_checksum(fd) == header
    assert fmt.read_meta(fd, header) == meta
    got_meta, members = fmt.read_manifest(fd, header)
    assert got_meta == meta and meta['paths'] == [str(state_dir)] and meta['missing'] == [str(tmp_path / 'gone')]
    assert [m.name for m in members] == [entry[0].lstrip('/') for entry in entries]
    os.close(fd)


def test_read_header_refuses_foreign_and_cut_memfds(state_dir, tmp_path):
    fd = os.memfd_create('foreign')
    os.write(fd, b'not a state at all, just bytes' * 3)
    with pytest.raises(fmt.StateRefused, match="not a luo-state memfd \\(header b'not a st'\\)"):
        fmt.read_header(fd)
    os.close(fd)
    fd = saved_memfd(config_for(tmp_path, [state_dir]), seal=False)
    os.ftruncate(fd, os.fstat(fd).st_size - 512)
    with pytest.raises(fmt.StateRefused, match='the saved state is cut: its header says [0-9]+ bytes, the memfd holds'):
        fmt.read_header(fd)
    os.close(fd)


def test_verify_checksum_refuses_a_changed_byte(state_dir, tmp_path):
    fd = saved_memfd(config_for(tmp_path, [state_dir]), seal=False)
    corrupt(fd, fmt.HEADER.size + 600)
    with pytest.raises(fmt.StateRefused, match='checksum mismatch: the saved state should have sha256 [0-9a-f]{64} '
                                               'but has [0-9a-f]{64}; nothing was restored'):
        fmt.verify_checksum(fd)
    os.close(fd)


def test_open_archive_streams_members_and_data(state_dir, tmp_path):
    fd = saved_memfd(config_for(tmp_path, [state_dir]))
    with fmt.open_archive(fd, fmt.read_header(fd)) as tar:
        for info in tar:
            if info.name.endswith('data.db'):
                assert tar.extractfile(info).read() == (state_dir / 'data.db').read_bytes()
    os.close(fd)


def test_current_kind(state_dir, tmp_path):
    assert rst.current_kind(str(state_dir)) == 'directory'
    assert rst.current_kind(str(state_dir / 'data.db')) == 'file'
    assert rst.current_kind(str(state_dir / 'sub' / 'dangling')) == 'symlink'
    assert rst.current_kind(str(tmp_path / 'nothing')) is None
    os.mkfifo(tmp_path / 'fifo')
    assert rst.current_kind(str(tmp_path / 'fifo')) == 'FIFO'


def test_apply_metadata_on_file_and_symlink(tmp_path):
    (tmp_path / 'f').write_text('x')
    os.symlink('f', tmp_path / 'l')
    info = tarfile.TarInfo('f')
    info.uid, info.gid, info.mode, info.mtime = NOBODY, NOBODY, 0o2751, 1000
    info.pax_headers = {'LUO.mtime_ns': '1000000000001', 'LUO.atime_ns': '999000000000'}
    rst.apply_metadata(str(tmp_path / 'f'), info)
    st = os.lstat(tmp_path / 'f')
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_mtime_ns, st.st_atime_ns) == (
        NOBODY, NOBODY, 0o2751, 1000000000001, 999000000000)
    info.type = tarfile.SYMTYPE
    info.mode = 0o600
    rst.apply_metadata(str(tmp_path / 'l'), info)
    st = os.lstat(tmp_path / 'l')
    assert (st.st_uid, stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (NOBODY, 0o777, 1000000000001)
    assert stat.S_IMODE(os.stat(tmp_path / 'f').st_mode) == 0o2751


def test_extract_member_refuses_an_existing_destination(state_dir, tmp_path):
    fd = saved_memfd(config_for(tmp_path, [state_dir]))
    with fmt.open_archive(fd, fmt.read_header(fd)) as tar:
        first = next(iter(tar))
        with pytest.raises(FileExistsError):
            rst.extract_member(tar, first, str(state_dir))
    os.close(fd)


def test_plan_restore_groups_members_by_root(state_dir, tmp_path):
    config = config_for(tmp_path, [state_dir, tmp_path / 'gone'])
    fd = saved_memfd(config)
    meta, members = fmt.read_manifest(fd, fmt.read_header(fd))
    plan = rst.plan_restore(meta, members, config)
    assert list(plan) == [str(state_dir)] and len(plan[str(state_dir)]) == 7
    os.close(fd)


def test_plan_restore_refuses_a_saved_path_no_longer_configured(state_dir, tmp_path):
    fd = saved_memfd(config_for(tmp_path, [state_dir]))
    meta, members = fmt.read_manifest(fd, fmt.read_header(fd))
    other = config_for(tmp_path, [tmp_path / 'other'])
    with pytest.raises(fmt.StateRefused, match='holds %s, which is not in paths= of .*myapp.conf; nothing was restored: '
                                               'add it back' % state_dir):
        rst.plan_restore(meta, members, other)
    os.close(fd)


def test_plan_restore_refuses_a_path_that_changed_type(state_dir, tmp_path):
    config = config_for(tmp_path, [state_dir])
    fd = saved_memfd(config)
    meta, members = fmt.read_manifest(fd, fmt.read_header(fd))
    os.rename(state_dir, tmp_path / 'aside')
    state_dir.write_text('now a file')
    with pytest.raises(fmt.StateRefused, match='%s was a directory when saved and is a file now; nothing was restored '
                                               'and the saved state stays in the fd store: move' % state_dir):
        rst.plan_restore(meta, members, config)
    os.close(fd)


def test_plan_restore_checks_max_size_again(state_dir, tmp_path):
    fd = saved_memfd(config_for(tmp_path, [state_dir]))
    meta, members = fmt.read_manifest(fd, fmt.read_header(fd))
    with pytest.raises(fmt.StateRefused, match='more than max_size'):
        rst.plan_restore(meta, members, config_for(tmp_path, [state_dir], 'max_size = 1K\n'))
    os.close(fd)


def test_stage_roots_extracts_next_to_each_root_and_creates_missing_parents(state_dir, tmp_path, capsys):
    single = tmp_path / 'var' / 'state.db'
    single.parent.mkdir()
    single.write_text('db')
    config = config_for(tmp_path, [state_dir, single])
    fd = saved_memfd(config)
    header = fmt.read_header(fd)
    plan = rst.plan_restore(*fmt.read_manifest(fd, header), config)
    before = snapshot(state_dir)
    for path in (tmp_path / 'run', tmp_path / 'var'):
        shutil.rmtree(path)
    umask = os.umask(0o077)  # the unit's
    try:
        assert rst.create_parents(plan) == [str(tmp_path / 'run'), str(tmp_path / 'var')]
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / 'run').st_mode) == 0o755
    stages = rst.stage_roots(fd, header, plan)
    assert os.path.dirname(stages[str(state_dir)]) == str(state_dir.parent)
    assert os.path.dirname(stages[str(single)]) == str(single.parent)
    assert snapshot(pathlib.Path(stages[str(state_dir)]) / 'new') == before
    assert (pathlib.Path(stages[str(single)]) / 'new').read_text() == 'db'
    assert 'created the missing parent directory %s of %s' % (state_dir.parent, state_dir) in capsys.readouterr().err
    rst.remove_stages(stages)
    assert stage_leftovers(state_dir.parent) == [] and stage_leftovers(single.parent) == []
    os.close(fd)


def test_stage_roots_cleans_up_after_a_failure(state_dir, tmp_path, monkeypatch):
    config = config_for(tmp_path, [state_dir])
    fd = saved_memfd(config)
    header = fmt.read_header(fd)
    plan = rst.plan_restore(*fmt.read_manifest(fd, header), config)
    calls = []

    def failing(path, info):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(rst, 'apply_metadata', failing)
    with pytest.raises(OSError, match='No space left'):
        rst.stage_roots(fd, header, plan)
    assert stage_leftovers(state_dir.parent) == []
    os.close(fd)


def test_round_trip_keeps_owner_mode_times_symlinks_and_dirs(state_dir, tmp_path, capsys):
    config = config_for(tmp_path, [state_dir, tmp_path / 'gone'])
    before = snapshot(state_dir)
    fd = saved_memfd(config)
    shutil.rmtree(state_dir)
    message = rst.restore_state(fd, config)
    assert message.startswith('restored %s from the state saved at' % state_dir)
    assert snapshot(state_dir) == before
    assert stage_leftovers(state_dir.parent) == []
    err = capsys.readouterr().err
    assert 'restored %s from the state saved at' % state_dir in err
    assert '%s did not exist when the state was saved: left as it is' % (tmp_path / 'gone') in err
    os.close(fd)


def test_restore_replaces_an_existing_directory_whole(state_dir, tmp_path):
    config = config_for(tmp_path, [state_dir])
    before = snapshot(state_dir)
    fd = saved_memfd(config)
    (state_dir / 'data.db').write_text('changed after the save')
    (state_dir / 'extra').write_text('not in the state')
    rst.restore_state(fd, config)
    assert snapshot(state_dir) == before
    assert stage_leftovers(state_dir.parent) == []
    os.close(fd)


def test_restore_replaces_a_single_file(tmp_path):
    target = tmp_path / 'state.db'
    target.write_bytes(b'saved')
    os.chown(target, NOBODY, NOBODY)
    os.chmod(target, 0o604)
    config = config_for(tmp_path, [target])
    before = snapshot(target)
    os.utime(target, ns=(1, before['.'][4]))  # after snapshot(), which reads the file
    fd = saved_memfd(config)
    target.write_bytes(b'newer and wrong')
    rst.restore_state(fd, config)
    assert os.stat(target).st_atime_ns == 1
    assert snapshot(target) == before
    os.close(fd)


def test_restore_refuses_a_checksum_mismatch_and_leaves_files_untouched(state_dir, tmp_path):
    config = config_for(tmp_path, [state_dir])
    fd = saved_memfd(config, seal=False)
    corrupt(fd, fmt.HEADER.size + 2000)
    shutil.rmtree(state_dir / 'sub')
    (state_dir / 'data.db').write_text('current')
    before = snapshot(state_dir)
    with pytest.raises(fmt.StateRefused, match='checksum mismatch'):
        rst.restore_state(fd, config)
    assert snapshot(state_dir) == before
    os.close(fd)


def test_restore_refuses_a_type_change_and_leaves_files_untouched(state_dir, tmp_path):
    single = tmp_path / 'state.db'
    single.write_text('db')
    config = config_for(tmp_path, [state_dir, single])
    fd = saved_memfd(config)
    single.unlink()
    single.mkdir()
    (single / 'inside').write_text('keep me')
    (state_dir / 'data.db').write_text('current')
    before, before_single = snapshot(state_dir), snapshot(single)
    with pytest.raises(fmt.StateRefused, match='state.db was a file when saved and is a directory now'):
        rst.restore_state(fd, config)
    assert snapshot(state_dir) == before and snapshot(single) == before_single
    assert stage_leftovers(tmp_path) == [] and stage_leftovers(state_dir.parent) == []
    os.close(fd)


def test_restore_logs_paths_added_after_the_save(state_dir, tmp_path, capsys):
    fd = saved_memfd(config_for(tmp_path, [state_dir]))
    rst.restore_state(fd, config_for(tmp_path, [state_dir, tmp_path / 'new-path']))
    assert '%s is not in the saved state (added to paths= after the save?)' % (tmp_path / 'new-path') in \
        capsys.readouterr().err
    os.close(fd)


def test_describe_and_format_a_good_state(state_dir, tmp_path):
    fd = saved_memfd(config_for(tmp_path, [state_dir, tmp_path / 'gone']))
    info = ls.describe_state(fd)
    assert info['paths'] == [(str(state_dir), 'directory', 7, 1604)]
    assert info['missing'] == [str(tmp_path / 'gone')] and info['name'] == 'myapp'
    text = ls.format_status('luo-state@myapp.service', info)
    assert 'seals: seal,shrink,grow,write' in text  # and exec, on kernels with MFD_NOEXEC_SEAL
    info['seals'] = 0x2f
    assert 'seals: seal,shrink,grow,write,exec' in ls.format_status('u', info)
    assert 'sha256 %s (verified)' % info['sha256'] in text
    assert 'path:     %s (directory, 7 entries, 1.6 KiB of file data)' % state_dir in text
    assert 'path:     %s (did not exist when saved)' % (tmp_path / 'gone') in text
    os.close(fd)


def test_describe_and_format_a_broken_state(state_dir, tmp_path):
    fd = saved_memfd(config_for(tmp_path, [state_dir]), seal=False)
    corrupt(fd, fmt.HEADER.size + 10)
    info = ls.describe_state(fd)
    assert 'checksum mismatch' in info['error']
    assert 'state:    UNUSABLE: checksum mismatch' in ls.format_status('u', info)
    assert svc.get_seals(fd) & REQUIRED_SEALS == 0
    info['seals'] = 0
    assert 'seals: none' in ls.format_status('u', info)
    os.close(fd)


def test_save_then_restore_through_the_fd_store(state_dir, tmp_path, manager, monkeypatch, capsys):
    source = str(write_config(tmp_path, [state_dir]))
    before = snapshot(state_dir)
    assert ls.main(['--config', source, 'save', 'myapp']) == ls.EXIT_OK
    assert manager.wait(3) == [{'FDSTOREREMOVE': '1', 'FDNAME': 'luo-state'},
                               {'FDSTORE': '1', 'FDNAME': 'luo-state', 'FDPOLL': '0'}, {'BARRIER': '1'}]
    stored = manager.store['luo-state']
    assert svc.get_seals(stored) & REQUIRED_SEALS == REQUIRED_SEALS
    assert 'saved 7 entries of %s into the fd store' % state_dir in capsys.readouterr().err

    shutil.rmtree(state_dir)  # what a kexec does to /run
    monkeypatch.setattr(ls, 'listen_fds', lambda environ, pid: [('luo-state', os.dup(stored)), ('stray', os.dup(0))])
    assert ls.main(['--config', source, 'restore', 'myapp']) == ls.EXIT_OK
    assert snapshot(state_dir) == before
    assert manager.wait(5)[3:] == [{'FDSTOREREMOVE': '1', 'FDNAME': 'luo-state'}, {'BARRIER': '1'}]
    assert manager.store == {}
    assert 'closing unexpected fd' in capsys.readouterr().err


def test_save_twice_replaces_the_stored_state(state_dir, tmp_path, manager):
    source = str(write_config(tmp_path, [state_dir]))
    assert ls.main(['--config', source, 'save', 'myapp']) == ls.EXIT_OK
    manager.wait(3)
    (state_dir / 'data.db').write_text('second')
    assert ls.main(['--config', source, 'save', 'myapp']) == ls.EXIT_OK
    manager.wait(6)
    assert len(manager.store) == 1
    fd = manager.store['luo-state']
    shutil.rmtree(state_dir)
    rst.restore_state(fd, ls.load_config('myapp', source))
    assert (state_dir / 'data.db').read_text() == 'second'


def test_save_fails_when_the_manager_does_not_confirm(state_dir, tmp_path, manager, capsys, monkeypatch):
    monkeypatch.setattr(ls, 'notify_barrier', lambda address: False)
    assert ls.main(['--config', str(write_config(tmp_path, [state_dir])), 'save', 'myapp']) == ls.EXIT_SYSTEMD
    assert 'did not confirm the fd store push' in capsys.readouterr().err


def test_save_errors_and_exit_codes(state_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('NOTIFY_SOCKET', raising=False)
    assert ls.main(['--config', str(tmp_path / 'none.conf'), 'save', 'myapp']) == ls.EXIT_CONFIG
    assert 'none.conf does not exist' in capsys.readouterr().err
    source = str(write_config(tmp_path, [state_dir]))
    assert ls.main(['--config', source, 'save', 'myapp']) == ls.EXIT_SYSTEMD
    assert 'save myapp: NOTIFY_SOCKET is not set' in capsys.readouterr().err
    monkeypatch.setenv('NOTIFY_SOCKET', str(tmp_path / 'notify'))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(state_dir / 'app.sock'))
    assert ls.main(['--config', source, 'save', 'myapp']) == ls.EXIT_REFUSED
    assert 'app.sock is a socket' in capsys.readouterr().err


def test_restore_of_a_broken_state_keeps_it_in_the_store_and_files_untouched(state_dir, tmp_path, manager,
                                                                             monkeypatch, capsys):
    source = str(write_config(tmp_path, [state_dir]))
    fd = saved_memfd(ls.load_config('myapp', source), seal=False)
    corrupt(fd, fmt.HEADER.size + 100)
    before = snapshot(state_dir)
    monkeypatch.setattr(ls, 'listen_fds', lambda environ, pid: [('luo-state', fd)])
    assert ls.main(['--config', source, 'restore', 'myapp']) == ls.EXIT_REFUSED
    assert snapshot(state_dir) == before
    assert 'restore myapp: checksum mismatch' in capsys.readouterr().err
    time.sleep(0.1)
    assert manager.messages == []


def test_restore_warns_when_the_drop_is_not_confirmed(state_dir, tmp_path, manager, monkeypatch, capsys):
    source = str(write_config(tmp_path, [state_dir]))
    fd = saved_memfd(ls.load_config('myapp', source))
    monkeypatch.setattr(ls, 'listen_fds', lambda environ, pid: [('luo-state', fd)])
    monkeypatch.setattr(ls, 'notify_barrier', lambda address: False)
    assert ls.main(['--config', source, 'restore', 'myapp']) == ls.EXIT_OK
    assert 'did not confirm dropping the saved state' in capsys.readouterr().err


def test_status_reads_the_state_from_the_manager_process(state_dir, tmp_path, monkeypatch, capsys):
    fd = saved_memfd(config_for(tmp_path, [state_dir]))
    st = os.fstat(fd)
    answer = [{'fdname': 'luo-state', 'devno': [os.major(st.st_dev), os.minor(st.st_dev)], 'inode': st.st_ino}]
    monkeypatch.setattr(ls, 'run_command', lambda argv: (0, json.dumps(answer), ''))
    monkeypatch.delenv('LISTEN_FDS', raising=False)
    assert ls.main(['status', 'myapp', '--manager-pid', str(os.getpid())]) == ls.EXIT_OK
    out = capsys.readouterr().out
    assert 'unit:     luo-state@myapp.service' in out and '(verified)' in out
    os.close(fd)


def test_status_inside_the_unit_empty_and_broken(state_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ls, 'run_command', lambda argv: (0, '[]', ''))
    assert ls.main(['status', 'myapp']) == ls.EXIT_EMPTY
    assert 'state:    none saved' in capsys.readouterr().out
    fd = saved_memfd(config_for(tmp_path, [state_dir]), seal=False)
    monkeypatch.setattr(ls, 'listen_fds', lambda environ, pid: [('luo-state', fd)])
    assert ls.main(['status', 'myapp']) == ls.EXIT_OK
    corrupt(fd, fmt.HEADER.size + 10)
    assert ls.main(['status', 'myapp']) == ls.EXIT_REFUSED
    assert 'UNUSABLE: checksum mismatch' in capsys.readouterr().out
    assert ls.main(['status', '../x']) == ls.EXIT_CONFIG
    os.close(fd)


def test_restore_failing_on_the_second_path_puts_the_first_back(state_dir, tmp_path, monkeypatch):
    config, fd, single = two_roots_saved(tmp_path, state_dir)
    before, before_single = snapshot(state_dir), snapshot(single)
    fail_renames_onto(monkeypatch, {str(single)})
    with pytest.raises(rst.RestoreFailed) as failed:
        rst.restore_state(fd, config)
    assert snapshot(state_dir) == before and snapshot(single) == before_single
    assert stage_leftovers(state_dir.parent) == [] and stage_leftovers(single.parent) == []
    message = str(failed.value)
    assert 'cannot put %s in place' % single in message
    assert 'put back as it was: %s' % state_dir in message and 'nothing was changed' in message
    os.close(fd)


def test_restore_that_cannot_put_a_path_back_says_where_its_old_content_is(state_dir, tmp_path, monkeypatch):
    config, fd, single = two_roots_saved(tmp_path, state_dir)
    newer = (state_dir / 'data.db').read_text()
    real_rename = os.rename

    def rename(src, dst):
        if str(dst) == str(single) or (str(dst) == str(state_dir) and src.endswith('/old')):
            raise OSError(errno.EIO, 'Input/output error', str(dst))
        real_rename(src, dst)
    monkeypatch.setattr(os, 'rename', rename)
    with pytest.raises(rst.RestoreFailed) as failed:
        rst.restore_state(fd, config)
    message = str(failed.value)
    assert 'nothing was changed' not in message
    kept = list(stage_leftovers(state_dir.parent))
    assert len(kept) == 1
    old = state_dir.parent / kept[0] / 'old'
    assert (old / 'data.db').read_text() == newer
    assert 'could not put back %s' % state_dir in message and 'previous content is in %s' % old in message
    os.close(fd)


def test_main_reports_a_rolled_back_restore_and_keeps_the_state(state_dir, tmp_path, manager, monkeypatch, capsys):
    config, fd, single = two_roots_saved(tmp_path, state_dir)
    before = snapshot(state_dir)
    fail_renames_onto(monkeypatch, {str(single)})
    monkeypatch.setattr(ls, 'listen_fds', lambda environ, pid: [('luo-state', fd)])
    assert ls.main(['--config', config.source, 'restore', 'myapp']) == ls.EXIT_FAILED
    assert snapshot(state_dir) == before
    err = capsys.readouterr().err
    assert 'restore myapp: cannot put %s in place' % single in err
    assert err.count('nothing was changed') == 1
    time.sleep(0.1)
    assert manager.messages == []  # the state stays in the fd store for the next start


def test_tree_digest_covers_names_kinds_modes_owners_and_content(state_dir, tmp_path):
    digest = fmt.tree_digest(str(state_dir))
    assert len(digest) == 64 and fmt.tree_digest(str(state_dir)) == digest
    copy = tmp_path / 'copy'
    shutil.copytree(state_dir, copy, symlinks=True)
    for path in [copy] + sorted(copy.rglob('*')):
        source = state_dir / path.relative_to(copy)
        st = os.lstat(source)
        os.chown(path, st.st_uid, st.st_gid, follow_symlinks=False)
        if not path.is_symlink():
            os.chmod(path, stat.S_IMODE(st.st_mode))  # chown cleared the setuid bit
    assert fmt.tree_digest(str(copy)) == digest  # where it is and its times do not count
    for change in (lambda: os.chmod(copy / 'data.db', 0o600), lambda: os.chown(copy / 'empty', 0, 0),
                   lambda: (copy / 'sub' / 'deep.txt').write_text('deeP'), (copy / 'new').mkdir,
                   lambda: os.rename(copy / 'empty', copy / 'empty2')):
        change()
        assert fmt.tree_digest(str(copy)) != digest
        digest = fmt.tree_digest(str(copy))
    single = tmp_path / 'single'
    single.write_bytes(b'x')
    line = json.dumps(['.', 'file', stat.S_IMODE(os.stat(single).st_mode), os.getuid(), os.getgid(),
                       hashlib.sha256(b'x').hexdigest()], separators=(',', ':')) + '\n'
    assert fmt.tree_digest(str(single)) == hashlib.sha256(line.encode()).hexdigest()


def test_restore_writes_a_record_of_what_it_restored(state_dir, tmp_path, manager, monkeypatch):
    source = str(write_config(tmp_path, [state_dir, tmp_path / 'gone']))
    digest = fmt.tree_digest(str(state_dir))
    assert ls.main(['--config', source, 'save', 'myapp']) == ls.EXIT_OK
    manager.wait(3)
    stored = manager.store['luo-state']
    header = fmt.verify_checksum(stored)
    shutil.rmtree(state_dir)
    monkeypatch.setattr(ls, 'listen_fds', lambda environ, pid: [('luo-state', os.dup(stored))])
    assert ls.main(['--config', source, '--record-dir', str(tmp_path / 'record'), 'restore', 'myapp']) == ls.EXIT_OK
    record = read_record(tmp_path / 'record')
    assert record.pop('time').endswith('Z')
    assert record.pop('message').startswith('restored %s from the state saved at' % state_dir)
    saved = record.pop('state')
    assert saved.pop('saved_at').endswith('Z')
    assert saved == {'sha256': header.sha256.hex(), 'size': header.archive_size, 'saved_kernel': os.uname().release,
                     'saved_boot_id': this_boot_id(), 'paths': [str(state_dir)], 'missing': [str(tmp_path / 'gone')]}
    assert record == {'version': 1, 'unit': 'luo-state@myapp.service', 'result': 'restored',
                      'boot_id': this_boot_id(), 'kernel': os.uname().release,
                      'paths': {str(state_dir): digest, str(tmp_path / 'gone'): None}}


def test_restore_without_a_state_records_nothing_to_restore(state_dir, tmp_path, monkeypatch):
    monkeypatch.delenv('LISTEN_FDS', raising=False)
    source = str(write_config(tmp_path, [state_dir]))
    assert ls.main(['--config', source, '--record-dir', str(tmp_path / 'record'), 'restore', 'myapp']) == ls.EXIT_OK
    record = read_record(tmp_path / 'record')
    assert record['result'] == 'nothing-to-restore' and record['state'] is None
    assert record['message'].startswith('no saved state in the fd store of luo-state@myapp.service')
    assert record['paths'] == {str(state_dir): fmt.tree_digest(str(state_dir))}
    assert record['boot_id'] == this_boot_id()


def test_a_refused_restore_records_failed_with_the_reason(state_dir, tmp_path, manager, monkeypatch):
    source = str(write_config(tmp_path, [state_dir]))
    fd = saved_memfd(ls.load_config('myapp', source), seal=False)
    corrupt(fd, fmt.HEADER.size + 100)
    monkeypatch.setattr(ls, 'listen_fds', lambda environ, pid: [('luo-state', fd)])
    assert ls.main(['--config', source, '--record-dir', str(tmp_path / 'record'), 'restore', 'myapp']) == \
        ls.EXIT_REFUSED
    record = read_record(tmp_path / 'record')
    assert record['result'] == 'failed' and record['message'].startswith('checksum mismatch')
    assert record['state'] is None
    assert record['paths'] == {str(state_dir): fmt.tree_digest(str(state_dir))}


def test_a_save_that_cannot_push_says_the_previous_state_is_gone(state_dir, tmp_path, manager, monkeypatch, capsys):
    def cannot_push(address, name, fd):
        raise svc.SystemdError('sending FDSTORE=1 to NOTIFY_SOCKET failed: [Errno 105] No buffer space available')
    monkeypatch.setattr(ls, 'fdstore_add', cannot_push)
    assert ls.main(['--config', str(write_config(tmp_path, [state_dir])), 'save', 'myapp']) == ls.EXIT_SYSTEMD
    assert ('No buffer space available; the state saved before was already dropped from the fd store: nothing is '
            'kept for the next start of luo-state@myapp.service') in capsys.readouterr().err
