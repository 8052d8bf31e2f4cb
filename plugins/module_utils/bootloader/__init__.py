# Copyright (c) 2026 luo.liveupdate contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Persistent kernel command line: where the next boot's parameters live, and how to change them.

Three backends, one module each:

* ``grub`` (Debian, Ubuntu): a drop-in ``/etc/default/grub.d/NAME.cfg`` that
  grub-mkconfig sources after ``/etc/default/grub``, then ``update-grub`` (or
  ``grub-mkconfig -o``/``grub2-mkconfig -o``). The packaged
  ``/etc/default/grub`` is never edited. ``grub_script`` reads grub.cfg as GRUB does.
* ``grubby`` (Fedora, RHEL): ``grubby --update-kernel=... --args/--remove-args``
  on the boot entries, and ``/etc/kernel/cmdline`` (what kernel-install gives
  kernels installed later) kept in step when it exists.
* ``kernel_install`` (systemd-boot and other Boot Loader Specification setups):
  ``/etc/kernel/cmdline`` plus the ``options`` line of the boot entries
  kernel-install wrote for this machine.

``selection.select(host, choice)`` detects or takes the backend; its ``plan(changes)``
says what would change, ``apply(plan, changes)`` does it through ``transaction``.
Every path is taken below the root of a ``Host`` (host.py) and every command runs
through it.

Nothing is damaged silently: a grub drop-in is only rewritten when its first
line says the module wrote it; shared files (``/etc/kernel/cmdline``, the
``options`` lines of boot entries) change only where the requested
parameters stand; the grub.cfg GRUB will read is parsed with GRUB's own word
rules (and ``grub-script-check`` where installed) after it is regenerated;
and every file is put back when anything after the first write fails.
"""
