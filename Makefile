# Entry points. `make test` is what CI runs; `make demo` runs the main job on the lab.
SHELL := /bin/bash
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
# A collections path that resolves luo.liveupdate to this checkout.
COLL := $(ROOT)/build/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLL)
export PATH := $(VENV)/bin:$(PATH)

.PHONY: venv collection-link test unit integration sanity lint package molecule lab lab-disks bench-smoke bench lab-deps stock-kernel demo clean

venv:
	@tools/setup-venv

collection-link:
	@mkdir -p $(COLL)/ansible_collections/luo
	@ln -sfn $(ROOT) $(COLL)/ansible_collections/luo/liveupdate

## The whole test suite: unit, sanity (zero ignores), lint, the package as Galaxy and ansible-builder take it,
## integration (real tools, kernels and playbooks on this machine) and the lab: every scenario and the benchmark's smoke run.
# Stages in this order, stopping at the first failure; the log ends with the time of each. The lab's disks
# are built one at a time beside the first stages, on the core they leave idle.
test:
	@tools/run-stages --beside lab-disks unit sanity lint package integration lab

# Unit tests: offline, only the venv, seconds.
unit: venv collection-link
	$(VENV)/bin/python -m pytest -q tests/unit lab/tests bench/tests

# Integration tests on this machine: ansible-playbook and ansible-runner runs, the decompressors of
# lab-deps, the lab's kernels and Debian's stock kernel (an incompatible target), QEMU.
integration: venv collection-link lab-deps stock-kernel
	$(VENV)/bin/python -m pytest -q tests/integration

sanity: venv
	tools/sanity

lint: venv collection-link
	$(VENV)/bin/ansible-lint --profile production

# The built tarball through galaxy-importer (its own venv in build/), then the execution environment's build context.
package: venv
	tools/check-package

lab-deps:
	lab/install-deps

stock-kernel:
	lab/fetch-stock-kernel >/dev/null

# Every scenario, in two lanes (tools/molecule-all); SCENARIOS="uefi live_update" runs only those.
molecule: venv collection-link lab-deps
	tools/molecule-all $(SCENARIOS)

# The disks the scenarios boot (the root filesystem first), one at a time; the demo disk is set up with the venv's Ansible.
lab-disks: venv collection-link lab-deps
	LUO_MOLECULE_LANES=1 tools/molecule-all --disks-only

# make test's lab stage: every scenario and the benchmark's smoke run (its two parts), in two lanes.
lab: venv collection-link lab-deps
	tools/molecule-all --bench-smoke

# One run of each method at 64 MiB, one part after the other: proves the benchmark still works (and that each
# method kept or lost the state as it must), measures nothing. make test runs it in the lanes beside the scenarios.
bench-smoke: venv collection-link lab-deps
	bench/run --smoke

# The measurements (bench/README.md): medians of 5 runs, 64 MiB to 1 GiB; about an hour.
bench: venv collection-link lab-deps
	bench/run

demo: venv collection-link lab-deps
	tools/demo

clean:
	rm -rf build
