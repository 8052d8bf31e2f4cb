# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After converge's hand-driven live update: the VM runs the new kernel and kept the demo state."""
from __future__ import annotations

import json

NEW_RELEASE = "7.3.4"
DEMO_UNIT = "luo-demo-memfd.service"


def first_line(host, path):
    return host.file(path).content_string.strip()


def test_runs_the_new_kernel(host):
    assert host.check_output("uname -r") == NEW_RELEASE


def test_came_back_through_one_live_update(host):
    assert host.check_output("systemctl show --property=KExecCount --value") == "1"


def test_luo_is_still_on(host):
    assert host.check_output("stat -c %F /dev/liveupdate") == "character special file"
    cmdline = host.file("/proc/cmdline").content_string.split()
    assert "liveupdate=on" in cmdline
    assert "kho=on" in cmdline


def test_demo_state_came_back_byte_for_byte(host):
    original = first_line(host, "/var/lib/luo-demo/original.sha256")
    assert len(original) == 64
    assert first_line(host, "/run/luo-demo/sha256") == original
    assert first_line(host, "/run/luo-demo/restored") == "1"


def test_demo_state_is_in_the_fd_store_again(host):
    assert host.service(DEMO_UNIT).is_running
    entries = json.loads(host.check_output("systemd-analyze fdstore %s --json=short", DEMO_UNIT))
    assert [entry["fdname"] for entry in entries] == ["demo-state"]


def test_demo_service_answers_with_the_original_sha256(host):
    answer = host.check_output(
        "python3 -c 'import socket; print(socket.create_connection((\"127.0.0.1\", 8089), 5).recv(128).decode().strip())'"
    )
    assert answer == first_line(host, "/var/lib/luo-demo/original.sha256")
