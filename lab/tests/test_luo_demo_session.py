# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The LUO session demo on the host: what can run without a LUO kernel. Its session handling runs
on the lab's LUO kernels in `molecule test -s faults` (three live updates in a row)."""
from __future__ import annotations

import os
import pathlib
import struct
import subprocess
import sys

import pytest

WORKLOADS = pathlib.Path(__file__).resolve().parents[1] / "workloads"
sys.path.insert(0, str(WORKLOADS))
import luo_demo_session as demo  # noqa: E402  pylint: disable=wrong-import-position


def test_it_refuses_to_start_without_a_session_in_its_fd_store(tmp_path):
    env = dict(os.environ, RUNTIME_DIRECTORY=str(tmp_path), STATE_DIRECTORY=str(tmp_path), LUO_DEMO_SESSION="demo-session")
    env.pop("LISTEN_FDS", None)
    done = subprocess.run([sys.executable, str(WORKLOADS / "luo_demo_session.py")], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "no LUO session 'demo-session' in the fd store: run this with LUOSession=demo-session" in done.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("request_number, nr", [
    (demo.CREATE_SESSION, 0x00), (demo.SESSION_PRESERVE_FD, 0x40), (demo.SESSION_RETRIEVE_FD, 0x41),
    (demo.SESSION_FINISH, 0x42), (demo.SESSION_GET_NAME, 0x43)])
def test_ioctl_numbers_are_io_of_the_liveupdate_type(request_number, nr):
    assert request_number == (0xBA << 8) | nr  # _IO(0xBA, nr): no direction, no size bits


def test_a_session_ioctl_on_a_file_that_is_not_a_session_fails_without_harm(tmp_path):
    path = tmp_path / "plain"
    path.write_bytes(b"x")
    fd = os.open(path, os.O_RDWR)
    try:
        with pytest.raises(OSError):
            demo.retrieve(fd)
        with pytest.raises(OSError):
            demo.preserve(fd, fd)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"x"
    assert struct.calcsize("=IiQ") == 16 and struct.calcsize("=II64s") == 72 and struct.calcsize("=Ii64s") == 72
