# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""hostfacts.py on fixture host trees with the real lz4 tool and a real device node."""
from __future__ import annotations

import os

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import hostfacts
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host
from ansible_collections.luo.liveupdate.tests.integration.requirements import require_decompressor, require_root
from ansible_collections.luo.liveupdate.tests.unit.modules import info_trees as trees

LAB_ABI = {'kho': 'kho-v4', 'luo': 'luo-v5', 'memfd': 'memfd-v2'}


@pytest.fixture
def root(tmp_path):
    """A LUO-ready host tree that hostfacts reads through a Host."""
    return trees.ready_host(tmp_path / 'root')


def test_running_kernel_payload_without_decompressor(root):
    host = Host(root, trees.run_command)
    require_decompressor('lz4')
    trees.install_kernel(root, '7.2.13', method='lz4', config=False)
    kernel = hostfacts.running_kernel(host)
    # The tree has no lz4 tool: the host's own is not used.
    assert kernel['abi'] is None
    assert kernel['payload_reason'] == 'lz4 payload: needs the lz4 tool (apt-get install lz4)'


def test_running_kernel_payload_with_the_roots_decompressor(root):
    host = Host(root, trees.run_command)
    lz4 = require_decompressor('lz4')
    trees.install_kernel(root, '7.2.13', method='lz4', config=False)
    os.symlink(lz4, os.path.join(root, 'usr/bin/lz4'))
    kernel = hostfacts.running_kernel(host)
    assert (kernel['abi'], kernel['payload_reason']) == (LAB_ABI, None)


def test_device_node_without_driver(root):
    host = Host(root, trees.run_command)
    require_root('mknod of a device node')
    trees.remove(root, '/dev/liveupdate')
    trees.make_node(root, 241, 0)  # 241:0 is reserved for local use: no driver answers it
    facts = hostfacts.device_facts(host, True)
    assert (facts['present'], facts['char_device'], facts['major_minor']) == (True, True, '241:0')
    assert (facts['probe']['state'], facts['probe']['errno']) in (('not-a-device', 'ENXIO'), ('not-a-device', 'ENODEV'))
