# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures: run a module's main() in-process and get its JSON result."""
from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args


class ModuleResult(dict):
    """The module's JSON result; ``failed`` tells fail_json from exit_json."""

    @property
    def failed(self):
        return bool(self.get('failed'))


@pytest.fixture
def run_module(capsys):
    """run_module(main, args, check_mode=False, diff=False) -> ModuleResult."""
    def run(main, args, check_mode=False, diff=False):
        args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                main()
        out = capsys.readouterr().out
        return ModuleResult(json.loads(out))
    return run
