#!/usr/bin/env bash
# run.sh PKG [TESTARGS...] [--- PKG [TESTARGS...]]...: run Go test binaries inside a real kernel.
#
# The host kernel has no GRE, ip6gre or WireGuard modules. This boots Debian's cloud kernel
# (prepare.sh fetches it) under qemu with a throwaway initramfs holding busybox-static, the
# tunnel modules and the statically linked test binaries, runs each binary in turn as root, and
# powers off. The serial console streams to stdout and to a log file.
#
# Each PKG is built with `CGO_ENABLED=0 go test -c -tags kernellab` in the current directory's
# module, so tests that need the lab carry `//go:build kernellab` and are invisible to a plain
# `go test ./...`. Several PKG specs separated by `---` run in one boot; the run fails if any does.
#   hack/kernel-lab/run.sh ./reconcilers/tunnel -test.v -test.run Kernel
#   hack/kernel-lab/run.sh ./hack/kernel-lab/smoketest -test.v --- ./reconcilers/tunnel -test.run Kernel
#
# Exit status: the first non-zero test exit status, 0 if all passed; 124 if the VM timed out;
# 125 if a module failed to load or the VM ended without reporting (the log has the details).
#
# Environment:
#   KERNEL_LAB_TIMEOUT        seconds before the VM is killed (default 600). Each binary gets
#                             -test.timeout=TIMEOUT-30s unless its args set one, so a hang still
#                             prints goroutine stacks.
#   KERNEL_LAB_MEM, _SMP      VM memory in MiB and CPUs (default 2048, 2)
#   KERNEL_LAB_MODULES        modules to load, dependencies are added (default below)
#   KERNEL_LAB_HOST_TOOLS     dynamically linked host commands copied in with their libraries
#                             (default "ip wg"; busybox applets cover the rest)
#   KERNEL_LAB_ENV            extra "NAME=value" words exported to the tests
#   KERNEL_LAB_ACCEL          kvm or tcg (default: kvm if a probe boot under KVM works)
#   KERNEL_LAB_APPEND         extra kernel command line
#   KERNEL_LAB_QEMU_ARGS      extra qemu arguments (split on spaces)
#   KERNEL_LAB_LOG            log file (default <cache>/logs/run-<time>.log)
#   KERNEL_LAB_OUT            host directory that receives what the tests write to /kl/out in
#                             the VM (profiles: -test.cpuprofile=/kl/out/cpu.pprof); relative
#                             profile names land there too (-test.outputdir=/kl/out)
#   KERNEL_LAB_SHELL=1        after the tests, an interactive busybox shell in the VM (needs a
#                             terminal; no timeout, no log); e.g. run.sh ./hack/kernel-lab/smoketest
#                             -test.run XXX to get a shell with the modules loaded
#   KERNEL_LAB_KEEP=1         keep the work directory (initramfs, binaries) for debugging
#   KERNEL_LAB_CACHE          see prepare.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${KERNEL_LAB_CACHE:-$here/.cache}
timeout_s=${KERNEL_LAB_TIMEOUT:-600}
mem=${KERNEL_LAB_MEM:-2048}
smp=${KERNEL_LAB_SMP:-2}
# xfrm_user and nfnetlink: a host autoloads them when a netlink socket of their family opens
# (netlink.NewHandle opens all of them); the VM has no modprobe, so they are loaded up front.
modules=${KERNEL_LAB_MODULES:-veth dummy tun ip_gre ip6_gre wireguard xfrm_user nfnetlink}
host_tools=${KERNEL_LAB_HOST_TOOLS-ip wg}

log() { printf 'kernel-lab: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 125; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
# squote quotes a word for the POSIX shell in the VM (busybox ash has no $'...' guarantee).
squote() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }

