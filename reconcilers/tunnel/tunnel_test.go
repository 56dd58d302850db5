package tunnel

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/netlab"
	"github.com/edgeagent/edgeagent/pkg/wgdev"
)

// TestUserspaceWireGuardTraffic builds a userspace WireGuard tunnel between two namespaces and
// pings across it on every address family, then checks the no-op reconcile makes no write.
func TestUserspaceWireGuardTraffic(t *testing.T) {
	p := newWGPair(t, ModeUserspace)
	res := reconcile(t, p.ra, p.na, p.specA())
	if res.Changes == 0 {
		t.Fatal("first reconcile made no change")
	}
	reconcile(t, p.rb, p.nb, p.specB())

	obs := observe(t, p.ra, p.na)
	if !obs.Exists || obs.Implementation != "userspace" || obs.Type != "tun" {
		t.Fatalf("observed %+v, want an existing userspace device", obs)
	}
	if obs.MTU != 1420 {
		t.Errorf("mtu = %d, want 1420", obs.MTU)
	}
	// addr_gen_mode none: exactly our three addresses, no kernel-made link-local.
	wantAddrs := []string{"172.23.0.1/32 peer 172.23.0.2", "fd42:23::1/128 peer fd42:23::2", "fe80::1/64 peer fe80::2"}
	got := slices.Clone(obs.Addresses)
	slices.Sort(got)
	if !slices.Equal(got, wantAddrs) {
		t.Errorf("addresses = %v, want %v", got, wantAddrs)
	}
	if !slices.Equal(obs.Routes, []string{"fd42:23::2/128"}) {
		t.Errorf("routes = %v, want the /128 to the peer", obs.Routes)
	}
	if obs.WireGuard == nil || obs.WireGuard.ListenPort != 51820 || len(obs.WireGuard.Peers) != 1 ||
		obs.WireGuard.Peers[0].PublicKey != p.kb.PublicKey().String() || obs.WireGuard.Peers[0].Endpoint != "10.231.0.2:51821" ||
		obs.WireGuard.Peers[0].PersistentKeepalive != 5 {
		t.Fatalf("wireguard state %+v", obs.WireGuard)
	}
	for short, want := range p.specA().Sysctls {
		if got := readSysctl(t, p.a, p.na, short); got != want {
			t.Errorf("sysctl %s = %q, want %q", short, got, want)
		}
	}
	if got := readSysctl(t, p.a, p.na, "ipv6.addr_gen_mode"); got != addrGenModeNone {
		t.Errorf("addr_gen_mode = %q, want %s", got, addrGenModeNone)
	}

	ping(t, p.a, "172.23.0.2")
	ping(t, p.a, "fd42:23::2")
	ping(t, p.a, "fe80::2%"+p.na)

	obs = observe(t, p.ra, p.na)
	if pe := obs.WireGuard.Peers[0]; pe.LastHandshake == nil || pe.RxBytes == 0 || pe.TxBytes == 0 {
		t.Errorf("after traffic: peer %+v, want a handshake and counters", pe)
	}

	// `wg show` reads the same device through the UAPI socket.
	if _, err := exec.LookPath("wg"); err == nil {
		out, err := exec.Command("wg", "show", p.na).CombinedOutput()
		if err != nil || !strings.Contains(string(out), p.kb.PublicKey().String()) {
			t.Errorf("wg show %s: %v\n%s", p.na, err, out)
		}
	}

	// No-op: nothing to plan, nothing written.
	before := p.ra.Writes()
	if res := reconcile(t, p.ra, p.na, p.specA()); res.Changes != 0 {
		t.Errorf("no-op reconcile made %d changes", res.Changes)
	}
	if w := p.ra.Writes(); w != before {
		t.Errorf("no-op reconcile wrote: %+v -> %+v", before, w)
	}
	if lines, err := p.ra.Plan(context.Background(), p.na, object(t, p.na, p.specA())); err != nil || len(lines) != 0 {
		t.Errorf("plan of a converged tunnel = %q, %v", lines, err)
	}
}

