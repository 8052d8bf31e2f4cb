# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lab/ioctl-check: the LUO session calls (layouts, validation, errno handling on real fds that are not LUO
devices) and the VM check, as far as they run without a LUO kernel."""
from __future__ import annotations

import errno
import fcntl
import importlib.util
import json
import os
import pathlib
import struct
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK_DIR = ROOT / 'lab' / 'ioctl-check'
VM_CHECK = str(CHECK_DIR / 'luo_vm_check.py')
LUO_PY = str(ROOT / 'plugins' / 'module_utils' / 'luo.py')


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# As on a lab VM: the collection's luo.py, which luo_sessions.py imports as luo.
luo = load('luo', LUO_PY)
sessions = load('luo_sessions', str(CHECK_DIR / 'luo_sessions.py'))


@pytest.fixture
def pipe_fds():
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    os.close(read_fd)
    os.close(write_fd)


@pytest.fixture
def devnull_fd():
    fd = os.open('/dev/null', os.O_RDWR)
    yield fd
    os.close(fd)


@pytest.fixture
def closed_fd():
    fd = os.open('/dev/null', os.O_RDONLY)
    os.close(fd)
    return fd


# Numbers and layouts (include/uapi/linux/liveupdate.h, Linux 7.2.13)

def test_ioctl_numbers():
    assert (sessions.CREATE_SESSION, sessions.RETRIEVE_SESSION) == (0xBA00, 0xBA01)
    assert (sessions.SESSION_PRESERVE_FD, sessions.SESSION_RETRIEVE_FD, sessions.SESSION_FINISH, sessions.SESSION_GET_NAME) == (
        0xBA40, 0xBA41, 0xBA42, 0xBA43)


def test_struct_sizes():
    assert sessions.SESSION_STRUCT.size == 72
    assert sessions.FD_TOKEN_STRUCT.size == 16
    assert sessions.FINISH_STRUCT.size == 8
    assert sessions.GET_NAME_STRUCT.size == 72
    assert sessions.SESSION_NAME_LENGTH == 64


def test_session_request_layout():
    buf = sessions.pack_session('redis')
    assert isinstance(buf, bytearray) and len(buf) == 72
    assert struct.unpack_from('=I', buf, 0) == (72,)   # size travels in the first u32
    assert struct.unpack_from('=i', buf, 4) == (0,)    # fd: output
    assert bytes(buf[8:]) == b'redis' + b'\0' * 59      # name, NUL padded
    assert sessions.unpack_session(buf) == (72, 0, 'redis')


def test_session_reply_round_trip():
    reply = sessions.SESSION_STRUCT.pack(72, 7, 'ünïcode'.encode('utf-8'))
    assert sessions.unpack_session(bytearray(reply)) == (72, 7, 'ünïcode')


def test_fd_token_layout():
    buf = sessions.pack_fd_token(5, 2 ** 64 - 1)
    assert len(buf) == 16
    assert struct.unpack_from('=IiQ', buf) == (16, 5, 2 ** 64 - 1)
    assert bytes(buf[8:]) == b'\xff' * 8               # token at offset 8, 8 bytes
    assert sessions.unpack_fd_token(buf) == (16, 5, 2 ** 64 - 1)
    assert sessions.unpack_fd_token(sessions.pack_fd_token(0, 0x1234)) == (16, 0, 0x1234)


def test_finish_layout():
    assert bytes(sessions.pack_finish()) == struct.pack('=II', 8, 0)


def test_get_name_layout():
    buf = sessions.pack_get_name()
    assert len(buf) == 72 and bytes(buf) == struct.pack('=II', 72, 0) + b'\0' * 64
    reply = bytearray(sessions.GET_NAME_STRUCT.pack(72, 0, b'n' * 63))
    assert sessions.unpack_get_name(reply) == (72, 0, 'n' * 63)


def test_unpack_stops_at_nul_and_survives_bad_utf8():
    reply = sessions.SESSION_STRUCT.pack(72, 3, b'abc\0junk')
    assert sessions.unpack_session(reply)[2] == 'abc'
    assert sessions.unpack_get_name(sessions.GET_NAME_STRUCT.pack(72, 0, b'\xffx'))[2] == '\ufffdx'


# Validation

@pytest.mark.parametrize('name', ['a', 'x' * 63, 'é' * 31, 'systemd', 'luo-state@redis'])
def test_valid_session_names(name):
    assert sessions.validate_session_name(name) == name.encode('utf-8')


@pytest.mark.parametrize('name, message', [
    ('', r"LUO session name '' is 0 bytes in UTF-8; it must be 1 to 63 bytes"),
    ('x' * 64, r"is 64 bytes in UTF-8; it must be 1 to 63 bytes"),
    ('é' * 32, r"'é{32}' is 64 bytes in UTF-8"),
    ('a\0b', r"LUO session name 'a\\x00b' contains a NUL byte"),
    ('a\udcff', r"LUO session name 'a\\udcff' cannot be encoded as UTF-8"),
    (b'bytes', r"LUO session name b'bytes' is a bytes; give a string"),
    (None, r"LUO session name None is a NoneType"),
])
def test_invalid_session_names(name, message):
    with pytest.raises(ValueError, match=message):
        sessions.validate_session_name(name)


@pytest.mark.parametrize('token', [0, 1, 2 ** 64 - 1])
def test_valid_tokens(token):
    assert sessions.validate_token(token) == token


@pytest.mark.parametrize('token, message', [
    (-1, r'LUO token -1 is out of range; give an integer in 0\.\.18446744073709551615 \(a u64\)'),
    (2 ** 64, r'LUO token 18446744073709551616 is out of range'),
    (True, r'LUO token True is a bool'),
    (1.5, r'LUO token 1.5 is a float'),
    ('7', r"LUO token '7' is a str"),
])
def test_invalid_tokens(token, message):
    with pytest.raises(ValueError, match=message):
        sessions.validate_token(token)


@pytest.mark.parametrize('fd', [-1, True, '3', None, 2.0])
def test_invalid_fds(fd):
    with pytest.raises(ValueError, match=r'session fd .* is not a file descriptor'):
        sessions.validate_fd(fd, 'session fd')


def test_calls_validate_before_any_ioctl(pipe_fds):
    with pytest.raises(ValueError, match='must be 1 to 63 bytes'):
        sessions.create_session(pipe_fds[0], '')
    with pytest.raises(ValueError, match='out of range'):
        sessions.preserve_fd(pipe_fds[0], pipe_fds[1], -5)
    with pytest.raises(ValueError, match='fd to preserve -2 is not a file descriptor'):
        sessions.preserve_fd(pipe_fds[0], -2, 1)
    with pytest.raises(ValueError, match='device fd None is not a file descriptor'):
        sessions.retrieve_session(None, 'x')
    with pytest.raises(ValueError, match='session fd -1 is not a file descriptor'):
        sessions.finish_session(-1)


# errno mapping on real fds

CALLS = [
    ('create_session', lambda fd: sessions.create_session(fd, 'luo-test')),
    ('retrieve_session', lambda fd: sessions.retrieve_session(fd, 'luo-test')),
    ('preserve_fd', lambda fd: sessions.preserve_fd(fd, 0, 1)),
    ('retrieve_fd', lambda fd: sessions.retrieve_fd(fd, 1)),
    ('finish_session', sessions.finish_session),
    ('session_name', sessions.session_name),
]


@pytest.mark.parametrize('call, function', CALLS)
def test_calls_on_a_pipe_say_it_is_not_liveupdate(call, function, pipe_fds):
    with pytest.raises(luo.LuoError) as caught:
        function(pipe_fds[0])
    error = caught.value
    assert (error.errno, error.call) == (errno.ENOTTY, call)
    assert 'not /dev/liveupdate or a LUO session' in error.strerror
    assert str(error).startswith('%s failed: [ENOTTY] ' % call)
    assert isinstance(error, OSError)


@pytest.mark.parametrize('call, function', CALLS)
def test_calls_on_dev_null_say_it_is_not_liveupdate(call, function, devnull_fd):
    with pytest.raises(luo.LuoError) as caught:
        function(devnull_fd)
    assert caught.value.errno == errno.ENOTTY
    assert 'fd %d' % devnull_fd in caught.value.strerror
    assert 'not /dev/liveupdate' in caught.value.strerror


@pytest.mark.parametrize('call, function', CALLS)
def test_calls_on_a_closed_fd(call, function, closed_fd):
    with pytest.raises(luo.LuoError) as caught:
        function(closed_fd)
    assert (caught.value.errno, caught.value.call) == (errno.EBADF, call)
    assert caught.value.strerror.endswith('is not open')


def test_error_message_names_the_request(pipe_fds):
    with pytest.raises(luo.LuoError, match=r"session 'luo-test' on fd %d: this fd is not" % pipe_fds[0]):
        sessions.create_session(pipe_fds[0], 'luo-test')
    with pytest.raises(luo.LuoError, match=r'fd 0 as token 77 in session fd %d' % pipe_fds[0]):
        sessions.preserve_fd(pipe_fds[0], 0, 77)


@pytest.mark.parametrize('call, err, words', [
    ('create_session', errno.EEXIST, 'already exists'),
    ('create_session', errno.EINVAL, 'longer than 63 bytes'),
    ('retrieve_session', errno.ENOENT, 'no session with this name'),
    ('retrieve_session', errno.EINVAL, 'already retrieved'),
    ('preserve_fd', errno.ENOENT, 'only memfds (not hugetlb ones)'),
    ('preserve_fd', errno.EBUSY, 'already preserved'),
    ('preserve_fd', errno.EEXIST, 'token is already used'),
    ('preserve_fd', errno.EINVAL, 'incoming (retrieved) one'),
    ('preserve_fd', errno.EOPNOTSUPP, 'seals'),
    ('preserve_fd', errno.EPERM, 'run as root'),
    ('retrieve_fd', errno.ENOENT, 'no file with this token'),
    ('retrieve_fd', errno.EINVAL, 'outgoing one'),
    ('finish_session', errno.EINVAL, 'only retrieved sessions can be finished'),
    ('finish_session', errno.EBUSY, 'not ready to be released'),
    ('session_name', errno.ENOTTY, 'not /dev/liveupdate'),
    ('session_name', errno.E2BIG, 'ABI mismatch'),
    ('retrieve_fd', errno.EOPNOTSUPP, 'ABI mismatch'),
    ('create_session', errno.EMFILE, 'RLIMIT_NOFILE'),
])
def test_explain(call, err, words):
    assert words in sessions.explain(call, err)


def test_explain_is_per_call():
    assert sessions.explain('preserve_fd', errno.ENOENT) != luo.explain(errno.ENOENT)
    assert sessions.explain('preserve_fd', errno.EBUSY) != luo.explain(errno.EBUSY)
    assert sessions.explain('preserve_fd', errno.EXDEV) == '%s (no LUO-specific meaning known)' % os.strerror(errno.EXDEV)


# Opening the device for the session calls

def test_open_device_missing(tmp_path):
    path = str(tmp_path / 'liveupdate')
    with pytest.raises(luo.LuoError) as caught:
        with sessions.open_device(path):
            pass
    assert (caught.value.errno, caught.value.call) == (errno.ENOENT, 'open')
    assert caught.value.strerror.startswith(path + ': no such device: LUO is not enabled')


def test_open_device_closes_at_exit(tmp_path):
    path = tmp_path / 'node'
    path.write_text('')
    with sessions.open_device(str(path)) as fd:
        assert os.fstat(fd).st_ino == path.stat().st_ino
        assert os.get_inheritable(fd) is False  # O_CLOEXEC
        assert fcntl_flags(fd) & os.O_ACCMODE == os.O_RDWR
    with pytest.raises(OSError) as caught:
        os.fstat(fd)
    assert caught.value.errno == errno.EBADF


def test_open_device_closes_on_error(tmp_path):
    path = tmp_path / 'node'
    path.write_text('')
    with pytest.raises(luo.LuoError):
        with sessions.open_device(str(path)) as fd:
            sessions.session_name(fd)
    with pytest.raises(OSError):
        os.fstat(fd)


def fcntl_flags(fd):
    return fcntl.fcntl(fd, fcntl.F_GETFL)


# luo_vm_check.py: what can run without a LUO kernel

def run_vm_check(*args):
    proc = subprocess.run([sys.executable, VM_CHECK] + list(args), capture_output=True, text=True, check=False,
                          env={'PATH': os.environ.get('PATH', '/usr/bin:/bin')})
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize('device, state', [('/nonexistent/liveupdate', 'absent'), ('/dev/null', 'not-a-device')])
def test_vm_check_without_a_luo_device(device, state):
    # A bare interpreter with no PYTHONPATH: the script must find luo.py by the path it is given.
    rc, out, err = run_vm_check(LUO_PY, device)
    assert (rc, err) == (2, '')
    report = json.loads(out)
    assert (report['ok'], report['device'], report['checks']) == (False, device, [])
    assert report['probe']['state'] == state


def test_vm_check_usage():
    rc, out, err = run_vm_check()
    assert (rc, out) == (2, '')
    assert err.startswith('usage: ')


@pytest.fixture
def vm_check():
    spec = importlib.util.spec_from_file_location('luo_vm_check', VM_CHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vm_check_call_expecting_an_errno(vm_check, closed_fd):
    checks = vm_check.Checks(luo)
    assert checks.call('closed', lambda: os.close(closed_fd), errno.EBADF) == (True, None)
    assert checks.call('closed-unexpected', lambda: os.close(closed_fd)) == (False, None)
    assert checks.call('wrong-errno', lambda: os.close(closed_fd), errno.EBUSY) == (False, None)
    assert [(r['name'], r['ok']) for r in checks.results] == [
        ('closed', True), ('closed-unexpected', False), ('wrong-errno', False)]
    assert checks.results[0]['detail'].startswith('EBADF: ')


def test_vm_check_call_that_should_have_failed_closes_its_fd(vm_check):
    checks = vm_check.Checks(luo)
    opened = []

    def opens():
        opened.append(os.open('/dev/null', os.O_RDONLY))
        return opened[-1]
    assert checks.call('should-be-busy', opens, errno.EBUSY) == (False, None)
    assert checks.results[-1]['detail'] == 'succeeded (returned %d), expected EBUSY' % opened[0]
    with pytest.raises(OSError):
        os.fstat(opened[0])
    assert checks.call('fine', lambda: 5) == (True, 5)
    assert checks.equal('same', 'a', 'a') is True
    assert checks.equal('differs', 'a', 'b') is False
    assert checks.results[-1] == {'name': 'differs', 'ok': False, 'detail': "got 'a', want 'b'"}
