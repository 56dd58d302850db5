//go:build kernellab

package smoketest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// namespace is a named network namespace owned by one test.
type namespace struct {
	name string
	ns   netns.NsHandle
	nl   *netlink.Handle
}

// newNamespace creates a uniquely named namespace that t.Cleanup deletes, even on failure.
func newNamespace(t *testing.T) *namespace {
	t.Helper()
	if unix.Geteuid() != 0 {
		t.Skip("kernel lab tests need root (run them with hack/kernel-lab/run.sh)")
	}
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		t.Fatal(err)
	}
	name := "klsmoke-" + hex.EncodeToString(suffix[:])

	// NewNamed moves the calling thread into the new namespace: pin the goroutine to its
	// thread and move it back before anything else can be scheduled there.
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("namespace %s: get current: %v", name, err)
	}
	ns, err := netns.NewNamed(name)
	if rerr := netns.Set(orig); rerr != nil {
		// The thread is stuck in the wrong namespace: leave it locked so the runtime retires it.
		t.Fatalf("namespace %s: restore original namespace: %v", name, rerr)
	}
	orig.Close()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("namespace %s: create: %v", name, err)
	}
	t.Cleanup(func() {
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("namespace %s: delete: %v", name, err)
		}
	})
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("namespace %s: netlink handle: %v", name, err)
	}
	t.Cleanup(nl.Close)
	lo, err := nl.LinkByName("lo")
	if err != nil {
		t.Fatalf("namespace %s: find lo: %v", name, err)
	}
	if err := nl.LinkSetUp(lo); err != nil {
		t.Fatalf("namespace %s: set lo up: %v", name, err)
	}
	return &namespace{name: name, ns: ns, nl: nl}
}

// do runs fn on a thread inside the namespace; sockets fn opens stay in the namespace.
func (n *namespace) do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(n.ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	fnErr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime retires it when the goroutine ends.
		return errors.Join(fnErr, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// addLink creates link in the namespace, sets it up and gives it addrs (CIDR strings).
func (n *namespace) addLink(t *testing.T, link netlink.Link, addrs ...string) {
	t.Helper()
	name := link.Attrs().Name
	if err := n.nl.LinkAdd(link); err != nil {
		t.Fatalf("namespace %s: add %s link %s: %v", n.name, link.Type(), name, err)
	}
	n.up(t, name, addrs...)
}

// up sets an existing link up and adds addrs without duplicate address detection, so IPv6
// underlay addresses are usable at once.
func (n *namespace) up(t *testing.T, name string, addrs ...string) {
	t.Helper()
	link, err := n.nl.LinkByName(name)
	if err != nil {
		t.Fatalf("namespace %s: find link %s: %v", n.name, name, err)
	}
	for _, a := range addrs {
		addr, err := netlink.ParseAddr(a)
		if err != nil {
			t.Fatal(err)
		}
		addr.Flags = unix.IFA_F_NODAD
		if err := n.nl.AddrAdd(link, addr); err != nil {
			t.Fatalf("namespace %s: add address %s to %s: %v", n.name, a, name, err)
		}
	}
	if err := n.nl.LinkSetUp(link); err != nil {
		t.Fatalf("namespace %s: set %s up: %v", n.name, name, err)
	}
}

// TestKernelLabLinkKinds checks that the VM kernel creates every link kind edgeagent manages
// and that WireGuard is the kernel implementation, not a userspace fallback.
func TestKernelLabLinkKinds(t *testing.T) {
	ns := newNamespace(t)
	peer := newNamespace(t)
	links := []struct {
		link netlink.Link
		kind string
	}{
		{&netlink.Gretun{LinkAttrs: netlink.LinkAttrs{Name: "gre1"},
			Local: net.ParseIP("192.0.2.1"), Remote: net.ParseIP("192.0.2.2"), Ttl: 64}, "gre"},
		{&netlink.Gretun{LinkAttrs: netlink.LinkAttrs{Name: "ip6gre1"},
			Local: net.ParseIP("2001:db8::1"), Remote: net.ParseIP("2001:db8::2"), Ttl: 64}, "ip6gre"},
		{&netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: "wg1"}}, "wireguard"},
		{&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth1"}, PeerName: "veth1p",
			PeerNamespace: netlink.NsFd(peer.ns)}, "veth"},
	}
	for _, l := range links {
		t.Run(l.kind, func(t *testing.T) {
			ns.addLink(t, l.link)
			got, err := ns.nl.LinkByName(l.link.Attrs().Name)
			if err != nil {
				t.Fatalf("find %s: %v", l.link.Attrs().Name, err)
			}
			if got.Type() != l.kind {
				t.Fatalf("link %s: kind %q, want %q", got.Attrs().Name, got.Type(), l.kind)
			}
		})
	}

	t.Run("veth peer in other namespace", func(t *testing.T) {
		p, err := peer.nl.LinkByName("veth1p")
		if err != nil {
			t.Fatalf("namespace %s: find veth1p: %v", peer.name, err)
		}
		if p.Type() != "veth" {
			t.Fatalf("veth1p: kind %q, want veth", p.Type())
		}
	})

	t.Run("wireguard is the kernel implementation", func(t *testing.T) {
		key, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		port := 51820
		var dev *wgtypes.Device
		err = ns.do(func() error {
			c, err := wgctrl.New()
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.ConfigureDevice("wg1", wgtypes.Config{PrivateKey: &key, ListenPort: &port}); err != nil {
				return err
			}
			dev, err = c.Device("wg1")
			return err
		})
		if err != nil {
			t.Fatalf("wg1: configure: %v", err)
		}
		if dev.Type != wgtypes.LinuxKernel {
			t.Fatalf("wg1: implementation %v, want %v", dev.Type, wgtypes.LinuxKernel)
		}
		if dev.ListenPort != port || dev.PublicKey != key.PublicKey() {
			t.Fatalf("wg1: listen port %d, public key %s; want %d, %s",
				dev.ListenPort, dev.PublicKey, port, key.PublicKey())
		}
	})
}

