# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Medians, targets, the markdown summary, the plots and the plan of bench/run."""
from __future__ import annotations

import json

import pytest

from luo_bench import report
from luo_bench.__main__ import main, parse_args, plan, rotate


def sample(method, size, blackout, kept, run=0, until_state=None, **extra):
    phases = {'stopping': 1.0, 'kexec': 0.5, 'kernel': 2.0, 'userspace': blackout - 4.5, 'service_start': 1.0}
    return dict({'method': method, 'size_mib': size, 'run': run, 'state_kept': kept,
                 'timeline': {'blackout_s': blackout, 'until_service_s': blackout - 1.0, 'until_state_s': until_state,
                              'phases_s': phases, 'mark_lag_s': None}},
                **extra)


def keeper_sample(dataset, save, restore, run=0):
    return {'dataset': dataset, 'what': dataset, 'entries': 10, 'bytes': 1048576, 'save_s': save, 'restore_s': restore,
            'intact': True, 'fdstore_entries': 1, 'run': run}


def full_samples():
    samples = []
    for run, (live, cold) in enumerate(((30.0, 40.0), (32.0, 44.0), (31.0, 41.0))):
        action = {'elapsed': live + 10.0, 'blackout': {'controller_s': live + 2.0, 'phases_ms': {'total': live * 1000}},
                  'calls': {'wait': {'seconds': live + 2.0}, 'boot': {'seconds': 1.5}, 'test_command': {'seconds': 2.5},
                            'total': {'modules': 5, 'commands': 20 + run, 'seconds': live + 10.0}}}
        samples += [sample('live_update', 64, live, True, run, action=action, ping_s=2.0 + run, until_state=live - 0.9),
                    sample('raw_kexec', 64, live - 1.0, True, run, raw_path_s=live + 8.5, raw_to_boot_id_s=live),
                    sample('kexec_no_state', 64, live - 2.0, False, run),
                    sample('cold_reboot', 64, cold, False, run, reboot={'elapsed': cold + 5.0}),
                    sample('disk_round_trip', 64, cold + 2.0, True, run),
                    sample('live_update', 1024, live * 1.2, True, run, action=action, until_state=live - 0.7),
                    sample('disk_round_trip', 1024, cold + 30.0, True, run),
                    sample('live_update_uefi', 64, live + 3.0, True, run, action=action),
                    sample('cold_reboot_uefi', 64, cold + 6.0, False, run, reboot={'elapsed': cold + 11.0})]
    return samples


def test_stats_ignore_what_is_not_a_number():
    assert report.stats([3.0, None, 1.0, 2.0]) == {'median': 2.0, 'min': 1.0, 'max': 3.0, 'n': 3}
    assert report.stats([None]) is None


def test_summary_medians_and_state_counts():
    summary = report.summarise(full_samples(), [keeper_sample('files', 2.0, 3.0)], [64, 1024])
    live = summary['methods']['live_update']['64']
    assert live['blackout_s'] == {'median': 31.0, 'min': 30.0, 'max': 32.0, 'n': 3}
    assert live['action_elapsed_s']['median'] == 41.0
    assert live['action_work_s']['median'] == 4.0  # 41 s less 33 away, 1.5 for systemd's boot, 2.5 of test command
    assert (live['action_boot_s']['median'], live['action_test_s']['median']) == (1.5, 2.5)
    assert live['state_kept']['kept'] == 3
    assert summary['methods']['cold_reboot']['64']['state_kept']['kept'] == 0
    assert summary['keeper']['files']['save_s']['median'] == 2.0


def test_results_without_seconds_per_phase_count_all_but_the_time_away():
    action = {'elapsed': 41.0, 'blackout': {'controller_s': 33.0}, 'calls': {'total': {'modules': 5, 'commands': 20}}}
    assert report.action_work(action, 41.0, 33.0) == {'action_work_s': 8.0}
    assert report.action_work({}, None, None) == {}


def test_targets_from_the_medians():
    found = report.summarise(full_samples(), [], [64, 1024])['targets']
    assert found['live_update_vs_cold_reboot']['ratio'] == pytest.approx(31.0 / 41.0, abs=1e-3)
    assert found['live_update_vs_cold_reboot']['met'] is True
    assert found['blackout_growth']['ratio'] == pytest.approx(1.2, abs=1e-3)
    assert found['blackout_growth']['met'] is False
    assert found['disk_round_trip_growth']['met'] is True
    assert found['orchestration_overhead']['seconds'] == pytest.approx(41.0 - 39.5, abs=1e-3)
    assert found['orchestration_overhead']['met'] is True
    assert found['uefi_live_update_vs_cold_reboot']['ratio'] == pytest.approx(34.0 / 47.0, abs=1e-3)
    assert found['uefi_live_update_vs_cold_reboot']['met'] is True
    assert found['uefi_vs_bios']['ratio'] == pytest.approx(34.0 / 31.0, abs=1e-3)
    assert found['action_work_vs_ping']['ratio'] == pytest.approx(4.0 / 3.0, abs=1e-3)
    assert found['action_work_vs_ping']['met'] is True
    assert found['state_growth']['ratio'] == pytest.approx(30.3 / 30.1, abs=1e-3)


