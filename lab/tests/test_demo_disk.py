# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""lab/demo-disk's cache key: the demo disk holds what the workloads' playbooks and the preserve role
installed on the luo disk, so a change to any of them (or to the luo disk, or to the script) must build
it again, and nothing else may. The key is computed by the script itself, on a copy of the repository."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[2]


def copy_repo(tmp_path):
    root = tmp_path / 'repo'
    (root / 'lab').mkdir(parents=True)
    for name in ('lib.sh', 'demo-disk'):
        shutil.copy(REPO / 'lab' / name, root / 'lab' / name)
    shutil.copytree(REPO / 'lab' / 'workloads', root / 'lab' / 'workloads')
    shutil.copytree(REPO / 'roles' / 'preserve', root / 'roles' / 'preserve',
                    ignore=shutil.ignore_patterns('__pycache__'))
    return root


def key(root, base='/cache/disks/luo-1/disk.img'):
    done = subprocess.run(['bash', '-c', '. "$1/lab/demo-disk"; demo_key "$2"', 'key', str(root), base],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, 'LUO_LAB_CACHE': str(root / 'cache')})
    return done.stdout.strip()


def test_the_key_is_stable_and_follows_each_input(tmp_path):
    root = copy_repo(tmp_path)
    first = key(root)
    assert len(first) == 16 and first == key(root)
    assert key(root, '/cache/disks/luo-2/disk.img') != first

    keys = [first]
    for changed in ('roles/preserve/files/luo-state@.service', 'roles/preserve/tasks/keepers.yml',
                    'lab/workloads/install-session.yml', 'lab/workloads/luo_demo_files.py', 'lab/demo-disk'):
        with open(root / changed, 'a') as handle:
            handle.write('\n# changed\n')
        keys.append(key(root))
        assert keys[-1] not in keys[:-1], f'changing {changed} left the key as it was'


def test_compiled_python_does_not_change_the_key(tmp_path):
    root = copy_repo(tmp_path)
    first = key(root)
    cache = root / 'roles' / 'preserve' / 'files' / 'luo-liveupdate' / '__pycache__'
    cache.mkdir()
    (cache / 'luo_service.cpython-313.pyc').write_bytes(b'\0compiled')
    assert key(root) == first


def test_arguments_are_refused_with_the_usage(tmp_path):
    done = subprocess.run([str(REPO / 'lab' / 'demo-disk'), 'luo'], capture_output=True, text=True, check=False,
                          env={**os.environ, 'LUO_LAB_CACHE': str(tmp_path / 'cache')})
    assert done.returncode == 2
    assert 'lab/demo-disk' in done.stderr and 'build (when missing or out of date)' in done.stderr
    assert not (tmp_path / 'cache' / 'disks').exists()
