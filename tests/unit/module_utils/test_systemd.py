# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd.py against outputs of real systemd 262.1 and 252 binaries (see fixtures/systemd/README.md)."""
from __future__ import annotations

import calendar
import pathlib

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import systemd

FIXTURES = pathlib.Path(__file__).parent / 'fixtures' / 'systemd'


def fixture(name):
    return (FIXTURES / name).read_text()


class Runner:
    """run(argv) -> (rc, out, err) from a table of expected command lines; records the calls."""

    def __init__(self, answers):
        self.answers = {tuple(argv): answer for argv, answer in answers}
        self.calls = []

    def __call__(self, argv):
        self.calls.append(list(argv))
        assert tuple(argv) in self.answers, 'unexpected command %r' % (argv,)
        return self.answers[tuple(argv)]


SHOW_ARGV = ['systemctl', 'show', '--timestamp=us+utc', '--property=' + ','.join(systemd.MANAGER_PROPERTIES)]


# Versions

@pytest.mark.parametrize('name, version', [
    ('systemctl-version-262.txt', 262),
    ('systemctl-version-252.txt', 252),
])
def test_parse_version_real_outputs(name, version):
    assert systemd.parse_version(fixture(name)) == version


@pytest.mark.parametrize('text, version', [
    ('systemd 257.9\n', 257),
    ('systemd 257 (257.9-1~deb13u1)\n+PAM\n', 257),
    ('  systemd 261~rc2 (261~rc2-1)\n', 261),
    ('warning: something\nsystemd 262 (262.1-1)\n', 262),
])
def test_parse_version_styles(text, version):
    assert systemd.parse_version(text) == version


@pytest.mark.parametrize('text', ['', 'systemd\n', 'elogind 255\n', 'systemd version 262\n', None])
def test_parse_version_rejects(text):
    with pytest.raises(ValueError, match='systemctl --version'):
        systemd.parse_version(text)


def test_systemd_version_runs_systemctl():
    run = Runner([(['systemctl', '--version'], (0, fixture('systemctl-version-262.txt'), ''))])
    assert systemd.systemd_version(run) == 262
    assert run.calls == [['systemctl', '--version']]


def test_systemd_version_command_fails():
    run = Runner([(['systemctl', '--version'], (127, '', 'systemctl: command not found\n'))])
    with pytest.raises(systemd.SystemdError) as caught:
        systemd.systemd_version(run)
    assert str(caught.value) == '`systemctl --version` failed with exit code 127: systemctl: command not found'
    assert caught.value.rc == 127
    assert caught.value.argv == ['systemctl', '--version']
    assert caught.value.stderr == 'systemctl: command not found\n'


def test_systemd_version_unreadable_output():
    run = Runner([(['systemctl', '--version'], (0, 'hello\n', ''))])
    with pytest.raises(systemd.SystemdError, match=r"`systemctl --version`: no \"systemd <version>\" line in 'hello\\n'"):
        systemd.systemd_version(run)


@pytest.mark.parametrize('version, preserve, session, timestamps', [
    (252, False, False, False),
    (260, False, False, False),
    (261, True, False, False),
    (262, True, True, True),
    (263, True, True, True),
])
def test_version_gates(version, preserve, session, timestamps):
    assert systemd.supports_fdstore_preserve(version) is preserve
    assert systemd.supports_luo_session(version) is session
    assert systemd.supports_kexec_timestamps(version) is timestamps
    assert (systemd.FDSTORE_PRESERVE_MIN, systemd.LUO_SESSION_MIN, systemd.KEXEC_TIMESTAMPS_MIN) == (261, 262, 262)


def test_command_output_uses_stdout_when_stderr_is_empty():
    run = Runner([(['false'], (1, 'only stdout\n', ''))])
    with pytest.raises(systemd.SystemdError, match='`false` failed with exit code 1: only stdout'):
        systemd.command_output(run, ['false'])
    run = Runner([(['false'], (1, '', ''))])
    with pytest.raises(systemd.SystemdError, match='exit code 1: no output'):
        systemd.command_output(run, ['false'])


# systemctl show