// TestInPlaceChanges applies one change at a time and checks that each is applied with the
// interface kept (same ifindex: no BGP flap), and that traffic still flows afterwards.
func TestInPlaceChanges(t *testing.T) {
	p := newWGPair(t, ModeUserspace)
	reconcile(t, p.ra, p.na, p.specA())
	reconcile(t, p.rb, p.nb, p.specB())
	ping(t, p.a, "172.23.0.2")
	ifindex := observe(t, p.ra, p.na).Ifindex
	otherKey, _ := wgtypes.GeneratePrivateKey()

	cases := []struct {
		name   string
		change func(s *v1alpha1.TunnelSpec)
		check  func(t *testing.T, o *Observed)
	}{
		{"keepalive", func(s *v1alpha1.TunnelSpec) { s.WireGuard.PersistentKeepalive = 9 },
			func(t *testing.T, o *Observed) {
				expect(t, o.WireGuard.Peers[0].PersistentKeepalive == 9, "keepalive %+v", o.WireGuard.Peers[0])
			}},
		{"listen port", func(s *v1alpha1.TunnelSpec) { s.WireGuard.ListenPort = 51830 },
			func(t *testing.T, o *Observed) {
				expect(t, o.WireGuard.ListenPort == 51830, "port %d", o.WireGuard.ListenPort)
			}},
		{"mtu", func(s *v1alpha1.TunnelSpec) { s.MTU = 1380 },
			func(t *testing.T, o *Observed) { expect(t, o.MTU == 1380, "mtu %d", o.MTU) }},
		{"allowed ips", func(s *v1alpha1.TunnelSpec) {
			s.WireGuard.AllowedIPs = []string{"172.23.0.0/16", "fd42:23::/64", "fe80::/64"}
		},
			func(t *testing.T, o *Observed) {
				expect(t, slices.Contains(o.WireGuard.Peers[0].AllowedIPs, "172.23.0.0/16"), "allowed %v", o.WireGuard.Peers[0].AllowedIPs)
			}},
		{"sysctl", func(s *v1alpha1.TunnelSpec) { s.Sysctls["ipv4.rp_filter"] = "2" },
			func(t *testing.T, o *Observed) {
				expect(t, readSysctl(t, p.a, p.na, "ipv4.rp_filter") == "2", "rp_filter not 2")
			}},
		{"ipv6 address", func(s *v1alpha1.TunnelSpec) { s.LocalIPv6 = "fd42:23::11" },
			func(t *testing.T, o *Observed) {
				expect(t, slices.Contains(o.Addresses, "fd42:23::11/128 peer fd42:23::2") && !slices.Contains(o.Addresses, "fd42:23::1/128 peer fd42:23::2"), "addresses %v", o.Addresses)
			}},
		{"link-local address", func(s *v1alpha1.TunnelSpec) { s.LocalIPv6LinkLocal = "fe80::11" },
			func(t *testing.T, o *Observed) {
				expect(t, slices.Contains(o.Addresses, "fe80::11/64 peer fe80::2") && !slices.Contains(o.Addresses, "fe80::1/64 peer fe80::2"), "addresses %v", o.Addresses)
			}},
		{"peer ipv6 and route", func(s *v1alpha1.TunnelSpec) { s.PeerIPv6 = "fd42:23::22" },
			func(t *testing.T, o *Observed) {
				expect(t, slices.Equal(o.Routes, []string{"fd42:23::22/128"}), "routes %v", o.Routes)
			}},
		{"endpoint", func(s *v1alpha1.TunnelSpec) { s.WireGuard.Endpoint = "10.231.0.2:51829" },
			func(t *testing.T, o *Observed) {
				expect(t, o.WireGuard.Peers[0].Endpoint == "10.231.0.2:51829", "endpoint %s", o.WireGuard.Peers[0].Endpoint)
			}},
		{"peer key", func(s *v1alpha1.TunnelSpec) { s.WireGuard.PeerPublicKey = otherKey.PublicKey().String() },
			func(t *testing.T, o *Observed) {
				expect(t, len(o.WireGuard.Peers) == 1 && o.WireGuard.Peers[0].PublicKey == otherKey.PublicKey().String(), "peers %+v", o.WireGuard.Peers)
			}},
		{"ipv4 family dropped", func(s *v1alpha1.TunnelSpec) { s.PeerIPv4 = "" },
			func(t *testing.T, o *Observed) {
				for _, a := range o.Addresses {
					expect(t, !strings.HasPrefix(a, "172.23."), "ipv4 address %s kept without a peer ipv4", a)
				}
			}},
	}
	spec := p.specA()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.change(spec)
			lines, err := p.ra.Plan(context.Background(), p.na, object(t, p.na, spec))
			if err != nil || len(lines) == 0 {
				t.Fatalf("plan = %q, %v; want changes", lines, err)
			}
			res := reconcile(t, p.ra, p.na, spec)
			if res.Changes == 0 {
				t.Fatalf("change made no write (plan %q)", lines)
			}
			o := observe(t, p.ra, p.na)
			if o.Ifindex != ifindex {
				t.Fatalf("ifindex %d -> %d: the interface was recreated", ifindex, o.Ifindex)
			}
			c.check(t, o)
			if res := reconcile(t, p.ra, p.na, spec); res.Changes != 0 {
				t.Errorf("second reconcile after the change made %d writes", res.Changes)
			}
		})
		// The first changes keep the tunnel working: b follows a's new port by roaming.
		if c.name == "allowed ips" {
			ping(t, p.a, "172.23.0.2")
		}
	}
}

