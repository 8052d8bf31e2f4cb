# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import gzip

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import kconfig
from ansible_collections.luo.liveupdate.tests.unit.module_utils import kimage_builders as kb

LUO_CONFIG = '''#
# Linux/x86 7.2.13 Kernel Configuration
#
CONFIG_X86_64=y
CONFIG_PAGE_SHIFT=12
CONFIG_SHMEM=y
CONFIG_KEXEC_FILE=y
CONFIG_KEXEC_HANDOVER=y
CONFIG_KEXEC_HANDOVER_DEBUGFS=y
# CONFIG_KEXEC_HANDOVER_ENABLE_DEFAULT is not set
CONFIG_LIVEUPDATE=y
CONFIG_LIVEUPDATE_MEMFD=y
CONFIG_MEMFD_CREATE=y
'''

STOCK_CONFIG = '''CONFIG_X86_64=y
CONFIG_KEXEC_FILE=y
# CONFIG_KEXEC_HANDOVER is not set
CONFIG_MEMFD_CREATE=y
CONFIG_SHMEM=y
'''


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return str(path)


# --- parsing ---

def test_parse_config_values():
    text = '\n'.join([
        '# comment',
        '',
        'CONFIG_A=y',
        'CONFIG_B=m',
        '# CONFIG_C is not set',
        'CONFIG_NR_CPUS=64',
        'CONFIG_BASE=0x1000000',
        'CONFIG_CMDLINE="console=ttyS0 quiet"',
        r'CONFIG_ESCAPED="say \"hi\" \\ bye"',
        'CONFIG_EMPTY=""',
        '   CONFIG_INDENTED=y   ',
        'NOT_CONFIG=y',
        '# CONFIG_D is set to something',
        'garbage line',
    ])
    assert kconfig.parse_config(text) == {
        'A': 'y', 'B': 'm', 'C': 'n', 'NR_CPUS': '64', 'BASE': '0x1000000',
        'CMDLINE': 'console=ttyS0 quiet', 'ESCAPED': 'say "hi" \\ bye', 'EMPTY': '', 'INDENTED': 'y',
    }


def test_parse_config_empty():
    assert kconfig.parse_config('') == {}


def test_parse_config_later_line_wins():
    assert kconfig.parse_config('CONFIG_A=y\n# CONFIG_A is not set\n') == {'A': 'n'}


# --- reading files ---

def test_read_plain_file(tmp_path):
    assert kconfig.read_config_file(write(tmp_path / 'config', LUO_CONFIG))['LIVEUPDATE'] == 'y'


def test_read_gzip_file(tmp_path):
    path = write(tmp_path / 'config.gz', gzip.compress(LUO_CONFIG.encode()))
    assert kconfig.read_config_file(path) == kconfig.parse_config(LUO_CONFIG)


def test_read_missing_file(tmp_path):
    path = tmp_path / 'config-nope'
    with pytest.raises(kconfig.KernelConfigError) as err:
        kconfig.read_config_file(str(path))
    assert str(err.value) == 'cannot read kernel config %s: No such file or directory' % path


def test_read_unreadable_file():
    with kb.unreadable_file(LUO_CONFIG.encode(), name='config-unreadable') as path:
        with pytest.raises(kconfig.KernelConfigError) as err:
            kconfig.read_config_file(path)
    assert str(err.value) == 'cannot read kernel config %s: permission denied; run with root privileges (become: true)' % path


