# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the nested guest's serial log (lab/hypervisor/guest) says about one pause: whether the guest kept its
memory and went on where it stopped, and how long it was stopped by its own clock.

The guest prints, once a second of its own time, ``token=T counter=N boot_id=B uptime=U`` and, when it filled
its RAM, ``rtc=HH:MM:SS mem=ok|BAD`` (its emulated RTC follows the host's wall clock, so a pause shows as a
jump). A guest that went on keeps its token and boot id, counts on by one and prints no ``guest up:`` line.
"""
from __future__ import annotations

import re

COUNT = re.compile(r'^token=([0-9a-f]{16}) counter=(\d+) boot_id=(\S+) uptime=(\d+\.\d\d)$')
CHECK = re.compile(r'^rtc=(\d\d):(\d\d):(\d\d) mem=(ok|BAD)$')
# Not anchored at the start: a guest stopped in the middle of a line (QEMU writes the serial port byte by byte)
# leaves it half written, and the next boot's first line follows it on the same line.
UP = re.compile(r'guest up: token=([0-9a-f]{16}) boot_id=(\S+)$')
DAY_S = 86400


class GuestLinesError(Exception):
    """The log does not show the guest before and after the pause."""


def _last(pattern, lines):
    found = [pattern.match(line) for line in lines if pattern.match(line)]
    return found[-1] if found else None


def _first(pattern, lines):
    found = [pattern.match(line) for line in lines if pattern.match(line)]
    return found[0] if found else None


def _seconds_of_day(check):
    return int(check.group(1)) * 3600 + int(check.group(2)) * 60 + int(check.group(3))


def boots(lines):
    """How many times the guest booted in this log (its ``guest up:`` lines)."""
    return sum(1 for line in lines if UP.search(line.rstrip('\r')))


def filled_and_running(lines, boots_before=0):
    """Whether the guest of the log's last boot, a boot after the first ``boots_before``, filled its RAM and runs:
    one of its own last lines is a check. Checks of an earlier boot in the same log never count."""
    stripped = [line.rstrip('\r') for line in lines]
    ups = [index for index, line in enumerate(stripped) if UP.search(line)]
    if len(ups) <= boots_before:
        return False
    return any(CHECK.match(line) for line in stripped[ups[-1] + 1:][-3:])


def around_pause(before, after):
    """``before``: the log's lines up to the pause; ``after``: the lines written since. Returns kept (same token
    and boot id, the counter one on, no new boot), the counters, memory_ok (every check after the pause) and
    rtc_pause_s (the guest's clock jump less its one second between lines; None without checks)."""
    before = [line.rstrip('\r') for line in before]
    stripped = [line.rstrip('\r') for line in after]
    last, first = _last(COUNT, before), _first(COUNT, stripped)
    if last is None or first is None:
        raise GuestLinesError('no counter line %s the pause' % ('before' if last is None else 'after'))
    rebooted = any(UP.search(line) for line in stripped)
    kept = (not rebooted and first.group(1) == last.group(1) and first.group(3) == last.group(3)
            and int(first.group(2)) == int(last.group(2)) + 1)
    checks_after = [CHECK.match(line) for line in stripped if CHECK.match(line)]
    check_before, check_after = _last(CHECK, before), (checks_after[0] if checks_after else None)
    rtc_pause = None
    if check_before is not None and check_after is not None:
        rtc_pause = (_seconds_of_day(check_after) - _seconds_of_day(check_before)) % DAY_S - 1
    return {'kept': kept, 'rebooted': rebooted, 'counter_before': int(last.group(2)), 'counter_after': int(first.group(2)),
            'memory_ok': bool(checks_after) and all(check.group(4) == 'ok' for check in checks_after),
            'rtc_pause_s': rtc_pause}
