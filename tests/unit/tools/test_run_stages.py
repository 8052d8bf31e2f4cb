# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tools/run-stages: stages one after another with their times, and a target run beside them.

It runs for real with GNU make, on a Makefile whose targets record what ran and fail on demand.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))

MAKEFILE = """\
one:
\t@echo one >> calls.log
two:
\t@echo two >> calls.log; [ -z "$(FAIL_TWO)" ] || exit 3
three:
\t@echo three >> calls.log
disks:
\t@echo disks-start >> calls.log; sleep $(DISKS_S); echo disks-done >> calls.log; [ -z "$(FAIL_DISKS)" ] || { echo "first boot failed"; exit 4; }
waits-for-disks:
\t@while [ ! -s build/disks.status ]; do sleep 0.1; done; echo waited >> calls.log
"""


@pytest.fixture
def work(tmp_path):
    shutil.copy(os.path.join(REPO, 'tools', 'run-stages'), str(tmp_path / 'run-stages'))
    (tmp_path / 'Makefile').write_text(MAKEFILE)
    return tmp_path


def run(work, *args, **env):
    environ = dict(os.environ, DISKS_S='0', FAIL_TWO='', FAIL_DISKS='')
    environ.update(env)
    done = subprocess.run([str(work / 'run-stages')] + list(args), cwd=str(work), env=environ,
                          capture_output=True, text=True, timeout=60, check=False)
    calls = (work / 'calls.log').read_text().split() if (work / 'calls.log').exists() else []
    return done, calls


def test_stages_in_order_with_their_times(work):
    done, calls = run(work, 'one', 'two', 'three')
    assert done.returncode == 0, done.stderr
    assert calls == ['one', 'two', 'three']
    times = re.search(r'run-stages: times: one (\d+)s, two (\d+)s, three (\d+)s\n', done.stdout)
    assert times, done.stdout
    assert done.stdout.rstrip().endswith('run-stages: total %ds' % sum(int(s) for s in times.groups()))


def test_the_first_failing_stage_stops_the_rest_with_its_status(work):
    done, calls = run(work, 'one', 'two', 'three', FAIL_TWO='1')
    assert done.returncode == 2  # make's own status for a failed recipe
    assert calls == ['one', 'two']
    assert 'two FAILED after' in done.stdout


def test_a_target_beside_the_stages_runs_from_the_start_and_a_stage_can_wait_for_it(work):
    done, calls = run(work, '--beside', 'disks', 'one', 'waits-for-disks', DISKS_S='1')
    assert done.returncode == 0, done.stderr
    assert calls.index('disks-start') < calls.index('disks-done') < calls.index('waited')
    assert 'run-stages: disks runs beside the stages (build/disks.log)' in done.stdout
    assert 'run-stages: disks (beside) passed after' in done.stdout
    assert re.search(r'run-stages: times: one \d+s, waits-for-disks \d+s', done.stdout)


def test_a_failed_target_beside_is_reported_with_its_log_and_fails_nothing_by_itself(work):
    done, _calls = run(work, '--beside', 'disks', 'waits-for-disks', FAIL_DISKS='1')
    assert done.returncode == 0, done.stderr
    assert 'run-stages: disks (beside) failed after' in done.stdout
    assert 'first boot failed' in done.stdout


def test_a_target_beside_still_running_when_the_stages_end_is_stopped_with_its_children(work):
    started = time.monotonic()
    done, calls = run(work, '--beside', 'disks', 'one', DISKS_S='37.5')
    assert done.returncode == 0, done.stderr
    assert 'run-stages: disks (beside) was still running: stopped' in done.stdout
    assert time.monotonic() - started < 20
    time.sleep(0.5)
    assert 'disks-done' not in calls
    ps = subprocess.run(['pgrep', '-f', 'sleep 37.5'], capture_output=True, text=True, check=False)
    assert ps.stdout.strip() == ''


def test_beside_without_a_target_is_refused(work):
    done, calls = run(work, '--beside')
    assert done.returncode == 2
    assert '--beside needs a make target' in done.stderr
    assert calls == []
