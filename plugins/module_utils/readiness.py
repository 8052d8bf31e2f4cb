# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decide whether a host can live update, and whether a target kernel fits it.

Pure functions over the facts gathered by ``hostfacts``: every blocker becomes a
reason ``{id, message, fix}``. Unknown is never good: a fact that could not be
read blocks with a reason that says how to make it readable.
"""
from __future__ import annotations

from ansible_collections.luo.liveupdate.plugins.module_utils.hostfacts import kho_switched_on
from ansible_collections.luo.liveupdate.plugins.module_utils.kimage import ABI_NAMES

# Kernel options LUO needs, with what each one does (for the messages).
REQUIRED_OPTIONS = (
    ('KEXEC_HANDOVER', 'no Kexec HandOver (KHO), which carries the state to the next kernel'),
    ('LIVEUPDATE', 'no Live Update Orchestrator, so no /dev/liveupdate'),
    ('LIVEUPDATE_MEMFD', 'no preservation of memfds'),
)
SUPPORTED_ARCHES = ('x86_64', 'aarch64')
# What an ABI string that differs between the running kernel and the target does to the state.
ABI_MISMATCH_CONSEQUENCES = {'luo': 'a luo ABI mismatch panics the new kernel at boot',
                             'kho': 'a kho ABI mismatch silently drops the preserved state',
                             'memfd': 'a memfd ABI mismatch loses the preserved memfds'}
KERNEL_FIX = ('boot a kernel built with CONFIG_KEXEC_HANDOVER=y, CONFIG_LIVEUPDATE=y and '
              'CONFIG_LIVEUPDATE_MEMFD=y (Linux >= 7.2; Debian\'s stock kernels do not enable them)')
CMDLINE_FIX = ('run luo.liveupdate.kernel_cmdline with liveupdate=on and kho=on (or the role '
               'luo.liveupdate.host), then reboot so the running kernel gets them')


def reason(reason_id, message, fix):
    """One blocker, in the shape the modules return."""
    return {'id': reason_id, 'message': message, 'fix': fix}


def reasons_text(reasons):
    """Blockers as one line for a failure message, each with its fix."""
    return '; '.join('%s (fix: %s)' % (item['message'], item['fix']) for item in reasons)


def missing_options(config):
    """The REQUIRED_OPTIONS (with what each does) that ``config`` does not build in."""
    return [(option, role) for option, role in REQUIRED_OPTIONS if config.get(option, 'n') != 'y']


def config_reasons(config, release, source, prefix='kernel', error=None):
    """Blockers from a kernel config dict (None = not found, or unreadable as ``error`` says) of ``release``."""
    if config is None and error:
        return [reason(
            prefix + '-config-unreadable',
            'the kernel config of %s cannot be read, so its LUO support is unknown: %s' % (release, error),
            'make the config readable (run with become: true) or reinstall it from the kernel package')]
    if config is None:
        return [reason(
            prefix + '-config-unknown',
            'no kernel config found for %s, so its LUO support is unknown' % release,
            'install /boot/config-%s (shipped with the kernel package) or use a kernel with '
            'CONFIG_IKCONFIG_PROC=y' % release)]
    return [reason('%s-config-%s' % (prefix, option.lower().replace('_', '-')),
                   'CONFIG_%s=%s in %s (%s): %s' % (option, config.get(option, 'n'), release, source, role),
                   KERNEL_FIX)
            for option, role in missing_options(config)]


def cmdline_reasons(cmdline, config):
    """Blockers from the running command line: LUO and KHO must be switched on at boot."""
    found = []
    if (cmdline.get('liveupdate') or '').lower() not in ('on', '1', 'y', 'yes', 'true'):
        found.append(reason(
            'cmdline-liveupdate',
            'the running kernel was booted without liveupdate=on (liveupdate=%s)' % _shown(cmdline.get('liveupdate')),
            CMDLINE_FIX))
    if not kho_switched_on(cmdline, config):
        found.append(reason(
            'cmdline-kho',
            'the running kernel was booted without kho=on (kho=%s) and KHO is not on by default '
            '(CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT)' % _shown(cmdline.get('kho')),
            CMDLINE_FIX))
    return found


def device_reasons(device, config_ok, cmdline_ok):
    """Blockers from /dev/liveupdate (and the optional probe)."""
    path = device['path']
    if not device['present']:
        if not config_ok:
            why, fix = 'the running kernel has no LUO support (see the kernel-config reasons)', KERNEL_FIX
        elif not cmdline_ok:
            why, fix = 'the kernel was not booted with liveupdate=on kho=on', CMDLINE_FIX
        else:
            why = 'LUO disabled itself at boot'
            fix = 'read the kernel log (journalctl -k | grep -i -e luo -e kho) for why'
        return [reason('device-missing', '%s does not exist: %s' % (path, why), fix)]
    if not device['char_device']:
        return [reason('device-not-char', '%s exists but is not a character device' % path,
                       'remove whatever created %s and reboot so devtmpfs provides the real device' % path)]
    probe = device.get('probe')
    if probe and probe.get('state') not in (None, 'ok'):
        return [reason('device-' + probe['state'], probe.get('message') or 'cannot open %s' % path,
                       probe.get('fix') or 'see the message')]
    return []


def kexec_reasons(kexec):
    """Blockers from kexec-tools and the kernel's kexec switches."""
    found = []
    if not kexec.get('path'):
        found.append(reason('kexec-missing', 'kexec (kexec-tools) is not installed',
                            'install kexec-tools (apt-get install kexec-tools / dnf install kexec-tools)'))
    elif not kexec.get('file_load_supported'):
        found.append(reason(
            'kexec-no-file-load',
            '%s (%s) does not support kexec_file_load (-s), the only way the LUO state travels'
            % (kexec['path'], kexec.get('version') or 'unknown version'),
            'install kexec-tools >= 2.0.18 built with kexec_file_load support'))
    if kexec.get('load_disabled'):
        found.append(reason(
            'kexec-load-disabled', 'kernel.kexec_load_disabled=1: this boot can no longer load or unload a kernel for kexec',
            'remove kernel.kexec_load_disabled=1 from /etc/sysctl.d and reboot (the switch cannot be turned back off)'))
    return found