def test_parse_show_real_output_keeps_empty_values():
    props = systemd.parse_show(fixture('show-user-manager-cold-262.txt'))
    assert props['KExecCount'] == '0'
    assert props['KernelTimestamp'] == ''
    assert props['UserspaceTimestampMonotonic'] == '529604431'
    assert props['PreviousShutdownLateFinishTimestampMonotonic'] == '0'
    assert 'NoSuchProperty' not in props
    assert set(props) == set(systemd.MANAGER_PROPERTIES)


def test_parse_show_values_with_equals_and_noise():
    text = 'Environment=A=1 B=2\n\nnot a property line\nExecStart={ path=/bin/true ; argv[]=/bin/true }\n'
    assert systemd.parse_show(text) == {
        'Environment': 'A=1 B=2',
        'ExecStart': '{ path=/bin/true ; argv[]=/bin/true }',
    }
    assert systemd.parse_show('') == {}
    assert systemd.parse_show(None) == {}


def test_show_manager_asks_for_usec_utc_timestamps():
    run = Runner([(SHOW_ARGV, (0, fixture('show-manager-after-live-update-262.txt'), ''))])
    props = systemd.show_manager(run)
    assert run.calls == [SHOW_ARGV]
    assert props['PreviousShutdownStartTimestamp'] == 'Thu 2026-11-26 10:15:42.101234 UTC'


def test_show_manager_without_timestamp_style():
    argv = ['systemctl', 'show', '--property=KExecCount,FinishTimestamp']
    run = Runner([(argv, (0, 'FinishTimestamp=Fri 2026-11-27 15:13:14 UTC\nKExecCount=0\n', ''))])
    assert systemd.show_manager(run, ('KExecCount', 'FinishTimestamp'), timestamp_style=None) == {
        'FinishTimestamp': 'Fri 2026-11-27 15:13:14 UTC', 'KExecCount': '0'}


def test_show_manager_fails_with_stderr():
    stderr = ('System has not been booted with systemd as init system (PID 1). Can\'t operate.\n'
              'Failed to connect to system scope bus via local transport: Host is down\n')
    run = Runner([(SHOW_ARGV, (1, '', stderr))])
    with pytest.raises(systemd.SystemdError) as caught:
        systemd.show_manager(run)
    message = str(caught.value)
    assert message.startswith('`systemctl show --timestamp=us+utc --property=KExecCount,')
    assert 'exit code 1: System has not been booted with systemd' in message
    assert 'Host is down' in message


# Timestamps

def usec(*fields):
    """usec since the epoch of a UTC (Y, M, D, h, m, s, usec)."""
    return calendar.timegm(fields[:6] + (0, 0, 0)) * 1000000 + fields[6]


@pytest.mark.parametrize('value, expected', [
    ('Thu 2026-11-26 10:15:42.101234 UTC', usec(2026, 11, 26, 10, 15, 42, 101234)),
    ('Fri 2026-11-27 15:13:14 UTC', usec(2026, 11, 27, 15, 13, 14, 0)),
    ('Fr 2026-11-27 15:13:14.5 UTC', usec(2026, 11, 27, 15, 13, 14, 500000)),
    ('2026-11-27 15:13:14.000001 UTC', usec(2026, 11, 27, 15, 13, 14, 1)),
    ('@1795792394', 1795792394000000),
    ('@1795256142.101234', 1795256142101234),
    ('1795688142101234', 1795688142101234),
    (' 42 ', 42),
    ('', None), ('n/a', None), ('0', None), ('[not set]', None), (None, None), ('  ', None),
])
def test_parse_realtime(value, expected):
    assert systemd.parse_realtime(value) == expected


@pytest.mark.parametrize('value', [
    'Fri 2026-11-27 16:13:23.148838 CET',  # a local zone: real output of --timestamp=us with TZ=Europe/Berlin
    'yesterday', '@-5', '12:00', '2026-11-27T15:13:14Z',
])
def test_parse_realtime_refuses_local_and_unknown(value):
    with pytest.raises(ValueError, match='--timestamp=us\\+utc'):
        systemd.parse_realtime(value)


@pytest.mark.parametrize('value, expected', [
    ('520990648', 520990648), ('0', None), ('', None), ('n/a', None), (None, None),
])
def test_parse_usec(value, expected):
    assert systemd.parse_usec(value) == expected


