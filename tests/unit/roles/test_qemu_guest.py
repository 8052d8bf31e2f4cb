# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/qemu_guest/files/luo-qemu-guest and its module luo_qmp.

Real memfds, seals and AF_UNIX sockets (notify datagrams with SCM_RIGHTS, a QMP stream). The
end-to-end tests run the program, laid out as the role installs it, as systemd would (LISTEN_FDS
from fd 3, NOTIFY_SOCKET) against a stand-in QEMU that speaks the QMP commands the program uses,
opens the RAM the way QEMU does (/proc/self/fd/N) and enforces the fd set access-mode rule that
real QEMU 11.1 enforces."""
from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from ansible_collections.luo.liveupdate.tests.unit.roles.host_programs import (
    QEMU_GUEST, import_module, install_programs, load_program)

PROGRAM = QEMU_GUEST / 'files' / 'luo-qemu-guest'
UNIT = QEMU_GUEST / 'files' / 'luo-qemu-guest@.service'
MIB = 1024 * 1024

qg = load_program(PROGRAM, 'luo_qemu_guest')
lq = import_module('luo_qmp')
svc = import_module('luo_service')

# ---------------------------------------------------------------- a stand-in QEMU

FAKE_QEMU = r'''
import fcntl, json, os, signal, socket, sys

argv = sys.argv[1:]
log = os.environ.get('FAKE_QEMU_LOG')
if log:
    with open(log, 'a') as handle:
        handle.write(json.dumps(argv) + '\n')
mode = os.environ.get('FAKE_QEMU_MODE', '')
if mode == 'exit':
    sys.stderr.write('qemu-system-x86_64: -object memory-backend-file: cannot do what it was asked\n')
    sys.exit(1)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

def option(name):
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == name]

qmp_path = option('-qmp')[0][len('unix:'):].rsplit(',server=on,wait=off', 1)[0].replace(',,', ',')
backend = dict(item.split('=', 1) for item in option('-object')[0].split(',')[1:])
size = int(backend['size'][:-1]) * 1024 * 1024
ram = os.open(backend['mem-path'], os.O_RDWR)
if os.fstat(ram).st_size != size:
    sys.exit('RAM file is %d bytes, size= says %d' % (os.fstat(ram).st_size, size))
incoming = '-incoming' in argv
if not incoming:
    # A guest boots: its token goes into RAM, and a "CPU register" counts in device state.
    os.pwrite(ram, os.urandom(8), 0)
registers = {'counter': 0}
state = 'inmigrate' if incoming else 'running'
migration = {}
fdsets = {}
capabilities = {}
parameters = {}

server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(qmp_path)
server.listen(1)

def reply(conn, value=None, error=None):
    message = {'error': {'class': 'GenericError', 'desc': error}} if error else {'return': value if value is not None else {}}
    conn.sendall(json.dumps(message).encode() + b'\n')

def handle(conn, request, fds):
    global state, migration
    command, args = request['execute'], request.get('arguments', {})
    if command == 'qmp_capabilities':
        return reply(conn)
    if command == 'query-status':
        if state == 'running':
            registers['counter'] += 1
        return reply(conn, {'status': state, 'running': state == 'running'})
    if command == 'stop':
        state = 'paused'
        return reply(conn)
    if command == 'cont':
        if state == 'inmigrate':
            return reply(conn, error='Migration is not finalized yet')
        state = 'running'
        return reply(conn)
    if command == 'migrate-set-capabilities':
        for cap in args['capabilities']:
            capabilities[cap['capability']] = cap['state']
        return reply(conn)
    if command == 'migrate-set-parameters':
        parameters.update(args)
        return reply(conn)
    if command == 'add-fd':
        fdset = len(fdsets)
        fdsets[fdset] = fds[0]
        conn.sendall(b'{"event": "SOMETHING", "data": {}}\n')
        return reply(conn, {'fdset-id': fdset, 'fd': fds[0]})
    if command == 'remove-fd':
        os.close(fdsets.pop(args['fdset-id']))
        return reply(conn)
    if command == 'migrate':
        fdset = int(args['uri'].rsplit('/', 1)[1])
        fd = fdsets[fdset]
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_WRONLY:
            migration = {'status': 'failed', 'error-desc': 'Failed to find file descriptor with matching flags=0x41'}
            return reply(conn, error=migration['error-desc'])
        if mode == 'refuse-migrate':
            migration = {'status': 'failed', 'error-desc': 'a device refused the migration'}
            return reply(conn)
        assert capabilities.get('x-ignore-shared') and parameters.get('mode') == 'cpr-reboot', (capabilities, parameters)
        os.write(fd, json.dumps({'magic': 'FAKE-QEMU-STATE', 'registers': registers, 'was': state}).encode())
        state = 'postmigrate'
        migration = {'status': 'completed', 'downtime': 7}
        return reply(conn)
    if command == 'migrate-incoming':
        path = args['uri'][len('file:'):]
        with open(path, 'rb') as handle:
            saved = json.loads(handle.read())
        if mode == 'refuse-incoming' or saved.get('magic') != 'FAKE-QEMU-STATE':
            migration = {'status': 'failed', 'error-desc': 'load of migration failed: Invalid argument'}
            return reply(conn)
        registers.update(saved['registers'])
        state = 'paused'
        migration = {'status': 'completed'}
        return reply(conn)
    if command == 'query-migrate':
        return reply(conn, migration)
    if command == 'quit':
        reply(conn)
        conn.close()
        sys.exit(0)
    return reply(conn, error='The command %s has not been found' % command)

while True:
    conn, _ = server.accept()
    conn.sendall(b'{"QMP": {"version": {"qemu": {"major": 11}}, "capabilities": []}}\n')
    buffer = b''
    while True:
        data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 4)
        if not data:
            break
        buffer += data
        while b'\n' in buffer:
            line, buffer = buffer.split(b'\n', 1)
            handle(conn, json.loads(line), fds)
            fds = []
    conn.close()
'''

LAUNCHER = r'''
import fcntl, os, resource, sys
names, fds, program = sys.argv[1], sys.argv[2], sys.argv[3]
fds = [int(fd) for fd in fds.split(',')] if fds else []
high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds]
for index, fd in enumerate(high):
    os.dup2(fd, 3 + index)
if fds:
    os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=names)
if os.environ.get('LAUNCH_NOFILE'):
    limit = int(os.environ['LAUNCH_NOFILE'])
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
os.execv(sys.executable, [sys.executable, program] + sys.argv[4:])
'''


@pytest.fixture
def guest(tmp_path, manager):
    """A guest configuration with the stand-in QEMU, and helpers to run the program like systemd does."""
    qemu = tmp_path / 'qemu-system-x86_64'
    qemu.write_text('#!%s\n%s' % (sys.executable, FAKE_QEMU))
    qemu.chmod(0o755)
    launcher = tmp_path / 'launch.py'
    launcher.write_text(LAUNCHER)
    program = install_programs(tmp_path / 'root')['luo-qemu-guest']
    config = {'name': 'g1', 'qemu': str(qemu), 'memory_mib': 4, 'accel': 'tcg', 'kernel': '/boot/vmlinuz',
              'qmp_socket': str(tmp_path / 'q,mp.sock'), 'serial_log': str(tmp_path / 'serial.log'),
              'start_timeout': 10, 'save_timeout': 10}
    config_path = tmp_path / 'g1.json'
    config_path.write_text(json.dumps(config))
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / 'notify'), FAKE_QEMU_LOG=str(tmp_path / 'qemu.log'))
    dirs = ['--config', str(config_path), '--state-dir', str(tmp_path / 'state'), '--runtime-dir', str(tmp_path / 'run')]

    class Guest:
        path = config_path
        state_dir = tmp_path / 'state' / 'g1'
        runtime_dir = tmp_path / 'run' / 'g1'

        @staticmethod
        def config(**changes):
            config_path.write_text(json.dumps(dict(config, **changes)))

        @staticmethod
        def spawn(command, fdstore=None, extra_env=None):
            fdstore = manager.store if fdstore is None else fdstore
            names = list(fdstore)
            return subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, str(launcher), ':'.join(names), ','.join(str(fdstore[n]) for n in names), str(program),
                 command, 'g1'] + dirs,
                env=dict(env, **(extra_env or {})), pass_fds=[fdstore[n] for n in names],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        @staticmethod
        def run(command, extra_env=None):
            proc = Guest.spawn(command, extra_env=extra_env)
            out, err = proc.communicate(timeout=30)
            return proc.returncode, out, err

        @staticmethod
        def qemu_runs():
            log = tmp_path / 'qemu.log'
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return Guest


def start_guest(guest, manager, extra_env=None):
    """Start the program; return the process once it said READY=1."""
    before = len(manager.messages)
    proc = guest.spawn('start', extra_env=extra_env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if any(m.get('READY') == '1' for m in manager.messages[before:]):
            return proc
        if proc.poll() is not None:
            raise AssertionError('start exited with %s: %s' % (proc.returncode, proc.communicate()))
        time.sleep(0.02)
    proc.kill()
    raise AssertionError('no READY=1: %s' % (proc.communicate(),))


def save_guest(guest, proc):
    code, _out, err = guest.run('save')
    proc_out, proc_err = proc.communicate(timeout=20)
    return code, err, proc.returncode, proc_out + proc_err


# ---------------------------------------------------------------- configuration

@pytest.mark.parametrize('name', ['g1', 'web-1.prod', 'A_b', 'x' * 63])
def test_check_name_accepts_unit_instance_names(name):
    assert qg.check_name(name) == name


@pytest.mark.parametrize('name', ['', '-x', '.hidden', 'a/b', 'a b', 'x' * 64, None, 'g1\n', 'g1\nx', 3])
def test_check_name_refuses_the_rest(name):
    with pytest.raises(qg.ServiceError) as err:
        qg.check_name(name)
    assert err.value.exit_code == qg.EXIT_CONFIG
    assert repr(name) in str(err.value)


def minimal(**changes):
    raw = {'memory_mib': 64, 'qmp_socket': '/run/q.sock', 'kernel': '/boot/vmlinuz'}
    raw.update(changes)
    return raw


def test_validate_config_fills_the_defaults():
    config = qg.validate_config(minimal(), 'g1', 'g1.json')
    assert config['name'] == 'g1'
    assert config['accel'] == 'kvm' and config['machine'] == 'q35' and config['smp'] == 1
    assert config['disks'] == [] and config['extra_args'] == [] and config['serial_log'] == ''


@pytest.mark.parametrize('changes, words', [
    ({'memory_mib': 0}, 'memory_mib is 0'),
    ({'memory_mib': True}, 'memory_mib is True'),
    ({'memory_mib': '64'}, "memory_mib is '64'"),
    ({'smp': -1}, 'smp is -1'),
    ({'accel': 1}, 'accel is 1'),
    ({'extra_args': '-S'}, "extra_args is '-S'"),
    ({'extra_args': ['-S', 1]}, 'extra_args is'),
    ({'qemu': 'qemu-system-x86_64'}, "qemu 'qemu-system-x86_64' is not an absolute path"),
    ({'qmp_socket': 'q.sock'}, "qmp_socket 'q.sock' is not an absolute path"),
    ({'kernel': '', 'initrd': '/boot/initrd'}, 'initrd /boot/initrd is set without a kernel'),
    ({'kernel': ''}, 'nothing to boot'),
    ({'disks': 'a.img'}, "disks is 'a.img'"),
    ({'disks': [{'path': 'a.img'}]}, "disk 'a.img' is not an absolute path"),
    ({'disks': [{'path': 1}]}, 'needs an absolute "path"'),
    ({'disks': [{'path': '/srv/../etc/shadow'}]}, "disk '/srv/../etc/shadow' is not an absolute path without"),
    ({'kernel': 'boot/vmlinuz'}, "kernel 'boot/vmlinuz' is not an absolute path"),
    ({'kernel': '/srv/../boot/vmlinuz'}, "kernel '/srv/../boot/vmlinuz' is not an absolute path"),
    ({'kernel': '/srv/./vmlinuz'}, "kernel '/srv/./vmlinuz' is not an absolute path"),
    ({'initrd': '//initrd'}, "initrd '//initrd' is not an absolute path"),
    ({'serial_log': 'serial.log'}, "serial_log 'serial.log' is not an absolute path"),
    ({'append': 'console=ttyS0\ninit=/bin/sh'}, "append 'console=ttyS0\\ninit=/bin/sh' holds a control character"),
    ({'append': 'quiet\x00'}, "append 'quiet\\x00' holds a control character"),
    ({'extra_args': ['-device', 'virtio-rng-pci\n']}, "extra_args 'virtio-rng-pci\\n' holds a control character"),
    ({'machine': 'q35\t'}, "machine 'q35\\t' holds a control character"),
    ({'disks': [{'path': '/a.img', 'format': 'vmdk'}]}, "format 'vmdk': use raw or qcow2"),
    ({'bogus': 1, 'other': 2}, 'unknown setting(s) bogus, other'),
    ({'name': 'g2'}, "is for guest 'g2', not 'g1'"),
])
def test_validate_config_names_the_bad_value(changes, words):
    with pytest.raises(qg.ServiceError) as err:
        qg.validate_config(minimal(**changes), 'g1', 'g1.json')
    assert words in str(err.value)
    assert str(err.value).startswith('g1.json')
    assert err.value.exit_code == qg.EXIT_CONFIG


@pytest.mark.parametrize('key', ['memory_mib', 'qmp_socket'])
def test_validate_config_needs_memory_and_qmp(key):
    raw = minimal()
    del raw[key]
    with pytest.raises(qg.ConfigError, match='%s is missing' % key):
        qg.validate_config(raw, 'g1', 'g1.json')


def test_validate_config_refuses_what_is_not_an_object():
    with pytest.raises(qg.ConfigError, match='does not hold a JSON object'):
        qg.validate_config([1], 'g1', 'g1.json')


def test_validate_config_takes_disks_without_a_kernel():
    config = qg.validate_config(minimal(kernel='', disks=[{'path': '/a.qcow2', 'format': 'qcow2'}]), 'g1', 'g1.json')
    assert config['disks'] == [{'path': '/a.qcow2', 'format': 'qcow2'}]


def test_load_config_reads_the_file(tmp_path):
    path = tmp_path / 'g1.json'
    path.write_text(json.dumps(minimal()))
    assert qg.load_config('g1', str(path))['memory_mib'] == 64


def test_load_config_says_how_to_get_a_missing_file(tmp_path):
    with pytest.raises(qg.ServiceError) as err:
        qg.load_config('g1', str(tmp_path / 'g1.json'))
    assert 'does not exist' in str(err.value) and 'luo.liveupdate.qemu_guest' in str(err.value)
    assert err.value.exit_code == qg.EXIT_CONFIG


def test_load_config_refuses_broken_json(tmp_path):
    path = tmp_path / 'g1.json'
    path.write_text('{"memory_mib": ')
    with pytest.raises(qg.ConfigError, match='cannot read .*g1.json'):
        qg.load_config('g1', str(path))


def test_load_config_checks_the_name_first(tmp_path):
    with pytest.raises(qg.ConfigError, match='is not valid'):
        qg.load_config('../etc/passwd', str(tmp_path / 'x.json'))


# ---------------------------------------------------------------- QEMU arguments

def test_qemu_value_doubles_commas():
    assert qg.qemu_value('/a,b/c,,d') == '/a,,b/c,,,,d'


def test_qemu_argv_puts_the_ram_on_the_memfd():
    config = qg.validate_config(minimal(append='console=ttyS0', initrd='/i.gz'), 'g1', 'g1.json')
    argv = qg.qemu_argv(config, 7)
    assert argv[0] == '/usr/bin/qemu-system-x86_64'
    assert argv[argv.index('-machine') + 1] == 'q35,memory-backend=ram0'
    assert argv[argv.index('-object') + 1] == 'memory-backend-file,id=ram0,size=64M,mem-path=/proc/self/fd/7,share=on'
    assert argv[argv.index('-m') + 1] == '64M'
    assert argv[argv.index('-accel') + 1] == 'kvm'
    assert argv[argv.index('-qmp') + 1] == 'unix:/run/q.sock,server=on,wait=off'
    assert argv[argv.index('-kernel') + 1] == '/boot/vmlinuz'
    assert argv[argv.index('-initrd') + 1] == '/i.gz'
    assert argv[argv.index('-append') + 1] == 'console=ttyS0'
    assert argv[argv.index('-chardev') + 1] == 'stdio,id=serial0,signal=off'
    assert '-incoming' not in argv and '-cpu' not in argv


def test_qemu_argv_for_a_resume_a_serial_file_disks_and_extras():
    config = qg.validate_config(minimal(kernel='', cpu='host', serial_log='/var/log/g,1.log', extra_args=['-S', '-no-reboot'],
                                        disks=[{'path': '/img/a,b.raw'}, {'path': '/img/c.qcow2', 'format': 'qcow2'}]),
                                'g1', 'g1.json')
    argv = qg.qemu_argv(config, 3, incoming=True)
    assert argv[-2:] == ['-incoming', 'defer']
    assert argv[-4:-2] == ['-S', '-no-reboot']
    assert argv[argv.index('-cpu') + 1] == 'host'
    assert argv[argv.index('-chardev') + 1] == 'file,id=serial0,path=/var/log/g,,1.log,append=on'
    drives = [argv[i + 1] for i, arg in enumerate(argv) if arg == '-drive']
    assert drives == ['file=/img/a,,b.raw,format=raw,if=virtio', 'file=/img/c.qcow2,format=qcow2,if=virtio']
    assert '-kernel' not in argv


def test_fingerprint_ignores_fd_numbers_and_sees_changes():
    config = qg.validate_config(minimal(), 'g1', 'g1.json')
    same = qg.validate_config(minimal(), 'g1', 'g1.json')
    bigger = qg.validate_config(minimal(memory_mib=128), 'g1', 'g1.json')
    assert qg.fingerprint(config) == qg.fingerprint(same)
    assert qg.fingerprint(config) != qg.fingerprint(bigger)
    assert len(qg.fingerprint(config)) == 64


# ---------------------------------------------------------------- memfds and meta

def test_new_ram_has_the_size_and_no_pages_yet():
    fd = qg.new_ram('g1', 4 * MIB)
    try:
        st = os.fstat(fd)
        assert st.st_size == 4 * MIB and st.st_blocks == 0
        assert os.readlink('/proc/self/fd/%d' % fd).startswith('/memfd:guest-ram-g1')
    finally:
        os.close(fd)


def test_meta_round_trip():
    meta = {'version': qg.META_VERSION, 'name': 'g1', 'paused_at': 1.5}
    assert qg.decode_meta(qg.encode_meta(meta)) == meta


@pytest.mark.parametrize('data, words', [
    (b'{', 'is not JSON'),
    (b'[1]', 'has version [1]'),
    (b'{"version": 99}', 'has version 99'),
])
def test_decode_meta_refuses_foreign_records(data, words):
    with pytest.raises(qg.ServiceError) as err:
        qg.decode_meta(data)
    assert words in str(err.value) and err.value.exit_code == qg.EXIT_RESUME


# ---------------------------------------------------------------- QMP client

class FakeQmpServer:
    """One QMP connection with scripted replies; records requests and the fds they carried."""

    def __init__(self, path, replies, greeting=b'{"QMP": {"version": {}, "capabilities": []}}\n'):
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.replies = list(replies)
        self.greeting = greeting
        self.requests = []
        self.fds = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _peer = self.server.accept()
        conn.sendall(self.greeting)
        buffer = b''
        while self.replies:
            data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 4)
            if not data:
                break
            self.fds.extend(fds)
            buffer += data
            while b'\n' in buffer and self.replies:
                line, buffer = buffer.split(b'\n', 1)
                self.requests.append(json.loads(line))
                reply = self.replies.pop(0)
                if reply is None:
                    conn.close()
                    return
                conn.sendall(reply)
        conn.close()

    def close(self):
        self.thread.join(5)
        self.server.close()
        for fd in self.fds:
            os.close(fd)


OK = b'{"return": {}}\n'


def test_qmp_negotiates_skips_events_and_returns_values(tmp_path):
    path = str(tmp_path / 'qmp.sock')
    server = FakeQmpServer(path, [OK, b'{"event": "STOP"}\n{"return": {"status": "paused"}}\n'])
    qmp = lq.Qmp(path)
    assert qmp.execute('query-status') == {'status': 'paused'}
    qmp.close()
    server.close()
    assert server.requests == [{'execute': 'qmp_capabilities'}, {'execute': 'query-status'}]


def test_qmp_passes_fds_with_the_command(tmp_path):
    path = str(tmp_path / 'qmp.sock')
    server = FakeQmpServer(path, [OK, b'{"return": {"fdset-id": 0, "fd": 9}}\n'])
    qmp = lq.Qmp(path)
    memfd = os.memfd_create('x')
    assert qmp.execute('add-fd', fds=[memfd]) == {'fdset-id': 0, 'fd': 9}
    qmp.close()
    assert len(server.fds) == 1
    assert os.fstat(server.fds[0]).st_ino == os.fstat(memfd).st_ino
    os.close(memfd)
    server.close()


def test_qmp_error_carries_qemus_description(tmp_path):
    path = str(tmp_path / 'qmp.sock')
    server = FakeQmpServer(path, [OK, b'{"error": {"class": "GenericError", "desc": "no such thing"}}\n'])
    qmp = lq.Qmp(path)
    with pytest.raises(lq.QmpError, match='QEMU refused cont: no such thing'):
        qmp.execute('cont', {'x': 1})
    qmp.close()
    server.close()
    assert server.requests[1] == {'execute': 'cont', 'arguments': {'x': 1}}


def test_qmp_closed_connection_is_an_error(tmp_path):
    path = str(tmp_path / 'qmp.sock')
    server = FakeQmpServer(path, [OK, None])
    qmp = lq.Qmp(path)
    with pytest.raises(lq.QmpError, match='closed the QMP connection'):
        qmp.execute('quit')
    qmp.close()
    server.close()


def test_qmp_refuses_a_socket_that_is_not_qmp(tmp_path):
    path = str(tmp_path / 'qmp.sock')
    server = FakeQmpServer(path, [], greeting=b'{"hello": 1}\n')
    with pytest.raises(lq.QmpError, match='is not a QMP socket'):
        lq.Qmp(path)
    server.close()


def test_qmp_without_a_socket(tmp_path):
    with pytest.raises(lq.QmpError, match='QMP on .*nothing.sock'):
        lq.Qmp(str(tmp_path / 'nothing.sock'))


def test_connect_qmp_gives_up_when_qemu_died(tmp_path):
    with pytest.raises(lq.QmpError, match='QEMU exited before its QMP socket'):
        lq.connect_qmp(str(tmp_path / 'q.sock'), 10, alive=lambda: False)


def test_connect_qmp_times_out(tmp_path):
    started = time.monotonic()
    with pytest.raises(lq.QmpError, match='no QMP answer on .* within 0 s'):
        lq.connect_qmp(str(tmp_path / 'q.sock'), 0)
    assert time.monotonic() - started < 2


def test_connect_qmp_waits_for_the_socket(tmp_path):
    path = str(tmp_path / 'q.sock')
    servers = []
    timer = threading.Timer(0.3, lambda: servers.append(FakeQmpServer(path, [OK])))
    timer.start()
    qmp = lq.connect_qmp(path, 10)
    qmp.close()
    timer.join()
    servers[0].close()


class ScriptedQmp:
    """Answers execute() from a list, to drive the polling helpers."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.commands = []

    def execute(self, command, arguments=None, fds=()):
        self.commands.append((command, arguments, tuple(fds)))
        return self.answers.pop(0) if self.answers else {}


