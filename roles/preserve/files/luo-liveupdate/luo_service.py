# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the host programs luo-state and luo-qemu-guest share: talking to systemd and keeping memfds.

Both run as ExecStart= and ExecStop= of their unit and keep state in the unit's own fd store:
they log to the journal, read a configuration named after the unit instance, push and drop
memfds with sd_notify (FDSTORE=1, FDSTOREREMOVE=1, BARRIER=1), take them back from LISTEN_FDS,
and write small JSON records of what they did.

The roles preserve and qemu_guest install this file as /usr/local/lib/luo-liveupdate/luo_service.py,
the directory ../lib/luo-liveupdate next to the programs, which put it on sys.path. Only the
standard library is used: the hosts run it with their own /usr/bin/python3.
"""
from __future__ import annotations

import array
import errno
import fcntl
import json
import os
import re
import select
import socket
import subprocess
import sys
import tempfile

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_SYSTEMD = 4

BOOT_ID = '/proc/sys/kernel/random/boot_id'
SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_SEAL
MFD_NOEXEC_SEAL = 0x0008  # Linux >= 6.3, sets F_SEAL_EXEC; Python exports neither
F_SEAL_EXEC = 0x0020
# A name becomes a unit instance, a file name and a memfd name: no "/", no leading "." or "-".
NAME_RE = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]*')


class ServiceError(Exception):
    """A failure whose message says what is wrong and how to fix it; exit_code is the program's exit status."""

    exit_code = EXIT_FAILED

    def __init__(self, message, exit_code=None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(ServiceError):
    """Bad command line or configuration file."""

    exit_code = EXIT_CONFIG


class SystemdError(ServiceError):
    """The service manager could not be reached."""

    exit_code = EXIT_SYSTEMD


# ---------------------------------------------------------------- logging

def stderr_is_journal(environ):
    """True when stderr is the journal stream systemd connected (JOURNAL_STREAM=dev:ino)."""
    try:
        st = os.fstat(2)
    except OSError:
        return False
    return environ.get('JOURNAL_STREAM') == '%d:%d' % (st.st_dev, st.st_ino)


def log(message, priority=6):
    """Log one line to stderr; with a syslog priority prefix (3 error, 4 warning...) when the journal reads it.

    The unit's SyslogIdentifier= names the program and the instance, so the line does not."""
    prefix = '<%d>' % priority if stderr_is_journal(os.environ) else ''
    print(prefix + message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- names and files

def check_instance_name(name, what, longest, names):
    """name, or ConfigError: 1 to longest letters, digits, "_", "." or "-", not starting with "." or "-".

    what says what the name is ('guest name'), names what it names (for the message)."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or len(name) > longest:
        raise ConfigError('%s %r is not valid: use 1 to %d letters, digits, "_", "." or "-", not starting with "." '
                          'or "-" (it names %s)' % (what, name, longest, names))
    return name


def read_config(source, create_hint):
    """The text of a configuration file; ConfigError saying how to create or fix it."""
    try:
        with open(source, encoding='utf-8') as handle:
            return handle.read()
    except FileNotFoundError:
        raise ConfigError('%s does not exist: %s' % (source, create_hint)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError('%s cannot be read (%s): make it a readable UTF-8 text file' % (source, exc)) from None


def host_facts():
    """{'kernel': release, 'boot_id': this boot's id or None}: tells a restart from a kernel update."""
    try:
        with open(BOOT_ID, encoding='ascii') as handle:
            boot_id = handle.read().strip() or None
    except (OSError, UnicodeDecodeError):
        boot_id = None
    return {'kernel': os.uname().release, 'boot_id': boot_id}


def write_json(path, data, mode=0o644):
    """Replace path with data as JSON, atomically (a new file renamed over it), creating its directory."""
    directory = os.path.dirname(path)
    os.makedirs(directory, 0o755, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix='.' + os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write('\n')
        os.chmod(temp, mode)
        os.rename(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def keep_record(path, record, lost, mode=0o644):
    """write_json, but a record that cannot be written costs a warning saying what is lost, never the run."""
    try:
        write_json(path, record, mode)
    except OSError as exc:
        log('cannot write %s (%s): %s' % (path, exc, lost), 4)


# ---------------------------------------------------------------- the notification socket

def notify_address(environ, unit):
    """$NOTIFY_SOCKET as a socket address ('@name' is an abstract socket); unit names who gives one."""
    value = environ.get('NOTIFY_SOCKET', '')
    if not value:
        raise SystemdError('NOTIFY_SOCKET is not set: run this as ExecStart= or ExecStop= of %s, whose '
                           'NotifyAccess=exec gives them one' % unit)
    if value.startswith('@'):
        return '\0' + value[1:]
    if not value.startswith('/'):
        raise SystemdError('NOTIFY_SOCKET=%s is not an AF_UNIX socket path or @abstract name: this program only '
                           'speaks to a local service manager' % value)
    return value


def notify_message(fields):
    """[(key, value)] -> b'KEY=VALUE\\n...' (values must be single lines)."""
    lines = []
    for key, value in fields:
        if '\n' in str(value) or '=' in key:
            raise ValueError('notify field %r=%r must be a single KEY=VALUE line' % (key, value))
        lines.append('%s=%s\n' % (key, value))
    return ''.join(lines).encode()


def sd_notify(address, fields, fds=()):
    """Send one notification datagram, with fds as SCM_RIGHTS; SystemdError says which one failed."""
    message = notify_message(fields)
    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds).tobytes())] if fds else []
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendmsg([message], rights, 0, address)
    except OSError as exc:
        raise SystemdError('sending %s to NOTIFY_SOCKET %r failed: %s' % (
            ' '.join('%s=%s' % f for f in fields), address, exc)) from None


def notify_barrier(address, timeout=10.0):
    """True once the manager processed every notification sent before (BARRIER=1); False on timeout."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        try:
            sd_notify(address, [('BARRIER', '1')], [write_end])
        finally:
            os.close(write_end)
        poller = select.poll()
        poller.register(read_end, select.POLLHUP)
        return bool(poller.poll(int(timeout * 1000)))
    finally:
        os.close(read_end)


def fdstore_add(address, name, fd):
    """Push fd into the unit's fd store as name. FDPOLL=0: a memfd never hangs up, nothing to watch."""
    sd_notify(address, [('FDSTORE', '1'), ('FDNAME', name), ('FDPOLL', '0')], [fd])


def fdstore_remove(address, name):
    """Drop every entry called name from the unit's fd store."""
    sd_notify(address, [('FDSTOREREMOVE', '1'), ('FDNAME', name)])


def fdstore_replace(address, name, fd):
    """Put fd into the fd store as name, in place of the entry of that name (room first, for FileDescriptorStoreMax=)."""
    fdstore_remove(address, name)
    fdstore_add(address, name, fd)


# ---------------------------------------------------------------- fds from the manager

def listen_fds(environ, pid):
    """[(name, fd)] passed by the manager (LISTEN_FDS from fd 3), [] when not meant for pid."""
    try:
        if int(environ.get('LISTEN_PID', '')) != pid:
            return []
        count = int(environ.get('LISTEN_FDS', ''))
    except ValueError:
        return []
    names = environ.get('LISTEN_FDNAMES', '').split(':') if environ.get('LISTEN_FDNAMES') else []
    names += ['unknown'] * (count - len(names))
    return [(names[i], 3 + i) for i in range(max(count, 0))]


def named_fds(fds, wanted):
    """{name: fd} of the first fd of each wanted name in fds ([(name, fd)]); every other fd is closed."""
    found = {}
    for name, fd in fds:
        if name in wanted and name not in found:
            found[name] = fd
        else:
            log('closing unexpected fd %d (%s) from the fd store' % (fd, name), 4)
            os.close(fd)
    return found


def run_command(argv):
    """Run argv; (rc, stdout, stderr) as text."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        return 127, '', str(exc)
    return proc.returncode, proc.stdout, proc.stderr


def fdstore_entry(unit, fdname, user, run):
    """(major, minor, inode) of the fdname entry of unit's fd store, or None.

    run(argv) -> (rc, stdout, stderr), such as run_command."""
    argv = ['systemd-analyze'] + (['--user'] if user else []) + ['fdstore', unit, '--json=short']
    rc, out, err = run(argv)
    if rc != 0:
        raise SystemdError('%s failed (rc %d): %s; check that %s is loaded (systemctl status %s) and that '
                           'systemd is >= 254' % (' '.join(argv), rc, err.strip(), unit, unit))
    try:
        entries = json.loads(out)
    except ValueError:
        raise SystemdError('%s printed no JSON: %r' % (' '.join(argv), out[:200])) from None
    for entry in entries:
        if entry.get('fdname') == fdname:
            major, minor = entry['devno']
            return major, minor, entry['inode']
    return None


def open_manager_fd(pid, major, minor, inode):
    """Open read-only the fd of process pid that is that inode (the manager's fd store copy)."""
    fd_dir = '/proc/%d/fd' % pid
    for name in os.listdir(fd_dir):
        path = os.path.join(fd_dir, name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if st.st_ino == inode and (os.major(st.st_dev), os.minor(st.st_dev)) == (major, minor):
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    raise SystemdError('the fd store entry (inode %d on %d:%d) is not among the fds of PID %d: give the manager '
                       'that holds it with --manager-pid' % (inode, major, minor, pid))


# ---------------------------------------------------------------- memfds

def create_memfd(label):
    """A sealable memfd called label (non-executable where the kernel supports it)."""
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        return os.memfd_create(label, flags | MFD_NOEXEC_SEAL)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return os.memfd_create(label, flags)


def seal(fd):
    """Forbid any further change of the memfd's contents, size and seals."""
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)


def get_seals(fd):
    """The seals set on fd (0 when it cannot be sealed)."""
    try:
        return fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    except OSError:
        return 0


def sealed_memfd(label, data):
    """A memfd holding data, sealed against any change."""
    fd = create_memfd(label)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        seal(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_all(fd, limit=1 << 20):
    """The contents of the file behind fd (at most limit bytes), read with pread."""
    chunks, offset = [], 0
    while offset < limit:
        chunk = os.pread(fd, limit - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b''.join(chunks)
