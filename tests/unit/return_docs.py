# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every key a module returns is documented in its RETURN, at every level RETURN describes.

The runners of the unit tests (run_module in conftest.py, the action and flow runners) pass each real result
through assert_documented, so a key added to a result without its documentation fails the test that made it.
"""
from __future__ import annotations

import functools

from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import get_docstring

# Keys Ansible documents for every module (its common return values), and what it adds to a result itself.
COMMON_KEYS = frozenset(('changed', 'failed', 'msg', 'warnings', 'deprecations', 'diff', 'invocation', 'skipped',
                         'exception', 'rc', 'stdout', 'stderr', 'stdout_lines', 'stderr_lines', 'ansible_facts'))


@functools.lru_cache(maxsize=None)
def docs_of(path):
    """(DOCUMENTATION, RETURN) of the module file at path, doc fragments merged as ansible-doc merges them."""
    doc, _examples, returns, _metadata = get_docstring(path, fragment_loader, is_module=True)
    return doc, returns or {}


def undocumented(value, returns, prefix=''):
    """The dotted names of the keys in value that returns (a RETURN mapping) does not describe.

    A documented dict or list of dicts is looked into when its documentation says what it contains.
    """
    found = []
    for key, item in value.items():
        name = prefix + key
        if key not in returns:
            if not prefix and key in COMMON_KEYS:
                continue
            found.append(name)
            continue
        contains = returns[key].get('contains')
        if not contains:
            continue
        if isinstance(item, dict):
            found.extend(undocumented(item, contains, name + '.'))
        elif isinstance(item, list):
            for element in item:
                if isinstance(element, dict):
                    found.extend(undocumented(element, contains, name + '[].'))
    return sorted(set(found))


def assert_documented(module_file, result):
    """Fail when result holds a key that the RETURN of the module at module_file does not document."""
    missing = undocumented(result, docs_of(module_file)[1])
    assert not missing, '%s returned keys its RETURN does not document: %s' % (module_file, ', '.join(missing))
    return result