def test_wait_migration_polls_until_completed():
    qmp = ScriptedQmp([{'status': 'setup'}, {'status': 'active'}, {'status': 'completed', 'downtime': 3}])
    assert lq.wait_migration(qmp, 10, interval=0) == {'status': 'completed', 'downtime': 3}
    assert len(qmp.commands) == 3


def test_wait_migration_reports_qemus_reason():
    qmp = ScriptedQmp([{'status': 'failed', 'error-desc': 'Failed to find file descriptor with matching flags=0x41'}])
    with pytest.raises(lq.QmpError, match='the migration failed: Failed to find file descriptor with matching flags=0x41'):
        lq.wait_migration(qmp, 10)


def test_wait_migration_times_out():
    qmp = ScriptedQmp([{'status': 'active'}] * 100)
    with pytest.raises(lq.QmpError, match=r'did not complete within 0 s \(status active\)'):
        lq.wait_migration(qmp, 0, interval=0)


def test_cpr_settings_ask_for_cpr_reboot_with_ram_in_place():
    qmp = ScriptedQmp([])
    lq.cpr_settings(qmp)
    assert qmp.commands == [
        ('migrate-set-capabilities', {'capabilities': [{'capability': 'x-ignore-shared', 'state': True}]}, ()),
        ('migrate-set-parameters', {'mode': 'cpr-reboot'}, ()),
    ]


