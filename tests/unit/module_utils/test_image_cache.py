# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""image_cache.py: an image is decompressed once while it stays the same file; nobody else's cache is believed."""
from __future__ import annotations

import json
import os

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import image_cache
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host
from ansible_collections.luo.liveupdate.tests.unit.module_utils import kimage_builders as kb


class TreeHost(Host):
    """A host below ``root`` that runs this machine's decompressors (gzip payloads decompress in Python)."""

    def __init__(self, root):
        super().__init__(str(root), lambda argv, text: kb.run_tool(argv))


def install(root, name='vmlinuz-7.9.1-test', body=None, method='gzip'):
    path = root / 'boot' / name
    path.parent.mkdir(exist_ok=True)
    kb.write(path, kb.bzimage_of(body if body is not None else kb.body_with_config(), method))
    return str(path)


def cache_file(root):
    return root / image_cache.CACHE_PATH.lstrip('/')


def forge(root, path, **changes):
    """Change what the cache says about path, to tell an answer from the cache from a fresh inspection."""
    entries = json.loads(cache_file(root).read_text())
    entries[path]['image'].update(changes)
    cache_file(root).write_text(json.dumps(entries))


def inspected_then_forged(root, release):
    """An image inspected once, its cache entry then made to say ``release``: (host, image path)."""
    host = TreeHost(root)
    path = install(root)
    image_cache.inspect(host, path)
    forge(root, path, release=release)
    return host, path


def test_a_second_inspection_comes_from_the_cache(tmp_path):
    host = TreeHost(tmp_path)
    path = install(tmp_path)
    first = image_cache.inspect(host, path)
    assert (first.release, first.abi['luo']) == ('7.9.1-test', ['luo-v5'])
    assert oct(cache_file(tmp_path).stat().st_mode & 0o777) == '0o600'
    forge(tmp_path, path, release='from-the-cache')
    assert image_cache.inspect(host, path).release == 'from-the-cache'


def test_a_rewritten_image_is_inspected_again(tmp_path):
    host, path = inspected_then_forged(tmp_path, 'from-the-cache')
    install(tmp_path)  # the same bytes written again: a new mtime and ctime
    assert image_cache.inspect(host, path).release == '7.9.1-test'


def test_a_changed_config_file_beside_the_image_is_read_again(tmp_path):
    host = TreeHost(tmp_path)
    path = install(tmp_path, body=kb.kernel_body())
    config = kb.config_file(tmp_path / 'boot' / 'config-7.9.1-test')
    image_cache.inspect(host, path)
    forge(tmp_path, path, release='from-the-cache')
    assert image_cache.inspect(host, path).release == 'from-the-cache'
    kb.config_file(tmp_path / 'boot' / 'config-7.9.1-test', 'CONFIG_LIVEUPDATE=y\nCONFIG_KEXEC_HANDOVER=y\n')
    image = image_cache.inspect(host, path)
    assert image.release == '7.9.1-test' and image.config_source == config
    assert image.config['KEXEC_HANDOVER'] == 'y'


def test_without_a_config_nothing_is_kept(tmp_path):
    host = TreeHost(tmp_path)
    path = install(tmp_path, body=kb.kernel_body())
    assert image_cache.inspect(host, path).config is None
    assert not cache_file(tmp_path).exists()  # a config installed later must be found


def test_an_unreadable_payload_is_not_kept(tmp_path):
    host = Host(str(tmp_path), lambda argv, text: (127, b'', b'not found'))
    path = install(tmp_path, method='lzo')
    host.which = lambda name: None
    image = image_cache.inspect(host, path)
    assert image.payload_readable is False
    assert not cache_file(tmp_path).exists()  # a decompressor installed later must be used


@pytest.mark.parametrize('spoil', ['group-writable', 'other-owner', 'symlink', 'not-json', 'a-list'])
def test_a_cache_that_cannot_be_trusted_is_ignored(tmp_path, spoil):
    host, path = inspected_then_forged(tmp_path, 'planted')
    cache = cache_file(tmp_path)
    if spoil == 'group-writable':
        cache.chmod(0o620)
    elif spoil == 'other-owner':
        if os.geteuid() != 0:
            pytest.skip('needs root to give the file to another user')
        os.chown(cache, 12345, -1)
    elif spoil == 'symlink':
        planted = tmp_path / 'planted.json'
        planted.write_text(cache.read_text())
        planted.chmod(0o600)
        cache.unlink()
        cache.symlink_to(planted)
    elif spoil == 'not-json':
        cache.write_text('{"half')
    else:
        cache.write_text('[]')
    assert image_cache.inspect(host, path).release == '7.9.1-test'


def test_a_directory_others_may_write_is_neither_read_nor_written(tmp_path):
    host, path = inspected_then_forged(tmp_path, 'planted')
    cache_file(tmp_path).parent.chmod(0o777)
    assert image_cache.inspect(host, path).release == '7.9.1-test'
    assert json.loads(cache_file(tmp_path).read_text())[path]['image']['release'] == 'planted'  # not rewritten


def test_a_cache_that_cannot_be_written_is_no_failure(tmp_path):
    host = TreeHost(tmp_path)
    path = install(tmp_path)
    (tmp_path / 'var').write_text('not a directory')
    assert image_cache.inspect(host, path).release == '7.9.1-test'


def test_the_newest_entries_are_kept(tmp_path):
    host = TreeHost(tmp_path)
    paths = [install(tmp_path, 'vmlinuz-%d' % number) for number in range(image_cache.MAX_ENTRIES + 2)]
    for path in paths:
        image_cache.inspect(host, path)
    image_cache.inspect(host, paths[0])  # inspected again: the newest now
    kept = list(json.loads(cache_file(tmp_path).read_text()))
    assert len(kept) == image_cache.MAX_ENTRIES and kept[-1] == paths[0] and paths[1] not in kept


def test_a_missing_image_fails_as_inspect_image_does(tmp_path):
    with pytest.raises(image_cache.kimage.KernelImageError, match='does not exist'):
        image_cache.inspect(TreeHost(tmp_path), str(tmp_path / 'boot' / 'vmlinuz-none'))


def test_identity_of_a_missing_file_is_none(tmp_path):
    assert image_cache.identity(str(tmp_path / 'none')) is None
    (tmp_path / 'f').write_text('x')
    assert len(image_cache.identity(str(tmp_path / 'f'))) == 5


def test_load_of_a_missing_cache_is_empty(tmp_path):
    assert image_cache.load(str(tmp_path / 'none' / 'images.json')) == {}
