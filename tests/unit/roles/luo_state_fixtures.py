# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The program luo-state and its modules as the tests load them, and the configs, memfds and archives they work on.

The trees owned by uid/gid 65534, which only root can build, are in tests/integration/roles/test_luo_state_as_root.py.
"""
from __future__ import annotations

import errno
import io
import json
import os
import stat
import tarfile

import pytest

from ansible_collections.luo.liveupdate.tests.unit.roles.host_programs import (
    PRESERVE, import_module, load_program)

PROGRAM = PRESERVE / 'files' / 'luo-state'
UNIT = PRESERVE / 'files' / 'luo-state@.service'

ls = load_program(PROGRAM, 'luo_state')
fmt = import_module('luo_state_format')
rst = import_module('luo_state_restore')
svc = import_module('luo_service')


def write_config(tmp_path, paths, extra=''):
    source = tmp_path / 'myapp.conf'
    source.write_text('paths = %s\n%s' % (' '.join(str(p) for p in paths), extra))
    return source


def config_for(tmp_path, paths, extra=''):
    return ls.load_config('myapp', str(write_config(tmp_path, paths, extra)))


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


@pytest.fixture(autouse=True)
def record_root(tmp_path, monkeypatch):
    """Restore records go below tmp_path, never to this machine's /run/luo-state."""
    monkeypatch.setattr(ls, 'RECORD_ROOT', str(tmp_path / 'run-luo-state'))


def new_stage(parent, name, make):
    """A staging directory holding make(stage / 'new')."""
    stage = parent / name
    stage.mkdir()
    make(stage / 'new')
    return stage


def unit_settings():
    settings = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(('#', '[')):
            key, _sep, value = line.partition('=')
            settings.setdefault(key, []).append(value)
    return settings


def fail_renames_onto(monkeypatch, targets, error=errno.EBUSY):
    """os.rename fails when it would put something at one of targets (a mount point, a busy path...)."""
    real_rename = os.rename

    def rename(src, dst):
        if str(dst) in targets:
            raise OSError(error, os.strerror(error), str(dst))
        real_rename(src, dst)
    monkeypatch.setattr(os, 'rename', rename)


def read_record(directory):
    path = directory / 'restore.json'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    return json.loads(path.read_text())
