# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host role on a real kernel without LUO (this machine's): it stops with the reasons and changes nothing."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
PLAYBOOK = '''
- hosts: localhost
  gather_facts: false
  roles:
    - role: luo.liveupdate.host
      vars:
        luo_host_install_packages: false
'''


def running_kernel_has_luo():
    for path in ('/dev/liveupdate', '/sys/class/misc/liveupdate'):
        if os.path.exists(path):
            return True
    return False


@pytest.mark.skipif(running_kernel_has_luo(), reason='this machine runs a LUO kernel')
def test_host_role_refuses_a_kernel_without_luo(tmp_path):
    playbook = tmp_path / 'host.yml'
    playbook.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, 'build', 'collections'),
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='false')
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), str(playbook)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, check=False, timeout=300)
    out = proc.stdout
    assert proc.returncode == 2, out
    assert 'cannot do kernel live updates with this kernel or systemd' in out
    assert '[kernel-config-liveupdate]' in out and 'CONFIG_LIVEUPDATE' in out
    assert 'fix: boot a kernel built with' in out
    # It stopped before the boot configuration task: nothing changed.
    assert 'Set liveupdate=on and kho=on in the boot configuration' not in out
    assert 'changed=0' in out
