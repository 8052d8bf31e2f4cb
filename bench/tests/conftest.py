# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/ and the collection link on sys.path: `make collection-link` first."""
from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for path in (os.path.join(ROOT, 'bench'), os.path.join(ROOT, 'build', 'collections')):
    if path not in sys.path:
        sys.path.insert(0, path)
