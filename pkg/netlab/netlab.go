// Package netlab builds throw-away network labs for tests: network namespaces joined by veth
// pairs, set up entirely in Go (netns + netlink) so the same helpers work on a developer machine
// and inside the busybox-only kernel-lab VM. Everything a helper creates is removed in t.Cleanup,
// even when the test fails.
package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named namespaces are bind-mounted, the directory `ip netns` uses.
const NetnsDir = "/var/run/netns"

// Namespace is a network namespace made for one test. It is held open by a file descriptor, so it
// works without /var/run/netns; when the bind mount under NetnsDir succeeds it is also reachable
// by name (`ip netns exec NAME ...`).
type Namespace struct {
	// Name is unique per test run (prefix plus a random suffix).
	Name string
	// Named reports whether the namespace is bind-mounted at NetnsDir/Name.
	Named bool

	ns netns.NsHandle
	h  *netlink.Handle
}

// RequireRoot skips the test unless it runs as root, which namespaces and interfaces need.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and interfaces")
	}
}

// RandomSuffix returns n random lower-case hex characters, for names that must not collide with
// those of tests running in parallel.
func RandomSuffix(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)[:n]
}

// NewNamespace creates a fresh network namespace named prefix-<random>, with its loopback up,
// and removes it in t.Cleanup. It skips the test when not run as root.
func NewNamespace(t testing.TB, prefix string) *Namespace {
	t.Helper()
	RequireRoot(t)
	ns, err := newNamespace(prefix)
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Errorf("netlab: %v", err)
		}
	})
	return ns
}

func newNamespace(prefix string) (*Namespace, error) {
	name := prefix + "-" + RandomSuffix(8)
	var handle netns.NsHandle
	err := onNewThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return fmt.Errorf("namespace %s: get current: %w", name, err)
		}
		defer orig.Close()
		handle, err = netns.New() // unshares this (locked) thread only
		if err != nil {
			return fmt.Errorf("namespace %s: create: %w", name, err)
		}
		if err := netns.Set(orig); err != nil {
			return errThreadTainted{fmt.Errorf("namespace %s: restore thread namespace: %w", name, err)}
		}
		return nil
	})
	if err != nil {
		if handle.IsOpen() {
			handle.Close()
		}
		return nil, err
	}
	n := &Namespace{Name: name, ns: handle}
	n.Named = n.bindMount() == nil
	n.h, err = netlink.NewHandleAt(handle)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("namespace %s: netlink handle: %w", name, err)
	}
	lo, err := n.h.LinkByName("lo")
	if err == nil {
		err = n.h.LinkSetUp(lo)
	}
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("namespace %s: set lo up: %w", name, err)
	}
	return n, nil
}

// bindMount makes the namespace visible to `ip netns`; labs without /var/run/netns (the VM)
// work without it.
func (n *Namespace) bindMount() error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return err
	}
	p := filepath.Join(NetnsDir, n.Name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	src := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(n.ns))
	if err := unix.Mount(src, p, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(p)
		return err
	}
	return nil
}

// Close removes the namespace: the netlink handle, the bind mount and the descriptor. The kernel
// frees it (and the interfaces in it) once no process or socket still uses it. NewNamespace
// calls Close in t.Cleanup.
func (n *Namespace) Close() error {
	var errs []error
	if n.h != nil {
		n.h.Close()
		n.h = nil
	}
	if n.Named {
		p := filepath.Join(NetnsDir, n.Name)
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("namespace %s: unmount: %w", n.Name, err))
		}
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			errs = append(errs, fmt.Errorf("namespace %s: remove: %w", n.Name, err))
		}
		n.Named = false
	}
	if n.ns.IsOpen() {
		n.ns.Close()
	}
	return errors.Join(errs...)
}

// Handle returns a netlink handle bound to the namespace; it is closed with the namespace.
func (n *Namespace) Handle() *netlink.Handle { return n.h }

// NsHandle returns the namespace's file descriptor handle (owned by the Namespace: do not close).
func (n *Namespace) NsHandle() netns.NsHandle { return n.ns }

// Path returns a path that opens the namespace (for nsenter --net=PATH or netns.GetFromPath).
func (n *Namespace) Path() string {
	if n.Named {
		return filepath.Join(NetnsDir, n.Name)
	}
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(n.ns))
}

// errThreadTainted marks a failure to move a locked thread back to its namespace: the thread
// must then die with its goroutine instead of returning to the scheduler.
type errThreadTainted struct{ error }

func (e errThreadTainted) Unwrap() error { return e.error }