def test_resume_loads_then_continues():
    qmp = ScriptedQmp([{}, {}, {}, {'status': 'completed'}, {}, {'status': 'running'}])
    assert lq.resume(qmp, 4, 10) >= 0
    assert [c[0] for c in qmp.commands] == ['migrate-set-capabilities', 'migrate-set-parameters', 'migrate-incoming',
                                            'query-migrate', 'cont', 'query-status']
    assert qmp.commands[2][1] == {'uri': 'file:/proc/self/fd/4'}


def test_resume_leaves_a_guest_that_was_paused_paused():
    qmp = ScriptedQmp([{}, {}, {}, {'status': 'completed'}, {'status': 'paused'}])
    lq.resume(qmp, 4, 10, run=False)
    assert 'cont' not in [c[0] for c in qmp.commands]


def test_resume_notices_a_guest_that_does_not_run():
    qmp = ScriptedQmp([{}, {}, {}, {'status': 'completed'}, {}, {'status': 'internal-error'}])
    with pytest.raises(lq.QmpError, match='the guest is internal-error after cont'):
        lq.resume(qmp, 4, 10)


# ---------------------------------------------------------------- plans

CONFIG = qg.validate_config(minimal(), 'g1', 'g1.json')


def test_plan_start_boots_without_ram():
    assert qg.plan_start(CONFIG, {}, None) == ('boot', 'no guest RAM in the fd store: first start or cold boot', [])


