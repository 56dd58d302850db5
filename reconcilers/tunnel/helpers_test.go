package tunnel

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/netlab"
)

// tunnelName returns a managed-prefix name unique across parallel tests (UAPI sockets of
// userspace devices share one directory across namespaces).
func tunnelName() string { return "dn" + netlab.RandomSuffix(8) }

// keyFile writes a fresh private key to a file and returns the file and the key.
func keyFile(t testing.TB) (string, wgtypes.Key) {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "wg.key")
	if err := os.WriteFile(p, []byte(k.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, k
}

// newReconciler returns a reconciler for ns, closed at cleanup.
func newReconciler(t testing.TB, ns *netlab.Namespace, mode string, log logr.Logger) *Reconciler {
	t.Helper()
	r, err := New(Options{Logger: log, NetNS: ns.NsHandle(), WireGuardMode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func object(t testing.TB, name string, spec *v1alpha1.TunnelSpec) *v1alpha1.Object {
	t.Helper()
	o, err := v1alpha1.NewObject("test", "", name, spec)
	if err != nil {
		t.Fatalf("tunnel %s: invalid spec: %v", name, err)
	}
	return o
}

// reconcile converges name to spec and returns the result, failing the test on error.
func reconcile(t testing.TB, r *Reconciler, name string, spec *v1alpha1.TunnelSpec) controller.Result {
	t.Helper()
	var obj *v1alpha1.Object
	if spec != nil {
		obj = object(t, name, spec)
	}
	res, err := r.Reconcile(context.Background(), name, obj)
	if err != nil {
		t.Fatalf("reconcile %s: %v", name, err)
	}
	return res
}

// observe reads the interface's state.
func observe(t testing.TB, r *Reconciler, name string) *Observed {
	t.Helper()
	o, err := r.Observe(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// wgPair is two namespaces joined by a veth (10.231.0.1 and .2), each with a reconciler.
type wgPair struct {
	a, b   *netlab.Namespace
	ra, rb *Reconciler
	na, nb string
	ka, kb wgtypes.Key
	fa, fb string
}

func newWGPair(t *testing.T, mode string) *wgPair {
	t.Helper()
	p := &wgPair{}
	p.a = netlab.NewNamespace(t, "tun-a")
	p.b = netlab.NewNamespace(t, "tun-b")
	netlab.Veth(t, p.a, p.b, "10.231.0.1/24", "10.231.0.2/24")
	p.ra = newReconciler(t, p.a, mode, logr.Discard())
	p.rb = newReconciler(t, p.b, mode, logr.Discard())
	p.na, p.nb = tunnelName(), tunnelName()
	p.fa, p.ka = keyFile(t)
	p.fb, p.kb = keyFile(t)
	return p
}

// specA is side a's tunnel to b: every address family, sysctls, a fixed port and keepalive.
func (p *wgPair) specA() *v1alpha1.TunnelSpec {
	return &v1alpha1.TunnelSpec{
		Type:               v1alpha1.TunnelWireGuard,
		MTU:                1420,
		LocalIPv4:          "172.23.0.1",
		PeerIPv4:           "172.23.0.2",
		LocalIPv6LinkLocal: "fe80::1",
		PeerIPv6LinkLocal:  "fe80::2",
		LocalIPv6:          "fd42:23::1",
		PeerIPv6:           "fd42:23::2",
		Sysctls:            map[string]string{"ipv4.forwarding": "1", "ipv4.rp_filter": "0", "ipv6.forwarding": "1", "ipv6.accept_ra": "0", "ipv6.autoconf": "0", "ipv4.accept_local": "1"},
		WireGuard: &v1alpha1.WireGuardSpec{
			PrivateKeyFile:      p.fa,
			ListenPort:          51820,
			PeerPublicKey:       p.kb.PublicKey().String(),
			Endpoint:            "10.231.0.2:51821",
			PersistentKeepalive: 5,
			AllowedIPs:          []string{"172.16.0.0/12", "fd00::/8", "fe80::/10"},
		},
	}
}

// specB is side b's mirror of specA.
func (p *wgPair) specB() *v1alpha1.TunnelSpec {
	return &v1alpha1.TunnelSpec{
		Type:               v1alpha1.TunnelWireGuard,
		LocalIPv4:          "172.23.0.2",
		PeerIPv4:           "172.23.0.1",
		LocalIPv6LinkLocal: "fe80::2",
		PeerIPv6LinkLocal:  "fe80::1",
		LocalIPv6:          "fd42:23::2",
		PeerIPv6:           "fd42:23::1",
		WireGuard: &v1alpha1.WireGuardSpec{
			PrivateKeyFile: p.fb,
			ListenPort:     51821,
			PeerPublicKey:  p.ka.PublicKey().String(),
			Endpoint:       "10.231.0.1:51820",
			AllowedIPs:     []string{"172.16.0.0/12", "fd00::/8", "fe80::/10"},
		},
	}
}

// ping pings addr from ns until one reply comes back or 15 s pass.
func ping(t *testing.T, ns *netlab.Namespace, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []byte
	var err error
	for ctx.Err() == nil {
		out, err = ns.Run(ctx, "ping", "-c1", "-W1", addr)
		if err == nil {
			return
		}
	}
	t.Fatalf("ping %s from %s: %v\n%s", addr, ns.Name, err, out)
}
