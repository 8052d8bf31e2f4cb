#!/usr/bin/python
# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: maintenance_window
short_description: Tell whether a maintenance window is open, on the controller's clock
version_added: 1.0.0
description:
  - Says whether now (or the time in O(now)) lies inside a weekly maintenance window, when the window closes if it is
    open and when it opens next if it is closed, like kured's C(--reboot-days), C(--start-time), C(--end-time) and
    C(--time-zone).
  - It runs on the controller only and never contacts the host, so it works for hosts that are down or unreachable.
    It changes nothing.
  - A closed window is not a failure; the play decides what to do (for example skip the host with
    M(ansible.builtin.meta) C(end_host), or stop with M(ansible.builtin.fail)). Only bad input fails the task,
    with a message that names the value and how to write it.
  - "Each of O(days) has a window from O(start) to O(end), local time in O(timezone). The start belongs to the window,
    the end does not: C(02:00-05:00) is open at 02:00:00 and at 04:59:59, closed at 05:00:00."
  - "An O(end) before O(start) runs over midnight, and the window belongs to the day it starts. With
    O(days=[fri]), C(22:00-02:00) is open from Friday 22:00 to Saturday 02:00: Saturday 01:00 is open although
    Saturday is not among the days. Sunday 01:00 is open only when C(sat) is among the days (Saturday's window runs
    into it); C(sun) opens Sunday 22:00, not Sunday 01:00."
  - "Start and end are wall-clock times on each day. On the day summer time starts, a time the clocks skip stands for
    the moment they skip it: in C(Europe/Berlin), C(02:00-05:00) on the last Sunday of March opens at 03:00 CEST and
    lasts two hours; a window wholly inside the skipped hour does not open that day. On the day summer time ends, a
    time the clocks show twice is its first occurrence: C(02:00-05:00) on the last Sunday of October opens at 02:00
    CEST (+02:00) and lasts four hours."
  - Windows that meet are one (C(00:00-24:00) on consecutive days); RV(closes) is the end of the last of them.
    All seven days with C(00:00-24:00) (the defaults) is always open.
author:
  - LUO live update maintainers (@luo-liveupdate)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: It only reads the clock; check mode gives the same result.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller; the host is not contacted.
options:
  days:
    description:
      - The days the window opens on, C(mon) to C(sun) or C(monday) to C(sunday), in any case. A comma-separated
        string works too (C("mon,tue")).
      - List each day; a range such as C(mon-fri) is refused with the list to write instead.
    type: list
    elements: str
    default: [mon, tue, wed, thu, fri, sat, sun]
  start:
    description:
      - When the window opens, C(HH:MM) on the 24-hour clock with two digits each, from C(00:00) to C(23:59).
      - Quote it in YAML; an unquoted C(22:00) is read as the number 1320 (base 60) and refused with that said.
    type: str
    default: "00:00"
  end:
    description:
      - When the window closes, C(HH:MM) from C(00:00) to C(24:00); C(24:00) is midnight at the end of the day.
      - Before O(start), the window runs over midnight into the next day. Equal to O(start) is refused.
    type: str
    default: "24:00"
  timezone:
    description:
      - The time zone of O(start) and O(end), an IANA name such as C(Europe/Berlin), from the controller's tz database
        (Python's C(zoneinfo)). C(UTC) works without one.
    type: str
    default: UTC
  now:
    description:
      - The moment to check, an ISO 8601 timestamp such as C(2026-12-01T02:00:00+01:00) or C(2026-12-01T01:00:00Z);
        without an offset it is a wall-clock time in O(timezone) (the first, when the clocks show it twice).
      - For tests and for "would this run at ..." checks. Default is the controller's current time.
    type: str
notes:
  - The controller's clock is what counts, not the host's; keep the controller's time right (NTP).
  - The window is checked when the task runs. A live update that starts inside it may end after it closes; leave room
    before O(end), or check RV(closes).
seealso:
  - module: luo.liveupdate.live_update
  - module: ansible.builtin.meta
'''

EXAMPLES = r'''
# In a play with gather_facts: false, so that hosts that are down get the answer too.
- name: Ask whether the weeknight window (02:00-05:00 Berlin time) is open
  luo.liveupdate.maintenance_window:
    days: [mon, tue, wed, thu, fri]
    start: "02:00"
    end: "05:00"
    timezone: Europe/Berlin
  register: window

- name: Leave hosts alone outside the window
  when: not window.open
  block:
    - name: Say when the window opens
      ansible.builtin.debug:
        msg: "{{ window.msg }}"

    - name: Skip this host
      ansible.builtin.meta: end_host

- name: Live update inside the window
  luo.liveupdate.live_update:

- name: Friday 22:00 to Saturday 02:00 New York time; fail outside it
  luo.liveupdate.maintenance_window:
    days: fri
    start: "22:00"
    end: "02:00"
    timezone: America/New_York
  register: friday_night

- name: Stop outside the window
  ansible.builtin.fail:
    msg: "{{ friday_night.msg }}"
  when: not friday_night.open

- name: Would the Friday night window be open on Saturday at 01:00 Berlin time
  luo.liveupdate.maintenance_window:
    days: [fri]
    start: "22:00"
    end: "02:00"
    timezone: Europe/Berlin
    now: "2026-12-05T01:00:00"
  register: saturday

- name: It is, the window belongs to Friday, the day it starts
  ansible.builtin.assert:
    that: saturday.open
'''

RETURN = r'''
open:
  description: True when the moment checked lies inside the window.
  returned: success
  type: bool
  sample: false
now:
  description: The moment checked, ISO 8601 in O(timezone).
  returned: success
  type: str
  sample: "2026-11-30T14:03:12+01:00"
opens:
  description: When the window opens next, ISO 8601 in O(timezone); null when it is open.
  returned: success
  type: str
  sample: "2026-12-01T02:00:00+01:00"
closes:
  description:
    - When the window closes, ISO 8601 in O(timezone), the end of the last of windows that meet; null when it is
      closed, and when it never closes (every day, C(00:00-24:00)).
  returned: success
  type: str
  sample: null
window:
  description: The window as understood, days as C(mon)..C(sun) in week order.
  returned: success
  type: dict
  contains:
    days:
      description: The days the window opens on.
      type: list
      elements: str
    start:
      description: Opening time, C(HH:MM).
      type: str
    end:
      description: Closing time, C(HH:MM), C(24:00) for the end of the day.
      type: str
    timezone:
      description: The time zone name as given.
      type: str
    overnight:
      description: True when the window runs over midnight (O(end) before O(start)).
      type: bool
  sample:
    days: [mon, tue, wed, thu, fri]
    start: "02:00"
    end: "05:00"
    timezone: Europe/Berlin
    overnight: false
msg:
  description: One line saying whether the window is open and when it opens or closes; on bad input, what is wrong.
  returned: always
  type: str
  sample: "outside the maintenance window mon-fri 02:00-05:00 Europe/Berlin: opens 2026-12-01T02:00:00+01:00"
'''
