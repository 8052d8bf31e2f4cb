# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parameters a task lists (name, value, state), as the changes cmdline.py makes.

What YAML made of a value is checked here (a boolean from an unquoted on, a float that lost digits), and
each parameter may be listed once: the kernel_cmdline module's input, refused with a message that says
how to write it.
"""
from __future__ import annotations

from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline import (
    ANY, Change, normalize_name, validate_name, validate_value)


def _value_from_item(name, value):
    """A parameter value as given in a task: a string, an int (stringified) or None."""
    if isinstance(value, bool):
        word = 'on' if value else 'off'
        raise ValueError('value for %s is the boolean %s: YAML turned an unquoted word like `%s` into a boolean; quote it: value: "%s"'
                         % (name, value, word, word))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise ValueError('value for %s is the number %r: YAML read it as a float, which loses digits (1.10 becomes 1.1); quote it: value: "..."'
                         % (name, value))
    if value is not None and not isinstance(value, str):
        raise ValueError('value for %s is %r, a %s: give a string, e.g. value: "on"' % (name, value, type(value).__name__))
    return value


def changes_from_items(items):
    """Changes from task items {name, value, state}: validated, each name (dashes = underscores) once.

    value: a string, None (bare flag for present; every occurrence for absent)
    or an int, which is written in decimal. Booleans and floats are refused:
    YAML made them from an unquoted word or number.
    """
    if not items:
        raise ValueError('params is empty: list at least one parameter, e.g. params: [{name: liveupdate, value: "on"}]')
    changes = []
    seen = {}
    for position, item in enumerate(items, 1):
        name = item.get('name')
        validate_name(name)
        value = _value_from_item(name, item.get('value'))
        validate_value(name, value)
        state = item.get('state') or 'present'
        if state not in ('present', 'absent'):
            raise ValueError('state for %s is %r: use present or absent' % (name, state))
        key = normalize_name(name)
        if key in seen:
            raise ValueError('%s is listed twice in params (items %d and %d; dashes and underscores are the same in kernel parameter names): '
                             'list each parameter once' % (name, seen[key], position))
        seen[key] = position
        if state == 'present':
            changes.append(Change(name, value, True))
        else:
            changes.append(Change(name, ANY if value is None else value, False))
    return changes