(($# >= 1)) || { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go is not on PATH"

t0=$(now)
prep=$("$here/prepare.sh") || die "prepare.sh failed"
eval "$prep"
t_prep=$(since "$t0")

work=$(mktemp -d "${TMPDIR:-/tmp}/kernel-lab.XXXXXX")
if [[ ${KERNEL_LAB_KEEP:-} == 1 ]]; then
	log "keeping work directory $work"
else
	trap 'rm -rf "$work"' EXIT
fi
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/sbin,proc,sys,dev,run,tmp,root,etc,var,kl/mod}
ln -s ../run "$root/var/run"
# The kernel opens /dev/console before /init runs; without the node init has no stdout.
if [[ $(id -u) == 0 ]]; then mknod -m 600 "$root/dev/console" c 5 1; fi

# Split the arguments into PKG specs at "---".
specs=()
cur=()
for a in "$@" ---; do
	if [[ $a == --- ]]; then
		((${#cur[@]})) || die "empty package spec (nothing between two ---)"
		spec=
		for w in "${cur[@]}"; do spec+="$(squote "$w") "; done
		specs+=("$spec")
		cur=()
	else
		cur+=("$a")
	fi
done

# Build every test binary first: a compile error should not cost a boot.
t1=$(now)
nonce=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
runs=
i=0
declare -A built=()
for spec in "${specs[@]}"; do
	eval "set -- $spec"
	pkg=$1
	shift
	i=$((i + 1))
	dir=$(go list -tags kernellab -f '{{.Dir}}' "$pkg") || die "go list $pkg failed"
	[[ $dir != *$'\n'* ]] || die "$pkg matches several packages; give one package per spec (separate specs with ---)"
	mkdir -p "$root/kl/$i"
	if [[ -n ${built[$pkg]:-} ]]; then
		ln "${built[$pkg]}" "$root/kl/$i/test.bin"
	else
		log "building $pkg"
		CGO_ENABLED=0 go test -c -tags kernellab -o "$root/kl/$i/test.bin" "$pkg" ||
			die "go test -c $pkg failed"
		built[$pkg]=$root/kl/$i/test.bin
	fi
	[[ -x $root/kl/$i/test.bin ]] || die "$pkg has no test files"
	# go test runs a binary in its package directory; testdata is the part tests read from there.
	[[ -d $dir/testdata ]] && cp -a "$dir/testdata" "$root/kl/$i/"
	args=
	has_timeout=
	has_outputdir=
	for a in "$@"; do
		[[ $a == -test.timeout* || $a == --test.timeout* ]] && has_timeout=1
		[[ $a == -test.outputdir* || $a == --test.outputdir* ]] && has_outputdir=1
		args+=" $(squote "$a")"
	done
	[[ -n $has_timeout ]] || args+=" -test.timeout=$((timeout_s > 60 ? timeout_s - 30 : timeout_s))s"
	[[ -n $has_outputdir || -z ${KERNEL_LAB_OUT:-} ]] || args+=" -test.outputdir=/kl/out"
	# The banner is display only: drop characters the VM shell would interpret inside "...".
	# shellcheck disable=SC1003 # a literal backslash in a tr set, not an escaped quote
	banner=$(printf '%s' "run $i: $pkg" "${@/#/ }" | tr -d '"$`\\')
	runs+="
echo \"KERNEL-LAB: $banner\"
cd /kl/$i
/kl/$i/test.bin$args
rc=\$?
echo \"KERNEL-LAB-RESULT pkg=$pkg rc=\$rc\"
[ \$rc -eq 0 ] || [ \$overall -ne 0 ] || overall=\$rc
"
done
t_build=$(since "$t1")

# Pack the initramfs.
t2=$(now)
cp "$(command -v busybox || echo /bin/busybox)" "$root/bin/busybox"
read -ra modnames <<<"$modules"
modlist=$("$here/modules.sh" "$KERNEL_LAB_MODDIR" "${modnames[@]}") || die "resolving module dependencies failed"
n=0
insmods=
while IFS= read -r m; do
	n=$((n + 1))
	name=${m##*/}
	name=${name%%.ko*}
	out=$root/kl/mod/$(printf '%02d' "$n")-$name.ko
	# busybox insmod may not decompress: store plain .ko files.
	case $m in
	*.xz) xz -dc "$m" >"$out" ;;
	*.zst) zstd -qdc "$m" >"$out" ;;
	*.gz) gzip -dc "$m" >"$out" ;;
	*) cp "$m" "$out" ;;
	esac
	insmods+="$name "
done <<<"$modlist"
log "module load order: $insmods"

for tool in $host_tools; do
	p=$(command -v "$tool") || { log "host tool $tool not found; skipping"; continue; }
	cp -L "$p" "$root/usr/local/sbin/$tool"
	# Copy the shared libraries and the loader at their host paths.
	while read -r lib; do
		[[ -e $root$lib ]] && continue
		mkdir -p "$root${lib%/*}"
		cp -L "$lib" "$root$lib"
	done < <(ldd "$p" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }')
done

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
cat >"$root/etc/hosts" <<'EOF'
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
EOF
echo kernel-lab >"$root/etc/hostname"

envs=
for e in ${KERNEL_LAB_ENV:-}; do envs+="export $(squote "$e")
"; done

cat >"$root/init" <<EOF
#!/bin/busybox sh
# Generated by hack/kernel-lab/run.sh: set the VM up, run the test binaries, report, power off.
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/netns /run/wireguard /kl/out
hostname kernel-lab
ip link set lo up
export HOME=/root TMPDIR=/tmp LANG=C.UTF-8 USER=root
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
$envs
fail() {
	echo "KERNEL-LAB: \$*"
	dmesg | tail -n 40
	echo "KERNEL-LAB-EXIT=125 nonce=$nonce"
	poweroff -f
	sleep 60
}
for m in /kl/mod/*.ko; do
	insmod "\$m" || fail "insmod \$m failed"
done
echo "KERNEL-LAB: kernel \$(uname -r), $n modules loaded, uptime \$(cut -d' ' -f1 /proc/uptime)s"
overall=0
$runs
[ \$overall -eq 0 ] || { echo "KERNEL-LAB: kernel log tail:"; dmesg | tail -n 40; }
if [ -n "${KERNEL_LAB_OUT:+1}" ] && [ -n "\$(ls -A /kl/out)" ]; then
	# No shared filesystem: the serial console carries the files out, base64 between markers.
	echo "KERNEL-LAB-ARTIFACTS-BEGIN nonce=$nonce"
	tar -C /kl/out -cf - . | gzip | base64
	echo "KERNEL-LAB-ARTIFACTS-END nonce=$nonce"
fi
echo "KERNEL-LAB: uptime \$(cut -d' ' -f1 /proc/uptime)s"
if [ -n "${KERNEL_LAB_SHELL:+1}" ]; then
	echo "KERNEL-LAB: interactive shell; exit it to power off"
	setsid cttyhack sh
fi
echo "KERNEL-LAB-EXIT=\$overall nonce=$nonce"
sync
poweroff -f
EOF
chmod 755 "$root/init"

(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) >"$work/initrd.cpio"
t_pack=$(since "$t2")

# Boot. mitigations=off: the VM runs only our tests, and PTI and retpolines cost a lot under TCG.
# KVM when it works, else TCG. /dev/kvm existing is not enough: under some nested hypervisors
# the guest kernel hangs right after decompression. A short probe boot without initramfs
# answers the question; the answer is cached per host kernel, qemu and guest kernel.
probe_kvm() {
	[[ -r /dev/kvm && -w /dev/kvm ]] || return 1
	local key
	key=$(printf '%s|%s|%s' "$(uname -r)" "$(qemu-system-x86_64 --version | head -n1)" "$KERNEL_LAB_KVER" |
		md5sum | cut -c1-12)
	local stamp=$cache/accel/$key
	if [[ -f $stamp ]]; then
		[[ $(cat "$stamp") == kvm ]]
		return
	fi
	mkdir -p "$cache/accel"
	local out result=tcg
	# Without an initramfs a working guest panics ("VFS: Unable to mount root") within a second.
	out=$(timeout 6 qemu-system-x86_64 -nographic -nodefaults -serial stdio -no-reboot \
		-accel kvm -cpu host -m 256 -kernel "$KERNEL_LAB_VMLINUZ" \
		-append "console=ttyS0 panic=-1" </dev/null 2>&1 || true)
	[[ $out == *"Linux version"* ]] && result=kvm
	log "KVM probe: $result"
	echo "$result" >"$stamp"
	[[ $result == kvm ]]
}
mode=${KERNEL_LAB_ACCEL:-}
if [[ -z $mode ]]; then
	mode=tcg
	probe_kvm && mode=kvm
fi
case $mode in
kvm) accel=(-accel kvm -cpu host) ;;
tcg) accel=(-accel tcg -cpu max) ;;
*) die "KERNEL_LAB_ACCEL must be kvm or tcg, not $mode" ;;
esac
read -ra qemu_extra <<<"${KERNEL_LAB_QEMU_ARGS:-}"
logfile=${KERNEL_LAB_LOG:-$cache/logs/run-$(date +%Y%m%dT%H%M%S)-$$.log}
mkdir -p "$(dirname "$logfile")"
# Keep the 20 newest default logs.
find "$cache/logs" -maxdepth 1 -name 'run-*.log' -printf '%T@ %p\n' 2>/dev/null | sort -rn | tail -n +20 |
	cut -d' ' -f2- | xargs -r rm -f
log "booting $KERNEL_LAB_KVER (${accel[*]}, ${mem} MiB, $smp CPUs, timeout ${timeout_s}s); log: $logfile"
t3=$(now)
qemu=(qemu-system-x86_64 -nographic -nodefaults -serial stdio -no-reboot
	"${accel[@]}" -m "$mem" -smp "$smp"
	-kernel "$KERNEL_LAB_VMLINUZ" -initrd "$work/initrd.cpio"
	-append "console=ttyS0 panic=-1 quiet mitigations=off ${KERNEL_LAB_APPEND:-}"
	"${qemu_extra[@]}")
if [[ -n ${KERNEL_LAB_SHELL:-} ]]; then
	# Interactive: the terminal talks to the VM directly (Ctrl-A X quits qemu).
	"${qemu[@]}"
	exit
fi
set +e
# --foreground keeps qemu in our process group, so killing the run (CI cancel) also stops it.
timeout --foreground -k 10 "$timeout_s" "${qemu[@]}" </dev/null 2>&1 |
	sed -u -e 's/\r$//' -e 's/\x1bc//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' | tee "$logfile" |
	awk '/^KERNEL-LAB-ARTIFACTS-BEGIN/ { skip = 1; print "(artifacts...)" } !skip { print; fflush() } /^KERNEL-LAB-ARTIFACTS-END/ { skip = 0 }'
qemu_rc=${PIPESTATUS[0]}
set -e
t_vm=$(since "$t3")

log "timings: prepare $t_prep, build $t_build, initramfs $t_pack, vm $t_vm, total $(since "$t0")"
if ((qemu_rc == 124 || qemu_rc == 137)); then
	log "error: the VM did not finish within ${timeout_s}s (KERNEL_LAB_TIMEOUT); log: $logfile"
	exit 124
fi
rc=$(grep -aoE "KERNEL-LAB-EXIT=[0-9]+ nonce=$nonce" "$logfile" | tail -n1 | sed -E 's/^KERNEL-LAB-EXIT=([0-9]+).*/\1/' || true)
if [[ -z $rc ]]; then
	log "error: the VM ended (qemu status $qemu_rc) without reporting a result; log: $logfile"
	exit 125
fi
if [[ -n ${KERNEL_LAB_OUT:-} ]]; then
	mkdir -p "$KERNEL_LAB_OUT"
	if grep -aq "^KERNEL-LAB-ARTIFACTS-END nonce=$nonce" "$logfile"; then
		sed -n "/^KERNEL-LAB-ARTIFACTS-BEGIN nonce=$nonce/,/^KERNEL-LAB-ARTIFACTS-END nonce=$nonce/p" "$logfile" |
			sed '1d;$d' | base64 -d | tar -xzf - -C "$KERNEL_LAB_OUT" &&
			log "artifacts in $KERNEL_LAB_OUT: $(find "$KERNEL_LAB_OUT" -mindepth 1 -maxdepth 1 -printf '%f ')"
	else
		log "no artifacts came out of the VM"
	fi
fi
grep -a '^KERNEL-LAB-RESULT ' "$logfile" | sed 's/^/kernel-lab: /' >&2 || true
((rc == 0)) || log "FAILED (exit status $rc); log: $logfile"
exit "$rc"