// onNewThread runs fn on a fresh goroutine locked to its OS thread and waits for it. If fn leaves
// the thread in a foreign namespace (errThreadTainted), the thread is never unlocked, so the Go
// runtime destroys it when the goroutine exits.
func onNewThread(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := fn()
		var tainted errThreadTainted
		if !errors.As(err, &tainted) {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// Do runs fn on an OS thread that is inside the namespace and waits for it. Sockets fn opens
// belong to the namespace for their whole life; processes fn starts (exec.Cmd.Start) are born
// in it. Goroutines fn starts do NOT inherit the namespace.
func (n *Namespace) Do(fn func() error) error {
	return onNewThread(func() error {
		orig, err := netns.Get()
		if err != nil {
			return fmt.Errorf("get current namespace: %w", err)
		}
		defer orig.Close()
		if err := netns.Set(n.ns); err != nil {
			return fmt.Errorf("enter namespace: %w", err)
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			return errThreadTainted{errors.Join(ferr, fmt.Errorf("restore thread namespace: %w", err))}
		}
		return ferr
	})
}

// Start starts cmd inside the namespace (the child is forked from a thread in it).
func (n *Namespace) Start(cmd *exec.Cmd) error {
	return n.Do(cmd.Start)
}

// Run runs name with args inside the namespace and returns its combined output; the error
// includes the output so a failing test shows why.
func (n *Namespace) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := n.Start(cmd); err != nil {
		return nil, fmt.Errorf("namespace %s: start %s: %w", n.Name, name, err)
	}
	err := cmd.Wait()
	if err != nil {
		err = fmt.Errorf("namespace %s: %s %s: %w: %s", n.Name, name, strings.Join(args, " "), err, out.String())
	}
	return []byte(out.String()), err
}

// Veth joins a and b with a veth pair, puts addrA on a's end and addrB on b's end (CIDRs such as
// "10.9.0.1/24" or "fd00::1/64"; "" for none; IPv6 is added without DAD so it is usable at
// once), sets both ends up and returns their names. The pair dies with either namespace.
func Veth(t testing.TB, a, b *Namespace, addrA, addrB string) (nameA, nameB string) {
	t.Helper()
	suffix := RandomSuffix(6)
	nameA, nameB = "vla"+suffix, "vlb"+suffix
	la := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: nameA},
		PeerName:  nameB,
	}
	la.PeerNamespace = netlink.NsFd(int(b.ns))
	if err := a.h.LinkAdd(la); err != nil {
		t.Fatalf("netlab: veth %s/%s: add: %v", nameA, nameB, err)
	}
	t.Cleanup(func() {
		if l, err := a.h.LinkByName(nameA); err == nil {
			a.h.LinkDel(l)
		}
	})
	for _, side := range []struct {
		ns   *Namespace
		name string
		addr string
	}{{a, nameA, addrA}, {b, nameB, addrB}} {
		if err := AddrUp(side.ns.h, side.name, side.addr); err != nil {
			t.Fatalf("netlab: %v", err)
		}
	}
	return nameA, nameB
}

// AddrUp adds cidr (if not "") to the interface name through h, without DAD for IPv6, and sets
// the interface up.
func AddrUp(h *netlink.Handle, name, cidr string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("interface %s: find: %w", name, err)
	}
	if cidr != "" {
		a, err := netlink.ParseAddr(cidr)
		if err != nil {
			return fmt.Errorf("interface %s: parse address %q: %w", name, cidr, err)
		}
		if a.IP.To4() == nil {
			a.Flags |= unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(l, a); err != nil {
			return fmt.Errorf("interface %s: add address %s: %w", name, cidr, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("interface %s: set up: %w", name, err)
	}
	return nil
}

// UDPEcho listens on addr (e.g. "10.9.0.2:0") inside the namespace and echoes every datagram
// back until the test ends. It returns the bound address. Traffic checks use it where no ping
// binary exists (the kernel-lab VM).
func (n *Namespace) UDPEcho(t testing.TB, addr string) *net.UDPAddr {
	t.Helper()
	var pc net.PacketConn
	if err := n.Do(func() (err error) {
		pc, err = net.ListenPacket("udp", addr)
		return err
	}); err != nil {
		t.Fatalf("netlab: namespace %s: listen udp %s: %v", n.Name, addr, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:k], from)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().(*net.UDPAddr)
}

// UDPExchange sends payload from inside the namespace to addr and waits for the echo, resending
// every 200 ms (a tunnel may still be handshaking) until ctx ends. It returns nil once the same
// payload comes back.
func (n *Namespace) UDPExchange(ctx context.Context, addr string, payload []byte) error {
	var conn net.Conn
	if err := n.Do(func() (err error) {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "udp", addr)
		return err
	}); err != nil {
		return fmt.Errorf("namespace %s: dial udp %s: %w", n.Name, addr, err)
	}
	defer conn.Close()
	buf := make([]byte, len(payload)+1)
	var lastErr error
	for ctx.Err() == nil {
		if _, err := conn.Write(payload); err != nil {
			lastErr = err // e.g. ECONNREFUSED from an earlier ICMP error; try again
		}
		conn.SetReadDeadline(nextDeadline(ctx))
		k, err := conn.Read(buf)
		if err == nil && string(buf[:k]) == string(payload) {
			return nil
		}
		if err != nil {
			lastErr = err
		}
	}
	return fmt.Errorf("namespace %s: udp exchange with %s: %w (last error: %v)", n.Name, addr, ctx.Err(), lastErr)
}

func nextDeadline(ctx context.Context) time.Time {
	d := time.Now().Add(200 * time.Millisecond)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}
