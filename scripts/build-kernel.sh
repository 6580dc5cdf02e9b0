#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: build-kernel.sh <release|debug|guest>
# Prints the path of a built Linux tree for that variant, building it first
# when the cache has none.
#
#   release: tinyconfig + scripts/kconfig/base.config (CONFIG_RUST)
#   debug:   the same + scripts/kconfig/debug.config (KASAN, lockdep, ...)
#   guest:   tinyconfig + scripts/kconfig/guest.config: no Rust, no ACPI,
#            only a bzImage, built with GCC (30% faster here than clang);
#            the kernel of the QEMU guests nested in the test VM
#
# Build trees live in $VQ_CACHE/kbuild/<kernel version>-<variant>-<hash>,
# where the hash covers the config fragments and the toolchain versions, so a
# tree is reused until one of them changes. KDIR=<built tree> skips all this.
source "$(dirname "$0")/lib.sh"

variant=${1:-debug}
case "$variant" in
release) frags=("$VQ_ROOT/scripts/kconfig/base.config") ;;
debug) frags=("$VQ_ROOT/scripts/kconfig/base.config" "$VQ_ROOT/scripts/kconfig/debug.config") ;;
guest) frags=("$VQ_ROOT/scripts/kconfig/guest.config") ;;
*) vq_die "unknown kernel variant '$variant' (release|debug|guest)" ;;
esac

if [ -n "${KDIR:-}" ] && [ "$variant" != guest ]; then
	[ -f "$KDIR/.config" ] && grep -q '^CONFIG_RUST=y' "$KDIR/.config" ||
		vq_die "KDIR=$KDIR is not a configured kernel tree with CONFIG_RUST=y"
	[ -f "$KDIR/Module.symvers" ] || vq_die "KDIR=$KDIR has not been built (no Module.symvers)"
	cd "$KDIR" && pwd; exit 0
fi

src=$("$VQ_ROOT/scripts/fetch-kernel.sh")
kver=$(make -s -C "$src" kernelversion)
kmake=("${VQ_KMAKE_ARGS[@]}")
if [ "$variant" = guest ]; then
	# GCC and binutils: LLVM (exported by lib.sh) must not reach kbuild.
	unset LLVM LLVM_IAS
	kmake=(CC=gcc HOSTCC=gcc)
fi
toolchain() {
	if [ "$variant" = guest ]; then
		echo "${kmake[*]}"; gcc --version | head -n1
	else
		"$RUSTC" --version; "clang$LLVM" --version | head -n1; "$BINDGEN" --version
	fi
}
key=$( { cat "${frags[@]}"; toolchain; cat "$src/.vq-version" 2>/dev/null || true; } | sha256sum | cut -c1-12)
out=$VQ_CACHE/kbuild/$kver-$variant-$key
if [ -f "$out/.vq-built" ]; then
	echo "$out"; exit 0
fi
mkdir -p "$out"
vq_log "kernel $kver ($variant): configuring in $out"
make -s -C "$src" O="$out" "${kmake[@]}" tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}" >/dev/null
make -s -C "$src" O="$out" "${kmake[@]}" olddefconfig >/dev/null

# Every line of the fragments must have survived olddefconfig.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*) grep -qxF "$line" "$out/.config" || { echo "config: wanted '$line', got '$(grep -E "^(# )?${line%%=*}[= ]" "$out/.config" || echo unset)'" >&2; bad=1; } ;;
	"# CONFIG_"*" is not set") opt=${line#\# }; opt=${opt%% *}; grep -q "^$opt=" "$out/.config" && { echo "config: wanted '$line'" >&2; bad=1; } ;;
	esac
done < <(cat "${frags[@]}")
[ "$bad" = 0 ] || vq_die "the kernel config lost options (see above); fix scripts/kconfig/*.config"

vq_log "kernel $kver ($variant): building with -j$(vq_jobs) (about 13-15 min on 2 cores)"
target=all
[ "$variant" = guest ] && target=bzImage
make -s -C "$src" O="$out" "${kmake[@]}" -j"$(vq_jobs)" $target >"$out/vq-build.log" 2>&1 ||
	{ tail -n 40 "$out/vq-build.log" >&2; vq_die "kernel build failed; full log: $out/vq-build.log"; }
date -u +%FT%TZ >"$out/.vq-built"
vq_log "kernel $kver ($variant): built"
echo "$out"
