# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a command with a private /var/lib, so playbooks run on this machine leave its real state alone.

The modules write where they do on any host (the rollout's lock in /var/lib/luo-liveupdate). The command
runs in its own mount namespace where /var/lib is a directory of the test, which the test then inspects.
"""
from __future__ import annotations

import shutil
import subprocess

BIND = 'mount --bind "$0" /var/lib && exec "$@"'


def private_var_lib(argv, state_dir):
    """argv wrapped to run with ``state_dir`` as its /var/lib."""
    return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', BIND, str(state_dir)] + list(argv)


def can_use_private_var_lib():
    """Whether this machine lets us make a mount namespace (root, unshare present): the reason if not."""
    if not shutil.which('unshare'):
        return 'unshare (util-linux) is not installed'
    probe = subprocess.run(private_var_lib(['true'], '/tmp'), capture_output=True, text=True, check=False)
    if probe.returncode:
        return 'cannot make a mount namespace here (run as root): %s' % probe.stderr.strip()
    return None
