# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input changes nothing: every refusal of kernel_cmdline, with the message the user gets.

BAD_INPUTS is the README table: parameter, bad input, backend, message
(``{root}`` is the fixture root, ``/`` on a host). A NUL in a top-level string
option (grub_dropin, kernel) never reaches the module: ansible-core fails first,
logging the arguments to syslog; the module_utils tests cover those.
"""
from __future__ import annotations

import collections
import hashlib
import os

import pytest

from ansible_collections.luo.liveupdate.plugins.modules import kernel_cmdline
from ansible_collections.luo.liveupdate.tests.unit.modules.test_kernel_cmdline import LUO, make_root, tree_state, write

DROPIN = 'etc/default/grub.d/90-luo-liveupdate.cfg'
TREES = {
    'grub': ('debian-grub', [('grub-mkconfig',), ('update-grub',)]),
    'grubby': ('fedora-grubby', [('grubby.py',)]),
    'kernel-install': ('systemd-boot', [('kernel-install', 'usr/bin')]),
}
NAME_ALPHABET = ('kernel parameter names are letters, digits, "_", "-" and "." (e.g. rd.luks.uuid, systemd.unit, console), '
                 'starting with a letter, digit or "_"; give the name as the kernel documents it')
ONE_LINE = 'the kernel command line is one line of printable ASCII text; remove it'
GRUBBY_WORDS = ('grubby writes it unquoted into the boot entries, whose options GRUB reads as script; '
                'use letters, digits and _ . , : / + = @ % - only, or bootloader: kernel-install (systemd-boot)')
GRUB_PASSES = 'use a value without it, or bootloader: kernel-install (systemd-boot), which passes it unchanged'
KERNEL_FIX = 'give ALL, DEFAULT, an entry index or the path of a kernel image, e.g. /boot/vmlinuz-6.12.0'
CANNOT_RUN = '; repair or reinstall it'
RESTORED = '; the previous files were restored, nothing changed'
DROPIN_NAMES = 'must be a file name of letters, digits, "_", "-" and "." ending in .cfg, e.g. 90-luo-liveupdate.cfg'
LUO_ARGS = {'params': LUO}
ADMIN_DROPIN = 'GRUB_TERMINAL=serial\nGRUB_CMDLINE_LINUX="console=ttyS0,115200"\n'


def one(name, value=None, state=None):
    item = {'name': name}
    if value is not None:
        item['value'] = value
    if state is not None:
        item['state'] = state
    return {'params': [item]}


def put(path, text, mode=None):
    """Setup: write path under the root (and chmod it)."""
    def setup(root):
        write(root, path, text)
        if mode is not None:
            os.chmod(os.path.join(root, path), mode)
    return setup


Case = collections.namedtuple('Case', ['parameter', 'bad_input', 'backend', 'message', 'args', 'setup'])
Case.__new__.__defaults__ = (None,)

# parameter | bad input | backend | message the user gets
BAD_INPUTS = [
    Case('params[].name', '#debug', 'grub', "parameter name '#debug' contains \"#\": " + NAME_ALPHABET, one('#debug')),
    Case('params[].name', '7;echo', 'grubby', "parameter name '7;echo' contains \";\": " + NAME_ALPHABET, one('7;echo', 'on')),
    Case('params[].name', '$prefix', 'kernel-install', "parameter name '$prefix' contains \"$\": " + NAME_ALPHABET, one('$prefix')),
    Case('params[].name', 'bar\\', 'grub', "parameter name 'bar\\\\' contains \"\\\": " + NAME_ALPHABET, one('bar\\')),
    Case('params[].name', 'a<NUL>b', 'grub', "parameter name 'a\\x00b' contains a NUL byte: " + NAME_ALPHABET, one('a\0b')),
    Case('params[].name', 'a<NUL>b', 'grubby', "parameter name 'a\\x00b' contains a NUL byte: " + NAME_ALPHABET, one('a\0b')),
    Case('params[].name', 'a<NUL>b', 'kernel-install', "parameter name 'a\\x00b' contains a NUL byte: " + NAME_ALPHABET, one('a\0b')),
    Case('params[].name', 'a<newline>b', 'kernel-install',
         "parameter name 'a\\nb' contains whitespace: give one parameter per list item", one('a\nb')),
    Case('params[].name', 'caf\xe9', 'grub', "parameter name 'caf\xe9' contains \"\xe9\" (U+00E9, not ASCII): " + NAME_ALPHABET, one('caf\xe9')),
    Case('params[].name', '-x', 'grub', "parameter name '-x' starts with \"-\": " + NAME_ALPHABET, one('-x')),
    Case('params[].name', 'kho=on', 'grub',
         'parameter name \'kho=on\' contains "=": put the name in name and the part after "=" in value, e.g. name: kho, value: "on"', one('kho=on')),
    Case('params[].name', 'a b', 'grub', "parameter name 'a b' contains whitespace: give one parameter per list item", one('a b')),
    Case('params[].name', 'a"b', 'grub', "parameter name 'a\"b' contains a double quote: give the name without quotes", one('a"b')),
    Case('params[].name', '--', 'grub', "parameter name '--' is the separator before init arguments, not a kernel parameter: it cannot be managed",
         one('--')),
    Case('params[].name', '(empty)', 'grub', 'parameter name is empty: give the name of a kernel parameter, e.g. name: liveupdate', one('')),
    Case('params[].name', '(missing)', 'grub', 'missing required arguments: name found in params', {'params': [{'value': 'on'}]}),
    Case('params[].value', 'a<NUL>b', 'grub', "value for x is 'a\\x00b', which contains a NUL byte: " + ONE_LINE, one('x', 'a\0b')),
    Case('params[].value', 'a<NUL>b', 'grubby', "value for x is 'a\\x00b', which contains a NUL byte: " + ONE_LINE, one('x', 'a\0b')),
    Case('params[].value', 'a<NUL>b', 'kernel-install', "value for x is 'a\\x00b', which contains a NUL byte: " + ONE_LINE, one('x', 'a\0b')),
    Case('params[].value', 'a<newline>b', 'grub', "value for x is 'a\\nb', which contains a newline: " + ONE_LINE, one('x', 'a\nb')),
    Case('params[].value', 'a<newline>b', 'grubby', "value for x is 'a\\nb', which contains a newline: " + ONE_LINE, one('x', 'a\nb')),
    Case('params[].value', 'a<newline>b', 'kernel-install', "value for x is 'a\\nb', which contains a newline: " + ONE_LINE, one('x', 'a\nb')),
    Case('params[].value', 'a<tab>b', 'grub', "value for x is 'a\\tb', which contains a tab: " + ONE_LINE, one('x', 'a\tb')),
    Case('params[].value', 'a<ESC>b', 'kernel-install',
         "value for x is 'a\\x1bb', which contains the control character U+001B: " + ONE_LINE, one('x', 'a\x1bb')),
    Case('params[].value', 'a<NUL>b (state: absent)', 'kernel-install', "value for x is 'a\\x00b', which contains a NUL byte: " + ONE_LINE,
         one('x', 'a\0b', 'absent')),
    Case('params[].value', 'bar\\', 'grub',
         "value for x is 'bar\\\\': GRUB hands a backslash to the kernel doubled (\\\\); " + GRUB_PASSES, one('x', 'bar\\')),
    Case('params[].value', "it's", 'grub', "value for x is \"it's\": GRUB hands a single quote to the kernel as \\'; " + GRUB_PASSES,
         one('x', "it's")),
    Case('params[].value', '7;echo', 'grubby', "value for x is '7;echo': " + GRUBBY_WORDS, one('x', '7;echo')),
    Case('params[].value', '$prefix', 'grubby', "value for x is '$prefix': " + GRUBBY_WORDS, one('x', '$prefix')),
    Case('params[].value', '#debug', 'grubby', "value for x is '#debug': " + GRUBBY_WORDS, one('x', '#debug')),
    Case('params[].value', 'bar\\', 'grubby', "value for x is 'bar\\\\': " + GRUBBY_WORDS, one('x', 'bar\\')),
    Case('params[].value', 'file x.c +p', 'grubby',
         "value for dyndbg is 'file x.c +p': grubby splits --args at whitespace, so it cannot set a value with spaces; "
         'use bootloader: grub or kernel-install, or a value without spaces', one('dyndbg', 'file x.c +p')),
    Case('params[].value', 'a"b', 'grub', "value for x is 'a\"b', which contains a double quote: the kernel has no escape for quotes; "
         'give the value without them (values with spaces are quoted automatically)', one('x', 'a"b')),
    Case('params[].value', 'true (boolean)', 'grub', 'value for liveupdate is the boolean True: YAML turned an unquoted word like `on` '
         'into a boolean; quote it: value: "on"', one('liveupdate', True)),
    Case('params[].value', '1.10 (float)', 'grub', 'value for x is the number 1.1: YAML read it as a float, which loses digits (1.10 becomes 1.1); '
         'quote it: value: "..."', one('x', 1.10)),
    Case('params[].value', '[a] (list)', 'grub', "value for x is ['a'], a list: give a string, e.g. value: \"on\"", one('x', ['a'])),
    Case('params[].state', 'gone', 'grub', 'value of state must be one of: present, absent, got: gone found in params', one('x', state='gone')),
    Case('params', '[] (empty)', 'grub', 'params is empty: list at least one parameter, e.g. params: [{name: liveupdate, value: "on"}]',
         {'params': []}),
    Case('params', '(missing)', 'grub', 'missing required arguments: params', {}),
    Case('params', 'kho twice', 'grub', 'kho is listed twice in params (items 1 and 2; dashes and underscores are the same in kernel parameter '
         'names): list each parameter once', {'params': [{'name': 'kho'}, {'name': 'kho', 'state': 'absent'}]}),
    Case('bootloader', 'lilo', 'grub', 'value of bootloader must be one of: auto, grub, grubby, kernel-install, got: lilo',
         dict(LUO_ARGS, bootloader='lilo')),
    Case('bootloader', 'grubby (not installed)', 'grub', 'bootloader grubby was chosen but is not installed under {root}: no grubby executable '
         'in the usual sbin/bin directories: install grubby, or use bootloader: auto', dict(LUO_ARGS, bootloader='grubby')),
    Case('bootloader', 'update-grub with #!/nonexistent/sh', 'grub', 'regenerating the boot configuration failed: cannot run '
         '{root}/usr/sbin/update-grub: its interpreter (#!/nonexistent/sh) does not exist' + CANNOT_RUN + RESTORED, LUO_ARGS,
         put('usr/sbin/update-grub', '#!/nonexistent/sh\nexit 0\n')),
    Case('bootloader', 'update-grub not a program', 'grub', 'regenerating the boot configuration failed: cannot run {root}/usr/sbin/update-grub: '
         'it is not a program for this machine (exec format error)' + CANNOT_RUN + RESTORED, LUO_ARGS, put('usr/sbin/update-grub', '\x7fELF\x02')),
    Case('bootloader', 'update-grub fails', 'grub', 'regenerating the boot configuration failed ({root}/usr/sbin/update-grub exited with 1): '
         'grub-mkconfig: error: out of disk space.' + RESTORED, LUO_ARGS, put('fail-mkconfig', 'grub-mkconfig: error: out of disk space.\n')),
    Case('bootloader', 'grubby with #!/nonexistent/bash', 'grubby', 'reading the boot entries failed: cannot run {root}/usr/sbin/grubby: '
         'its interpreter (#!/nonexistent/bash) does not exist' + CANNOT_RUN, LUO_ARGS, put('usr/sbin/grubby', '#!/nonexistent/bash\n')),
    Case('bootloader', 'grubby fails', 'grubby', 'regenerating the boot configuration failed ({root}/usr/sbin/grubby --update-kernel=ALL '
         '--args=liveupdate=on kho=on exited with 1): grubby fatal error: unable to write' + RESTORED, LUO_ARGS,
         put('fail-grubby', 'grubby fatal error: unable to write\n')),
    Case('bootloader', 'GRUB settings with a comment', 'grub', 'GRUB_CMDLINE_LINUX_DEFAULT as {root}/etc/default/grub sets it (quiet #debug) '
         'does not reach the kernel as written: GRUB reads "#debug" and what follows as a comment; fix it there', LUO_ARGS,
         put('etc/default/grub', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet #debug"\n')),
    Case('grub_dropin', 'admin file of that name', 'grub', 'grub_dropin {root}/etc/default/grub.d/90-luo-liveupdate.cfg exists but was not '
         'written by this module (its first line is not "# Kernel command line parameters managed by the luo.liveupdate.kernel_cmdline '
         'Ansible module."), so it holds settings of someone else that rewriting it would lose: give grub_dropin another name, '
         'e.g. 91-luo-liveupdate.cfg, or rename or remove that file', LUO_ARGS, put(DROPIN, ADMIN_DROPIN)),
    Case('grub_dropin', 'luo', 'grub', "grub_dropin 'luo' does not end in .cfg: grub-mkconfig only sources /etc/default/grub.d/*.cfg; "
         'use e.g. luo.cfg', dict(LUO_ARGS, grub_dropin='luo')),
    Case('grub_dropin', '../x.cfg', 'grub', "grub_dropin '../x.cfg' must be a plain file name inside /etc/default/grub.d, "
         'e.g. 90-luo-liveupdate.cfg', dict(LUO_ARGS, grub_dropin='../x.cfg')),
    Case('grub_dropin', 'a<newline>.cfg', 'grub', "grub_dropin 'a\\n.cfg' " + DROPIN_NAMES, dict(LUO_ARGS, grub_dropin='a\n.cfg')),
    Case('grub_dropin', '$x.cfg', 'grub', "grub_dropin '$x.cfg' " + DROPIN_NAMES, dict(LUO_ARGS, grub_dropin='$x.cfg')),
    Case('kernel', 'vmlinuz-6.12', 'grubby', "kernel 'vmlinuz-6.12' is not ALL, DEFAULT, an entry index or the absolute path of a kernel image: "
         + KERNEL_FIX, dict(LUO_ARGS, kernel='vmlinuz-6.12')),
    Case('kernel', '/boot/vmlinuz<newline>', 'grubby', "kernel '/boot/vmlinuz\\n' contains a newline: " + KERNEL_FIX,
         dict(LUO_ARGS, kernel='/boot/vmlinuz\n')),
    Case('kernel', '(empty)', 'grubby', "kernel '' is empty: " + KERNEL_FIX, dict(LUO_ARGS, kernel='')),
]


def checksums(root):
    """sha256 and mode of every file (tree_state), and the entries of every directory: a new file or directory shows too.

    calls.log, where the fixture tools note their calls, is left out.
    """
    sums = {path: (hashlib.sha256(content).hexdigest(), mode) for path, (content, mode) in tree_state(root).items()}
    for directory, dirs, files in os.walk(root):
        sums[directory] = sorted(set(dirs + files) - {'calls.log'})
    return sums


def readme_table():
    """BAD_INPUTS as the markdown table of the README."""
    rows = ['| parameter | bad input | backend | message |', '|---|---|---|---|']
    for case in BAD_INPUTS:
        rows.append('| `%s` | `%s` | %s | %s |' % (case.parameter, case.bad_input, case.backend, case.message.replace('{root}/', '/').replace('{root}', '/')))
    return '\n'.join(rows)


@pytest.mark.parametrize('case', BAD_INPUTS, ids=['%s=%r@%s' % (case.parameter, case.bad_input, case.backend) for case in BAD_INPUTS])
def test_bad_input_changes_nothing_and_says_what_to_do(tmp_path, host_root, run_module, case):
    tree, tools = TREES[case.backend]
    root = make_root(tmp_path, host_root, tree, tools)
    if case.setup:
        case.setup(root)
    before = checksums(root)
    result = run_module(kernel_cmdline.main, case.args)
    assert result.failed
    assert result['msg'] == case.message.replace('{root}', root)
    assert checksums(root) == before


def test_readme_table_has_a_row_per_case():
    assert readme_table().count('\n') == len(BAD_INPUTS) + 1
