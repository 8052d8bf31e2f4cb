# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Staging the next kernel with kexec_file_load: its command line, the kexec commands, and the record of what was staged.

The kernel only tells whether an image is staged (/sys/kernel/kexec_loaded), not which one. So every load is
recorded in /run/luo-liveupdate/kexec.json, which a boot clears just as it clears the staged image: kernel and
initrd paths with their sha256, the final command line, the target release and the time. The same inputs, with
kexec_loaded=1 and a matching record, need no reload.
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import tempfile

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as kcmdline

LOADED_PATH = '/sys/kernel/kexec_loaded'
RECORD_PATH = '/run/luo-liveupdate/kexec.json'
# The next kernel takes the preserved state over only when it boots with both.
FORCED_PARAMS = (('liveupdate', 'on'), ('kho', 'on'))
# Parameters of the running boot that mean nothing to the next one (kernel-install drops the same two).
NOT_REUSED = ('BOOT_IMAGE', 'initrd')
# The record fields that say what was loaded; release and time are information only.
IDENTITY = ('kernel', 'kernel_sha256', 'initrd', 'initrd_sha256', 'cmdline')
NOTHING_STAGED = 'nothing staged'
# How distributions name the initramfs of release R in /boot: Debian/Ubuntu, RHEL/Fedora, SUSE.
INITRD_NAMES = ('initrd.img-%s', 'initramfs-%s.img', 'initrd-%s')
BOOT_DIR = '/boot'
# kernel-install's Boot Loader Specification layout: $BOOT/ENTRY-TOKEN/R/linux beside its initrd.
BLS_KERNEL_NAME = 'linux'
BLS_INITRD_NAME = 'initrd'
_IMAGE_NAME = re.compile(r'^(?:vmlinuz|vmlinux|bzImage|Image)-(.+)$')
# What to stage (doc fragment luo.liveupdate.kexec_stage): kexec_load's options, which live_update passes on as
# given. cmdline, append and remove are raw so that a YAML boolean or number is refused, not turned into a string.
STAGE_OPTIONS = dict(
    kernel=dict(type='path'),
    initrd=dict(type='path'),
    cmdline=dict(type='raw'),
    reuse_cmdline=dict(type='bool'),
    append=dict(type='list', elements='raw', default=[]),
    remove=dict(type='list', elements='raw', default=[]),
    force=dict(type='bool', default=False),
)
UNKNOWN_STAGED = 'a kernel staged without a record of this module (loaded by something else)'


def _yaml_hint(what, value):
    """The error for a non-string where a string belongs, telling YAML booleans and numbers apart."""
    if isinstance(value, bool):
        word = 'on' if value else 'off'
        return ('%s is the boolean %s: YAML turned an unquoted word like `%s` into a boolean; quote it: "%s"'
                % (what, value, word, word))
    if isinstance(value, (int, float)):
        return '%s is the number %r: give a string, quoted in YAML: "%s"' % (what, value, value)
    return '%s is %r, a %s: give a string' % (what, value, type(value).__name__)


def _check_word(what, text):
    """Refuse what the kernel would split or cut: whitespace, double quotes, NUL."""
    if any(char in text for char in ' \t\n\v\f\r'):
        raise ValueError('%s %r contains whitespace: give one parameter per list item (a value with spaces '
                         'belongs in cmdline, quoted as the kernel reads it)' % (what, text))
    if '"' in text:
        raise ValueError('%s %r contains a double quote: the kernel has no escape for quotes; give it without them'
                         % (what, text))
    if '\0' in text:
        raise ValueError('%s %r contains a NUL byte: remove it' % (what, text))


def _forced_value(name):
    for forced, value in FORCED_PARAMS:
        if kcmdline.normalize_name(forced) == kcmdline.normalize_name(name):
            return value
    return None


def append_params(items):
    """(name, value) pairs from append items "name" (value None: a bare flag) or "name=value"; validated."""
    params = []
    for position, item in enumerate(items or [], 1):
        what = 'append item %d' % position
        if not isinstance(item, str):
            raise ValueError(_yaml_hint(what, item))
        if item == '':
            raise ValueError('%s is empty: give a parameter as name or name=value, e.g. quiet or kho_scratch=200%%' % what)
        _check_word(what, item)
        name, sep, value = item.partition('=')
        if not name:
            raise ValueError('%s %r has no parameter name before "=": write it as name=value, e.g. kho_scratch=200%%'
                             % (what, item))
        if name == kcmdline.INIT_SEPARATOR and not sep:
            raise ValueError('%s is "--", the separator before init arguments: it cannot be appended; '
                             'give init arguments in cmdline' % what)
        value = value if sep else None
        forced = _forced_value(name)
        if forced is not None and value != forced:
            raise ValueError('%s %r: %s is always set to %s in the command line of the next kernel, which needs it to take '
                             'the preserved state over; drop it from append' % (what, item, name, forced))
        params.append((name, value))
    return params


