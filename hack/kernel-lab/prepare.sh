#!/usr/bin/env bash
# prepare.sh: make the kernel lab ready to boot, idempotently.
#
# The host kernel has no GRE, ip6gre or WireGuard modules, so kernel-level tests boot Debian's
# cloud kernel under qemu instead (see run.sh). This script
#   1. installs the host tools the lab needs (busybox-static, cpio, qemu-system-x86, kmod) when
#      they are missing;
#   2. resolves the versioned kernel package that the linux-image-cloud-amd64 meta package
#      depends on, downloads it with apt-get download and extracts it with dpkg -x into the
#      cache (KERNEL_LAB_CACHE, default hack/kernel-lab/.cache), once per package version;
#   3. prints, on stdout, shell assignments that run.sh evaluates:
#        KERNEL_LAB_KVER=6.1.0-56-cloud-amd64
#        KERNEL_LAB_VMLINUZ=/.../boot/vmlinuz-6.1.0-56-cloud-amd64
#        KERNEL_LAB_MODDIR=/.../lib/modules/6.1.0-56-cloud-amd64
#      Progress goes to stderr.
#
# Environment:
#   KERNEL_LAB_CACHE           cache directory (default: <this dir>/.cache)
#   KERNEL_LAB_META_PACKAGE    meta package to resolve (default: linux-image-cloud-amd64)
#   KERNEL_LAB_KERNEL_PACKAGE  versioned package to use instead of resolving the meta package
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${KERNEL_LAB_CACHE:-$here/.cache}
meta=${KERNEL_LAB_META_PACKAGE:-linux-image-cloud-amd64}

log() { printf 'kernel-lab: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

apt_install() {
	# Other engineers and CI steps may hold the dpkg lock: wait for it instead of failing.
	local apt=(apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=600)
	[[ $(id -u) == 0 ]] || apt=(sudo "${apt[@]}")
	log "installing $*"
	if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" "$@" >&2; then
		# Stale package lists are the usual cause on a fresh machine: refresh once and retry.
		log "install failed; running apt-get update and retrying"
		if [[ $(id -u) == 0 ]]; then apt-get update >&2; else sudo apt-get update >&2; fi
		DEBIAN_FRONTEND=noninteractive "${apt[@]}" "$@" >&2
	fi
}

ensure_tools() {
	local missing=()
	# busybox-static, not busybox: the initramfs has no libc, so the binary must be static.
	[[ $(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null) == "install ok installed" ]] ||
		missing+=(busybox-static)
	command -v cpio >/dev/null || missing+=(cpio)
	command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
	command -v modinfo >/dev/null || missing+=(kmod)
	command -v flock >/dev/null || missing+=(util-linux)
	if ((${#missing[@]})); then
		apt_install "${missing[@]}"
	fi
}

# resolve_package prints "<package> <version>" of the versioned kernel image to use.
resolve_package() {
	local pkg=${KERNEL_LAB_KERNEL_PACKAGE:-}
	if [[ -z $pkg ]]; then
		pkg=$(apt-cache depends "$meta" 2>/dev/null |
			awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
		[[ -n $pkg ]] || return 1
	fi
	local ver
	ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')
	[[ -n $ver && $ver != "(none)" ]] || return 1
	printf '%s %s\n' "$pkg" "$ver"
}

# emit prints the assignments for an extracted kernel tree.
emit() {
	local root=$1 kver vmlinuz moddir
	vmlinuz=$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' | sort | tail -n1)
	[[ -n $vmlinuz ]] || die "no boot/vmlinuz-* in $root"
	kver=${vmlinuz##*/vmlinuz-}
	# Debian moved modules to /usr/lib/modules with the usr merge: accept both layouts.
	for moddir in "$root/lib/modules/$kver" "$root/usr/lib/modules/$kver" ""; do
		[[ -z $moddir || -d $moddir ]] && break
	done
	[[ -n $moddir ]] || die "no lib/modules/$kver in $root"
	printf 'KERNEL_LAB_KVER=%q\nKERNEL_LAB_VMLINUZ=%q\nKERNEL_LAB_MODDIR=%q\n' "$kver" "$vmlinuz" "$moddir"
}

main() {
	ensure_tools
	mkdir -p "$cache/kernel"
	# Serialise concurrent runs (make kernel-test and kernel-bench in parallel) on the cache.
	exec 9>"$cache/.lock"
	flock 9

	local pkg='' ver='' dir
	# apt-cache takes seconds; reuse a resolution younger than a day when its tree is complete.
	local resolved=$cache/resolved
	if [[ -z ${KERNEL_LAB_KERNEL_PACKAGE:-} && -n $(find "$resolved" -mmin -1440 2>/dev/null) ]]; then
		read -r pkg ver <"$resolved" || true
		[[ -e $cache/kernel/${pkg}_${ver}/.complete ]] || pkg=''
	fi
	if [[ -n $pkg ]]; then
		:
	elif read -r pkg ver < <(resolve_package); then
		[[ -n ${KERNEL_LAB_KERNEL_PACKAGE:-} ]] || printf '%s %s\n' "$pkg" "$ver" >"$resolved"
	else
		# No package lists (offline, or apt-get update not run): use what the cache already has.
		dir=$(find "$cache/kernel" -mindepth 2 -maxdepth 2 -name .complete -printf '%h\n' 2>/dev/null |
			sort -V | tail -n1)
		[[ -n $dir ]] || die "cannot resolve the package $meta depends on (run apt-get update?) and the cache $cache is empty"
		log "cannot resolve $meta from apt; using cached ${dir##*/}"
		emit "$dir/root"
		return
	fi

	dir=$cache/kernel/${pkg}_${ver}
	if [[ ! -e $dir/.complete ]]; then
		log "downloading $pkg=$ver"
		rm -rf "$dir.tmp"
		mkdir -p "$dir.tmp"
		local aptopt=()
		# As root, apt would download as _apt, which cannot write into our cache directory.
		[[ $(id -u) == 0 ]] && aptopt=(-o APT::Sandbox::User=root)
		(cd "$dir.tmp" && apt-get download -q "${aptopt[@]}" "$pkg=$ver" >&2)
		local deb
		deb=$(find "$dir.tmp" -maxdepth 1 -name '*.deb' | head -n1)
		[[ -n $deb ]] || die "apt-get download $pkg=$ver produced no .deb"
		log "extracting ${deb##*/}"
		dpkg -x "$deb" "$dir.tmp/root"
		rm -f "$deb"
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
		: >"$dir/.complete"
	fi
	emit "$dir/root"
}

main "$@"
