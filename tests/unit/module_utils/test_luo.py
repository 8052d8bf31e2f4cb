# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""luo.py: the device /dev/liveupdate, probed on real files that are not LUO devices."""
from __future__ import annotations

import errno
import os
import stat

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import luo


# What an errno from opening the device means

@pytest.mark.parametrize('err, words', [
    (errno.ENOENT, 'liveupdate=on kho=on'),
    (errno.EBUSY, 'systemd opens it briefly'),
    (errno.EBUSY, 'never hold it open'),
    (errno.EIO, 'could not be deserialised'),
    (errno.EACCES, 'run as root'),
    (errno.ENODEV, 'no driver answers it'),
])
def test_explain_open(err, words):
    assert words in luo.explain(err)


def test_explain_without_a_meaning():
    # The device is not an ioctl target: ENOTTY on open has no LUO meaning.
    assert luo.explain(errno.ENOTTY).endswith('(no LUO-specific meaning known)')
    assert luo.explain(errno.EXDEV, {}) == '%s (no LUO-specific meaning known)' % os.strerror(errno.EXDEV)


def test_luo_error_attributes():
    error = luo.LuoError('preserve_fd', errno.EBUSY, 'fd 5: already')
    assert (error.errno, error.call, error.strerror) == (errno.EBUSY, 'preserve_fd', 'fd 5: already')
    assert str(error) == 'preserve_fd failed: [EBUSY] fd 5: already'
    assert str(luo.LuoError('open', 9999, 'odd')) == 'open failed: [9999] odd'


# Opening the device

def test_open_fd_missing(tmp_path):
    path = str(tmp_path / 'liveupdate')
    with pytest.raises(luo.LuoError) as caught:
        luo.open_fd(path)
    assert (caught.value.errno, caught.value.call) == (errno.ENOENT, 'open')
    assert caught.value.strerror.startswith(path + ': no such device: LUO is not enabled')


def test_open_fd_unknown_errno(tmp_path):
    with pytest.raises(luo.LuoError, match=r'\[EISDIR\] .*\(no LUO-specific meaning known\)'):
        luo.open_fd(str(tmp_path))


def test_is_luo_fd_on_other_files(tmp_path):
    read_fd, write_fd = os.pipe()
    try:
        assert luo.is_luo_fd(read_fd) is False
    finally:
        os.close(read_fd)
        os.close(write_fd)
    with open('/dev/null', 'rb') as devnull, open(tmp_path / 'file', 'w') as handle:
        assert luo.is_luo_fd(devnull.fileno()) is False
        assert luo.is_luo_fd(handle.fileno()) is False


# device_info, misc_devno, probe_device

def test_device_info_dev_null():
    info = luo.device_info('/dev/null')
    assert info == {
        'path': '/dev/null', 'exists': True, 'type': 'character device', 'is_char_device': True,
        'major': 1, 'minor': 3, 'devno': '1:3', 'mode': '%04o' % stat.S_IMODE(os.stat('/dev/null').st_mode),
        'uid': 0, 'gid': 0,
    }


def test_device_info_regular_file(tmp_path):
    path = tmp_path / 'liveupdate'
    path.write_text('')
    path.chmod(0o600)
    info = luo.device_info(str(path))
    assert (info['exists'], info['type'], info['is_char_device'], info['mode']) == (True, 'regular file', False, '0600')
    assert (info['major'], info['minor'], info['devno']) == (None, None, None)
    assert info['uid'] == os.getuid()


def test_device_info_directory(tmp_path):
    assert luo.device_info(str(tmp_path))['type'] == 'directory'


@pytest.mark.parametrize('relative', ['missing', 'file/below-a-file'])
def test_device_info_missing(tmp_path, relative):
    (tmp_path / 'file').write_text('')
    path = str(tmp_path / relative)
    assert luo.device_info(path) == {
        'path': path, 'exists': False, 'type': None, 'is_char_device': False,
        'major': None, 'minor': None, 'devno': None, 'mode': None, 'uid': None, 'gid': None,
    }


def test_misc_devno(tmp_path):
    dev = tmp_path / 'dev'
    dev.write_text('10:123\n')
    assert luo.misc_devno(str(dev)) == '10:123'
    assert luo.misc_devno(str(tmp_path / 'missing')) is None
    dev.write_text('garbage\n')
    with pytest.raises(ValueError, match=r"holds 'garbage', not \"major:minor\""):
        luo.misc_devno(str(dev))


def test_probe_missing(tmp_path):
    path = str(tmp_path / 'liveupdate')
    result = luo.probe_device(path, misc_dev_path=str(tmp_path / 'no-sysfs'))
    assert (result['path'], result['state'], result['errno']) == (path, 'absent', 'ENOENT')
    assert 'liveupdate=on kho=on' in result['message']


def test_probe_regular_file(tmp_path):
    path = tmp_path / 'liveupdate'
    path.write_text('')
    result = luo.probe_device(str(path), misc_dev_path=str(tmp_path / 'no-sysfs'))
    assert (result['state'], result['errno']) == ('not-a-device', None)
    assert 'is a regular file, not a character device' in result['message']


def test_probe_dev_null_does_not_answer_luo(tmp_path):
    result = luo.probe_device('/dev/null', misc_dev_path=str(tmp_path / 'no-sysfs'))
    assert (result['state'], result['errno']) == ('not-a-device', 'ENOTTY')
    assert result['message'] == '/dev/null (1:3) does not answer LUO ioctls: it is not /dev/liveupdate'


def test_probe_devno_differs_from_sysfs(tmp_path):
    sysfs = tmp_path / 'dev'
    sysfs.write_text('10:123\n')
    result = luo.probe_device('/dev/null', misc_dev_path=str(sysfs))
    assert result['state'] == 'not-a-device'
    assert 'is device 1:3 but the kernel registered liveupdate as 10:123' in result['message']


def test_probe_ok_when_the_device_answers(tmp_path, monkeypatch):
    sysfs = tmp_path / 'dev'
    sysfs.write_text('1:3\n')
    seen = []

    def answers(fd):
        seen.append(os.fstat(fd).st_rdev)
        return True
    monkeypatch.setattr(luo, 'is_luo_fd', answers)
    result = luo.probe_device('/dev/null', misc_dev_path=str(sysfs))
    assert result == {'path': '/dev/null', 'state': 'ok', 'errno': None,
                      'message': '/dev/null opened and answered as LUO, and was closed again'}
    assert seen == [os.makedev(1, 3)]


@pytest.mark.parametrize('err, state', [
    (errno.EBUSY, 'busy'),
    (errno.EIO, 'io-error'),
    (errno.EPERM, 'permission-denied'),
    (errno.ENXIO, 'not-a-device'),
    (errno.EROFS, 'error'),
])
def test_probe_open_errors(tmp_path, monkeypatch, err, state):
    def refuse(path):
        raise luo.LuoError('open', err, '%s: %s' % (path, luo.explain(err)))
    monkeypatch.setattr(luo, 'open_fd', refuse)
    result = luo.probe_device('/dev/null', misc_dev_path=str(tmp_path / 'no-sysfs'))
    assert (result['state'], result['errno']) == (state, errno.errorcode[err])
    assert result['message'] == '/dev/null: ' + luo.explain(err)
