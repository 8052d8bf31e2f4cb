# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The unit drop-ins and keeper configuration the preserve role renders, rendered by Ansible's templar."""
from __future__ import annotations

import pathlib

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

TEMPLATES = pathlib.Path(__file__).resolve().parents[3] / 'roles' / 'preserve' / 'templates'
KEEPER = {'name': 'cache', 'service': 'mycache.service', 'paths': ['/run/mycache/state.db', '/run/mycache-extra',
                                                                   '/var/cache/mycache/index']}


def render(name, **variables):
    templar = Templar(loader=DataLoader(), variables=dict(variables, ansible_managed='managed'))
    return templar.template(trust_as_template((TEMPLATES / name).read_text()))


def settings(text):
    """[(key, value)] of the key=value lines of a unit file."""
    return [tuple(line.split('=', 1)) for line in text.splitlines() if '=' in line and not line.startswith('#')]


def test_keeper_drop_in_lets_missing_parents_pass_namespace_setup():
    # A parent that does not exist at boot (a directory the service creates under /run) must not
    # fail the keeper's namespace setup: "-" makes systemd skip a missing ReadWritePaths= entry.
    text = render('keeper.conf.j2', luo_preserve_keeper=KEEPER, luo_preserve_program='/usr/local/sbin/luo-state')
    assert [value for key, value in settings(text) if key == 'ReadWritePaths'] == \
        ['-/run/mycache -/run -/var/cache/mycache']
    assert ('Before', 'mycache.service') in settings(text) and ('PartOf', 'mycache.service') in settings(text)
    assert ('ExecStart', '/usr/bin/python3 /usr/local/sbin/luo-state restore %i') in settings(text)


def test_keeper_configuration_lists_the_paths_and_max_size():
    text = render('luo-state.conf.j2', luo_preserve_keeper=dict(KEEPER, max_size='1G'))
    assert ('paths ', ' /run/mycache/state.db /run/mycache-extra /var/cache/mycache/index') in settings(text)
    assert ('max_size ', ' 1G') in settings(text)


def test_service_drop_in_requires_the_keeper():
    text = render('service.conf.j2', luo_preserve_keeper=KEEPER)
    assert settings(text) == [('Requires', 'luo-state@cache.service'), ('After', 'luo-state@cache.service')]


def test_fdstore_drop_in_defaults_and_session():
    assert settings(render('fdstore.conf.j2', luo_preserve_service={'name': 'db.service'})) == \
        [('FileDescriptorStoreMax', '16'), ('FileDescriptorStorePreserve', 'yes')]
    service = {'name': 'db.service', 'fdstore_max': 64, 'preserve': 'on-success', 'luo_session': 'db'}
    text = render('fdstore.conf.j2', luo_preserve_service=service)
    assert settings(text) == [('FileDescriptorStoreMax', '64'), ('FileDescriptorStorePreserve', 'on-success'),
                              ('LUOSession', 'db')]