def test_plan_start_drops_a_state_without_ram():
    mode, _reason, drop = qg.plan_start(CONFIG, {'guest-state': 4, 'guest-meta': 5}, None)
    assert mode == 'boot' and drop == ['guest-state', 'guest-meta']


def test_plan_start_boots_on_kept_ram_without_a_saved_state():
    mode, reason, drop = qg.plan_start(CONFIG, {'guest-ram': 3, 'guest-meta': 4}, 64 * MIB)
    assert mode == 'boot' and 'no saved device state' in reason and drop == ['guest-meta']


def test_plan_start_replaces_kept_ram_of_another_size_when_booting():
    mode, reason, drop = qg.plan_start(CONFIG, {'guest-ram': 3}, 32 * MIB)
    assert mode == 'boot' and 'replaced by 64 MiB' in reason and drop == ['guest-ram']


def test_plan_start_resumes_a_saved_guest():
    fds = {'guest-ram': 3, 'guest-state': 4, 'guest-meta': 5}
    assert qg.plan_start(CONFIG, fds, 64 * MIB)[0] == 'resume'


def test_plan_start_refuses_a_saved_guest_on_ram_of_another_size():
    fds = {'guest-ram': 3, 'guest-state': 4, 'guest-meta': 5}
    with pytest.raises(qg.ServiceError) as err:
        qg.plan_start(CONFIG, fds, 32 * MIB)
    assert err.value.exit_code == qg.EXIT_RESUME
    assert 'RAM is 32 MiB but guest g1 was saved with memory_mib 64' in str(err.value)
    assert 'systemctl clean --what=fdstore luo-qemu-guest@g1.service' in str(err.value)


