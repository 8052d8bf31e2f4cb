# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/preserve/files/luo-state and its modules luo_state_format and luo_state_restore.

Real memfds, real seals, real AF_UNIX datagrams with SCM_RIGHTS. The tests on trees owned by
uid/gid 65534 (root only: chown) are in tests/integration/roles/test_luo_state_as_root.py."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import time

import pytest

from ansible_collections.luo.liveupdate.tests.unit.roles.host_programs import install_programs
from ansible_collections.luo.liveupdate.tests.unit.roles.luo_state_fixtures import (  # noqa: F401  pylint: disable=unused-import
    PROGRAM, config_for, crafted, fail_renames_onto, fmt, ls, member, memfd_with_archive, new_stage, read_record,
    record_root, rst, saved_memfd, svc, unit_settings, write_config)


# ---------------------------------------------------------------- configuration

@pytest.mark.parametrize('name', ['myapp', 'my-app_2.x', 'A'])
def test_check_name_accepts_simple_names(name):
    assert ls.check_name(name) == name


@pytest.mark.parametrize('name', ['', '../etc', 'a/b', '.hidden', 'with space', 'x\\x2d'])
def test_check_name_refuses_names_that_escape(name):
    with pytest.raises(svc.ConfigError, match='instance name .* is not valid'):
        ls.check_name(name)


@pytest.mark.parametrize('text, size', [('100', 100), ('512M', 512 << 20), ('1g', 1 << 30), (' 2K ', 2048),
                                        ('1T', 1 << 40)])
def test_parse_size(text, size):
    assert ls.parse_size(text) == size


@pytest.mark.parametrize('text', ['1.5G', '0', '', 'G', 'abc', '-1', '1 GB', '10P'])
def test_parse_size_refuses_what_is_not_a_size(text):
    with pytest.raises(svc.ConfigError, match=r"max_size = '.*' is not a size: .* e\.g\. max_size = 512M"):
        ls.parse_size(text)


@pytest.mark.parametrize('size, text', [(0, '0 B'), (1023, '1023 B'), (1024, '1.0 KiB'), (1536, '1.5 KiB'),
                                        (256 << 20, '256.0 MiB'), (5 << 40, '5120.0 GiB')])
def test_format_size(size, text):
    assert fmt.format_size(size) == text


def test_parse_config_text_comments_and_continuation_lines():
    text = '# comment\n; other comment\n\npaths = /run/a\n    /run/b\n\t/run/c\nmax_size=1G\n'
    assert ls.parse_config_text(text, 'f') == {'paths': '/run/a /run/b /run/c', 'max_size': '1G'}


@pytest.mark.parametrize('text, message', [
    ('paths /run/a\n', r"f line 1: 'paths /run/a' is not \"key = value\""),
    ('= /run/a\n', 'f line 1: .* is not "key = value"'),
    ('path = /run/a\n', "f line 1: unknown key 'path': the keys are paths and max_size"),
    ('paths = /run/a\npaths = /run/b\n', 'f line 2: paths is set twice'),
    ('[state]\npaths = /run/a\n', r"f line 1: '\[state\]' is not \"key = value\""),
])
def test_parse_config_text_errors_name_the_line(text, message):
    with pytest.raises(svc.ConfigError, match=message):
        ls.parse_config_text(text, 'f')


def test_check_paths_returns_a_tuple():
    assert ls.check_paths(['/run/a', '/var/cache/a/state.db'], 'f') == ('/run/a', '/var/cache/a/state.db')


@pytest.mark.parametrize('paths, message', [
    ([], 'f: paths is missing or empty'),
    (['run/a'], "f: path 'run/a' is relative: write it as an absolute path, e.g. /run/run/a"),
    (['/'], "f: path '/' is not usable"),
    (['/run/a/'], "f: path '/run/a/' is not usable: .* e.g. /run/a"),
    (['/run/../etc'], "f: path '/run/../etc' is not usable: .* e.g. /etc"),
    (['//run/a'], "f: path '//run/a' is not usable"),
    (['/run/a', '/run/a/b'], 'f: path /run/a/b is inside /run/a: list only /run/a'),
    (['/run/a', '/run/a'], 'f: a path is listed twice'),
])
def test_check_paths_refusals(paths, message):
    with pytest.raises(svc.ConfigError, match=message):
        ls.check_paths(paths, 'f')