func expect(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}

func readSysctl(t testing.TB, ns *netlab.Namespace, ifname, short string) string {
	t.Helper()
	var b []byte
	if err := ns.Do(func() (err error) {
		b, err = os.ReadFile(sysctlPath(ifname, short))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestOwnership checks the managed-prefix rule at resync: an orphan with the prefix is removed,
// an interface without it is never listed, changed or deleted, and a desired tunnel named
// outside the prefix is a terminal error.
func TestOwnership(t *testing.T) {
	ns := netlab.NewNamespace(t, "tun-own")
	r := newReconciler(t, ns, ModeUserspace, logr.Discard())
	h := ns.Handle()

	orphan := tunnelName()
	foreign := "xq" + netlab.RandomSuffix(8)
	for _, n := range []string{orphan, foreign} {
		if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: n}, PeerName: "p" + n[1:]}); err != nil {
			t.Fatal(err)
		}
	}
	foreignLink, err := h.LinkByName(foreign)
	if err != nil {
		t.Fatal(err)
	}
	keep := tunnelName()
	f, k := keyFile(t)
	peer, _ := wgtypes.GeneratePrivateKey()
	_ = k
	keepSpec := &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelWireGuard, WireGuard: &v1alpha1.WireGuardSpec{PrivateKeyFile: f, PeerPublicKey: peer.PublicKey().String()}}
	desired := map[string]*v1alpha1.TunnelSpec{keep: keepSpec}
	reconcile(t, r, keep, keepSpec)

	// A resync as the manager runs it: desired keys plus observed keys.
	observed, err := r.Observed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(observed, orphan) || !slices.Contains(observed, keep) || slices.Contains(observed, foreign) {
		t.Fatalf("observed = %v, want %s and %s but not %s", observed, orphan, keep, foreign)
	}
	for _, key := range observed {
		reconcile(t, r, key, desired[key])
	}
	if _, err := h.LinkByName(orphan); err == nil {
		t.Errorf("orphan %s still exists after resync", orphan)
	}
	if l, err := h.LinkByName(keep); err != nil {
		t.Errorf("desired %s removed: %v", keep, err)
	} else if l.Type() != "tuntap" {
		t.Errorf("desired %s is %s", keep, l.Type())
	}

	// Outside the prefix: a nil desired is a no-op, a desired spec a terminal error naming the rule.
	if res := reconcile(t, r, foreign, nil); res.Changes != 0 {
		t.Errorf("delete of %s made %d writes", foreign, res.Changes)
	}
	_, err = r.Reconcile(context.Background(), foreign, object(t, foreign, &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelGRE, MTU: 1400, LocalIPv4: "10.1.1.1", PeerIPv4: "10.1.1.2", GRE: &v1alpha1.GRESpec{Remote: "192.0.2.1"}}))
	if err == nil || !controller.IsTerminal(err) || !strings.Contains(err.Error(), `managed prefix "dn"`) || !strings.Contains(err.Error(), foreign) {
		t.Errorf("reconcile of %s: %v, want a terminal error naming the prefix rule", foreign, err)
	}
	l, err := h.LinkByName(foreign)
	if err != nil || l.Attrs().Index != foreignLink.Attrs().Index || l.Attrs().MTU != foreignLink.Attrs().MTU {
		t.Fatalf("%s was touched: %v %v", foreign, l, err)
	}
	if addrs, _ := h.AddrList(l, netlink.FAMILY_ALL); len(addrs) != 0 {
		t.Errorf("%s got addresses %v", foreign, addrs)
	}

	// Removing the userspace device removes the interface and its UAPI socket.
	reconcile(t, r, keep, nil)
	if _, err := h.LinkByName(keep); err == nil {
		t.Errorf("%s still exists after delete", keep)
	}
	if _, err := os.Stat(filepath.Join(wgdev.SocketDir, keep+".sock")); !os.IsNotExist(err) {
		t.Errorf("uapi socket of %s: %v, want gone", keep, err)
	}
}

