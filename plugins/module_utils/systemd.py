# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd facts a live update needs: version gates, the manager's live-update
properties and timings, unit names and the names in a unit's fd store.

Checked against systemd 262.1 (Debian sid): NEWS, org.freedesktop.systemd1(5),
systemctl(1), systemd-analyze(1), and the sources of ``systemctl show`` and
``systemd-analyze fdstore``:

- 261: PID 1 preserves the fd stores of units with FileDescriptorStorePreserve=
  across kexec through LUO. 262: LUOSession=, and the manager properties
  KExecCount and PreviousShutdown{Start,Finish,LateStart,LateFinish}Timestamp
  (+Monotonic); the man page lists all of them as "added in version 262".
- KExecCount (u): kexec live updates completed since the last full boot; 0
  without LUO. PreviousShutdown*: CLOCK_REALTIME and CLOCK_MONOTONIC usec of the
  previous boot's shutdown, restored from LUO after a live update, else 0.
  Start/Finish bracket PID 1 stopping units; LateStart/LateFinish are taken by
  systemd-shutdown when it began and when it was about to kexec() into this
  kernel. The Monotonic ones are the previous boot's clock: compare them only
  with each other. ``systemd-analyze time`` shows the same phases as
  "(stopping)", "(exit)" (handing over to systemd-shutdown) and
  "(systemd-shutdown)".
- KernelTimestamp is the realtime of this kernel's start (its monotonic is 0);
  Userspace/InitRD/FinishTimestampMonotonic are this boot's clock.
- ``systemctl show`` prints ``...Timestamp`` properties as dates in the style of
  ``--timestamp=`` (default "Day YYYY-MM-DD HH:MM:SS TZ", whole seconds; "unix"
  is "@seconds", also whole seconds; "us+utc" adds microseconds in UTC), other
  u64 properties such as ``...TimestampMonotonic`` as plain numbers. An unset
  timestamp prints as an empty value when asked for with --property; a
  property this systemd lacks is not printed at all.
- ``systemd-analyze fdstore UNIT --json=short`` prints a JSON array of objects
  with the table's columns as keys: fdname (string), type (the inode's st_mode
  as a number), devno and rdevno ([major, minor], null when 0:0), inode
  (number), path (string) and flags ("ro", "wo" or "rw").
"""
from __future__ import annotations

import calendar
import json
import re

FDSTORE_PRESERVE_MIN = 261
LUO_SESSION_MIN = 262
KEXEC_TIMESTAMPS_MIN = 262

PREVIOUS_SHUTDOWN = ('PreviousShutdownStart', 'PreviousShutdownFinish',
                     'PreviousShutdownLateStart', 'PreviousShutdownLateFinish')
MANAGER_PROPERTIES = (
    ('KExecCount', 'KernelTimestamp', 'InitRDTimestampMonotonic', 'UserspaceTimestampMonotonic',
     'FinishTimestampMonotonic')
    + tuple(name + 'Timestamp' for name in PREVIOUS_SHUTDOWN)
    + tuple(name + 'TimestampMonotonic' for name in PREVIOUS_SHUTDOWN)
)
# The order of the phases of a live update, as ``live_update_phases`` returns them.
PHASES = ('stopping', 'exit', 'systemd_shutdown', 'kexec', 'kernel', 'initrd', 'userspace')

_UNSET = ('', 'n/a', '[not set]')
_VERSION_RE = re.compile(r'^\s*systemd\s+(\d+)\b')
_UTC_DATE_RE = re.compile(
    r'^(?:\S+\s+)?(\d{4})-(\d{2})-(\d{2})\s+(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\s+UTC$')
_UNIX_RE = re.compile(r'^@(\d+)(?:\.(\d{1,6}))?$')
UNIT_NAME = re.compile(r'\A[A-Za-z0-9:_.\\@-]+\.(service|socket|target|mount|timer|path|slice|scope)\Z')


class SystemdError(Exception):
    """A systemd command failed or printed something this module cannot read."""

    def __init__(self, argv, message, rc=None, stderr=''):
        super().__init__(message)
        self.argv = list(argv)
        self.rc = rc
        self.stderr = stderr


def command_output(run, argv):
    """stdout of ``run(argv)``; a non-zero exit raises SystemdError naming the command and its stderr."""
    rc, out, err = run(list(argv))
    if rc != 0:
        detail = (err or '').strip() or (out or '').strip() or 'no output'
        raise SystemdError(argv, '`%s` failed with exit code %s: %s' % (' '.join(argv), rc, detail),
                           rc=rc, stderr=err or '')
    return out or ''


# Versions

def parse_version(text):
    """Major version from ``systemctl --version`` ("systemd 262 (262.1-1)" -> 262)."""
    for line in (text or '').splitlines():
        match = _VERSION_RE.match(line)
        if match:
            return int(match.group(1))
    raise ValueError('no "systemd <version>" line in %r; expected the output of systemctl --version'
                     % (text or '')[:200])


def systemd_version(run):
    """The running systemctl's major version."""
    argv = ['systemctl', '--version']
    out = command_output(run, argv)
    try:
        return parse_version(out)
    except ValueError as exc:
        raise SystemdError(argv, '`systemctl --version`: %s' % exc) from None


