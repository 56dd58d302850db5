// Package tunnel converges Tunnel objects (WireGuard, GRE, ip6gre) to kernel state through
// netlink, wgctrl and /proc/sys. It changes interfaces in place wherever the kernel allows, so a
// spec change never flaps the BGP session on top, and it adopts matching interfaces after a
// restart without writing anything. It only ever lists, changes or deletes interfaces whose name
// carries the managed prefix.
package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/wgdev"
)

// WireGuard implementation modes for Options.WireGuardMode.
const (
	// ModeAuto uses kernel WireGuard when the kernel has it, else the userspace implementation.
	ModeAuto = "auto"
	// ModeKernel requires kernel WireGuard.
	ModeKernel = "kernel"
	// ModeUserspace always runs WireGuard in the agent process on a TUN device.
	ModeUserspace = "userspace"
)

// Defaults for Options.
const (
	DefaultManagedPrefix  = "dn"
	DefaultStaleHandshake = 135 * time.Second
)

// Resolver resolves WireGuard endpoint host names; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a Reconciler. The zero value works: prefix "dn", 135 s stale handshake age,
// automatic WireGuard mode, the agent's own namespace and the system resolver.
type Options struct {
	// Logger receives change and adoption messages; private keys are never logged.
	Logger logr.Logger
	// ManagedPrefix marks the interfaces the reconciler owns (default "dn").
	ManagedPrefix string
	// StaleHandshake is the age of a peer's last handshake after which its endpoint host is
	// resolved and set again (default 135 s, as wireguard-tools' reresolve-dns).
	StaleHandshake time.Duration
	// WireGuardMode is ModeAuto (default), ModeKernel or ModeUserspace.
	WireGuardMode string
	// NetNS is the network namespace to manage. The zero value (or netns.None()) is the agent's
	// own. The reconciler keeps its own duplicate of the handle.
	NetNS netns.NsHandle
	// Resolver resolves endpoint host names (default net.DefaultResolver).
	Resolver Resolver
}

// Writes counts the mutating requests a Reconciler made, by kind.
type Writes struct {
	Netlink   uint64 `json:"netlink"`
	WireGuard uint64 `json:"wireguard"`
	Sysctl    uint64 `json:"sysctl"`
	// Device counts userspace devices started and stopped.
	Device uint64 `json:"device"`
}

// Total is the sum of all writes.
func (w Writes) Total() uint64 { return w.Netlink + w.WireGuard + w.Sysctl + w.Device }

// Reconciler converges Tunnel objects; it implements controller.Reconciler.
type Reconciler struct {
	opts   Options
	log    logr.Logger
	ns     netns.NsHandle // owned duplicate, or netns.None()
	h      *netlink.Handle
	rtSock *nl.SocketHandle
	devs   *wgdev.Manager

	wgMu     sync.Mutex
	wgKernel bool // decided once per reconciler
	wgReady  bool
	wg       *wgctrl.Client

	epMu sync.Mutex
	eps  map[string]endpointRecord

	counts [numWriteKinds]atomic.Uint64
}

var _ controller.Reconciler = (*Reconciler)(nil)