def test_load_config_defaults_and_max_size(tmp_path):
    config = config_for(tmp_path, ['/run/a', '/run/b'])
    assert config == ls.Config('myapp', str(tmp_path / 'myapp.conf'), ('/run/a', '/run/b'), ls.DEFAULT_MAX_SIZE)
    assert config_for(tmp_path, ['/run/a'], 'max_size = 1M\n').max_size == 1 << 20


def test_load_config_default_location(monkeypatch, tmp_path):
    monkeypatch.setattr(ls, 'CONFIG_DIR', str(tmp_path))
    write_config(tmp_path, ['/run/a'])
    assert ls.load_config('myapp').source == str(tmp_path / 'myapp.conf')


def test_load_config_missing_file_names_it_and_the_fix(tmp_path):
    with pytest.raises(svc.ConfigError, match='nope.conf does not exist: create it with a line like paths = /run/nope'):
        ls.load_config('nope', str(tmp_path / 'nope.conf'))


def test_load_config_unreadable_and_bad_values(tmp_path):
    with pytest.raises(svc.ConfigError, match='cannot be read .* readable UTF-8 text file'):
        ls.load_config('myapp', str(tmp_path))
    (tmp_path / 'bin.conf').write_bytes(b'paths = /run/\xff\n')
    with pytest.raises(svc.ConfigError, match='cannot be read'):
        ls.load_config('myapp', str(tmp_path / 'bin.conf'))
    with pytest.raises(svc.ConfigError, match=r"myapp.conf: max_size = 'lots' is not a size"):
        config_for(tmp_path, ['/run/a'], 'max_size = lots\n')
    (tmp_path / 'empty.conf').write_text('max_size = 1M\n')
    with pytest.raises(svc.ConfigError, match='paths is missing or empty'):
        ls.load_config('myapp', str(tmp_path / 'empty.conf'))
    with pytest.raises(svc.ConfigError, match='is not valid'):
        ls.load_config('../x', str(tmp_path / 'empty.conf'))


# ---------------------------------------------------------------- collecting files

def test_entry_kind_and_refusals(tmp_path):
    assert fmt.entry_kind('f', stat.S_IFREG | 0o644) == 'file'
    assert fmt.entry_kind('d', stat.S_IFDIR | 0o755) == 'directory'
    assert fmt.entry_kind('l', stat.S_IFLNK | 0o777) == 'symlink'
    with pytest.raises(fmt.StateRefused, match='/run/a/sock is a socket: luo-state keeps regular files, directories '
                                               'and symlinks only; list the files next to it'):
        fmt.entry_kind('/run/a/sock', stat.S_IFSOCK | 0o755)


@pytest.mark.parametrize('mode, name', [(stat.S_IFSOCK, 'socket'), (stat.S_IFIFO, 'FIFO'),
                                        (stat.S_IFCHR, 'character device'), (stat.S_IFBLK, 'block device'),
                                        (0, 'file of unknown type')])
def test_special_kind(mode, name):
    assert fmt.special_kind(mode) == name


def test_check_size_allows_exactly_max_size(tmp_path):
    config = config_for(tmp_path, ['/run/a'], 'max_size = 1K\n')
    fmt.check_size(1024, config)
    with pytest.raises(fmt.StateRefused):
        fmt.check_size(1025, config)


# ---------------------------------------------------------------- archive and memfd

def test_state_meta(tmp_path):
    meta = fmt.state_meta(config_for(tmp_path, ['/run/a', '/run/b']), ['/run/b'])
    assert (meta['name'], meta['paths'], meta['missing']) == ('myapp', ['/run/a'], ['/run/b'])
    assert meta['kernel'] == os.uname().release
    assert time.strptime(meta['saved_at'], '%Y-%m-%dT%H:%M:%SZ')