def remove_names(items):
    """Parameter names from remove items; validated."""
    names = []
    for position, item in enumerate(items or [], 1):
        what = 'remove item %d' % position
        if not isinstance(item, str):
            raise ValueError(_yaml_hint(what, item))
        if item == '':
            raise ValueError('%s is empty: give the name of a kernel parameter, e.g. quiet' % what)
        _check_word(what, item)
        if '=' in item:
            raise ValueError('%s %r contains "=": list parameter names only (%s); every occurrence is removed'
                             % (what, item, item.split('=', 1)[0] or item))
        if item == kcmdline.INIT_SEPARATOR:
            raise ValueError('%s is "--", the separator before init arguments, not a parameter: it cannot be removed' % what)
        if _forced_value(item) is not None:
            raise ValueError('%s is %s, which is always set to %s in the command line of the next kernel (it needs it to '
                             'take the preserved state over); drop it from remove' % (what, item, _forced_value(item)))
        names.append(item)
    return names


def base_cmdline(cmdline_text, reuse_cmdline, running_text):
    """The command line to start from: cmdline_text, or (reuse_cmdline true or both None) the running one.

    The running one (/proc/cmdline) loses BOOT_IMAGE= and initrd=, which name the running boot's files.
    """
    if cmdline_text is not None and reuse_cmdline:
        raise ValueError('cmdline and reuse_cmdline: true are both given: give cmdline for a command line of its own, '
                         'or reuse_cmdline: true to start from the running one, not both')
    if cmdline_text is None and reuse_cmdline is False:
        raise ValueError('reuse_cmdline is false and no cmdline is given: give cmdline (cmdline: "" to start from an '
                         'empty one), or drop reuse_cmdline to start from the running command line')
    if cmdline_text is not None:
        if not isinstance(cmdline_text, str):
            raise ValueError(_yaml_hint('cmdline', cmdline_text))
        if '\0' in cmdline_text:
            raise ValueError('cmdline %r contains a NUL byte, which would cut it short: remove it' % cmdline_text)
        return kcmdline.parse(cmdline_text)
    if running_text is None:
        raise ValueError('cannot read /proc/cmdline to reuse the running command line: give cmdline instead')
    parsed = kcmdline.parse(running_text)
    for name in NOT_REUSED:
        parsed = kcmdline.remove_param(parsed, name)
    return parsed


def final_cmdline(base, append=(), remove=()):
    """The command line text for the next kernel.

    Applied in order on base (a Cmdline): every occurrence of each remove name dropped; each append name's
    occurrences dropped and the append entries added at the end, in order (so two console= entries stay two);
    then FORCED_PARAMS set, in place of their first occurrence or at the end.
    """
    appended = set(kcmdline.normalize_name(name) for name, _value in append)
    for name in remove:
        if kcmdline.normalize_name(name) in appended:
            raise ValueError('%s is in both remove and append: keep it in append to set it, or in remove to drop it' % name)
    result = base
    for name in list(remove) + sorted(appended):
        result = kcmdline.remove_param(result, name)
    result = kcmdline.Cmdline(result.params + tuple(kcmdline.Param(name, value) for name, value in append), result.init_args)
    for name, value in FORCED_PARAMS:
        result = kcmdline.set_param(result, name, value)
    return kcmdline.render(result)


def load_argv(kexec, kernel, initrd, cmdline_text):
    """kexec_file_load (-s) of kernel, with initrd when given, and exactly cmdline_text."""
    argv = [kexec, '-s', '-l', kernel]
    if initrd:
        argv.append('--initrd=%s' % initrd)
    argv.append('--command-line=%s' % cmdline_text)
    return argv


