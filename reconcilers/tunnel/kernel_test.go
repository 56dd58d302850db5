//go:build kernellab

// Tests for the kernel lab (hack/kernel-lab/run.sh ./reconcilers/tunnel -test.v -test.run Kernel):
// they need GRE, ip6gre and kernel WireGuard, so they only build with the kernellab tag and fail
// instead of skipping when the kernel lacks a module.

package tunnel

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/netlab"
)

// kernelLab is two namespaces joined by a veth carrying IPv4 10.241.0.0/24 and IPv6
// fd00:241::/64, with one reconciler each.
type kernelLab struct {
	a, b   *netlab.Namespace
	ra, rb *Reconciler
	na, nb string
}

func newKernelLab(t *testing.T, mode string) *kernelLab {
	t.Helper()
	l := &kernelLab{}
	l.a = netlab.NewNamespace(t, "kl-a")
	l.b = netlab.NewNamespace(t, "kl-b")
	ifA, ifB := netlab.Veth(t, l.a, l.b, "10.241.0.1/24", "10.241.0.2/24")
	if err := netlab.AddrUp(l.a.Handle(), ifA, "fd00:241::1/64"); err != nil {
		t.Fatal(err)
	}
	if err := netlab.AddrUp(l.b.Handle(), ifB, "fd00:241::2/64"); err != nil {
		t.Fatal(err)
	}
	l.ra = newReconciler(t, l.a, mode, logr.Discard())
	l.rb = newReconciler(t, l.b, mode, logr.Discard())
	l.na, l.nb = tunnelName(), tunnelName()
	return l
}

// innerAddrs gives side a (first) or b the inner addresses and sysctls of a tunnel.
func innerAddrs(s *v1alpha1.TunnelSpec, first bool) {
	l4, p4, l6, p6, ll, pll := "172.24.0.1", "172.24.0.2", "fd42:24::1", "fd42:24::2", "fe80::1", "fe80::2"
	if !first {
		l4, p4, l6, p6, ll, pll = p4, l4, p6, l6, pll, ll
	}
	s.LocalIPv4, s.PeerIPv4, s.LocalIPv6, s.PeerIPv6, s.LocalIPv6LinkLocal, s.PeerIPv6LinkLocal = l4, p4, l6, p6, ll, pll
	s.Sysctls = map[string]string{"ipv4.forwarding": "1", "ipv4.rp_filter": "0", "ipv4.accept_local": "0",
		"ipv6.forwarding": "1", "ipv6.accept_ra": "0", "ipv6.autoconf": "0"}
}

// traffic sends UDP across the tunnel from a to b on IPv4, IPv6 and IPv6 link-local.
func (l *kernelLab) traffic(t *testing.T) {
	t.Helper()
	for _, c := range []struct{ listen, dst string }{
		{"172.24.0.2:0", "172.24.0.2"},
		{"[fd42:24::2]:0", "fd42:24::2"},
		{"[fe80::2%" + l.nb + "]:0", "fe80::2%" + l.na},
	} {
		echo := l.b.UDPEcho(t, c.listen)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := l.a.UDPExchange(ctx, net.JoinHostPort(c.dst, fmt.Sprint(echo.Port)), []byte("across "+c.dst))
		cancel()
		if err != nil {
			t.Fatalf("traffic to %s: %v", c.dst, err)
		}
	}
}

// adopt checks that a fresh reconciler (an agent restart) adopts a's converged tunnel with zero
// writes.
func (l *kernelLab) adopt(t *testing.T, spec *v1alpha1.TunnelSpec) {
	t.Helper()
	r2 := newReconciler(t, l.a, ModeAuto, logr.Discard())
	res := reconcile(t, r2, l.na, spec)
	if res.Changes != 0 || r2.Writes().Total() != 0 {
		lines, _ := r2.Plan(context.Background(), l.na, object(t, l.na, spec))
		t.Fatalf("restart adoption made %d writes (%+v); plan %q", res.Changes, r2.Writes(), lines)
	}
}

// inPlace applies change to a's spec and checks it converged without recreating the interface.
func (l *kernelLab) inPlace(t *testing.T, spec *v1alpha1.TunnelSpec, what string, change func(*v1alpha1.TunnelSpec), check func(*Observed) bool) {
	t.Helper()
	before := observe(t, l.ra, l.na)
	change(spec)
	res := reconcile(t, l.ra, l.na, spec)
	after := observe(t, l.ra, l.na)
	if res.Changes == 0 || after.Ifindex != before.Ifindex || !check(after) {
		t.Fatalf("in-place %s: %d writes, ifindex %d -> %d, state %+v", what, res.Changes, before.Ifindex, after.Ifindex, after)
	}
	if res := reconcile(t, l.ra, l.na, spec); res.Changes != 0 {
		t.Fatalf("in-place %s: second reconcile made %d writes", what, res.Changes)
	}
}

