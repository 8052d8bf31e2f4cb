# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/preserve/files/luo-state and its modules luo_state_format and luo_state_restore.

Real memfds, real seals, real AF_UNIX datagrams with SCM_RIGHTS, real trees under tmp_path
owned by uid/gid 65534 (the tests run as root so chown works)."""
from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import json
import os
import pathlib
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import time

import pytest

from ansible_collections.luo.liveupdate.tests.unit.roles.host_programs import (
    PRESERVE, import_module, install_programs, load_program)

PROGRAM = PRESERVE / 'files' / 'luo-state'
UNIT = PRESERVE / 'files' / 'luo-state@.service'
NOBODY = 65534
REQUIRED_SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL

ls = load_program(PROGRAM, 'luo_state')
fmt = import_module('luo_state_format')
rst = import_module('luo_state_restore')
svc = import_module('luo_service')

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='chown to uid 65534 needs root')


# ---------------------------------------------------------------- helpers

def write_config(tmp_path, paths, extra=''):
    source = tmp_path / 'myapp.conf'
    source.write_text('paths = %s\n%s' % (' '.join(str(p) for p in paths), extra))
    return source


def config_for(tmp_path, paths, extra=''):
    return ls.load_config('myapp', str(write_config(tmp_path, paths, extra)))


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


def saved_memfd(config, seal=True):
    """What save puts in the fd store, without the notify part."""
    entries, missing = fmt.collect_state(config)
    fd = svc.create_memfd('luo-state:' + config.name)
    fmt.write_state(fd, entries, fmt.state_meta(config, missing))
    if seal:
        svc.seal(fd)
    return fd


def memfd_with_archive(build, meta_bytes):
    """A state memfd around hand-made metadata and archive: build(tar) adds the members."""
    fd = os.memfd_create('crafted', os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.lseek(fd, fmt.HEADER.size, os.SEEK_SET)
    writer = fmt.HashingWriter(fd)
    writer.write(meta_bytes)
    with tarfile.open(fileobj=writer, mode='w|', format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    os.pwrite(fd, fmt.HEADER.pack(fmt.MAGIC, len(meta_bytes), writer.size - len(meta_bytes), writer.sha256.digest()), 0)
    return fd


def corrupt(fd, offset):
    """Flip every bit of one byte of an unsealed memfd."""
    os.pwrite(fd, bytes([os.pread(fd, 1, offset)[0] ^ 0xff]), offset)


def member(name, kind=tarfile.REGTYPE, data=b''):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


def crafted(paths, members, missing=()):
    def build(tar):
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return memfd_with_archive(build, json.dumps({'paths': paths, 'missing': list(missing)}).encode())


def stage_leftovers(parent):
    return [p for p in os.listdir(parent) if p.startswith('.luo-state-')]


@pytest.fixture(autouse=True)
def record_root(tmp_path, monkeypatch):
    """Restore records go below tmp_path, never to this machine's /run/luo-state."""
    monkeypatch.setattr(ls, 'RECORD_ROOT', str(tmp_path / 'run-luo-state'))


@pytest.fixture
def state_dir(tmp_path):
    return make_tree(tmp_path / 'run' / 'myapp')


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


def test_check_size_allows_exactly_max_size(tmp_path):
    config = config_for(tmp_path, ['/run/a'], 'max_size = 1K\n')
    fmt.check_size(1024, config)
    with pytest.raises(fmt.StateRefused):
        fmt.check_size(1025, config)


# ---------------------------------------------------------------- archive and memfd

def test_tarinfo_for_keeps_type_owner_mode_and_nanosecond_times(state_dir):
    info = fmt.tarinfo_for(str(state_dir / 'data.db'), os.lstat(state_dir / 'data.db'))
    st = os.lstat(state_dir / 'data.db')
    assert (info.name, info.type, info.size, info.mode, info.uid, info.gid) == (
        str(state_dir / 'data.db').lstrip('/'), tarfile.REGTYPE, 1600, 0o640, NOBODY, NOBODY)
    assert info.pax_headers == {'LUO.mtime_ns': str(st.st_mtime_ns), 'LUO.atime_ns': str(st.st_atime_ns)}
    link = fmt.tarinfo_for(str(state_dir / 'current'), os.lstat(state_dir / 'current'))
    assert (link.type, link.linkname, link.uid, link.gid) == (tarfile.SYMTYPE, 'data.db', NOBODY, 0)
    assert fmt.tarinfo_for(str(state_dir / 'sub'), os.lstat(state_dir / 'sub')).mode == 0o2770


def test_state_meta(tmp_path):
    meta = fmt.state_meta(config_for(tmp_path, ['/run/a', '/run/b']), ['/run/b'])
    assert (meta['name'], meta['paths'], meta['missing']) == ('myapp', ['/run/a'], ['/run/b'])
    assert meta['kernel'] == os.uname().release
    assert time.strptime(meta['saved_at'], '%Y-%m-%dT%H:%M:%SZ')


