# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""From raw samples to medians, ratios against the targets, a markdown summary and plots."""
from __future__ import annotations

import statistics

from .timeline import PHASE_LABELS, PHASES

METHOD_LABELS = {
    'live_update': 'live update (action)',
    'raw_kexec': 'LUO kexec by hand',
    'kexec_no_state': 'kexec, state not carried',
    'cold_reboot': 'cold reboot',
    'disk_round_trip': 'disk round trip',
    'live_update_uefi': 'live update (action), UEFI',
    'cold_reboot_uefi': 'cold reboot, UEFI',
}
# Measured in full runs only: the smoke run keeps the UEFI live update, beside the BIOS one.
FULL_ONLY = ('cold_reboot_uefi',)
# The methods that carry the demo's state (LUO, or the disk for the round trip); the others rebuild it.
KEEPS_STATE = ('live_update', 'raw_kexec', 'disk_round_trip', 'live_update_uefi')
PHASE_COLORS = {
    'dump': '#8c564b', 'stopping': '#1f77b4', 'exit': '#aec7e8', 'systemd_shutdown': '#9edae5', 'kexec': '#ff7f0e',
    'shutdown_firmware_grub': '#7f7f7f', 'kernel': '#2ca02c', 'userspace': '#98df8a', 'service_start': '#d62728',
}
SCHEMA = 1


def stats(values):
    """{'median', 'min', 'max', 'n'} of the numbers in values (None when there are none)."""
    numbers = [value for value in values if isinstance(value, (int, float))]
    if not numbers:
        return None
    return {'median': round(statistics.median(numbers), 3), 'min': round(min(numbers), 3), 'max': round(max(numbers), 3),
            'n': len(numbers)}


def metrics(sample):
    """The numbers of one sample, flat: blackout, phases, and what the method adds."""
    line = sample['timeline']
    found = {'blackout_s': line['blackout_s'], 'until_service_s': line['until_service_s'],
             'until_state_s': line.get('until_state_s'), 'state_kept': 1 if sample['state_kept'] else 0}
    found.update(('phase.' + name, value) for name, value in line['phases_s'].items())
    action = sample.get('action')
    if action:
        found['action_elapsed_s'] = action.get('elapsed')
        found['action_controller_s'] = (action.get('blackout') or {}).get('controller_s')
        found.update(action_work(action, found['action_elapsed_s'], found['action_controller_s']))
        total = (action.get('calls') or {}).get('total') or {}
        found['action_modules'], found['action_commands'] = total.get('modules'), total.get('commands')
        total_ms = ((action.get('blackout') or {}).get('phases_ms') or {}).get('total')
        found['action_phases_total_s'] = None if total_ms is None else total_ms / 1000.0
    if sample.get('reboot'):
        found['reboot_elapsed_s'] = sample['reboot'].get('elapsed')
    for key in ('raw_path_s', 'raw_to_boot_id_s', 'playbook_wall_s', 'ping_s'):
        if key in sample:
            found[key] = sample[key]
    if line.get('mark_lag_s') is not None:
        found['mark_lag_s'] = line['mark_lag_s']
    return found


def action_work(action, elapsed, controller_s):
    """The action's own work (preflight, stage, kexec command, verify, lock release) and what it waited for besides
    the host being away: systemd finishing its boot and the test command. From the seconds per phase in ``calls``;
    results without them count everything but the time away."""
    phases = action.get('calls') or {}
    if 'seconds' in (phases.get('total') or {}):
        waited = {name: (phases.get(name) or {}).get('seconds', 0.0) for name in ('wait', 'boot', 'test_command')}
        return {'action_work_s': round(phases['total']['seconds'] - sum(waited.values()), 3),
                'action_boot_s': waited['boot'], 'action_test_s': waited['test_command']}
    if isinstance(elapsed, (int, float)) and isinstance(controller_s, (int, float)):
        return {'action_work_s': elapsed - controller_s}
    return {}


