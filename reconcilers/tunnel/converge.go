package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

type writeKind int

const (
	writeNetlink writeKind = iota
	writeWireGuard
	writeSysctl
	writeDevice
	numWriteKinds
)

// run is one Reconcile or Plan of one key. In dry mode it only records what it would change.
type run struct {
	r      *Reconciler
	name   string
	dry    bool
	plan   []string
	writes int
}

// do records desc and, unless dry, makes the write fn and counts it.
func (x *run) do(kind writeKind, desc string, fn func() error) error {
	return x.doMany(kind, []string{desc}, fn)
}

// doMany is do for one write that makes several changes (one wgctrl configure).
func (x *run) doMany(kind writeKind, descs []string, fn func() error) error {
	x.plan = append(x.plan, descs...)
	if x.dry {
		return nil
	}
	x.count(kind, 1)
	if err := fn(); err != nil {
		return fmt.Errorf("tunnel %s: %s: %w", x.name, descs[0], err)
	}
	return nil
}

// count adds n writes of kind to the run and to the reconciler's totals.
func (x *run) count(kind writeKind, n int) {
	x.writes += n
	x.r.counts[kind].Add(uint64(n))
}

// desiredTunnel is a spec turned into the kernel objects it stands for.
type desiredTunnel struct {
	name    string
	kind    string // link kind: wireguard, tun (userspace wireguard), gre, ip6gre
	mtu     int
	gre     greParams
	addrs   []netlink.Addr
	route6  netip.Addr // peer IPv6 to route as /128; invalid for none
	sysctls []sysctlWant
	wg      *wgDesired
	wgc     *wgctrl.Client
}

func (r *Reconciler) run(ctx context.Context, x *run, desired *v1alpha1.Object) (*Observed, time.Duration, error) {
	if desired == nil {
		obs, err := r.remove(x)
		return obs, 0, err
	}
	if !r.Managed(x.name) {
		return nil, 0, controller.Terminal(fmt.Errorf("tunnel %s: name is outside the managed prefix %q: the agent only creates, changes and deletes interfaces whose name starts with %q",
			x.name, r.opts.ManagedPrefix, r.opts.ManagedPrefix))
	}
	spec, ok := desired.Spec.(*v1alpha1.TunnelSpec)
	if !ok || spec == nil {
		return nil, 0, controller.Terminal(fmt.Errorf("tunnel %s: spec is %T, not a TunnelSpec", x.name, desired.Spec))
	}
	if err := spec.Validate(x.name); err != nil {
		return nil, 0, controller.Terminal(fmt.Errorf("tunnel %s: %w", x.name, err))
	}
	d, err := r.desire(x.name, spec)
	if err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	return r.converge(ctx, x, d)
}

// desire builds the desired kernel state; for WireGuard it reads the private key and settles
// kernel or userspace.
func (r *Reconciler) desire(name string, spec *v1alpha1.TunnelSpec) (*desiredTunnel, error) {
	d := &desiredTunnel{name: name, mtu: spec.MTU, sysctls: desiredSysctls(name, spec.Sysctls)}
	switch spec.Type {
	case v1alpha1.TunnelWireGuard:
		w, err := wireGuardDesired(name, spec.WireGuard)
		if err != nil {
			return nil, err
		}
		c, kernel, err := r.wgClient()
		if err != nil {
			return nil, fmt.Errorf("tunnel %s: %w", name, err)
		}
		d.wg, d.wgc = w, c
		d.kind = kindWireGuard
		if !kernel {
			d.kind = kindTUN
		}
	case v1alpha1.TunnelGRE, v1alpha1.TunnelIP6GRE:
		d.kind = string(spec.Type)
		g := spec.GRE
		d.gre.remote, _ = netip.ParseAddr(g.Remote)
		if g.Local != "" {
			d.gre.local, _ = netip.ParseAddr(g.Local)
		}
		d.gre.ttl = 255
		if g.TTL != 0 {
			d.gre.ttl = uint8(g.TTL)
		}
		d.gre.ignEncapLimit = spec.Type == v1alpha1.TunnelIP6GRE
	}
	pair := func(local, peer string, bits int) {
		if local == "" || peer == "" {
			return
		}
		l, _ := netip.ParseAddr(local)
		p, _ := netip.ParseAddr(peer)
		d.addrs = append(d.addrs, netlink.Addr{IPNet: ipNet(l, bits), Peer: ipNet(p, bits)})
	}
	pair(spec.LocalIPv4, spec.PeerIPv4, 32)
	pair(spec.LocalIPv6LinkLocal, spec.PeerIPv6LinkLocal, 64)
	pair(spec.LocalIPv6, spec.PeerIPv6, 128)
	if spec.PeerIPv6 != "" {
		d.route6, _ = netip.ParseAddr(spec.PeerIPv6)
	}
	return d, nil
}