// TestKernelLabTunnelTraffic joins two namespaces with a veth pair (IPv4 and IPv6 underlay),
// builds each tunnel type across it and checks that a UDP datagram to the far inner address
// arrives from the near inner address, that is, through the tunnel.
func TestKernelLabTunnelTraffic(t *testing.T) {
	tunnels := []struct {
		name string
		// build creates the tunnel link on side i (0 or 1) of the underlay.
		build func(t *testing.T, side int, ns [2]*namespace)
		inner [2]string
	}{
		{
			name: "gre",
			build: func(t *testing.T, side int, ns [2]*namespace) {
				local, remote := []string{"10.99.0.1", "10.99.0.2"}[side], []string{"10.99.0.1", "10.99.0.2"}[1-side]
				ns[side].addLink(t, &netlink.Gretun{LinkAttrs: netlink.LinkAttrs{Name: "tun0"},
					Local: net.ParseIP(local), Remote: net.ParseIP(remote), Ttl: 64})
			},
			inner: [2]string{"10.100.0.1/30", "10.100.0.2/30"},
		},
		{
			name: "ip6gre",
			build: func(t *testing.T, side int, ns [2]*namespace) {
				local, remote := []string{"fd00:99::1", "fd00:99::2"}[side], []string{"fd00:99::1", "fd00:99::2"}[1-side]
				ns[side].addLink(t, &netlink.Gretun{LinkAttrs: netlink.LinkAttrs{Name: "tun0"},
					Local: net.ParseIP(local), Remote: net.ParseIP(remote), Ttl: 64})
			},
			inner: [2]string{"10.101.0.1/30", "10.101.0.2/30"},
		},
		{
			name:  "wireguard",
			build: nil, // both sides at once: each needs the other's public key
			inner: [2]string{"10.102.0.1/30", "10.102.0.2/30"},
		},
	}
	for _, tc := range tunnels {
		t.Run(tc.name, func(t *testing.T) {
			ns := [2]*namespace{newNamespace(t), newNamespace(t)}
			ns[0].addLink(t, &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "under0"}, PeerName: "under1",
				PeerNamespace: netlink.NsFd(ns[1].ns)}, "10.99.0.1/24", "fd00:99::1/64")
			ns[1].up(t, "under1", "10.99.0.2/24", "fd00:99::2/64")

			if tc.build != nil {
				for side := range 2 {
					tc.build(t, side, ns)
				}
			} else {
				buildWireGuard(t, ns)
			}
			for side := range 2 {
				ns[side].up(t, "tun0", tc.inner[side])
			}
			checkDatagram(t, ns, tc.inner)
		})
	}
}

