# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The demo workload on the host: real memfds, a real notify socket, the real program in a subprocess."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

PROGRAM = pathlib.Path(__file__).resolve().parents[1] / "workloads" / "luo_demo_memfd.py"
SPEC = importlib.util.spec_from_file_location("luo_demo_memfd", PROGRAM)
demo = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(demo)


@pytest.fixture(name="notify_socket")
def fixture_notify_socket(tmp_path):
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    yield path, sock
    sock.close()


def received(sock):
    """One datagram and the fds attached to it."""
    message, fds, _flags, _addr = socket.recv_fds(sock, 4096, 4)
    return message.decode(), fds


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_listen_fds_maps_names_to_descriptors_from_3():
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "other:demo-state"}
    assert demo.listen_fds(env) == {"other": 3, "demo-state": 4}


def test_listen_fds_names_unnamed_descriptors_unknown():
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1"}
    assert demo.listen_fds(env) == {"unknown": 3}


def test_listen_fds_ignores_descriptors_meant_for_another_process():
    env = {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "demo-state"}
    assert not demo.listen_fds(env)


def test_notify_address_turns_at_into_the_abstract_namespace():
    assert demo.notify_address({"NOTIFY_SOCKET": "@/org/systemd/notify"}) == "\0/org/systemd/notify"
    assert demo.notify_address({"NOTIFY_SOCKET": "/run/systemd/notify"}) == "/run/systemd/notify"
    assert demo.notify_address({}) is None


def test_sd_notify_without_a_socket_does_nothing():
    demo.sd_notify(None, "READY=1")


def test_sd_notify_sends_the_message_and_the_fd(notify_socket):
    path, sock = notify_socket
    fd = os.memfd_create("probe")
    try:
        demo.sd_notify(path, "FDSTORE=1\nFDNAME=x", [fd])
        message, fds = received(sock)
        assert message == "FDSTORE=1\nFDNAME=x"
        assert len(fds) == 1
        assert os.fstat(fds[0]).st_ino == os.fstat(fd).st_ino
        os.close(fds[0])
        demo.sd_notify(path, "READY=1")
        assert received(sock) == ("READY=1", [])
    finally:
        os.close(fd)


def test_fill_random_and_sha256_fd_cover_the_whole_file_and_keep_the_position():
    fd = os.memfd_create("probe")
    try:
        size = 3 * demo.CHUNK + 17
        demo.fill_random(fd, size)
        assert os.fstat(fd).st_size == size
        data = os.pread(fd, size + 1, 0)
        assert len(data) == size
        assert demo.sha256_fd(fd) == hashlib.sha256(data).hexdigest()
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0
    finally:
        os.close(fd)


def test_open_state_creates_and_stores_a_memfd_when_none_came_back(notify_socket, monkeypatch):
    path, sock = notify_socket
    monkeypatch.delenv("LISTEN_PID", raising=False)
    fd, restored = demo.open_state({"LUO_DEMO_SIZE_MIB": "1"}, path)
    try:
        assert not restored
        assert os.fstat(fd).st_size == 1024 * 1024
        message, fds = received(sock)
        assert message == "FDSTORE=1\nFDNAME=demo-state"
        assert os.fstat(fds[0]).st_ino == os.fstat(fd).st_ino
        os.close(fds[0])
    finally:
        os.close(fd)


def test_open_state_uses_the_memfd_from_the_fd_store():
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "demo-state"}
    assert demo.open_state(env, None) == (3, True)


def test_write_file_replaces_the_file(tmp_path):
    target = tmp_path / "sha256"
    target.write_text("old\n")
    demo.write_file(str(target), "new\n")
    assert target.read_text() == "new\n"
    assert not (tmp_path / "sha256.tmp").exists()


def run_program(tmp_path, notify_path, port, pass_fds=(), extra_env=None):
    run_dir, state_dir = tmp_path / "run", tmp_path / "state"
    run_dir.mkdir(exist_ok=True)
    state_dir.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NOTIFY_SOCKET": notify_path,
        "RUNTIME_DIRECTORY": str(run_dir), "STATE_DIRECTORY": str(state_dir),
        "LUO_DEMO_SIZE_MIB": "2", "LUO_DEMO_PORT": str(port),
    }
    env.update(extra_env or {})
    return subprocess.Popen([sys.executable, str(PROGRAM)], env=env, pass_fds=pass_fds)  # pylint: disable=consider-using-with


def ask(port):
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 5) as conn:
                return conn.recv(128).decode().strip()
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def test_first_start_stores_the_state_and_answers_with_its_sha256(tmp_path, notify_socket):
    path, sock = notify_socket
    port = free_port()
    proc = run_program(tmp_path, path, port)
    try:
        message, fds = received(sock)
        assert message == "FDSTORE=1\nFDNAME=demo-state"
        stored = hashlib.sha256(os.pread(fds[0], 4 * 1024 * 1024, 0)).hexdigest()
        os.close(fds[0])
        message, _fds = received(sock)
        assert message.startswith("READY=1\nSTATUS=state new, sha256 " + stored)
        assert ask(port) == stored
        assert (tmp_path / "run" / "sha256").read_text() == stored + "\n"
        assert (tmp_path / "run" / "restored").read_text() == "0\n"
        assert (tmp_path / "state" / "original.sha256").read_text() == stored + "\n"
        assert abs(float((tmp_path / "run" / "state_at").read_text()) - time.time()) < 60
    finally:
        stop(proc)


def test_start_with_the_stored_memfd_restores_it(tmp_path, notify_socket):
    path, sock = notify_socket
    port = free_port()
    fd = os.memfd_create("kept")
    demo.fill_random(fd, 1024 * 1024)
    want = demo.sha256_fd(fd)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "original.sha256").write_text(want + "\n")
    (tmp_path / "run").mkdir()
    # The program must find the memfd at fd 3 with LISTEN_PID = its own pid, as systemd passes it:
    # a shell moves it to 3 and execs the program, keeping its pid.
    script = 'LISTEN_PID=$$ exec "$0" "$1" 3<&%d %d<&-' % (fd, fd)
    try:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            ["/bin/bash", "-c", script, sys.executable, str(PROGRAM)],
            pass_fds=[fd],
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NOTIFY_SOCKET": path,
                "RUNTIME_DIRECTORY": str(tmp_path / "run"), "STATE_DIRECTORY": str(tmp_path / "state"),
                "LUO_DEMO_PORT": str(port), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "demo-state",
            },
        )
    finally:
        os.close(fd)
    try:
        message, fds = received(sock)
        assert fds == []
        assert message.startswith("READY=1\nSTATUS=state restored from the fd store, sha256 " + want)
        assert ask(port) == want
        assert (tmp_path / "run" / "restored").read_text() == "1\n"
        assert (tmp_path / "state" / "original.sha256").read_text() == want + "\n"
        # Written once the fd was in hand, before the hash: at or before the sha256 file.
        assert os.stat(tmp_path / "run" / "state_at").st_mtime <= os.stat(tmp_path / "run" / "sha256").st_mtime
    finally:
        stop(proc)
