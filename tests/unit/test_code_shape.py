# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shape the shipped code keeps: small files, short functions, nothing only tests reach.

docs/ARCHITECTURE.md says why; these checks keep it true as the code grows.
"""
from __future__ import annotations

import ast
import os
import re

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PLUGINS = os.path.join(REPO, 'plugins')
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
# Names Ansible itself looks up in plugin files.
CALLED_BY_ANSIBLE = {'main', 'ActionModule', 'ModuleDocFragment', 'FilterModule', 'TestModule'}


def python_files():
    for directory, _dirs, files in os.walk(PLUGINS):
        for name in sorted(files):
            if name.endswith('.py'):
                yield os.path.join(directory, name)


def relative(path):
    return os.path.relpath(path, REPO)


def tree(path):
    with open(path, encoding='utf-8') as handle:
        return ast.parse(handle.read(), path)


def functions(node):
    for child in ast.walk(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield child


@pytest.mark.parametrize('path', list(python_files()), ids=relative)
def test_file_is_small(path):
    with open(path, encoding='utf-8') as handle:
        lines = len(handle.readlines())
    assert lines <= MAX_FILE_LINES, '%s has %d lines: split it by job' % (relative(path), lines)


@pytest.mark.parametrize('path', list(python_files()), ids=relative)
def test_functions_are_short(path):
    long_ones = ['%s (%d lines)' % (function.name, function.end_lineno - function.lineno + 1)
                 for function in functions(tree(path))
                 if function.end_lineno - function.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long_ones, '%s: functions over %d lines: %s' % (relative(path), MAX_FUNCTION_LINES, ', '.join(long_ones))


def top_level_names(path):
    return [node.name for node in tree(path).body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def test_every_top_level_name_has_a_caller_in_the_shipped_code():
    """A function or class that only tests reach is not shipped: give it a user or delete it."""
    texts = {}
    for path in python_files():
        with open(path, encoding='utf-8') as handle:
            texts[path] = handle.read()
    unused = []
    for path, text in texts.items():
        for name in top_level_names(path):
            if name in CALLED_BY_ANSIBLE:
                continue
            word = re.compile(r'\b%s\b' % re.escape(name))
            uses = len(word.findall(text)) - 1 + sum(len(word.findall(other)) for where, other in texts.items() if where != path)
            if uses == 0:
                unused.append('%s: %s' % (relative(path), name))
    assert not unused, 'reached only from tests (or nowhere): %s' % ', '.join(unused)
