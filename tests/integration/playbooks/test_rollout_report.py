# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live_update playbook reports every host, whatever happens to it, and stops the rollout as documented.

Runs the real playbook with ansible-playbook over hosts reached with the local connection. This machine is
no LUO host (its kernel has no LUO, systemd may not be PID 1), so every host gets the fallback; the playbook
runs with a private /var/lib (the lock's place) that the test inspects. The live updates themselves,
the rollback and the dry run of a LUO host are proven on lab VMs (molecule/faults).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.luo.liveupdate.tests.integration.playbooks.private_state import can_use_private_var_lib, private_var_lib

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
LOCK = 'luo-liveupdate/lock'


@pytest.fixture(autouse=True)
def private_state_possible():
    reason = can_use_private_var_lib()
    assert reason is None, 'these tests run ansible-playbook with a private /var/lib: %s' % reason


def run(tmp_path, *args, hosts=('h1', 'h2'), extra_hosts=None):
    """ansible-playbook luo.liveupdate.live_update: (rc, output, report rows or None)."""
    inventory = {'all': {'hosts': dict({host: {} for host in hosts}, **(extra_hosts or {})),
                         'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}
    (tmp_path / 'inventory.json').write_text(json.dumps(inventory))
    report = tmp_path / 'report.json'
    var_lib = tmp_path / 'var-lib'
    var_lib.mkdir(exist_ok=True)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, 'build', 'collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_HOST_KEY_CHECKING='false')
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(tmp_path / 'inventory.json'),
            'luo.liveupdate.live_update', '-e', json.dumps({'luo_rollout_report_path': str(report)})] + list(args)
    proc = subprocess.run(private_var_lib(argv, var_lib), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, check=False, timeout=300)
    rows = json.loads(report.read_text()) if report.exists() else None
    return proc.returncode, proc.stdout, rows


def outcomes(rows):
    return {row['host']: (row['outcome'], row['reason']) for row in rows}


def test_a_failed_host_stops_the_rollout_and_every_host_is_reported(tmp_path):
    rc, out, rows = run(tmp_path)
    assert rc == 2, out
    assert outcomes(rows) == {'h1': ('failed', 'not-ready'), 'h2': ('not-attempted', 'rollout-stopped')}
    assert 'kernel-config' in ' '.join(rows[0]['blockers'])
    assert '2 of 2 hosts did not end well: h1 failed, h2 not-attempted' in out
    assert 'h2: not-attempted [rollout-stopped]' in out
    assert not (tmp_path / 'var-lib' / LOCK).exists(), 'the lock is released after the turn'


def test_max_fail_percentage_lets_the_rollout_go_on(tmp_path):
    rc, out, rows = run(tmp_path, '-e', 'luo_max_fail_percentage=50')
    assert rc == 2, out
    assert outcomes(rows) == {'h1': ('failed', 'not-ready'), 'h2': ('failed', 'not-ready')}


def test_skipped_hosts_end_well(tmp_path):
    rc, out, rows = run(tmp_path, '-e', 'luo_rollout_fallback=skip')
    assert rc == 0, out
    assert outcomes(rows) == {'h1': ('skipped', 'not-ready'), 'h2': ('skipped', 'not-ready')}


def test_a_dry_run_reports_and_takes_no_lock(tmp_path):
    rc, out, rows = run(tmp_path, '--check')
    assert rc == 2, out
    assert outcomes(rows) == {'h1': ('failed', 'not-ready'), 'h2': ('not-attempted', 'rollout-stopped')}
    assert all(row['check_mode'] for row in rows)
    assert not (tmp_path / 'var-lib' / 'luo-liveupdate').exists()


def test_outside_the_maintenance_window_hosts_are_skipped_untouched(tmp_path):
    window = {'luo_rollout_window': {'days': ['mon'], 'start': '00:00', 'end': '00:01', 'timezone': 'Pacific/Kiritimati'}}
    rc, out, rows = run(tmp_path, '-e', json.dumps(window))
    if any(row['outcome'] != 'skipped' for row in rows):
        pytest.skip('ran inside the one-minute window')
    assert rc == 0, out
    assert outcomes(rows) == {'h1': ('skipped', 'outside-window'), 'h2': ('skipped', 'outside-window')}
    assert 'outside the maintenance window mon 00:00-00:01 Pacific/Kiritimati' in rows[0]['msg']
    assert not (tmp_path / 'var-lib' / 'luo-liveupdate').exists()


def test_a_host_locked_by_another_run_is_refused_and_its_lock_left_alone(tmp_path):
    lock = tmp_path / 'var-lib' / LOCK
    lock.parent.mkdir(parents=True)
    held = {'owner': 'awx job 41', 'controller': 'awx-1', 'started': 1, 'expires': 4102444800}
    lock.write_text(json.dumps(held))
    rc, out, rows = run(tmp_path)
    assert rc == 2, out
    assert outcomes(rows) == {'h1': ('failed', 'locked'), 'h2': ('not-attempted', 'rollout-stopped')}
    assert 'awx job 41' in rows[0]['msg']
    assert json.loads(lock.read_text()) == held


def test_an_unreachable_host_is_reported_and_the_summary_runs(tmp_path):
    gone = {'ansible_connection': 'ssh', 'ansible_host': '127.0.0.1', 'ansible_port': 1, 'ansible_ssh_timeout': 5}
    rc, out, rows = run(tmp_path, '-e', 'luo_rollout_fallback=skip', hosts=(), extra_hosts={'gone': gone, 'h2': {}})
    assert rc == 2, out
    assert outcomes(rows) == {'gone': ('failed', 'unreachable'), 'h2': ('not-attempted', 'rollout-stopped')}


def test_bad_variables_stop_the_run_before_any_host_is_touched(tmp_path):
    rc, out, rows = run(tmp_path, '-e', 'luo_rollout_on_failure=never')
    assert rc != 0
    assert 'value of luo_rollout_on_failure must be one of: stop, rollback, got: never' in out
    assert rows is None
    assert 'Lock the host' not in out
