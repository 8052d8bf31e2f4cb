# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which backend governs the boot: detection, explicit choice, and the refusals every backend shares."""
from __future__ import annotations

import os

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader import common, grub, grubby, kernel_install, selection
from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline import ANY, Change
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host
from ansible_collections.luo.liveupdate.tests.unit.module_utils.bootloader_trees import (  # noqa: F401  pylint: disable=unused-import
    Runner, debian, fedora, install_tool, sdboot, tree_state, write)


def test_detect_grub(debian):
    detection = selection.detect(Host(debian, Runner()))
    assert detection.backend == 'grub'
    assert detection.evidence == ['%s/etc/default/grub exists' % debian,
                                  'update-grub executable at %s/usr/sbin/update-grub' % debian,
                                  'grub-mkconfig executable at %s/usr/sbin/grub-mkconfig' % debian]


def test_detect_grubby(fedora):
    assert selection.detect(Host(fedora, Runner())) == selection.Detection('grubby', ['grubby executable at %s/usr/sbin/grubby' % fedora])


def test_detect_kernel_install(sdboot):
    assert selection.detect(Host(sdboot, Runner())) == selection.Detection(
        'kernel-install', ['boot entries in %s/efi/loader/entries' % sdboot, 'kernel-install executable at %s/usr/bin/kernel-install' % sdboot])


def test_detect_kernel_install_by_its_cmdline_file(sdboot):
    os.remove(os.path.join(sdboot, 'usr/bin/kernel-install'))
    with pytest.raises(common.BootloaderError):
        selection.detect(Host(sdboot, Runner()))
    write(sdboot, 'etc/kernel/cmdline', 'ro\n')
    assert selection.detect(Host(sdboot, Runner())).evidence == ['boot entries in %s/efi/loader/entries' % sdboot, '%s/etc/kernel/cmdline exists' % sdboot]


def test_detect_prefers_grubby_over_kernel_install_and_grub(sdboot):
    install_tool(sdboot, 'update-grub')
    write(sdboot, 'etc/default/grub', 'GRUB_CMDLINE_LINUX=""\n')
    assert selection.detect(Host(sdboot, Runner())).backend == 'kernel-install'
    install_tool(sdboot, 'grubby.py')
    assert selection.detect(Host(sdboot, Runner())).backend == 'grubby'


def test_detect_grub_needs_a_tool(debian):
    for name in ('update-grub', 'grub-mkconfig'):
        os.remove(os.path.join(debian, 'usr/sbin', name))
    with pytest.raises(common.BootloaderError) as error:
        selection.detect(Host(debian, Runner()))
    message = str(error.value)
    assert message.startswith('no supported boot configuration found under %s: looked for a grubby executable in /usr/local/sbin' % debian)
    assert '/boot/loader/entries, /efi/loader/entries, /boot/efi/loader/entries' in message
    assert 'update-grub, grub-mkconfig or grub2-mkconfig' in message
    assert message.endswith('Set bootloader to grub, grubby or kernel-install to choose one explicitly')


def test_detect_grub_with_only_a_dropin_dir(debian):
    os.remove(os.path.join(debian, 'etc/default/grub'))
    assert selection.detect(Host(debian, Runner())).evidence[0] == '%s/etc/default/grub.d exists' % debian


def test_select_explicit_choice(debian):
    backend = selection.select(Host(debian, Runner()), 'grub')
    assert isinstance(backend, grub.GrubBackend)
    assert backend.evidence[0] == 'chosen explicitly'


@pytest.mark.parametrize('choice, message', [
    ('grubby', 'bootloader grubby was chosen but is not installed under .*: no grubby executable'),
    ('kernel-install', r'bootloader kernel-install was chosen but is not installed .*: no boot entries \(\*.conf\)'),
])
def test_select_refuses_a_backend_that_is_not_installed(debian, choice, message):
    with pytest.raises(common.BootloaderError, match=message):
        selection.select(Host(debian, Runner()), choice)


def test_select_refuses_grub_when_missing(sdboot):
    with pytest.raises(common.BootloaderError, match='bootloader grub was chosen but is not installed .*: it needs /etc/default/grub'):
        selection.select(Host(sdboot, Runner()), 'grub')


def test_select_refuses_unknown_backend(debian):
    with pytest.raises(common.BootloaderError, match="unknown bootloader 'lilo': choose one of auto, grub, grubby, kernel-install"):
        selection.select(Host(debian, Runner()), 'lilo')


def test_select_returns_each_backend(fedora, sdboot):
    assert isinstance(selection.select(Host(fedora, Runner())), grubby.GrubbyBackend)
    assert isinstance(selection.select(Host(sdboot, Runner())), kernel_install.KernelInstallBackend)


@pytest.mark.parametrize('change', [Change('a\0b', 'on', True), Change('x', 'a\nb', True), Change('#debug', None, True),
                                    Change('x', 'a\0b', False), Change('a\nb', ANY, False)])
@pytest.mark.parametrize('tree', ['debian', 'fedora', 'sdboot'])
def test_every_backend_refuses_bad_names_and_control_characters(request, tree, change):
    root = request.getfixturevalue(tree)
    before = tree_state(root)
    with pytest.raises(common.BootloaderError, match='^(parameter name|value for)'):
        selection.select(Host(root, Runner())).plan([change])
    assert tree_state(root) == before
