# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixture roots of the three boot setups, stand-in tools, and a command runner for the bootloader tests."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as c
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader import grub, grub_script
from ansible_collections.luo.liveupdate.plugins.module_utils.cmdline import Change, Cmdline, Param
from ansible_collections.luo.liveupdate.plugins.module_utils.host import not_started

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'bootloader')
DEBIAN_DROPIN = 'etc/default/grub.d/90-luo-liveupdate.cfg'
FEDORA_ID = '4b1d0c3a9e8f47a6b5c4d3e2f1a09876'
FEDORA_NEW = 'boot/loader/entries/%s-6.12.5-200.fc41.x86_64.conf' % FEDORA_ID
FEDORA_OLD = 'boot/loader/entries/%s-6.11.9-300.fc41.x86_64.conf' % FEDORA_ID
SDBOOT_ID = '9f8e7d6c5b4a39281706f5e4d3c2b1a0'
SDBOOT_NEW = 'efi/loader/entries/%s-7.3.4.conf' % SDBOOT_ID
SDBOOT_OLD = 'efi/loader/entries/%s-7.2.13.conf' % SDBOOT_ID
SDBOOT_FOREIGN = 'efi/loader/entries/0123456789abcdef0123456789abcdef-6.1.0.conf'
LUO = [Change('liveupdate', 'on', True), Change('kho', 'on', True)]


class Runner(object):
    """A Host runner that runs commands for real and remembers them; one that cannot start gives what a module's gives."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv, text):
        assert isinstance(argv, list)
        self.calls.append(argv)
        try:
            proc = subprocess.run(argv, capture_output=True, text=text, check=False)
        except OSError as error:
            return not_started(argv[0], error, text)
        return proc.returncode, proc.stdout, proc.stderr


def install_tool(root, name, directory='usr/sbin', as_name=None):
    """Copy a stand-in tool into root, executable; Python ones get this interpreter."""
    source = os.path.join(FIXTURES, 'tools', name)
    with open(source, encoding='utf-8') as handle:
        text = handle.read()
    if text.startswith('#!/usr/bin/env python\n'):
        text = '#!%s\n%s' % (sys.executable, text.split('\n', 1)[1])
    target = os.path.join(root, directory, as_name or name.replace('.py', ''))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.chmod(target, 0o755)
    return target


def make_root(tmp_path, tree):
    root = str(tmp_path / tree)
    shutil.copytree(os.path.join(FIXTURES, 'trees', tree), root)
    return root


def read(root, path):
    full = os.path.join(root, path)
    if not os.path.exists(full):
        return None
    with open(full, encoding='utf-8') as handle:
        return handle.read()


def write(root, path, text):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w', encoding='utf-8') as handle:
        handle.write(text)


def tree_state(root):
    """Every file under root with its bytes and mode (calls.log left out)."""
    state = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            if name == 'calls.log':
                continue
            with open(path, 'rb') as handle:
                state[os.path.relpath(path, root)] = (handle.read(), stat.S_IMODE(os.stat(path).st_mode))
    return state


@pytest.fixture
def debian(tmp_path):
    root = make_root(tmp_path, 'debian-grub')
    install_tool(root, 'grub-mkconfig')
    install_tool(root, 'update-grub')
    return root


@pytest.fixture
def fedora(tmp_path):
    root = make_root(tmp_path, 'fedora-grubby')
    install_tool(root, 'grubby.py')
    return root


@pytest.fixture
def sdboot(tmp_path):
    root = make_root(tmp_path, 'systemd-boot')
    install_tool(root, 'kernel-install', 'usr/bin')
    return root


def pair(linux, default):
    return c.parse(linux), c.parse(default)


# Values GRUB would rewrite if they stood unquoted in a linux line of grub.cfg.
GRUB_SPECIAL_VALUES = ['7;echo', '$prefix', '${root}', 'a#b', '#x', 'file luo.c +p', '{x}', 'a|b', 'a&b', '<x>', '*', "[[", '!x', 'a(b)']


def pairs(cmdline):
    return [tuple(param) for param in cmdline.params]


def grub_kernel_params(text):
    """The kernel parameters of each linux line of text, as GRUB hands them over."""
    return [pairs(cmdline) for cmdline in grub_script.grub_cfg_cmdlines(text)]


SHARED_CMDLINE = 'root=/dev/vda2  ro\tquiet\nrhgb   console=ttyS0,115200 \n'


# What grub-script-check (GRUB 2.06) says of each text: True when it parses.
GRUB_SCRIPT_VERDICTS = [
    ('linux /v ro a=7;echo x\n', True),
    ('linux /v ro #debug liveupdate=on\n', True),
    ('menuentry x {\n linux /v ro a=bar\\\n}\n', True),
    ('linux /v ro a=$prefix b=${prefix}/x c=$1 d=$? "e=$root" f=$# g=$@ h=$*\n', True),
    ("linux /v ro x='file luo.c +p' y='$prefix' z='7;echo' w='a|b'\n", True),
    ('linux /v ro in do time fi a]] ! a=(x) a=* a={x}\n', True),
    ('linux /v ro a=$"x"\n', True),
    ('linux /v a="x\\$y\\"z\\\\"\n', True),
    ('linux /v a\\\nb\n', True),
    ('if [ x = y ]; then\n linux /v\nfi\n', True),
    ('linux /v ro ;\n', True),
    ('linux /v ro bar\\', False),
    ('linux /v ro a=\\\n', False),
    ('linux /v ro a=b|c\n', False),
    ('linux /v ro a&&b\n', False),
    ('linux /v ro a||b\n', False),
    ('linux /v ro a&b\n', False),
    ('linux /v ro a<b\n', False),
    ('linux /v ro a>b\n', False),
    ('linux /v a=b;;\n', False),
    ('linux /v ro [[ x\n', False),
    ('linux /v ro ]]\n', False),
    ('linux /v ro a=$-\n', False),
    ('linux /v ro a=${-}\n', False),
    ('linux /v ro a=x$\n', False),
    ('linux /v ro a="$"\n', False),
    ('linux /v ro a=${x\n', False),
    ('linux /v ro a=$"x\n', False),
    ("linux /v ro a='x\n", False),
    ('linux /v ro a="x\n', False),
    ('linux /v ro {\n', False),
    ('linux /v {\n}\n', False),
    ('}\n', False),
    ('; linux /v\n', False),
]


def in_module_verdict(text):
    try:
        grub_script.grub_script_commands(text)
    except grub_script.GrubScriptError:
        return False
    return True


# grub.cfg as grub-mkconfig (GRUB 2.06) wrote it with the drop-in the grub backend renders.
REAL_GRUB_CFG = os.path.join(FIXTURES, 'grub-mkconfig-2.06.cfg')


def sourced_variable(path, variable='GRUB_CMDLINE_LINUX_DEFAULT'):
    """The variable after sh sources path, as grub-mkconfig sources the drop-in."""
    return subprocess.run(['/bin/sh', '-c', '. "$1"; printf %s "$' + variable + '"', 'sh', path],
                          capture_output=True, text=True, check=True).stdout


def dropin_linux_line(tmp_path, value):
    """The linux line of grub.cfg after grub-mkconfig sources a drop-in setting parameter x to value."""
    text = grub.render_grub_dropin((c.empty(), c.empty()), (c.empty(), Cmdline((Param('x', value),), ())))
    path = tmp_path / 'x.cfg'
    path.write_text(text)
    return 'linux /vmlinuz root=/dev/vda1 ro %s\n' % sourced_variable(str(path))
