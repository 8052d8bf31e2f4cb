# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""hypervisor.py: the host's blackout from its own journals, the same for every method."""
from __future__ import annotations

import pytest

from luo_bench.hypervisor import ssh_outage_s
from luo_bench.vm import BenchError

STOPPED = '1796062530.019850 luo-lab systemd[1]: Stopping ssh.service - OpenBSD Secure Shell server...'
STARTED = '1796062564.135654 luo-lab systemd[1]: Started ssh.service - OpenBSD Secure Shell server.\n'


def test_the_outage_is_on_the_controllers_clock():
    # the old boot ran 1.5 s ahead of the controller, the new one starts 0.8 s behind it
    assert ssh_outage_s(STOPPED, STARTED, 1.5, -0.8) == pytest.approx(34.116 + 1.5 + 0.8, abs=0.001)
    assert ssh_outage_s(STOPPED, STARTED, 0.0, 0.0) == pytest.approx(34.116, abs=0.001)


@pytest.mark.parametrize('stopped, started, what', [('', STARTED, 'stopped'), (STOPPED, '\n', 'started')])
def test_a_missing_journal_line_is_said(stopped, started, what):
    with pytest.raises(BenchError, match='no line of ssh.service %s' % what):
        ssh_outage_s(stopped, started, 0.0, 0.0)
