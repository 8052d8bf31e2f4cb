# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which kernel release is newer: the order the boot entries, the installed kernels and the controller share."""
from __future__ import annotations

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils.kernel_version import newest_newer_kernel, version_key


def test_version_key_orders_numbers_numerically():
    assert sorted(['7.10.1', '7.2.13', '7.3.4'], key=version_key) == ['7.2.13', '7.3.4', '7.10.1']


def kernels(*releases):
    return [{'release': release, 'image': '/boot/vmlinuz-%s' % release} for release in releases]


@pytest.mark.parametrize('installed, running, chosen', [
    (('7.2.13', '7.3.4'), '7.3.4', None),
    (('7.3.4',), '7.3.4', None),
    ((), '7.3.4', None),
    (('7.2.13', '7.3.4', '7.10.0', '7.9.9'), '7.3.4', '7.10.0'),
    (('7.3.4', '7.3.4+deb14-cloud-amd64'), '7.3.4', '7.3.4+deb14-cloud-amd64'),
    (('7.2.13+deb14-cloud-amd64', '7.3.4+deb14-cloud-amd64'), '7.3.4+deb14-cloud-amd64', None),
])
def test_newest_newer_kernel_never_goes_back(installed, running, chosen):
    found = newest_newer_kernel(kernels(*installed), running)
    assert (found and found['release']) == chosen


def test_release_order_is_the_boot_loaders():
    releases = ['7.9.1', '7.10.0', '7.2.13', '7.3.4+deb14-cloud-amd64']
    assert sorted(releases, key=version_key) == ['7.2.13', '7.3.4+deb14-cloud-amd64', '7.9.1', '7.10.0']


@pytest.mark.parametrize('running, installed, chosen', [
    ('7.10.1', ['7.10.1-rc1'], None),                    # a release candidate is older than its release
    ('7.10.1-rc1', ['7.10.1', '7.10.1-rc2'], '7.10.1'),
    ('7.10.1-rc2', ['7.10.1-rc10'], '7.10.1-rc10'),
    ('6.8.0-45-generic', ['6.8.0-47-generic', '6.8.0-31-generic'], '6.8.0-47-generic'),
    ('7.9.0', ['7.10.0-rc1'], '7.10.0-rc1'),
])
def test_newest_newer_kernel_orders_release_candidates_before_their_release(running, installed, chosen):
    kernels = [{'release': release, 'image': '/boot/vmlinuz-' + release} for release in installed]
    found = newest_newer_kernel(kernels, running)
    assert (found or {}).get('release') == chosen