@pytest.mark.parametrize('value', ['-1', '1.5', 'Thu 2026-11-26 10:15:42 UTC'])
def test_parse_usec_rejects(value):
    with pytest.raises(ValueError, match='is not a number of microseconds'):
        systemd.parse_usec(value)


@pytest.mark.parametrize('value, expected', [('0', 0), ('3', 3), ('', None), (None, None), ('n/a', None)])
def test_parse_count(value, expected):
    assert systemd.parse_count(value) == expected


def test_parse_count_rejects():
    with pytest.raises(ValueError, match="'-1' is not a non-negative count"):
        systemd.parse_count('-1')


def test_kernel_start_from_uptime():
    assert systemd.kernel_start_from_uptime('12.34 40.00\n', 1795688155738765) == 1795688143398765


@pytest.mark.parametrize('text', ['', 'abc def', None])
def test_kernel_start_from_uptime_rejects(text):
    with pytest.raises(ValueError, match='/proc/uptime holds'):
        systemd.kernel_start_from_uptime(text, 0)


def test_kernel_start_from_real_proc_uptime():
    uptime = pathlib.Path('/proc/uptime').read_text()
    start = systemd.kernel_start_from_uptime(uptime, 10 ** 16)
    assert 0 < 10 ** 16 - start == pytest.approx(float(uptime.split()[0]) * 1e6, abs=1)


# Phases

AFTER_PHASES = {
    'stopping': 655.556,
    'exit': 44.444,
    'systemd_shutdown': 253.087,
    'kexec': 344.444,
    'kernel': 1234.567,
    'initrd': None,
    'userspace': 2222.222,
    'total': 4754.32,
}


def test_live_update_phases_after_a_live_update():
    props = systemd.parse_show(fixture('show-manager-after-live-update-262.txt'))
    assert systemd.live_update_phases(props) == AFTER_PHASES


def test_live_update_phases_realtime_marks_agree_with_monotonic_ones():
    # The fixture was written so that the previous boot's two clocks tell the same story.
    props = systemd.parse_show(fixture('show-manager-after-live-update-262.txt'))
    for name in systemd.PREVIOUS_SHUTDOWN:
        realtime = systemd.parse_realtime(props[name + 'Timestamp'])
        monotonic = systemd.parse_usec(props[name + 'TimestampMonotonic'])
        assert realtime - monotonic == 1795688142101234 - 512345678


def test_live_update_phases_cold_boot_of_a_user_manager():
    props = systemd.parse_show(fixture('show-user-manager-cold-262.txt'))
    assert systemd.live_update_phases(props) == {
        'stopping': None, 'exit': None, 'systemd_shutdown': None, 'kexec': None,
        'kernel': 529604.431, 'initrd': None, 'userspace': 74.449, 'total': None,
    }


def test_live_update_phases_systemd_252_has_no_previous_shutdown():
    props = systemd.parse_show(fixture('show-user-manager-252.txt'))
    phases = systemd.live_update_phases(props)
    assert phases['stopping'] is None and phases['kexec'] is None and phases['total'] is None
    assert phases['userspace'] == 78.362


def test_live_update_phases_kernel_start_fallback():
    props = systemd.parse_show(fixture('show-manager-after-live-update-262.txt'))
    props['KernelTimestamp'] = ''
    assert systemd.live_update_phases(props)['kexec'] is None
    phases = systemd.live_update_phases(props, kernel_start_usec=1795688143054321 + 500000)
    assert phases['kexec'] == 500.0
    assert phases['total'] == round(AFTER_PHASES['total'] - 344.444 + 500.0, 3)
    # KernelTimestamp wins over the fallback when systemd has it.
    props['KernelTimestamp'] = 'Thu 2026-11-26 10:15:43.398765 UTC'
    assert systemd.live_update_phases(props, kernel_start_usec=1)['kexec'] == 344.444


def test_live_update_phases_with_initrd():
    props = systemd.parse_show(fixture('show-manager-after-live-update-262.txt'))
    props['InitRDTimestampMonotonic'] = '734567'
    phases = systemd.live_update_phases(props)
    assert (phases['kernel'], phases['initrd'], phases['userspace']) == (734.567, 500.0, 2222.222)
    assert phases['total'] == AFTER_PHASES['total']


