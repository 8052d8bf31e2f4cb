# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""hv_report: medians, targets and the table of the hypervisor samples."""
from __future__ import annotations

import pytest

from luo_bench.hv_report import hv_targets, markdown_hv, plot_hv, summarise_hv

MIB = 1048576


def sample(method, size, pause, blackout, disk, kept=True, rtc=None, run=0):
    guest = {'kept': kept, 'memory_ok': kept, 'rtc_pause_s': rtc if rtc is not None else round(pause)}
    return {'method': method, 'size_mib': size, 'run': run, 'pause_s': pause, 'host_blackout_s': blackout,
            'disk_bytes': disk, 'guest': guest}


def samples():
    found = []
    for run, jitter in enumerate((0.0, 0.4, -0.2)):
        found += [sample('hv_live_update', 256, 20.0 + jitter, 40.0, 4096, run=run),
                  sample('hv_live_update', 2048, 21.0 + jitter, 41.0, 8192, run=run),
                  sample('hv_save_reboot', 256, 60.0 + jitter, 50.0, 257 * MIB, run=run),
                  sample('hv_save_reboot', 2048, 150.0 + jitter, 52.0, 2049 * MIB, run=run),
                  sample('hv_save_kexec', 2048, 120.0 + jitter, 30.0, 2049 * MIB, run=run)]
    return found


def test_medians_and_kept_counts():
    methods = summarise_hv(samples())
    live = methods['hv_live_update']['2048']
    assert live['pause_s'] == {'median': 21.0, 'min': 20.8, 'max': 21.4, 'n': 3}
    assert live['kept'] == {'kept': 3, 'n': 3}
    assert methods['hv_save_reboot']['256']['disk_bytes']['median'] == 257 * MIB


def test_targets_met():
    found = hv_targets(summarise_hv(samples()), [256, 2048])
    assert found['hv_pause_growth']['ratio'] == pytest.approx(21.0 / 20.0, abs=1e-3) and found['hv_pause_growth']['met'] is True
    assert found['hv_pause_vs_managed_save']['ratio'] == pytest.approx(21.0 / 150.0, abs=1e-3) and found['hv_pause_vs_managed_save']['met']
    assert found['hv_bytes_to_disk'] == {'bytes': 8192, 'met': True, 'target': found['hv_bytes_to_disk']['target']}
    assert found['hv_pause_vs_host_blackout']['ratio'] == pytest.approx(21.0 / 41.0, abs=1e-3) and found['hv_pause_vs_host_blackout']['met']
    assert found['hv_guest_kept']['met'] is True


def test_targets_missed_and_not_measured():
    bad = [sample('hv_live_update', 256, 20.0, 25.0, 300 * MIB), sample('hv_live_update', 2048, 30.0, 40.0, 0, kept=False),
           sample('hv_save_reboot', 2048, 40.0, 50.0, 2049 * MIB)]
    found = hv_targets(summarise_hv(bad), [256, 2048])
    assert [found[name]['met'] for name in ('hv_pause_growth', 'hv_pause_vs_managed_save', 'hv_bytes_to_disk',
                                            'hv_pause_vs_host_blackout', 'hv_guest_kept')] == [False, False, False, False, False]
    assert all(target['met'] is None for target in hv_targets({}, [256, 2048]).values())
    assert hv_targets(summarise_hv(samples()), [256])['hv_pause_growth']['met'] is None  # one size: no growth


def test_the_table_has_a_row_per_method_and_size():
    text = '\n'.join(markdown_hv({'methods': summarise_hv(samples())}, [256, 2048]))
    assert '| live update (guest RAM kept in memory) | 2048 | 21.0 (20.8-21.4) | 21.0 (21.0-21.0) | 41.0 (41.0-41.0) | 0.0 (0.0-0.0) | 3/3 |' in text
    assert '| managed save to disk, cold reboot, restore | 2048 | 150.0 (149.8-150.4) |' in text
    assert '2049.0 (2049.0-2049.0) | 3/3 |' in text
    assert 'managed save to disk, plain kexec, restore | 256' not in text  # not measured at that size


def test_the_plot_is_a_png(tmp_path):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use('Agg')
    from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
    path = tmp_path / 'hv.png'
    plot_hv(pyplot, {'methods': summarise_hv(samples())}, [256, 2048], str(path))
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