func TestKernelGRE(t *testing.T) {
	l := newKernelLab(t, ModeAuto)
	sa := &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelGRE, MTU: 1400, GRE: &v1alpha1.GRESpec{Local: "10.241.0.1", Remote: "10.241.0.2"}}
	sb := &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelGRE, MTU: 1400, GRE: &v1alpha1.GRESpec{Local: "10.241.0.2", Remote: "10.241.0.1"}}
	innerAddrs(sa, true)
	innerAddrs(sb, false)
	reconcile(t, l.ra, l.na, sa)
	reconcile(t, l.rb, l.nb, sb)
	o := observe(t, l.ra, l.na)
	if o.Type != "gre" || o.GRE == nil || o.GRE.TTL != 255 || o.GRE.Remote != "10.241.0.2" || o.GRE.Local != "10.241.0.1" || o.MTU != 1400 {
		t.Fatalf("observed %+v gre %+v", o, o.GRE)
	}
	l.traffic(t)
	t.Log("tunnel type gre: traffic OK")
	l.adopt(t, sa)
	t.Log("tunnel type gre: restart adopted with 0 writes")

	l.inPlace(t, sa, "ttl", func(s *v1alpha1.TunnelSpec) { s.GRE.TTL = 64 }, func(o *Observed) bool { return o.GRE.TTL == 64 })
	l.inPlace(t, sa, "remote", func(s *v1alpha1.TunnelSpec) { s.GRE.Remote = "10.241.0.9" }, func(o *Observed) bool { return o.GRE.Remote == "10.241.0.9" })
	l.inPlace(t, sa, "remote back", func(s *v1alpha1.TunnelSpec) { s.GRE.Remote = "10.241.0.2" }, func(o *Observed) bool { return o.GRE.Remote == "10.241.0.2" })
	l.inPlace(t, sa, "mtu", func(s *v1alpha1.TunnelSpec) { s.MTU = 1380 }, func(o *Observed) bool { return o.MTU == 1380 })
	l.traffic(t)
	t.Log("tunnel type gre: in-place changes kept the interface, traffic OK")

	// Only a type change recreates.
	before := observe(t, l.ra, l.na).Ifindex
	f, _ := keyFile(t)
	peer, _ := wgtypes.GeneratePrivateKey()
	reconcile(t, l.ra, l.na, &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelWireGuard, WireGuard: &v1alpha1.WireGuardSpec{PrivateKeyFile: f, PeerPublicKey: peer.PublicKey().String()}})
	if o := observe(t, l.ra, l.na); o.Type != "wireguard" || o.Ifindex == before {
		t.Fatalf("gre -> wireguard: %+v (old ifindex %d)", o, before)
	}
}

func TestKernelIP6GRE(t *testing.T) {
	l := newKernelLab(t, ModeAuto)
	sa := &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelIP6GRE, GRE: &v1alpha1.GRESpec{Local: "fd00:241::1", Remote: "fd00:241::2"}}
	sb := &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelIP6GRE, GRE: &v1alpha1.GRESpec{Local: "fd00:241::2", Remote: "fd00:241::1"}}
	innerAddrs(sa, true)
	innerAddrs(sb, false)
	reconcile(t, l.ra, l.na, sa)
	reconcile(t, l.rb, l.nb, sb)
	o := observe(t, l.ra, l.na)
	if o.Type != "ip6gre" || o.GRE == nil || o.GRE.TTL != 255 || !o.GRE.EncapLimitNone || o.GRE.Remote != "fd00:241::2" {
		t.Fatalf("observed %+v gre %+v", o, o.GRE)
	}
	l.traffic(t)
	t.Log("tunnel type ip6gre: traffic OK (encaplimit none, ttl 255)")
	l.adopt(t, sa)
	t.Log("tunnel type ip6gre: restart adopted with 0 writes")
	l.inPlace(t, sa, "remote", func(s *v1alpha1.TunnelSpec) { s.GRE.Remote = "fd00:241::9" }, func(o *Observed) bool { return o.GRE.Remote == "fd00:241::9" })
	l.inPlace(t, sa, "remote back", func(s *v1alpha1.TunnelSpec) { s.GRE.Remote = "fd00:241::2" }, func(o *Observed) bool { return o.GRE.Remote == "fd00:241::2" && o.GRE.EncapLimitNone })
	l.inPlace(t, sa, "address", func(s *v1alpha1.TunnelSpec) { s.LocalIPv4 = "172.24.0.11" }, func(o *Observed) bool { return len(o.Addresses) == 3 })
	l.inPlace(t, sa, "address back", func(s *v1alpha1.TunnelSpec) { s.LocalIPv4 = "172.24.0.1" }, func(o *Observed) bool { return len(o.Addresses) == 3 })
	l.traffic(t)
	t.Log("tunnel type ip6gre: in-place changes kept the interface, traffic OK")
}

