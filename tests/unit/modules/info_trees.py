# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builders of fixture host trees for the info module and hostfacts.

A tree is a directory laid out like a host's root: /proc and /sys files,
/boot with real (small) kernel images and configs, /dev/liveupdate, and
stand-in kexec and systemctl that print what the real tools print. The
``host_root`` fixture makes the module read the tree, not this machine.
"""
from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import systemd
from ansible_collections.luo.liveupdate.plugins.modules import info
from ansible_collections.luo.liveupdate.tests.unit.module_utils import kimage_builders as kb

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, 'fixtures', 'info')
SYSTEMD_FIXTURES = os.path.join(os.path.dirname(HERE), 'module_utils', 'fixtures', 'systemd')

RELEASE = '7.2.13'
TARGET_RELEASE = '7.3.4'
BOOT_ID = '5f1c9a3e-2b7d-4e8a-9c61-0d4f3b2a1e90'
LUO_CMDLINE = 'BOOT_IMAGE=/boot/vmlinuz-%s root=/dev/vda1 ro console=ttyS0 liveupdate=on kho=on' % RELEASE
PLAIN_CMDLINE = 'BOOT_IMAGE=/boot/vmlinuz-%s root=/dev/vda1 ro console=ttyS0 quiet' % RELEASE
LUO_ABI = kb.LAB_ABI
# The options of the lab kernels' configs that the module reads (see lab/kernel/luo-lab.config).
LUO_OPTIONS = {
    'X86_64': 'y',
    'KEXEC_FILE': 'y',
    'KEXEC_HANDOVER': 'y',
    'KEXEC_HANDOVER_ENABLE_DEFAULT': None,
    'KEXEC_HANDOVER_DEBUGFS': 'y',
    'LIVEUPDATE': 'y',
    'LIVEUPDATE_MEMFD': 'y',
    'MEMFD_CREATE': 'y',
    'SHMEM': 'y',
}
# The kexec-tools 2.0.32 binary's own outputs (see fixtures/info/README.md).
KEXEC_VERSION = 'kexec-version-2.0.32.txt'
KEXEC_HELP = 'kexec-help-2.0.32.txt'
KEXEC_HELP_WITHOUT_FILE_LOAD = 'kexec-help-without-file-syscall.txt'
SYSTEMCTL_VERSION = 'systemctl-version-262.txt'
SHOW_COLD = 'show-user-manager-cold-262.txt'
SHOW_AFTER_LIVE_UPDATE = 'show-manager-after-live-update-262.txt'
CALLS_LOG = 'calls.log'


def fixture_text(directory, name):
    with open(os.path.join(directory, name), encoding='utf-8') as handle:
        return handle.read()


def write(root, path, data, mode=None):
    """Write text or bytes at host path ``path`` below ``root``; returns the real path."""
    full = os.path.join(str(root), path.lstrip('/'))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'wb' if isinstance(data, bytes) else 'w') as handle:
        handle.write(data)
    if mode is not None:
        os.chmod(full, mode)
    return full


def remove(root, path):
    """Delete a file or a whole directory of the tree."""
    full = os.path.join(root, path.lstrip('/'))
    if os.path.isdir(full) and not os.path.islink(full):
        shutil.rmtree(full)
    else:
        os.remove(full)


def config_text(release, **overrides):
    """A kernel config as Kconfig writes it: LUO_OPTIONS with ``overrides`` (None: "is not set")."""
    options = dict(LUO_OPTIONS, **overrides)
    lines = ['#', '# Automatically generated file; DO NOT EDIT.', '# Linux/x86 %s Kernel Configuration' % release, '#']
    for name, value in options.items():
        lines.append('# CONFIG_%s is not set' % name if value is None else 'CONFIG_%s=%s' % (name, value))
    return '\n'.join(lines) + '\n'


def kernel_image(release, abi=LUO_ABI, method='gzip', config=None):
    """A real bzImage of ``release`` with the ABI strings ``abi`` (and an embedded config when given)."""
    body = kb.kernel_body(release=release, abi=abi, config_text=config)
    return kb.bzimage_of(body, method, version='%s (root@vm) #1 SMP PREEMPT_DYNAMIC' % release)


def install_kernel(root, release, abi=LUO_ABI, method='gzip', config=True):
    """/boot/vmlinuz-R and, unless config is False, /boot/config-R; returns the image's host path.

    config: True for the LUO config, a text for that config, False for none.
    """
    path = '/boot/vmlinuz-%s' % release
    write(root, path, kernel_image(release, abi, method))
    if config is not False:
        write(root, '/boot/config-%s' % release, config_text(release) if config is True else config)
    return path


def install_tool(root, path, outputs, default_rc=1, key='"$1"'):
    """A shell script at host ``path`` answering ``outputs`` {first argument: (rc, stdout[, stderr])}; with
    ``key='"$*"'``, {all the arguments, space-separated: ...}.

    Every call is appended to ROOT/calls.log, so tests can tell which tool ran.
    """
    log = os.path.join(str(root), CALLS_LOG)
    lines = ['#!/bin/sh', 'echo "$0 $*" >> %s' % shlex.quote(log), 'case %s in' % key]
    for argument, answer in outputs.items():
        rc, out, err = (tuple(answer) + ('',))[:3]
        lines.append('  %s)' % shlex.quote(argument))
        for text, redirect in ((out, ''), (err, ' >&2')):
            if text:
                lines.append("    cat%s <<'END_OF_OUTPUT'" % redirect)
                lines.append(text.rstrip('\n'))
                lines.append('END_OF_OUTPUT')
        lines.append('    exit %d ;;' % rc)
    lines.append('esac')
    lines.append('echo "$0: unexpected arguments: $*" >&2')
    lines.append('exit %d' % default_rc)
    return write(root, path, '\n'.join(lines) + '\n', mode=0o755)


def install_kexec(root, help_fixture=KEXEC_HELP, path='/usr/sbin/kexec'):
    return install_tool(root, path, {
        '--version': (0, fixture_text(FIXTURES, KEXEC_VERSION)),
        '--help': (0, fixture_text(FIXTURES, help_fixture)),
    })


def install_systemctl(root, version=SYSTEMCTL_VERSION, show=SHOW_COLD, show_rc=0, path='/usr/bin/systemctl'):
    """systemctl answering --version and show from the real outputs in module_utils/fixtures/systemd.

    The default show output is a 262 manager that never went through a live update (KExecCount=0).
    show_rc other than 0: show fails the way systemctl does without a bus.
    """
    if show_rc == 0:
        answer = (0, fixture_text(SYSTEMD_FIXTURES, show))
    else:
        answer = (show_rc, '', 'Failed to connect to bus: No such file or directory')
    return install_tool(root, path, {'--version': (0, fixture_text(SYSTEMD_FIXTURES, version)), 'show': answer})


def install_unit_tools(root, unit_answers, fdstore_answers):
    """systemctl (as install_systemctl, and answering ``show --property=... UNIT`` from ``unit_answers`` {unit:
    (rc, stdout[, stderr])}) and systemd-analyze answering ``fdstore UNIT --json=short`` from ``fdstore_answers``."""
    manager = 'show --timestamp=us+utc --property=' + ','.join(systemd.MANAGER_PROPERTIES)
    outputs = {'--version': (0, fixture_text(SYSTEMD_FIXTURES, SYSTEMCTL_VERSION)),
               manager: (0, fixture_text(SYSTEMD_FIXTURES, SHOW_COLD))}
    outputs.update(('show --property=LoadState,ActiveState,FileDescriptorStoreMax ' + unit, answer)
                   for unit, answer in unit_answers.items())
    install_tool(root, '/usr/bin/systemctl', outputs, key='"$*"')
    fdstore = {'fdstore %s --json=short' % unit: answer for unit, answer in fdstore_answers.items()}
    install_tool(root, '/usr/bin/systemd-analyze', fdstore, key='"$*"')


def calls(root):
    """The tool calls logged so far, one 'PATH ARGS' string each."""
    log = os.path.join(str(root), CALLS_LOG)
    if not os.path.exists(log):
        return []
    with open(log, encoding='utf-8') as handle:
        return handle.read().splitlines()


def install_device(root, kind='char'):
    """/dev/liveupdate as a char device (a symlink to /dev/null: stat() follows it), a regular file, or nothing."""
    full = os.path.join(str(root), 'dev/liveupdate')
    os.makedirs(os.path.dirname(full), exist_ok=True)
    if kind == 'char':
        os.symlink('/dev/null', full)
    elif kind == 'file':
        write(root, '/dev/liveupdate', '')
    return full


def make_node(root, major, minor, mode=0o600):
    """A real char device node /dev/liveupdate MAJOR:MINOR (needs CAP_MKNOD)."""
    full = os.path.join(str(root), 'dev/liveupdate')
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.mknod(full, stat.S_IFCHR | mode, os.makedev(major, minor))
    return full


def ready_host(root, release=RELEASE, cmdline=LUO_CMDLINE, arch='x86_64', uptime='12.34 20.10'):
    """A host tree ready for a live update: LUO kernel booted with liveupdate=on kho=on, device, kexec, systemd 262."""
    root = str(root)
    write(root, '/proc/sys/kernel/osrelease', release + '\n')
    write(root, '/proc/sys/kernel/random/boot_id', BOOT_ID + '\n')
    write(root, '/proc/sys/kernel/arch', arch + '\n')
    write(root, '/proc/cmdline', cmdline + '\n')
    write(root, '/proc/uptime', uptime + '\n')
    write(root, '/proc/sys/kernel/kexec_load_disabled', '0\n')
    write(root, '/sys/kernel/kexec_loaded', '0\n')
    write(root, '/sys/kernel/security/lockdown', '[none] integrity confidentiality\n')
    os.makedirs(os.path.join(root, 'run/systemd/system'), exist_ok=True)
    install_kernel(root, release)
    install_device(root)
    install_kexec(root)
    install_systemctl(root)
    return root


def run_command(argv, text):
    """The runner a module builds from run_command, made of subprocess."""
    proc = subprocess.run(argv, capture_output=True, text=text, check=False)
    return proc.returncode, proc.stdout, proc.stderr


# Fixtures of the info module tests (unit and integration).

@pytest.fixture
def root(tmp_path, host_root):
    """A LUO-ready host tree the info module reads instead of this machine."""
    return host_root(ready_host(tmp_path / 'root'))


@pytest.fixture
def check(run_module):
    """check(**args) -> the module's result, in check mode (the module only reads)."""
    def run(**args):
        result = run_module(info.main, args, check_mode=True)
        assert result['changed'] is False
        return result
    return run


def ids(reasons):
    return [item['id'] for item in reasons]
