# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tools/find-python picks a Python >= 3.12 that is not a virtual environment's, or refuses saying how to get one."""
from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FIND = os.path.join(REPO, 'tools', 'find-python')


def find(path, **env):
    return subprocess.run([FIND], capture_output=True, text=True, check=False, timeout=120,
                          env=dict(os.environ, PATH=path, **env))


def test_a_venv_first_on_path_is_passed_over():
    # Under make, .venv/bin leads PATH; setup-venv removes .venv, so its Python must never be chosen.
    assert sys.prefix != sys.base_prefix, 'the unit tests run in the project venv'
    found = find(os.path.dirname(sys.executable) + ':' + os.environ['PATH'])
    assert found.returncode == 0, found.stderr  # this machine kind has a Python >= 3.12 besides the venv's
    assert os.path.dirname(found.stdout.strip()) != os.path.dirname(sys.executable), found.stdout


def test_luo_python_pointing_into_a_venv_is_refused_with_the_fix():
    found = find(os.environ['PATH'], LUO_PYTHON=sys.executable)
    assert found.returncode == 1
    assert 'outside any virtual environment; unset it or point it at one' in found.stderr


def test_no_python_at_all_is_refused_with_the_fix(tmp_path):
    for tool in ('bash', 'cat', 'ls', 'sort'):  # what the script itself runs, and no Python
        os.symlink(subprocess.check_output(['sh', '-c', 'command -v ' + tool], text=True).strip(), tmp_path / tool)
    found = find(str(tmp_path), PYENV_ROOT=str(tmp_path))
    assert found.returncode == 1
    assert 'no Python >= 3.12 found' in found.stderr and 'LUO_PYTHON' in found.stderr
