# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After the rollout: each VM runs 7.3.4 after one live update, with both demo states back."""
from __future__ import annotations


def test_runs_the_new_kernel_after_one_live_update(host):
    assert host.check_output('uname -r') == '7.3.4'
    assert host.check_output('systemctl show --property=KExecCount --value') == '1'


def test_fdstore_demo_memfd_came_back_byte_for_byte(host):
    before = host.file('/root/state.before').content_string.split()
    assert host.file('/run/luo-demo/sha256').content_string.strip() == before[0]
    assert host.file('/run/luo-demo/restored').content_string.strip() == '1'


def test_tmpfs_directory_came_back_through_the_keeper(host):
    before = host.file('/root/state.before').content_string.split()
    status = host.file('/run/luo-demo-files.status').content_string.split()
    assert status == ['restored', before[1]]
    assert host.service('luo-state@demo-files.service').is_running or \
        host.check_output('systemctl is-active luo-state@demo-files.service') == 'active'
