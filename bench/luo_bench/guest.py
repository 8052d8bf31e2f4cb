# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark's helper inside a lab VM (stdlib only, run as python3 guest.py COMMAND).

  probe                  one JSON object: boot id, clocks, the manager's timestamps, the demo
                         unit's timestamps, state and health answer, the last mark and read-back
  clock                  answer every input line with the realtime clock (for clock offsets)
  dump                   copy the demo's memfd to STATE_FILE with fsync; timings to DUMP_JSON
  readback               (at boot) read STATE_FILE back, sha256 it, timings to READBACK_JSON
  make-files DIR N       N files of 1 to 4 KiB of random bytes, 100 per sub-directory
  make-file PATH MIB     one file of MIB MiB of random bytes
  keeper-cycle NAME PATH stop luo-state@NAME (save), remove PATH, start it (restore), verify

Times are CLOCK_REALTIME seconds of this boot: the controller maps them to its own clock
with the offset that `clock` measures, once per boot.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time

WORK_DIR = '/var/lib/luo-bench'
MARK_FILE = WORK_DIR + '/mark'
STATE_FILE = WORK_DIR + '/state.bin'
DUMP_JSON = WORK_DIR + '/dump.json'
READBACK_JSON = WORK_DIR + '/readback.json'
DEMO_UNIT = 'luo-demo-memfd.service'
DEMO_PORT = 8089
CHUNK = 1024 * 1024
MANAGER_PROPERTIES = ('KExecCount', 'KernelTimestamp', 'UserspaceTimestampMonotonic', 'FinishTimestampMonotonic',
                      'PreviousShutdownStartTimestamp', 'PreviousShutdownFinishTimestamp',
                      'PreviousShutdownLateStartTimestamp', 'PreviousShutdownLateFinishTimestamp')
UNIT_PROPERTIES = ('ActiveState', 'MainPID', 'ExecMainStartTimestampMonotonic', 'ActiveEnterTimestampMonotonic')


def run(argv):
    """stdout of argv; raises with its stderr when it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError('%s failed with rc %d: %s' % (' '.join(argv), done.returncode, done.stderr.strip()))
    return done.stdout


def show(properties, unit=None):
    """systemctl show as a dict, realtime timestamps in UTC with microseconds."""
    argv = ['systemctl', 'show', '--timestamp=us+utc', '--property=' + ','.join(properties)]
    if unit:
        argv.append(unit)
    return dict(line.split('=', 1) for line in run(argv).splitlines() if '=' in line)


def read_text(path):
    """Stripped content of path, None when it does not exist."""
    try:
        with open(path, encoding='utf-8') as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None


def read_json(path):
    text = read_text(path)
    return json.loads(text) if text else None


def write_json(path, data):
    """Replace path with data, on disk before returning."""
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as handle:
        json.dump(data, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def health():
    """The demo's answer on its health port, None when it does not answer."""
    try:
        with socket.create_connection(('127.0.0.1', DEMO_PORT), timeout=2) as conn:
            return conn.makefile('r').readline().strip() or None
    except OSError:
        return None


def demo_memfd(pid):
    """/proc path of the demo's state in process pid (its only regular file: a memfd), None when not found.

    Not found by name: a memfd restored by LUO is no longer called memfd:luo-demo-state."""
    fd_dir = '/proc/%s/fd' % pid
    try:
        names = sorted(os.listdir(fd_dir), key=int)
    except OSError:
        return None
    for name in names:
        try:
            if stat.S_ISREG(os.stat(os.path.join(fd_dir, name)).st_mode):
                return os.path.join(fd_dir, name)
        except OSError:
            continue
    return None


def analyze_time():
    """The first line of `systemd-analyze time`, or why there is none (boot not finished yet)."""
    done = subprocess.run(['systemd-analyze', 'time'], capture_output=True, text=True, check=False)
    return ((done.stdout if done.returncode == 0 else done.stderr).strip().splitlines() or [''])[0]


def cmd_probe(_args):
    unit = show(UNIT_PROPERTIES, DEMO_UNIT)
    memfd = demo_memfd(unit.get('MainPID')) if unit.get('MainPID', '0') != '0' else None
    print(json.dumps({
        'boot_id': read_text('/proc/sys/kernel/random/boot_id'),
        'release': os.uname().release,
        'cmdline': read_text('/proc/cmdline'),
        'realtime': time.clock_gettime(time.CLOCK_REALTIME),
        'monotonic': time.clock_gettime(time.CLOCK_MONOTONIC),
        'manager': show(MANAGER_PROPERTIES),
        'demo': unit,
        'demo_state_bytes': os.stat(memfd).st_size if memfd else None,
        'demo_health': health(),
        'demo_restored': read_text('/run/luo-demo/restored'),
        'demo_state_at': float(read_text('/run/luo-demo/state_at') or 0) or None,
        'analyze_time': analyze_time(),
        'mark': float(read_text(MARK_FILE) or 0) or None,
        'dump': read_json(DUMP_JSON),
        'readback': read_json(READBACK_JSON),
    }))
    return 0


