# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Maintenance windows: days of the week and a time of day in a time zone.

Controller-side logic of the ``luo.liveupdate.maintenance_window`` action, the
counterpart of kured's ``--reboot-days``, ``--start-time``, ``--end-time`` and
``--time-zone``. The rules:

- A window has days, a start and an end (``HH:MM``, minutes after midnight
  here) and a time zone. On each of its days it opens at the start, local
  time, and closes at the end; the start belongs to the window, the end does
  not (02:00-05:00 is open at 02:00:00 and at 04:59:59, closed at 05:00:00).
- ``24:00`` as end is midnight at the end of the day: 00:00-24:00 is the
  whole day.
- An end before the start runs over midnight, and the window belongs to the
  day it starts: fri 22:00-02:00 is open from Friday 22:00 to Saturday 02:00.
  So Saturday 01:00 is open whether or not Saturday is among the days, and
  Sunday 01:00 is open only when Saturday is (Saturday's window runs into it);
  Sunday being among the days opens Sunday 22:00, not Sunday 01:00.
- Start and end are wall-clock times on the day in question. A time the
  clocks skip when summer time starts stands for the moment they skip it
  (02:30 on the last Sunday of March in Europe/Berlin is 03:00 CEST: a
  02:00-05:00 window opens at 03:00 that day and lasts two hours). A time the
  clocks show twice when summer time ends is its first occurrence (02:30 on
  the last Sunday of October in Europe/Berlin is 02:30 CEST, +02:00: a
  02:00-05:00 window lasts four hours that day). A window that lies wholly in
  the skipped hour does not open that day.
- Windows that meet (every day 00:00-24:00 on consecutive days, or an
  overnight window whose gap the clocks skip) are one: ``closes`` is the end
  of the last of them. A window open on all seven days for the whole day never
  closes.

Every comparison is made on UTC instants: Python compares two datetimes of the
same zone by their wall times, which is wrong in the hour shown twice.
"""
from __future__ import annotations

import difflib
import re
import zoneinfo
from datetime import datetime, timedelta, timezone as dt_timezone

DAYS = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')
DAY_NAMES = ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday')
MINUTES_PER_DAY = 24 * 60
HHMM = re.compile(r'\A([0-9]{2}):([0-9]{2})\Z')
LOOSE_TIME = re.compile(r'\A([0-9]{1,2}):([0-9]{1,2})\Z')
# How far ahead to look for the next opening or the end of a run of windows that meet: a week, plus
# a week for a window the clocks skipped, plus the day before (a window from yesterday may still be open).
HORIZON_DAYS = 16
UTC = dt_timezone.utc
# Python's datetimes end at the years 1 and 9999; the window is looked for in the days around now.
FIRST_YEAR, LAST_YEAR = 2, 9998
DAYS_FIX = 'give day names: %s (or %s ... %s), in any case' % (', '.join(DAYS), DAY_NAMES[0], DAY_NAMES[-1])
NOW_FIX = ("write it like '2026-12-01T02:00:00+01:00' or '2026-12-01T01:00:00Z' (without an offset it is read "
           "as a time in the window's timezone)")


class WindowError(ValueError):
    """Bad input; the message names the value and says how to write it."""


def parse_days(days):
    """Day names (mon..sun or monday..sunday, any case) -> sorted weekday numbers, Monday 0."""
    if days is None:
        return tuple(range(7))
    if not days:
        raise WindowError('days is empty: give at least one day, or leave days out for every day')
    found = set()
    for given in days:
        number = _day_number(given)
        if number is None:
            raise WindowError('days: unknown day %r: %s%s' % (given, DAYS_FIX, _range_hint(given)))
        found.add(number)
    return tuple(sorted(found))


def _day_number(given):
    """mon or monday, in any case and with spaces around -> Monday 0; None for anything else."""
    name = given.strip().lower() if isinstance(given, str) else None
    for names in (DAYS, DAY_NAMES):
        if name in names:
            return names.index(name)
    return None


def _range_hint(given):
    """A range such as mon-fri is not a day; say how to list it."""
    if not isinstance(given, str) or given.count('-') != 1:
        return ''
    first, last = (_day_number(part) for part in given.split('-'))
    if first is None or last is None or first > last:
        return ''
    return '; list each day of a range: [%s]' % ', '.join(DAYS[first:last + 1])


def parse_time(option, value, end=False):
    """'HH:MM' -> minutes after midnight; 24:00 only as an end."""
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted H:MM from 1:00 on as a base 60 number, which is hours * 60 + minutes.
        hours, minutes = divmod(value, 60)
        hint = (': YAML reads an unquoted %d:%02d as the number %d (base 60); quote it: %s: "%02d:%02d"'
                % (hours, minutes, value, option, hours, minutes)) if 60 <= value <= MINUTES_PER_DAY else ''
        raise WindowError('%s is the number %d, not a time of day%s' % (option, value, hint or ': write it as "HH:MM"'))
    if not isinstance(value, str):
        raise WindowError('%s: %r is not a time of day: write it as "HH:MM", like "02:00"' % (option, value))
    match = HHMM.match(value)
    if not match:
        loose = LOOSE_TIME.match(value.strip())
        hint = ", like '02:05'"
        if loose and int(loose.group(1)) < 24 and int(loose.group(2)) < 60:
            hint = ": %r" % ('%02d:%02d' % (int(loose.group(1)), int(loose.group(2))))
        raise WindowError('%s: %r is not HH:MM (24-hour clock): write hours and minutes with two digits each%s'
                          % (option, value, hint))
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59:
        raise WindowError('%s: %r is not a time of day: minutes run from 00 to 59' % (option, value))
    if hours == 24 and minutes == 0:
        if end:
            return MINUTES_PER_DAY
        raise WindowError("%s: '24:00' is the end of a day, not a start: start at '00:00' instead" % option)
    if hours > 23:
        raise WindowError('%s: %r is not a time of day: hours run from 00 to 23 (and %s)'
                          % (option, value, "'24:00' for the end of the day" if end else "'24:00' only as an end"))
    return hours * 60 + minutes


def parse_timezone(name):
    """An IANA time zone name -> tzinfo, from the controller's tz database (UTC works without one)."""
    if not isinstance(name, str) or not name:
        raise WindowError('timezone: %r is not a time zone: give an IANA name such as "Europe/Berlin" or "UTC"' % (name,))
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        if name == 'UTC':
            return UTC
    known = zoneinfo.available_timezones()
    hint = ''
    by_case = {zone.lower(): zone for zone in known}
    guess = by_case.get(name.lower()) or next(iter(difflib.get_close_matches(name, known, n=1)), None)
    if guess:
        hint = ' (did you mean %r?)' % guess
    elif not known:
        hint = ' (the controller has no tz database: install the tzdata package, or the tzdata Python package)'
    raise WindowError('timezone: unknown time zone %r: give an IANA name such as "Europe/Berlin" or "UTC"%s'
                      % (name, hint))


def parse(days=None, start=None, end=None, timezone=None):
    """The window from the action's options (None: the default); WindowError names the first bad value."""
    start = '00:00' if start is None else start
    end = '24:00' if end is None else end
    timezone = 'UTC' if timezone is None else timezone
    window = Window(parse_days(days), parse_time('start', start), parse_time('end', end, end=True),
                    parse_timezone(timezone), timezone)
    if window.start == window.end:
        raise WindowError("start and end are both %r: a window ends after its start, or before it to run over "
                          "midnight; for the whole day leave both out (00:00-24:00)" % start)
    return window


def parse_now(value, tz):
    """An ISO 8601 timestamp -> an aware UTC datetime; without an offset it is a wall time in ``tz``."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise WindowError('now: %r is not an ISO 8601 timestamp: %s' % (value, NOW_FIX)) from None
    else:
        raise WindowError('now: %r is not an ISO 8601 timestamp: %s' % (value, NOW_FIX))
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise WindowError('now: %r is out of range: give a year from %d to %d' % (value, FIRST_YEAR, LAST_YEAR))
    if moment.tzinfo is None or moment.utcoffset() is None:
        return wall_to_instant(moment, tz)
    return moment.astimezone(UTC)


def wall_to_instant(wall, tz):
    """A naive wall time in ``tz`` -> the UTC instant it stands for (see the module's rules)."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first  # it exists; when it exists twice, fold=0 is the first time
    # The clocks skip it. With fold=0 Python reads it with the offset before the jump (an instant after
    # the jump), with fold=1 with the offset after it (an instant before): the jump lies between.
    before = int(wall.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp())
    after = int(first.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, tz).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def _clock(minutes):
    return '%02d:%02d' % divmod(minutes, 60)


def describe_days(days):
    """Weekday numbers -> 'mon-fri', 'mon,wed,fri', 'sat,sun': runs of three or more as ranges."""
    runs = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append('%s-%s' % (DAYS[run[0]], DAYS[run[-1]]))
        else:
            parts.extend(DAYS[day] for day in run)
    return ','.join(parts)


class Window:
    """A maintenance window; ``state(now)`` says whether it is open at ``now`` and until or from when."""

    def __init__(self, days, start, end, tz, tz_name):
        self.days = days  # weekday numbers, Monday 0
        self.start = start  # minutes after midnight, 0..1439
        self.end = end  # minutes after midnight, 0..1440; before start: over midnight
        self.tz = tz
        self.tz_name = tz_name

    @property
    def overnight(self):
        return self.end < self.start

    @property
    def always(self):
        return len(self.days) == 7 and self.start == 0 and self.end == MINUTES_PER_DAY

    def describe(self):
        return '%s %s-%s %s' % (describe_days(self.days), _clock(self.start), _clock(self.end), self.tz_name)

    def as_dict(self):
        return dict(days=[DAYS[day] for day in self.days], start=_clock(self.start), end=_clock(self.end),
                    timezone=self.tz_name, overnight=self.overnight)

    def occurrence(self, day):
        """(opens, closes) as UTC instants of the window that starts on ``day``; None when it is not one of the days."""
        if day.weekday() not in self.days:
            return None
        midnight = datetime(day.year, day.month, day.day)
        end = self.end + (MINUTES_PER_DAY if self.overnight else 0)
        return (wall_to_instant(midnight + timedelta(minutes=self.start), self.tz),
                wall_to_instant(midnight + timedelta(minutes=end), self.tz))

    def occurrences(self, first_day):
        """The windows that open on ``first_day`` and the days after, in order; empty ones (skipped by the clocks) left out."""
        for offset in range(HORIZON_DAYS):
            times = self.occurrence(first_day + timedelta(days=offset))
            if times and times[0] < times[1]:
                yield times

    def state(self, now):
        """open, and closes (null when it never does) or opens (the next opening), as UTC instants."""
        now = now.astimezone(UTC)
        if self.always:
            return dict(open=True, closes=None, opens=None)
        yesterday = now.astimezone(self.tz).date() - timedelta(days=1)
        closes = None
        for opens, ends in self.occurrences(yesterday):
            if closes is not None:
                if opens > closes:
                    return dict(open=True, closes=closes, opens=None)
                closes = max(closes, ends)  # they meet: one window
            elif opens <= now < ends:
                closes = ends
            elif opens > now:
                return dict(open=False, closes=None, opens=opens)
        return dict(open=closes is not None, closes=None, opens=None)

    def report(self, now):
        """The action's result: open, now, opens, closes (ISO in the window's zone), window and msg."""
        state = self.state(now)
        local = {key: (value.astimezone(self.tz).isoformat(timespec='seconds') if value else None)
                 for key, value in state.items() if key != 'open'}
        if state['open']:
            msg = 'inside the maintenance window %s: %s' % (
                self.describe(), 'closes %s' % local['closes'] if local['closes'] else 'it never closes')
        else:
            msg = 'outside the maintenance window %s: %s' % (
                self.describe(), 'opens %s' % local['opens'] if local['opens'] else 'it does not open in the next two weeks')
        return dict(open=state['open'], now=now.astimezone(self.tz).isoformat(timespec='seconds'),
                    opens=local['opens'], closes=local['closes'], window=self.as_dict(), msg=msg)
