# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/preserve/files/luo-liveupdate/luo_service.py, what luo-state and luo-qemu-guest share.

Real memfds, real seals, real AF_UNIX datagrams with SCM_RIGHTS; the manager is the FakeManager of
host_programs. Also: the programs and their modules, laid out as the roles install them, run."""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import subprocess
import sys

import pytest

from ansible_collections.luo.liveupdate.tests.unit.roles.host_programs import (
    LIBRARY_DIR, PRESERVE, QEMU_GUEST, SHARED_MODULE, import_module, install_programs, installed_files)

svc = import_module('luo_service')
REQUIRED_SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL


# ---------------------------------------------------------------- errors and logging

def test_errors_carry_their_exit_code():
    assert svc.ServiceError('x').exit_code == svc.EXIT_FAILED
    assert svc.ServiceError('x', 3).exit_code == 3
    assert svc.ConfigError('x').exit_code == svc.EXIT_CONFIG
    assert svc.SystemdError('x').exit_code == svc.EXIT_SYSTEMD
    assert str(svc.ConfigError('what and how to fix it')) == 'what and how to fix it'


def test_stderr_is_journal_matches_the_stream_identity():
    st = os.fstat(2)
    assert svc.stderr_is_journal({'JOURNAL_STREAM': '%d:%d' % (st.st_dev, st.st_ino)})
    assert not svc.stderr_is_journal({'JOURNAL_STREAM': '0:0'})
    assert not svc.stderr_is_journal({})


def test_stderr_is_journal_with_stderr_closed(monkeypatch):
    real = os.fstat

    def closed(fd):
        if fd == 2:
            raise OSError(errno.EBADF, 'Bad file descriptor')
        return real(fd)

    monkeypatch.setattr(os, 'fstat', closed)
    assert not svc.stderr_is_journal({'JOURNAL_STREAM': '1:2'})


def test_log_prefixes_the_priority_only_for_the_journal(capsys, monkeypatch):
    monkeypatch.delenv('JOURNAL_STREAM', raising=False)
    svc.log('plain', 3)
    assert capsys.readouterr().err == 'plain\n'
    st = os.fstat(2)
    monkeypatch.setenv('JOURNAL_STREAM', '%d:%d' % (st.st_dev, st.st_ino))
    svc.log('to the journal', 3)
    assert capsys.readouterr().err == '<3>to the journal\n'
    svc.log('informational')
    assert capsys.readouterr().err == '<6>informational\n'


# ---------------------------------------------------------------- names and files

@pytest.mark.parametrize('name', ['g1', 'web-1.prod', 'A_b', '_x', 'x' * 63])
def test_check_instance_name_accepts_instance_names(name):
    assert svc.check_instance_name(name, 'guest name', 63, 'g@NAME.service') == name


@pytest.mark.parametrize('name', ['', '-x', '.hidden', '../etc', 'a/b', 'a b', 'x\\x2d', 'x' * 64, None, 'g1\n',
                                  'g1\nx', 3])
def test_check_instance_name_refuses_the_rest(name):
    with pytest.raises(svc.ConfigError) as err:
        svc.check_instance_name(name, 'guest name', 63, 'g@NAME.service and /etc/g/NAME.json')
    assert err.value.exit_code == svc.EXIT_CONFIG
    assert str(err.value) == ('guest name %r is not valid: use 1 to 63 letters, digits, "_", "." or "-", not starting '
                              'with "." or "-" (it names g@NAME.service and /etc/g/NAME.json)' % (name,))


def test_read_config_returns_the_text_or_says_how_to_fix_the_file(tmp_path):
    (tmp_path / 'a.conf').write_text('paths = /run/a\n')
    assert svc.read_config(str(tmp_path / 'a.conf'), 'create it') == 'paths = /run/a\n'
    with pytest.raises(svc.ConfigError, match='nope.conf does not exist: create it with paths = /run/x$'):
        svc.read_config(str(tmp_path / 'nope.conf'), 'create it with paths = /run/x')
    with pytest.raises(svc.ConfigError, match='cannot be read .* make it a readable UTF-8 text file'):
        svc.read_config(str(tmp_path), 'create it')
    (tmp_path / 'bin.conf').write_bytes(b'paths = /run/\xff\n')
    with pytest.raises(svc.ConfigError, match='bin.conf cannot be read'):
        svc.read_config(str(tmp_path / 'bin.conf'), 'create it')


def test_host_facts_are_this_hosts():
    facts = svc.host_facts()
    assert facts['kernel'] == os.uname().release
    with open('/proc/sys/kernel/random/boot_id', encoding='ascii') as handle:
        assert facts['boot_id'] == handle.read().strip()


def test_host_facts_without_a_readable_boot_id(monkeypatch, tmp_path):
    monkeypatch.setattr(svc, 'BOOT_ID', str(tmp_path / 'none'))
    assert svc.host_facts() == {'kernel': os.uname().release, 'boot_id': None}


def test_write_json_replaces_atomically_with_the_mode(tmp_path):
    path = str(tmp_path / 'a' / 'b.json')
    svc.write_json(path, {'x': 1})
    svc.write_json(path, {'x': 2}, mode=0o600)
    with open(path, encoding='utf-8') as handle:
        assert json.load(handle) == {'x': 2}
    assert os.listdir(tmp_path / 'a') == ['b.json']
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_write_json_leaves_no_temporary_file_behind(tmp_path, monkeypatch):
    def fail(src, dst):
        raise OSError(errno.EXDEV, 'Invalid cross-device link')

    monkeypatch.setattr(os, 'rename', fail)
    with pytest.raises(OSError):
        svc.write_json(str(tmp_path / 'b.json'), {'x': 1})
    assert os.listdir(tmp_path) == []


def test_keep_record_warns_instead_of_failing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv('JOURNAL_STREAM', raising=False)
    (tmp_path / 'file').write_text('not a directory')
    svc.keep_record(str(tmp_path / 'file' / 'r.json'), {}, 'nothing shows what happened')
    err = capsys.readouterr().err
    assert err.startswith('cannot write %s (' % (tmp_path / 'file' / 'r.json'))
    assert err.endswith('): nothing shows what happened\n')


# ---------------------------------------------------------------- the notification socket

def test_notify_address(tmp_path):
    assert svc.notify_address({'NOTIFY_SOCKET': '/run/systemd/notify'}, 'u') == '/run/systemd/notify'
    assert svc.notify_address({'NOTIFY_SOCKET': '@/org/freedesktop/systemd1/notify'}, 'u') == \
        '\0/org/freedesktop/systemd1/notify'
    with pytest.raises(svc.SystemdError, match='NOTIFY_SOCKET is not set: run this as ExecStart= or ExecStop= of '
                                               'luo-state@myapp.service, whose NotifyAccess=exec gives them one'):
        svc.notify_address({}, 'luo-state@myapp.service')
    with pytest.raises(svc.SystemdError, match='NOTIFY_SOCKET=vsock:2:1 is not an AF_UNIX socket path'):
        svc.notify_address({'NOTIFY_SOCKET': 'vsock:2:1'}, 'u')


def test_notify_message():
    assert svc.notify_message([('FDSTORE', '1'), ('FDNAME', 'luo-state')]) == b'FDSTORE=1\nFDNAME=luo-state\n'
    assert svc.notify_message([]) == b''
    with pytest.raises(ValueError, match='single KEY=VALUE line'):
        svc.notify_message([('FDNAME', 'a\nREADY=1')])
    with pytest.raises(ValueError):
        svc.notify_message([('A=B', 'c')])


def receive(sock):
    data, fds, _flags, _address = socket.recv_fds(sock, 4096, 4)
    return data, fds


def test_sd_notify_passes_a_sealed_memfd_with_scm_rights(tmp_path):
    address = str(tmp_path / 'notify')
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(address)
        fd = svc.sealed_memfd('luo-state:myapp', b'saved state')
        svc.sd_notify(address, [('FDSTORE', '1'), ('FDNAME', 'luo-state')], [fd])
        data, fds = receive(server)
    assert data == b'FDSTORE=1\nFDNAME=luo-state\n'
    assert len(fds) == 1 and fds[0] != fd
    assert os.fstat(fds[0]).st_ino == os.fstat(fd).st_ino
    assert svc.read_all(fds[0]) == b'saved state'
    assert svc.get_seals(fds[0]) & REQUIRED_SEALS == REQUIRED_SEALS
    for each in fds + [fd]:
        os.close(each)


def test_sd_notify_to_an_abstract_socket():
    name = 'luo-service-test-%d' % os.getpid()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind('\0' + name)
        svc.sd_notify(svc.notify_address({'NOTIFY_SOCKET': '@' + name}, 'u'), [('READY', '1')])
        assert receive(server) == (b'READY=1\n', [])


def test_sd_notify_without_a_listener_says_which_message_failed(tmp_path):
    with pytest.raises(svc.SystemdError, match="sending FDSTOREREMOVE=1 to NOTIFY_SOCKET '.*nobody' failed") as err:
        svc.sd_notify(str(tmp_path / 'nobody'), [('FDSTOREREMOVE', '1')])
    assert err.value.exit_code == svc.EXIT_SYSTEMD


def test_notify_barrier_returns_once_the_manager_closed_the_fd(manager, tmp_path):
    assert svc.notify_barrier(str(tmp_path / 'notify')) is True
    assert manager.messages == [{'BARRIER': '1'}]


def test_notify_barrier_times_out_when_nothing_is_processed(manager, tmp_path):
    manager.hold_barrier = True
    assert svc.notify_barrier(str(tmp_path / 'notify'), timeout=0.2) is False


def test_fdstore_add_replace_and_remove_reach_the_manager(tmp_path, manager):
    address = str(tmp_path / 'notify')
    fd = os.memfd_create('x')
    svc.fdstore_replace(address, 'guest-ram', fd)
    svc.sd_notify(address, [('READY', '1'), ('STATUS', 'ok')])
    assert svc.notify_barrier(address)
    assert os.fstat(manager.store['guest-ram']).st_ino == os.fstat(fd).st_ino
    assert manager.messages[:3] == [{'FDSTOREREMOVE': '1', 'FDNAME': 'guest-ram'},
                                    {'FDSTORE': '1', 'FDNAME': 'guest-ram', 'FDPOLL': '0'},
                                    {'READY': '1', 'STATUS': 'ok'}]
    svc.fdstore_add(address, 'other', fd)
    svc.fdstore_remove(address, 'guest-ram')
    assert svc.notify_barrier(address)
    assert list(manager.store) == ['other']
    os.close(fd)


# ---------------------------------------------------------------- fds from the manager

@pytest.mark.parametrize('environ, expected', [
    ({'LISTEN_PID': '42', 'LISTEN_FDS': '1', 'LISTEN_FDNAMES': 'luo-state'}, [('luo-state', 3)]),
    ({'LISTEN_PID': '42', 'LISTEN_FDS': '2', 'LISTEN_FDNAMES': 'a:luo-state'}, [('a', 3), ('luo-state', 4)]),
    ({'LISTEN_PID': '42', 'LISTEN_FDS': '3', 'LISTEN_FDNAMES': 'guest-ram:guest-state:guest-meta'},
     [('guest-ram', 3), ('guest-state', 4), ('guest-meta', 5)]),
    ({'LISTEN_PID': '42', 'LISTEN_FDS': '2'}, [('unknown', 3), ('unknown', 4)]),
    ({'LISTEN_PID': '42', 'LISTEN_FDS': '2', 'LISTEN_FDNAMES': 'a'}, [('a', 3), ('unknown', 4)]),
    ({'LISTEN_PID': '42', 'LISTEN_FDS': '0', 'LISTEN_FDNAMES': ''}, []),
    ({'LISTEN_PID': '42', 'LISTEN_FDS': '-1'}, []),
    ({'LISTEN_PID': '43', 'LISTEN_FDS': '1', 'LISTEN_FDNAMES': 'luo-state'}, []),
    ({'LISTEN_FDS': '1'}, []),
    ({'LISTEN_PID': 'x', 'LISTEN_FDS': '1'}, []),
    ({'LISTEN_PID': '42', 'LISTEN_FDS': 'one'}, []),
    ({}, []),
])
def test_listen_fds(environ, expected):
    assert svc.listen_fds(environ, 42) == expected


def test_named_fds_keeps_the_first_of_each_wanted_name_and_closes_the_rest(capsys, monkeypatch):
    monkeypatch.delenv('JOURNAL_STREAM', raising=False)
    fds = [os.memfd_create(name) for name in ('a', 'a', 'b', 'c')]
    found = svc.named_fds(zip(('a', 'a', 'unknown', 'c'), fds), ('a', 'c'))
    assert found == {'a': fds[0], 'c': fds[3]}
    for closed in fds[1:3]:
        with pytest.raises(OSError):
            os.fstat(closed)
    assert capsys.readouterr().err == ('closing unexpected fd %d (a) from the fd store\n'
                                       'closing unexpected fd %d (unknown) from the fd store\n' % (fds[1], fds[2]))
    for fd in found.values():
        os.close(fd)


FDSTORE_JSON = ('[{"fdname":"other","type":33279,"devno":[0,1],"inode":1060,"rdevno":null,'
                '"path":"/memfd:x (deleted)","flags":"rw"},{"fdname":"luo-state","type":33279,"devno":[0,1],'
                '"inode":1059,"rdevno":null,"path":"/memfd:luo-state:myapp (deleted)","flags":"rw"}]')


def test_fdstore_entry_reads_systemd_analyze_json():
    calls = []

    def run(argv):
        calls.append(argv)
        return 0, FDSTORE_JSON, ''

    assert svc.fdstore_entry('luo-state@myapp.service', 'luo-state', False, run) == (0, 1, 1059)
    assert svc.fdstore_entry('luo-state@myapp.service', 'luo-state', True, run) == (0, 1, 1059)
    assert svc.fdstore_entry('luo-state@myapp.service', 'other', False, run) == (0, 1, 1060)
    assert calls[:2] == [['systemd-analyze', 'fdstore', 'luo-state@myapp.service', '--json=short'],
                         ['systemd-analyze', '--user', 'fdstore', 'luo-state@myapp.service', '--json=short']]
    assert svc.fdstore_entry('u', 'luo-state', False, lambda argv: (0, '[]', '')) is None


def test_fdstore_entry_errors():
    not_loaded = 'Failed to call DumpUnitFileDescriptorStore: Unit luo-state@x.service not loaded.\n'
    with pytest.raises(svc.SystemdError, match='failed \\(rc 1\\): Failed to call .* not loaded.; check that '
                                               'luo-state@x.service is loaded'):
        svc.fdstore_entry('luo-state@x.service', 'luo-state', False, lambda argv: (1, '', not_loaded))
    with pytest.raises(svc.SystemdError, match='printed no JSON'):
        svc.fdstore_entry('u', 'luo-state', False, lambda argv: (0, 'FDNAME TYPE', ''))


def test_run_command():
    assert svc.run_command(['sh', '-c', 'echo out; echo err >&2; exit 3']) == (3, 'out\n', 'err\n')
    rc, out, err = svc.run_command(['/nonexistent/systemd-analyze'])
    assert (rc, out) == (127, '') and 'No such file' in err


def test_open_manager_fd_finds_the_inode_among_a_process_fds():
    fd = svc.sealed_memfd('held', b'what the manager holds')
    st = os.fstat(fd)
    found = svc.open_manager_fd(os.getpid(), os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    assert os.fstat(found).st_ino == st.st_ino and svc.read_all(found) == b'what the manager holds'
    with pytest.raises(svc.SystemdError, match='inode 1 on 0:1\\) is not among the fds of PID %d: give the '
                                               'manager that holds it with --manager-pid' % os.getpid()):
        svc.open_manager_fd(os.getpid(), 0, 1, 1)
    os.close(found)
    os.close(fd)


# ---------------------------------------------------------------- memfds

def test_create_memfd_is_named_and_sealable():
    fd = svc.create_memfd('luo-state:myapp')
    assert os.readlink('/proc/self/fd/%d' % fd) == '/memfd:luo-state:myapp (deleted)'
    assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    assert not svc.get_seals(fd) & fcntl.F_SEAL_SEAL
    os.close(fd)


def test_create_memfd_falls_back_on_kernels_without_noexec_seal(monkeypatch):
    calls = []
    real = os.memfd_create

    def old_kernel(name, flags):
        calls.append(flags)
        if flags & svc.MFD_NOEXEC_SEAL:
            raise OSError(errno.EINVAL, 'Invalid argument')
        return real(name, flags)

    monkeypatch.setattr(os, 'memfd_create', old_kernel)
    os.close(svc.create_memfd('myapp'))
    assert calls == [os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING | svc.MFD_NOEXEC_SEAL, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING]

    def no_fds_left(name, flags):
        raise OSError(errno.EMFILE, 'Too many open files')

    monkeypatch.setattr(os, 'memfd_create', no_fds_left)
    with pytest.raises(OSError):
        svc.create_memfd('myapp')


def test_seal_forbids_every_change():
    fd = svc.create_memfd('x')
    os.write(fd, b'data')
    svc.seal(fd)
    assert svc.get_seals(fd) & REQUIRED_SEALS == REQUIRED_SEALS
    for change in (lambda: os.pwrite(fd, b'x', 0), lambda: os.ftruncate(fd, 1),
                   lambda: os.ftruncate(fd, 1 << 20), lambda: fcntl.fcntl(fd, fcntl.F_ADD_SEALS, 0)):
        with pytest.raises(PermissionError):
            change()
    os.close(fd)


def test_get_seals_of_something_unsealable_is_zero():
    read_end, write_end = os.pipe()
    assert svc.get_seals(read_end) == 0
    os.close(read_end)
    os.close(write_end)


def test_sealed_memfd_holds_the_data_and_cannot_change():
    fd = svc.sealed_memfd('guest-meta-g1', b'{"a": 1}')
    try:
        assert svc.read_all(fd) == b'{"a": 1}'
        assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) & svc.SEALS == svc.SEALS
        with pytest.raises(PermissionError):
            os.pwrite(fd, b'x', 0)
    finally:
        os.close(fd)


def test_read_all_stops_at_the_limit():
    fd = svc.sealed_memfd('big', b'x' * 100)
    try:
        assert svc.read_all(fd, limit=10) == b'x' * 10
        assert svc.read_all(fd) == b'x' * 100
    finally:
        os.close(fd)


# ---------------------------------------------------------------- the programs as the roles install them

def test_both_roles_install_the_one_shared_module():
    files = installed_files()
    assert files[LIBRARY_DIR + '/' + SHARED_MODULE][0] == PRESERVE / 'files' / 'luo-liveupdate' / SHARED_MODULE
    tasks = (QEMU_GUEST / 'tasks' / 'main.yml').read_text()
    assert 'src: "{{ role_path }}/../preserve/files/luo-liveupdate/%s"' % SHARED_MODULE in tasks
    assert not (QEMU_GUEST / 'files' / 'luo-liveupdate' / SHARED_MODULE).exists()


def run_installed(program, *args, **kwargs):
    """Run an installed program as the units do (python3 PROGRAM ...), outside this checkout and its sys.path."""
    env = {key: value for key, value in os.environ.items()
           if key not in ('PYTHONPATH', 'LISTEN_FDS', 'LISTEN_PID', 'NOTIFY_SOCKET', 'PYTHONDONTWRITEBYTECODE')}
    return subprocess.run([sys.executable, str(program)] + list(args), capture_output=True, text=True, env=env,
                          cwd='/', check=False, **kwargs)


def test_the_installed_programs_find_their_modules(tmp_path):
    programs = install_programs(tmp_path / 'root')
    library = tmp_path / 'root' / LIBRARY_DIR
    for name, words in (('luo-state', 'save NAME'), ('luo-qemu-guest', 'start NAME')):
        proc = run_installed(programs[name], '--help')
        assert proc.returncode == 0 and words in proc.stdout, proc.stderr
    assert sorted(os.listdir(library)) == sorted(path.rsplit('/', 1)[1] for path in installed_files()
                                                 if path.startswith(LIBRARY_DIR))  # no __pycache__ left in it


def test_installed_luo_state_restores_nothing_on_an_empty_fd_store(tmp_path):
    programs = install_programs(tmp_path / 'root')
    (tmp_path / 'myapp.conf').write_text('paths = %s\n' % (tmp_path / 'run' / 'myapp'))
    proc = run_installed(programs['luo-state'], '--config', str(tmp_path / 'myapp.conf'),
                         '--record-dir', str(tmp_path / 'record'), 'restore', 'myapp')
    assert proc.returncode == 0 and 'no saved state in the fd store' in proc.stderr
    assert json.loads((tmp_path / 'record' / 'restore.json').read_text())['result'] == 'nothing-to-restore'


def test_installed_luo_qemu_guest_reports_a_guest_without_qemu(tmp_path):
    programs = install_programs(tmp_path / 'root')
    (tmp_path / 'g1.json').write_text(json.dumps({'memory_mib': 64, 'kernel': '/boot/vmlinuz',
                                                  'qmp_socket': str(tmp_path / 'qmp.sock')}))
    proc = run_installed(programs['luo-qemu-guest'], 'status', 'g1', '--config', str(tmp_path / 'g1.json'),
                         '--state-dir', str(tmp_path / 'state'))
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report['qemu'] is None and report['last_start'] is None


def test_an_installed_program_reached_through_a_symlink_finds_its_modules(tmp_path):
    programs = install_programs(tmp_path / 'root')
    (tmp_path / 'bin').mkdir()
    os.symlink(programs['luo-state'], tmp_path / 'bin' / 'luo-state')
    proc = run_installed(tmp_path / 'bin' / 'luo-state', 'status', '../x')
    assert proc.returncode == svc.EXIT_CONFIG and "instance name '../x' is not valid" in proc.stderr
