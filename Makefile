# SPDX-License-Identifier: GPL-2.0
#
# vdo_qat and nvme_vhost: out-of-tree Rust-for-Linux modules for Linux 7.3.
#
#   make            build both modules against the cached test kernel
#   make check      run every test: host cargo tests, KUnit and kselftests in
#                   a QEMU (TCG) VM, dmesg scan; prints "N passed, N failed"
#   make vm         shell in the test VM (repository at the same path)
#   make demo       the main job: load the modules and create a volume
#   make host-test  host cargo tests only
#   make bench      benchmarks (not tests), on the release kernel: targets
#                   side by side, CPU per GiB offload vs software, nvme_vhost
#
# Variables: KVARIANT=debug|release (kernel config, default debug: KASAN,
# lockdep, ...), KDIR=<built 7.3 tree with CONFIG_RUST> (skip the cached
# kernel), KSRC=<tree or tarball> (kernel source instead of Debian's).
# Everything downloaded or built outside the tree goes to $(VQ_CACHE)
# (default ~/.cache/vdo-qat).

SHELL := /bin/bash
KVARIANT ?= debug
export KDIR KSRC VQ_CACHE

.PHONY: all modules setup kernel check vm demo bench host-test clean

all: modules

setup:
	@scripts/setup-host.sh

kernel: setup
	@scripts/build-kernel.sh $(KVARIANT)

modules: setup
	@scripts/build-modules.sh $(KVARIANT) modules >/dev/null

check:
	@scripts/check.sh $(KVARIANT)

vm: modules
	@scripts/vm-run.sh "$$(scripts/build-kernel.sh $(KVARIANT))" build/vm 0

demo: modules
	@scripts/demo.sh $(KVARIANT)

# Benchmarks run on the release kernel unless KVARIANT is given.
bench: setup
	@scripts/bench.sh $(if $(filter command line environment,$(origin KVARIANT)),$(KVARIANT),release)

host-test:
	@. scripts/lib.sh && cd tools/pure && cargo test --quiet

clean:
	@if [ -f .kdir ] && [ -d "$$(cat .kdir)" ]; then $(MAKE) -s -C "$$(cat .kdir)" M=$(CURDIR) clean; fi
	@rm -rf build .kdir tools/pure/target
