# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip bootstrap script that ansible-test downloads.

ansible-test runs the cached script as __main__ with pip-install arguments; the host it
downloads from is not reachable everywhere. This installs pip from the interpreter's own
ensurepip wheel, then lets that pip install the requested version from the package index.
"""
from __future__ import annotations

import ensurepip
import subprocess
import sys

# get-pip.py flags that `pip install` does not know.
GET_PIP_ONLY_FLAGS = ('--no-setuptools', '--no-wheel')


def main() -> None:
    ensurepip.bootstrap()
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS]
    sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + args))


if __name__ == '__main__':
    main()
