# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Maintenance windows: inside and outside, over midnight, summer time changes, and every kind of bad input."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.luo.liveupdate.plugins.plugin_utils import maintenance_window as mw

WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri']
BERLIN = 'Europe/Berlin'
# 2026: summer time starts on Sunday 29 March (02:00 CET -> 03:00 CEST) and ends on
# Sunday 25 October (03:00 CEST -> 02:00 CET) in Europe/Berlin.
SPRING = '2026-03-29'
AUTUMN = '2026-10-25'


def check(now, days=None, start='00:00', end='24:00', tz='UTC'):
    window = mw.parse(days=days, start=start, end=end, timezone=tz)
    return window.report(mw.parse_now(now, window.tz))


def is_open(now, days=None, start='00:00', end='24:00', tz='UTC'):
    window = mw.parse(days=days, start=start, end=end, timezone=tz)
    return window.state(mw.parse_now(now, window.tz))['open']


# Inside and outside

def test_outside_says_when_it_opens():
    result = check('2026-11-30T14:03:12+01:00', days=WEEKDAYS, start='02:00', end='05:00', tz=BERLIN)
    assert result == {
        'open': False, 'now': '2026-11-30T14:03:12+01:00', 'opens': '2026-12-01T02:00:00+01:00', 'closes': None,
        'window': {'days': WEEKDAYS, 'start': '02:00', 'end': '05:00', 'timezone': BERLIN, 'overnight': False},
        'msg': 'outside the maintenance window mon-fri 02:00-05:00 Europe/Berlin: opens 2026-12-01T02:00:00+01:00'}


def test_inside_says_when_it_closes():
    result = check('2026-12-01T03:15:00+01:00', days=WEEKDAYS, start='02:00', end='05:00', tz=BERLIN)
    assert (result['open'], result['closes'], result['opens']) == (True, '2026-12-01T05:00:00+01:00', None)
    assert result['msg'] == 'inside the maintenance window mon-fri 02:00-05:00 Europe/Berlin: closes 2026-12-01T05:00:00+01:00'


@pytest.mark.parametrize('now, expected', [
    ('2026-12-01T01:59:59', False),
    ('2026-12-01T02:00:00', True),  # the start belongs to the window
    ('2026-12-01T04:59:59', True),
    ('2026-12-01T05:00:00', False),  # the end does not
    ('2026-12-05T03:00:00', False),  # Saturday
])
def test_start_is_inside_and_end_outside(now, expected):
    assert is_open(now, days=WEEKDAYS, start='02:00', end='05:00', tz=BERLIN) is expected


def test_the_next_opening_skips_days_not_in_the_window():
    result = check('2026-12-04T05:00:00', days=WEEKDAYS, start='02:00', end='05:00', tz=BERLIN)  # Friday, just closed
    assert result['opens'] == '2026-12-07T02:00:00+01:00'  # Monday


def test_now_is_given_back_in_the_window_s_timezone():
    result = check('2026-12-01T01:00:00Z', days=WEEKDAYS, start='02:00', end='05:00', tz=BERLIN)
    assert result['now'] == '2026-12-01T02:00:00+01:00' and result['open'] is True


def test_a_time_zone_moves_the_window():
    # 02:00 in New York is 08:00 in Berlin in December.
    assert is_open('2026-12-01T08:30:00+01:00', days=['tue'], start='02:00', end='03:00', tz='America/New_York')
    assert not is_open('2026-12-01T02:30:00+01:00', days=['tue'], start='02:00', end='03:00', tz='America/New_York')


def test_the_defaults_are_always_open():
    result = check('2026-12-01T12:00:00Z')
    assert (result['open'], result['closes'], result['opens']) == (True, None, None)
    assert result['msg'] == 'inside the maintenance window mon-sun 00:00-24:00 UTC: it never closes'


def test_whole_days_that_meet_close_at_the_end_of_the_last():
    result = check('2026-11-30T10:00:00Z', days=['mon', 'tue', 'thu'])
    assert result['closes'] == '2026-12-02T00:00:00+00:00'
    assert check('2026-12-02T00:00:00Z', days=['mon', 'tue', 'thu'])['opens'] == '2026-12-03T00:00:00+00:00'