def summarise(samples, keeper_samples, sizes):
    """Medians per method and size, luo-state medians, and the ratios the targets are about."""
    methods = {}
    for sample in samples:
        bucket = methods.setdefault(sample['method'], {}).setdefault(str(sample['size_mib']), {})
        for name, value in metrics(sample).items():
            bucket.setdefault(name, []).append(value)
    methods = {method: {size: {name: stats(values) for name, values in found.items()} for size, found in by_size.items()}
               for method, by_size in methods.items()}
    for sample in samples:
        kept = methods[sample['method']][str(sample['size_mib'])]['state_kept']
        kept['kept'] = kept.get('kept', 0) + (1 if sample['state_kept'] else 0)
    keeper = {}
    for sample in keeper_samples:
        entry = keeper.setdefault(sample['dataset'], {'what': sample['what'], 'entries': sample['entries'], 'bytes': sample['bytes'],
                                                      'save_s': [], 'restore_s': [], 'intact': 0, 'n': 0})
        entry['save_s'].append(sample['save_s'])
        entry['restore_s'].append(sample['restore_s'])
        entry['intact'] += 1 if sample['intact'] else 0
        entry['n'] += 1
    for entry in keeper.values():
        entry['save_s'], entry['restore_s'] = stats(entry['save_s']), stats(entry['restore_s'])
    return {'methods': methods, 'keeper': keeper, 'targets': targets(methods, sizes)}


def _median(methods, method, size, name):
    found = ((methods.get(method) or {}).get(str(size)) or {}).get(name)
    return found['median'] if found else None


def _ratio(numerator, denominator):
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def _all(methods, method, size, want):
    """True when every sample of method at size kept (want=1) or lost (want=0) the state; None without samples."""
    found = ((methods.get(method) or {}).get(str(size)) or {}).get('state_kept')
    if not found:
        return None
    return found['min'] == want and found['max'] == want


def _growth(methods, method, name, low, high):
    """Median at the largest size over median at the smallest; None with one size only."""
    if high == low:
        return None
    return _ratio(_median(methods, method, high, name), _median(methods, method, low, name))


def targets(methods, sizes):
    """Each target with the measured value and whether it was met (None when not measured)."""
    low, high = sizes[0], sizes[-1]
    live = _median(methods, 'live_update', low, 'blackout_s')
    cold = _median(methods, 'cold_reboot', low, 'blackout_s')
    ratio = _ratio(live, cold)
    kept, lost = _all(methods, 'live_update', low, 1), _all(methods, 'cold_reboot', low, 0)
    growth = _growth(methods, 'live_update', 'blackout_s', low, high)
    service_growth = _growth(methods, 'live_update', 'until_service_s', low, high)
    state_growth = _growth(methods, 'live_update', 'until_state_s', low, high)
    disk_growth = _growth(methods, 'disk_round_trip', 'blackout_s', low, high)
    elapsed = _median(methods, 'live_update', low, 'action_elapsed_s')
    raw = _median(methods, 'raw_kexec', low, 'raw_path_s')
    overhead = None if elapsed is None or raw is None else round(elapsed - raw, 3)
    work_vs_ping = _ratio(_median(methods, 'live_update', low, 'action_work_s'), _median(methods, 'live_update', low, 'ping_s'))
    live_uefi = _median(methods, 'live_update_uefi', low, 'blackout_s')
    uefi_ratio = _ratio(live_uefi, _median(methods, 'cold_reboot_uefi', low, 'blackout_s'))
    uefi_kept, uefi_lost = _all(methods, 'live_update_uefi', low, 1), _all(methods, 'cold_reboot_uefi', low, 0)
    return {
        'live_update_vs_cold_reboot': {
            'ratio': ratio, 'live_update_state_kept': kept, 'cold_reboot_state_lost': lost,
            'met': None if ratio is None else ratio <= 1.0 and bool(kept) and bool(lost),
            'target': 'live update blackout <= cold reboot blackout, state kept vs lost (%d MiB)' % low},
        'live_update_vs_kexec_no_state': {
            'ratio': _ratio(live, _median(methods, 'kexec_no_state', low, 'blackout_s')),
            'target': 'information: what carrying the state costs against the same kexec without it'},
        'blackout_growth': {
            'ratio': growth, 'until_service_ratio': service_growth, 'until_state_ratio': state_growth, 'sizes_mib': [low, high],
            'met': None if growth is None else growth <= 1.10,
            'target': 'live update blackout grows <= 10%% from %d MiB to %d MiB' % (low, high)},
        'state_growth': {
            'ratio': state_growth, 'sizes_mib': [low, high],
            'target': 'information: live update until the service held its state, %d MiB against %d MiB' % (high, low)},
        'disk_round_trip_growth': {
            'ratio': disk_growth, 'sizes_mib': [low, high],
            'met': None if disk_growth is None else disk_growth > 1.0,
            'target': 'the disk round trip grows with the size'},
        'orchestration_overhead': {
            'seconds': overhead, 'action_elapsed_s': elapsed, 'raw_path_s': raw,
            'met': None if overhead is None else overhead <= 2.0,
            'target': 'live_update elapsed - raw kexec path <= 2 s per host'},
        'action_work_vs_ping': {
            'ratio': work_vs_ping, 'met': None if work_vs_ping is None else work_vs_ping <= 3.0,
            'target': "the action's own work (its time less the host away, systemd finishing its boot and the test command) "
                      "<= 3 x one ansible.builtin.ping round trip"},
        'uefi_live_update_vs_cold_reboot': {
            'ratio': uefi_ratio, 'live_update_state_kept': uefi_kept, 'cold_reboot_state_lost': uefi_lost,
            'met': None if uefi_ratio is None else uefi_ratio <= 1.0 and bool(uefi_kept) and bool(uefi_lost),
            'target': 'UEFI: live update blackout <= cold reboot blackout, state kept vs lost (%d MiB)' % low},
        'uefi_vs_bios': {
            'ratio': _ratio(live_uefi, live),
            'target': 'information: the live update blackout on UEFI against the same on BIOS'},
    }


