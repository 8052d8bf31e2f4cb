# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the tests of the host programs luo-state and luo-qemu-guest."""
from __future__ import annotations

import pytest

from ansible_collections.luo.liveupdate.tests.unit.roles.host_programs import FakeManager


@pytest.fixture
def manager(tmp_path, monkeypatch):
    """A FakeManager on tmp_path/notify, which NOTIFY_SOCKET names."""
    address = str(tmp_path / 'notify')
    fake = FakeManager(address)
    monkeypatch.setenv('NOTIFY_SOCKET', address)
    yield fake
    fake.close()
