# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Staging and unloading the next kernel with kexec_file_load (kexec -s), and kexec_load's record of it.

What the kexec_load module does to the host once it decided to: the staged state is left as it was by any
failure, and a kernel staged without its record is taken back.
"""
from __future__ import annotations

import datetime

from ansible_collections.luo.liveupdate.plugins.module_utils import hostfacts, kexec, readiness
from ansible_collections.luo.liveupdate.plugins.module_utils.kexec import Refused


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def kexec_path(facts):
    return facts['path'] or 'kexec'


def refuse_host(facts, action, result):
    """Refuse when this host cannot run kexec_file_load at all; force does not change that."""
    reasons = readiness.kexec_reasons(facts)
    if reasons:
        raise Refused('cannot %s: %s' % (action, readiness.reasons_text(reasons)), dict(result, reasons=reasons))


def loaded_now(host):
    return host.read(kexec.LOADED_PATH) == '1'


def unload_again(host, facts, done, failed):
    """Unload a kernel this run left staged; ``done``, or ``failed`` with what kexec said, for the message."""
    rc, _out, err = host.run(kexec.unload_argv(host.path(kexec_path(facts))))
    return done if rc == 0 else '%s (%s): run kexec -s -u' % (failed, (err or '').strip())


def run_load(host, facts, kernel, wanted, result):
    """Stage wanted; on failure leave the staged state as it was, and refuse."""
    argv = kexec.load_argv(host.path(kexec_path(facts)), host.path(kernel),
                           host.path(wanted['initrd']) if wanted['initrd'] else None, wanted['cmdline'])
    was_loaded = facts['loaded']
    rc, out, err = host.run(argv)
    if rc != 0:
        left = 'the staged state is as it was'
        if not was_loaded and loaded_now(host):
            left = unload_again(host, facts, 'a kernel was left staged and has been unloaded',
                                'a kernel was left staged and unloading it failed too')
        detail = '; '.join(filter(None, [(err or out).strip(), hostfacts.lockdown_caution(facts)]))
        raise Refused('%s failed (rc %d): %s; %s' % (' '.join(result['argv'][:3]), rc, detail, left),
                      dict(result, loaded=loaded_now(host)))
    if not loaded_now(host):
        raise Refused('%s returned 0 but %s does not read 1: nothing is staged; check the kernel log (journalctl -k)'
                      % (' '.join(result['argv'][:3]), kexec.LOADED_PATH), result)
    try:
        kexec.write_record(host.path(kexec.RECORD_PATH), wanted)
    except OSError as exc:
        # A kernel staged without its record would look like someone else's: take it back.
        left = unload_again(host, facts, 'the kernel was unloaded again', 'unloading the kernel again failed too')
        raise Refused('cannot write the record %s: %s; %s. Make /run writable for the module (become: true)'
                      % (kexec.RECORD_PATH, exc, left), dict(result, loaded=loaded_now(host))) from None


def unload(host, check_mode, diff):
    """Unload whatever is staged and remove the record (in check mode, say so); the result, or Refused."""
    facts = hostfacts.kexec_facts(host)
    record = kexec.read_record(host.path(kexec.RECORD_PATH))
    result = dict(changed=False, loaded=False, record=kexec.RECORD_PATH, argv=[])
    if diff:
        result['diff'] = kexec.diff_of(kexec.describe_staged(facts['loaded'], record), kexec.describe_staged(False, None))
    if not facts['loaded']:
        if not check_mode:
            kexec.remove_record(host.path(kexec.RECORD_PATH))  # stale: what it describes is gone
        return dict(result, msg='nothing is staged')
    result.update(changed=True, argv=kexec.unload_argv(kexec_path(facts)))
    refuse_host(facts, 'unload the staged kernel', dict(result, loaded=True))
    if not check_mode:
        rc, out, err = host.run(kexec.unload_argv(host.path(kexec_path(facts))))
        if rc != 0:
            raise Refused('%s failed (rc %d): %s; the kernel is still staged' % (' '.join(result['argv']), rc, (err or out).strip()),
                          dict(result, loaded=True))
        if loaded_now(host):
            raise Refused('%s returned 0 but %s still reads 1: the kernel is still staged; check the kernel log (journalctl -k)'
                          % (' '.join(result['argv']), kexec.LOADED_PATH), dict(result, loaded=True))
        kexec.remove_record(host.path(kexec.RECORD_PATH))
    return dict(result, msg='%s the staged kernel' % ('would unload' if check_mode else 'unloaded'))
