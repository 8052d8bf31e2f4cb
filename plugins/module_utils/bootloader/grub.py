# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The grub backend (Debian, Ubuntu): a drop-in in /etc/default/grub.d, then update-grub.

grub-mkconfig sources the drop-in after /etc/default/grub (the packaged file
is never edited); update-grub (or ``grub-mkconfig -o``/``grub2-mkconfig -o``)
regenerates grub.cfg, which is then read the way GRUB reads it.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline as kcmdline
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.common import (
    DEFAULT_GRUB_DROPIN, GRUB_DEFAULTS, GRUB_DROPIN_DIR, BootloaderError, FileChange, Plan, read_text, run_checked, run_command,
    validate_changes)
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.grub_script import (
    GrubScriptError, grub_cfg_cmdlines, grub_settings_cmdline, grub_word, render_grub_text)
from ansible_collections.luo.liveupdate.plugins.module_utils.bootloader.transaction import apply_plan

# How grub-mkconfig itself reads its settings: sourced in order, with set -e.
# Output of the sourced files goes to stderr; after each file the two
# variables are printed, NUL-terminated.
GRUB_EVAL_SCRIPT = r'''set -e
unset GRUB_CMDLINE_LINUX GRUB_CMDLINE_LINUX_DEFAULT
for luo_liveupdate_file do
    . "$luo_liveupdate_file" >&2
    printf '%s\0%s\0' "${GRUB_CMDLINE_LINUX-}" "${GRUB_CMDLINE_LINUX_DEFAULT-}"
done
'''
SHELL = '/bin/sh'
MISSING = ('it needs %s (or %s) and update-grub, grub-mkconfig or grub2-mkconfig: install GRUB, or use bootloader: auto'
           % (GRUB_DEFAULTS, GRUB_DROPIN_DIR))


def grub_tools(host):
    """(name, path) of each GRUB configuration generator installed."""
    return [(name, host.which(name)) for name in ('update-grub', 'grub-mkconfig', 'grub2-mkconfig') if host.which(name)]


def evidence(host):
    """Why grub governs the boot here (its settings and a generator are installed), or None."""
    tools = grub_tools(host)
    defaults = host.path(GRUB_DEFAULTS)
    if not tools or not (os.path.isfile(defaults) or os.path.isdir(host.path(GRUB_DROPIN_DIR))):
        return None
    found = ['%s exists' % defaults] if os.path.isfile(defaults) else ['%s exists' % host.path(GRUB_DROPIN_DIR)]
    found.extend('%s executable at %s' % (name, path) for name, path in tools)
    return found


def validate_grub_dropin(name):
    """Raise BootloaderError unless name is a drop-in file name grub-mkconfig will source."""
    if not isinstance(name, str) or not name or '/' in name or name.startswith('.'):
        raise BootloaderError('grub_dropin %r must be a plain file name inside %s, e.g. %s' % (name, GRUB_DROPIN_DIR, DEFAULT_GRUB_DROPIN))
    if not re.match(r'[A-Za-z0-9_.-]+\Z', name):
        raise BootloaderError('grub_dropin %r must be a file name of letters, digits, "_", "-" and "." ending in .cfg, e.g. %s'
                              % (name, DEFAULT_GRUB_DROPIN))
    if not name.endswith('.cfg'):
        raise BootloaderError('grub_dropin %r does not end in .cfg: grub-mkconfig only sources %s/*.cfg; use e.g. %s.cfg'
                              % (name, GRUB_DROPIN_DIR, name))


def shell_escape(text):
    """text for the inside of a POSIX shell double-quoted string, nothing expanded."""
    return re.sub(r'([\\"$`])', r'\\\1', text)


GRUB_VARIABLES = ('GRUB_CMDLINE_LINUX', 'GRUB_CMDLINE_LINUX_DEFAULT')
DROPIN_HEADER = (
    '# Kernel command line parameters managed by the luo.liveupdate.kernel_cmdline Ansible module.\n'
    '# grub-mkconfig (update-grub) sources this file after /etc/default/grub and the drop-ins\n'
    '# sorting before it. The module rewrites it: change the task, not this file.\n')
# The first line of every drop-in the module writes: how it tells its own drop-in from someone else's file.
DROPIN_MARK = DROPIN_HEADER.split('\n', 1)[0]


