# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for luo.liveupdate.maintenance_window: is the window open, on the controller's clock."""
from __future__ import annotations

from datetime import datetime, timezone

from ansible.plugins.action import ActionBase

from ansible_collections.luo.liveupdate.plugins.plugin_utils import maintenance_window

ARGUMENT_SPEC = dict(
    days=dict(type='list', elements='str', default=list(maintenance_window.DAYS)),
    start=dict(type='str', default='00:00'),
    end=dict(type='str', default='24:00'),
    timezone=dict(type='str', default='UTC'),
    now=dict(type='str'),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False  # the host is never contacted: this works for hosts that are down
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        # An unquoted 22:00 reaches the task as the number 1320 (YAML's base 60), which the
        # argument spec would turn into '1320': look at what was written.
        times = {name: self._task.args.get(name, params[name]) for name in ('start', 'end')}
        try:
            window = maintenance_window.parse(days=params['days'], start=times['start'], end=times['end'],
                                              timezone=params['timezone'])
            if params['now'] is None:
                now = datetime.now(timezone.utc)
            else:
                now = maintenance_window.parse_now(params['now'], window.tz)
        except maintenance_window.WindowError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        result.update(window.report(now), changed=False)
        return result