# Over midnight: the window belongs to the day it starts

FRIDAY_NIGHT = dict(start='22:00', end='02:00', tz=BERLIN)


@pytest.mark.parametrize('days, now, expected', [
    (['fri'], '2026-12-04T21:59:59', False),
    (['fri'], '2026-12-04T22:00:00', True),
    (['fri'], '2026-12-05T01:00:00', True),  # Saturday 01:00: Friday's window, Saturday need not be a day
    (['fri'], '2026-12-05T02:00:00', False),
    (['fri'], '2026-12-04T01:00:00', False),  # Friday 01:00 belongs to Thursday's window
    (['fri'], '2026-12-06T01:00:00', False),  # Sunday 01:00 belongs to Saturday's window
    (['fri', 'sun'], '2026-12-06T01:00:00', False),  # Sunday's window starts Sunday 22:00
    (['fri', 'sun'], '2026-12-06T22:30:00', True),
    (['fri', 'sat'], '2026-12-06T01:00:00', True),  # Saturday's window runs into Sunday
    (['fri', 'sat'], '2026-12-05T23:00:00', True),
    (['fri'], '2026-12-05T23:00:00', False),
    (['sun'], '2026-12-07T01:00:00', True),  # Sunday's window runs into Monday, over the end of the week
])
def test_over_midnight(days, now, expected):
    assert is_open(now, days=days, **FRIDAY_NIGHT) is expected


def test_over_midnight_opens_and_closes():
    closed = check('2026-12-05T02:00:00', days=['fri'], **FRIDAY_NIGHT)
    assert closed['opens'] == '2026-12-11T22:00:00+01:00' and closed['window']['overnight'] is True
    assert check('2026-12-04T23:00:00', days=['fri'], **FRIDAY_NIGHT)['closes'] == '2026-12-05T02:00:00+01:00'


def test_an_end_at_midnight_runs_to_the_end_of_the_day():
    for end in ('00:00', '24:00'):
        assert check('2026-12-04T23:59:00Z', days=['fri'], start='22:00', end=end)['closes'] == '2026-12-05T00:00:00+00:00'
        assert not is_open('2026-12-05T00:00:00Z', days=['fri'], start='22:00', end=end)


# Summer time in Europe/Berlin

def test_spring_a_start_the_clocks_skip_is_the_moment_they_skip_it():
    window = dict(days=['sun'], start='02:00', end='05:00', tz=BERLIN)
    assert check(SPRING + 'T01:59:00', **window)['opens'] == SPRING + 'T03:00:00+02:00'
    inside = check(SPRING + 'T03:00:00+02:00', **window)
    assert (inside['open'], inside['closes']) == (True, SPRING + 'T05:00:00+02:00')  # two hours long that day
    assert not is_open(SPRING + 'T01:59:59+01:00', **window)
    assert check(SPRING + 'T01:00:00', days=['sun'], start='02:30', end='05:00', tz=BERLIN)['opens'] == SPRING + 'T03:00:00+02:00'


def test_spring_an_end_the_clocks_skip_closes_when_they_skip_it():
    result = check(SPRING + 'T01:30:00', days=['sun'], start='01:00', end='02:30', tz=BERLIN)
    assert result['closes'] == SPRING + 'T03:00:00+02:00'
    assert not is_open(SPRING + 'T03:00:00+02:00', days=['sun'], start='01:00', end='02:30', tz=BERLIN)


def test_spring_a_window_inside_the_skipped_hour_does_not_open_that_day():
    result = check(SPRING + 'T00:00:00', days=['sun'], start='02:10', end='02:50', tz=BERLIN)
    assert result['opens'] == '2026-04-05T02:10:00+02:00'


def test_spring_overnight_windows_the_skipped_gap_joins_are_one():
    # 03:00-02:00 every day leaves a gap 02:00-03:00, which the clocks skip on 29 March.
    result = check('2026-03-28T23:00:00', start='03:00', end='02:00', tz=BERLIN)
    assert result['closes'] == '2026-03-30T02:00:00+02:00'