// converge makes the node match d with the fewest writes: it compares every attribute before
// writing it, changes a link in place when the kernel allows, and recreates it only when its
// kind must change.
func (r *Reconciler) converge(ctx context.Context, x *run, d *desiredTunnel) (*Observed, time.Duration, error) {
	name := d.name
	st, err := r.getLink(name)
	if err != nil {
		return nil, 0, fmt.Errorf("tunnel %s: get interface: %w", name, err)
	}

	// The link itself.
	if st != nil {
		if why := r.linkMismatch(st, d); why != "" {
			old := st
			if err := x.do(r.deleteKind(name), "delete interface: "+why, func() error { return r.deleteLink(name, old) }); err != nil {
				return nil, 0, err
			}
			st = nil
		} else if d.kind == kindGRE || d.kind == kindIP6GRE {
			if !st.gre.equal(d.gre) {
				idx := st.link.Attrs().Index
				if err := x.do(writeNetlink, fmt.Sprintf("change %s %s -> %s", d.kind, st.gre, d.gre), func() error {
					return r.greRequest(name, d.kind, idx, 0, d.gre)
				}); err != nil {
					return nil, 0, err
				}
			}
		}
	}
	created := false
	if st == nil {
		if err := r.create(x, d); err != nil {
			return nil, 0, err
		}
		created = true
		if !x.dry {
			if st, err = r.readBack(name); err != nil {
				return nil, 0, fmt.Errorf("tunnel %s: find interface after create: %w", name, err)
			}
		}
	}

	// Per-interface sysctls, addr_gen_mode first, before the link goes up.
	got := make([]string, len(d.sysctls))
	if st != nil {
		if got, err = r.currentSysctls(st, d.sysctls); err != nil {
			return nil, 0, fmt.Errorf("tunnel %s: read sysctls: %w", name, err)
		}
	}
	var pending []sysctlWant
	for i, w := range d.sysctls {
		if got[i] != w.value {
			x.plan = append(x.plan, fmt.Sprintf("set %s %s -> %s", w.path, orNone(got[i]), w.value))
			pending = append(pending, w)
		}
	}
	if len(pending) > 0 && !x.dry {
		// One trip into the namespace for all of them; each write still counts.
		x.count(writeSysctl, len(pending))
		if err := r.writeSysctls(pending); err != nil {
			return nil, 0, fmt.Errorf("tunnel %s: %w", name, err)
		}
	}

	// MTU (a new link got it at creation).
	if d.mtu > 0 && st != nil && st.link.Attrs().MTU != d.mtu {
		l := st.link
		if err := x.do(writeNetlink, fmt.Sprintf("set mtu %d -> %d", l.Attrs().MTU, d.mtu), func() error {
			return r.h.LinkSetMTU(l, d.mtu)
		}); err != nil {
			return nil, 0, err
		}
	}

	// WireGuard key, port and peer.
	var wgDev *wgtypes.Device
	var requeue time.Duration
	if d.wg != nil {
		if wgDev, requeue, err = r.convergeWireGuard(ctx, x, d, st != nil); err != nil {
			return nil, 0, err
		}
	}

	// Up.
	if st == nil || st.link.Attrs().Flags&net.FlagUp == 0 {
		l := st
		if err := x.do(writeNetlink, "set link up", func() error { return r.h.LinkSetUp(l.link) }); err != nil {
			return nil, 0, err
		}
	}

	// Addresses: remove what the spec does not want, then add what is missing.
	var have []netlink.Addr
	if st != nil {
		if have, err = r.listAddrs(st.link.Attrs().Index); err != nil {
			return nil, 0, fmt.Errorf("tunnel %s: list addresses: %w", name, err)
		}
	}
	want := map[string]netlink.Addr{}
	for _, a := range d.addrs {
		want[addrKey(a)] = a
	}
	present := map[string]bool{}
	addrsChanged, routesChanged := false, false
	for _, a := range have {
		k := addrKey(a)
		if _, ok := want[k]; ok {
			present[k] = true
			continue
		}
		a := a
		addrsChanged = true
		if err := x.do(writeNetlink, "remove address "+k, func() error { return r.h.AddrDel(st.link, &a) }); err != nil {
			return nil, 0, err
		}
	}
	for _, a := range d.addrs {
		k := addrKey(a)
		if present[k] {
			continue
		}
		a := a
		addrsChanged = true
		if err := x.do(writeNetlink, "add address "+k, func() error { return r.h.AddrAdd(st.link, &a) }); err != nil {
			return nil, 0, err
		}
	}

	// The /128 route to the peer's IPv6.
	var routes []netlink.Route
	if st != nil {
		if routes, err = r.listOwnRoutes(st.link); err != nil {
			return nil, 0, fmt.Errorf("tunnel %s: list routes: %w", name, err)
		}
	}
	routed := false
	for _, rt := range routes {
		dst, _ := netip.AddrFromSlice(rt.Dst.IP)
		if d.route6.IsValid() && dst == d.route6 {
			routed = true
			continue
		}
		rt := rt
		routesChanged = true
		if err := x.do(writeNetlink, "remove route "+rt.Dst.String(), func() error { return r.h.RouteDel(&rt) }); err != nil {
			return nil, 0, err
		}
	}
	if d.route6.IsValid() && !routed {
		routesChanged = true
		if err := x.do(writeNetlink, "add route "+d.route6.String()+"/128", func() error {
			return r.h.RouteAdd(&netlink.Route{LinkIndex: st.link.Attrs().Index, Dst: ipNet(d.route6, 128)})
		}); err != nil {
			return nil, 0, err
		}
	}

	if x.dry {
		return nil, requeue, nil
	}
	if x.writes == 0 && !created {
		return r.observed(st, have, routes, wgDev), requeue, nil
	}
	// Read back only what was written to.
	if st, err = r.readBack(name); err != nil {
		return nil, 0, fmt.Errorf("tunnel %s: get interface: %w", name, err)
	}
	if addrsChanged {
		if have, err = r.listAddrs(st.link.Attrs().Index); err != nil {
			return nil, 0, fmt.Errorf("tunnel %s: list addresses: %w", name, err)
		}
	}
	if routesChanged {
		if routes, err = r.listOwnRoutes(st.link); err != nil {
			return nil, 0, fmt.Errorf("tunnel %s: list routes: %w", name, err)
		}
	}
	if d.wg != nil && wgDev == nil {
		if wgDev, err = d.wgc.Device(name); err != nil {
			return nil, 0, fmt.Errorf("tunnel %s: read wireguard device: %w", name, err)
		}
	}
	return r.observed(st, have, routes, wgDev), requeue, nil
}

