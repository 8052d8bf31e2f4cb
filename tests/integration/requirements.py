# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the integration tests need from this machine beyond the venv.

They never skip: when a tool, a kernel or root is missing, the test fails and says
what provides it, so a machine that cannot run them cannot pass them either.
"""
from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL_DEPS = 'run lab/install-deps (make integration does)'
INSTALL_SYSTEMD = "install Debian's systemd package (the lab machine runs systemd)"
FETCH_STOCK_KERNEL = 'run lab/fetch-stock-kernel (make integration does)'
GET_LAB_KERNELS = ('put the prebuilt lab kernels in ../shared/lab/kernels beside the repository '
                   'or name their directory in LUO_LAB_KERNELS (lab/kernels build builds them)')
# The lab kernels where lab/kernels looks for them first.
LAB_KERNELS = Path(os.environ.get('LUO_LAB_KERNELS') or REPO.parent / 'shared' / 'lab' / 'kernels')
# The tool behind each kernel compression the standard library cannot read.
DECOMPRESSOR_TOOLS = {'zstd': 'zstd', 'lz4': 'lz4', 'lzo': 'lzop'}


def missing(what, how):
    """Fail the test: what is missing and how to get it."""
    pytest.fail('%s: %s' % (what, how), pytrace=False)


def require_tool(name, how=INSTALL_DEPS):
    """The path of the program name on PATH; the test fails when there is none."""
    path = shutil.which(name)
    if path is None:
        missing('%s is not installed' % name, how)
    return path


def require_decompressor(method):
    """The path of the tool that compresses and decompresses method (zstd, lz4, lzo)."""
    return require_tool(DECOMPRESSOR_TOOLS[method])


def require_file(path, how):
    """str(path) of a regular file; the test fails when it is not there."""
    if not os.path.isfile(path):
        missing('%s is not there' % path, how)
    return str(path)


def require_root(why):
    """Fail unless the tests run as root; why says what needs it."""
    if os.geteuid() != 0:
        missing('%s needs root' % why, 'run the integration tests as root (make integration on the lab machine)')


def lab_kernel(name):
    """Path of a file of the lab kernels (vmlinuz-R-luo, config-R-luo)."""
    return require_file(LAB_KERNELS / name, GET_LAB_KERNELS)


def stock_kernel():
    """Path of Debian's stock cloud kernel (no KHO/LUO), where lab/fetch-stock-kernel puts it."""
    cache = os.environ.get('LUO_LAB_CACHE') or os.path.expanduser('~/.cache/luo-liveupdate-lab')
    found = sorted(glob.glob(os.path.join(cache, 'stock/usr/lib/modules/*/vmlinuz')) + glob.glob(os.path.join(cache, 'stock/boot/vmlinuz-*')))
    if not found:
        missing('no stock Debian kernel under %s/stock' % cache, FETCH_STOCK_KERNEL)
    return found[0]