def test_live_update_phases_clock_running_backwards_is_unknown():
    props = systemd.parse_show(fixture('show-manager-after-live-update-262.txt'))
    # A new kernel whose wall clock starts before the old one's kexec() (e.g. an RTC behind NTP time).
    props['KernelTimestamp'] = 'Thu 2026-11-26 10:15:42.000000 UTC'
    phases = systemd.live_update_phases(props)
    assert phases['kexec'] is None and phases['total'] is None
    assert phases['stopping'] == 655.556


def test_live_update_phases_boot_not_finished():
    props = systemd.parse_show(fixture('show-manager-after-live-update-262.txt'))
    props['FinishTimestampMonotonic'] = '0'
    phases = systemd.live_update_phases(props)
    assert phases['userspace'] is None and phases['total'] is None


def test_live_update_phases_rejects_unreadable_values():
    props = systemd.parse_show(fixture('show-manager-after-live-update-262.txt'))
    props['PreviousShutdownLateFinishTimestamp'] = 'Thu 2026-11-26 11:15:43 CET'
    with pytest.raises(ValueError, match="'Thu 2026-11-26 11:15:43 CET'"):
        systemd.live_update_phases(props)


def test_phase_names_are_ordered_and_complete():
    props = systemd.parse_show(fixture('show-manager-after-live-update-262.txt'))
    assert list(systemd.live_update_phases(props)) == list(systemd.PHASES) + ['total']


def test_live_update_facts():
    run = Runner([(SHOW_ARGV, (0, fixture('show-manager-after-live-update-262.txt'), ''))])
    assert systemd.live_update_facts(run) == {
        'kexec_count': 1,
        'previous_shutdown_usec': {
            'start': 1795688142101234,
            'finish': 1795688142756790,
            'latestart': 1795688142801234,
            'latefinish': 1795688143054321,
        },
        'phases': AFTER_PHASES,
    }


def test_live_update_facts_on_systemd_252():
    run = Runner([(SHOW_ARGV, (0, fixture('show-user-manager-252.txt'), ''))])
    facts = systemd.live_update_facts(run, kernel_start_usec=123)
    assert facts['kexec_count'] is None
    assert facts['previous_shutdown_usec'] == {'start': None, 'finish': None, 'latestart': None, 'latefinish': None}


def test_live_update_facts_cold_262_counts_zero():
    run = Runner([(SHOW_ARGV, (0, fixture('show-user-manager-cold-262.txt'), ''))])
    assert systemd.live_update_facts(run)['kexec_count'] == 0


# Unit names and fd stores

def test_parse_fdstore_names_real_memfds():
    assert systemd.parse_fdstore_names(fixture('fdstore-memfds-262.json')) == ['cache', 'state']


def test_parse_fdstore_names_sockets_and_duplicate_names():
    assert systemd.parse_fdstore_names(fixture('fdstore-journald-sockets-262.json')) == ['stored', 'stored', 'stored']


def test_parse_fdstore_names_empty_store():
    assert systemd.parse_fdstore_names(fixture('fdstore-empty-262.json')) == []


def test_parse_fdstore_names_sorted():
    assert systemd.parse_fdstore_names('[{"fdname": "b"}, {"fdname": "a"}, {"fdname": "c"}]') == ['a', 'b', 'c']


@pytest.mark.parametrize('text, message', [
    ('No file descriptors in fdstore of \'luo-empty.service\'.\n', 'is not JSON'),
    ('', 'is not JSON'),
    ('{"fdname": "x"}', 'is a dict, not a JSON array'),
    ('[{"type": 1}]', 'has no fdname'),
    ('["stored"]', 'has no fdname'),
])
def test_parse_fdstore_names_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        systemd.parse_fdstore_names(text)


@pytest.mark.parametrize('unit', ['', ' ', '--all', 'two words.service', None, 5, 'demo', 'demo.service\n'])
def test_validate_unit_rejects(unit):
    with pytest.raises(ValueError, match='unit name .* is not valid'):
        systemd.validate_unit(unit)


@pytest.mark.parametrize('unit', ['luo-state@redis.service', 'demo.socket', 'sys-kernel-debug.mount'])
def test_validate_unit_accepts(unit):
    assert systemd.validate_unit(unit) == unit