def test_autumn_a_time_shown_twice_is_its_first_occurrence():
    window = dict(days=['sun'], start='02:00', end='05:00', tz=BERLIN)
    assert check(AUTUMN + 'T01:00:00', **window)['opens'] == AUTUMN + 'T02:00:00+02:00'
    second_pass = check(AUTUMN + 'T02:30:00+01:00', **window)  # four hours long that day
    assert (second_pass['open'], second_pass['closes']) == (True, AUTUMN + 'T05:00:00+01:00')
    assert is_open(AUTUMN + 'T02:00:00+02:00', **window)


def test_autumn_a_window_ends_at_the_first_of_two_equal_times():
    window = dict(days=['sun'], start='01:00', end='02:30', tz=BERLIN)
    assert check(AUTUMN + 'T02:00:00+02:00', **window)['closes'] == AUTUMN + 'T02:30:00+02:00'
    again = check(AUTUMN + 'T02:15:00+01:00', **window)  # 02:15 once more: the window closed at the first 02:30
    assert (again['open'], again['opens']) == (False, '2026-11-01T01:00:00+01:00')


def test_a_now_without_offset_is_a_wall_time_in_the_window_s_zone():
    assert check(SPRING + 'T02:30:00', tz=BERLIN)['now'] == SPRING + 'T03:00:00+02:00'  # skipped: when they skip it
    assert check(AUTUMN + 'T02:30:00', tz=BERLIN)['now'] == AUTUMN + 'T02:30:00+02:00'  # twice: the first


@pytest.mark.parametrize('wall, utc', [
    ('2026-03-29T01:59:00', '2026-03-29T00:59:00+00:00'),
    ('2026-03-29T02:00:00', '2026-03-29T01:00:00+00:00'),
    ('2026-03-29T02:59:00', '2026-03-29T01:00:00+00:00'),
    ('2026-03-29T03:00:00', '2026-03-29T01:00:00+00:00'),
    ('2026-10-25T02:30:00', '2026-10-25T00:30:00+00:00'),
    ('2026-10-25T03:00:00', '2026-10-25T02:00:00+00:00'),
])
def test_wall_to_instant(wall, utc):
    from zoneinfo import ZoneInfo  # pylint: disable=import-outside-toplevel
    assert mw.wall_to_instant(datetime.fromisoformat(wall), ZoneInfo(BERLIN)).isoformat() == utc


WINDOWS = [
    dict(days=WEEKDAYS, start='02:00', end='05:00', tz=BERLIN),
    dict(days=['fri', 'sun'], start='22:00', end='02:00', tz=BERLIN),
    dict(days=['sat', 'sun'], start='00:00', end='24:00', tz=BERLIN),
    dict(days=['sun', 'mon'], start='02:30', end='02:45', tz=BERLIN),
    dict(days=None, start='03:00', end='02:00', tz=BERLIN),
    dict(days=['tue'], start='23:30', end='00:30', tz='America/New_York'),
]


@pytest.mark.parametrize('week', ['2026-03-23', '2026-10-19', '2026-11-30'])
@pytest.mark.parametrize('spec', WINDOWS, ids=lambda spec: '%s %s-%s' % (spec['days'], spec['start'], spec['end']))
def test_opens_and_closes_agree_with_open_minute_by_minute(spec, week):
    """Every 10 minutes through a week: the state agrees with the wall clock, and opens/closes are where it flips."""
    window = mw.parse(days=spec['days'], start=spec['start'], end=spec['end'], timezone=spec['tz'])
    first = mw.parse_now(week + 'T00:00:00', window.tz)
    second = timedelta(seconds=1)
    for step in range(7 * 24 * 6):
        now = first + timedelta(minutes=10 * step)
        state = window.state(now)
        wall = now.astimezone(window.tz)
        if wall.fold == 0 and wall.replace(fold=1).utcoffset() == wall.utcoffset():  # not a time shown twice
            assert state['open'] is by_the_wall_clock(window, wall), wall
        if state['open']:
            assert window.state(state['closes'] - second)['open'] and not window.state(state['closes'])['open']
        else:
            assert window.state(state['opens'])['open'] and not window.state(state['opens'] - second)['open']


