# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline_items
from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline import ANY, Change


def test_changes_from_items():
    changes = cmdline_items.changes_from_items([
        {'name': 'liveupdate', 'value': 'on', 'state': 'present'},
        {'name': 'quiet', 'value': None, 'state': 'present'},
        {'name': 'nokaslr', 'value': None, 'state': 'absent'},
        {'name': 'console', 'value': 'tty0', 'state': 'absent'},
        {'name': 'loglevel', 'value': 7},
    ])
    assert changes == [
        Change('liveupdate', 'on', True),
        Change('quiet', None, True),
        Change('nokaslr', ANY, False),
        Change('console', 'tty0', False),
        Change('loglevel', '7', True),
    ]


@pytest.mark.parametrize('items, message', [
    ([], 'params is empty'),
    (None, 'params is empty'),
    ([{'name': 'liveupdate', 'value': True}],
     r'value for liveupdate is the boolean True: YAML turned an unquoted word like `on` into a boolean; quote it: value: "on"'),
    ([{'name': 'kho', 'value': False}], r'the boolean False: .* quote it: value: "off"'),
    ([{'name': 'x', 'value': 1.1}], 'value for x is the number 1.1: YAML read it as a float'),
    ([{'name': 'x', 'value': ['a']}], r"value for x is \['a'\], a list"),
    ([{'name': 'x', 'value': 'a"'}], 'contains a double quote'),
    ([{'name': 'x=1'}], 'contains "="'),
    ([{'name': 'x', 'state': 'gone'}], "state for x is 'gone': use present or absent"),
    ([{'name': 'kho_scratch', 'value': '1G'}, {'name': 'kho-scratch', 'state': 'absent'}],
     r'kho-scratch is listed twice in params \(items 1 and 2'),
])
def test_changes_from_items_refuses(items, message):
    with pytest.raises(ValueError, match=message):
        cmdline_items.changes_from_items(items)
