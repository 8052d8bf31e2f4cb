# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The qemu_guest role refuses bad settings before it touches the host.

One ansible-playbook run applies the whole role (entry point main) to this machine, once per case: each
case is an inventory host with connection local and its own settings. A bad setting must stop its host
in the role's checks, with the variable, the value and the fix, before the first task that reads the
host; the files the role writes (and the account databases) must not change. Every case also boots
from a kernel that does not exist and keeps luo_qemu_guest_require_luo, so a case whose check is
missing still stops before writing: on a kernel without LUO at the LUO refusal, else at the missing file.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
PLAYBOOK = '''
- hosts: all
  gather_facts: false
  roles:
    - luo.liveupdate.qemu_guest
'''
# What the role writes on a host, and the account databases its user and group go to.
WRITTEN = ['/etc/luo-qemu-guest', '/etc/systemd/system', '/usr/local/sbin/luo-qemu-guest', '/usr/local/lib/luo-liveupdate',
           '/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow']
KERNEL = '/nonexistent-luo-qemu-guest-test/vmlinuz'
FIRST_HOST_TASK = "luo.liveupdate.qemu_guest : Read the host's LUO readiness"
# case: (settings, words its refusal must contain)
CASES = {
    'name-newline': ({'luo_qemu_guest_name': 'demo\n'},
                     ['luo_qemu_guest_name = "demo\\n" is not a guest name', 'use 1 to 63 letters']),
    'kernel-relative': ({'luo_qemu_guest_kernel': 'boot/vmlinuz'},
                        ['luo_qemu_guest_kernel = "boot/vmlinuz" is not a file', 'write it from /']),
    'kernel-dotdot': ({'luo_qemu_guest_kernel': '/srv/../etc/shadow'},
                      ['luo_qemu_guest_kernel = "/srv/../etc/shadow"', 'no "." or ".." parts']),
    'kernel-home': ({'luo_qemu_guest_kernel': '/home/me/vmlinuz'},
                    ['luo_qemu_guest_kernel = "/home/me/vmlinuz"', "which the guest's sandbox hides"]),
    'initrd-alone': ({'luo_qemu_guest_kernel': '', 'luo_qemu_guest_initrd': '/boot/initrd.img',
                      'luo_qemu_guest_disks': [{'path': '/srv/g/a.img'}]},
                     ['luo_qemu_guest_initrd = "/boot/initrd.img" is set without a kernel']),
    'append-newline': ({'luo_qemu_guest_append': 'console=ttyS0\ninit=/bin/sh'},
                       ['luo_qemu_guest_append = "console=ttyS0\\ninit=/bin/sh" is not one line of text',
                        'without control characters']),
    'append-nul': ({'luo_qemu_guest_append': 'quiet\x00'}, ['luo_qemu_guest_append = "quiet\\u0000"']),
    'extra-args-newline': ({'luo_qemu_guest_extra_args': ['-device', 'virtio-rng-pci\n-S']},
                           ['luo_qemu_guest_extra_args[1] = "virtio-rng-pci\\n-S" is not a QEMU argument']),
    'extra-args-daemonize': ({'luo_qemu_guest_extra_args': ['-daemonize']},
                             ['luo_qemu_guest_extra_args[0] = "-daemonize"', 'left to luo-qemu-guest']),
    'extra-args-string': ({'luo_qemu_guest_extra_args': '-S'},
                          ['luo_qemu_guest_extra_args = "-S" is not a list of strings']),
    'memory-newline': ({'luo_qemu_guest_memory_mib': '1024\n'},
                       ['luo_qemu_guest_memory_mib = "1024\\n" is not a size in MiB']),
    'memory-zero': ({'luo_qemu_guest_memory_mib': 0}, ['luo_qemu_guest_memory_mib = "0" is not a size in MiB']),
    'smp-negative': ({'luo_qemu_guest_smp': -1}, ['luo_qemu_guest_smp = "-1" is not a number of vCPUs']),
    'fdstore-two': ({'luo_qemu_guest_fdstore_max': 2}, ['luo_qemu_guest_fdstore_max = "2"', 'needs 3 entries']),
    'timeout-float': ({'luo_qemu_guest_save_timeout': 1.5}, ['luo_qemu_guest_save_timeout', 'unable to convert to int']),
    'timeout-text': ({'luo_qemu_guest_start_timeout': '60s'}, ['luo_qemu_guest_start_timeout', 'unable to convert to int']),
    'machine-options': ({'luo_qemu_guest_machine': 'q35,smm=off'},
                        ['luo_qemu_guest_machine = "q35,smm=off"', 'machine options go in luo_qemu_guest_extra_args']),
    'cpu-space': ({'luo_qemu_guest_cpu': 'host -S'}, ['luo_qemu_guest_cpu = "host -S" is not a QEMU CPU model']),
    'accel-other': ({'luo_qemu_guest_accel': 'hvf'}, ['luo_qemu_guest_accel', 'kvm, tcg']),
    'network-bridge': ({'luo_qemu_guest_network': 'bridge'}, ['luo_qemu_guest_network', 'none, user, tap']),
    'qmp-elsewhere': ({'luo_qemu_guest_qmp_socket': '/tmp/qmp.sock'},
                      ['luo_qemu_guest_qmp_socket = "/tmp/qmp.sock"', 'use /run/luo-qemu-guest/NAME/FILE']),
    'qmp-other-guest': ({'luo_qemu_guest_qmp_socket': '/run/luo-qemu-guest/other/qmp.sock'},
                        ['luo_qemu_guest_qmp_socket = "/run/luo-qemu-guest/other/qmp.sock" is outside',
                         'use /run/luo-qemu-guest/demo/qmp.sock']),
    'serial-log-elsewhere': ({'luo_qemu_guest_serial_log': '/var/log/demo.log'},
                             ['luo_qemu_guest_serial_log = "/var/log/demo.log"', 'use /var/log/luo-qemu-guest/FILE']),
    'disk-in-etc': ({'luo_qemu_guest_disks': [{'path': '/etc/shadow'}]},
                    ['luo_qemu_guest_disks[0].path = "/etc/shadow" is not a disk image path', 'system directories']),
    'disk-relative': ({'luo_qemu_guest_disks': [{'path': 'images/a.img'}]},
                      ['luo_qemu_guest_disks[0].path = "images/a.img"']),
    'disk-twice': ({'luo_qemu_guest_disks': [{'path': '/srv/g/a.img'}, {'path': '/srv/g/a.img', 'format': 'raw'}]},
                   ['luo_qemu_guest_disks names an image more than once', 'give each image once']),
    'disk-format': ({'luo_qemu_guest_disks': [{'path': '/srv/g/a.img', 'format': 'vmdk'}]},
                    ['luo_qemu_guest_disks', 'raw, qcow2']),
    'user-root': ({'luo_qemu_guest_user': 'root'},
                  ['luo_qemu_guest_user = "root" is not an unprivileged user or group name', 'not root']),
    'group-newline': ({'luo_qemu_guest_group': 'kvm\n'}, ['luo_qemu_guest_group = "kvm\\n"']),
    'package-option': ({'luo_qemu_guest_packages': ['qemu-system-x86', '--force-yes ']},
                       ['luo_qemu_guest_packages[1] = "--force-yes " is not a package name']),
}
GOOD = {'luo_qemu_guest_disks': [{'path': '/srv/luo-qemu-guest/web1.qcow2', 'format': 'qcow2'}],
        'luo_qemu_guest_append': 'console=ttyS0 quiet', 'luo_qemu_guest_cpu': 'max,+pdpe1gb',
        'luo_qemu_guest_extra_args': ['-device', 'virtio-rng-pci'], 'luo_qemu_guest_network': 'user',
        'luo_qemu_guest_memory_mib': '2048'}