def by_the_wall_clock(window, wall):
    """The rule without summer time: today's window, or yesterday's running over midnight."""
    minutes = wall.hour * 60 + wall.minute
    today, yesterday = wall.weekday(), (wall.weekday() - 1) % 7
    if not window.overnight:
        return today in window.days and window.start <= minutes < window.end
    return (today in window.days and minutes >= window.start) or (yesterday in window.days and minutes < window.end)


# Reading the options

@pytest.mark.parametrize('days, expected', [
    (['mon'], 'mon'),
    (['Monday', 'TUE', ' wed '], 'mon-wed'),
    (['sun', 'sat', 'sat'], 'sat,sun'),
    (['mon', 'wed', 'fri', 'sat', 'sun'], 'mon,wed,fri-sun'),
    (None, 'mon-sun'),
])
def test_days_in_any_case_and_order(days, expected):
    assert mw.describe_days(mw.parse_days(days)) == expected


def test_now_as_a_datetime_or_a_date():
    window = mw.parse(timezone=BERLIN)
    assert mw.parse_now(datetime(2026, 12, 1, 1, tzinfo=timezone.utc), window.tz).isoformat() == '2026-12-01T01:00:00+00:00'
    assert mw.parse_now('2026-12-01', window.tz).isoformat() == '2026-11-30T23:00:00+00:00'
    assert mw.parse_now('2026-12-01 02:00:00+00:00', window.tz).isoformat() == '2026-12-01T02:00:00+00:00'


def test_none_is_the_default():
    assert mw.parse(days=None, start=None, end=None, timezone=None).describe() == 'mon-sun 00:00-24:00 UTC'


@pytest.mark.parametrize('now', ['0001-01-01T00:00:00', '9999-12-31T23:59:59+00:00'])
def test_now_at_the_ends_of_time(now):
    with pytest.raises(mw.WindowError, match=r"now: '%s' is out of range: give a year from 2 to 9998" % re.escape(now)):
        mw.parse_now(now, timezone.utc)
    assert check('0002-01-01T00:00:00', days=['sun'], start='01:00', end='02:00', tz=BERLIN)['opens']
    assert check('9998-12-31T23:59:59+00:00', days=['sun'], start='01:00', end='02:00', tz=BERLIN)['opens']


def test_utc_without_a_tz_database(monkeypatch):
    def no_database(name):
        raise mw.zoneinfo.ZoneInfoNotFoundError('No time zone found with key %s' % name)
    monkeypatch.setattr(mw.zoneinfo, 'ZoneInfo', no_database)
    monkeypatch.setattr(mw.zoneinfo, 'available_timezones', set)
    assert check('2026-12-01T12:00:00Z', start='12:00', end='13:00')['closes'] == '2026-12-01T13:00:00+00:00'
    with pytest.raises(mw.WindowError, match="unknown time zone 'Europe/Berlin'.*no tz database: install"):
        mw.parse(timezone=BERLIN)


# Bad input: the message names the value and the fix

