#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Installs what building and testing need, idempotently:
#   - Debian packages (toolchain, QEMU, test tools);
#   - bindgen-cli (pinned) into $VQ_CACHE/cargo;
#   - virtme-ng (pinned) into a virtualenv in $VQ_CACHE/venv;
#   - the kernel source (scripts/fetch-kernel.sh), unless KDIR is given.
# Each step is skipped when its result is already there.
source "$(dirname "$0")/lib.sh"

APT_PKGS=(
	# Rust-for-Linux toolchain
	rustc-web rust-web-src cargo-web clang-19 lld-19 llvm-19 libclang-19-dev
	# kernel build (gcc: the nested guests' kernel, scripts/build-kernel.sh)
	make gcc bc bison flex libelf-dev libssl-dev cpio xz-utils zstd kmod
	# VM and tests
	qemu-system-x86 python3-venv dmsetup fio nvme-cli e2fsprogs util-linux
	busybox-static
	# ps, pgrep: scripts/vm-run.sh waits until no process of the VM is left
	procps
)

vq_apt_install "${APT_PKGS[@]}"

# The kernel source (a download, then an unpack) while bindgen-cli compiles;
# not with KDIR (an already built tree).
fetch=
if [ -z "${KDIR:-}" ]; then
	"$VQ_ROOT/scripts/fetch-kernel.sh" >/dev/null &
	fetch=$!
fi

if ! [ -x "$BINDGEN" ] || ! "$BINDGEN" --version | grep -q " $VQ_BINDGEN_VERSION\$"; then
	vq_log "cargo: installing bindgen-cli $VQ_BINDGEN_VERSION"
	cargo install --locked --root "$VQ_CACHE/cargo" bindgen-cli --version "$VQ_BINDGEN_VERSION"
fi

VENV=$VQ_CACHE/venv
have=$("$VENV/bin/python3" -c 'import importlib.metadata as m; print(m.version("virtme-ng"))' 2>/dev/null || true)
if ! [ -x "$VENV/bin/vng" ] || [ "$have" != "$VQ_VIRTME_NG_VERSION" ]; then
	vq_log "pip: installing virtme-ng $VQ_VIRTME_NG_VERSION"
	rm -rf "$VENV"
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q "virtme-ng==$VQ_VIRTME_NG_VERSION"
fi

[ -z "$fetch" ] || wait "$fetch" || vq_die "could not fetch the kernel source (scripts/fetch-kernel.sh)"
