# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""info_report.py: info's whole result, as info, kexec_load and lock return it, on fixture host trees."""
from __future__ import annotations

import pytest

from ansible_collections.luo.liveupdate.plugins.module_utils import hostfacts, info_report
from ansible_collections.luo.liveupdate.plugins.module_utils.host import Host
from ansible_collections.luo.liveupdate.tests.unit.modules import info_trees as trees

BUSY = {'path': '/dev/liveupdate', 'state': 'busy', 'errno': 'EBUSY', 'message': 'another process holds /dev/liveupdate'}
FREE = {'path': '/dev/liveupdate', 'state': 'ok', 'errno': None, 'message': '/dev/liveupdate opens'}


@pytest.fixture
def host(tmp_path):
    return Host(trees.ready_host(tmp_path / 'root'), trees.run_command)


def options(**given):
    return dict({'target_kernel': None, 'target_newest': False, 'probe_device': False, 'units': []}, **given)


def test_the_report_of_a_ready_host(host):
    result, image = info_report.report(host, options())
    assert result['ready'] is True and result['reasons'] == [] and image is None
    assert result['kernel']['release'] == trees.RELEASE and result['units'] == {}
    assert 'target' not in result and 'target_chosen' not in result and 'changed' not in result


def test_the_newest_newer_kernel_is_chosen_and_judged(host):
    trees.install_kernel(host.root, '7.3.4')
    trees.install_kernel(host.root, '7.1.0')
    result, image = info_report.report(host, options(target_newest=True))
    assert result['target_chosen'] == '/boot/vmlinuz-7.3.4'
    assert result['target']['release'] == '7.3.4' and result['compatible'] is True
    assert image['release'] == '7.3.4'


def test_no_newer_kernel_is_none_chosen(host):
    result, image = info_report.report(host, options(target_newest=True))
    assert result['target_chosen'] is None and 'target' not in result and image is None


def test_a_target_and_target_newest_are_refused_together(host):
    with pytest.raises(info_report.ReportFailed, match='target_kernel and target_newest are mutually exclusive'):
        info_report.report(host, options(target_kernel='/boot/vmlinuz-7.3.4', target_newest=True))


def test_a_bad_unit_name_is_refused_before_anything_is_read(host):
    with pytest.raises(info_report.ReportFailed, match="units entry 'demo' is not a unit name") as caught:
        info_report.report(host, options(units=['demo']))
    assert caught.value.result == {}


@pytest.mark.parametrize('option', ['target_kernel', 'kernel'])
def test_a_target_that_is_no_kernel_image_is_named_by_the_option_given(host, option):
    with pytest.raises(info_report.ReportFailed) as caught:
        info_report.report(host, options(target_kernel='/boot/missing'), option)
    assert caught.value.msg.startswith('%s: kernel image %s/boot/missing does not exist' % (option, host.root))
    assert caught.value.result['ready'] is True  # what was read before


def test_a_relative_target_is_named_by_the_option_given(host):
    with pytest.raises(info_report.ReportFailed, match='kernel boot/vmlinuz is relative'):
        info_report.report(host, options(target_kernel='boot/vmlinuz'), 'kernel')


def probes(monkeypatch, answers):
    """The device probe answers ``answers`` in turn (EBUSY needs a second opener on a real LUO kernel: the lab's
    faults scenario has one); what is made of the answer is real."""
    seen = []

    def probe(*_args, **_kwargs):
        seen.append(answers[len(seen)])
        return seen[-1]
    monkeypatch.setattr(hostfacts.luo, 'probe_device', probe)
    return seen


def test_a_device_busy_for_a_moment_is_probed_again_after_the_pause(host, monkeypatch):
    seen = probes(monkeypatch, [BUSY, FREE])
    slept = []
    result, _image = info_report.report(host, options(probe_device=True), busy_retry_s=3.0, sleep=slept.append)
    assert len(seen) == 2 and slept == [3.0]
    assert result['ready'] is True and result['device']['probe']['state'] == 'ok'


def test_a_device_busy_twice_is_not_ready(host, monkeypatch):
    probes(monkeypatch, [BUSY, BUSY])
    result, _image = info_report.report(host, options(probe_device=True), busy_retry_s=3.0, sleep=lambda _s: None)
    assert result['ready'] is False and [item['id'] for item in result['reasons']] == ['device-busy']


def test_without_a_retry_a_busy_device_is_probed_once(host, monkeypatch):
    seen = probes(monkeypatch, [BUSY, FREE])
    result, _image = info_report.report(host, options(probe_device=True))
    assert len(seen) == 1 and result['ready'] is False
