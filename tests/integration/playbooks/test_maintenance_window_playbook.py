# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The maintenance_window action in a real ansible-playbook run: it answers for a host it never connects to."""
from __future__ import annotations

import os
import subprocess
import sys

import yaml

from ansible_collections.luo.liveupdate.plugins.modules import maintenance_window as doc_module

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))


def test_a_host_that_cannot_be_reached_gets_its_answer(tmp_path):
    """ansible-playbook against an address nothing answers on, with the documented example: it never connects."""
    examples = yaml.safe_load(doc_module.EXAMPLES)
    tasks = [task for task in examples if task.get('register') == 'saturday' or task['name'].startswith('It is,')]
    assert len(tasks) == 2
    tasks.append({'name': 'Show it', 'ansible.builtin.debug': {'msg': '{{ saturday.msg }}'}})
    (tmp_path / 'inventory').write_text('down ansible_host=192.0.2.1 ansible_connection=ssh ansible_timeout=2\n')
    (tmp_path / 'play.yml').write_text(yaml.safe_dump([{'name': 'Window', 'hosts': 'down', 'gather_facts': False,
                                                        'tasks': tasks}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, 'build', 'collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_HOST_KEY_CHECKING='false')
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i',
                           str(tmp_path / 'inventory'), str(tmp_path / 'play.yml')],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout
    assert ('inside the maintenance window fri 22:00-02:00 Europe/Berlin: closes 2026-12-05T02:00:00+01:00'
            in proc.stdout), proc.stdout
    assert 'ok=3' in proc.stdout and 'unreachable=0' in proc.stdout, proc.stdout