def cmd_clock(_args):
    for _line in sys.stdin:
        print(repr(time.clock_gettime(time.CLOCK_REALTIME)), flush=True)
    return 0


def copy_file(source, dest):
    """Copy source to dest in 1 MiB blocks, on disk before returning; returns the bytes copied."""
    size = 0
    with open(source, 'rb') as src, open(dest, 'wb') as out:
        for block in iter(lambda: src.read(CHUNK), b''):
            out.write(block)
            size += len(block)
        out.flush()
        os.fsync(out.fileno())
    return size


def file_sha256(path):
    """(bytes, sha256) of the file at path, read in 1 MiB blocks."""
    digest, size = hashlib.sha256(), 0
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(CHUNK), b''):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def cmd_dump(_args):
    """The state as a service would save it before a cold reboot: written and on disk."""
    pid = show(('MainPID',), DEMO_UNIT)['MainPID']
    memfd = demo_memfd(pid)
    if memfd is None:
        raise RuntimeError('%s (PID %s) holds no state memfd: start it first' % (DEMO_UNIT, pid))
    start = time.clock_gettime(time.CLOCK_REALTIME)
    size = copy_file(memfd, STATE_FILE)
    dirfd = os.open(WORK_DIR, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)
    write_json(DUMP_JSON, {'start': start, 'end': time.clock_gettime(time.CLOCK_REALTIME), 'bytes': size})
    return 0


def cmd_readback(_args):
    """The state as a service would load it after a cold reboot: read back and verified."""
    start = time.clock_gettime(time.CLOCK_REALTIME)
    size, digest = file_sha256(STATE_FILE)
    write_json(READBACK_JSON, {'boot_id': read_text('/proc/sys/kernel/random/boot_id'), 'start': start,
                               'end': time.clock_gettime(time.CLOCK_REALTIME), 'bytes': size, 'sha256': digest})
    os.unlink(STATE_FILE)
    return 0


def cmd_make_files(args):
    root, count = args[0], int(args[1])
    for index in range(count):
        directory = os.path.join(root, '%03d' % (index // 100))
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, 'item-%05d.bin' % index), 'wb') as handle:
            handle.write(os.urandom(1024 + index % 3072))
    return 0


def cmd_make_file(args):
    path, mib = args[0], int(args[1])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as handle:
        for _index in range(mib):
            handle.write(os.urandom(CHUNK))
    return 0


def tree_digest(root):
    """(entries, bytes, sha256) over names, modes and contents below root (or of the file root)."""
    digest, entries, size = hashlib.sha256(), 0, 0
    paths = [root] if os.path.isfile(root) else sorted(
        os.path.join(dirpath, name) for dirpath, _dirs, files in os.walk(root) for name in files)
    for path in paths:
        info = os.lstat(path)
        digest.update(('%s %o\n' % (os.path.relpath(path, root), info.st_mode)).encode())
        digest.update(file_sha256(path)[1].encode())
        entries += 1
        size += info.st_size
    return entries, size, digest.hexdigest()


def timed(argv):
    start = time.clock_gettime(time.CLOCK_MONOTONIC)
    run(argv)
    return time.clock_gettime(time.CLOCK_MONOTONIC) - start


def cmd_keeper_cycle(args):
    """Save through ExecStop=, lose the files as a reboot would, restore through ExecStart=."""
    name, path = args
    unit = 'luo-state@%s.service' % name
    run(['systemctl', 'start', unit])
    entries, size, before = tree_digest(path)
    save_s = timed(['systemctl', 'stop', unit])
    held = json.loads(run(['systemd-analyze', 'fdstore', unit, '--json=short']) or '[]')
    if os.path.isdir(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    restore_s = timed(['systemctl', 'start', unit])
    after = tree_digest(path)[2] if os.path.exists(path) else None
    print(json.dumps({'save_s': save_s, 'restore_s': restore_s, 'entries': entries, 'bytes': size,
                      'fdstore_entries': len(held), 'intact': after == before}))
    return 0


COMMANDS = {'probe': cmd_probe, 'clock': cmd_clock, 'dump': cmd_dump, 'readback': cmd_readback,
            'make-files': cmd_make_files, 'make-file': cmd_make_file, 'keeper-cycle': cmd_keeper_cycle}


def main(argv):
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    os.makedirs(WORK_DIR, exist_ok=True)
    return COMMANDS[argv[0]](argv[1:])


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