// TestTypeChangeRecreates checks that only a type change recreates the interface: an existing
// managed interface of another kind (here a veth standing in for a GRE the kernel lacks) is
// replaced by the WireGuard device.
func TestTypeChangeRecreates(t *testing.T) {
	ns := netlab.NewNamespace(t, "tun-type")
	r := newReconciler(t, ns, ModeUserspace, logr.Discard())
	name := tunnelName()
	if err := ns.Handle().LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: "p" + name[1:]}); err != nil {
		t.Fatal(err)
	}
	old, _ := ns.Handle().LinkByName(name)
	f, _ := keyFile(t)
	peer, _ := wgtypes.GeneratePrivateKey()
	spec := &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelWireGuard, WireGuard: &v1alpha1.WireGuardSpec{PrivateKeyFile: f, PeerPublicKey: peer.PublicKey().String()}}
	lines, err := r.Plan(context.Background(), name, object(t, name, spec))
	if err != nil || len(lines) == 0 || !strings.HasPrefix(lines[0], "delete interface: type veth, want tun") {
		t.Fatalf("plan = %q, %v", lines, err)
	}
	reconcile(t, r, name, spec)
	o := observe(t, r, name)
	if o.Type != "tun" || o.Ifindex == old.Attrs().Index {
		t.Fatalf("after type change: %+v (old ifindex %d)", o, old.Attrs().Index)
	}
}

// TestPlanGRE plans GRE and ip6gre tunnels, which this kernel may lack, without touching the
// node.
func TestPlanGRE(t *testing.T) {
	ns := netlab.NewNamespace(t, "tun-plan")
	r := newReconciler(t, ns, ModeUserspace, logr.Discard())
	for _, tc := range []struct {
		spec *v1alpha1.TunnelSpec
		want []string
	}{
		{&v1alpha1.TunnelSpec{Type: v1alpha1.TunnelGRE, MTU: 1400, LocalIPv4: "172.20.0.1", PeerIPv4: "172.20.0.2",
			GRE: &v1alpha1.GRESpec{Local: "192.0.2.1", Remote: "192.0.2.2"}},
			[]string{"create gre interface local 192.0.2.1 remote 192.0.2.2 ttl 255", "set link up", "add address 172.20.0.1/32 peer 172.20.0.2"}},
		{&v1alpha1.TunnelSpec{Type: v1alpha1.TunnelIP6GRE, LocalIPv6: "fd00::1", PeerIPv6: "fd00::2",
			GRE: &v1alpha1.GRESpec{Remote: "2001:db8::2"}},
			[]string{"create ip6gre interface local any remote 2001:db8::2 ttl 255 encaplimit none", "add address fd00::1/128 peer fd00::2", "add route fd00::2/128"}},
	} {
		name := tunnelName()
		lines, err := r.Plan(context.Background(), name, object(t, name, tc.spec))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !slices.Contains(lines, w) {
				t.Errorf("plan %q lacks %q", lines, w)
			}
		}
		if _, err := ns.Handle().LinkByName(name); err == nil {
			t.Errorf("plan created %s", name)
		}
	}
}

