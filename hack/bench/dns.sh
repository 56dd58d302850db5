#!/usr/bin/env bash
# DNS benchmark: dnsperf against edgeagent's DNS engine and reference servers, all on loopback,
# in one run on this machine.
#   static answers: edgeagent vs knot vs nsd, the same zone (bench.test)
#   geo answers:    edgeagent vs gdnsd (geoip plugin) vs PowerDNS (geoip backend), the same
#                   map and the same generated GeoIP database (geo.test, ECS 198.51.100.0/24 = DE)
# Per server: $ROUNDS saturating runs (dnsperf -c $CLIENTS -l $DURATION), interleaved, give the
# median QPS; a run with per-query output at a fixed offered load (-Q $P99_QPS) gives the p99.
# Usage: hack/bench/dns.sh   (env: DURATION=5 ROUNDS=3 CLIENTS=4 P99_QPS=20000 P99_SECONDS=5
#                                  BASE_PORT=25300)
set -euo pipefail

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-4}
P99_QPS=${P99_QPS:-20000}
P99_SECONDS=${P99_SECONDS:-5}
BASE_PORT=${BASE_PORT:-25300}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/dnsbench.XXXXXX)
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v knotd >/dev/null || need+=(knot)
command -v nsd >/dev/null || need+=(nsd)
command -v gdnsd >/dev/null || need+=(gdnsd)
command -v pdns_server >/dev/null || need+=(pdns-server)
[ -e /usr/lib/x86_64-linux-gnu/pdns/libgeoipbackend.so ] || need+=(pdns-backend-geoip)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 "${need[@]}" >&2
fi
# Debian starts the packaged daemons on :53; they do not disturb our ports but waste CPU.
for svc in knot nsd gdnsd pdns; do systemctl stop "$svc" 2>/dev/null || true; done

P_EDGE=$BASE_PORT P_KNOT=$((BASE_PORT + 1)) P_NSD=$((BASE_PORT + 2)) P_GDNSD=$((BASE_PORT + 3)) P_PDNS=$((BASE_PORT + 4))

echo "building edgeagent dnsbench and the GeoIP database" >&2
(cd "$ROOT" && go build -o "$WORK/dnsbench" ./hack/bench/dnsbench && go run ./hack/bench/mkmmdb -o "$WORK/bench.mmdb")

# ---- the static zone -------------------------------------------------------------------------
cat >"$WORK/bench.test.zone" <<'EOF'
$ORIGIN bench.test.
$TTL 3600
@     SOA  ns1.bench.test. hostmaster.bench.test. 1 3600 600 604800 300
@     NS   ns1
ns1   A    192.0.2.53
@     A    192.0.2.1
@     MX   10 mail
www   A    192.0.2.10
www   AAAA 2001:db8::10
mail  A    192.0.2.25
txt   TXT  "v=spf1 mx -all"
EOF
cat >"$WORK/zones.yaml" <<'EOF'
apiVersion: edgeagent.io/v1alpha1
kind: DNSZone
metadata: {name: bench.test.}
spec:
  soa: {mname: ns1.bench.test., rname: hostmaster.bench.test., serial: 1, minimum: 300}
  records:
    - {name: "@", type: NS, value: ns1}
    - {name: ns1, type: A, value: 192.0.2.53}
    - {name: "@", type: A, value: 192.0.2.1}
    - {name: "@", type: MX, value: mail, priority: 10}
    - {name: www, type: A, value: 192.0.2.10}
    - {name: www, type: AAAA, value: "2001:db8::10"}
    - {name: mail, type: A, value: 192.0.2.25}
    - {name: txt, type: TXT, value: "v=spf1 mx -all"}
---
apiVersion: edgeagent.io/v1alpha1
kind: DNSZone
metadata: {name: geo.test.}
spec:
  soa: {mname: ns1.geo.test., rname: hostmaster.geo.test., serial: 1, minimum: 300}
  records:
    - {name: "@", type: NS, value: ns1}
    - {name: ns1, type: A, value: 192.0.2.53}
    - name: www
      type: A
      ttl: 60
      geo:
        countries:
          DE: [{value: 192.0.2.1}]
          US: [{value: 192.0.2.2}]
          JP: [{value: 192.0.2.3}]
        continents:
          EU: [{value: 192.0.2.11}]
          AS: [{value: 192.0.2.12}]
        default: [{value: 192.0.2.100}]
EOF
printf '%s\n' "www.bench.test A" "www.bench.test AAAA" "mail.bench.test A" "bench.test MX" \
	"txt.bench.test TXT" "ns1.bench.test A" "bench.test A" "bench.test NS" >"$WORK/static.queries"
printf '%s\n' "www.geo.test A" >"$WORK/geo.queries"
ECS_OPT="8:00011800c63364" # family 1, /24, scope 0, 198.51.100.0 (DE in bench.mmdb)

# ---- edgeagent ---------------------------------------------------------------------------------
"$WORK/dnsbench" -addr "127.0.0.1:$P_EDGE" -geoip "$WORK/bench.mmdb" "$WORK/zones.yaml" >"$WORK/edge.log" 2>&1 &
PIDS+=($!)

