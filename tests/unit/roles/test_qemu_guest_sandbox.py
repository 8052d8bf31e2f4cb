# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sandbox of luo-qemu-guest@NAME.service: the unit template and the per-guest drop-in rendered by Ansible's
templar. What systemd-analyze says about both: tests/integration/roles/test_qemu_guest_systemd_analyze.py."""
from __future__ import annotations

import re

import pytest

from ansible_collections.luo.liveupdate.tests.unit.roles.qemu_guest_unit_files import UNIT, render_drop_in


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
                       ('ProtectSystem', 'strict'), ('ProtectHome', 'yes'), ('PrivateTmp', 'disconnected'),
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
                'IPAddressDeny', 'ReadWritePaths', 'After'):
        assert key not in drop_in


def test_a_guest_without_network_starts_early_and_first_and_stops_before_shutdown():
    """After a live update the guest resumes early in the boot, not after the host's network."""
    unit = settings(UNIT.read_text())
    assert unit['DefaultDependencies'] == ['no']
    assert unit['After'] == ['local-fs.target systemd-journald.socket']
    assert unit['Before'] == ['shutdown.target'] and unit['Conflicts'] == ['shutdown.target']
    assert unit['StartupCPUWeight'] == ['1000']
    # The weight counts against the other services only in system.slice, not in the template's own slice.
    assert unit['Slice'] == ['system.slice']
    # PrivateTmp=yes would order the unit after systemd-tmpfiles-setup.service.
    assert unit['PrivateTmp'] == ['disconnected']
    for key in ('Requires', 'Wants'):
        assert key not in unit, key


@pytest.mark.parametrize('network', ['user', 'tap'])
def test_a_guest_on_the_network_starts_after_the_hosts_network(network):
    drop_in = render_drop_in(network=network)
    assert re.search(r'^\[Unit\]\n(#.*\n)*After=network\.target\n', drop_in, re.M)
    assert settings(drop_in)['After'] == ['network.target']


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