def test_open_nofollow_refuses_a_symlink(state_dir):
    with pytest.raises(OSError) as raised:
        open(state_dir / 'current', 'rb', opener=fmt.open_nofollow)
    assert raised.value.errno == errno.ELOOP
    with open(state_dir / 'data.db', 'rb', opener=fmt.open_nofollow) as handle:
        assert handle.read(9) == b'important'


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


def test_current_kind(state_dir, tmp_path):
    assert rst.current_kind(str(state_dir)) == 'directory'
    assert rst.current_kind(str(state_dir / 'data.db')) == 'file'
    assert rst.current_kind(str(state_dir / 'sub' / 'dangling')) == 'symlink'
    assert rst.current_kind(str(tmp_path / 'nothing')) is None
    os.mkfifo(tmp_path / 'fifo')
    assert rst.current_kind(str(tmp_path / 'fifo')) == 'FIFO'


def test_member_ns_prefers_the_pax_value():
    info = tarfile.TarInfo('x')
    info.pax_headers = {'LUO.mtime_ns': '1600000000123456789', 'LUO.atime_ns': '-1500000000'}
    assert rst.member_ns(info, 'LUO.mtime_ns', 5) == 1600000000123456789
    assert rst.member_ns(info, 'LUO.atime_ns', 5) == -1500000000
    assert rst.member_ns(info, 'LUO.other', 5) == 5_000_000_000
    info.pax_headers = {'LUO.mtime_ns': '12.5'}
    assert rst.member_ns(info, 'LUO.mtime_ns', 7) == 7_000_000_000


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


def test_create_parents_on_a_read_only_parent_says_what_to_keep_instead(tmp_path, monkeypatch):
    def read_only(path, mode):
        raise OSError(errno.EROFS, 'Read-only file system', path)

    monkeypatch.setattr(os, 'mkdir', read_only)
    with pytest.raises(rst.RestoreFailed) as failed:
        rst.create_parents([str(tmp_path / 'myapp' / 'state.db')])
    assert ('cannot create %s, the missing parent directory of %s' % (tmp_path / 'myapp', tmp_path / 'myapp' / 'state.db')
            in str(failed.value))
    assert 'keep %s itself in paths=' % (tmp_path / 'myapp') in str(failed.value)


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


def new_stage(parent, name, make):
    """A staging directory holding make(stage / 'new')."""
    stage = parent / name
    stage.mkdir()
    make(stage / 'new')
    return stage


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


# ---------------------------------------------------------------- restore: whole

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


# ---------------------------------------------------------------- status

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


def test_restore_without_a_saved_state_starts_empty(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('LISTEN_FDS', raising=False)
    monkeypatch.delenv('NOTIFY_SOCKET', raising=False)
    assert ls.main(['--config', str(write_config(tmp_path, ['/run/myapp'])), 'restore', 'myapp']) == ls.EXIT_OK
    assert ('no saved state in the fd store of luo-state@myapp.service: first start since boot, or a cold boot'
            in capsys.readouterr().err)


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


# ---------------------------------------------------------------- the unit

def unit_settings():
    settings = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(('#', '[')):
            key, _sep, value = line.partition('=')
            settings.setdefault(key, []).append(value)
    return settings


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


def fail_renames_onto(monkeypatch, targets, error=errno.EBUSY):
    """os.rename fails when it would put something at one of targets (a mount point, a busy path...)."""
    real_rename = os.rename

    def rename(src, dst):
        if str(dst) in targets:
            raise OSError(error, os.strerror(error), str(dst))
        real_rename(src, dst)
    monkeypatch.setattr(os, 'rename', rename)


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


# ---------------------------------------------------------------- the restore record

def this_boot_id():
    return pathlib.Path('/proc/sys/kernel/random/boot_id').read_text().strip()


def read_record(directory):
    path = directory / 'restore.json'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    return json.loads(path.read_text())


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


def test_a_save_that_cannot_push_says_the_previous_state_is_gone(state_dir, tmp_path, manager, monkeypatch, capsys):
    def cannot_push(address, name, fd):
        raise svc.SystemdError('sending FDSTORE=1 to NOTIFY_SOCKET failed: [Errno 105] No buffer space available')
    monkeypatch.setattr(ls, 'fdstore_add', cannot_push)
    assert ls.main(['--config', str(write_config(tmp_path, [state_dir])), 'save', 'myapp']) == ls.EXIT_SYSTEMD
    assert ('No buffer space available; the state saved before was already dropped from the fd store: nothing is '
            'kept for the next start of luo-state@myapp.service') in capsys.readouterr().err