// TestSecretsNeverShown runs a reconcile with every log level on and checks that the private
// key appears in no log line, plan line, error or observed state.
func TestSecretsNeverShown(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logs.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
	ns := netlab.NewNamespace(t, "tun-sec")
	r := newReconciler(t, ns, ModeUserspace, log)
	name := tunnelName()
	f, k := keyFile(t)
	peer, _ := wgtypes.GeneratePrivateKey()
	spec := &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelWireGuard, LocalIPv4: "172.20.1.1", PeerIPv4: "172.20.1.2",
		WireGuard: &v1alpha1.WireGuardSpec{PrivateKeyFile: f, ListenPort: 40000, PeerPublicKey: peer.PublicKey().String(), Endpoint: "192.0.2.9:51820"}}
	lines, err := r.Plan(context.Background(), name, object(t, name, spec))
	if err != nil {
		t.Fatal(err)
	}
	res := reconcile(t, r, name, spec)
	js, _ := json.Marshal(res.Observed)
	// A key file holding garbage must not echo it either.
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("sekrit-not-a-key"), 0o600)
	spec.WireGuard.PrivateKeyFile = bad
	_, badErr := r.Reconcile(context.Background(), name, object(t, name, spec))
	if badErr == nil {
		t.Fatal("a key file without a key was accepted")
	}
	r.Close() // stops wireguard-go's logging
	mu.Lock()
	defer mu.Unlock()
	all := logs.String() + strings.Join(lines, "\n") + string(js) + badErr.Error()
	hexKey := ""
	for _, b := range k {
		hexKey += string("0123456789abcdef"[b>>4]) + string("0123456789abcdef"[b&15])
	}
	for _, secret := range []string{k.String(), hexKey, "sekrit"} {
		if strings.Contains(all, secret) {
			t.Fatalf("secret %q shown:\n%s", secret, all)
		}
	}
	if !strings.Contains(string(js), k.PublicKey().String()) {
		t.Errorf("observed state lacks the public key: %s", js)
	}
}

// TestSysctlsFromNetlinkMatchProc checks that the sysctls read from the link message (the no-op
// path) are the values /proc/sys shows, for distinct values of every managed setting.
func TestSysctlsFromNetlinkMatchProc(t *testing.T) {
	ns := netlab.NewNamespace(t, "tun-sysctl")
	r := newReconciler(t, ns, ModeUserspace, logr.Discard())
	name := tunnelName()
	if err := ns.Handle().LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: "p" + name[1:]}); err != nil {
		t.Fatal(err)
	}
	values := map[string]string{"ipv4.forwarding": "1", "ipv4.rp_filter": "2", "ipv4.accept_local": "1",
		"ipv6.forwarding": "1", "ipv6.accept_ra": "2", "ipv6.autoconf": "0", "ipv6.addr_gen_mode": "1"}
	want := desiredSysctls(name, values)
	if err := r.writeSysctls(want); err != nil {
		t.Fatal(err)
	}
	st, err := r.getLink(name)
	if err != nil || st == nil {
		t.Fatal(err)
	}
	for short, v := range values {
		if got := st.conf[short]; got != v || readSysctl(t, ns, name, short) != v {
			t.Errorf("%s: netlink %q, /proc %q, want %q", short, got, readSysctl(t, ns, name, short), v)
		}
	}
}

// fakeResolver answers every name with addr and counts the lookups.
type fakeResolver struct {
	mu    sync.Mutex
	addr  netip.Addr
	calls int
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return []netip.Addr{f.addr}, nil
}