def test_hashing_writer_counts_and_hashes(tmp_path):
    with open(tmp_path / 'out', 'wb') as handle:
        writer = fmt.HashingWriter(handle.fileno())
        assert writer.write(b'abc') == 3
        writer.write(memoryview(b'x' * 100000))
    data = (tmp_path / 'out').read_bytes()
    assert writer.size == len(data) == 100003
    assert writer.sha256.hexdigest() == hashlib.sha256(data).hexdigest()


def test_memfd_reader_reads_a_range_without_moving_the_fd():
    fd = os.memfd_create('t')
    os.write(fd, b'0123456789')
    os.lseek(fd, 7, os.SEEK_SET)
    reader = fmt.MemfdReader(fd, 2, 5)
    assert reader.read(2) == b'23'
    assert reader.read() == b'456'
    assert reader.read(10) == b''
    assert fmt.MemfdReader(fd, 8, 10).read(None) == b'89'
    assert os.lseek(fd, 0, os.SEEK_CUR) == 7
    os.close(fd)


def test_an_empty_state_round_trips(tmp_path):
    config = config_for(tmp_path, [tmp_path / 'gone'])
    fd = saved_memfd(config)
    header = fmt.verify_checksum(fd)
    meta, members = fmt.read_manifest(fd, header)
    assert (meta['paths'], meta['missing'], members) == ([], [str(tmp_path / 'gone')], [])
    assert rst.restore_state(fd, config).startswith('restored nothing from the state saved at')
    assert not (tmp_path / 'gone').exists()
    os.close(fd)


def test_read_meta_refuses_broken_metadata():
    for meta_bytes in (b'not json', b'[1, 2]'):
        fd = memfd_with_archive(lambda tar: None, meta_bytes)
        with pytest.raises(fmt.StateRefused, match='broken metadata'):
            fmt.read_meta(fd, fmt.read_header(fd))
        os.close(fd)


# ---------------------------------------------------------------- restore: pieces

def test_meta_list():
    assert fmt.meta_list({'k': ['/a']}, 'k') == ['/a']
    assert fmt.meta_list({}, 'k') == []
    for broken in ({'a': 1}, 'text', [1]):
        with pytest.raises(fmt.StateRefused, match='broken k list'):
            fmt.meta_list({'k': broken}, 'k')


def test_member_root():
    roots = ['/run/a', '/run/ab']
    assert rst.member_root('run/a', roots) == '/run/a'
    assert rst.member_root('run/a/x/y', roots) == '/run/a'
    assert rst.member_root('run/ab/x', roots) == '/run/ab'
    with pytest.raises(fmt.StateRefused, match='holds /run/abc, outside the saved paths /run/a /run/ab'):
        rst.member_root('run/abc', roots)
    for name in ('/run/a/x', 'run/a/../../etc/passwd', 'run/a//x', 'run/a/./x'):
        with pytest.raises(fmt.StateRefused, match='not a plain relative path'):
            rst.member_root(name, roots)


def test_member_ns_prefers_the_pax_value():
    info = tarfile.TarInfo('x')
    info.pax_headers = {'LUO.mtime_ns': '1600000000123456789', 'LUO.atime_ns': '-1500000000'}
    assert rst.member_ns(info, 'LUO.mtime_ns', 5) == 1600000000123456789
    assert rst.member_ns(info, 'LUO.atime_ns', 5) == -1500000000
    assert rst.member_ns(info, 'LUO.other', 5) == 5_000_000_000
    info.pax_headers = {'LUO.mtime_ns': '12.5'}
    assert rst.member_ns(info, 'LUO.mtime_ns', 7) == 7_000_000_000


