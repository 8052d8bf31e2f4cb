# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/bad-input.md is made from the bad-input tests themselves, so it lists exactly what they try.

Regenerate it with: LUO_WRITE_BAD_INPUT_DOC=1 .venv/bin/python -m pytest -q tests/unit/test_bad_input_doc.py"""
from __future__ import annotations

import json
import os
import pathlib

from ansible_collections.luo.liveupdate.tests.unit.modules.test_kernel_cmdline_bad_input import readme_table
from ansible_collections.luo.liveupdate.tests.integration.playbooks.test_qemu_guest_validation import CASES as QEMU_GUEST_CASES
from ansible_collections.luo.liveupdate.tests.integration.playbooks.test_role_inputs import markdown_table

DOC = pathlib.Path(__file__).resolve().parents[2] / 'docs' / 'bad-input.md'

HEADER = '''# Bad input: what was tried, and what you get

Every value below is given to the module or role in a unit test, which checks that it is refused
with this message and that nothing changed: the boot configuration files (kernel_cmdline) or the
directories the roles write (units, drop-ins, configuration) are checksummed before and after.
This page is generated from those tests (`tests/unit/test_bad_input_doc.py`); a test fails when
it is out of date.

'''


def qemu_guest_table():
    """The qemu_guest role's cases: the settings given and what the refusal says (each part is checked)."""
    lines = ['| settings | the refusal says |', '|---|---|']
    for settings, says in QEMU_GUEST_CASES.values():
        given = ' '.join('`%s: %s`' % (name, json.dumps(value)) for name, value in settings.items())
        lines.append('| %s | %s |' % (given.replace('|', '\\|'), ' … '.join(says).replace('|', '\\|').replace('\n', '\\n')))
    return '\n'.join(lines)


def render():
    return (HEADER
            + '## Module `kernel_cmdline`\n\n' + readme_table() + '\n\n'
            + '## Roles `preserve`, `rollout`, `host`\n\n' + markdown_table() + '\n\n'
            + '## Role `qemu_guest`\n\n' + qemu_guest_table() + '\n')


def test_bad_input_doc_is_current():
    if os.environ.get('LUO_WRITE_BAD_INPUT_DOC') == '1':
        DOC.write_text(render())
    assert DOC.read_text() == render(), 'docs/bad-input.md is out of date: run this test with LUO_WRITE_BAD_INPUT_DOC=1'
