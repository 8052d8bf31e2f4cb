# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the tests of the host programs luo-state and luo-qemu-guest."""
from __future__ import annotations

from ansible_collections.luo.liveupdate.tests.unit.roles.host_programs import manager  # noqa: F401  pylint: disable=unused-import