func (f *fakeResolver) set(a string) { f.mu.Lock(); f.addr = netip.MustParseAddr(a); f.mu.Unlock() }
func (f *fakeResolver) n() int       { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

// TestStaleEndpointReresolved checks that a host-name endpoint is resolved when it is first set
// or changed, not on every reconcile, and again once the peer's handshake is older than
// StaleHandshake (here: the peer never answered since the endpoint was set).
func TestStaleEndpointReresolved(t *testing.T) {
	ns := netlab.NewNamespace(t, "tun-stale")
	res := &fakeResolver{}
	res.set("192.0.2.10")
	const stale = 300 * time.Millisecond
	r, err := New(Options{NetNS: ns.NsHandle(), WireGuardMode: ModeUserspace, StaleHandshake: stale, Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	name := tunnelName()
	f, _ := keyFile(t)
	peer, _ := wgtypes.GeneratePrivateKey()
	spec := &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelWireGuard, WireGuard: &v1alpha1.WireGuardSpec{
		PrivateKeyFile: f, PeerPublicKey: peer.PublicKey().String(), Endpoint: "peer.example.test:51820"}}
	endpoint := func() string { return observe(t, r, name).WireGuard.Peers[0].Endpoint }

	first := reconcile(t, r, name, spec)
	if got := endpoint(); got != "192.0.2.10:51820" || res.n() != 1 {
		t.Fatalf("endpoint %s after %d lookups, want 192.0.2.10:51820 after 1", got, res.n())
	}
	if first.RequeueAfter <= 0 || first.RequeueAfter > stale+time.Second {
		t.Errorf("requeue after %s, want about the stale age %s", first.RequeueAfter, stale)
	}
	if again := reconcile(t, r, name, spec); again.Changes != 0 || res.n() != 1 {
		t.Fatalf("fresh endpoint: %d writes, %d lookups; want 0 and no new lookup", again.Changes, res.n())
	}

	res.set("192.0.2.20")
	time.Sleep(stale + 100*time.Millisecond) // no handshake since the endpoint was set: stale
	lines, err := r.Plan(context.Background(), name, object(t, name, spec))
	if err != nil || len(lines) != 1 || !strings.Contains(lines[0], "re-resolved") {
		t.Fatalf("plan of a stale endpoint = %q, %v", lines, err)
	}
	if got := reconcile(t, r, name, spec); got.Changes != 1 {
		t.Fatalf("stale endpoint: %d writes, want 1", got.Changes)
	}
	if got := endpoint(); got != "192.0.2.20:51820" {
		t.Fatalf("endpoint after re-resolution %s, want 192.0.2.20:51820", got)
	}
	if got := reconcile(t, r, name, spec); got.Changes != 0 {
		t.Errorf("right after re-resolution: %d writes", got.Changes)
	}

	// A changed host name is resolved at once.
	res.set("192.0.2.30")
	spec.WireGuard.Endpoint = "other.example.test:51821"
	before := res.n()
	reconcile(t, r, name, spec)
	if got := endpoint(); got != "192.0.2.30:51821" || res.n() != before+1 {
		t.Fatalf("endpoint after host change %s (%d lookups)", got, res.n()-before)
	}
}

// TestUserspaceRestartRecreates checks the userspace device's life: Close (agent exit) takes the
// interface and its UAPI socket away, and a new reconciler (agent restart) builds it again.
func TestUserspaceRestartRecreates(t *testing.T) {
	ns := netlab.NewNamespace(t, "tun-restart")
	r1, err := New(Options{NetNS: ns.NsHandle(), WireGuardMode: ModeUserspace})
	if err != nil {
		t.Fatal(err)
	}
	name := tunnelName()
	f, _ := keyFile(t)
	peer, _ := wgtypes.GeneratePrivateKey()
	spec := &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelWireGuard, LocalIPv4: "172.20.9.1", PeerIPv4: "172.20.9.2",
		WireGuard: &v1alpha1.WireGuardSpec{PrivateKeyFile: f, ListenPort: 41000, PeerPublicKey: peer.PublicKey().String()}}
	reconcile(t, r1, name, spec)
	r1.Close()
	if _, err := ns.Handle().LinkByName(name); err == nil {
		t.Fatalf("%s survived Close", name)
	}
	if _, err := os.Stat(filepath.Join(wgdev.SocketDir, name+".sock")); !os.IsNotExist(err) {
		t.Fatalf("uapi socket after Close: %v", err)
	}
	r2 := newReconciler(t, ns, ModeUserspace, logr.Discard())
	if res := reconcile(t, r2, name, spec); res.Changes == 0 {
		t.Fatal("restart did not rebuild the device")
	}
	o := observe(t, r2, name)
	if !o.Exists || o.WireGuard == nil || o.WireGuard.ListenPort != 41000 || len(o.Addresses) != 1 {
		t.Fatalf("after restart: %+v", o)
	}
	if res := reconcile(t, r2, name, spec); res.Changes != 0 {
		t.Errorf("second reconcile after restart: %d writes", res.Changes)
	}
}

// TestUserspaceTUNDeletedExternally deletes a userspace device's TUN behind the agent's back:
// the next reconcile rebuilds it, and once the tunnel is no longer desired the resync stops the
// device.
func TestUserspaceTUNDeletedExternally(t *testing.T) {
	ns := netlab.NewNamespace(t, "tun-ext")
	r := newReconciler(t, ns, ModeUserspace, logr.Discard())
	name := tunnelName()
	f, _ := keyFile(t)
	peer, _ := wgtypes.GeneratePrivateKey()
	spec := &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelWireGuard, WireGuard: &v1alpha1.WireGuardSpec{PrivateKeyFile: f, PeerPublicKey: peer.PublicKey().String()}}
	reconcile(t, r, name, spec)
	del := func() {
		t.Helper()
		l, err := ns.Handle().LinkByName(name)
		if err == nil {
			err = ns.Handle().LinkDel(l)
		}
		if err != nil {
			t.Fatalf("delete %s behind the agent: %v", name, err)
		}
	}
	del()
	if res := reconcile(t, r, name, spec); res.Changes == 0 {
		t.Fatal("reconcile did not rebuild the deleted device")
	}
	if o := observe(t, r, name); !o.Exists || o.WireGuard == nil {
		t.Fatalf("after rebuild: %+v", o)
	}
	del()
	keys, err := r.Observed(context.Background())
	if err != nil || !slices.Contains(keys, name) {
		t.Fatalf("observed %v, %v: want the running device %s", keys, err, name)
	}
	reconcile(t, r, name, nil)
	if r.devs.Get(name) != nil {
		t.Fatal("device still running after delete")
	}
	if keys, _ := r.Observed(context.Background()); slices.Contains(keys, name) {
		t.Fatalf("observed %v after delete", keys)
	}
}