# --- markdown ------------------------------------------------------------------

def _fmt(found, scale=1.0):
    if not found:
        return '-'
    return '%.1f (%.1f-%.1f)' % (found['median'] * scale, found['min'] * scale, found['max'] * scale)


def _verdict(met):
    return {True: 'met', False: 'missed', None: 'not measured'}[met]


def parts_of(results):
    """The parts the run measured; results from before --parts name none: host and UEFI, and hv when it has samples."""
    return results.get('parts') or ['host', 'uefi'] + (['hv'] if results.get('hv_samples') else [])


def target_part(name):
    """Which part of the benchmark (host, uefi, hv) measures the target called name."""
    return 'hv' if name.startswith('hv_') else 'uefi' if name.startswith('uefi_') else 'host'


def runs_text(results, parts):
    """How many runs each figure's median is of, for the parts measured (the hypervisor's from its samples in
    results from before hv_runs was kept)."""
    found = []
    if 'host' in parts or 'uefi' in parts:
        found.append(('', results['runs']))
    if 'hv' in parts:
        hv_runs = results.get('hv_runs') or max([sample['run'] + 1 for sample in results.get('hv_samples') or []] or [0])
        found.append((' hypervisor', hv_runs))
    if len(found) == 1:
        return '%d run(s) per figure' % found[0][1]
    return ', '.join('%d run(s) per%s figure' % (runs, kind or ' host') for kind, runs in found)


def markdown(results, png_prefix, sections=()):
    """The summary page: tables of medians (min-max) of the parts measured, then ``sections`` (lines), the targets
    of those parts, the plots."""
    parts = parts_of(results)
    lines = ['# luo.liveupdate benchmark, %s' % results['started'], '',
             '%s; %s, median (min-max) in seconds; %s.' % (
                 'Smoke run' if results['smoke'] else 'Full run', runs_text(results, parts), machine_line(results)), '']
    if 'host' in parts or 'uefi' in parts:
        lines += host_tables(results)
    lines += list(sections)
    lines += ['', '## Targets', '', '| target | measured | verdict |', '|---|---|---|']
    for name, target in results['summary']['targets'].items():
        if target_part(name) not in parts:
            continue
        value = target.get('ratio', target.get('seconds'))
        unit = ' s' if 'seconds' in target else ''
        measured = '-' if value is None else '%.2f%s' % (value, unit)
        if target.get('bytes') is not None:
            measured = '%d bytes' % target['bytes']
        lines.append('| %s | %s | %s |' % (target['target'], measured, _verdict(target['met']) if 'met' in target else 'information'))
    lines += ['', '## Plots', ''] + ['![%s](%s%s.png)' % (name, png_prefix, name) for name in results['plots']]
    if results.get('failures'):
        lines += ['', '## Failed samples (left out of the figures)', '']
        lines += ['- %s, %d MiB, run %d: %s' % (item['method'], item['size_mib'], item['run'] + 1, item['error'].splitlines()[0])
                  for item in results['failures']]
    if results.get('error'):
        lines += ['', '## Stopped early', '', '```', results['error'], '```']
    return '\n'.join(lines) + '\n'


