# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure what a live update costs on one lab VM; use it through bench/run (see bench/README.md)."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

from .guest_lines import GuestLinesError
from .hv_report import HV_LABELS, hv_targets, markdown_hv, plot_hv, summarise_hv
from .hypervisor import HV_METHODS, HvBench
from .methods import METHODS, UEFI_METHODS, Bench
from .report import FULL_ONLY, check_state, check_well_formed, markdown, summarise, write_plots
from .timeline import TimelineError
from .vm import BenchError, Vm

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Only at the smallest size: the methods that do not depend on the state size.
BASE_ONLY = ('raw_kexec', 'kexec_no_state', 'cold_reboot')


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='bench/run', description=__doc__)
    parser.add_argument('--smoke', action='store_true',
                        help='one run of each method at the smallest size, small luo-state data, one plot, results in build/bench-smoke')
    parser.add_argument('--runs', type=int, help='runs per figure (default 5, smoke 1); every figure is a median with min and max')
    parser.add_argument('--sizes', help='demo state sizes in MiB, comma-separated, smallest first (default 64,256,1024; smoke 64)')
    parser.add_argument('--files', type=int, help='small files for the luo-state test (default 10000, smoke 1000)')
    parser.add_argument('--big-file-mib', type=int, help='size of the one big file for the luo-state test (default 256, smoke 16)')
    parser.add_argument('--vm', default='luo-bench', help='name of the lab VM to boot and destroy, NAME-uefi for the UEFI one (default luo-bench)')
    parser.add_argument('--mem', type=int, default=3072, help='VM memory in MiB (default 3072: room for 1 GiB of state)')
    parser.add_argument('--hv-sizes', help='nested guest sizes in MiB for the hypervisor case, smallest first (default 256,1024,2048; smoke 64)')
    parser.add_argument('--hv-runs', type=int, help='runs per hypervisor figure (default 3, smoke 1)')
    parser.add_argument('--parts', default='host,uefi,hv',
                        help='what to measure, comma-separated: host (the BIOS VM), uefi, hv (the hypervisor case); default all three')
    parser.add_argument('--out', help='results directory (default bench/results, smoke build/bench-smoke)')
    parser.add_argument('--report', metavar='JSON', help='no measurement: write the summary, the plots and latest.md again from a results file')
    args = parser.parse_args(argv)
    smoke = args.smoke
    defaults = {'runs': 1 if smoke else 5, 'files': 1000 if smoke else 10000, 'big_file_mib': 16 if smoke else 256,
                'hv_runs': 1 if smoke else 3}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    try:
        args.sizes = sorted(int(size) for size in (args.sizes or ('64' if smoke else '64,256,1024')).split(','))
    except ValueError:
        parser.error('--sizes %r is not a comma-separated list of MiB, e.g. 64,256,1024' % args.sizes)
    try:
        args.hv_sizes = sorted(int(size) for size in (args.hv_sizes or ('64' if smoke else '256,1024,2048')).split(','))
    except ValueError:
        parser.error('--hv-sizes %r is not a comma-separated list of MiB, e.g. 256,1024,2048' % args.hv_sizes)
    args.out = args.out or (os.path.join(REPO, 'build', 'bench-smoke') if smoke else os.path.join(REPO, 'bench', 'results'))
    if min(args.runs, args.hv_runs, args.files, args.big_file_mib, *args.sizes) < 1:
        parser.error('--runs, --hv-runs, --files, --big-file-mib and every size in --sizes must be at least 1')
    args.parts = [part for part in args.parts.split(',') if part]
    unknown = sorted(set(args.parts) - {'host', 'uefi', 'hv'})
    if unknown or not args.parts:
        parser.error('--parts %s: give host, uefi and/or hv, comma-separated' % ','.join(unknown or ['(none)']))
    if min(args.hv_sizes) < 64:
        parser.error('every size in --hv-sizes must be at least 64 MiB (the guest fills its RAM above 2 MiB)')
    return args


def rotate(items, by):
    """items starting at position `by`: each run starts with another one, so drift hits all alike."""
    items = list(items)
    by %= len(items)
    return items[by:] + items[:by]


def plan(runs, sizes):
    """(run, size, methods) in the order they are measured: sizes and methods rotate from run to run."""
    for run in range(runs):
        for size in rotate(sizes, run):
            methods = [method for method in METHODS if size == sizes[0] or method not in BASE_ONLY]
            yield run, size, rotate(methods, run)


