# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GRUB script parser and the grub backend against GRUB's own grub-script-check (Debian package grub-common)."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader import selection
from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline import Change
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host
from ansible_collections.luo.liveupdate.tests.integration.requirements import require_tool
from ansible_collections.luo.liveupdate.tests.unit.module_utils.bootloader_trees import (  # noqa: F401  pylint: disable=unused-import
    GRUB_SCRIPT_VERDICTS, GRUB_SPECIAL_VALUES, REAL_GRUB_CFG, Runner, debian, dropin_linux_line, in_module_verdict)


@pytest.mark.parametrize('text, parses', GRUB_SCRIPT_VERDICTS)
def test_grub_script_parser_agrees_with_grub_script_check(tmp_path, text, parses):
    grub_script_check = require_tool('grub-script-check')
    path = tmp_path / 'grub.cfg'
    path.write_text(text)
    real = subprocess.run([grub_script_check, str(path)], capture_output=True, check=False).returncode == 0
    assert (real, in_module_verdict(text)) == (parses, parses)


def test_grub_script_check_accepts_the_grub_cfg_grub_mkconfig_wrote():
    subprocess.run([require_tool('grub-script-check'), REAL_GRUB_CFG], check=True)


def test_grub_checks_the_regenerated_grub_cfg_with_the_real_grub_script_check(debian):
    grub_script_check = require_tool('grub-script-check')
    os.makedirs(os.path.join(debian, 'usr/bin'))
    shutil.copy(grub_script_check, os.path.join(debian, 'usr/bin/grub-script-check'))
    changes = [Change('x', '7;echo', True), Change('y', 'file luo.c +p', True)]
    runner = Runner()
    backend = selection.select(Host(debian, runner))
    backend.apply(backend.plan(changes), changes)
    assert [os.path.join(debian, 'usr/bin/grub-script-check'), os.path.join(debian, 'boot/grub/grub.cfg')] in runner.calls


@pytest.mark.parametrize('value', GRUB_SPECIAL_VALUES + ['`id`', '$(id)', 'plain'])
def test_dropin_quoting_survives_sh_then_grub_script_check(tmp_path, value):
    grub_script_check = require_tool('grub-script-check')
    (tmp_path / 'grub.cfg').write_text(dropin_linux_line(tmp_path, value))
    subprocess.run([grub_script_check, str(tmp_path / 'grub.cfg')], check=True)
