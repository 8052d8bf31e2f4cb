# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tools/molecule-all's own logic: the root filesystem first, each job's own disks before it, scenarios
longest first to whichever lane is free, failures reported whole.

The script runs for real on a copy of the repository layout whose lab scripts and molecule are small
stand-ins that record what they were asked and fail on demand: what the lab really does is tested by
the scenarios themselves.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))

ROOTFS = """#!/bin/bash
echo rootfs >> "$REPO_LOG"
[ -z "$FAIL_ROOTFS" ] || { echo "debootstrap failed" >&2; exit 1; }
echo /cache/rootfs
"""
DISK = """#!/bin/bash
[ "$1" != "$SLOW_DISK" ] || sleep 3
echo "disk $1" >> "$REPO_LOG"
[ "$1" != "$FAIL_DISK" ] || { echo "first boot of $1 failed" >&2; exit 1; }
echo "/cache/$1.img"
"""
MOLECULE = """#!/bin/bash
# molecule test -s NAME
name=$3
echo "molecule $name" >> "$REPO_LOG"
echo "output of $name"
if [ "$name" = "$FAIL_SCENARIO" ]; then
  mkdir -p "build/lab-logs/$name/vm1"
  printf 'kernel panic in %s\\n' "$name" > "build/lab-logs/$name/vm1/serial.log"
  exit 2
fi
"""

BENCH = """#!/bin/bash
# bench/run --smoke --parts PARTS ...
echo "bench $*" >> "$REPO_LOG"
echo "bench table of $3"
[ "$3" != "$FAIL_BENCH" ] || { echo "bench stopped: no VM" >&2; exit 1; }
"""