def test_a_live_update_that_lost_the_state_misses_the_first_target():
    samples = [sample('live_update', 64, 10.0, False), sample('cold_reboot', 64, 40.0, False)]
    found = report.summarise(samples, [], [64])['targets']
    assert found['live_update_vs_cold_reboot']['met'] is False
    assert found['blackout_growth']['met'] is None
    assert found['blackout_growth']['ratio'] is None
    assert found['uefi_live_update_vs_cold_reboot']['met'] is None
    assert found['action_work_vs_ping']['met'] is None
    assert found['uefi_vs_bios']['ratio'] is None


def test_a_uefi_live_update_that_lost_the_state_misses_its_target():
    samples = [sample('live_update_uefi', 64, 10.0, False), sample('cold_reboot_uefi', 64, 40.0, False)]
    assert report.summarise(samples, [], [64])['targets']['uefi_live_update_vs_cold_reboot']['met'] is False


def results_of(samples, keeper, plots=()):
    return {'schema': 1, 'stamp': 'x', 'started': '2026-11-27 16:00 UTC', 'smoke': False, 'runs': 3, 'sizes_mib': [64, 1024],
            'machine': {'cpu': 'cpu', 'cpus': 2}, 'vm': {'mem_mib': 3072, 'kernels': ['7.2.13', '7.3.4'], 'systemd': 'systemd 262'},
            'samples': samples, 'keeper': keeper, 'plots': list(plots), 'error': None,
            'summary': report.summarise(samples, keeper, [64, 1024])}


def test_markdown_has_the_tables_and_the_verdicts():
    text = report.markdown(results_of(full_samples(), [keeper_sample('files', 2.0, 3.0)], ['phases']), 'x-')
    assert '| live update (action) | 31.0 (30.0-32.0) |' in text
    assert '| live update (action), UEFI | 34.0 (33.0-35.0) |' in text
    assert '| live update (action) | 31.0 (30.0-32.0) | 30.0 (29.0-31.0) | 30.1 (29.1-31.1) | 3/3 |' in text
    assert '| 1024 | 37.2 (36.0-38.4) | 36.2 (35.0-37.4) | 30.3 (29.3-31.3) |' in text
    assert '| one `ansible.builtin.ping` round trip to the same host, just before | 3.0 (2.0-4.0) |' in text
    assert '| shell commands on the host during the live update (`calls.total.commands`) | 21.0 (20.0-22.0) |' in text
    assert ("| the action's own work (its time less the host away, systemd finishing its boot and the test command) <= 3 x "
            "one ansible.builtin.ping round trip | 1.33 | met |") in text
    assert '| live_update: waiting for systemd to finish booting (`calls.boot.seconds`) | 1.5 (1.5-1.5) |' in text
    assert '| UEFI: live update blackout <= cold reboot blackout, state kept vs lost (64 MiB) | 0.72 | met |' in text
    assert '| 1024 | 37.2 (36.0-38.4) |' in text
    assert '| live update blackout grows <= 10% from 64 MiB to 1024 MiB | 1.20 | missed |' in text
    assert '![phases](x-phases.png)' in text


def test_plots_are_png_files(tmp_path):
    results = results_of(full_samples(), [keeper_sample('files', 2.0, 3.0)])
    names = report.write_plots(results, str(tmp_path / 'run-'), ['phases', 'scaling', 'overhead'])
    for name in names:
        assert (tmp_path / ('run-%s.png' % name)).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_a_smoke_run_needs_no_uefi_cold_reboot_but_a_full_run_does():
    samples = [s for s in full_samples() if s['method'] != 'cold_reboot_uefi']
    smoke = dict(results_of(samples, [keeper_sample('files', 2.0, 3.0)]), smoke=True)
    assert report.check_well_formed(smoke) == []
    assert report.check_well_formed(dict(smoke, smoke=False)) == ['no sample of cold_reboot_uefi']


