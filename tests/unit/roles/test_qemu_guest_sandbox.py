# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sandbox of luo-qemu-guest@NAME.service: the unit template, the per-guest drop-in rendered by Ansible's
templar, and what this machine's systemd-analyze says about both (offline, in a scratch root)."""
from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = pathlib.Path(__file__).resolve().parents[3] / 'roles' / 'qemu_guest'
UNIT = ROLE / 'files' / 'luo-qemu-guest@.service'
DROP_IN = ROLE / 'templates' / 'guest.conf.j2'
MAX_EXPOSURE = 4.0
GUEST = {'luo_qemu_guest_name': 'demo', 'luo_qemu_guest_fdstore_max': 4, 'luo_qemu_guest_start_timeout': 60,
         'luo_qemu_guest_save_timeout': 60, 'luo_qemu_guest_user': 'luo-qemu', 'luo_qemu_guest_group': 'luo-qemu',
         'luo_qemu_guest_accel': 'tcg', 'luo_qemu_guest_network': 'none', 'luo_qemu_guest_disks': [],
         'luo_qemu_guest_kvm_group': ''}


def render_drop_in(**changes):
    variables = dict(GUEST, ansible_managed='managed')
    variables.update(('luo_qemu_guest_' + key, value) for key, value in changes.items())
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(DROP_IN.read_text()))


def settings(text):
    """{key: [values]} of the key=value lines of a unit file, in order."""
    found = {}
    for line in text.splitlines():
        if '=' in line and not line.startswith('#'):
            key, value = line.split('=', 1)
            found.setdefault(key, []).append(value)
    return found


def test_unit_template_drops_every_privilege():
    unit = settings(UNIT.read_text())
    for key, value in [('CapabilityBoundingSet', ''), ('AmbientCapabilities', ''), ('NoNewPrivileges', 'yes'),
                       ('ProtectSystem', 'strict'), ('ProtectHome', 'yes'), ('PrivateTmp', 'yes'),
                       ('PrivateDevices', 'yes'), ('DevicePolicy', 'closed'), ('PrivateNetwork', 'yes'),
                       ('RestrictAddressFamilies', 'AF_UNIX'), ('IPAddressDeny', 'any'), ('UMask', '0077'),
                       ('SystemCallFilter', '@system-service'), ('SystemCallArchitectures', 'native'),
                       ('RestrictNamespaces', 'yes'), ('RestrictSUIDSGID', 'yes'), ('LockPersonality', 'yes')]:
        assert unit[key] == [value], key
    # Writable: the runtime, state and log directories only; the drop-in adds the disk images.
    assert unit['RuntimeDirectory'] == ['luo-qemu-guest/%i'] and unit['StateDirectory'] == ['luo-qemu-guest/%i']
    assert unit['LogsDirectory'] == ['luo-qemu-guest'] and 'ReadWritePaths' not in unit


def test_unit_template_leaves_write_execute_memory_to_tcg_and_says_why():
    text = UNIT.read_text()
    assert settings(text)['MemoryDenyWriteExecute'] == ['no']
    assert re.search(r'#.*TCG.*\n#.*MemoryDenyWriteExecute=yes would kill every tcg guest', text)


def test_drop_in_for_a_tcg_guest_without_network_adds_only_the_user():
    drop_in = settings(render_drop_in())
    assert drop_in['User'] == ['luo-qemu'] and drop_in['Group'] == ['luo-qemu']
    assert drop_in['FileDescriptorStoreMax'] == ['4'] and drop_in['FileDescriptorStorePreserve'] == ['yes']
    assert drop_in['TimeoutStartSec'] == ['120'] and drop_in['TimeoutStopSec'] == ['120']
    for key in ('PrivateDevices', 'DeviceAllow', 'SupplementaryGroups', 'PrivateNetwork', 'RestrictAddressFamilies',
                'IPAddressDeny', 'ReadWritePaths'):
        assert key not in drop_in


def test_drop_in_for_kvm_opens_dev_kvm_only():
    drop_in = settings(render_drop_in(accel='kvm', kvm_group='kvm'))
    assert drop_in['PrivateDevices'] == ['no']
    assert drop_in['DeviceAllow'] == ['/dev/kvm rw']
    assert drop_in['SupplementaryGroups'] == ['kvm']
    assert 'PrivateNetwork' not in drop_in


def test_drop_in_for_user_networking_opens_inet_sockets():
    drop_in = settings(render_drop_in(network='user'))
    assert drop_in['PrivateNetwork'] == ['no'] and drop_in['IPAddressDeny'] == ['']
    assert drop_in['RestrictAddressFamilies'] == ['AF_UNIX AF_INET AF_INET6']
    assert 'DeviceAllow' not in drop_in


def test_drop_in_for_a_tap_device_opens_dev_net_tun_and_the_host_network():
    drop_in = settings(render_drop_in(network='tap', accel='kvm', kvm_group='kvm'))
    assert drop_in['PrivateDevices'] == ['no']
    assert drop_in['DeviceAllow'] == ['/dev/kvm rw', '/dev/net/tun rw']
    assert drop_in['PrivateNetwork'] == ['no'] and 'RestrictAddressFamilies' not in drop_in


def test_drop_in_lets_the_guest_write_its_disk_images_only():
    drop_in = settings(render_drop_in(disks=[{'path': '/srv/g/a.qcow2', 'format': 'qcow2'}, {'path': '/srv/g/b.img'}]))
    assert drop_in['ReadWritePaths'] == ['/srv/g/a.qcow2 /srv/g/b.img']


def offline_exposure(root, unit):
    """systemd-analyze's overall exposure of unit under root (offline), or skip when it cannot tell."""
    analyze = shutil.which('systemd-analyze')
    if analyze is None:
        pytest.skip('no systemd-analyze on this machine')
    proc = subprocess.run([analyze, 'security', '--offline=true', '--root=%s' % root, '--no-pager', unit],
                          capture_output=True, text=True, check=False)
    found = re.search(r'Overall exposure level for %s: ([0-9.]+)' % re.escape(unit), proc.stdout)
    if found is None:
        pytest.skip('systemd-analyze security --offline did not rate %s: %s' % (unit, proc.stderr.strip()))
    return float(found.group(1)), proc.stdout


@pytest.mark.parametrize('changes', [
    {},
    {'accel': 'kvm', 'kvm_group': 'kvm'},
    {'network': 'user', 'disks': [{'path': '/srv/g/a.qcow2'}]},
    {'network': 'tap', 'accel': 'kvm', 'kvm_group': 'kvm'},
], ids=['tcg', 'kvm', 'user-network-disk', 'kvm-tap'])
def test_systemd_analyze_rates_the_guest_unit_safe_enough(tmp_path, changes):
    units = tmp_path / 'etc' / 'systemd' / 'system'
    (units / 'luo-qemu-guest@demo.service.d').mkdir(parents=True)
    shutil.copy(UNIT, units / UNIT.name)
    (units / 'luo-qemu-guest@demo.service.d' / '50-luo-qemu-guest.conf').write_text(render_drop_in(**changes))
    exposure, report = offline_exposure(tmp_path, 'luo-qemu-guest@demo.service')
    assert exposure <= MAX_EXPOSURE, report
