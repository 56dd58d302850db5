package tunnel

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/netlab"
)

// benchSpecs builds nWG WireGuard and nGRE GRE tunnel objects as an edge router carries them.
func benchSpecs(tb testing.TB, nWG, nGRE int) ([]string, map[string]*v1alpha1.Object) {
	keyPath, _ := keyFile(tb)
	objs := map[string]*v1alpha1.Object{}
	var names []string
	for i := 0; i < nWG+nGRE; i++ {
		s := &v1alpha1.TunnelSpec{MTU: 1420,
			LocalIPv4:          netip.AddrFrom4([4]byte{172, 30, byte(i / 250), byte(i%250 + 1)}).String(),
			PeerIPv4:           netip.AddrFrom4([4]byte{172, 31, byte(i / 250), byte(i%250 + 1)}).String(),
			LocalIPv6LinkLocal: "fe80::1", PeerIPv6LinkLocal: "fe80::2",
			LocalIPv6: fmt.Sprintf("fd42:30::%x:1", i), PeerIPv6: fmt.Sprintf("fd42:30::%x:2", i),
			Sysctls: map[string]string{"ipv4.forwarding": "1", "ipv4.rp_filter": "0", "ipv4.accept_local": "0",
				"ipv6.forwarding": "1", "ipv6.accept_ra": "0", "ipv6.autoconf": "0"},
		}
		var name string
		if i < nWG {
			peer, _ := wgtypes.GeneratePrivateKey()
			name = fmt.Sprintf("dnw%d%s", i, netlab.RandomSuffix(4))
			s.Type = v1alpha1.TunnelWireGuard
			s.WireGuard = &v1alpha1.WireGuardSpec{PrivateKeyFile: keyPath, ListenPort: 20000 + i, PeerPublicKey: peer.PublicKey().String(),
				Endpoint: fmt.Sprintf("192.0.2.%d:%d", i%250+1, 30000+i), PersistentKeepalive: 25, AllowedIPs: []string{"172.16.0.0/12", "fd00::/8", "fe80::/10"}}
		} else {
			name = fmt.Sprintf("dng%d", i)
			s.Type = v1alpha1.TunnelGRE
			s.GRE = &v1alpha1.GRESpec{Local: "198.51.100.1", Remote: netip.AddrFrom4([4]byte{203, 0, byte(113 + i/250), byte(i%250 + 1)}).String()}
		}
		objs[name] = object(tb, name, s)
		names = append(names, name)
	}
	return names, objs
}

// convergeStats is what one benchmark run measured.
type convergeStats struct {
	first, resync   time.Duration
	firstW, resyncW Writes
}

// benchConverge converges names from nothing in a fresh namespace, then runs a no-op resync
// (Observed plus one Reconcile per key) and measures both.
func benchConverge(b *testing.B, mode string, names []string, objs map[string]*v1alpha1.Object) convergeStats {
	b.StopTimer()
	ns := netlab.NewNamespace(b, "tun-bench")
	r, err := New(Options{Logger: logr.Discard(), NetNS: ns.NsHandle(), WireGuardMode: mode})
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Close()
	defer r.Close()
	ctx := context.Background()
	b.StartTimer()
	t0 := time.Now()
	for _, n := range names {
		if _, err := r.Reconcile(ctx, n, objs[n]); err != nil {
			b.Fatal(err)
		}
	}
	t1 := time.Now()
	w1 := r.Writes()
	keys, err := r.Observed(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if len(keys) != len(names) {
		b.Fatalf("observed %d tunnels, want %d", len(keys), len(names))
	}
	for _, n := range keys {
		if _, err := r.Reconcile(ctx, n, objs[n]); err != nil {
			b.Fatal(err)
		}
	}
	t2 := time.Now()
	b.StopTimer()
	w2 := r.Writes()
	return convergeStats{first: t1.Sub(t0), resync: t2.Sub(t1), firstW: w1,
		resyncW: Writes{w2.Netlink - w1.Netlink, w2.WireGuard - w1.WireGuard, w2.Sysctl - w1.Sysctl, w2.Device - w1.Device}}
}

// report prints the per-tunnel table and reports the metrics.
func (s convergeStats) report(b *testing.B, runs, tunnels int, what string) {
	n, t := float64(runs), float64(tunnels)
	perT := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n / t }
	b.ReportMetric(perT(s.first), "ms/tunnel-first")
	b.ReportMetric(perT(s.resync), "ms/tunnel-resync")
	b.ReportMetric(float64(s.firstW.Netlink)/n, "netlink-writes-first")
	b.ReportMetric(float64(s.firstW.Total())/n, "writes-first")
	b.ReportMetric(float64(s.resyncW.Netlink)/n, "netlink-writes-resync")
	b.ReportMetric(float64(s.resyncW.Total())/n, "writes-resync")
	b.Logf("%s, %d run(s)", what, runs)
	b.Logf("%-14s %10s %8s %9s %7s %7s %6s", "phase", "ms/tunnel", "netlink", "wireguard", "sysctl", "device", "total")
	for _, row := range []struct {
		name string
		d    time.Duration
		w    Writes
	}{{"first converge", s.first, s.firstW}, {"no-op resync", s.resync, s.resyncW}} {
		b.Logf("%-14s %10.3f %8.0f %9.0f %7.0f %7.0f %6.0f", row.name, perT(row.d), float64(row.w.Netlink)/n,
			float64(row.w.WireGuard)/n, float64(row.w.Sysctl)/n, float64(row.w.Device)/n, float64(row.w.Total())/n)
	}
}

func (s convergeStats) add(o convergeStats) convergeStats {
	return convergeStats{s.first + o.first, s.resync + o.resync, addWrites(s.firstW, o.firstW), addWrites(s.resyncW, o.resyncW)}
}

func addWrites(a, b Writes) Writes {
	return Writes{a.Netlink + b.Netlink, a.WireGuard + b.WireGuard, a.Sysctl + b.Sysctl, a.Device + b.Device}
}

// BenchmarkUserspaceConverge is the host's version of BenchmarkKernelConverge: 50 userspace
// WireGuard tunnels (each a wireguard-go device in the agent) from nothing, then a no-op resync.
func BenchmarkUserspaceConverge(b *testing.B) {
	const nWG = 50
	var total convergeStats
	for i := 0; i < b.N; i++ {
		names, objs := benchSpecs(b, nWG, 0)
		total = total.add(benchConverge(b, ModeUserspace, names, objs))
	}
	total.report(b, b.N, nWG, fmt.Sprintf("%d userspace wireguard tunnels", nWG))
}