def render_grub_dropin(base, wanted):
    """Drop-in text that turns the settings base into wanted, or None when nothing is needed.

    base and wanted are (GRUB_CMDLINE_LINUX, GRUB_CMDLINE_LINUX_DEFAULT) Cmdline
    pairs. A value that only gains parameters is written as an append to
    what the earlier files set ("$VAR new..."), so later edits of
    /etc/default/grub still count; a value that loses some is written in full.
    Quoting holds at both levels: GRUB script inside (render_grub_text), a
    shell double-quoted string around it (grub-mkconfig sources the file).
    """
    lines = []
    for variable, before, after in zip(GRUB_VARIABLES, base, wanted):
        if after == before:
            continue
        count = len(before.params)
        if after.init_args == before.init_args == () and after.params[:count] == before.params:
            extra = render_grub_text(kcmdline.Cmdline(after.params[count:], ()))
            lines.append('%s="$%s %s"' % (variable, variable, shell_escape(extra)))
        else:
            lines.append('%s="%s"' % (variable, shell_escape(render_grub_text(after))))
    if not lines:
        return None
    return DROPIN_HEADER + '\n'.join(lines) + '\n'


def _setter(files, states, index):
    """The file that last changed variable index of the settings states (one per file)."""
    setter, previous = files[0], None
    for path, state in zip(files, states):
        if state[index] != previous:
            setter, previous = path, state[index]
    return setter


def _lenient(texts):
    """The settings texts as Cmdline pairs, or None where GRUB would read them otherwise."""
    try:
        return tuple(grub_settings_cmdline(text) for text in texts)
    except GrubScriptError:
        return None


