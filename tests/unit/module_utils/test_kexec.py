# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import cmdline, kexec

RUNNING = 'BOOT_IMAGE=/boot/vmlinuz-7.2.13 root=/dev/vda1 ro console=ttyS0 quiet initrd=\\initrd.img liveupdate=on kho=on'


def record(**overrides):
    fields = dict(kernel='/boot/vmlinuz-7.3.4', kernel_sha256='a' * 64, initrd='/boot/initrd.img-7.3.4', initrd_sha256='b' * 64,
                  cmdline='root=/dev/vda1 liveupdate=on kho=on', release='7.3.4', loaded_at='2026-11-27T10:00:00Z')
    fields.update(overrides)
    return kexec.make_record(**{'cmdline_text' if key == 'cmdline' else key: value for key, value in fields.items()})


# append_params

def test_append_params_splits_at_the_first_equals_and_keeps_bare_flags():
    assert kexec.append_params(['quiet', 'kho_scratch=512M', 'a=b=c', 'empty=']) == [
        ('quiet', None), ('kho_scratch', '512M'), ('a', 'b=c'), ('empty', '')]


def test_append_params_empty_or_none():
    assert kexec.append_params([]) == []
    assert kexec.append_params(None) == []


def test_append_params_accepts_liveupdate_and_kho_on():
    assert kexec.append_params(['liveupdate=on', 'kho=on']) == [('liveupdate', 'on'), ('kho', 'on')]


@pytest.mark.parametrize('item, words', [
    (True, ['append item 1', 'boolean True', '"on"']),
    (False, ['boolean False', '"off"']),
    (5, ['the number 5', '"5"']),
    (1.10, ['the number 1.1']),
    ({'name': 'quiet'}, ["{'name': 'quiet'}", 'a dict', 'give a string']),
    (None, ['None', 'NoneType']),
    ('', ['append item 1 is empty', 'name or name=value']),
    ('console=ttyS0 quiet', ['whitespace', 'one parameter per list item', 'cmdline']),
    ('a=b\tc', ['whitespace']),
    ('name="a b"', ['whitespace']),
    ('name="x"', ['double quote']),
    ('a\0b', ['NUL']),
    ('=512M', ['no parameter name before "="', 'name=value']),
    ('--', ['separator before init arguments', 'cmdline']),
    ('liveupdate=off', ["'liveupdate=off'", 'always set to on', 'drop it from append']),
    ('kho', ['kho is always set to on']),
])
def test_append_params_refuses_bad_items(item, words):
    with pytest.raises(ValueError) as caught:
        kexec.append_params([item])
    for word in words:
        assert word in str(caught.value)


def test_append_params_names_the_position():
    with pytest.raises(ValueError, match='append item 3'):
        kexec.append_params(['quiet', 'splash', 'a b'])


def test_append_params_only_the_forced_names_themselves_are_refused():
    # Dashes are underscores in names, so live-update is live_update: another parameter than liveupdate.
    assert kexec.append_params(['live-update=0', 'khoo=off']) == [('live-update', '0'), ('khoo', 'off')]


# remove_names

def test_remove_names_returns_the_names():
    assert kexec.remove_names(['quiet', 'kho_scratch']) == ['quiet', 'kho_scratch']
    assert kexec.remove_names(None) == []


@pytest.mark.parametrize('item, words', [
    (True, ['remove item 1', 'boolean True']),
    (3, ['the number 3']),
    ('', ['remove item 1 is empty']),
    ('console=ttyS0', ['contains "="', 'names only (console)', 'every occurrence']),
    ('a b', ['whitespace']),
    ('"quiet"', ['double quote']),
    ('--', ['separator before init arguments']),
    ('liveupdate', ['always set to on', 'drop it from remove']),
    ('kho', ['kho, which is always set to on']),
])
def test_remove_names_refuses_bad_items(item, words):
    with pytest.raises(ValueError) as caught:
        kexec.remove_names([item])
    for word in words:
        assert word in str(caught.value)


# base_cmdline

def test_base_cmdline_reuses_the_running_one_without_boot_image_and_initrd():
    base = kexec.base_cmdline(None, None, RUNNING)
    assert cmdline.render(base) == 'root=/dev/vda1 ro console=ttyS0 quiet liveupdate=on kho=on'


def test_base_cmdline_reuse_true_is_the_same_as_the_default():
    assert kexec.base_cmdline(None, True, RUNNING) == kexec.base_cmdline(None, None, RUNNING)