def test_read_damaged_gzip(tmp_path):
    data = gzip.compress(LUO_CONFIG.encode())
    path = write(tmp_path / 'config.gz', data[:len(data) // 2])
    with pytest.raises(kconfig.KernelConfigError) as err:
        kconfig.read_config_file(path)
    assert str(err.value).startswith('kernel config %s is a damaged gzip file (' % path)
    assert str(err.value).endswith('); restore it from the kernel package')


def test_read_file_without_config_lines(tmp_path):
    path = write(tmp_path / 'config', '# just a comment\nHello\n')
    with pytest.raises(kconfig.KernelConfigError) as err:
        kconfig.read_config_file(path)
    assert str(err.value) == '%s holds no kernel config lines (CONFIG_NAME=value); point to the config of the kernel build' % path


# --- finding the config of a release ---

def test_running_release(tmp_path):
    write(tmp_path / 'proc/sys/kernel/osrelease', '7.2.13\n')
    assert kconfig.running_release(str(tmp_path)) == '7.2.13'


def test_running_release_unknown(tmp_path):
    assert kconfig.running_release(str(tmp_path)) is None
    write(tmp_path / 'proc/sys/kernel/osrelease', '\n')
    assert kconfig.running_release(str(tmp_path)) is None


def test_release_config_paths(tmp_path):
    assert kconfig.release_config_paths('7.3.4', str(tmp_path)) == [
        str(tmp_path / 'boot/config-7.3.4'),
        str(tmp_path / 'lib/modules/7.3.4/config'),
        str(tmp_path / 'usr/lib/modules/7.3.4/config'),
    ]


def test_config_candidates_running_release_first_proc(tmp_path):
    assert kconfig.config_candidates('7.2.13', str(tmp_path), running='7.2.13') == [
        str(tmp_path / 'proc/config.gz')] + kconfig.release_config_paths('7.2.13', str(tmp_path))


def test_config_candidates_other_release_skips_proc(tmp_path):
    assert kconfig.config_candidates('7.3.4', str(tmp_path), running='7.2.13') == kconfig.release_config_paths('7.3.4', str(tmp_path))


def test_config_candidates_reads_running_release_under_root(tmp_path):
    write(tmp_path / 'proc/sys/kernel/osrelease', '7.2.13\n')
    assert kconfig.config_candidates('7.2.13', str(tmp_path))[0] == str(tmp_path / 'proc/config.gz')
    assert str(tmp_path / 'proc/config.gz') not in kconfig.config_candidates('7.3.4', str(tmp_path))


def test_find_config_prefers_proc_for_running_kernel(tmp_path):
    write(tmp_path / 'proc/sys/kernel/osrelease', '7.2.13\n')
    write(tmp_path / 'proc/config.gz', gzip.compress(LUO_CONFIG.encode()))
    write(tmp_path / 'boot/config-7.2.13', STOCK_CONFIG)
    source, config = kconfig.find_config('7.2.13', str(tmp_path))
    assert source == str(tmp_path / 'proc/config.gz')
    assert config['LIVEUPDATE'] == 'y'


def test_find_config_proc_ignored_for_other_release(tmp_path):
    write(tmp_path / 'proc/sys/kernel/osrelease', '7.2.13\n')
    write(tmp_path / 'proc/config.gz', gzip.compress(LUO_CONFIG.encode()))
    write(tmp_path / 'boot/config-7.3.4', STOCK_CONFIG)
    assert kconfig.find_config('7.3.4', str(tmp_path)) == (str(tmp_path / 'boot/config-7.3.4'), kconfig.parse_config(STOCK_CONFIG))


@pytest.mark.parametrize('place', ('boot/config-R', 'lib/modules/R/config', 'usr/lib/modules/R/config'))
def test_find_config_each_place(tmp_path, place):
    path = write(tmp_path / place.replace('R', '7.3.4'), LUO_CONFIG)
    assert kconfig.find_config('7.3.4', str(tmp_path), running='7.2.13')[0] == path


def test_find_config_boot_before_modules(tmp_path):
    write(tmp_path / 'lib/modules/7.3.4/config', STOCK_CONFIG)
    boot = write(tmp_path / 'boot/config-7.3.4', LUO_CONFIG)
    assert kconfig.find_config('7.3.4', str(tmp_path), running='')[0] == boot


def test_find_config_nothing(tmp_path):
    assert kconfig.find_config('7.3.4', str(tmp_path)) is None


def test_find_config_skips_directories(tmp_path):
    (tmp_path / 'boot/config-7.3.4').mkdir(parents=True)
    path = write(tmp_path / 'lib/modules/7.3.4/config', LUO_CONFIG)
    assert kconfig.find_config('7.3.4', str(tmp_path))[0] == path


def test_first_config_raises_on_bad_file(tmp_path):
    path = write(tmp_path / 'config', 'nothing\n')
    with pytest.raises(kconfig.KernelConfigError):
        kconfig.first_config([str(tmp_path / 'absent'), path])


# --- judging a config for LUO ---

def test_luo_options_ready_kernel():
    assert kconfig.luo_options(kconfig.parse_config(LUO_CONFIG)) == {
        'KEXEC_FILE': 'y', 'KEXEC_HANDOVER': 'y', 'KEXEC_HANDOVER_ENABLE_DEFAULT': 'n', 'KEXEC_HANDOVER_DEBUGFS': 'y',
        'LIVEUPDATE': 'y', 'LIVEUPDATE_MEMFD': 'y', 'MEMFD_CREATE': 'y', 'SHMEM': 'y', 'PAGE_SHIFT': '12',
    }


def test_luo_options_absent_are_n_and_page_options_only_when_present():
    options = kconfig.luo_options({'ARM64': 'y', 'ARM64_16K_PAGES': 'y', 'ARM64_4K_PAGES': 'n'})
    assert options['LIVEUPDATE'] == 'n' and options['KEXEC_HANDOVER_DEBUGFS'] == 'n'
    assert options['ARM64_16K_PAGES'] == 'y' and options['ARM64_4K_PAGES'] == 'n'
    assert 'ARM64_64K_PAGES' not in options and 'PAGE_SHIFT' not in options


@pytest.mark.parametrize('config, size', [
    ({'X86_64': 'y'}, 4096),
    ({'X86_64': 'y', 'PAGE_SHIFT': '16'}, 4096),
    ({'ARM64': 'y', 'ARM64_4K_PAGES': 'y'}, 4096),
    ({'ARM64': 'y', 'ARM64_4K_PAGES': 'n', 'ARM64_16K_PAGES': 'y'}, 16384),
    ({'ARM64': 'y', 'ARM64_64K_PAGES': 'y'}, 65536),
    ({'ARM64': 'y', 'PAGE_SHIFT': '14'}, 16384),
    ({'RISCV': 'y', 'PAGE_SHIFT': '12'}, 4096),
    ({'ARM64': 'y'}, None),
    ({'PAGE_SHIFT': 'twelve'}, None),
    ({}, None),
])
def test_page_size(config, size):
    assert kconfig.page_size(config) == size