def test_saved_config_comes_from_the_meta():
    meta = {'name': 'g1', 'config': minimal(memory_mib=32)}
    assert qg.saved_config('g1', meta)['memory_mib'] == 32


@pytest.mark.parametrize('meta, words', [
    ({'name': 'g2', 'config': minimal()}, "belongs to guest 'g2', not 'g1'"),
    ({'name': 'g1', 'config': minimal(memory_mib=0)}, 'the saved guest-meta: memory_mib is 0'),
    ({'name': 'g1'}, 'the saved guest-meta does not hold a JSON object'),
])
def test_saved_config_refuses_what_cannot_be_resumed(meta, words):
    with pytest.raises(qg.ServiceError) as err:
        qg.saved_config('g1', meta)
    assert words in str(err.value) and err.value.exit_code == qg.EXIT_RESUME
    assert 'systemctl clean --what=fdstore luo-qemu-guest@g1.service' in str(err.value)


def test_running_config_prefers_what_qemu_started_with(tmp_path):
    (tmp_path / 'run' / 'g1').mkdir(parents=True)
    (tmp_path / 'run' / 'g1' / 'last-running.json').write_text(json.dumps(minimal(memory_mib=32)))
    (tmp_path / 'g1.json').write_text(json.dumps(minimal()))
    assert qg.running_config('g1', str(tmp_path / 'g1.json'), str(tmp_path / 'run'))['memory_mib'] == 32


