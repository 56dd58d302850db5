#!/usr/bin/env bash
# Installs what edgeagent's tests need, idempotently: Debian packages (only the missing ones),
# staticcheck, and the Go modules. With --bench it also installs the peers the benchmarks compare
# against. Needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

test_pkgs=(bird2 wireguard-tools dnsutils iputils-ping iproute2 kmod busybox-static cpio qemu-system-x86 socat procps)
bench_pkgs=(dnsperf knot nsd gdnsd pdns-server pdns-backend-geoip wrk)

pkgs=("${test_pkgs[@]}")
if [[ "${1:-}" == "--bench" ]]; then
	pkgs+=("${bench_pkgs[@]}")
fi

# The kernel lab resolves and downloads Debian's cloud kernel through apt, so the package lists
# must exist even when no package is missing.
if [[ $(id -u) -eq 0 ]] && ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then
	echo "install-deps: no apt package lists; running apt-get update"
	apt-get update -qq -o DPkg::Lock::Timeout=600
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing+=("$p")
	fi
done
if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}"
	if [[ $(id -u) -ne 0 ]]; then
		echo "install-deps: need root to apt-get install ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq -o DPkg::Lock::Timeout=600
	# Daemons must not start on their own: the tests and benchmarks start their own instances.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
	rm -f /usr/sbin/policy-rc.d
fi

export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null)/bin"
if ! command -v go >/dev/null; then
	echo "install-deps: Go is not installed (expected at /usr/local/go)" >&2
	exit 1
fi
if ! command -v staticcheck >/dev/null; then
	echo "install-deps: installing staticcheck"
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
go mod download
echo "install-deps: ok"
