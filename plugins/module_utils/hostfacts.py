# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gather what a live update depends on, from a Host (see host.py). Read only.

The facts keep full details (the whole kernel config) for readiness.py;
``public`` trims them to what the info module returns.
"""
from __future__ import annotations

import os
import re
import time

from ansible_collections.luo.liveupdate.plugins.module_utils import bootfacts, cmdline, image_cache, kconfig, kexec, kimage, luo, systemd
from ansible_collections.luo.liveupdate.plugins.module_utils.kernel_version import version_key

DEVICE = '/dev/liveupdate'
# debugfs: present when KHO is on; "in" only when this boot received KHO state.
KHO_DEBUGFS_OUT = '/sys/kernel/debug/kho/out'
KHO_DEBUGFS_IN = '/sys/kernel/debug/kho/in'
KEXEC_FILE_FLAG = '--kexec-file-syscall'
# Where kernel images of release R are installed; the /boot ones first, as boot loaders see them.
IMAGE_PATHS = ('/boot/vmlinuz-%s', '/boot/Image-%s', '/lib/modules/%s/vmlinuz', '/usr/lib/modules/%s/vmlinuz')
# The kernel log: one "PRIO,SEQ,USEC,FLAGS;MESSAGE" record per read, " KEY=value" lines after it.
KMSG = '/dev/kmsg'
KMSG_READ_SIZE = 1 << 16
KMSG_LIMIT = 64 << 20
# What a kernel logs when it was started by a kexec that handed KHO state over (kernel/liveupdate).
KHO_FOUND = 'KHO: found kexec handover data.'
KHO_EXEC_FROM = re.compile(r'^KHO: exec from: (\S+) \(count (\d+)\)$')
LUO_RETRIEVED = re.compile(r'^luo: Retrieved live update data, liveupdate number: (\d+)$')


def gather(host, probe_device=False):
    """All facts about the running host."""
    kernel = running_kernel(host)
    params = cmdline_facts(host)
    sysd = systemd_facts(host)
    return {
        'kernel': kernel,
        'cmdline': params,
        'device': device_facts(host, probe_device),
        'kho': kho_facts(host, kernel, params, sysd),
        'kexec': kexec_facts(host),
        'systemd': sysd,
        'kernels': installed_kernels(host),
        'boot': bootfacts.gather(host),
    }


def running_kernel(host):
    """Release, arch, page size, config and the ABI strings of the running kernel's image."""
    release = host.read('/proc/sys/kernel/osrelease') or os.uname().release
    config_error = None
    try:
        found = kconfig.find_config(release, root=host.root)
    except kconfig.KernelConfigError as exc:
        # A config that exists but cannot be read: unknown, with the reason (readiness shows it).
        found, config_error = None, str(exc)
    config_source, config = (host.host_view(found[0]), found[1]) if found else (None, None)
    facts = {
        'release': release,
        'boot_id': host.read('/proc/sys/kernel/random/boot_id'),
        'arch': host.read('/proc/sys/kernel/arch') or os.uname().machine,
        'page_size': os.sysconf('SC_PAGE_SIZE'),
        'config_source': config_source,
        'config': config,
        'config_error': config_error,
        'image': None,
        'abi': None,
        'payload_reason': None,
    }
    image_path = _running_image(host, release)
    if image_path is None:
        facts['payload_reason'] = 'no image for %s in /boot' % release
        return facts
    facts['image'] = host.host_view(image_path)
    try:
        image = image_cache.inspect(host, image_path)
    except kimage.KernelImageError as exc:
        facts['payload_reason'] = str(exc)
        return facts
    facts['abi'] = abi_of(image)
    facts['payload_reason'] = image.payload_reason
    return facts


def _running_image(host, release):
    for pattern in IMAGE_PATHS:
        if os.path.isfile(host.path(pattern % release)):
            return host.path(pattern % release)
    return None


def installed_kernels(host):
    """[{release, image}] of the kernel images installed in the usual places, newest release first."""
    found = {}
    for pattern in IMAGE_PATHS:
        for release in _releases_installed_as(host, pattern):
            found.setdefault(release, pattern % release)
    return [{'release': release, 'image': found[release]} for release in sorted(found, key=version_key, reverse=True)]


def _releases_installed_as(host, pattern):
    """The releases R for which the file ``pattern % R`` exists."""
    head, _tail = pattern.split('%s')
    directory, start = head.rsplit('/', 1)
    try:
        names = os.listdir(host.path(directory))
    except OSError:
        return []
    releases = [name[len(start):] for name in names if name.startswith(start) and len(name) > len(start)]
    return [release for release in releases if os.path.isfile(host.path(pattern % release))]


def abi_of(image):
    """{kho, luo, memfd} as single strings ('' joined when several), None when the payload was unreadable."""
    if image.abi is None or not image.payload_readable:
        return None
    return {name: (' '.join(found) if found else None) for name, found in image.abi.items()}


def cmdline_facts(host):
    """The running command line and the LUO parameters in it."""
    raw = host.read('/proc/cmdline', default='')
    parsed = cmdline.parse(raw)
    return {
        'raw': raw,
        'liveupdate': cmdline.get(parsed, 'liveupdate'),
        'kho': cmdline.get(parsed, 'kho'),
        'kho_scratch': cmdline.get(parsed, 'kho_scratch'),
    }


