#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: build-modules.sh <release|debug> [make targets...]
# Builds drivers/vdo_qat/vdo_qat.ko and drivers/nvme_vhost/nvme_vhost.ko
# against the test kernel of that variant (or KDIR), building the kernel
# first when the cache has none. Prints the kernel tree used.
source "$(dirname "$0")/lib.sh"
variant=${1:-debug}; shift || true
kdir=$("$VQ_ROOT/scripts/build-kernel.sh" "$variant")
# Rebuild everything when the kernel tree changes (variant switch).
stamp=$VQ_ROOT/.kdir
if [ "$(cat "$stamp" 2>/dev/null)" != "$kdir" ]; then
	make -s -C "$kdir" M="$VQ_ROOT" "${VQ_KMAKE_ARGS[@]}" clean >/dev/null 2>&1 || true
	echo "$kdir" >"$stamp"
fi
make -C "$kdir" M="$VQ_ROOT" "${VQ_KMAKE_ARGS[@]}" -j"$(vq_jobs)" "${@:-modules}" >&2
echo "$kdir"