def test_well_formed_results_and_what_is_missing():
    good = results_of(full_samples(), [keeper_sample('files', 2.0, 3.0)])
    assert report.check_well_formed(good) == []
    bad = results_of([s for s in full_samples() if s['method'] != 'cold_reboot'], [])
    bad['samples'][0]['timeline']['phases_s'] = {}
    del bad['plots']
    assert report.check_well_formed(bad) == ["missing key 'plots'", 'sample live_update/0 has no blackout or phases',
                                             'no sample of cold_reboot', 'no luo-state sample']


def test_state_must_be_kept_by_the_methods_that_carry_it_and_lost_by_the_others():
    good = results_of(full_samples(), [keeper_sample('files', 2.0, 3.0)])
    good['hv_samples'] = [{'method': 'hv_save_kexec', 'size_mib': 64, 'run': 0, 'guest': {'kept': True, 'memory_ok': True}}]
    assert report.check_state(good) == []
    bad = json.loads(json.dumps(good))
    bad['samples'][1]['state_kept'] = False  # raw_kexec lost it
    bad['samples'][2]['state_kept'] = True   # kexec_no_state kept it
    bad['hv_samples'][0]['guest']['memory_ok'] = False
    assert report.check_state(bad) == [
        'sample raw_kexec/0 at 64 MiB: the demo state was lost, it must be kept',
        'sample kexec_no_state/0 at 64 MiB: the demo state was kept, it must be lost',
        'hypervisor sample hv_save_kexec/0 at 64 MiB: the guest did not go on with its counter and memory']


def test_a_report_made_again_fails_on_a_sample_whose_state_went_the_wrong_way(tmp_path):
    results = results_of(full_samples(), [keeper_sample('files', 2.0, 3.0)])
    del results['summary']
    results['samples'][0]['state_kept'] = False
    path = tmp_path / 'x.json'
    path.write_text(json.dumps(results))
    assert main(['--report', str(path)]) == 1


def test_plan_rotates_sizes_and_methods_and_keeps_base_only_methods_at_the_smallest_size():
    runs = list(plan(2, [64, 1024]))
    assert [(run, size) for run, size, _methods in runs] == [(0, 64), (0, 1024), (1, 1024), (1, 64)]
    assert runs[0][2] == ['live_update', 'raw_kexec', 'kexec_no_state', 'cold_reboot', 'disk_round_trip']
    assert runs[1][2] == ['live_update', 'disk_round_trip']
    assert runs[3][2] == ['raw_kexec', 'kexec_no_state', 'cold_reboot', 'disk_round_trip', 'live_update']
    assert rotate([1, 2, 3], 4) == [2, 3, 1]


def test_smoke_defaults():
    args = parse_args(['--smoke'])
    assert (args.runs, args.sizes, args.files, args.big_file_mib) == (1, [64], 1000, 16)
    assert args.out.endswith('build/bench-smoke')
    full = parse_args(['--runs', '3', '--sizes', '1024,64'])
    assert (full.runs, full.sizes) == (3, [64, 1024])
    with pytest.raises(SystemExit):
        parse_args(['--runs', '0'])


def test_parts_choose_what_is_measured():
    assert parse_args([]).parts == ['host', 'uefi', 'hv']
    assert parse_args(['--parts', 'hv']).parts == ['hv']
    for bad in (['--parts', 'gpu'], ['--parts', ',']):
        with pytest.raises(SystemExit):
            parse_args(bad)
    results = results_of([], [])
    assert "no luo-state sample" in report.check_well_formed(results)
    results['parts'] = ['hv']
    assert report.check_well_formed(results) == []


def test_hypervisor_defaults_and_bad_sizes():
    smoke, full = parse_args(['--smoke']), parse_args([])
    assert (smoke.hv_runs, smoke.hv_sizes) == (1, [64])
    assert (full.hv_runs, full.hv_sizes) == (3, [256, 1024, 2048])
    assert parse_args(['--hv-sizes', '2048,512']).hv_sizes == [512, 2048]
    for bad in (['--hv-sizes', 'big'], ['--hv-sizes', '32'], ['--hv-runs', '0']):
        with pytest.raises(SystemExit):
            parse_args(bad)


def test_report_again_from_a_results_file(tmp_path):
    results = results_of(full_samples(), [keeper_sample('files', 2.0, 3.0)])
    del results['summary']
    path = tmp_path / 'x.json'
    path.write_text(json.dumps(results))
    assert main(['--report', str(path)]) == 0
    stamp = results['stamp']
    assert (tmp_path / 'latest.md').read_text() == 'The latest full run: [%s.md](%s.md).\n' % (stamp, stamp)
    assert '| live update (action) | 31.0 (30.0-32.0) |' in (tmp_path / ('%s.md' % stamp)).read_text()
    assert (tmp_path / ('%s-scaling.png' % stamp)).read_bytes()[:4] == b'\x89PNG'
    assert not list(tmp_path.glob('latest-*'))
    assert json.loads(path.read_text())['summary']['targets']['blackout_growth']['ratio'] == pytest.approx(1.2, abs=1e-3)