def test_base_cmdline_reuse_keeps_init_arguments_and_quoting():
    base = kexec.base_cmdline(None, True, 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 dyndbg="file x.c +p" -- single')
    assert cmdline.render(base) == 'root=/dev/sda1 dyndbg="file x.c +p" -- single'


def test_base_cmdline_from_cmdline_keeps_boot_image_given_on_purpose():
    base = kexec.base_cmdline('BOOT_IMAGE=x root=/dev/vda1', None, RUNNING)
    assert cmdline.render(base) == 'BOOT_IMAGE=x root=/dev/vda1'


def test_base_cmdline_from_cmdline_with_reuse_false():
    assert cmdline.render(kexec.base_cmdline('root=/dev/vda1', False, RUNNING)) == 'root=/dev/vda1'


def test_base_cmdline_empty_cmdline_starts_empty():
    assert kexec.base_cmdline('', None, RUNNING) == cmdline.empty()


def test_base_cmdline_refuses_cmdline_and_reuse():
    with pytest.raises(ValueError, match='cmdline and reuse_cmdline: true are both given'):
        kexec.base_cmdline('root=/dev/vda1', True, RUNNING)


def test_base_cmdline_refuses_reuse_false_without_cmdline():
    with pytest.raises(ValueError, match='reuse_cmdline is false and no cmdline is given'):
        kexec.base_cmdline(None, False, RUNNING)


@pytest.mark.parametrize('value, words', [
    (True, ['cmdline is the boolean True']),
    (12, ['cmdline is the number 12']),
    (['root=/dev/vda1'], ['a list']),
    ('root=/dev/vda1\0quiet', ['NUL byte']),
])
def test_base_cmdline_refuses_bad_cmdline(value, words):
    with pytest.raises(ValueError) as caught:
        kexec.base_cmdline(value, None, RUNNING)
    for word in words:
        assert word in str(caught.value)


def test_base_cmdline_needs_proc_cmdline_to_reuse():
    with pytest.raises(ValueError, match='cannot read /proc/cmdline'):
        kexec.base_cmdline(None, None, None)


# final_cmdline

def base(text):
    return cmdline.parse(text)


def test_final_cmdline_adds_the_forced_params_at_the_end():
    assert kexec.final_cmdline(base('root=/dev/vda1 ro')) == 'root=/dev/vda1 ro liveupdate=on kho=on'


def test_final_cmdline_replaces_other_values_of_forced_params_in_place():
    assert kexec.final_cmdline(base('liveupdate=off root=/dev/vda1 kho=1 kho=off')) == 'liveupdate=on root=/dev/vda1 kho=on'


def test_final_cmdline_keeps_a_running_line_that_has_them():
    running = 'root=/dev/vda1 ro console=ttyS0 liveupdate=on kho=on'
    assert kexec.final_cmdline(base(running)) == running


def test_final_cmdline_removes_every_occurrence_in_any_spelling():
    assert kexec.final_cmdline(base('quiet kho-scratch=1G root=/dev/vda1 quiet kho_scratch=2G'), remove=['quiet', 'kho_scratch']) == \
        'root=/dev/vda1 liveupdate=on kho=on'


def test_final_cmdline_append_replaces_the_name_and_adds_at_the_end():
    result = kexec.final_cmdline(base('console=tty0 root=/dev/vda1 console=ttyS1'), append=[('console', 'ttyS0'), ('quiet', None)])
    assert result == 'root=/dev/vda1 console=ttyS0 quiet liveupdate=on kho=on'


def test_final_cmdline_append_keeps_a_name_given_twice():
    result = kexec.final_cmdline(base('console=ttyS1 root=/dev/vda1'), append=[('console', 'tty0'), ('console', 'ttyS0')])
    assert result == 'root=/dev/vda1 console=tty0 console=ttyS0 liveupdate=on kho=on'


def test_final_cmdline_appends_before_init_arguments():
    result = kexec.final_cmdline(base('root=/dev/vda1 -- single'), append=[('quiet', None)])
    assert result == 'root=/dev/vda1 quiet liveupdate=on kho=on -- single'


def test_final_cmdline_append_of_forced_on_lands_once():
    result = kexec.final_cmdline(base('root=/dev/vda1 liveupdate=off'), append=[('liveupdate', 'on')])
    assert result == 'root=/dev/vda1 liveupdate=on kho=on'


def test_final_cmdline_refuses_a_name_in_remove_and_append():
    with pytest.raises(ValueError, match='kho_scratch is in both remove and append'):
        kexec.final_cmdline(base('root=/dev/vda1'), append=[('kho-scratch', '1G')], remove=['kho_scratch'])


def test_final_cmdline_closes_a_quote_left_open_at_the_end():
    # The kernel reads an unclosed quote to the end of the line: params added after it need it closed.
    assert kexec.final_cmdline(base('root=/dev/vda1 a="b c')) == 'root=/dev/vda1 a="b c" liveupdate=on kho=on'


def test_final_cmdline_refuses_a_quote_that_cannot_be_closed():
    with pytest.raises(ValueError, match='unclosed double quote'):
        kexec.final_cmdline(base('root=/dev/vda1 a=b"c d'))


def test_final_cmdline_keeps_a_quoted_value():
    assert kexec.final_cmdline(base('dyndbg="file x.c +p"')) == 'dyndbg="file x.c +p" liveupdate=on kho=on'


# argv

def test_load_argv_with_initrd():
    assert kexec.load_argv('/usr/sbin/kexec', '/boot/vmlinuz-7.3.4', '/boot/initrd.img-7.3.4', 'root=/dev/vda1 liveupdate=on kho=on') == [
        '/usr/sbin/kexec', '-s', '-l', '/boot/vmlinuz-7.3.4', '--initrd=/boot/initrd.img-7.3.4',
        '--command-line=root=/dev/vda1 liveupdate=on kho=on']


def test_load_argv_without_initrd_keeps_the_cmdline_one_argument():
    argv = kexec.load_argv('kexec', '/boot/vmlinuz', None, 'a="b c" liveupdate=on kho=on')
    assert argv == ['kexec', '-s', '-l', '/boot/vmlinuz', '--command-line=a="b c" liveupdate=on kho=on']


def test_unload_argv():
    assert kexec.unload_argv('/usr/sbin/kexec') == ['/usr/sbin/kexec', '-s', '-u']


# sha256, records

def test_file_sha256(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)  # more than one read block
    path = tmp_path / 'vmlinuz'
    path.write_bytes(data)
    assert kexec.file_sha256(str(path)) == hashlib.sha256(data).hexdigest()


def test_file_sha256_missing_raises(tmp_path):
    with pytest.raises(OSError):
        kexec.file_sha256(str(tmp_path / 'missing'))


def test_make_record_fields():
    assert record() == {'kernel': '/boot/vmlinuz-7.3.4', 'kernel_sha256': 'a' * 64, 'initrd': '/boot/initrd.img-7.3.4',
                        'initrd_sha256': 'b' * 64, 'cmdline': 'root=/dev/vda1 liveupdate=on kho=on', 'release': '7.3.4',
                        'loaded_at': '2026-11-27T10:00:00Z'}


def test_differences_ignore_release_and_time():
    assert kexec.differences(record(), record(release='7.3.5', loaded_at='2027-01-01T00:00:00Z')) == []


@pytest.mark.parametrize('field', ['kernel', 'kernel_sha256', 'initrd', 'initrd_sha256', 'cmdline'])
def test_differences_name_each_identity_field(field):
    assert kexec.differences(record(), record(**{field: 'other'})) == [field]


def test_differences_without_record_are_everything():
    assert kexec.differences(None, record()) == list(kexec.IDENTITY)


def test_load_reason():
    wanted = record()
    assert kexec.load_reason(False, wanted, wanted) == 'nothing was staged'
    assert kexec.load_reason(True, None, wanted) == 'a kernel was staged without a record of this module (loaded by something else)'
    assert kexec.load_reason(True, record(cmdline='x', initrd=None), wanted) == 'the staged kernel differed in initrd, cmdline'
    assert kexec.load_reason(True, record(loaded_at='earlier'), wanted) is None


def test_describe_staged():
    assert kexec.describe_staged(False, record()) == 'nothing staged\n'
    assert kexec.describe_staged(True, None) == kexec.UNKNOWN_STAGED + '\n'
    assert json.loads(kexec.describe_staged(True, record())) == record()


def test_write_then_read_record(tmp_path):
    path = str(tmp_path / 'run' / 'luo-liveupdate' / 'kexec.json')
    kexec.write_record(path, record())
    assert kexec.read_record(path) == record()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(os.path.dirname(path)) == ['kexec.json']  # no temporary left


def test_write_record_replaces_the_previous(tmp_path):
    path = str(tmp_path / 'kexec.json')
    kexec.write_record(path, record())
    kexec.write_record(path, record(cmdline='other'))
    assert kexec.read_record(path)['cmdline'] == 'other'


def test_write_record_failure_leaves_no_temporary_and_the_old_record(tmp_path):
    path = str(tmp_path / 'kexec.json')
    kexec.write_record(path, record())
    with pytest.raises(TypeError):
        kexec.write_record(path, {'not json': object()})
    assert os.listdir(str(tmp_path)) == ['kexec.json']
    assert kexec.read_record(path) == record()


def test_write_record_unwritable_directory_raises_oserror(tmp_path):
    blocker = tmp_path / 'run'
    blocker.write_text('a file where the directory belongs')
    with pytest.raises(OSError):
        kexec.write_record(str(blocker / 'luo-liveupdate' / 'kexec.json'), record())


@pytest.mark.parametrize('content', ['', 'not json', '[1, 2]', '"text"'])
def test_read_record_of_a_broken_file_is_none(tmp_path, content):
    path = tmp_path / 'kexec.json'
    path.write_text(content)
    assert kexec.read_record(str(path)) is None


def test_read_record_missing_is_none(tmp_path):
    assert kexec.read_record(str(tmp_path / 'kexec.json')) is None


def test_remove_record(tmp_path):
    path = str(tmp_path / 'kexec.json')
    kexec.write_record(path, record())
    assert kexec.remove_record(path) is True
    assert not os.path.exists(path)
    assert kexec.remove_record(path) is False


# --- the initramfs of a kernel ---

@pytest.mark.parametrize('kernel, release, candidates', [
    ('/boot/vmlinuz-7.3.4', '7.3.4', ['/boot/initrd.img-7.3.4', '/boot/initramfs-7.3.4.img', '/boot/initrd-7.3.4']),
    ('/usr/lib/modules/7.3.4/vmlinuz', '7.3.4',
     ['/boot/initrd.img-7.3.4', '/boot/initramfs-7.3.4.img', '/boot/initrd-7.3.4']),
    ('/boot/0123abcd/7.3.4/linux', '7.3.4',
     ['/boot/0123abcd/7.3.4/initrd', '/boot/initrd.img-7.3.4', '/boot/initramfs-7.3.4.img', '/boot/initrd-7.3.4']),
    ('/srv/vmlinuz-7.3.4-luo', '7.3.4',
     ['/srv/initrd.img-7.3.4', '/srv/initramfs-7.3.4.img', '/srv/initrd-7.3.4',
      '/srv/initrd.img-7.3.4-luo', '/srv/initramfs-7.3.4-luo.img', '/srv/initrd-7.3.4-luo',
      '/boot/initrd.img-7.3.4', '/boot/initramfs-7.3.4.img', '/boot/initrd-7.3.4',
      '/boot/initrd.img-7.3.4-luo', '/boot/initramfs-7.3.4-luo.img', '/boot/initrd-7.3.4-luo']),
    ('/boot/vmlinuz-7.3.4', None, ['/boot/initrd.img-7.3.4', '/boot/initramfs-7.3.4.img', '/boot/initrd-7.3.4']),
    ('/srv/kernel.bin', None, []),
])
def test_initrd_candidates_follow_the_distributions(kernel, release, candidates):
    assert kexec.initrd_candidates(kernel, release) == candidates


@pytest.mark.parametrize('config, needed', [
    ({'MODULES': 'y', 'BLK_DEV_INITRD': 'y'}, True),
    ({'MODULES': 'n', 'BLK_DEV_INITRD': 'y'}, False),
    ({'BLK_DEV_INITRD': 'y'}, False),
    ({'MODULES': 'y', 'BLK_DEV_INITRD': 'n'}, False),
    (None, None),
    ({}, None),
])
def test_initrd_needed_by_kernels_with_modules(config, needed):
    assert kexec.initrd_needed(config) is needed


def test_initrd_missing_text_names_the_paths_and_the_fix():
    text = kexec.initrd_missing_text('/boot/vmlinuz-7.3.4', '7.3.4', ['/boot/initrd.img-7.3.4', '/boot/initrd-7.3.4'])
    assert text.startswith('/boot/vmlinuz-7.3.4 (release 7.3.4) without an initramfs: it has loadable modules')
    assert 'none at /boot/initrd.img-7.3.4, /boot/initrd-7.3.4' in text
    assert 'update-initramfs -c -k 7.3.4' in text and 'dracut --kver 7.3.4' in text and 'initrd: PATH' in text