def host_tables(results):
    """The host part's tables: blackout per method, state size, orchestration, the luo-state keeper."""
    summary, sizes = results['summary'], results['sizes_mib']
    methods, low = summary['methods'], str(sizes[0])
    lines = ['## Blackout at %s MiB: from the shutdown until the demo answers again' % low, '',
             '| method | blackout | until the service started | until it held its state | state kept | '
             + ' | '.join(PHASE_LABELS[p] for p in PHASES) + ' |',
             '|---|---|---|---|---|' + '---|' * len(PHASES)]
    for method in METHOD_LABELS:
        found = methods.get(method, {}).get(low)
        if not found:
            continue
        kept = found['state_kept']
        lines.append('| %s | %s | %s | %s | %d/%d | %s |' % (
            METHOD_LABELS[method], _fmt(found['blackout_s']), _fmt(found['until_service_s']), _fmt(found.get('until_state_s')),
            kept['kept'], kept['n'],
            ' | '.join('%.1f' % found['phase.' + p]['median'] if found.get('phase.' + p) else '-' for p in PHASES)))
    lines += ['', '## State size', '', '| MiB | live update blackout | live update, until the service started | '
              'live update, until the service held its state | disk round trip | live update / disk round trip |',
              '|---|---|---|---|---|---|']
    for size in sizes:
        live = methods.get('live_update', {}).get(str(size), {})
        disk = methods.get('disk_round_trip', {}).get(str(size), {})
        ratio = _ratio((live.get('blackout_s') or {}).get('median'), (disk.get('blackout_s') or {}).get('median'))
        lines.append('| %d | %s | %s | %s | %s | %s |' % (
            size, _fmt(live.get('blackout_s')), _fmt(live.get('until_service_s')), _fmt(live.get('until_state_s')),
            _fmt(disk.get('blackout_s')), '-' if ratio is None else '%.2f' % ratio))
    live, raw = methods.get('live_update', {}).get(low, {}), methods.get('raw_kexec', {}).get(low, {})
    cold = methods.get('cold_reboot', {}).get(low, {})
    lines += ['', '## Orchestration at %s MiB (controller clock)' % low, '',
              '| what | seconds |', '|---|---|',
              '| live_update `elapsed` (preflight, stage, kexec, wait, verify, report) | %s |' % _fmt(live.get('action_elapsed_s')),
              '| the same by hand: kexec -s -l, systemctl kexec, until the demo is active | %s |' % _fmt(raw.get('raw_path_s')),
              '| live_update `blackout.controller_s` (kexec until a new boot id) | %s |' % _fmt(live.get('action_controller_s')),
              '| by hand: systemctl kexec until a new boot id (polled every second) | %s |' % _fmt(raw.get('raw_to_boot_id_s')),
              '| live_update: waiting for systemd to finish booting (`calls.boot.seconds`) | %s |' % _fmt(live.get('action_boot_s')),
              '| live_update: the test command (`calls.test_command.seconds`) | %s |' % _fmt(live.get('action_test_s')),
              '| live_update: its own work (preflight, stage, kexec command, verify, lock release: `calls.total.seconds` less '
              'wait, boot and test_command) | %s |' % _fmt(live.get('action_work_s')),
              '| one `ansible.builtin.ping` round trip to the same host, just before | %s |' % _fmt(live.get('ping_s')),
              '| module runs on the host during the live update (`calls.total.modules`) | %s |' % _fmt(live.get('action_modules')),
              '| shell commands on the host during the live update (`calls.total.commands`) | %s |' % _fmt(live.get('action_commands')),
              '| ansible.builtin.reboot `elapsed` | %s |' % _fmt(cold.get('reboot_elapsed_s'))]
    if summary['keeper']:
        lines += ['', '## luo-state keeper: save (systemctl stop) and restore (systemctl start)', '',
                  '| data | MiB | save | restore | intact |', '|---|---|---|---|---|']
        for entry in summary['keeper'].values():
            lines.append('| %s | %.1f | %s | %s | %d/%d |'
                         % (entry['what'], entry['bytes'] / 1048576.0, _fmt(entry['save_s']), _fmt(entry['restore_s']), entry['intact'], entry['n']))
    return lines