def systemd_reasons(systemd):
    """Blockers from systemd: fd stores survive a kexec only from v261 on."""
    version = systemd.get('version')
    if version is None:
        return [reason('systemd-missing', 'systemd is not running as the init system (or its version is unreadable)',
                       'LUO state handling here relies on systemd >= 261 as PID 1')]
    if not systemd.get('fdstore_preserve_supported'):
        return [reason('systemd-too-old',
                       'systemd %s cannot carry fd stores across a kexec (needs >= 261)' % version,
                       'upgrade systemd to 261 or newer (262 for LUOSession=)')]
    return []


def arch_reasons(arch):
    """LUO exists on x86_64 and arm64 only."""
    if arch in SUPPORTED_ARCHES:
        return []
    return [reason('arch-unsupported', 'LUO supports x86_64 and arm64, this host is %s' % arch,
                   'live updates are not possible on this architecture')]


def host_reasons(facts):
    """Every blocker for a live update on this host, in the order a user should fix them."""
    kernel = facts['kernel']
    found = arch_reasons(kernel['arch'])
    config_found = config_reasons(kernel['config'], kernel['release'], kernel['config_source'], error=kernel.get('config_error'))
    cmdline_found = cmdline_reasons(facts['cmdline'], kernel['config'])
    found += config_found + cmdline_found
    found += device_reasons(facts['device'], config_ok=not config_found, cmdline_ok=not cmdline_found)
    found += kexec_reasons(facts['kexec'])
    found += systemd_reasons(facts['systemd'])
    return found


def target_reasons(running, target):
    """Why ``target`` (a kernel image's facts) cannot take over from ``running`` (the running kernel's)."""
    found = config_reasons(target['config'], target['release'] or target['path'], target['config_source'] or 'none',
                           prefix='target')
    if running.get('abi') is None:
        found.append(reason('running-abi-unknown',
                            'the LUO ABI strings of the running kernel are unknown (%s), so compatibility cannot be proven'
                            % (running.get('payload_reason') or 'its image was not found'),
                            'keep the running kernel image at /boot/vmlinuz-%s, readable' % running.get('release')))
    for name in ABI_NAMES:
        found += _abi_reasons(name, running, target)
    if target.get('page_size') and running.get('page_size') and target['page_size'] != running['page_size']:
        found.append(reason('target-page-size',
                            'page size %s of the target differs from %s of the running kernel'
                            % (target['page_size'], running['page_size']),
                            'build the target with the same page size as the running kernel'))
    return found


def _abi_reasons(name, running, target):
    want = (running.get('abi') or {}).get(name)
    have = (target.get('abi') or {}).get(name)
    if target.get('abi') is None:
        return [reason('target-abi-unknown-' + name,
                       'the %s ABI string of %s is unknown: %s' % (name, target['path'],
                                                                   target.get('payload_reason') or 'payload unreadable'),
                       'make the payload readable (for zstd: Python >= 3.14 or the zstd tool; for lz4: the lz4 tool)')]
    if have is None:
        return [reason('target-abi-missing-' + name,
                       '%s has no %s-v* ABI string: it has no %s support' % (target['path'], name, name.upper()),
                       KERNEL_FIX)]
    if running.get('abi') is None:
        return []  # one running-abi-unknown reason covers all three
    if want is None:
        return [reason('running-abi-missing-' + name,
                       'the running kernel %s has no %s-v* ABI string: it cannot hand %s state over'
                       % (running.get('release'), name, name.upper()),
                       KERNEL_FIX)]
    if want != have:
        return [reason('target-abi-mismatch-' + name,
                       'ABI %s of the target differs from %s of the running kernel: %s'
                       % (have, want, ABI_MISMATCH_CONSEQUENCES[name]),
                       'pick a target kernel with %s, or go through a cold reboot for this update' % want)]
    return []


def _shown(value):
    return 'absent' if value is None else value