@pytest.mark.parametrize('members, message', [
    ([(member('run/a', tarfile.DIRTYPE), b''), (member('run/a/p', tarfile.FIFOTYPE), b'')],
     "holds /run/a/p of tar type b'6', which luo-state does not restore"),
    ([(member('run/a', tarfile.DIRTYPE), b''), (member('run/a/x'), b''), (member('run/a/x'), b'')],
     'holds /run/a/x twice'),
    ([(member('run/a', tarfile.DIRTYPE), b''), (member('run/a/d/x'), b'')],
     'holds /run/a/d/x before \\(or without\\) its directory'),
    ([(member('run/a/x'), b''), (member('run/a', tarfile.DIRTYPE), b'')],
     'holds /run/a/x before \\(or without\\) its directory'),
    ([(member('run/a'), b''), (member('run/a/x'), b'')],
     'holds /run/a/x before \\(or without\\) its directory'),
    ([(member('run/b', tarfile.DIRTYPE), b'')], 'holds /run/b, outside the saved paths /run/a'),
    ([], 'lists /run/a but holds nothing of it'),
])
def test_plan_restore_refuses_malformed_archives(tmp_path, members, message):
    config = config_for(tmp_path, ['/run/a', '/run/b'])
    fd = crafted(['/run/a'], members)
    meta, infos = fmt.read_manifest(fd, fmt.read_header(fd))
    with pytest.raises(fmt.StateRefused, match=message):
        rst.plan_restore(meta, infos, config)
    os.close(fd)


def test_create_parents_on_a_read_only_parent_says_what_to_keep_instead(tmp_path, monkeypatch):
    def read_only(path, mode):
        raise OSError(errno.EROFS, 'Read-only file system', path)

    monkeypatch.setattr(os, 'mkdir', read_only)
    with pytest.raises(rst.RestoreFailed) as failed:
        rst.create_parents([str(tmp_path / 'myapp' / 'state.db')])
    assert ('cannot create %s, the missing parent directory of %s' % (tmp_path / 'myapp', tmp_path / 'myapp' / 'state.db')
            in str(failed.value))
    assert 'keep %s itself in paths=' % (tmp_path / 'myapp') in str(failed.value)


def test_commit_root_creates_and_replaces_files_atomically_keeping_the_old_one(tmp_path):
    rst.commit_root(str(tmp_path / 'f'), str(new_stage(tmp_path, '.luo-state-1', lambda p: p.write_text('new'))))
    assert (tmp_path / 'f').read_text() == 'new'
    old_inode = os.lstat(tmp_path / 'f').st_ino
    stage = new_stage(tmp_path, '.luo-state-2', lambda p: p.write_text('newer'))
    new_inode = os.lstat(stage / 'new').st_ino
    rst.commit_root(str(tmp_path / 'f'), str(stage))
    assert os.lstat(tmp_path / 'f').st_ino == new_inode
    assert os.lstat(stage / 'old').st_ino == old_inode  # kept until every root is in
    os.symlink(str(tmp_path), tmp_path / 'l')  # a symlink to a directory is replaced, not renamed aside
    rst.commit_root(str(tmp_path / 'l'), str(new_stage(tmp_path, '.luo-state-3', lambda p: os.symlink('somewhere', p))))
    assert os.readlink(tmp_path / 'l') == 'somewhere'


def test_rollback_root_undoes_each_kind_of_commit(tmp_path):
    (tmp_path / 'd').mkdir()
    (tmp_path / 'd' / 'old-file').write_text('old')
    (tmp_path / 'f').write_text('old')
    stages = {str(tmp_path / 'd'): new_stage(tmp_path, '.luo-state-d', lambda p: p.mkdir()),
              str(tmp_path / 'f'): new_stage(tmp_path, '.luo-state-f', lambda p: p.write_text('new')),
              str(tmp_path / 'absent'): new_stage(tmp_path, '.luo-state-a', lambda p: p.write_text('new'))}
    for root, stage in stages.items():
        rst.commit_root(root, str(stage))
    for root, stage in stages.items():
        rst.rollback_root(root, str(stage))
    assert os.listdir(tmp_path / 'd') == ['old-file'] and (tmp_path / 'f').read_text() == 'old'
    assert not (tmp_path / 'absent').exists()


def test_commit_root_renames_a_directory_aside(tmp_path):
    (tmp_path / 'd').mkdir()
    (tmp_path / 'd' / 'old-file').write_text('old')
    stage = tmp_path / '.luo-state-x'
    (stage / 'new').mkdir(parents=True)
    (stage / 'new' / 'new-file').write_text('new')
    rst.commit_root(str(tmp_path / 'd'), str(stage))
    assert os.listdir(tmp_path / 'd') == ['new-file']
    assert os.listdir(stage / 'old') == ['old-file']