def device_facts(host, probe_device):
    """/dev/liveupdate from stat(); opened (and closed at once) only when asked."""
    info = luo.device_info(host.path(DEVICE))
    facts = {
        'path': DEVICE,
        'present': info['exists'],
        'char_device': info['is_char_device'],
        'major_minor': info['devno'],
        'probe': None,
    }
    if probe_device:
        try:
            probe = luo.probe_device(host.path(DEVICE), misc_dev_path=host.path(luo.MISC_DEV_PATH))
        except ValueError as exc:
            # sysfs names the registered device in a form this code does not read: report, don't crash.
            probe = {'state': 'error', 'errno': None, 'message': str(exc)}
        if probe.get('state') == 'busy':
            holders = device_holders(host)
            if holders:
                named = ', '.join('pid %d %s' % (holder['pid'], holder['comm']) for holder in holders)
                probe = dict(probe, holders=holders, message='%s (held now by %s)' % (probe['message'], named),
                             fix='stop %s, which holds it, then try again; no tool may keep /dev/liveupdate open' % named)
        facts['probe'] = dict(probe, path=DEVICE)
    return facts


def device_holders(host):
    """The processes with /dev/liveupdate open ({pid, comm}, by pid), from /proc/PID/fd; those it cannot read are left out."""
    holders = []
    try:
        pids = sorted(int(name) for name in os.listdir(host.path('/proc')) if name.isdigit())
    except OSError:
        return holders
    for pid in pids:
        fd_dir = host.path('/proc/%d/fd' % pid)
        try:
            targets = [os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)]
        except OSError:
            continue  # gone, or not ours to read
        if DEVICE in targets:
            holders.append({'pid': pid, 'comm': host.read('/proc/%d/comm' % pid, '?')})
    return holders


def kho_facts(host, kernel, params, sysd):
    """KHO switched on, and whether this boot received state (was a live update), with the evidence.

    The kernel log is the best witness: it names the kernel that handed over and the counts; without
    the start of the log (overwritten on a long-running host) its silence proves nothing. Then debugfs,
    then systemd's KExecCount, which counts any kexec, with or without state.
    """
    config = kernel['config']
    enabled = bool(config) and config.get('KEXEC_HANDOVER') == 'y' and kho_switched_on(params, config)
    facts = {'enabled': enabled, 'incoming': None, 'evidence': None, 'previous_release': None, 'count': None,
             'liveupdate_number': None, 'kernel_log_error': None}
    try:
        log = kernel_log_handover(read_kernel_log(host))
    except OSError as exc:
        log = {'handover': False, 'complete': False}
        facts['kernel_log_error'] = 'cannot read the kernel log %s: %s' % (KMSG, exc.strerror)
    if log['handover']:
        facts.update(incoming=True, evidence='kernel log', previous_release=log['previous_release'], count=log['count'],
                     liveupdate_number=log['liveupdate_number'])
    elif host.exists(KHO_DEBUGFS_IN):
        facts.update(incoming=True, evidence='debugfs')
    elif log['complete']:
        facts.update(incoming=False, evidence='kernel log')
    elif host.exists(KHO_DEBUGFS_OUT):
        facts.update(incoming=False, evidence='debugfs')
    elif sysd.get('kexec_count') is not None:
        facts.update(incoming=enabled and sysd['kexec_count'] > 0, evidence='KExecCount')
    return facts


def kho_switched_on(cmdline_params, config):
    """KHO is on when kho=on is given, or the kernel enables it by default and kho=off is not given."""
    value = (cmdline_params.get('kho') or '').lower()
    if value in ('on', '1', 'y', 'yes', 'true'):
        return True
    if value in ('off', '0', 'n', 'no', 'false'):
        return False
    return bool(config) and config.get('KEXEC_HANDOVER_ENABLE_DEFAULT') == 'y'


def read_kernel_log(host):
    """The kernel log as /dev/kmsg hands it out, oldest record first (OSError when it cannot be read)."""
    handle = os.open(host.path(KMSG), os.O_RDONLY | os.O_NONBLOCK)
    chunks, size = [], 0
    try:
        while size < KMSG_LIMIT:
            try:
                chunk = os.read(handle, KMSG_READ_SIZE)
            except BlockingIOError:
                break  # EAGAIN: no record newer than the last one read
            except BrokenPipeError:
                continue  # EPIPE: records were overwritten meanwhile; the next read goes on after them
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(handle)
    return b''.join(chunks).decode('utf-8', 'replace')


def kernel_log_handover(text):
    """What the kernel log says about the handover that started this boot.

    ``complete``: the log starts with the boot's first record (sequence 0), so a missing line is missing.
    """
    found = {'handover': False, 'complete': False, 'previous_release': None, 'count': None, 'liveupdate_number': None}
    records = [line for line in text.splitlines() if line and not line[0].isspace()]
    if records:
        fields = records[0].partition(';')[0].split(',')
        found['complete'] = len(fields) > 1 and fields[1] == '0'
    for record in records:
        message = record.partition(';')[2]
        exec_from = KHO_EXEC_FROM.match(message)
        retrieved = LUO_RETRIEVED.match(message)
        if message == KHO_FOUND:
            found['handover'] = True
        elif exec_from:
            found.update(previous_release=exec_from.group(1), count=int(exec_from.group(2)))
        elif retrieved:
            found['liveupdate_number'] = int(retrieved.group(1))
    return found