def initrd_candidates(kernel, release):
    """Host paths where the initramfs of the image at ``kernel`` (release ``release``) may be, most specific first.

    A BLS ``linux`` has its ``initrd`` beside it; an image named vmlinuz-SUFFIX outside /boot has the
    distribution names beside it; then the distribution names in /boot, by release and by SUFFIX.
    """
    directory, name = posixpath.split(kernel)
    match = _IMAGE_NAME.match(name)
    releases = _unique([release, match.group(1) if match else None])
    directories = _unique([directory if match else None, BOOT_DIR])
    candidates = [posixpath.join(directory, BLS_INITRD_NAME)] if name == BLS_KERNEL_NAME else []
    for place in directories:
        candidates.extend(posixpath.join(place, pattern % each) for each in releases for pattern in INITRD_NAMES)
    return _unique(candidates)


def _unique(items):
    """items without None and without repeats, in order."""
    unique = []
    for item in items:
        if item is not None and item not in unique:
            unique.append(item)
    return unique


def initrd_needed(config):
    """Whether a kernel built with ``config`` needs an initramfs to boot; None when its config is unknown.

    A kernel with loadable modules that can take an initramfs is a distribution kernel: its storage and
    filesystem drivers are modules, loaded from the initramfs. A kernel without modules has them built in.
    """
    if not config:
        return None
    return config.get('MODULES') == 'y' and config.get('BLK_DEV_INITRD') == 'y'


def initrd_missing_text(kernel, release, candidates):
    """What is wrong with staging ``kernel`` that needs an initramfs when none was found, and the fix."""
    shown = release or 'RELEASE'
    return ('%s (release %s) without an initramfs: it has loadable modules (CONFIG_MODULES=y), so its storage and '
            'filesystem drivers are in its initramfs, and there is none at %s. Build it (update-initramfs -c -k %s on '
            'Debian and Ubuntu, dracut --kver %s on RHEL and Fedora) or give initrd: PATH'
            % (kernel, shown, ', '.join(candidates), shown, shown))


def unload_argv(kexec):
    """Unload the staged kernel through kexec_file_load (KEXEC_FILE_UNLOAD), however it was loaded."""
    return [kexec, '-s', '-u']


def file_sha256(path):
    """sha256 hex digest of the file at path (OSError when it cannot be read)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def make_record(kernel, kernel_sha256, initrd, initrd_sha256, cmdline_text, release, loaded_at):
    """What a load staged, as the record file holds it."""
    return {
        'kernel': kernel,
        'kernel_sha256': kernel_sha256,
        'initrd': initrd,
        'initrd_sha256': initrd_sha256,
        'cmdline': cmdline_text,
        'release': release,
        'loaded_at': loaded_at,
    }


def differences(record, wanted):
    """The identity fields where record and wanted differ (all of them when there is no record)."""
    if not isinstance(record, dict):
        return list(IDENTITY)
    return [name for name in IDENTITY if record.get(name) != wanted.get(name)]


def load_reason(loaded, record, wanted):
    """Why wanted must be loaded, or None when it is staged already (kexec_loaded=1 and a matching record)."""
    if not loaded:
        return 'nothing was staged'
    if record is None:
        return 'a kernel was staged without a record of this module (loaded by something else)'
    changed = differences(record, wanted)
    if changed:
        return 'the staged kernel differed in %s' % ', '.join(changed)
    return None


class Refused(Exception):
    """kexec_load fails with ``msg``; ``result`` is what it returns besides."""

    def __init__(self, msg, result):
        super().__init__(msg)
        self.msg = msg
        self.result = result


def diff_of(before, after):
    """kexec_load's diff between two describe_staged() texts."""
    header = 'staged kernel (%s)' % RECORD_PATH
    return {'before_header': header, 'after_header': header, 'before': before, 'after': after}


def describe_staged(loaded, record):
    """The staged state as text for a diff: the record, or what is known without one."""
    if not loaded:
        return NOTHING_STAGED + '\n'
    if record is None:
        return UNKNOWN_STAGED + '\n'
    return json.dumps(record, indent=2, sort_keys=True) + '\n'


def read_record(path):
    """The record at path, or None when there is none or it is not a record (then nothing is known to match)."""
    try:
        with open(path, encoding='utf-8') as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(path, record):
    """Write record at path atomically (a temporary file beside it, renamed over it), mode 0644."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path))
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as stream:
            json.dump(record, stream, indent=2, sort_keys=True)
            stream.write('\n')
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def remove_record(path):
    """Remove the record; True when there was one."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