class GrubBackend(object):
    """The /etc/default/grub.d drop-in plus update-grub (or grub-mkconfig)."""

    name = 'grub'

    def __init__(self, host, found, dropin=DEFAULT_GRUB_DROPIN):
        validate_grub_dropin(dropin)
        self.host = host
        self.evidence = found
        self.dropin = os.path.join(host.path(GRUB_DROPIN_DIR), dropin)
        self.command, self.grub_cfg = self._regenerate_command()
        self.script_check = host.which('grub-script-check')

    def _regenerate_command(self):
        tools = dict(grub_tools(self.host))
        mkconfig_name = 'grub-mkconfig' if 'grub-mkconfig' in tools else 'grub2-mkconfig'
        mkconfig = tools.get(mkconfig_name)
        if mkconfig:
            with open(mkconfig, 'rb') as handle:
                script = handle.read(1 << 20)
            if b'default/grub.d' not in script:
                raise BootloaderError('%s does not read %s/*.cfg drop-ins (Fedora and RHEL builds do not): '
                                      'use bootloader: grubby there' % (mkconfig, GRUB_DROPIN_DIR))
        if 'update-grub' in tools:
            # update-grub is "grub-mkconfig -o /boot/grub/grub.cfg".
            return [tools['update-grub']], self.host.path('/boot/grub/grub.cfg')
        target = self._grub_cfg_for(mkconfig_name)
        return [mkconfig, '-o', target], target

    def _grub_cfg_for(self, mkconfig_name):
        own, other = ('/boot/grub2/grub.cfg', '/boot/grub/grub.cfg') if mkconfig_name == 'grub2-mkconfig' else ('/boot/grub/grub.cfg', '/boot/grub2/grub.cfg')
        candidates = [self.host.path(own), self.host.path(other)] + sorted(glob.glob(self.host.path('/boot/efi/EFI/*/grub.cfg')))
        for candidate in candidates:
            if os.path.isfile(candidate):
                return candidate
        if os.path.isdir(os.path.dirname(candidates[0])):
            return candidates[0]
        raise BootloaderError('no grub.cfg to regenerate: looked for %s; install GRUB (grub-install) or choose another bootloader'
                              % ', '.join(candidates))

    def _refuse_foreign_dropin(self):
        """Refuse a file of the drop-in's name that this module did not write: rewriting it would lose its settings."""
        if not os.path.lexists(self.dropin):
            return
        first_line = '' if os.path.islink(self.dropin) else (read_text(self.dropin) or '').split('\n', 1)[0]
        if first_line != DROPIN_MARK:
            other = '91-luo-liveupdate.cfg' if os.path.basename(self.dropin) == DEFAULT_GRUB_DROPIN else DEFAULT_GRUB_DROPIN
            raise BootloaderError('grub_dropin %s exists but was not written by this module (its first line is not "%s"), so it holds '
                                  'settings of someone else that rewriting it would lose: give grub_dropin another name, e.g. %s, '
                                  'or rename or remove that file' % (self.dropin, DROPIN_MARK, other))

    def _sources(self):
        """The files grub-mkconfig sources, in its order, and where the drop-in sits among them."""
        files = []
        defaults = self.host.path(GRUB_DEFAULTS)
        if os.path.isfile(defaults):
            files.append(defaults)
        # grub-mkconfig globs grub.d/*.cfg in /bin/sh; dash sorts the names bytewise.
        dropins = set(glob.glob(os.path.join(self.host.path(GRUB_DROPIN_DIR), '*.cfg')))
        dropins.add(self.dropin)
        ordered = sorted(dropins, key=lambda path: os.path.basename(path).encode('utf-8'))
        files.extend(ordered)
        return files, files.index(self.dropin)

    def evaluate(self, files):
        """The (GRUB_CMDLINE_LINUX, GRUB_CMDLINE_LINUX_DEFAULT) texts after sourcing each file, as grub-mkconfig does."""
        if not files:
            return []
        rc, out, err = run_command(self.host, [SHELL, '-c', GRUB_EVAL_SCRIPT, 'sh'] + list(files), 'reading the GRUB settings')
        fields = out.split('\0')
        if rc != 0 or len(fields) != 2 * len(files) + 1:
            raise BootloaderError('reading the GRUB settings from %s failed (exit %s): %s; grub-mkconfig would fail the same way: fix those files'
                                  % (', '.join(files), rc, (err or '').strip() or 'no output'))
        return [(fields[2 * index], fields[2 * index + 1]) for index in range(len(files))]

    def _settings(self, files, content):
        """The files sourced with the drop-in holding content (None: absent), and the settings texts after each."""
        present = [path for path in files if path != self.dropin or content is not None]
        present = [path for path in present if path == self.dropin or os.path.exists(path)]
        if content is None:
            return present, self.evaluate(present)
        fd, stand_in = tempfile.mkstemp(prefix='luo-liveupdate-grub-', suffix='.cfg')
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as handle:
                handle.write(content)
            return present, self.evaluate([stand_in if path == self.dropin else path for path in present])
        finally:
            os.unlink(stand_in)

    @staticmethod
    def _final(files, states):
        """The settings after the last of files as Cmdline pairs, read as GRUB reads them.

        Raises BootloaderError naming the file that set a value GRUB would read otherwise.
        """
        if not states:
            return kcmdline.empty(), kcmdline.empty()
        parsed = []
        for index, (variable, text) in enumerate(zip(GRUB_VARIABLES, states[-1])):
            try:
                parsed.append(grub_settings_cmdline(text))
            except GrubScriptError as error:
                raise BootloaderError('%s as %s sets it (%s) does not reach the kernel as written: %s; fix it there'
                                      % (variable, _setter(files, states, index), text, error.detail))
        return tuple(parsed)

    @staticmethod
    def combined(settings):
        """The kernel command line grub's default entries get: GRUB_CMDLINE_LINUX then GRUB_CMDLINE_LINUX_DEFAULT."""
        linux, default = settings
        # 10_linux joins the two strings: a "--" in the first makes the second init arguments.
        return grub_settings_cmdline('%s %s' % (render_grub_text(linux), render_grub_text(default)))

    def _wanted(self, current, changes):
        linux, default = current
        for change in changes:
            if kcmdline.is_satisfied(self.combined((linux, default)), change):
                continue
            if change.present:
                linux = kcmdline.remove_param(linux, change.name)
                default = kcmdline.set_param(default, change.name, change.value)
            else:
                linux = kcmdline.remove_param(linux, change.name, change.value)
                default = kcmdline.remove_param(default, change.name, change.value)
        return linux, default

    @staticmethod
    def _refuse_values_grub_alters(changes):
        validate_changes(changes)
        for change in changes:
            if change.present:
                grub_word(kcmdline.Param(change.name, change.value))

    def plan(self, changes):
        """What setting changes needs: the drop-in content, update-grub when anything (or grub.cfg) is behind."""
        self._refuse_values_grub_alters(changes)
        self._refuse_foreign_dropin()
        files, position = self._sources()
        old_content = read_text(self.dropin)
        existing = [path for path in files if os.path.exists(path)]
        states = self.evaluate(existing)
        next_before = self.combined(self._final(existing, states))
        content = old_content
        if not kcmdline.all_satisfied(next_before, changes):
            before_dropin = len([path for path in files[:position] if path in existing])
            base = self._final(existing[:before_dropin], states[:before_dropin])
            current = self._final(existing[:before_dropin + 1], states[:before_dropin + 1]) if self.dropin in existing else base
            content = render_grub_dropin(base, self._wanted(current, changes))
        present = existing
        if content != old_content:
            present, states = self._settings(files, content)
        next_after = self.combined(self._final(present, states))
        if not kcmdline.all_satisfied(next_after, changes):
            raise self._overridden(files[position + 1:], present, states, changes)
        file_changes = () if content == old_content else (FileChange(self.dropin, old_content, content),)
        stale = not self._grub_cfg_satisfies(changes)
        commands = (tuple(self.command),) if file_changes or stale else ()
        return Plan(render_grub_text(next_before), render_grub_text(next_after), file_changes, commands, bool(commands))

    def _overridden(self, later, present, states, changes):
        """The error for files sourced after the drop-in that undo what it sets, naming them."""
        def satisfied(state):
            parsed = _lenient(state)
            return parsed is not None and kcmdline.all_satisfied(self.combined(parsed), changes)
        flags = [satisfied(state) for state in states]
        culprits = [path for index, path in enumerate(present)
                    if path in later and not flags[index] and (index == 0 or flags[index - 1])]
        final = _lenient(states[-1]) if states else (kcmdline.empty(), kcmdline.empty())
        shown = render_grub_text(self.combined(final)) if final else ' '.join(states[-1])
        return BootloaderError('the GRUB settings still lack the requested parameters after %s (%s): %s set GRUB_CMDLINE_LINUX or '
                               'GRUB_CMDLINE_LINUX_DEFAULT after it; give grub_dropin a name that sorts after them, e.g. 99-luo-liveupdate.cfg'
                               % (self.dropin, shown, ', '.join(culprits) or 'the files sourced'))

    def _grub_cfg_lines(self):
        """The kernel command lines of grub.cfg as GRUB reads them (None when it is missing)."""
        text = read_text(self.grub_cfg)
        return None if text is None else grub_cfg_cmdlines(text)

    def _grub_cfg_satisfies(self, changes):
        """Whether the generated grub.cfg already has a linux line with the wanted state (no linux line: nothing to judge)."""
        try:
            lines = self._grub_cfg_lines()
        except GrubScriptError:
            return False
        return lines is not None and (not lines or any(kcmdline.all_satisfied(line, changes) for line in lines))

    def outputs(self, plan):
        """Files the plan's commands regenerate."""
        return [self.grub_cfg] if plan.commands else []

    def next_cmdline(self, plan):
        """The next boot command line after apply(): what the settings now give."""
        return plan.next_after

    def _verify_grub_cfg(self, changes):
        """Read the regenerated grub.cfg as GRUB does: grub-script-check where installed, then the linux lines."""
        if self.script_check:
            run_checked(self.host, [self.script_check, self.grub_cfg], 'checking the regenerated %s' % self.grub_cfg)
        try:
            lines = self._grub_cfg_lines()
        except GrubScriptError as error:
            raise BootloaderError('GRUB cannot read the regenerated %s: %s' % (self.grub_cfg, error))
        if lines is None or (lines and not any(kcmdline.all_satisfied(line, changes) for line in lines)):
            raise BootloaderError('%s regenerated %s but no linux line in it has the requested parameters; check that it reads %s '
                                  '(or use bootloader: grubby on Fedora/RHEL)' % (self.command[0], self.grub_cfg, GRUB_DROPIN_DIR))

    def apply(self, plan, changes):
        """Carry plan out; restore everything if update-grub fails or GRUB would not read the change from its grub.cfg."""
        return apply_plan(plan, [self.grub_cfg], self.host, lambda: self._verify_grub_cfg(changes))
