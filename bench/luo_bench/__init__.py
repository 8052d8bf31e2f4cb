# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmarks of luo.liveupdate on the lab VMs: run them with bench/run."""
from __future__ import annotations
