#!/usr/bin/env bash
# modules.sh MODDIR MODULE...: print the module files to insmod, one per line, in load order.
#
# Debian's kernel package ships no modules.dep (depmod runs at install time), and the initramfs
# has no modprobe that could read one anyway, so the order comes from each module's own
# "depends" field (modinfo -F depends), resolved depth-first: every module is printed after
# everything it depends on. Modules built into the kernel (modules.builtin) are skipped.
set -euo pipefail

die() { printf 'kernel-lab: modules: error: %s\n' "$*" >&2; exit 1; }

(($# >= 1)) || die "usage: modules.sh MODDIR MODULE..."
moddir=$1
shift
[[ -d $moddir ]] || die "no module directory $moddir"

# Module names use '-' and '_' interchangeably (libcurve25519-generic vs chacha_x86_64): key on '_'.
# norm sets REPLY rather than printing: a subshell per module file costs seconds over ~1100 files.
norm() { REPLY=${1##*/}; REPLY=${REPLY%%.ko*}; REPLY=${REPLY//-/_}; }

declare -A path=() builtin=() state=()
while IFS= read -r -d '' f; do
	norm "$f"
	path[$REPLY]=$f
done < <(find "$moddir" \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) -print0 | sort -z)
if [[ -f $moddir/modules.builtin ]]; then
	while IFS= read -r f; do norm "$f"; builtin[$REPLY]=1; done <"$moddir/modules.builtin"
fi

# depends prints a module's dependencies; kmod may lack a decompressor, so retry on a plain copy.
depends() {
	local f=$1 out
	if out=$(modinfo -F depends "$f" 2>/dev/null); then
		printf '%s' "$out"
		return
	fi
	local tmp
	tmp=$(mktemp)
	case $f in
	*.xz) xz -dc "$f" >"$tmp" ;;
	*.zst) zstd -qdc "$f" >"$tmp" ;;
	*.gz) gzip -dc "$f" >"$tmp" ;;
	*) rm -f "$tmp"; die "modinfo $f failed" ;;
	esac
	out=$(modinfo -F depends "$tmp") || { rm -f "$tmp"; die "modinfo $f failed"; }
	rm -f "$tmp"
	printf '%s' "$out"
}

visit() {
	local n
	norm "$1"
	n=$REPLY
	case ${state[$n]:-} in
	done) return ;;
	visiting) die "dependency cycle through $n" ;;
	esac
	if [[ -z ${path[$n]:-} ]]; then
		[[ -n ${builtin[$n]:-} ]] || die "module $n is neither in $moddir nor built in"
		state[$n]="done"
		return
	fi
	state[$n]=visiting
	local d deps
	deps=$(depends "${path[$n]}")
	for d in ${deps//,/ }; do
		visit "$d"
	done
	state[$n]="done"
	printf '%s\n' "${path[$n]}"
}

for m in "$@"; do
	visit "$m"
done