def test_running_config_falls_back_to_the_file(tmp_path):
    (tmp_path / 'g1.json').write_text(json.dumps(minimal()))
    assert qg.running_config('g1', str(tmp_path / 'g1.json'), str(tmp_path / 'run'))['memory_mib'] == 64


def test_running_config_refuses_a_broken_record(tmp_path):
    (tmp_path / 'run' / 'g1').mkdir(parents=True)
    (tmp_path / 'run' / 'g1' / 'last-running.json').write_text('{')
    with pytest.raises(qg.ConfigError, match='cannot read .*last-running.json'):
        qg.running_config('g1', str(tmp_path / 'g1.json'), str(tmp_path / 'run'))


# ---------------------------------------------------------------- the program, end to end

def test_boot_save_resume_keeps_ram_and_device_state(guest, manager):
    proc = start_guest(guest, manager)
    assert set(manager.store) == {'guest-ram'}
    ram = manager.store['guest-ram']
    assert os.fstat(ram).st_size == 4 * MIB
    token = os.pread(ram, 8, 0)
    assert token != b'\0' * 8
    started = json.loads((guest.state_dir / 'last-start.json').read_text())
    assert started['mode'] == 'booted'
    assert json.loads((guest.runtime_dir / 'last-running.json').read_text())['memory_mib'] == 4
    assert any(m.get('STATUS', '').startswith('guest g1 booted') for m in manager.messages)
    # systemd runs ExecStop=: pause, save, quit; the main process then ends with QEMU.
    code, err, main_code, _main_err = save_guest(guest, proc)
    assert (code, main_code) == (0, 0), err
    assert 'paused and saved' in err
    assert set(manager.store) == {'guest-ram', 'guest-state', 'guest-meta'}
    state = manager.store['guest-state']
    assert fcntl.fcntl(state, fcntl.F_GET_SEALS) & svc.SEALS == svc.SEALS
    saved = json.loads(qg.read_all(state))
    assert saved['magic'] == 'FAKE-QEMU-STATE' and saved['was'] == 'paused'
    meta = qg.decode_meta(qg.read_all(manager.store['guest-meta']))
    assert meta['name'] == 'g1' and meta['run_state'] == 'running' and meta['state_bytes'] == os.fstat(state).st_size
    assert meta['config']['memory_mib'] == 4 and meta['kernel'] == os.uname().release
    assert json.loads((guest.state_dir / 'last-save.json').read_text()) == meta
    # The next start gets the three memfds in LISTEN_FDS and resumes.
    proc = start_guest(guest, manager)
    resumed = json.loads((guest.state_dir / 'last-start.json').read_text())
    assert resumed['mode'] == 'resumed'
    assert resumed['across_host_reboot'] is False
    assert resumed['pause_to_resume_s'] > 0 and resumed['state_bytes'] == meta['state_bytes']
    assert os.pread(manager.store['guest-ram'], 8, 0) == token
    manager.wait_for('FDSTOREREMOVE')
    time.sleep(0.2)
    assert set(manager.store) == {'guest-ram'}
    argv = guest.qemu_runs()[-1]
    assert argv[-2:] == ['-incoming', 'defer']
    assert 'file,id=serial0,path=%s,append=on' % str(guest.state_dir.parent.parent / 'serial.log') in argv
    code, err, main_code, _main_out = save_guest(guest, proc)
    assert (code, main_code) == (0, 0), err


