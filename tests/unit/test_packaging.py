# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as `ansible-galaxy collection build` packs it: what Galaxy, AWX and ansible-builder get."""
from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

from ansible_builder._target_scripts.introspect import process_collection

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))

# What a collection consists of; anything else at the top is a development tree or file.
SHIPPED_TOP = {'MANIFEST.json', 'FILES.json', 'README.md', 'COPYING', 'CHANGELOG.md',
               'meta', 'plugins', 'roles', 'playbooks', 'docs', 'changelogs'}
# Never shipped, at any depth.
NEVER_SHIPPED = ['__pycache__', '*.pyc', '.pytest_cache', '.ansible', '.coverage', '.plugin-cache.yaml']

MD_LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
MD_REFERENCE = re.compile(r'^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)', re.MULTILINE)
HTML_LINK = re.compile(r'\b(?:src|href)\s*=\s*["\']([^"\']+)["\']', re.IGNORECASE)
FENCED_CODE = re.compile(r'^(```|~~~).*?^\1', re.MULTILINE | re.DOTALL)


@pytest.fixture(scope='module')
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp('package')
    proc = subprocess.run([sys.executable, '-m', 'ansible.cli.galaxy', 'collection', 'build', '--output-path', str(out), REPO],
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = out.glob('luo-liveupdate-*.tar.gz')
    return path


@pytest.fixture(scope='module')
def members(tarball):
    """Every path in the tarball (files and directories, without a trailing slash)."""
    with tarfile.open(tarball) as tar:
        return {member.name.rstrip('/') for member in tar.getmembers()}


@pytest.fixture(scope='module')
def unpacked(tarball, tmp_path_factory):
    dest = tmp_path_factory.mktemp('unpacked') / 'ansible_collections' / 'luo' / 'liveupdate'
    dest.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(dest, filter='data')
    return dest


def test_ships_only_the_collection(members):
    extra_top = sorted({name.split('/')[0] for name in members} - SHIPPED_TOP)
    cached = sorted(name for name in members
                    if any(fnmatch.fnmatch(part, pattern) for part in name.split('/') for pattern in NEVER_SHIPPED))
    assert (extra_top, cached) == ([], [])


def test_ee_metadata_lists_dependency_files(unpacked, members):
    with open(unpacked / 'meta' / 'execution-environment.yml', encoding='utf-8') as f:
        meta = yaml.safe_load(f)
    # Collection-level metadata: only these keys; builder and galaxy-importer read each dependency as one relative path.
    assert set(meta) <= {'version', 'dependencies'} and meta.get('version') == 1
    deps = meta.get('dependencies')
    assert isinstance(deps, dict) and set(deps) <= {'python', 'system'}
    for path in deps.values():
        assert isinstance(path, str) and not os.path.isabs(path) and path in members
    # What galaxy-importer and ansible-builder run on every collection they install.
    process_collection(str(unpacked))


def shipped_markdown(members):
    return sorted(name for name in members if name.endswith('.md'))


def relative_links(text):
    text = FENCED_CODE.sub('', text)
    links = MD_LINK.findall(text) + MD_REFERENCE.findall(text) + HTML_LINK.findall(text)
    return [link for link in links if not re.match(r'^([a-z][a-z0-9+.-]*:|#)', link, re.IGNORECASE)]


def test_markdown_links_resolve_in_the_tarball(unpacked, members):
    assert 'README.md' in members
    broken = []
    for doc in shipped_markdown(members):
        text = (unpacked / doc).read_text(encoding='utf-8')
        for link in relative_links(text):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(doc), link.split('#')[0]))
            if target not in members:
                broken.append('%s -> %s' % (doc, link))
    assert broken == []
