# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures: run a module's main() in-process and get its JSON result, its keys documented."""
from __future__ import annotations

import json
import os
import sys

# Import the collection through Ansible's collection loader, as Ansible does, so that
# plugins (the action plugin) and module_utils load the same way in tests as in a run.
# The path must be set before Ansible reads its configuration, and come first so an
# installed copy of the collection cannot shadow this checkout.
_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
_CHECKOUT = os.path.join(_REPO, 'build', 'collections')
_LINK = os.path.join(_CHECKOUT, 'ansible_collections', 'luo', 'liveupdate')
if not os.path.lexists(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(_REPO, _LINK)
os.environ['ANSIBLE_COLLECTIONS_PATH'] = _CHECKOUT
os.environ['ANSIBLE_COLLECTIONS_SCAN_SYS_PATH'] = 'false'

import pytest  # noqa: E402  pylint: disable=wrong-import-position

from ansible.module_utils import _internal as ansible_internal  # noqa: E402  pylint: disable=wrong-import-position
from ansible.module_utils.common import warnings as ansible_warnings  # noqa: E402  pylint: disable=wrong-import-position
from ansible.module_utils.testing import patch_module_args  # noqa: E402  pylint: disable=wrong-import-position
from ansible.plugins.loader import init_plugin_loader  # noqa: E402  pylint: disable=wrong-import-position

init_plugin_loader()

from ansible_collections.luo.liveupdate.tests.unit.return_docs import assert_documented  # noqa: E402  pylint: disable=wrong-import-position


class ModuleResult(dict):
    """The module's JSON result; ``failed`` tells fail_json from exit_json."""

    @property
    def failed(self):
        return bool(self.get('failed'))


@pytest.fixture
def run_module(capsys, monkeypatch):
    """run_module(main, args, check_mode=False, diff=False) -> ModuleResult.

    The module runs as on a managed host: module.warn() lands in the result's
    warnings (with the plugin loader imported, Ansible would send them to the
    controller's display), starting from no warnings for each test.
    """
    monkeypatch.setattr(ansible_internal, 'is_controller', False)
    monkeypatch.setattr(ansible_warnings, '_global_warnings', {})

    def run(main, args, check_mode=False, diff=False):
        args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                main()
        out = capsys.readouterr().out
        return ModuleResult(assert_documented(sys.modules[main.__module__].__file__, json.loads(out)))
    return run


@pytest.fixture
def host_root(monkeypatch):
    """host_root(path): modules run in-process read and run commands below ``path``, not on this machine."""
    from ansible_collections.luo.liveupdate.plugins.module_utils import host as host_utils  # pylint: disable=import-outside-toplevel

    def use(path):
        monkeypatch.setattr(host_utils.Host, 'from_module',
                            classmethod(lambda cls, module: cls(str(path), host_utils.module_runner(module))))
        return str(path)
    return use


@pytest.fixture
def no_stdlib_zstd(monkeypatch):
    """Pretend Python has no compression.zstd (a no-op before Python 3.14)."""
    from ansible_collections.luo.liveupdate.plugins.module_utils import decompress  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(decompress, '_STDLIB_ZSTD', None)
