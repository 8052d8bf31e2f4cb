# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tools/awx-run: the checks on recorded ansible-runner job events, and real runs through ansible-runner.

The recorded events have the shape ansible-runner's awx_display callback writes to
artifacts/<ident>/job_events/<counter>-<uuid>.json (and AWX stores as job events): event, counter,
uuid, parent_uuid, stdout, start/end_line, runner_ident and event_data with playbook, play, task,
task_path, host and res; playbook_on_stats carries the set_stats data as artifact_data."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
TOOL = os.path.join(REPO, 'tools', 'awx-run')
TASK = 'Live update to the target kernel'
COLLS = '/runner/job-1/collections'
ROLE_TASKS = COLLS + '/ansible_collections/luo/liveupdate/roles/rollout/tasks/update.yml'


def load_tool():
    loader = importlib.machinery.SourceFileLoader('awx_run', TOOL)
    spec = importlib.util.spec_from_loader('awx_run', loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


awx = load_tool()


class Recorder:
    """Builds a job's events in order, the way the awx_display callback numbers them."""

    def __init__(self, playbook='live_update.yml'):
        self.events = []
        self.playbook = playbook
        self.playbook_uuid = str(uuid.uuid4())
        self.ident = str(uuid.uuid4())
        self.line = 0

    def add(self, event, stdout='', **event_data):
        self.events.append({
            'uuid': str(uuid.uuid4()),
            'counter': len(self.events) + 1,
            'stdout': stdout,
            'start_line': self.line,
            'end_line': self.line + stdout.count('\n') + (1 if stdout else 0),
            'runner_ident': self.ident,
            'event': event,
            'pid': 4242,
            'created': '2026-11-29T23:44:30.%06d+00:00' % len(self.events),
            'parent_uuid': self.playbook_uuid,
            'event_data': dict(event_data, playbook=self.playbook, playbook_uuid=self.playbook_uuid),
        })
        self.line = self.events[-1]['end_line']
        return self

    def task(self, name, host, event='runner_on_ok', res=None, action='luo.liveupdate.live_update',
             path=ROLE_TASKS + ':42'):
        data = {'play': 'Live update the kernels', 'play_pattern': 'all', 'task': name, 'task_action': action,
                'resolved_action': action, 'task_args': '', 'task_path': path}
        self.add('playbook_on_task_start', '\r\nTASK [luo.liveupdate.rollout : %s] ***' % name, name=name,
                 is_conditional=False, **data)
        self.add('runner_on_start', '', host=host, **data)
        word = {'runner_on_ok': 'ok', 'runner_on_failed': 'fatal', 'runner_on_skipped': 'skipping'}[event]
        self.add(event, '%s: [%s]' % (word, host), host=host, remote_addr=host, res=res or {'changed': False},
                 duration=0.5, **data)
        return self

    def stats(self, artifact_data=None, failures=None):
        hosts = sorted({e['event_data']['host'] for e in self.events if 'host' in e['event_data']})
        self.add('playbook_on_stats', '\r\nPLAY RECAP ***', changed={}, dark={}, failures=failures or {},
                 ignored={}, ok={h: 3 for h in hosts}, processed={h: 1 for h in hosts}, rescued={}, skipped={},
                 artifact_data=artifact_data if artifact_data is not None else {})
        return self


def rollout_job():
    """Two hosts, serial 1: web1 live-updated, web2 failed in the live update (max_fail_percentage 0)."""
    rec = Recorder()
    rec.add('playbook_on_start')
    rec.add('playbook_on_play_start', '\r\nPLAY [Live update the kernels] ***', name='Live update the kernels',
            pattern='all', play='Live update the kernels')
    rec.task('Check the target before touching the host', 'web1', action='luo.liveupdate.info')
    rec.task(TASK, 'web1', res={'changed': True, 'kernel_before': '7.2.0', 'kernel_after': '7.3.4'})
    rec.add('playbook_on_play_start', '\r\nPLAY [Live update the kernels] ***', name='Live update the kernels',
            pattern='all', play='Live update the kernels')
    rec.task('Check the target before touching the host', 'web2', action='luo.liveupdate.info')
    rec.task(TASK, 'web2', event='runner_on_failed',
             res={'failed': True, 'phase': 'verify', 'msg': 'rebooted cold: the preserved state was lost'})
    rec.stats({'luo_rollout_report': [{'host': 'web1', 'outcome': 'live-updated', 'blackout_s': 4.2},
                                      {'host': 'web2', 'outcome': 'failed', 'reasons': ['rebooted cold']}],
               'luo_rollout_summary': ['web1: live-updated 7.2.0 -> 7.3.4', 'web2: failed 7.2.0 -> ?']},
              failures={'web2': 1})
    return rec.events


def only_checks(events, **kwargs):
    return check(events, **kwargs)[0]


def failed(checks):
    return [c for c in checks if not c.ok]


def check(events, status='failed', rc=2, expect=None, key='luo_rollout_report', want='failed', task=TASK,
          collections_dir=None):
    expect = {'web1': 'live-updated', 'web2': 'failed'} if expect is None else expect
    return awx.check_job(status, rc, events, task, expect, key, want, collections_dir)


# ---------------------------------------------------------------- checks on recorded events

def test_a_recorded_rollout_passes_every_check():
    checks, report = check(rollout_job(), collections_dir=COLLS)
    assert not failed(checks), checks
    assert [c.name for c in checks] == [
        'runner status is failed', 'playbook_on_stats is the last event', "web1 ran task '%s'" % TASK,
        "web2 ran task '%s'" % TASK, "task '%s' ran from the installed collection" % TASK,
        'artifact luo_rollout_report is a list of {host, outcome}', 'web1 outcome is live-updated',
        'web2 outcome is failed']
    assert [(r['host'], r['outcome']) for r in report] == [('web1', 'live-updated'), ('web2', 'failed')]


def test_the_runner_status_must_be_the_expected_one():
    checks = only_checks(rollout_job(), want='successful')
    assert [(c.name, c.detail) for c in failed(checks)] == [('runner status is successful', 'status failed, rc 2')]
    checks = only_checks(rollout_job(), status='timeout', rc=254)
    assert [c.detail for c in failed(checks)] == ['status timeout, rc 254: ended by the timeout']


def test_playbook_on_stats_must_be_the_last_and_only_stats_event():
    events = rollout_job()
    checks = only_checks(events[:-1])
    names = [c.name for c in failed(checks)]
    assert 'playbook_on_stats is the last event' in names
    assert 'artifact luo_rollout_report is a list of {host, outcome}' in names

    moved = events[:-1] + [events[-1], dict(events[3], counter=len(events) + 1)]
    checks = only_checks(moved)
    assert [(c.name, c.detail) for c in failed(checks)] == [('playbook_on_stats is the last event',
                                                             'last is runner_on_start')]
    checks = only_checks(events + [dict(events[-1], counter=len(events) + 1)])
    assert [c.detail for c in failed(checks)] == ['2 playbook_on_stats events']


def test_no_events_at_all_fails_every_event_check():
    checks, report = check([], status='failed', rc=2)
    assert report is None
    assert [c.name for c in failed(checks)] == [
        'playbook_on_stats is the last event', "web1 ran task '%s'" % TASK, "web2 ran task '%s'" % TASK,
        'artifact luo_rollout_report is a list of {host, outcome}']


def test_each_expected_host_must_have_an_ok_or_failed_event_of_the_task():
    events = rollout_job()
    checks = only_checks(events, expect={'web1': 'live-updated', 'web3': None})
    assert [(c.name, c.detail) for c in failed(checks)] == [
        ("web3 ran task '%s'" % TASK, 'no runner_on_ok/runner_on_failed event')]

    # A skipped host did not run it, and neither did one that only ran another task.
    rec = Recorder()
    rec.add('playbook_on_start')
    rec.task(TASK, 'web1', event='runner_on_skipped')
    rec.task('Check the target before touching the host', 'web2')
    rec.stats({'luo_rollout_report': [{'host': 'web1', 'outcome': 'skipped'}, {'host': 'web2', 'outcome': 'current'}]})
    checks = only_checks(rec.events, status='successful', rc=0, want='successful',
                         expect={'web1': 'skipped', 'web2': 'current'})
    assert [c.name for c in failed(checks)] == ["web1 ran task '%s'" % TASK, "web2 ran task '%s'" % TASK]


def test_the_task_must_have_run_from_the_installed_collection():
    stale = os.path.expanduser('~/.ansible/collections/ansible_collections/luo/liveupdate/roles/rollout/tasks/update.yml')
    events = rollout_job()
    for event in events:
        if event['event_data'].get('host') == 'web2' and event['event_data'].get('task') == TASK:
            event['event_data']['task_path'] = stale + ':42'
    checks = only_checks(events, collections_dir=COLLS)
    assert [(c.name, c.detail) for c in failed(checks)] == [
        ("task '%s' ran from the installed collection" % TASK, 'outside %s: %s:42' % (COLLS, stale))]


@pytest.mark.parametrize('data, detail', [
    ({}, "set_stats data has no 'luo_rollout_report' (keys: none)"),
    ({'luo_rollout_summary': ['web1: live-updated']},
     "set_stats data has no 'luo_rollout_report' (keys: luo_rollout_summary)"),
    ({'luo_rollout_report': 'web1: live-updated'}, "'luo_rollout_report' is a str, not a list"),
    ({'luo_rollout_report': [{'host': 'web1', 'outcome': 'live-updated'}, {'host': 'web2'}]},
     "'luo_rollout_report' item 1 is not an object with string host and outcome: {'host': 'web2'}"),
    ({'luo_rollout_report': ['web1']}, "'luo_rollout_report' item 0 is not an object with string host and outcome: 'web1'"),
])
def test_a_missing_or_malformed_artifact_fails(data, detail):
    events = rollout_job()
    events[-1]['event_data']['artifact_data'] = data
    checks, report = check(events)
    assert report is None
    assert [(c.name, c.detail) for c in failed(checks)] == [('artifact luo_rollout_report is a list of {host, outcome}',
                                                             detail)]


def test_each_expected_outcome_must_match_once():
    events = rollout_job()
    checks = only_checks(events, expect={'web1': 'skipped', 'web2': 'failed'})
    assert [(c.name, c.detail) for c in failed(checks)] == [('web1 outcome is skipped', 'got live-updated')]

    events[-1]['event_data']['artifact_data']['luo_rollout_report'] = [
        {'host': 'web1', 'outcome': 'live-updated'}, {'host': 'web1', 'outcome': 'live-updated'}]
    checks = only_checks(events)
    assert [(c.name, c.detail) for c in failed(checks)] == [
        ('web1 outcome is live-updated', 'reported 2 times: live-updated, live-updated'),
        ('web2 outcome is failed', 'got no entry')]


def test_without_an_artifact_key_only_the_task_events_count():
    events = rollout_job()
    events[-1]['event_data']['artifact_data'] = {}
    checks, report = check(events, key='', expect={'web1': None, 'web2': None})
    assert not failed(checks) and report is None
    checks = only_checks(events, key='', expect={'web1': 'live-updated'})
    assert [(c.name, c.detail) for c in failed(checks)] == [('outcomes in the artifact',
                                                             '--expect HOST=OUTCOME needs --artifact-key')]


def test_the_account_counts_events_per_type_and_shows_the_artifact():
    events = rollout_job()
    report = check(events)[1]
    job = awx.Job('failed', 2, events, '', 61.24)
    assert awx.account(job, 'luo_rollout_report', report) == [
        'runner: status failed, rc 2, 61.2 s',
        'events: 16 (playbook_on_start 1, playbook_on_play_start 2, playbook_on_task_start 4, runner_on_start 4, '
        'runner_on_ok 3, runner_on_failed 1, playbook_on_stats 1)',
        'artifact luo_rollout_report: web1=live-updated, web2=failed']
    job = awx.Job('timeout', 254, events[:5], '', 3.0, [101, 102])
    assert awx.account(job, '', None)[1:] == [
        'runner: ended 2 processes the job left running: 101 102',
        'events: 5 (playbook_on_start 1, playbook_on_play_start 1, playbook_on_task_start 1, runner_on_start 1, '
        'runner_on_ok 1)',
        'artifacts (set_stats): none']


# ---------------------------------------------------------------- arguments

def test_expect_takes_host_and_outcome_or_host_alone():
    assert awx.parse_expect(['web1=live-updated', ' web2 ']) == {'web1': 'live-updated', 'web2': None}
    for bad in (['=failed'], ['web1='], ['web1=failed', 'web1=skipped']):
        with pytest.raises(awx.Refused):
            awx.parse_expect(bad)


def test_extra_vars_are_read_as_ansible_playbook_reads_them(tmp_path):
    vars_file = tmp_path / 'vars.yml'
    vars_file.write_text('luo_rollout_verify_units:\n  - mydb.service\n')
    assert awx.parse_extravars(['luo_serial=2', 'luo_rollout_kernel=/boot/vmlinuz-7.3.4', 'luo_check_fail=true',
                                '{"luo_hosts": "web:&prod"}', '@%s' % vars_file]) == {
        'luo_serial': 2, 'luo_rollout_kernel': '/boot/vmlinuz-7.3.4', 'luo_check_fail': True,
        'luo_hosts': 'web:&prod', 'luo_rollout_verify_units': ['mydb.service']}
    for bad in ('luo_serial', '=2', 'a b=1', '[1, 2]', '@%s' % (tmp_path / 'missing.yml')):
        with pytest.raises(awx.Refused):
            awx.parse_extravars([bad])


def test_bad_arguments_exit_2_before_anything_runs(tmp_path, capsys):
    inventory = tmp_path / 'hosts'
    inventory.write_text('web1\n')
    base = ['--inventory', str(inventory), '--work-dir', str(tmp_path / 'work')]
    assert awx.main(['site.yml'] + base) == 2
    assert 'site.yml is not a playbook of' in capsys.readouterr().err
    assert awx.main(['check.yml', '--artifact-key', '', '--expect', 'web1=ready'] + base) == 2
    assert 'give --artifact-key' in capsys.readouterr().err
    assert awx.main(['check.yml', '--inventory', str(tmp_path / 'nope'), '--work-dir', str(tmp_path)]) == 2
    assert awx.main(['check.yml', '--inventory', str(inventory), '--work-dir', os.path.join(REPO, 'tests', 'jobs')]) == 2
    assert 'use build/awx or a directory outside the checkout' in capsys.readouterr().err
    assert not os.path.exists(os.path.join(REPO, 'tests', 'jobs'))
    assert not (tmp_path / 'work').exists()


def test_the_private_data_dir_is_laid_out_as_awx_lays_it_out(tmp_path):
    inventory = tmp_path / 'hosts'
    inventory.write_text('[web]\nweb1\n')
    private = awx.prepare_private_dir(str(tmp_path / 'work'), str(inventory), {'luo_serial': 2}, 900)
    assert os.path.dirname(private) == str(tmp_path / 'work')
    with open(os.path.join(private, 'env', 'extravars'), encoding='utf-8') as f:
        assert json.load(f) == {'luo_serial': 2}
    with open(os.path.join(private, 'env', 'settings'), encoding='utf-8') as f:
        assert json.load(f)['job_timeout'] == 900
    with open(os.path.join(private, 'inventory', 'hosts'), encoding='utf-8') as f:
        assert f.read() == '[web]\nweb1\n'
    assert sorted(os.listdir(os.path.join(private, 'project'))) == ['check.yml', 'collections', 'live_update.yml']
    assert os.path.isfile(os.path.join(private, 'project', 'collections', 'requirements.yml'))
    # Each job gets a fresh one.
    assert awx.prepare_private_dir(str(tmp_path / 'work'), str(inventory), {}, 900) != private


def test_main_prints_the_failed_checks_and_the_tail_of_stdout(tmp_path, monkeypatch, capsys):
    """main() end to end on a recorded job: the run itself is replaced."""
    inventory = tmp_path / 'hosts'
    inventory.write_text('web1\nweb2\n')
    events = rollout_job()
    stdout = '\n'.join('line %d' % i for i in range(100)) + '\n'
    monkeypatch.setattr(awx, 'install_collection', lambda private: COLLS)
    monkeypatch.setattr(awx, 'run_job', lambda *a: awx.Job('failed', 2, events, stdout, 12.0))
    base = ['live_update.yml', '-i', str(inventory), '--work-dir', str(tmp_path / 'work'), '--expect-status', 'failed',
            '--report-out', str(tmp_path / 'report.json')]

    assert awx.main(base + ['--expect', 'web1=live-updated', '--expect', 'web2=failed']) == 0
    out = capsys.readouterr().out
    assert 'awx-run: all 8 checks hold' in out and 'line 99' not in out
    with open(tmp_path / 'report.json', encoding='utf-8') as f:
        assert [(r['host'], r['outcome']) for r in json.load(f)] == [('web1', 'live-updated'), ('web2', 'failed')]

    assert awx.main(base + ['--expect', 'web1=live-updated', '--expect', 'web2=live-updated']) == 1
    out = capsys.readouterr().out
    assert 'awx-run: 1 of 8 checks failed:\n  FAILED: web2 outcome is live-updated (got failed)\n' in out
    assert out.endswith('--- runner stdout (last 40 lines) ---\n%s\n' % '\n'.join('line %d' % i for i in range(60, 100)))


# ---------------------------------------------------------------- real runs through ansible-runner

def running_kernel_has_luo():
    return any(os.path.exists(p) for p in ('/dev/liveupdate', '/sys/class/misc/liveupdate'))


@pytest.mark.skipif(running_kernel_has_luo(), reason='this machine runs a LUO kernel: check.yml would find it ready')
def test_check_playbook_through_ansible_runner_on_this_machine(tmp_path):
    """check.yml as an AWX job on localhost, a machine without LUO: asked to fail hosts that are not ready,
    the job fails in the assert, after the readiness report said ready=false. check.yml sets no artifact."""
    inventory = tmp_path / 'hosts'
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    work = tmp_path / 'work'
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, TOOL, 'check.yml', '--inventory', str(inventory), '--work-dir', str(work),
         '-e', 'luo_check_fail=true', '--timeout', '300', '--expect-status', 'failed',
         '--task', 'Fail hosts that are not ready, when asked to', '--artifact-key', '', '--expect', 'localhost',
         '--report-out', str(tmp_path / 'artifacts.json')],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, timeout=600)
    seconds = time.monotonic() - start
    out = proc.stdout
    assert proc.returncode == 0, out
    assert 'runner: status failed, rc 2' in out
    assert 'ok: localhost ran task \'Fail hosts that are not ready, when asked to\' (runner_on_failed)' in out
    assert "ok: task 'Fail hosts that are not ready, when asked to' ran from the installed collection" in out
    assert 'artifacts (set_stats): none' in out
    assert 'awx-run: all 4 checks hold' in out
    with open(tmp_path / 'artifacts.json', encoding='utf-8') as f:
        assert json.load(f) == {}

    # What the job left in the private data directory, as AWX would have it.
    (private,) = work.iterdir()
    assert (private / 'collections' / 'ansible_collections' / 'luo' / 'liveupdate' / 'MANIFEST.json').is_file()
    (artifacts,) = (private / 'artifacts').iterdir()
    assert (artifacts / 'status').read_text() == 'failed'
    events = [json.loads(p.read_text()) for p in (artifacts / 'job_events').iterdir()]
    report = [e for e in events if e['event'] == 'runner_on_ok' and e['event_data']['task'] == 'Read the readiness report']
    assert len(report) == 1 and report[0]['event_data']['res']['ready'] is False
    assert seconds < 60, 'the real run took %.1f s' % seconds


def test_the_timeout_ends_a_hung_job_and_what_it_left_running(tmp_path):
    """A task that hangs: runner's timeout ends the job (status timeout), and nothing of it stays running."""
    project = tmp_path / 'project'
    project.mkdir()
    (project / 'hang.yml').write_text(
        '- hosts: all\n  gather_facts: false\n  tasks:\n'
        '    - name: Hang\n      ansible.builtin.command: sleep 300\n')
    inventory = tmp_path / 'hosts'
    inventory.write_text('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    private = awx.prepare_private_dir(str(tmp_path / 'work'), str(inventory), {}, 3, project=str(project))
    job = awx.run_job(private, 'hang.yml', {}, 3, str(tmp_path / 'collections'))
    assert (job.status, job.rc) == ('timeout', 254)
    assert job.seconds < 30
    assert awx.job_processes(private) == []
    checks = awx.check_job(job.status, job.rc, job.events, 'Hang', {'localhost': None}, '', 'successful')[0]
    assert [c.name for c in failed(checks)] == ['runner status is successful', 'playbook_on_stats is the last event',
                                                "localhost ran task 'Hang'"]
