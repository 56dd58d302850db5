package wgdev

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/edgeagent/edgeagent/pkg/netlab"
)

// TestDeviceInNamespace runs a device in another namespace and configures it through wgctrl's
// UAPI backend: the TUN lives in the namespace, the socket serves wgctrl, and Remove takes both
// away.
func TestDeviceInNamespace(t *testing.T) {
	ns := netlab.NewNamespace(t, "wgdev")
	m := NewManager(logr.Discard())
	t.Cleanup(func() { m.Close() })
	name := "wgt" + netlab.RandomSuffix(8)
	d, err := m.Create(ns.NsHandle(), name, 1380)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ns.Handle().LinkByName(name)
	if err != nil || l.Attrs().Index != d.Index() || l.Attrs().MTU != 1380 {
		t.Fatalf("tun in namespace: %v, %v", l, err)
	}
	if _, err := net.InterfaceByName(name); err == nil {
		t.Fatalf("%s also visible in the test's own namespace", name)
	}
	if _, err := m.Create(ns.NsHandle(), name, 0); err == nil {
		t.Fatal("a second device of the same name was accepted")
	}
	fi, err := os.Stat(filepath.Join(SocketDir, name+".sock"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("uapi socket: %v %v, want mode 0600", fi, err)
	}

	c, err := wgctrl.New()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k, _ := wgtypes.GeneratePrivateKey()
	port := 47000
	if err := c.ConfigureDevice(name, wgtypes.Config{PrivateKey: &k, ListenPort: &port}); err != nil {
		t.Fatal(err)
	}
	dev, err := c.Device(name)
	if err != nil || dev.Type != wgtypes.Userspace || dev.PublicKey != k.PublicKey() || dev.ListenPort != port {
		t.Fatalf("device %+v, %v", dev, err)
	}

	if !m.Remove(name) || m.Get(name) != nil {
		t.Fatal("remove failed")
	}
	if _, err := ns.Handle().LinkByName(name); err == nil {
		t.Fatal("tun survived Remove")
	}
	if _, err := os.Stat(filepath.Join(SocketDir, name+".sock")); !os.IsNotExist(err) {
		t.Fatalf("uapi socket after Remove: %v", err)
	}
}

// TestUAPIOpenStaleAndLive replaces a socket nobody answers on and refuses one in use.
func TestUAPIOpenStaleAndLive(t *testing.T) {
	netlab.RequireRoot(t)
	name := "wgs" + netlab.RandomSuffix(8)
	path := filepath.Join(SocketDir, name+".sock")
	os.MkdirAll(SocketDir, 0o755)
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	f, err := uapiOpen(name)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer os.Remove(path)
	live, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if _, err := uapiOpen(name); err == nil {
		t.Fatal("a live socket was taken over")
	}
}
