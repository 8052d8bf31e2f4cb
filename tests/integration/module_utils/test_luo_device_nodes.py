# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""luo.py: the device /dev/liveupdate, probed on real device nodes that are not LUO devices (made as root)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import luo
from ansible_collections.luo.liveupdate.tests.integration.requirements import require_root


@pytest.fixture
def device_nodes():
    """A world-traversable directory for device nodes made with mknod (needs root)."""
    require_root('mknod of a device node')
    directory = tempfile.mkdtemp(prefix='luo-nodes-')
    os.chmod(directory, 0o755)
    yield directory
    shutil.rmtree(directory)


def mknod(directory, name, major, minor, mode=0o600):
    path = os.path.join(directory, name)
    os.mknod(path, mode | stat.S_IFCHR, os.makedev(major, minor))
    return path


def test_probe_node_without_driver(device_nodes):
    # 241:0 is in the range reserved for local use: no driver answers it.
    path = mknod(device_nodes, 'liveupdate', 241, 0)
    result = luo.probe_device(path, misc_dev_path=os.path.join(device_nodes, 'no-sysfs'))
    assert result['state'] == 'not-a-device'
    assert result['errno'] in ('ENXIO', 'ENODEV')
    assert 'no driver answers it' in result['message']


def test_probe_permission_denied(device_nodes):
    path = mknod(device_nodes, 'liveupdate', 1, 3, mode=0o600)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop to nobody, probe, report, leave without running pytest's cleanup
        try:
            os.close(read_fd)
            os.setgid(65534)
            os.setuid(65534)
            result = luo.probe_device(path, misc_dev_path=os.path.join(device_nodes, 'no-sysfs'))
            os.write(write_fd, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as handle:
        output = handle.read()
    os.waitpid(pid, 0)
    result = json.loads(output)
    assert (result['state'], result['errno']) == ('permission-denied', 'EACCES')
    assert result['message'] == '%s: permission denied: /dev/liveupdate is mode 0600 root; run as root' % path
