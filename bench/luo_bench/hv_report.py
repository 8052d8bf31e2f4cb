# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hypervisor samples (hypervisor.py): medians per method and guest size, the targets, a table and a plot."""
from __future__ import annotations

from .report import stats

HV_LABELS = {
    'hv_live_update': 'live update (guest RAM kept in memory)',
    'hv_save_reboot': 'managed save to disk, cold reboot, restore',
    'hv_save_kexec': 'managed save to disk, plain kexec, restore',
}
FIGURES = ('pause_s', 'rtc_pause_s', 'host_blackout_s', 'disk_bytes')


def _kept(sample):
    guest = sample.get('guest') or {}
    return 1 if guest.get('kept') and guest.get('memory_ok') else 0


def summarise_hv(samples):
    """{method: {size: {figure: stats, 'kept': {'kept', 'n'}}}}."""
    methods = {}
    for sample in samples:
        bucket = methods.setdefault(sample['method'], {}).setdefault(str(sample['size_mib']), {'kept': [], **{f: [] for f in FIGURES}})
        for figure in FIGURES:
            value = sample.get(figure) if figure != 'rtc_pause_s' else (sample.get('guest') or {}).get('rtc_pause_s')
            bucket[figure].append(value)
        bucket['kept'].append(_kept(sample))
    return {method: {size: dict({figure: stats(values[figure]) for figure in FIGURES},
                                kept={'kept': sum(values['kept']), 'n': len(values['kept'])})
                     for size, values in sizes.items()}
            for method, sizes in methods.items()}


def _median(methods, method, size, figure):
    return (((methods.get(method) or {}).get(str(size)) or {}).get(figure) or {}).get('median')


def _ratio(top, bottom):
    return None if top is None or not bottom else round(top / bottom, 3)


def hv_targets(methods, sizes):
    """The targets of the hypervisor case, each with the measured value and whether it was met."""
    low, high = sizes[0], sizes[-1]
    growth = _ratio(_median(methods, 'hv_live_update', high, 'pause_s'), _median(methods, 'hv_live_update', low, 'pause_s'))
    versus_save = _ratio(_median(methods, 'hv_live_update', high, 'pause_s'), _median(methods, 'hv_save_reboot', high, 'pause_s'))
    disk = [_median(methods, 'hv_live_update', size, 'disk_bytes') for size in sizes]
    disk = None if None in disk else max(disk)
    versus_host = _ratio(_median(methods, 'hv_live_update', high, 'pause_s'), _median(methods, 'hv_live_update', high, 'host_blackout_s'))
    kept = [((methods.get('hv_live_update') or {}).get(str(size)) or {}).get('kept') for size in sizes]
    all_kept = None if None in kept else all(entry['kept'] == entry['n'] for entry in kept)
    return {
        'hv_pause_growth': {'ratio': growth, 'met': None if growth is None or high == low else growth <= 1.10,
                            'target': 'guest pause with the live update grows <= 10%% from %d MiB to %d MiB' % (low, high)},
        'hv_pause_vs_managed_save': {'ratio': versus_save, 'met': None if versus_save is None else versus_save <= 0.5,
                                     'target': 'guest pause at %d MiB: live update <= 0.5 x managed save and cold reboot' % high},
        'hv_bytes_to_disk': {'bytes': disk, 'met': None if disk is None else disk < 1048576,
                             'target': 'the live update writes no guest RAM to disk (< 1 MiB at every size)'},
        'hv_pause_vs_host_blackout': {'ratio': versus_host, 'met': None if versus_host is None else versus_host <= 0.6,
                                      'target': 'the guest is paused last and resumed first: its pause <= 0.6 x the host\'s blackout'},
        'hv_guest_kept': {'met': all_kept, 'target': 'the guest kept its token, boot id, counter and memory at every size'},
    }


def _fmt(found, scale=1.0):
    if not found:
        return '-'
    return '%.1f (%.1f-%.1f)' % (found['median'] * scale, found['min'] * scale, found['max'] * scale)


def markdown_hv(summary, sizes):
    """The hypervisor section of the summary page."""
    methods = summary['methods']
    lines = ['', '## Hypervisor: a guest that filled its RAM, kept across the host\'s kernel switch', '',
             "| method | guest MiB | guest pause | the pause by the guest's own clock | host away | MiB written to disk | guest kept |",
             '|---|---|---|---|---|---|---|']
    for method, label in HV_LABELS.items():
        for size in sizes:
            found = (methods.get(method) or {}).get(str(size))
            if found:
                lines.append('| %s | %d | %s | %s | %s | %s | %d/%d |' % (
                    label, size, _fmt(found['pause_s']), _fmt(found['rtc_pause_s']), _fmt(found['host_blackout_s']),
                    _fmt(found['disk_bytes'], 1 / 1048576.0), found['kept']['kept'], found['kept']['n']))
    return lines


def plot_hv(pyplot, summary, sizes, path):
    """Guest pause against guest size, per method."""
    figure, axes = pyplot.subplots(figsize=(8, 5))
    for method, label in HV_LABELS.items():
        points = [(size, ((summary['methods'].get(method) or {}).get(str(size)) or {}).get('pause_s')) for size in sizes]
        points = [(size, found) for size, found in points if found]
        if points:
            axes.errorbar([size for size, _f in points], [found['median'] for _s, found in points],
                          yerr=[[f['median'] - f['min'] for _s, f in points], [f['max'] - f['median'] for _s, f in points]],
                          marker='o', capsize=4, label=label)
    axes.set_xscale('log', base=2)
    axes.set_xticks(sizes, [str(size) for size in sizes])
    axes.set_xlabel('guest RAM (MiB)')
    axes.set_ylabel('guest pause, seconds (median, min-max)')
    axes.set_ylim(bottom=0)
    axes.set_title('Guest pause against guest size')
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
