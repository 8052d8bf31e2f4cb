# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The qemu_guest role's unit template and its per-guest drop-in, rendered by Ansible's templar as the role does."""
from __future__ import annotations

import pathlib

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = pathlib.Path(__file__).resolve().parents[3] / 'roles' / 'qemu_guest'
UNIT = ROLE / 'files' / 'luo-qemu-guest@.service'
DROP_IN = ROLE / 'templates' / 'guest.conf.j2'
GUEST = {'luo_qemu_guest_name': 'demo', 'luo_qemu_guest_fdstore_max': 4, 'luo_qemu_guest_start_timeout': 60,
         'luo_qemu_guest_save_timeout': 60, 'luo_qemu_guest_user': 'luo-qemu', 'luo_qemu_guest_group': 'luo-qemu',
         'luo_qemu_guest_accel': 'tcg', 'luo_qemu_guest_network': 'none', 'luo_qemu_guest_disks': [],
         'luo_qemu_guest_kvm_group': ''}


def render_drop_in(**changes):
    variables = dict(GUEST, ansible_managed='managed')
    variables.update(('luo_qemu_guest_' + key, value) for key, value in changes.items())
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(DROP_IN.read_text()))
