# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The layers of docs/ARCHITECTURE.md: who may import whom, and one way to the host."""
from __future__ import annotations

import ast
import os

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PREFIX = 'ansible_collections.luo.liveupdate.plugins.'
# Kinds of plugin files each kind may import from this collection.
ALLOWED = {
    'module_utils': {'module_utils'},
    'modules': {'module_utils'},
    'plugin_utils': {'module_utils', 'plugin_utils'},
    'action': {'module_utils', 'plugin_utils'},
    'doc_fragments': set(),
}
# Decisions (and what acts on them) judge facts; facts never import decisions.
DECISIONS = {'hostfacts', 'readiness', 'target', 'info_report', 'preflight', 'staging'}


def plugin_files():
    for kind in ALLOWED:
        for directory, _dirs, files in os.walk(os.path.join(REPO, 'plugins', kind)):
            for name in sorted(files):
                if name.endswith('.py'):
                    yield kind, os.path.join(directory, name)


def collection_imports(path):
    """Dotted names below plugins. this file imports ('module_utils.host', 'module_utils.bootloader.grub', ...)."""
    with open(path, encoding='utf-8') as handle:
        tree = ast.parse(handle.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or '').startswith(PREFIX):
            base = node.module[len(PREFIX):]
            found.extend('%s.%s' % (base, alias.name) if base.count('.') == 0 else base for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend(alias.name[len(PREFIX):] for alias in node.names if alias.name.startswith(PREFIX))
    return found


def module_name(path):
    return os.path.splitext(os.path.basename(path))[0]


CASES = list(plugin_files())


@pytest.mark.parametrize('kind, path', CASES, ids=[os.path.relpath(path, REPO) for _kind, path in CASES])
def test_imports_follow_the_layers(kind, path):
    wrong = [name for name in collection_imports(path) if name.split('.')[0] not in ALLOWED[kind]]
    assert not wrong, '%s (%s) may import only %s, not %s' % (os.path.relpath(path, REPO), kind, sorted(ALLOWED[kind]), wrong)


@pytest.mark.parametrize('kind, path', [case for case in CASES if case[0] == 'module_utils'],
                         ids=[os.path.relpath(path, REPO) for kind, path in CASES if kind == 'module_utils'])
def test_facts_do_not_import_decisions(kind, path):
    del kind
    if module_name(path) in DECISIONS:
        return
    used = {name.split('.')[1] for name in collection_imports(path) if name.startswith('module_utils.')}
    assert not used & DECISIONS, '%s gathers or formats facts: it must not import %s' % (module_name(path), sorted(used & DECISIONS))


def test_only_host_py_is_the_way_to_the_host():
    """No module_utils file reads the environment: the host is what Host says, not a switch outside it."""
    readers = []
    for kind, path in CASES:
        if kind != 'module_utils':
            continue
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
        if 'os.environ' in text or 'getenv' in text:
            readers.append(os.path.relpath(path, REPO))
    assert not readers, 'read the environment: %s' % readers


def test_the_import_parser_sees_imports():
    """The checks above mean something only if the parser finds imports in every form the code uses."""
    path = os.path.join(REPO, 'plugins', 'module_utils', 'bootloader', 'selection.py')
    assert {'module_utils.bootloader', 'module_utils.bootloader.common', 'module_utils.host'} <= set(collection_imports(path))