def first_line(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return None


def machine_info():
    cpu = None
    with open('/proc/cpuinfo', encoding='utf-8') as handle:
        for line in handle:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    with open('/proc/meminfo', encoding='utf-8') as handle:
        mem_kib = int(handle.readline().split()[1])
    return {'cpu': cpu, 'cpus': os.cpu_count(), 'mem_mib': mem_kib // 1024, 'kernel': platform.release(),
            'python': platform.python_version(), 'ansible': first_line([os.path.join(os.path.dirname(sys.executable), 'ansible'), '--version']),
            'qemu': first_line(['qemu-system-x86_64', '--version']), 'loadavg_start': os.getloadavg()}


def log_to(path):
    def log(message):
        line = '[%s] %s' % (time.strftime('%H:%M:%S'), message)
        print(line, file=sys.stderr, flush=True)
        with open(path, 'a', encoding='utf-8') as handle:
            handle.write(line + '\n')
    return log


def measure(args, results, workdir, log):
    """Boot the VM, run the plan, destroy the VM (also when something fails)."""
    log('booting VM %s (%d MiB) ...' % (args.vm, args.mem))
    vm = Vm.start(REPO, args.vm, args.mem)
    try:
        bench = Bench(vm, REPO, workdir, log)
        bench.setup()
        results['vm'] = {'mem_mib': vm.info['mem_mib'], 'variant': vm.info['variant'], 'kernels': bench.kernels,
                         'systemd': vm.ssh('systemctl --version').splitlines()[0], 'cmdline': vm.ssh('cat /proc/cmdline').strip()}
        current, failed_in_a_row = None, 0
        for run, size, methods in plan(args.runs, args.sizes):
            if size != current:
                bench.set_size(size)
                current = size
            for method in methods:
                try:
                    results['samples'].append(bench.measure(method, size, run))
                    failed_in_a_row = 0
                except (BenchError, TimelineError) as exc:
                    # A failed sample costs that sample; a second one in a row ends the run.
                    log('%s failed: %s' % (method, exc))
                    results['failures'].append({'method': method, 'size_mib': size, 'run': run, 'error': str(exc)})
                    failed_in_a_row += 1
                    if failed_in_a_row > 1:
                        raise
                    bench.recover(size)
        if current != args.sizes[0]:
            bench.set_size(args.sizes[0])
        datasets = bench.keeper_setup(args.files, args.big_file_mib)
        for run in range(args.runs):
            for dataset in rotate(sorted(datasets), run):
                results['keeper'].append(bench.keeper(dataset, datasets[dataset], run))
    finally:
        log('destroying VM %s' % args.vm)
        vm.destroy()


def measure_uefi(args, results, workdir, log):
    """The live update and the cold reboot (full runs) again on a VM booting through UEFI and GRUB-EFI, smallest size."""
    name = args.vm + '-uefi'
    log('booting VM %s (%d MiB, UEFI, GRUB-EFI) ...' % (name, args.mem))
    vm = Vm.start(REPO, name, args.mem, 'efi-grub')
    try:
        bench = Bench(vm, REPO, workdir, log)
        bench.enable_luo()
        bench.setup()
        results['vm_uefi'] = {'mem_mib': vm.info['mem_mib'], 'variant': vm.info['variant'], 'kernels': bench.kernels,
                              'cmdline': vm.ssh('cat /proc/cmdline').strip()}
        size = args.sizes[0]
        bench.set_size(size)
        methods = sorted(method for method in UEFI_METHODS if not (args.smoke and method in FULL_ONLY))
        for run in range(args.runs):
            for method in rotate(methods, run):
                results['samples'].append(bench.measure(method, size, run))
    finally:
        log('destroying VM %s' % name)
        vm.destroy()


def measure_hv(args, results, workdir, log):
    """The hypervisor case on a VM with QEMU and a nested guest of each size: the three methods, a fresh guest per size."""
    name = args.vm + '-hv'
    mem = max(args.hv_sizes) + 1536
    log('booting VM %s (%d MiB) for the hypervisor case ...' % (name, mem))
    vm = Vm.start(REPO, name, mem)
    try:
        bench = HvBench(vm, REPO, workdir, log)
        bench.setup_hv()
        results['vm_hv'] = {'mem_mib': vm.info['mem_mib'], 'kernels': bench.kernels, 'qemu': None}
        for run in range(args.hv_runs):
            for size in rotate(args.hv_sizes, run):
                bench.set_guest_size(size)
                results['vm_hv']['qemu'] = results['vm_hv']['qemu'] or vm.ssh('qemu-system-x86_64 --version').splitlines()[0]
                for method in HV_METHODS:  # the role's guest first, then the managed-save one
                    results['hv_samples'].append(bench.measure_hv(method, run))
    finally:
        log('destroying VM %s' % name)
        vm.destroy()


def summarise_all(results):
    """The host and the hypervisor summaries; the hypervisor targets beside the host ones."""
    summary = summarise(results['samples'], results['keeper'], results['sizes_mib'])
    summary['hv_methods'] = summarise_hv(results.get('hv_samples') or [])
    summary['targets'].update(hv_targets(summary['hv_methods'], results.get('hv_sizes_mib') or [0]))
    return summary


def write_results(args, results, log):
    """JSON, plots and markdown under args.out; after a full run, latest.md names it (no copies of its files)."""
    os.makedirs(args.out, exist_ok=True)
    stamp = os.path.join(args.out, results['stamp'])
    names = ['phases'] if args.smoke else ['phases', 'scaling', 'overhead']
    results['plots'] = write_plots(results, stamp + '-', names) if results['samples'] else []
    if results.get('hv_samples'):
        import matplotlib  # pylint: disable=import-outside-toplevel
        matplotlib.use('Agg')
        from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
        plot_hv(pyplot, {'methods': results['summary']['hv_methods']}, results['hv_sizes_mib'], stamp + '-hypervisor.png')
        results['plots'].append('hypervisor')
    with open(stamp + '.json', 'w', encoding='utf-8') as handle:
        json.dump(results, handle, indent=1, sort_keys=True)
    with open(stamp + '.md', 'w', encoding='utf-8') as handle:
        hv_lines = markdown_hv({'methods': results['summary']['hv_methods']}, results['hv_sizes_mib']) if results.get('hv_samples') else []
        handle.write(markdown(results, results['stamp'] + '-', hv_lines))
    if not args.smoke and not results['error']:
        with open(os.path.join(args.out, 'latest.md'), 'w', encoding='utf-8') as handle:
            handle.write('The latest full run: [%s.md](%s.md).\n' % (results['stamp'], results['stamp']))
    log('results: %s.json, %s.md and %d plots' % (stamp, stamp, len(results['plots'])))
    return stamp


def report_again(args):
    """Summary, markdown and plots from the raw samples of an earlier run, next to its JSON."""
    with open(args.report, encoding='utf-8') as handle:
        results = json.load(handle)
    args.out, args.smoke = os.path.dirname(os.path.abspath(args.report)), results['smoke']
    results['summary'] = summarise_all(results)
    write_results(args, results, lambda message: print(message, file=sys.stderr))
    return 1 if check_well_formed(results) or check_state(results) else 0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.report:
        return report_again(args)
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime('%Y-%m-%dT%H%MZ') + ('-smoke' if args.smoke else '')
    workdir = os.path.join(REPO, 'build', 'bench', stamp)
    os.makedirs(workdir, exist_ok=True)
    log = log_to(os.path.join(workdir, 'bench.log'))
    results = {'schema': 1, 'stamp': stamp, 'started': now.strftime('%Y-%m-%d %H:%M UTC'), 'smoke': args.smoke, 'runs': args.runs,
               'sizes_mib': args.sizes, 'luo_state_data': {'files': args.files, 'big_file_mib': args.big_file_mib},
               'hv_sizes_mib': args.hv_sizes, 'hv_runs': args.hv_runs, 'parts': args.parts, 'machine': machine_info(),
               'vm': None, 'vm_uefi': None, 'vm_hv': None, 'samples': [],
               'hv_samples': [], 'failures': [], 'keeper': [], 'plots': [], 'error': None}
    try:
        for part, measure_part in (('host', measure), ('uefi', measure_uefi), ('hv', measure_hv)):
            if part in args.parts:
                measure_part(args, results, workdir, log)
    except (BenchError, TimelineError, GuestLinesError) as exc:
        results['error'] = str(exc)
        log('stopped: %s' % exc)
    results['machine']['loadavg_end'] = os.getloadavg()
    results['finished'] = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    results['summary'] = summarise_all(results)
    stamp_path = write_results(args, results, log)
    problems = check_well_formed(results)
    seen = {sample['method'] for sample in results['hv_samples']}
    problems += ['no sample of %s' % method for method in HV_LABELS if 'hv' in args.parts and method not in seen]
    for plot in results['plots']:
        with open('%s-%s.png' % (stamp_path, plot), 'rb') as handle:
            if handle.read(8) != b'\x89PNG\r\n\x1a\n':
                problems.append('%s-%s.png is not a PNG file' % (stamp_path, plot))
    for problem in problems:
        log('malformed results: %s' % problem)
    wrong = check_state(results)
    for problem in wrong:
        log('wrong state: %s' % problem)
    if results['error'] or problems or wrong:
        return 1
    log('done; the logs of this run are in %s' % workdir)
    return 0


if __name__ == '__main__':
    sys.exit(main())
