# SPDX-License-Identifier: GPL-2.0
# Common settings for the project's scripts. Source it; do not run it.
#
# Everything downloaded or built lives in $VQ_CACHE (outside the repository):
#   $VQ_CACHE/apt/        private apt configuration and lists (system sources untouched)
#   $VQ_CACHE/src/        kernel sources, one directory per version
#   $VQ_CACHE/kbuild/     kernel build trees, keyed by version + config hash
#   $VQ_CACHE/venv/       Python virtualenv with virtme-ng
#   $VQ_CACHE/cargo/      cargo-installed tools (bindgen)

set -euo pipefail

VQ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VQ_CACHE=${VQ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vdo-qat}
mkdir -p "$VQ_CACHE"

# Kernel: Debian's linux-source package of this series.
VQ_KSERIES=${VQ_KSERIES:-7.3}
# Pinned tool versions.
VQ_BINDGEN_VERSION=0.73.2
VQ_VIRTME_NG_VERSION=1.42

# Toolchain (see Documentation/rust/quick-start.rst and shared/reference/platform.md).
export RUSTC=${RUSTC:-/usr/bin/rustc}
export LLVM=${LLVM:--19}
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}
export BINDGEN=${BINDGEN:-$VQ_CACHE/cargo/bin/bindgen}
VQ_KMAKE_ARGS=(LLVM="$LLVM" RUSTC="$RUSTC" BINDGEN="$BINDGEN" HOSTRUSTC="$RUSTC")

# cargo: rustup's if the user has it, else Debian's cargo-web (installed by
# setup-host.sh), so that a CI environment without ~/.cargo/bin on PATH works.
[ -d "$HOME/.cargo/bin" ] && case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) PATH=$HOME/.cargo/bin:$PATH ;; esac
export PATH

vq_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
vq_die() { printf 'error: %s\n' "$*" >&2; exit 1; }
vq_jobs() { echo $(( $(nproc) + 1 )); }

# vq_background: the calling process and its children give way to everything
# else, CPU and I/O: for check.sh's background builds, which only fill what
# the kernel build and the test VM leave idle. The session's autogroup gets
# nice 19 (with CONFIG_SCHED_AUTOGROUP, plain nice only orders the tasks of
# one session; call it in a new session, setsid), the process nice 19 and
# the idle I/O class. Each step is best effort.
vq_background() {
	echo 19 >/proc/self/autogroup 2>/dev/null || true
	renice -n 19 -p $$ >/dev/null 2>&1 || true
	ionice -c 3 -p $$ >/dev/null 2>&1 || true
}

# vq_vm_timeout: seconds the `make check` VM may run before vm-run.sh kills
# it. A backstop, never the judge: each kselftest program gets its own
# timeout (settings) plus 30 s for the runner's SIGTERM and the test's
# cleanup, and 600 s more cover booting the debug kernel under TCG, KUnit at
# insmod, dmesg.log and poweroff. So a slow or hung program fails by its own
# timeout, with its name, and the VM still writes every later result.
# That sum is capped at VQ_VM_CAP seconds (default 3300: the whole run
# takes about 35 minutes, and CI allows 90 for builds and tests): past it,
# the programs without a result are counted as failures by name.
vq_vm_timeout() {
	"$VQ_ROOT/scripts/ksft-list.sh" | awk -v cap="${VQ_VM_CAP:-3300}" \
		'{ s += $3 + 30 } END { s += 600; print (s < cap ? s : cap) }'
}

# vq_apt_install <package>...: installs the Debian packages not installed yet.
vq_apt_install() {
	local missing=() p SUDO=
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	vq_log "apt: installing ${missing[*]}"
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# vq_private_apt <dir> <type> <suite and components>: a private apt
# configuration under <dir> (its own source list, lists, cache and status:
# the system's apt sources are never edited) whose one source is
# "<type> <mirror> <suite and components>", <mirror> being the Debian mirror
# the system's own sources use. Updates its lists and leaves the apt-get
# options in the array VQ_APT.
vq_private_apt() {
	local A=$1 type=$2 rest=$3 mirror
	mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/etc/preferences.d"
	mirror=$(grep -hE '^URIs:.*/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
	[ -n "$mirror" ] || mirror=$(grep -hE '^deb .*/debian/? ' /etc/apt/sources.list 2>/dev/null | head -n1 | awk '{print $2}')
	[ -n "$mirror" ] || vq_die "cannot find the Debian mirror in the system's apt sources"
	echo "$type $mirror $rest" >"$A/etc/sources.list"
	: >"$A/status"
	VQ_APT=(-o Dir::Etc::SourceList="$A/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o Dir::Etc::Preferences="$A/etc/preferences" -o Dir::Etc::PreferencesParts="$A/etc/preferences.d"
		-o Dir::State::Lists="$A/lists" -o Dir::Cache="$A/cache" -o Dir::State::status="$A/status"
		-o APT::Architecture=amd64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
	vq_log "apt (private): update $type $rest"
	apt-get "${VQ_APT[@]}" update -qq
}