def test_a_resumed_guest_keeps_its_saved_configuration(guest, manager):
    proc = start_guest(guest, manager)
    save_guest(guest, proc)
    guest.config(memory_mib=8, accel='kvm')
    proc = start_guest(guest, manager)
    argv = guest.qemu_runs()[-1]
    assert '4M' in argv and 'tcg' in argv
    save_guest(guest, proc)
    _out, err = proc.communicate()
    assert 'resumes with the configuration it was saved with' in err


def test_a_changed_configuration_applies_at_the_next_boot(guest, manager):
    proc = start_guest(guest, manager)
    save_guest(guest, proc)
    for name in ('guest-state', 'guest-meta'):
        os.close(manager.store.pop(name))
    guest.config(memory_mib=8)
    proc = start_guest(guest, manager)
    assert os.fstat(manager.store['guest-ram']).st_size == 8 * MIB
    assert '8M' in guest.qemu_runs()[-1]
    save_guest(guest, proc)


def test_a_failed_resume_keeps_the_saved_guest(guest, manager):
    proc = start_guest(guest, manager)
    save_guest(guest, proc)
    code, _out, err = guest.run('start', extra_env={'FAKE_QEMU_MODE': 'refuse-incoming'})
    assert code == qg.EXIT_RESUME
    assert 'could not be resumed: the migration failed: load of migration failed' in err
    assert 'systemctl clean --what=fdstore' in err
    assert set(manager.store) == {'guest-ram', 'guest-state', 'guest-meta'}


def test_a_saved_guest_of_another_name_is_refused_before_qemu_starts(guest, manager):
    proc = start_guest(guest, manager)
    save_guest(guest, proc)
    meta = json.loads(qg.read_all(manager.store['guest-meta']))
    os.close(manager.store.pop('guest-meta'))
    manager.store['guest-meta'] = qg.sealed_memfd('m', qg.encode_meta(dict(meta, name='other')))
    runs = len(guest.qemu_runs())
    code, _out, err = guest.run('start')
    assert code == qg.EXIT_RESUME and "belongs to guest 'other'" in err
    assert len(guest.qemu_runs()) == runs


def test_start_reports_a_qemu_that_exits(guest, manager):
    code, _out, err = guest.run('start', extra_env={'FAKE_QEMU_MODE': 'exit'})
    assert code == qg.EXIT_FAILED
    assert 'cannot do what it was asked' in err
    assert 'QEMU exited before its QMP socket' in err
    assert not any(m.get('READY') for m in manager.messages)


def test_a_failed_save_leaves_no_state_behind(guest, manager):
    proc = start_guest(guest, manager, extra_env={'FAKE_QEMU_MODE': 'refuse-migrate'})
    code, err, main_code, _main_out = save_guest(guest, proc)
    assert code == qg.EXIT_FAILED and main_code == 0
    assert 'could not be saved: the migration failed: a device refused the migration' in err
    assert 'boots it afresh' in err
    assert set(manager.store) == {'guest-ram'}


def test_save_without_qemu_has_nothing_to_do(guest, manager):
    code, _out, err = guest.run('save')
    assert code == 0 and 'nothing to save' in err
    assert not manager.store