def digest(paths):
    """{path: sha256 of the path's tree (names, modes, contents), or None when it does not exist}."""
    result = {}
    for top in paths:
        if not os.path.lexists(top):
            result[top] = None
            continue
        sha = hashlib.sha256()
        for root, dirs, files in os.walk(top) if os.path.isdir(top) else [(os.path.dirname(top), [], [os.path.basename(top)])]:
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                info = os.lstat(path)
                sha.update(('%s %o\n' % (path, info.st_mode)).encode())
                if os.path.isfile(path) and not os.path.islink(path):
                    sha.update(pathlib.Path(path).read_bytes())
        result[top] = sha.hexdigest()
    return result


def inventory():
    base = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable, 'luo_qemu_guest_name': 'demo',
            'luo_qemu_guest_kernel': KERNEL, 'luo_qemu_guest_install_packages': False}
    hosts = {case: dict(base, **settings) for case, (settings, _words) in CASES.items()}
    hosts['good'] = dict(base, **GOOD)
    return {'all': {'hosts': hosts}}


def parse(output):
    """({host: [messages of its failures]}, {task name: {hosts that ran it}}) from the default callback."""
    failures, tasks, task = {}, {}, None
    for line in output.splitlines():
        header = re.match(r'TASK \[(.*)\] \**$', line)
        if header:
            task = header.group(1)
            continue
        result = re.match(r'(ok|changed|skipping|failed|fatal): \[([^\]]+)\]', line)
        if result and task:
            tasks.setdefault(task, set()).add(result.group(2))
        if result and result.group(1) in ('failed', 'fatal') and ' => ' in line:
            failures.setdefault(result.group(2), []).append(json.loads(line.split(' => ', 1)[1]).get('msg', ''))
    return failures, tasks


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp('qemu-guest-validation')
    (work / 'inventory.json').write_text(json.dumps(inventory()))
    (work / 'guest.yml').write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / 'build' / 'collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_CALLBACK_RESULT_FORMAT='json', ANSIBLE_CALLBACK_FORMAT_PRETTY='false', ANSIBLE_FORKS='8',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_RETRY_FILES_ENABLED='false')
    before = digest(WRITTEN)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'),
                           '-i', str(work / 'inventory.json'), str(work / 'guest.yml')],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, check=False, timeout=600)
    failures, tasks = parse(proc.stdout)
    return {'output': proc.stdout, 'rc': proc.returncode, 'before': before, 'after': digest(WRITTEN),
            'failures': failures, 'tasks': tasks}


@pytest.mark.parametrize('case', sorted(CASES))
def test_a_bad_setting_is_refused_before_the_role_reads_the_host(run, case):
    messages = ' | '.join(run['failures'].get(case, []))
    for words in CASES[case][1]:
        assert words in messages, run['output'][-4000:]
    assert case not in run['tasks'].get(FIRST_HOST_TASK, set())


def test_good_settings_pass_the_checks(run):
    assert 'good' in run['tasks'][FIRST_HOST_TASK], run['output'][-4000:]
    # It stops later, before writing: this kernel has no LUO, or the kernel file does not exist.
    assert any('cannot keep guest demo' in message or KERNEL in message for message in run['failures']['good'])


def test_nothing_was_written(run):
    assert run['rc'] != 0
    assert run['after'] == run['before']
    assert not any(task in run['tasks'] for task in ("luo.liveupdate.qemu_guest : Create the guest's group",
                                                     'luo.liveupdate.qemu_guest : Install the module shared with luo-state',
                                                     'luo.liveupdate.qemu_guest : Install the guest wrapper program'))