func TestKernelWireGuard(t *testing.T) {
	l := newKernelLab(t, ModeKernel)
	fa, ka := keyFile(t)
	fb, kb := keyFile(t)
	sa := &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelWireGuard, MTU: 1420, WireGuard: &v1alpha1.WireGuardSpec{
		PrivateKeyFile: fa, ListenPort: 51820, PeerPublicKey: kb.PublicKey().String(), Endpoint: "10.241.0.2:51821",
		PersistentKeepalive: 5, AllowedIPs: []string{"172.16.0.0/12", "fd00::/8", "fe80::/10"}}}
	sb := &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelWireGuard, WireGuard: &v1alpha1.WireGuardSpec{
		PrivateKeyFile: fb, ListenPort: 51821, PeerPublicKey: ka.PublicKey().String(), Endpoint: "[fd00:241::1]:51820",
		AllowedIPs: []string{"172.16.0.0/12", "fd00::/8", "fe80::/10"}}}
	innerAddrs(sa, true)
	innerAddrs(sb, false)
	reconcile(t, l.ra, l.na, sa)
	reconcile(t, l.rb, l.nb, sb)
	o := observe(t, l.ra, l.na)
	if o.Type != "wireguard" || o.Implementation != "kernel" || o.WireGuard == nil || o.WireGuard.ListenPort != 51820 {
		t.Fatalf("observed %+v wg %+v", o, o.WireGuard)
	}
	l.traffic(t)
	t.Log("tunnel type wireguard (kernel): traffic OK")
	o = observe(t, l.ra, l.na)
	if p := o.WireGuard.Peers[0]; p.LastHandshake == nil || p.RxBytes == 0 {
		t.Fatalf("peer after traffic %+v", p)
	}
	l.adopt(t, sa)
	t.Log("tunnel type wireguard (kernel): restart adopted with 0 writes")

	other, _ := wgtypes.GeneratePrivateKey()
	l.inPlace(t, sa, "keepalive", func(s *v1alpha1.TunnelSpec) { s.WireGuard.PersistentKeepalive = 15 }, func(o *Observed) bool { return o.WireGuard.Peers[0].PersistentKeepalive == 15 })
	l.inPlace(t, sa, "listen port", func(s *v1alpha1.TunnelSpec) { s.WireGuard.ListenPort = 51830 }, func(o *Observed) bool { return o.WireGuard.ListenPort == 51830 })
	l.inPlace(t, sa, "mtu", func(s *v1alpha1.TunnelSpec) { s.MTU = 1380 }, func(o *Observed) bool { return o.MTU == 1380 })
	l.inPlace(t, sa, "sysctl", func(s *v1alpha1.TunnelSpec) { s.Sysctls["ipv4.rp_filter"] = "2" }, func(*Observed) bool { return readSysctl(t, l.a, l.na, "ipv4.rp_filter") == "2" })
	l.traffic(t) // b roams to a's new port
	l.inPlace(t, sa, "endpoint", func(s *v1alpha1.TunnelSpec) { s.WireGuard.Endpoint = "[fd00:241::2]:51821" }, func(o *Observed) bool { return o.WireGuard.Peers[0].Endpoint == "[fd00:241::2]:51821" })
	l.traffic(t)
	l.inPlace(t, sa, "peer key", func(s *v1alpha1.TunnelSpec) { s.WireGuard.PeerPublicKey = other.PublicKey().String() }, func(o *Observed) bool {
		return len(o.WireGuard.Peers) == 1 && o.WireGuard.Peers[0].PublicKey == other.PublicKey().String()
	})
	t.Log("tunnel type wireguard (kernel): in-place changes kept the interface")
}

// BenchmarkKernelConverge converges 200 kernel WireGuard and 200 GRE tunnels in an empty
// namespace, then runs a no-op resync (Observed plus one Reconcile per key), and reports time per
// tunnel and writes for both phases. Targets: 0 writes on the resync, under 20 ms per tunnel
// on first convergence.
func BenchmarkKernelConverge(b *testing.B) {
	const nWG, nGRE = 200, 200
	var total convergeStats
	for i := 0; i < b.N; i++ {
		names, objs := benchSpecs(b, nWG, nGRE)
		total = total.add(benchConverge(b, ModeKernel, names, objs))
	}
	total.report(b, b.N, nWG+nGRE, fmt.Sprintf("%d kernel wireguard + %d gre tunnels", nWG, nGRE))

	// The kernel's own floor on this machine: the same number of bare links, one netlink
	// request each, nothing else. It shows how much of the per-tunnel time is link creation.
	b.StopTimer()
	ns := netlab.NewNamespace(b, "kl-floor")
	h := ns.Handle()
	t0 := time.Now()
	for i := 0; i < nWG+nGRE; i++ {
		var l netlink.Link = &netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("dnfw%d", i)}}
		if i >= nWG {
			l = &netlink.Gretun{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("dnfg%d", i)}, Local: net.IPv4(198, 51, 100, 1),
				Remote: net.IPv4(203, 0, byte(113+i/250), byte(i%250+1)), Ttl: 255, PMtuDisc: 1}
		}
		if err := h.LinkAdd(l); err != nil {
			b.Fatal(err)
		}
	}
	floor := time.Since(t0)
	b.Logf("kernel floor: bare link creation %.3f ms/link (%d links, 1 request each)", float64(floor.Microseconds())/1000/float64(nWG+nGRE), nWG+nGRE)
	b.ReportMetric(float64(floor.Microseconds())/1000/float64(nWG+nGRE), "ms/bare-link")
}