def supports_fdstore_preserve(version):
    """FileDescriptorStorePreserve= carries fd stores across a LUO kexec (systemd >= 261)."""
    return version >= FDSTORE_PRESERVE_MIN


def supports_luo_session(version):
    """LUOSession= exists (systemd >= 262)."""
    return version >= LUO_SESSION_MIN


def supports_kexec_timestamps(version):
    """KExecCount and the PreviousShutdown* timestamps exist (systemd >= 262)."""
    return version >= KEXEC_TIMESTAMPS_MIN


# Manager properties

def parse_show(text):
    """``systemctl show`` output as {name: value}; values are kept as printed."""
    props = {}
    for line in (text or '').splitlines():
        name, sep, value = line.partition('=')
        if sep and name and ' ' not in name:
            props[name] = value
    return props


def show_manager(run, properties=MANAGER_PROPERTIES, timestamp_style='us+utc'):
    """The manager's ``properties`` (no unit) as printed by ``systemctl show``.

    With the default style, realtime timestamps come with microseconds in UTC
    (needs systemd >= 248). Properties this systemd lacks are absent.
    """
    argv = ['systemctl', 'show']
    if timestamp_style:
        argv.append('--timestamp=%s' % timestamp_style)
    argv.append('--property=%s' % ','.join(properties))
    return parse_show(command_output(run, argv))


def parse_realtime(value):
    """usec since the epoch from a realtime timestamp as systemctl prints it; None when unset.

    Reads raw usec ("1764255901123456"), ``--timestamp=unix`` ("@1764255901") and
    the UTC date styles ("Thu 2026-11-27 15:05:01[.123456] UTC"; the weekday is
    ignored, so the locale does not matter). Dates in a local time zone are
    refused: ask systemctl for --timestamp=us+utc.
    """
    text = (value or '').strip()
    if text in _UNSET or text == '0':
        return None
    if text.isdigit():
        return int(text)
    match = _UNIX_RE.match(text)
    if match:
        return int(match.group(1)) * 1000000 + _fraction_usec(match.group(2))
    match = _UTC_DATE_RE.match(text)
    if match:
        fields = [int(group) for group in match.groups()[:6]]
        return calendar.timegm(tuple(fields) + (0, 0, 0)) * 1000000 + _fraction_usec(match.group(7))
    raise ValueError('timestamp %r is not raw usec, "@seconds" or a UTC date; '
                     'query it with systemctl show --timestamp=us+utc' % value)


def _fraction_usec(digits):
    return int((digits or '0').ljust(6, '0'))


def parse_usec(value):
    """A plain usec value (``...TimestampMonotonic``); None when unset (empty, n/a or 0)."""
    text = (value or '').strip()
    if text in _UNSET or text == '0':
        return None
    if not text.isdigit():
        raise ValueError('%r is not a number of microseconds' % value)
    return int(text)


def parse_count(value):
    """A counter such as KExecCount; 0 is a real value, None means the property is missing or empty."""
    text = (value or '').strip()
    if text in _UNSET:
        return None
    if not text.isdigit():
        raise ValueError('%r is not a non-negative count' % value)
    return int(text)


def kernel_start_from_uptime(proc_uptime, now_realtime_usec):
    """Realtime usec of this kernel's start: now minus the uptime in /proc/uptime ("12.34 5.67")."""
    fields = (proc_uptime or '').split()
    try:
        seconds = float(fields[0])
    except (IndexError, ValueError):
        raise ValueError('/proc/uptime holds %r, not "<seconds> <idle seconds>"' % proc_uptime) from None
    return int(now_realtime_usec - seconds * 1000000)