# ---- knot ----------------------------------------------------------------------------------------
mkdir -p "$WORK/knot"
cat >"$WORK/knot/knot.conf" <<EOF
server:
    listen: 127.0.0.1@$P_KNOT
    rundir: $WORK/knot
    pidfile: $WORK/knot/knot.pid
log:
  - target: stderr
    any: warning
database:
    storage: $WORK/knot/db
zone:
  - domain: bench.test
    storage: $WORK
    file: bench.test.zone
    journal-content: none
    zonefile-sync: -1
EOF
knotd -c "$WORK/knot/knot.conf" >"$WORK/knot.log" 2>&1 &
PIDS+=($!)

# ---- nsd -----------------------------------------------------------------------------------------
mkdir -p "$WORK/nsd"
cat >"$WORK/nsd/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$P_NSD
    username: ""
    chroot: ""
    zonesdir: "$WORK"
    pidfile: "$WORK/nsd/nsd.pid"
    database: ""
    xfrdfile: "$WORK/nsd/xfrd.state"
    zonelistfile: "$WORK/nsd/zone.list"
    logfile: "$WORK/nsd.log"
    server-count: $(nproc)
    reuseport: yes
    # Debian builds NSD with response rate limiting on (200/s per /24): off for a benchmark.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: bench.test
    zonefile: bench.test.zone
EOF
nsd -d -c "$WORK/nsd/nsd.conf" >>"$WORK/nsd.log" 2>&1 &
PIDS+=($!)

# ---- gdnsd (geoip plugin) --------------------------------------------------------------------------
mkdir -p "$WORK/gdnsd/zones" "$WORK/gdnsd/run" "$WORK/gdnsd/state"
cat >"$WORK/gdnsd/config" <<EOF
options => {
  listen => [ 127.0.0.1:$P_GDNSD ]
  run_dir => $WORK/gdnsd/run
  state_dir => $WORK/gdnsd/state
  udp_threads => $(nproc)
  tcp_threads => 1
}
plugins => {
  geoip => {
    maps => {
      bench => {
        geoip2_db => $WORK/bench.mmdb
        datacenters => [ de, us, jp, eu, as, def ]
        map => {
          default => [ def ]
          EU => { default => [ eu ], DE => [ de ] }
          NA => { default => [ def ], US => [ us ] }
          AS => { default => [ as ], JP => [ jp ] }
        }
      }
    }
    resources => {
      www => {
        map => bench
        dcmap => {
          de => 192.0.2.1
          us => 192.0.2.2
          jp => 192.0.2.3
          eu => 192.0.2.11
          as => 192.0.2.12
          def => 192.0.2.100
        }
      }
    }
  }
}
EOF
cat >"$WORK/gdnsd/zones/geo.test" <<'EOF'
$TTL 3600
@     SOA  ns1 hostmaster 1 3600 600 604800 300
@     NS   ns1
ns1   A    192.0.2.53
www   60   DYNA geoip!www
EOF
gdnsd -c "$WORK/gdnsd" -f start >"$WORK/gdnsd.log" 2>&1 &
PIDS+=($!)

# ---- PowerDNS (geoip backend) -----------------------------------------------------------------------
mkdir -p "$WORK/pdns"
cat >"$WORK/pdns/pdns.conf" <<EOF
launch=geoip
geoip-database-files=mmdb:$WORK/bench.mmdb
geoip-zones-file=$WORK/pdns/geo.yaml
edns-subnet-processing=yes
local-address=127.0.0.1:$P_PDNS
socket-dir=$WORK/pdns
daemon=no
guardian=no
disable-syslog=yes
receiver-threads=$(nproc)
reuseport=yes
webserver=no
api=no
EOF
cat >"$WORK/pdns/geo.yaml" <<'EOF'
domains:
- domain: geo.test
  ttl: 3600
  records:
    geo.test:
      - soa: ns1.geo.test hostmaster.geo.test 1 3600 600 604800 300
      - ns: ns1.geo.test
    ns1.geo.test:
      - a: 192.0.2.53
    de.www.geo.test:
      - a: {content: 192.0.2.1, ttl: 60}
    us.www.geo.test:
      - a: {content: 192.0.2.2, ttl: 60}
    jp.www.geo.test:
      - a: {content: 192.0.2.3, ttl: 60}
    eu.www.geo.test:
      - a: {content: 192.0.2.11, ttl: 60}
    as.www.geo.test:
      - a: {content: 192.0.2.12, ttl: 60}
    default.www.geo.test:
      - a: {content: 192.0.2.100, ttl: 60}
  services:
    www.geo.test: [ '%cc.www.geo.test', '%cn.www.geo.test', 'default.www.geo.test' ]
EOF
pdns_server --config-dir="$WORK/pdns" >"$WORK/pdns.log" 2>&1 &
PIDS+=($!)

