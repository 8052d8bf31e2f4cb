# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After converge: the VM runs 7.3.4 after one live update, with the demo memfd byte for byte."""
from __future__ import annotations

import json


def test_runs_the_new_kernel(host):
    assert host.check_output('uname -r') == '7.3.4'


def test_one_live_update_since_the_cold_boot(host):
    assert host.check_output('systemctl show --property=KExecCount --value') == '1'


def test_demo_state_came_back_byte_for_byte(host):
    before = host.file('/root/sha256.before').content_string.strip()
    after = host.file('/run/luo-demo/sha256').content_string.strip()
    assert len(before) == 64
    assert after == before
    assert host.file('/run/luo-demo/restored').content_string.strip() == '1'


def test_nothing_is_left_staged(host):
    assert host.file('/sys/kernel/kexec_loaded').content_string.strip() == '0'


def test_luo_is_still_on(host):
    assert host.check_output('stat -c %F /dev/liveupdate') == 'character special file'
    cmdline = host.file('/proc/cmdline').content_string.split()
    assert 'liveupdate=on' in cmdline
    assert 'kho=on' in cmdline


def test_demo_state_is_in_the_fd_store_again_and_the_service_answers_it(host):
    assert host.service('luo-demo-memfd.service').is_running
    entries = json.loads(host.check_output('systemd-analyze fdstore luo-demo-memfd.service --json=short'))
    assert [entry['fdname'] for entry in entries] == ['demo-state']
    answer = host.check_output(
        "python3 -c 'import socket; print(socket.create_connection((\"127.0.0.1\", 8089), 5).recv(128).decode().strip())'")
    assert answer == host.file('/root/sha256.before').content_string.strip()
