# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After converge: the host runs 7.3.4 after one live update, and the nested guest resumed on its kept RAM."""
from __future__ import annotations

import json
import re

GUEST = 'demo'
UNIT = 'luo-qemu-guest@%s.service' % GUEST
SERIAL = '/var/log/luo-qemu-guest/%s.serial.log' % GUEST
# The role's default user for QEMU, and the most exposure systemd-analyze may find in the unit's sandbox.
GUEST_USER = 'luo-qemu'
MAX_EXPOSURE = 4.0


# The last whole guest line (QEMU writes the serial port byte by byte, so the last line may be half
# written), without the console's CR.
LAST_LINE = r'''{ sub(/\r$/, "") } /^token=[0-9a-f]+ counter=[0-9]+ boot_id=[0-9a-f-]+ uptime=[0-9]+[.][0-9][0-9]$/ { line = $0 } END { print line }'''


def last_guest_line(host):
    line = host.check_output("awk '%s' %s" % (LAST_LINE, SERIAL))
    return dict(field.split('=', 1) for field in line.split(' '))


def test_host_runs_the_new_kernel_after_one_live_update(host):
    assert host.check_output('uname -r') == '7.3.4'
    assert host.check_output('systemctl show --property=KExecCount --value') == '1'


def test_guest_unit_is_active_with_its_ram_in_the_fd_store(host):
    assert host.service(UNIT).is_running
    entries = json.loads(host.check_output('systemd-analyze fdstore %s --json=short' % UNIT))
    # After the resume the saved device state is dropped; only the RAM stays.
    assert [entry['fdname'] for entry in entries] == ['guest-ram']


def test_guest_resumed_across_the_host_reboot(host):
    record = json.loads(host.file('/var/lib/luo-qemu-guest/%s/last-start.json' % GUEST).content_string)
    assert record['mode'] == 'resumed'
    assert record['across_host_reboot'] is True
    assert record['kernel_at_pause'] == '7.2.13'
    assert record['kernel'] == '7.3.4'
    assert 0 < record['pause_to_resume_s'] < 900
    assert record['state_bytes'] < 16 * 1024 * 1024


def test_guest_kept_its_memory_and_did_not_reboot(host):
    before = json.loads(host.file('/root/hv-guest-before.json').content_string)
    now = last_guest_line(host)
    assert now['token'] == before['token']
    assert now['boot_id'] == before['boot_id']
    assert int(now['counter']) > int(before['counter'])
    assert float(now['uptime']) > float(before['uptime'])
    # The guest's init prints "guest up:" once per guest boot; the serial log is appended to across starts.
    assert host.check_output("grep -c '^guest up:' %s" % SERIAL) == '1'


def test_guest_runs_unprivileged(host):
    main_pid = host.check_output('systemctl show --property=MainPID --value %s' % UNIT)
    cgroup = host.check_output('systemctl show --property=ControlGroup --value %s' % UNIT)
    # The cgroup's name has an @: quoted, not left to the shell.
    pids = host.check_output('cat %s', '/sys/fs/cgroup%s/cgroup.procs' % cgroup).split()
    assert main_pid in pids
    processes = [line.split(None, 1) for line in host.check_output('ps -o user=,comm= -p %s' % ','.join(pids)).splitlines()]
    # The wrapper and QEMU, both as the guest's user.
    assert sorted(comm for _user, comm in processes) == ['python3', 'qemu-system-x86']
    assert {user for user, _comm in processes} == {GUEST_USER}


def test_guest_unit_starts_early_with_the_cpu_of_ten_services(host):
    """Its StartupCPUWeight=1000 counts against the other services (system.slice, not a slice of its own), and no
    PrivateTmp=yes orders it after systemd-tmpfiles-setup.service."""
    assert host.check_output('systemctl show --property=ControlGroup --value %s' % UNIT) == '/system.slice/%s' % UNIT
    assert host.check_output('systemctl show --property=StartupCPUWeight --value %s' % UNIT) == '1000'
    after = host.check_output('systemctl show --property=After --value %s' % UNIT).split()
    assert 'local-fs.target' in after and 'systemd-tmpfiles-setup.service' not in after, after


def test_guest_unit_sandbox_exposure_is_low(host):
    report = host.check_output('systemd-analyze security --no-pager %s' % UNIT)
    exposure = float(re.search(r'Overall exposure level for %s: ([0-9.]+)' % re.escape(UNIT), report).group(1))
    assert exposure <= MAX_EXPOSURE, report


def test_guest_files_belong_to_its_user(host):
    # QEMU created the serial log under UMask=0077; the configuration is readable by the guest's group only.
    serial = host.file(SERIAL)
    assert (serial.user, serial.mode) == (GUEST_USER, 0o600)
    config = host.file('/etc/luo-qemu-guest/%s.json' % GUEST)
    assert (config.user, config.group, config.mode) == ('root', GUEST_USER, 0o640)