def test_save_during_a_resume_keeps_the_state_it_came_from(guest, manager):
    proc = start_guest(guest, manager)
    save_guest(guest, proc)
    # QEMU waiting for its incoming state (start not done): save must not replace the saved state.
    ram, state = manager.store['guest-ram'], manager.store['guest-state']
    config = qg.load_config('g1', str(guest.path))
    os.unlink(config['qmp_socket'])
    qemu = subprocess.Popen(qg.qemu_argv(config, ram, incoming=True), pass_fds=[ram])  # pylint: disable=consider-using-with
    qg.connect_qmp(config['qmp_socket'], 10).close()
    code, _out, err = guest.run('save')
    assert code == 0 and 'still being resumed (inmigrate)' in err
    assert qemu.wait(10) == 0
    assert manager.store['guest-state'] == state


def test_status_reports_qemu_and_the_records(guest, manager):
    proc = start_guest(guest, manager)
    code, out, _err = guest.run('status')
    report = json.loads(out)
    assert code == 0
    assert report['qemu']['status'] == 'running'
    assert report['last_start']['mode'] == 'booted' and report['last_save'] is None
    save_guest(guest, proc)
    report = json.loads(guest.run('status')[1])
    assert report['qemu'] is None and 'QMP on' in report['qemu_error']
    assert report['last_save']['name'] == 'g1'


def test_main_maps_errors_to_exit_codes(tmp_path, capsys):
    assert qg.main(['start', 'g1', '--config', str(tmp_path / 'none.json')], environ={}) == qg.EXIT_CONFIG
    assert 'does not exist' in capsys.readouterr().err
    (tmp_path / 'g1.json').write_text(json.dumps(minimal()))
    assert qg.main(['save', 'g1', '--config', str(tmp_path / 'g1.json')], environ={}) == qg.EXIT_SYSTEMD
    assert 'NOTIFY_SOCKET is not set' in capsys.readouterr().err


def test_status_without_records(tmp_path, capsys):
    (tmp_path / 'g1.json').write_text(json.dumps(minimal()))
    (tmp_path / 'state').write_text('a file where a directory belongs')
    code = qg.main(['status', 'g1', '--config', str(tmp_path / 'g1.json'), '--state-dir', str(tmp_path / 'state')], environ={})
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report['last_start'] is None and report['last_save'] is None


def test_records_that_cannot_be_written_cost_a_warning_not_the_guest(guest, manager, tmp_path):
    (tmp_path / 'state').write_text('a file where a directory belongs')
    proc = start_guest(guest, manager)
    code, err, main_code, main_out = save_guest(guest, proc)
    assert (code, main_code) == (0, 0)
    assert 'cannot write %s (' % (guest.state_dir / 'last-save.json') in err
    assert 'cannot write %s (' % (guest.state_dir / 'last-start.json') in main_out
    assert set(manager.store) == {'guest-ram', 'guest-state', 'guest-meta'}


def test_a_save_that_fails_on_the_host_side_leaves_no_state(guest, manager):
    proc = start_guest(guest, manager)
    # fd 3 is guest-ram (LISTEN_FDS), 4 the QMP socket: with at most 5 fds the save runs out of fds.
    code, _out, err = guest.run('save', extra_env={'LAUNCH_NOFILE': '5'})
    proc.communicate(timeout=20)
    assert code == qg.EXIT_FAILED
    assert 'could not be saved: [Errno 24] Too many open files' in err
    assert proc.returncode == 0
    assert set(manager.store) == {'guest-ram'}


def test_sigterm_to_the_main_process_reaches_qemu(guest, manager):
    proc = start_guest(guest, manager)
    qemu_pid = json.loads((guest.state_dir / 'last-start.json').read_text())['qemu_pid']
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    assert proc.returncode == 0
    with pytest.raises(ProcessLookupError):
        os.kill(qemu_pid, 0)


def test_help_describes_the_commands(tmp_path):
    program = install_programs(tmp_path)['luo-qemu-guest']
    out = subprocess.run([sys.executable, str(program), '--help'], capture_output=True, text=True, check=True).stdout
    for word in ('start NAME', 'save NAME', 'status NAME', 'Exit codes'):
        assert word in out


# ---------------------------------------------------------------- the unit

def unit_settings():
    settings = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(('#', '[')):
            key, value = line.split('=', 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_unit_runs_the_program_and_keeps_its_fd_store():
    settings = unit_settings()
    assert settings['Type'] == ['notify']
    assert settings['NotifyAccess'] == ['exec']
    assert settings['ExecStart'] == ['/usr/bin/python3 /usr/local/sbin/luo-qemu-guest start %i']
    assert settings['ExecStop'] == ['/usr/bin/python3 /usr/local/sbin/luo-qemu-guest save %i']
    assert settings['FileDescriptorStorePreserve'] == ['yes']
    assert int(settings['FileDescriptorStoreMax'][0]) >= 3
    assert settings['RestartPreventExitStatus'] == ['%d %d' % (qg.EXIT_CONFIG, qg.EXIT_RESUME)]


def test_program_is_valid_python_for_the_oldest_target():
    source = PROGRAM.read_text()
    compile(source, str(PROGRAM), 'exec')
    assert textwrap.dedent(source).startswith('#!/usr/bin/env python\n')