def kexec_facts(host):
    """kexec-tools and the kernel's kexec switches."""
    path = host.which('kexec')
    facts = {
        'path': host.host_view(path) if path else None,
        'version': None,
        'file_load_supported': False,
        'loaded': host.read('/sys/kernel/kexec_loaded') == '1',
        'load_disabled': host.read('/proc/sys/kernel/kexec_load_disabled') == '1',
        'lockdown': parse_lockdown(host.read('/sys/kernel/security/lockdown')),
    }
    if path:
        rc, out, err = host.run([path, '--version'])
        if rc == 0:
            facts['version'] = (out or err).strip().splitlines()[0] if (out or err).strip() else None
        rc, out, err = host.run([path, '--help'])
        facts['file_load_supported'] = KEXEC_FILE_FLAG in (out + err)
    return facts


def parse_lockdown(text):
    """'none integrity [confidentiality]' -> 'confidentiality'; None when unknown."""
    match = re.search(r'\[(\w+)\]', text or '')
    return match.group(1) if match else None


def systemd_facts(host):
    """systemd's version, what it supports, KExecCount and the last live update's phases."""
    facts = {'version': None, 'fdstore_preserve_supported': False, 'luo_session_supported': False,
             'kexec_count': None, 'last_live_update_ms': None, 'error': None}
    if not host.which('systemctl') or not host.exists('/run/systemd/system'):
        facts['error'] = 'systemd is not the running init system'
        return facts
    try:
        version = systemd.systemd_version(host.run)
        facts.update(version=version, fdstore_preserve_supported=systemd.supports_fdstore_preserve(version),
                     luo_session_supported=systemd.supports_luo_session(version))
        if systemd.supports_kexec_timestamps(version):
            kernel_start = systemd.kernel_start_from_uptime(host.read('/proc/uptime'), int(time.time() * 1000000))
            update = systemd.live_update_facts(host.run, kernel_start_usec=kernel_start)
            facts['kexec_count'] = update['kexec_count']
            if update['kexec_count']:
                facts['last_live_update_ms'] = update['phases']
    except (systemd.SystemdError, ValueError) as exc:
        facts['error'] = str(exc)
    return facts


def target(host, path):
    """Facts of a target kernel image at absolute host path ``path`` (raises kimage.KernelImageError for a bad file)."""
    image = image_cache.inspect(host, host.path(path))
    config = image.config
    source = image.config_source
    if source:
        # A config file's path, or "IMAGE (embedded IKCONFIG)": both name a path below the root.
        source = host.host_view(source)
    return {
        'path': path,
        'release': image.release,
        'compression': image.compression,
        'payload_readable': image.payload_readable,
        'payload_reason': image.payload_reason,
        'config_source': source,
        'config': config,
        'page_size': kconfig.page_size(config) if config else None,
        'abi': abi_of(image),
        'initrd': initrd_facts(host, path, image.release, config),
    }


def initrd_facts(host, kernel, release, config):
    """The initramfs paired with the image at ``kernel`` by its distribution's name, and whether it needs one."""
    candidates = kexec.initrd_candidates(kernel, release)
    found = [candidate for candidate in candidates if os.path.isfile(host.path(candidate))]
    return {'path': found[0] if found else None, 'needed': kexec.initrd_needed(config), 'candidates': candidates}


def public(facts):
    """The facts as the info module returns them (config trimmed to the LUO options)."""
    kernel = dict(facts['kernel'])
    config = kernel.pop('config')
    kernel.pop('config_error')
    kernel.pop('payload_reason')
    kernel['options'] = kconfig.luo_options(config) if config else None
    return dict(facts, kernel=kernel, cautions=cautions(facts))


def public_target(facts):
    """A target's facts as returned (config trimmed to the LUO options)."""
    result = dict(facts)
    config = result.pop('config')
    result.pop('page_size')
    result['options'] = kconfig.luo_options(config) if config else None
    return result


def lockdown_caution(kexec_state):
    """What kernel lockdown means for staging a kernel (``kexec_state``: kexec_facts' result); None without lockdown."""
    lockdown = kexec_state['lockdown']
    if lockdown and lockdown != 'none':
        return 'kernel lockdown is %s: kexec_file_load accepts only images signed with a key the kernel trusts' % lockdown
    return None


def cautions(facts):
    """What does not block but may surprise."""
    found = []
    if lockdown_caution(facts['kexec']):
        found.append(lockdown_caution(facts['kexec']))
    if facts['systemd'].get('error'):
        found.append(facts['systemd']['error'])
    if facts['kexec']['loaded']:
        found.append('a kernel is already staged for kexec (/sys/kernel/kexec_loaded=1): systemctl kexec will boot it')
    return found