// buildWireGuard creates a kernel WireGuard link tun0 on both sides, peered over the IPv4 underlay.
func buildWireGuard(t *testing.T, ns [2]*namespace) {
	t.Helper()
	var keys [2]wgtypes.Key
	for i := range keys {
		k, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	underlay := [2]string{"10.99.0.1", "10.99.0.2"}
	inner := [2]string{"10.102.0.1/32", "10.102.0.2/32"}
	for side := range 2 {
		ns[side].addLink(t, &netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: "tun0"}})
		port := 51820 + side
		_, allowed, _ := net.ParseCIDR(inner[1-side])
		cfg := wgtypes.Config{
			PrivateKey: &keys[side],
			ListenPort: &port,
			Peers: []wgtypes.PeerConfig{{
				PublicKey:  keys[1-side].PublicKey(),
				Endpoint:   &net.UDPAddr{IP: net.ParseIP(underlay[1-side]), Port: 51820 + 1 - side},
				AllowedIPs: []net.IPNet{*allowed},
			}},
		}
		err := ns[side].do(func() error {
			c, err := wgctrl.New()
			if err != nil {
				return err
			}
			defer c.Close()
			return c.ConfigureDevice("tun0", cfg)
		})
		if err != nil {
			t.Fatalf("namespace %s: configure wireguard tun0: %v", ns[side].name, err)
		}
	}
}

// checkDatagram sends UDP datagrams from side 0 to side 1's inner address until one arrives,
// and checks it came from side 0's inner address.
func checkDatagram(t *testing.T, ns [2]*namespace, inner [2]string) {
	t.Helper()
	src, _, _ := net.ParseCIDR(inner[0])
	dst, _, _ := net.ParseCIDR(inner[1])

	var rx, tx *net.UDPConn
	if err := ns[1].do(func() (err error) {
		rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: dst})
		return err
	}); err != nil {
		t.Fatalf("namespace %s: listen on %s: %v", ns[1].name, dst, err)
	}
	defer rx.Close()
	if err := ns[0].do(func() (err error) {
		tx, err = net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		t.Fatalf("namespace %s: dial %s: %v", ns[0].name, rx.LocalAddr(), err)
	}
	defer tx.Close()

	// Resend: the first datagrams can be lost while WireGuard completes its handshake.
	want := "kernel-lab " + t.Name()
	buf := make([]byte, 1500)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := tx.Write([]byte(want)); err != nil {
			t.Fatalf("send to %s: %v", rx.LocalAddr(), err)
		}
		if err := rx.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		n, from, err := rx.ReadFromUDP(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			t.Fatalf("receive on %s: %v", rx.LocalAddr(), err)
		}
		if got := string(buf[:n]); got != want {
			t.Fatalf("received %q, want %q", got, want)
		}
		if !from.IP.Equal(src) {
			t.Fatalf("datagram came from %s, want %s (the far tunnel address)", from.IP, src)
		}
		return
	}
	t.Fatalf("no datagram from %s reached %s within 15s", src, rx.LocalAddr())
}