def machine_line(results):
    host, vm, hv = results['machine'], results.get('vm'), results.get('vm_hv')
    line = 'controller %s, %s CPUs; VMs: qemu TCG, 1 vCPU' % (host.get('cpu'), host.get('cpus'))
    if vm:
        line += '; %s MiB, kernels %s, %s' % (vm.get('mem_mib'), ' and '.join(vm.get('kernels', [])), vm.get('systemd'))
    if hv:
        line += '; hypervisor VM %s MiB, kernels %s, %s' % (hv.get('mem_mib'), ' and '.join(hv.get('kernels', [])), hv.get('qemu'))
    return line


# --- plots ---------------------------------------------------------------------

def plot_phases(pyplot, results, path):
    """Stacked medians of each phase per method at the smallest size, the median blackout on top."""
    methods, low = results['summary']['methods'], str(results['sizes_mib'][0])
    shown = [method for method in METHOD_LABELS if methods.get(method, {}).get(low)]
    figure, axes = pyplot.subplots(figsize=(10, 5.5))
    for index, method in enumerate(shown):
        found, bottom = methods[method][low], 0.0
        for phase in PHASES:
            value = (found.get('phase.' + phase) or {}).get('median')
            if value:
                axes.bar(index, value, bottom=bottom, color=PHASE_COLORS[phase], edgecolor='white', linewidth=0.5,
                         label=PHASE_LABELS[phase])
                bottom += value
        axes.text(index, bottom, '%.1f s' % found['blackout_s']['median'], ha='center', va='bottom')
    handles = dict(zip(*reversed(axes.get_legend_handles_labels())))
    shown_phases = [PHASE_LABELS[phase] for phase in reversed(PHASES) if PHASE_LABELS[phase] in handles]
    axes.legend([handles[label] for label in shown_phases], shown_phases, fontsize=8, loc='upper left', bbox_to_anchor=(1.0, 1.0))
    axes.set_xticks(range(len(shown)), [METHOD_LABELS[method] for method in shown], rotation=15)
    axes.set_ylabel('seconds (median of each phase)')
    axes.set_title('Blackout by phase, %s MiB of state (qemu TCG: compare ratios, not seconds)' % low)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def _series(methods, method, name, sizes):
    points = [((methods.get(method) or {}).get(str(size)) or {}).get(name) for size in sizes]
    return [(size, point) for size, point in zip(sizes, points) if point]