def test_commit_root_puts_the_old_directory_back_when_the_new_one_cannot_go_in(tmp_path, monkeypatch):
    (tmp_path / 'd').mkdir()
    (tmp_path / 'd' / 'old-file').write_text('old')
    stage = tmp_path / '.luo-state-x'
    stage.mkdir()  # no 'new' in it: the second rename fails
    with pytest.raises(FileNotFoundError):
        rst.commit_root(str(tmp_path / 'd'), str(stage))
    assert os.listdir(tmp_path / 'd') == ['old-file']


def test_remove_stages(tmp_path):
    (tmp_path / 'a' / 'new').mkdir(parents=True)
    rst.remove_stages({'/x': str(tmp_path / 'a'), '/y': str(tmp_path / 'missing')})
    assert not (tmp_path / 'a').exists()


# ---------------------------------------------------------------- command line

def test_help_documents_the_subcommands_config_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as raised:
        ls.main(['--help'])
    out = capsys.readouterr().out
    assert raised.value.code == 0
    for text in ('save NAME', 'restore NAME', 'status NAME', 'paths = /run/myapp', 'max_size = 1G', 'exit codes:',
                 '0  done', '1  an operating system error', '2  usage', '3  state refused',
                 '4  systemd could not be reached', '5  (status)'):
        assert text in out
    with pytest.raises(SystemExit) as raised:
        ls.main(['save'])
    assert raised.value.code == ls.EXIT_CONFIG


def test_build_parser_options():
    args = ls.build_parser().parse_args(['--config', '/x.conf', 'status', 'app', '--user', '--manager-pid', '7'])
    assert (args.config, args.name, args.user, args.manager_pid) == ('/x.conf', 'app', True, 7)
    assert args.func is ls.cmd_status
    assert ls.build_parser().parse_args(['restore', 'app']).func is ls.cmd_restore


def test_save_of_a_missing_path_says_so(tmp_path, manager, capsys):
    assert ls.main(['--config', str(write_config(tmp_path, [tmp_path / 'gone'])), 'save', 'myapp']) == ls.EXIT_OK
    assert '%s does not exist: saved as absent' % (tmp_path / 'gone') in capsys.readouterr().err
    manager.wait(3)
    assert fmt.read_manifest(manager.store['luo-state'], fmt.verify_checksum(manager.store['luo-state']))[1] == []


