package netlab

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

func TestVethTraffic(t *testing.T) {
	a := NewNamespace(t, "nlt-a")
	b := NewNamespace(t, "nlt-b")
	ifA, ifB := Veth(t, a, b, "10.77.0.1/24", "10.77.0.2/24")
	if _, err := a.Handle().LinkByName(ifA); err != nil {
		t.Fatalf("veth end %s not in namespace a: %v", ifA, err)
	}
	if _, err := b.Handle().LinkByName(ifB); err != nil {
		t.Fatalf("veth end %s not in namespace b: %v", ifB, err)
	}
	if _, err := a.Handle().LinkByName(ifB); err == nil {
		t.Fatalf("veth end %s leaked into namespace a", ifB)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	echo := b.UDPEcho(t, "10.77.0.2:0")
	if err := a.UDPExchange(ctx, echo.String(), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("ping"); err == nil {
		if out, err := a.Run(ctx, "ping", "-c1", "-W2", "10.77.0.2"); err != nil {
			t.Fatalf("ping: %v\n%s", err, out)
		}
	}
}

func TestVethIPv6NoDAD(t *testing.T) {
	a := NewNamespace(t, "nlt6a")
	b := NewNamespace(t, "nlt6b")
	Veth(t, a, b, "fd77::1/64", "fd77::2/64")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	echo := b.UDPEcho(t, "[fd77::2]:0")
	if err := a.UDPExchange(ctx, echo.String(), []byte("hello6")); err != nil {
		t.Fatal(err)
	}
}

func TestDoRestoresThread(t *testing.T) {
	a := NewNamespace(t, "nlt-do")
	var inside []netlink.Link
	if err := a.Do(func() (err error) {
		inside, err = netlink.LinkList()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(inside) != 1 || inside[0].Attrs().Name != "lo" {
		t.Fatalf("links inside new namespace = %v, want only lo", inside)
	}
	if got := a.Path(); got == "" {
		t.Fatal("empty path")
	}
}

func TestCloseRemovesNamedMount(t *testing.T) {
	RequireRoot(t)
	ns, err := newNamespace("nlt-close")
	if err != nil {
		t.Fatal(err)
	}
	p := ns.Path()
	named := ns.Named
	if err := ns.Close(); err != nil {
		t.Fatal(err)
	}
	if named {
		if _, err := exec.Command("test", "-e", p).CombinedOutput(); err == nil {
			t.Fatalf("%s still exists after Close", p)
		}
	}
}