# ---- wait for every server and check it answers what the others answer ----------------------------
check() { # name port qname expected [dig options]
	local name=$1 port=$2 qname=$3 want=$4
	shift 4
	local got=""
	for _ in $(seq 1 50); do
		got=$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" "$qname" A "$@" 2>/dev/null | head -1 || true)
		[ "$got" = "$want" ] && return 0
		sleep 0.2
	done
	echo "$name on port $port answers '$got' for $qname, want $want; its log:" >&2
	cat "$WORK/$name.log" >&2 || true
	exit 1
}
check edge "$P_EDGE" www.bench.test 192.0.2.10
check knot "$P_KNOT" www.bench.test 192.0.2.10
check nsd "$P_NSD" www.bench.test 192.0.2.10
check edge "$P_EDGE" www.geo.test 192.0.2.1 +subnet=198.51.100.0/24
check gdnsd "$P_GDNSD" www.geo.test 192.0.2.1 +subnet=198.51.100.0/24
check pdns "$P_PDNS" www.geo.test 192.0.2.1 +subnet=198.51.100.0/24
check edge "$P_EDGE" www.geo.test 192.0.2.12 +subnet=100.65.0.0/16
check gdnsd "$P_GDNSD" www.geo.test 192.0.2.12 +subnet=100.65.0.0/16
check pdns "$P_PDNS" www.geo.test 192.0.2.12 +subnet=100.65.0.0/16

# ---- measure ----------------------------------------------------------------------------------------
# Rounds interleave the servers so that a burst of other load on the machine hits them alike; the
# table shows each server's median QPS.
declare -A QPS P99 RUNS PORT
PORT=([edge-static]=$P_EDGE [knot]=$P_KNOT [nsd]=$P_NSD [edge-geo]=$P_EDGE [gdnsd]=$P_GDNSD [pdns]=$P_PDNS)
KEYS=(edge-static knot nsd edge-geo gdnsd pdns)
args() { # key -> query file and dnsperf options
	case $1 in
	edge-static | knot | nsd) echo "-d $WORK/static.queries" ;;
	*) echo "-d $WORK/geo.queries -E $ECS_OPT" ;;
	esac
}
echo "measuring: $ROUNDS rounds of dnsperf -c $CLIENTS -l $DURATION (QPS); -l $P99_SECONDS -Q $P99_QPS -v (p99)" >&2
for round in $(seq 1 "$ROUNDS"); do
	for key in "${KEYS[@]}"; do
		# shellcheck disable=SC2046
		q=$(dnsperf -s 127.0.0.1 -p "${PORT[$key]}" $(args "$key") -c "$CLIENTS" -l "$DURATION" 2>&1 |
			awk '/Queries per second/ {printf "%.0f", $4}')
		RUNS[$key]="${RUNS[$key]:-} $q"
		echo "  round $round $key: $q QPS" >&2
	done
done
for key in "${KEYS[@]}"; do
	QPS[$key]=$(echo "${RUNS[$key]}" | tr ' ' '\n' | grep -v '^$' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
	# shellcheck disable=SC2046
	P99[$key]=$(dnsperf -s 127.0.0.1 -p "${PORT[$key]}" $(args "$key") -c "$CLIENTS" -l "$P99_SECONDS" -Q "$P99_QPS" -v 2>/dev/null |
		awk '/^> / {print $NF * 1e6}' | sort -n | awk '{v[NR]=$1} END {if (NR) printf "%.0f", v[int(NR*0.99)]; else print "-"}')
	echo "  $key: median ${QPS[$key]} QPS of${RUNS[$key]}, p99 ${P99[$key]} us at $P99_QPS QPS" >&2
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
echo
echo "DNS benchmark: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); median of $ROUNDS x dnsperf -c $CLIENTS -l $DURATION on loopback; p99 at $P99_QPS QPS offered"
printf '%-28s %12s %10s  %s\n' "server (answers)" "QPS" "p99 (us)" "edgeagent / server"
printf '%-28s %12s %10s  %s\n' "edgeagent (static)" "${QPS[edge-static]}" "${P99[edge-static]}" ""
printf '%-28s %12s %10s  %s\n' "knot (static)" "${QPS[knot]}" "${P99[knot]}" "$(ratio "${QPS[edge-static]}" "${QPS[knot]}")"
printf '%-28s %12s %10s  %s\n' "nsd (static)" "${QPS[nsd]}" "${P99[nsd]}" "$(ratio "${QPS[edge-static]}" "${QPS[nsd]}")"
printf '%-28s %12s %10s  %s\n' "edgeagent (geo, ECS)" "${QPS[edge-geo]}" "${P99[edge-geo]}" ""
printf '%-28s %12s %10s  %s\n' "gdnsd geoip (geo, ECS)" "${QPS[gdnsd]}" "${P99[gdnsd]}" "$(ratio "${QPS[edge-geo]}" "${QPS[gdnsd]}")"
printf '%-28s %12s %10s  %s\n' "PowerDNS geoip (geo, ECS)" "${QPS[pdns]}" "${P99[pdns]}" "$(ratio "${QPS[edge-geo]}" "${QPS[pdns]}")"
echo "targets: edgeagent >= 0.80x knot (static); >= 0.75x gdnsd and >= 2.00x PowerDNS (geo)"