def test_report_again_with_hypervisor_samples(tmp_path):
    results = results_of(full_samples(), [keeper_sample('files', 2.0, 3.0)])
    del results['summary']
    guest = {'kept': True, 'memory_ok': True, 'rtc_pause_s': 20}
    results.update(hv_sizes_mib=[256], hv_samples=[
        {'method': method, 'size_mib': 256, 'run': 0, 'pause_s': pause, 'host_blackout_s': 40.0, 'disk_bytes': disk,
         'guest': guest} for method, pause, disk in (('hv_live_update', 20.0, 0), ('hv_save_reboot', 60.0, 270000000),
                                                     ('hv_save_kexec', 50.0, 270000000))])
    path = tmp_path / 'x.json'
    path.write_text(json.dumps(results))
    assert main(['--report', str(path)]) == 0
    text = (tmp_path / ('%s.md' % results['stamp'])).read_text()
    assert '| live update (guest RAM kept in memory) | 256 | 20.0 (20.0-20.0) |' in text
    assert 'the live update writes no guest RAM to disk (< 1 MiB at every size) | 0 bytes | met |' in text
    assert (tmp_path / ('%s-hypervisor.png' % results['stamp'])).read_bytes()[:4] == b'\x89PNG'


def test_a_report_of_the_hypervisor_part_made_again_lists_its_plot_once(tmp_path):
    results = dict(results_of([], []), parts=['hv'], hv_sizes_mib=[256], hv_samples=[
        {'method': 'hv_live_update', 'size_mib': 256, 'run': 0, 'pause_s': 20.0, 'host_blackout_s': 40.0, 'disk_bytes': 0,
         'guest': {'kept': True, 'memory_ok': True, 'rtc_pause_s': 0}}])
    del results['summary']
    path = tmp_path / 'x.json'
    path.write_text(json.dumps(results))
    for _again in range(2):  # the second time from the file the first one rewrote
        assert main(['--report', str(path)]) == 0
        assert (tmp_path / ('%s.md' % results['stamp'])).read_text().count('![hypervisor]') == 1


def test_a_page_of_the_hypervisor_part_alone_has_its_section_and_targets_only():
    results = dict(results_of([], []), parts=['hv'], vm=None, plots=['hypervisor'],
                   vm_hv={'mem_mib': 1792, 'kernels': ['7.2.13', '7.3.4'], 'qemu': 'QEMU emulator version 11.1.3'})
    results['summary']['targets']['hv_guest_kept'] = {'met': True, 'target': 'the guest kept its memory'}
    text = report.markdown(results, 'x-', ['', '## Hypervisor', '', '| the hv table |'])
    assert '## Blackout' not in text and '## Orchestration' not in text and '## State size' not in text
    assert text.index('| the hv table |') < text.index('## Targets')
    assert '| the guest kept its memory | - | met |' in text
    assert 'UEFI' not in text and 'ping' not in text  # the host and UEFI targets were not measured
    assert 'hypervisor VM 1792 MiB, kernels 7.2.13 and 7.3.4, QEMU emulator version 11.1.3' in text
    assert '![hypervisor](x-hypervisor.png)' in text


def test_a_page_says_how_many_runs_each_part_ran():
    hv_samples = [{'method': 'hv_live_update', 'size_mib': 256, 'run': run} for run in range(3)]
    hv_alone = dict(results_of([], []), parts=['hv'], runs=5, hv_samples=hv_samples)
    assert '; 3 run(s) per figure, median' in report.markdown(hv_alone, 'x-')  # from its samples: no hv_runs kept
    both = dict(results_of(full_samples(), []), parts=['host', 'hv'], runs=5, hv_runs=3, hv_samples=hv_samples)
    assert '; 5 run(s) per host figure, 3 run(s) per hypervisor figure, median' in report.markdown(both, 'x-')
    assert '; 5 run(s) per figure, median' in report.markdown(dict(both, parts=['host']), 'x-')


def test_a_page_of_the_host_part_alone_leaves_out_the_uefi_and_hypervisor_targets():
    results = dict(results_of(full_samples(), []), parts=['host'])
    text = report.markdown(results, 'x-')
    assert '| live update blackout grows <= 10% from 64 MiB to 1024 MiB | 1.20 | missed |' in text
    assert 'UEFI:' not in text and 'hypervisor VM' not in text