def _span_ms(begin, end):
    """Milliseconds from ``begin`` to ``end`` (usec); None if either is missing or time ran backwards."""
    if begin is None or end is None or end < begin:
        return None
    return round((end - begin) / 1000.0, 3)


def live_update_phases(props, kernel_start_usec=None):
    """Milliseconds per phase of the last live update, None for phases that can't be computed.

    - stopping: PID 1 stopping units (PreviousShutdownStart -> Finish)
    - exit: PID 1 handing over to systemd-shutdown (Finish -> LateStart)
    - systemd_shutdown: systemd-shutdown until its kexec() (LateStart -> LateFinish)
    - kexec: from that kexec() to this kernel's start, on the realtime clock
      (PreviousShutdownLateFinishTimestamp -> KernelTimestamp, or
      ``kernel_start_usec`` when systemd has no KernelTimestamp); it is as
      exact as the wall clock the new kernel starts with
    - kernel: this kernel's boot until the initrd or PID 1 started
    - initrd: the initrd, when there is one
    - userspace: PID 1 start until boot-up finished
    The first three use the previous boot's monotonic clock, the last three this
    boot's. ``total`` is the sum, or None while any phase but initrd is missing.
    """
    previous = {name: parse_usec(props.get(name + 'TimestampMonotonic')) for name in PREVIOUS_SHUTDOWN}
    late_finish_realtime = parse_realtime(props.get('PreviousShutdownLateFinishTimestamp'))
    kernel_realtime = parse_realtime(props.get('KernelTimestamp'))
    if kernel_realtime is None:
        kernel_realtime = kernel_start_usec
    initrd = parse_usec(props.get('InitRDTimestampMonotonic'))
    userspace = parse_usec(props.get('UserspaceTimestampMonotonic'))
    finish = parse_usec(props.get('FinishTimestampMonotonic'))

    phases = {
        'stopping': _span_ms(previous['PreviousShutdownStart'], previous['PreviousShutdownFinish']),
        'exit': _span_ms(previous['PreviousShutdownFinish'], previous['PreviousShutdownLateStart']),
        'systemd_shutdown': _span_ms(previous['PreviousShutdownLateStart'], previous['PreviousShutdownLateFinish']),
        'kexec': _span_ms(late_finish_realtime, kernel_realtime),
        # This boot's monotonic clock starts with the kernel.
        'kernel': _span_ms(0, initrd if initrd is not None else userspace),
        'initrd': _span_ms(initrd, userspace) if initrd is not None else None,
        'userspace': _span_ms(userspace, finish),
    }
    needed = [phases[name] for name in PHASES if name != 'initrd']
    phases['total'] = None if None in needed else round(sum(needed) + (phases['initrd'] or 0), 3)
    return phases


def live_update_facts(run, kernel_start_usec=None):
    """KExecCount, the realtime usec of the previous shutdown's marks, and the phases in ms."""
    props = show_manager(run)
    return {
        'kexec_count': parse_count(props.get('KExecCount')),
        'previous_shutdown_usec': {
            name[len('PreviousShutdown'):].lower(): parse_realtime(props.get(name + 'Timestamp'))
            for name in PREVIOUS_SHUTDOWN
        },
        'phases': live_update_phases(props, kernel_start_usec),
    }


# Units and their file descriptor stores

def validate_unit(unit):
    """A full unit name as systemd spells it ("myapp.service", "luo-state@redis.service"): never an option."""
    if not isinstance(unit, str) or not UNIT_NAME.match(unit):
        raise ValueError('unit name %r is not valid; give a full name such as "myservice.service"' % (unit,))
    return unit


def parse_fdstore_names(text):
    """The sorted fd names (a name appears once per fd) printed by ``systemd-analyze fdstore UNIT --json=short``."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError('fd store listing is not JSON (%s): %r' % (exc, (text or '')[:200])) from None
    if not isinstance(data, list):
        raise ValueError('fd store listing is a %s, not a JSON array: %r' % (type(data).__name__, (text or '')[:200]))
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get('fdname'), str):
            raise ValueError('fd store entry %r has no fdname' % (entry,))
    return sorted(entry['fdname'] for entry in data)