BAD = {
    'unknown day': (dict(days=['mon', 'funday']), "days: unknown day 'funday': give day names: mon, tue, wed, thu, "
                                                  "fri, sat, sun (or monday ... sunday), in any case"),
    'abbreviation': (dict(days=['mo']), "days: unknown day 'mo': give day names"),
    'number for a day': (dict(days=[1]), "days: unknown day 1: give day names"),
    'day range': (dict(days=['mon-fri']), "days: unknown day 'mon-fri': give day names: mon, tue, wed, thu, fri, sat, "
                                          "sun (or monday ... sunday), in any case; list each day of a range: "
                                          "[mon, tue, wed, thu, fri]"),
    'no days': (dict(days=[]), 'days is empty: give at least one day, or leave days out for every day'),
    'hour 25': (dict(start='25:00'), "start: '25:00' is not a time of day: hours run from 00 to 23 (and '24:00' only "
                                     "as an end)"),
    'end hour 25': (dict(end='25:00'), "end: '25:00' is not a time of day: hours run from 00 to 23 (and '24:00' for "
                                       "the end of the day)"),
    'one digit': (dict(start='2:5'), "start: '2:5' is not HH:MM (24-hour clock): write hours and minutes with two "
                                     "digits each: '02:05'"),
    'seconds': (dict(end='05:00:00'), "end: '05:00:00' is not HH:MM (24-hour clock): write hours and minutes with two "
                                      "digits each, like '02:05'"),
    'words': (dict(start='noon'), "start: 'noon' is not HH:MM"),
    'minute 60': (dict(start='12:60'), "start: '12:60' is not a time of day: minutes run from 00 to 59"),
    'start 24:00': (dict(start='24:00'), "start: '24:00' is the end of a day, not a start: start at '00:00' instead"),
    'end 24:30': (dict(end='24:30'), "end: '24:30' is not a time of day: hours run from 00 to 23"),
    'YAML base 60': (dict(start=1320), 'start is the number 1320, not a time of day: YAML reads an unquoted 22:00 as '
                                       'the number 1320 (base 60); quote it: start: "22:00"'),
    'YAML base 60 end': (dict(end=300), 'end is the number 300, not a time of day: YAML reads an unquoted 5:00 as '
                                        'the number 300 (base 60); quote it: end: "05:00"'),
    'YAML number': (dict(end=2500), 'end is the number 2500, not a time of day: write it as "HH:MM"'),
    'small number': (dict(start=5), 'start is the number 5, not a time of day: write it as "HH:MM"'),
    'not a string': (dict(end=['05:00']), "end: ['05:00'] is not a time of day: write it as \"HH:MM\""),
    'start equals end': (dict(start='02:00', end='02:00'), "start and end are both '02:00': a window ends after its "
                                                           "start, or before it to run over midnight; for the whole "
                                                           "day leave both out (00:00-24:00)"),
    'midnight to midnight': (dict(start='00:00', end='00:00'), "start and end are both '00:00'"),
    'unknown timezone': (dict(timezone='Europe/Berlinn'), "timezone: unknown time zone 'Europe/Berlinn': give an IANA "
                                                          "name such as \"Europe/Berlin\" or \"UTC\" (did you mean "
                                                          "'Europe/Berlin'?)"),
    'timezone case': (dict(timezone='europe/berlin'), "unknown time zone 'europe/berlin'.*did you mean 'Europe/Berlin'"),
    'timezone path': (dict(timezone='../../etc/passwd'), "timezone: unknown time zone '../../etc/passwd': give an IANA"),
    'abbreviated timezone': (dict(timezone='CEST'), "timezone: unknown time zone 'CEST'"),
    'empty timezone': (dict(timezone=''), "timezone: '' is not a time zone: give an IANA name"),
}


@pytest.mark.parametrize('args, message', BAD.values(), ids=BAD.keys())
def test_bad_window(args, message):
    with pytest.raises(mw.WindowError) as error:
        mw.parse(**args)
    if '.*' in message:
        assert re.search(message, str(error.value)), str(error.value)
    else:
        assert str(error.value).startswith(message), str(error.value)


def test_a_range_over_the_end_of_the_week_gets_no_list():
    with pytest.raises(mw.WindowError) as error:
        mw.parse(days=['fri-mon'])
    assert str(error.value) == ("days: unknown day 'fri-mon': give day names: mon, tue, wed, thu, fri, sat, sun "
                                "(or monday ... sunday), in any case")


@pytest.mark.parametrize('now', ['tomorrow', '2026-13-01T00:00:00', '2026-12-01T25:00:00', '01.12.2026 02:00', '',
                                 1764554400])
def test_bad_now(now):
    with pytest.raises(mw.WindowError) as error:
        mw.parse_now(now, timezone.utc)
    assert str(error.value) == ("now: %r is not an ISO 8601 timestamp: write it like '2026-12-01T02:00:00+01:00' or "
                                "'2026-12-01T01:00:00Z' (without an offset it is read as a time in the window's "
                                "timezone)" % (now,))