// readBack reads an interface this run just created or changed; its absence is an error.
func (r *Reconciler) readBack(name string) (*linkState, error) {
	st, err := r.getLink(name)
	if err == nil && st == nil {
		err = errors.New("no such interface")
	}
	return st, err
}

// linkMismatch says why an existing link cannot be converged in place ("" when it can).
func (r *Reconciler) linkMismatch(st *linkState, d *desiredTunnel) string {
	if st.kind != d.kind {
		return fmt.Sprintf("type %s, want %s", orNone(st.kind), d.kind)
	}
	if d.kind == kindTUN {
		dev := r.devs.Get(d.name)
		if dev == nil || dev.Index() != st.link.Attrs().Index {
			return "tun device not run by this agent"
		}
	}
	return ""
}

func (r *Reconciler) deleteKind(name string) writeKind {
	if r.devs.Get(name) != nil {
		return writeDevice
	}
	return writeNetlink
}

// deleteLink removes an interface: a userspace device by stopping it, anything else through
// netlink.
func (r *Reconciler) deleteLink(name string, st *linkState) error {
	if r.devs.Remove(name) {
		again, err := r.getLink(name)
		if err != nil || again == nil || again.link.Attrs().Index != st.link.Attrs().Index {
			return err
		}
	}
	return r.h.LinkDel(st.link)
}

func (r *Reconciler) create(x *run, d *desiredTunnel) error {
	switch d.kind {
	case kindTUN:
		mtu := d.mtu
		return x.do(writeDevice, "create wireguard interface (userspace)", func() error {
			r.devs.Remove(d.name) // a device whose TUN someone deleted
			_, err := r.devs.Create(r.ns, d.name, mtu)
			return err
		})
	case kindWireGuard:
		return x.do(writeNetlink, "create wireguard interface (kernel)", func() error {
			return r.h.LinkAdd(&netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: d.name, MTU: d.mtu}})
		})
	default:
		return x.do(writeNetlink, fmt.Sprintf("create %s interface %s", d.kind, d.gre), func() error {
			return r.greRequest(d.name, d.kind, 0, d.mtu, d.gre)
		})
	}
}

// remove deletes a managed interface that has no desired object. Names outside the managed
// prefix are never touched.
func (r *Reconciler) remove(x *run) (*Observed, error) {
	name := x.name
	gone := &Observed{Name: name}
	if !r.Managed(name) {
		return gone, nil
	}
	defer func() {
		if !x.dry {
			r.epMu.Lock()
			delete(r.eps, name)
			r.epMu.Unlock()
		}
	}()
	st, err := r.getLink(name)
	if err != nil {
		return nil, fmt.Errorf("tunnel %s: get interface: %w", name, err)
	}
	if st == nil {
		if r.devs.Get(name) != nil { // a device whose TUN someone deleted
			return gone, x.do(writeDevice, "stop userspace wireguard device", func() error { r.devs.Remove(name); return nil })
		}
		return gone, nil
	}
	return gone, x.do(r.deleteKind(name), "delete interface", func() error { return r.deleteLink(name, st) })
}

// resolveEndpoint resolves host (an IP or a name) to addresses, IPv4-mapped forms unmapped.
func (r *Reconciler) resolveEndpoint(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addrs, err := r.opts.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, errors.New("no addresses")
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