def test_the_program_runs_as_a_command(tmp_path):
    program = install_programs(tmp_path / 'root')['luo-state']
    env = {k: v for k, v in os.environ.items() if k not in ('LISTEN_FDS', 'LISTEN_PID', 'NOTIFY_SOCKET')}
    proc = subprocess.run([sys.executable, str(program), '--config', str(write_config(tmp_path, ['/run/x'])),
                           '--record-dir', str(tmp_path / 'record'), 'restore', 'myapp'],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0 and 'no saved state in the fd store' in proc.stderr
    assert json.loads((tmp_path / 'record' / 'restore.json').read_text())['result'] == 'nothing-to-restore'
    proc = subprocess.run([sys.executable, str(program), 'save', 'myapp', '--config', '/x'], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == ls.EXIT_CONFIG and 'unrecognized arguments' in proc.stderr


def test_restore_without_a_saved_state_starts_empty(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('LISTEN_FDS', raising=False)
    monkeypatch.delenv('NOTIFY_SOCKET', raising=False)
    assert ls.main(['--config', str(write_config(tmp_path, ['/run/myapp'])), 'restore', 'myapp']) == ls.EXIT_OK
    assert ('no saved state in the fd store of luo-state@myapp.service: first start since boot, or a cold boot'
            in capsys.readouterr().err)


@pytest.mark.parametrize('error, code, message', [
    (OSError(errno.EROFS, 'Read-only file system'), ls.EXIT_FAILED,
     'Read-only file system: add the directory to ReadWritePaths= in a drop-in of luo-state@myapp.service'),
    (OSError(errno.EACCES, 'Permission denied'), ls.EXIT_FAILED, 'Permission denied; nothing was changed'),
    (tarfile.ReadError('bad header'), ls.EXIT_REFUSED, 'the saved archive cannot be read (bad header)'),
])
def test_main_maps_os_and_archive_errors(tmp_path, monkeypatch, capsys, error, code, message):
    def fail(fd, config):
        raise error

    monkeypatch.setattr(ls, 'listen_fds', lambda environ, pid: [('luo-state', os.dup(0))])
    monkeypatch.setenv('NOTIFY_SOCKET', str(tmp_path / 'notify'))
    monkeypatch.setattr(ls, 'restore_state', fail)
    assert ls.main(['--config', str(write_config(tmp_path, ['/run/a'])), 'restore', 'myapp']) == code
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------- the unit

def test_unit_keeps_the_fd_store_and_lets_exec_stop_push_into_it():
    settings = unit_settings()
    assert settings['Type'] == ['oneshot'] and settings['RemainAfterExit'] == ['yes']
    assert settings['NotifyAccess'] == ['exec']
    assert settings['FileDescriptorStoreMax'] == ['1'] and settings['FileDescriptorStorePreserve'] == ['yes']
    start, stop = settings['ExecStart'][0].split(), settings['ExecStop'][0].split()
    assert start[:2] == stop[:2] and start[2:] == ['restore', '%i'] and stop[2:] == ['save', '%i']
    assert set(settings['CapabilityBoundingSet'][0].split()) == {'CAP_CHOWN', 'CAP_FOWNER', 'CAP_DAC_OVERRIDE',
                                                                 'CAP_FSETID'}
    assert settings['RestrictAddressFamilies'] == ['AF_UNIX'] and settings['PrivateNetwork'] == ['yes']
    assert settings['ProtectSystem'] == ['strict']


def test_program_is_executable_with_an_allowed_shebang():
    assert os.access(PROGRAM, os.X_OK)
    assert PROGRAM.read_text().splitlines()[0] == '#!/usr/bin/env python'


# ---------------------------------------------------------------- restore: all or nothing

def test_a_failed_restore_removes_the_parent_directories_it_created(tmp_path, monkeypatch):
    first, second = tmp_path / 'run' / 'a' / 'state', tmp_path / 'run' / 'b' / 'state'
    for path in (first, second):
        path.parent.mkdir(parents=True)
        path.write_text('saved')
    config = config_for(tmp_path, [first, second])
    fd = saved_memfd(config)
    shutil.rmtree(tmp_path / 'run')
    fail_renames_onto(monkeypatch, {str(second)})
    with pytest.raises(rst.RestoreFailed, match='nothing was changed'):
        rst.restore_state(fd, config)
    assert not (tmp_path / 'run').exists()
    os.close(fd)


# ---------------------------------------------------------------- the restore record

def test_a_broken_configuration_records_failed(tmp_path, monkeypatch):
    monkeypatch.delenv('LISTEN_FDS', raising=False)
    assert ls.main(['--config', str(tmp_path / 'none.conf'), '--record-dir', str(tmp_path / 'record'),
                    'restore', 'myapp']) == ls.EXIT_CONFIG
    record = read_record(tmp_path / 'record')
    assert record['result'] == 'failed' and 'none.conf does not exist' in record['message']
    assert record['paths'] == {}


def test_a_record_that_cannot_be_written_is_logged_not_fatal(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('LISTEN_FDS', raising=False)
    (tmp_path / 'file').write_text('not a directory')
    assert ls.main(['--config', str(write_config(tmp_path, ['/run/x'])), '--record-dir', str(tmp_path / 'file'),
                    'restore', 'myapp']) == ls.EXIT_OK
    assert 'cannot write %s (' % (tmp_path / 'file' / 'restore.json') in capsys.readouterr().err


def test_the_record_goes_to_the_runtime_directory_by_default(monkeypatch):
    monkeypatch.undo()
    args = ls.build_parser().parse_args(['restore', 'app'])
    assert ls.record_dir(args) == '/run/luo-state/app'


def test_unit_keeps_a_runtime_directory_for_the_record_and_can_read_the_boot_id():
    settings = unit_settings()
    assert settings['RuntimeDirectory'] == ['luo-state/%i'] and settings['RuntimeDirectoryPreserve'] == ['yes']
    assert 'ProcSubset' not in settings  # =pid hides /proc/sys/kernel/random/boot_id