def executable(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / 'repo'
    (root / 'tools').mkdir(parents=True)
    shutil.copy(os.path.join(REPO, 'tools', 'molecule-all'), str(root / 'tools' / 'molecule-all'))
    (root / 'lab').mkdir()
    shutil.copy(os.path.join(REPO, 'lab', 'lib.sh'), str(root / 'lab' / 'lib.sh'))
    executable(str(root / 'lab' / 'rootfs'), ROOTFS)
    executable(str(root / 'lab' / 'disk'), DISK)
    executable(str(root / '.venv' / 'bin' / 'molecule'), MOLECULE)
    executable(str(root / 'bench' / 'run'), BENCH)
    for name, variants in (('faults_fleet', ['luo', 'luo']), ('rollout', ['plain', 'plain']), ('uefi', ['efi-grub', 'efi-sdboot']),
                           ('lab', ['luo']), ('_shared', [])):
        (root / 'molecule' / name).mkdir(parents=True)
        if variants:
            platforms = ''.join('  - name: vm%d\n    variant: %s\n' % (i, v) for i, v in enumerate(variants))
            (root / 'molecule' / name / 'molecule.yml').write_text('platforms:\n' + platforms)
    return root


def run(repo, *args, **env):
    log = repo / 'calls.log'
    environ = dict(os.environ, REPO_LOG=str(log), FAIL_ROOTFS='', FAIL_DISK='', SLOW_DISK='', FAIL_SCENARIO='', FAIL_BENCH='')
    environ.update(env)
    done = subprocess.run([str(repo / 'tools' / 'molecule-all')] + list(args), cwd=str(repo), env=environ,
                          capture_output=True, text=True, timeout=60, check=False)
    calls = log.read_text().splitlines() if log.exists() else []
    return done, calls


VARIANTS = {'faults_fleet': ['luo'], 'rollout': ['plain'], 'uefi': ['efi-grub', 'efi-sdboot'], 'lab': ['luo']}


def assert_disks_before_each_scenario(calls):
    for name, variants in VARIANTS.items():
        if 'molecule %s' % name in calls:
            started = calls.index('molecule %s' % name)
            assert all('disk %s' % variant in calls[:started] for variant in variants), (name, calls)


def test_rootfs_first_then_every_scenario_after_its_disks_in_two_lanes_longest_first(repo):
    done, calls = run(repo)
    assert done.returncode == 0, done.stderr
    assert calls[0] == 'rootfs' and calls.count('rootfs') == 1
    assert sorted(set(call for call in calls if call.startswith('disk'))) == ['disk efi-grub', 'disk efi-sdboot', 'disk luo', 'disk plain']
    assert sorted(call for call in calls if call.startswith('molecule')) == [
        'molecule faults_fleet', 'molecule lab', 'molecule rollout', 'molecule uefi']
    assert_disks_before_each_scenario(calls)
    assert 'molecule-all: 2 lane(s), longest expected first: faults_fleet rollout uefi lab' in done.stdout
    assert re.search(r'^molecule-all: lane \d: faults_fleet started$', done.stdout, re.M)
    assert '_shared' not in done.stdout
    assert done.stdout.rstrip().endswith('molecule-all: 4 passed, 0 failed')


def test_a_scenario_whose_disks_are_ready_does_not_wait_for_another_disk(repo):
    # The luo disk is slow to build: faults_fleet waits for it, the other lane runs rollout and uefi meanwhile.
    done, calls = run(repo, SLOW_DISK='luo')
    assert done.returncode == 0, done.stderr
    assert calls.index('molecule rollout') < calls.index('disk luo')
    assert calls.index('molecule uefi') < calls.index('molecule faults_fleet')
    assert_disks_before_each_scenario(calls)


def test_a_free_lane_takes_the_next_scenario_and_each_runs_once(repo):
    # faults_fleet runs long: the other lane takes rollout, uefi and lab meanwhile.
    executable(str(repo / '.venv' / 'bin' / 'molecule'), MOLECULE.replace('echo "output of $name"',
                                                                          '[ "$name" != faults_fleet ] || sleep 3; echo "output of $name"'))
    done, calls = run(repo)
    assert done.returncode == 0, done.stderr
    assert sorted(call for call in calls if call.startswith('molecule')) == [
        'molecule faults_fleet', 'molecule lab', 'molecule rollout', 'molecule uefi']
    started = {name: lane for lane, name in re.findall(r'^molecule-all: lane (\d): (\w+) started$', done.stdout, re.M)}
    other = {'1': '2', '2': '1'}[started['faults_fleet']]
    assert [started[name] for name in ('rollout', 'uefi', 'lab')] == [other] * 3
    assert done.stdout.index('=== lab (passed') < done.stdout.index('=== faults_fleet (passed')


def test_one_lane_runs_them_one_after_another(repo):
    done, calls = run(repo, LUO_MOLECULE_LANES='1')
    assert done.returncode == 0, done.stderr
    assert [call for call in calls if call.startswith('molecule')] == [
        'molecule faults_fleet', 'molecule rollout', 'molecule uefi', 'molecule lab']


def test_a_failed_scenario_is_printed_whole_with_its_console_tails_and_the_others_still_run(repo):
    done, calls = run(repo, FAIL_SCENARIO='rollout')
    assert done.returncode == 1
    assert 'molecule-all: === rollout (FAILED after' in done.stdout
    assert 'output of rollout' in done.stdout
    assert 'kernel panic in rollout' in done.stdout
    assert 'molecule uefi' in calls and 'molecule lab' in calls
    assert 'rollout FAILED' in done.stdout
    assert 'molecule-all: failed: rollout' in done.stderr


def test_a_disk_that_cannot_be_built_fails_the_scenarios_that_boot_it_and_only_them(repo):
    done, calls = run(repo, FAIL_DISK='luo')
    assert done.returncode == 1
    assert 'first boot of luo failed' in done.stdout
    assert 'cannot build the luo lab disk' in done.stdout
    # Built once: the second scenario that boots it fails at once.
    assert calls.count('disk luo') == 1
    assert 'the luo lab disk could not be built' in done.stdout
    assert sorted(call for call in calls if call.startswith('molecule')) == ['molecule rollout', 'molecule uefi']
    assert 'molecule-all: failed: faults_fleet lab' in done.stderr
    assert 'molecule-all: 2 passed, 2 failed' in done.stdout


def test_a_root_filesystem_that_cannot_be_built_stops_everything(repo):
    done, calls = run(repo, FAIL_ROOTFS='1')
    assert done.returncode == 1
    assert "cannot build the lab's root filesystem" in done.stderr
    assert calls == ['rootfs']


def test_only_the_named_scenarios_and_their_disks(repo):
    done, calls = run(repo, 'lab')
    assert done.returncode == 0, done.stderr
    assert calls == ['rootfs', 'disk luo', 'molecule lab']


def test_the_bench_smoke_run_is_two_more_jobs_in_the_lanes_with_its_disks(repo):
    done, calls = run(repo, '--bench-smoke', 'lab')
    assert done.returncode == 0, done.stderr
    assert calls[0] == 'rootfs' and sorted(set(call for call in calls if call.startswith('disk'))) == ['disk efi-grub', 'disk luo']
    # Two at once: each its own VM name (bench/run destroys its VMs at the end) and results directory.
    jobs = sorted(call for call in calls if not call.startswith(('rootfs', 'disk')))
    assert jobs == ['bench --smoke --parts host,uefi --vm luo-bench --out build/bench-smoke',
                    'bench --smoke --parts hv --vm luo-bench-hvsmoke --out build/bench-smoke-hv',
                    'molecule lab']
    assert 'longest expected first: bench-smoke bench-smoke-hv lab' in done.stdout
    # Each job waits only for the disks it boots: the hypervisor part boots no UEFI disk.
    hv_log = done.stdout[done.stdout.index('=== bench-smoke-hv ('):]
    assert 'luo disk ready' in hv_log and 'efi-grub' not in hv_log.split('===')[2]
    for name, part in (('bench-smoke', 'host,uefi'), ('bench-smoke-hv', 'hv')):
        assert 'molecule-all: === %s (passed after' % name in done.stdout and 'bench table of %s' % part in done.stdout
    assert re.search(r'times: lab \d+s, bench-smoke \d+s, bench-smoke-hv \d+s', done.stdout)


@pytest.mark.parametrize('part, job', [('host,uefi', 'bench-smoke'), ('hv', 'bench-smoke-hv')])
def test_a_failed_bench_smoke_job_fails_the_lanes_and_the_rest_still_runs(repo, part, job):
    done, calls = run(repo, '--bench-smoke', FAIL_BENCH=part)
    assert done.returncode == 1
    assert 'bench stopped: no VM' in done.stdout
    assert 'molecule-all: failed: %s' % job in done.stderr
    assert len([call for call in calls if call.startswith('molecule')]) == 4
    assert len([call for call in calls if call.startswith('bench')]) == 2


@pytest.mark.parametrize('args, env, says', [
    (['nope'], {}, "no scenario 'nope' (molecule/nope/molecule.yml)"),
    (['_shared'], {}, "no scenario '_shared'"),
    ([], {'LUO_MOLECULE_LANES': 'two'}, "LUO_MOLECULE_LANES='two' is not a number from 1 to 9"),
    ([], {'LUO_MOLECULE_LANES': '0'}, "LUO_MOLECULE_LANES='0' is not a number from 1 to 9"),
])
def test_bad_input_is_refused_before_anything_runs(repo, args, env, says):
    done, calls = run(repo, *args, **env)
    assert done.returncode == 2
    assert says in done.stderr
    assert calls == []


def test_disks_only_builds_the_scenarios_disks_and_runs_nothing_else(repo):
    (repo / 'build' / 'molecule-logs').mkdir(parents=True)
    (repo / 'build' / 'molecule-logs' / 'faults.log').write_text('a lane of the lab stage writes here\n')
    done, calls = run(repo, '--disks-only', LUO_MOLECULE_LANES='1')
    assert done.returncode == 0, done.stderr
    # In the order the lab stage's jobs start, longest expected first, each once.
    assert calls == ['rootfs', 'disk luo', 'disk plain', 'disk efi-grub', 'disk efi-sdboot']
    assert 'lane' not in done.stdout
    # The lab stage's logs are left alone: a build beside the first stages may still run when it starts.
    assert (repo / 'build' / 'molecule-logs' / 'faults.log').exists()
    assert (repo / 'build' / 'disk-logs').is_dir()


def test_disks_only_with_the_bench_builds_its_disks_too_and_fails_like_the_lab_stage(repo):
    done, calls = run(repo, '--bench-smoke', '--disks-only', 'lab')
    assert done.returncode == 0, done.stderr
    assert sorted(calls[1:]) == ['disk efi-grub', 'disk luo']
    done, calls = run(repo, '--disks-only', FAIL_DISK='plain')
    assert done.returncode == 1
    assert 'cannot build the plain lab disk' in done.stderr
