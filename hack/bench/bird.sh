#!/bin/sh
# Applies 1,000 new BGP protocols to a real BIRD three ways in one run and prints wall time and
# the BIRD commands each way sent:
#   batch          edgeagent: one ReconcileBatch (one configure check, one configure)
#   per-key        edgeagent reconciling one key at a time (check + configure per key)
#   peerapi-agent  the old agent: write the file, configure, for every session
# Needs root and /usr/sbin/bird (Debian bird2). Usage: hack/bench/bird.sh [count]
set -eu
cd "$(dirname "$0")/../.."
count=${1:-1}
out=$(go test -run '^$' -bench 'BenchmarkApply1000' -benchtime 1x -count "$count" ./reconcilers/birdprotocol/)
echo "$out" | grep -E '^(goos|goarch|cpu|pkg):' || true
echo
printf '%-16s %12s %12s %8s %8s\n' mode wall_s configures checks failed
echo "$out" | awk '/^BenchmarkApply1000\// {
	split($1, a, "/"); mode = a[2]; sub(/-[0-9]+$/, "", mode)
	for (i = 3; i < NF; i++) {
		if ($(i+1) == "ns/op") ns = $i
		if ($(i+1) == "configures/op") cf = $i
		if ($(i+1) == "checks/op") ck = $i
		if ($(i+1) == "failed/op") fl = $i
	}
	printf "%-16s %12.2f %12d %8d %8d\n", mode, ns / 1e9, cf, ck, fl
}'