// New returns a reconciler for the namespace in opts. It opens netlink sockets in that namespace
// but changes nothing until Reconcile.
func New(opts Options) (*Reconciler, error) {
	if opts.ManagedPrefix == "" {
		opts.ManagedPrefix = DefaultManagedPrefix
	}
	if opts.StaleHandshake <= 0 {
		opts.StaleHandshake = DefaultStaleHandshake
	}
	switch opts.WireGuardMode {
	case "":
		opts.WireGuardMode = ModeAuto
	case ModeAuto, ModeKernel, ModeUserspace:
	default:
		return nil, fmt.Errorf("tunnel reconciler: wireguard mode %q: must be auto, kernel or userspace", opts.WireGuardMode)
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	r := &Reconciler{opts: opts, log: opts.Logger, ns: netns.None(), eps: map[string]endpointRecord{}}
	if opts.NetNS > 0 && opts.NetNS.IsOpen() {
		fd, err := unix.FcntlInt(uintptr(opts.NetNS), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("tunnel reconciler: keep namespace handle: %w", err)
		}
		r.ns = netns.NsHandle(fd)
	}
	var err error
	if r.ns.IsOpen() {
		r.h, err = netlink.NewHandleAt(r.ns)
	} else {
		r.h, err = netlink.NewHandle()
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("tunnel reconciler: netlink handle: %w", err)
	}
	s, err := nl.GetNetlinkSocketAt(r.ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("tunnel reconciler: rtnetlink socket: %w", err)
	}
	// Strict checking makes the kernel filter address and route dumps by interface (Linux 4.20+;
	// older kernels ignore the filter and the reconciler filters itself).
	_ = unix.SetsockoptInt(s.GetFd(), unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1)
	_ = r.h.SetStrictCheck(true)
	r.rtSock = &nl.SocketHandle{Socket: s}
	r.devs = wgdev.NewManager(r.log.WithName("wireguard-go"))
	return r, nil
}

// Close stops the userspace WireGuard devices (their interfaces disappear with them) and
// releases the reconciler's sockets. Kernel interfaces stay.
func (r *Reconciler) Close() error {
	if r.devs != nil {
		r.devs.Close()
	}
	r.wgMu.Lock()
	if r.wg != nil {
		r.wg.Close()
		r.wg = nil
	}
	r.wgMu.Unlock()
	if r.rtSock != nil {
		r.rtSock.Close()
		r.rtSock = nil
	}
	if r.h != nil {
		r.h.Close()
		r.h = nil
	}
	if r.ns.IsOpen() {
		r.ns.Close()
	}
	return nil
}

// Kind implements controller.Reconciler.
func (r *Reconciler) Kind() v1alpha1.Kind { return v1alpha1.KindTunnel }

// Writes returns the writes made since New.
func (r *Reconciler) Writes() Writes {
	return Writes{
		Netlink:   r.counts[writeNetlink].Load(),
		WireGuard: r.counts[writeWireGuard].Load(),
		Sysctl:    r.counts[writeSysctl].Load(),
		Device:    r.counts[writeDevice].Load(),
	}
}

// Managed reports whether the interface name carries the managed prefix.
func (r *Reconciler) Managed(name string) bool {
	return strings.HasPrefix(name, r.opts.ManagedPrefix)
}

// Observed implements controller.Reconciler: the managed-prefix interfaces in the namespace.
func (r *Reconciler) Observed(ctx context.Context) ([]string, error) {
	links, err := retryDump(r.h.LinkList)
	if err != nil {
		return nil, fmt.Errorf("tunnel: list interfaces: %w", err)
	}
	var names []string
	seen := map[string]bool{}
	for _, l := range links {
		if n := l.Attrs().Name; r.Managed(n) {
			names = append(names, n)
			seen[n] = true
		}
	}
	// A userspace device whose TUN someone deleted still runs; listing it lets the resync stop it.
	for _, n := range r.devs.Names() {
		if !seen[n] && r.Managed(n) {
			names = append(names, n)
		}
	}
	return names, ctx.Err()
}

// Reconcile implements controller.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, key string, desired *v1alpha1.Object) (controller.Result, error) {
	x := &run{r: r, name: key}
	obs, requeue, err := r.run(ctx, x, desired)
	res := controller.Result{Changes: x.writes, RequeueAfter: requeue}
	if obs != nil {
		res.Observed = obs
	}
	if x.writes > 0 {
		r.log.Info("tunnel converged", "tunnel", key, "writes", x.writes, "changes", x.plan)
	}
	return res, err
}

// Plan implements controller.Reconciler: the changes Reconcile would make, one per line.
func (r *Reconciler) Plan(ctx context.Context, key string, desired *v1alpha1.Object) ([]string, error) {
	x := &run{r: r, name: key, dry: true}
	_, _, err := r.run(ctx, x, desired)
	return x.plan, err
}

// inNS runs fn on a thread inside the reconciler's namespace.
func (r *Reconciler) inNS(fn func() error) error { return wgdev.Do(r.ns, fn) }

// wgClient decides kernel or userspace WireGuard once, then opens the wgctrl client. The client
// is opened after the probe because wgctrl only finds the kernel backend when the module is
// loaded at the time it is created.
func (r *Reconciler) wgClient() (*wgctrl.Client, bool, error) {
	r.wgMu.Lock()
	defer r.wgMu.Unlock()
	if r.wgReady {
		return r.wg, r.wgKernel, nil
	}
	kernel := false
	switch r.opts.WireGuardMode {
	case ModeKernel, ModeAuto:
		ok, err := r.probeKernelWireGuard()
		if err != nil {
			return nil, false, err
		}
		if !ok && r.opts.WireGuardMode == ModeKernel {
			return nil, false, errors.New("wireguard mode is kernel but the kernel has no wireguard support")
		}
		kernel = ok
	}
	var c *wgctrl.Client
	if err := r.inNS(func() (err error) {
		c, err = wgctrl.New()
		return err
	}); err != nil {
		return nil, false, fmt.Errorf("open wgctrl: %w", err)
	}
	r.wg, r.wgKernel, r.wgReady = c, kernel, true
	r.log.V(1).Info("wireguard implementation chosen", "kernel", kernel, "mode", r.opts.WireGuardMode)
	return c, kernel, nil
}