// TestAutoModeMatchesProbe checks that auto mode runs WireGuard in the kernel exactly when the
// probe finds the kind, and in userspace otherwise (the host without the module), and that the
// probe leaves no interface behind.
func TestAutoModeMatchesProbe(t *testing.T) {
	ns := netlab.NewNamespace(t, "tun-auto")
	r := newReconciler(t, ns, ModeAuto, logr.Discard())
	kernel, err := r.probeKernelWireGuard()
	if err != nil {
		t.Fatal(err)
	}
	name := tunnelName()
	f, _ := keyFile(t)
	peer, _ := wgtypes.GeneratePrivateKey()
	reconcile(t, r, name, &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelWireGuard, WireGuard: &v1alpha1.WireGuardSpec{PrivateKeyFile: f, PeerPublicKey: peer.PublicKey().String()}})
	want := map[bool]string{true: "kernel", false: "userspace"}[kernel]
	if o := observe(t, r, name); o.Implementation != want {
		t.Fatalf("kernel wireguard %v: implementation %q, want %q", kernel, o.Implementation, want)
	}
	keys, err := r.Observed(context.Background())
	if err != nil || !slices.Equal(keys, []string{name}) {
		t.Fatalf("observed %v, %v: want only %s (no probe link)", keys, err, name)
	}
	t.Logf("kernel wireguard: %v, implementation %s", kernel, want)
}
