# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd.py with this machine's systemctl."""
from __future__ import annotations

import subprocess

from ansible_collections.luo.liveupdate.plugins.module_utils import systemd
from ansible_collections.luo.liveupdate.tests.integration.requirements import INSTALL_SYSTEMD, require_tool


def test_systemd_version_with_a_real_runner():
    systemctl = require_tool('systemctl', INSTALL_SYSTEMD)

    def run(argv):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr
    expected = int(subprocess.run([systemctl, '--version'], capture_output=True, text=True, check=True)
                   .stdout.split()[1])
    assert systemd.systemd_version(run) == expected
