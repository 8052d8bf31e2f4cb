# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What this machine's systemd-analyze says about the sandbox of luo-qemu-guest@NAME.service (offline, in a scratch root)."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from ansible_collections.luo.liveupdate.tests.integration.requirements import INSTALL_SYSTEMD, require_tool
from ansible_collections.luo.liveupdate.tests.unit.roles.qemu_guest_unit_files import UNIT, render_drop_in

MAX_EXPOSURE = 4.0


def offline_exposure(root, unit):
    """systemd-analyze's overall exposure of unit under root (offline); the test fails when it cannot tell."""
    analyze = require_tool('systemd-analyze', INSTALL_SYSTEMD)
    proc = subprocess.run([analyze, 'security', '--offline=true', '--root=%s' % root, '--no-pager', unit],
                          capture_output=True, text=True, check=False)
    found = re.search(r'Overall exposure level for %s: ([0-9.]+)' % re.escape(unit), proc.stdout)
    assert found is not None, 'systemd-analyze security --offline did not rate %s: %s' % (unit, proc.stderr.strip())
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
