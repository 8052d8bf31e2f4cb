# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kconfig on the configs of the lab's LUO kernels."""
from __future__ import annotations

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import hostfacts, kconfig, readiness
from ansible_collections.luo.liveupdate.tests.integration.requirements import lab_kernel


@pytest.mark.parametrize('release', ('7.2.13', '7.3.4'))
def test_lab_config(release):
    config = kconfig.read_config_file(lab_kernel('config-%s-luo' % release))
    assert readiness.missing_options(config) == []
    assert kconfig.page_size(config) == 4096
    assert hostfacts.kho_switched_on({'kho': None}, config) is False
    assert kconfig.luo_options(config)['KEXEC_HANDOVER_DEBUGFS'] == 'y'