def plot_scaling(pyplot, results, path):
    """Blackout against state size: live update (until answering, started, holding its state) and disk round trip."""
    methods, sizes = results['summary']['methods'], results['sizes_mib']
    figure, axes = pyplot.subplots(figsize=(8, 5))
    for method, name, label in (('live_update', 'blackout_s', 'live update: until the demo answers'),
                                ('live_update', 'until_service_s', 'live update: until the demo started'),
                                ('live_update', 'until_state_s', 'live update: until the demo held its state (before its hash)'),
                                ('disk_round_trip', 'blackout_s', 'disk round trip: write, cold reboot, read + hash')):
        points = _series(methods, method, name, sizes)
        if points:
            xs = [size for size, _point in points]
            ys = [point['median'] for _size, point in points]
            errors = [[point['median'] - point['min'] for _size, point in points], [point['max'] - point['median'] for _size, point in points]]
            axes.errorbar(xs, ys, yerr=errors, marker='o', capsize=4, label=label)
    axes.set_xscale('log', base=2)
    axes.set_xticks(sizes, [str(size) for size in sizes])
    axes.set_xlabel('demo state (MiB)')
    axes.set_ylabel('seconds (median, min-max)')
    axes.set_ylim(bottom=0)
    axes.set_title('Blackout against state size')
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def plot_overhead(pyplot, results, path):
    """Left: orchestrated and raw wall times; right: luo-state save and restore."""
    summary, low = results['summary'], str(results['sizes_mib'][0])
    methods = summary['methods']
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.5))
    bars = [('live_update\nelapsed', (methods.get('live_update', {}).get(low) or {}).get('action_elapsed_s')),
            ('by hand\n(raw path)', (methods.get('raw_kexec', {}).get(low) or {}).get('raw_path_s')),
            ('reboot module\nelapsed', (methods.get('cold_reboot', {}).get(low) or {}).get('reboot_elapsed_s'))]
    bars = [(label, found) for label, found in bars if found]
    _bars(left, bars, 'Orchestration, %s MiB (controller clock)' % low)
    keeper = [('%s\n%s' % (entry['what'], what), entry[key]) for entry in summary['keeper'].values()
              for key, what in (('save_s', 'save'), ('restore_s', 'restore')) if entry[key]]
    _bars(right, keeper, 'luo-state keeper (systemctl stop / start)')
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def _bars(axes, bars, title):
    xs = range(len(bars))
    axes.bar(xs, [found['median'] for _label, found in bars],
             yerr=[[found['median'] - found['min'] for _label, found in bars], [found['max'] - found['median'] for _label, found in bars]],
             capsize=4, color='#1f77b4')
    axes.set_xticks(list(xs), [label for label, _found in bars], fontsize=8)
    axes.set_ylabel('seconds (median, min-max)')
    axes.set_title(title, fontsize=10)


PLOTS = {'phases': plot_phases, 'scaling': plot_scaling, 'overhead': plot_overhead}


def write_plots(results, prefix, names):
    """PNG files prefix + NAME.png for each plot name; returns the names written."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot
    for name in names:
        PLOTS[name](pyplot, results, '%s%s.png' % (prefix, name))
    return list(names)


def check_well_formed(results):
    """Problems with the results' shape (not their values): empty when they are well formed."""
    problems = []
    for key in ('schema', 'started', 'machine', 'vm', 'samples', 'summary', 'plots'):
        if key not in results:
            problems.append('missing key %r' % key)
    for sample in results.get('samples', []):
        line = sample.get('timeline') or {}
        if not isinstance(line.get('blackout_s'), (int, float)) or not line.get('phases_s'):
            problems.append('sample %s/%s has no blackout or phases' % (sample.get('method'), sample.get('run')))
    seen = {sample.get('method') for sample in results.get('samples', [])}
    parts = parts_of(results)
    wanted = [method for method in METHOD_LABELS if not (results.get('smoke') and method in FULL_ONLY)
              and ('uefi' if method.endswith('_uefi') else 'host') in parts]
    problems += ['no sample of %s' % method for method in wanted if method not in seen]
    if 'host' in parts and not results.get('keeper'):
        problems.append('no luo-state sample')
    return problems


def check_state(results):
    """Samples whose state went the wrong way: empty when every method did what it is compared for.

    A method that carries the state must have kept it and one that rebuilds it must have lost it (else
    the tables compare the wrong things); every nested guest must come back with its counter and memory."""
    problems = []
    for sample in results.get('samples', []):
        want = sample.get('method') in KEEPS_STATE
        if sample.get('state_kept') is not want:
            problems.append('sample %s/%s at %s MiB: the demo state was %s, it must be %s'
                            % (sample.get('method'), sample.get('run'), sample.get('size_mib'),
                               'kept' if sample.get('state_kept') else 'lost', 'kept' if want else 'lost'))
    for sample in results.get('hv_samples', []):
        guest = sample.get('guest') or {}
        if not (guest.get('kept') and guest.get('memory_ok')):
            problems.append('hypervisor sample %s/%s at %s MiB: the guest did not go on with its counter and memory'
                            % (sample.get('method'), sample.get('run'), sample.get('size_mib')))
    return problems
