package tunnel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Link kinds as the kernel names them (IFLA_INFO_KIND).
const (
	kindWireGuard = "wireguard"
	kindTUN       = "tun"
	kindGRE       = "gre"
	kindIP6GRE    = "ip6gre"
)

// ip6tnlIgnEncapLimit is IP6_TNL_F_IGN_ENCAP_LIMIT, what `encaplimit none` sets.
const ip6tnlIgnEncapLimit = 0x1

// linkState is one interface as the kernel reports it. netlink's Gretun cannot express ip6gre's
// encapsulation limit and guesses gre vs ip6gre from the local address, so the kind and the GRE
// parameters are parsed here from the raw message.
type linkState struct {
	link netlink.Link
	kind string
	gre  greParams
	// conf holds the per-interface sysctls the link message carries (IFLA_AF_SPEC), by spec
	// short name, so a no-op reconcile reads them without entering the namespace.
	conf map[string]string
}

// Positions in IFLA_AF_SPEC's configuration arrays: IPv4's is indexed by IPV4_DEVCONF_* - 1,
// IPv6's by DEVCONF_* (include/uapi/linux/ip.h and ipv6.h).
var (
	inetConfIndex  = map[string]int{"forwarding": 0, "rp_filter": 7, "accept_local": 22}
	inet6ConfIndex = map[string]int{"forwarding": 0, "accept_ra": 3, "autoconf": 5}
)

// greParams are the GRE attributes the reconciler manages.
type greParams struct {
	local, remote netip.Addr // invalid when unset (local "any")
	ttl           uint8
	ignEncapLimit bool // ip6gre only
}

func (g greParams) String() string {
	local := "any"
	if g.local.IsValid() && !g.local.IsUnspecified() {
		local = g.local.String()
	}
	s := fmt.Sprintf("local %s remote %s ttl %d", local, g.remote, g.ttl)
	if g.ignEncapLimit {
		s += " encaplimit none"
	}
	return s
}

// equal compares as the kernel stores them: an unset local reads back as 0.0.0.0 or ::.
func (g greParams) equal(o greParams) bool {
	norm := func(a netip.Addr) netip.Addr {
		if a.IsValid() && a.IsUnspecified() {
			return netip.Addr{}
		}
		return a.Unmap()
	}
	return norm(g.local) == norm(o.local) && norm(g.remote) == norm(o.remote) &&
		g.ttl == o.ttl && g.ignEncapLimit == o.ignEncapLimit
}

// rtRequest builds a request that runs on the reconciler's own rtnetlink socket (in its
// namespace); netlink.Handle keeps its sockets private.
func (r *Reconciler) rtRequest(proto, flags int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(proto, flags)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: r.rtSock}
	return req
}

// getLink reads the interface called name; it returns nil, nil when there is none.
func (r *Reconciler) getLink(name string) (*linkState, error) {
	req := r.rtRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if errors.Is(err, unix.ENODEV) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("get link: %d answers", len(msgs))
	}
	return parseLinkState(msgs[0])
}

func parseLinkState(m []byte) (*linkState, error) {
	l, err := netlink.LinkDeserialize(nil, m)
	if err != nil {
		return nil, err
	}
	st := &linkState{link: l}
	msg := nl.DeserializeIfInfomsg(m)
	attrs, err := nl.ParseRouteAttr(m[msg.Len():])
	if err != nil {
		return nil, err
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.IFLA_AF_SPEC {
			st.conf = parseAFSpec(a.Value)
		}
		if a.Attr.Type != unix.IFLA_LINKINFO {
			continue
		}
		infos, err := nl.ParseRouteAttr(a.Value)
		if err != nil {
			return nil, err
		}
		var data []byte
		for _, info := range infos {
			switch info.Attr.Type {
			case nl.IFLA_INFO_KIND:
				st.kind = string(trimNUL(info.Value))
			case nl.IFLA_INFO_DATA:
				data = info.Value
			}
		}
		if (st.kind == kindGRE || st.kind == kindIP6GRE) && data != nil {
			if st.gre, err = parseGRE(data); err != nil {
				return nil, err
			}
		}
	}
	return st, nil
}

func parseAFSpec(b []byte) map[string]string {
	conf := map[string]string{}
	fams, err := nl.ParseRouteAttr(b)
	if err != nil {
		return conf
	}
	array := func(prefix string, v []byte, idx map[string]int) {
		for name, i := range idx {
			if off := 4 * i; off+4 <= len(v) {
				conf[prefix+name] = strconv.Itoa(int(int32(binary.NativeEndian.Uint32(v[off:]))))
			}
		}
	}
	for _, f := range fams {
		inner, err := nl.ParseRouteAttr(f.Value)
		if err != nil {
			continue
		}
		for _, a := range inner {
			switch {
			case f.Attr.Type == unix.AF_INET && a.Attr.Type == unix.IFLA_INET_CONF:
				array("ipv4.", a.Value, inetConfIndex)
			case f.Attr.Type == unix.AF_INET6 && a.Attr.Type == unix.IFLA_INET6_CONF:
				array("ipv6.", a.Value, inet6ConfIndex)
			case f.Attr.Type == unix.AF_INET6 && a.Attr.Type == unix.IFLA_INET6_ADDR_GEN_MODE && len(a.Value) > 0:
				conf["ipv6.addr_gen_mode"] = strconv.Itoa(int(a.Value[0]))
			}
		}
	}
	return conf
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

func parseGRE(data []byte) (greParams, error) {
	var g greParams
	attrs, err := nl.ParseRouteAttr(data)
	if err != nil {
		return g, err
	}
	for _, a := range attrs {
		switch a.Attr.Type {
		case nl.IFLA_GRE_LOCAL:
			g.local, _ = netip.AddrFromSlice(a.Value)
		case nl.IFLA_GRE_REMOTE:
			g.remote, _ = netip.AddrFromSlice(a.Value)
		case nl.IFLA_GRE_TTL:
			if len(a.Value) > 0 {
				g.ttl = a.Value[0]
			}
		case nl.IFLA_GRE_FLAGS:
			if len(a.Value) >= 4 {
				g.ignEncapLimit = binary.NativeEndian.Uint32(a.Value)&ip6tnlIgnEncapLimit != 0
			}
		}
	}
	return g, nil
}

// greRequest creates (index 0) or changes (index > 0) a gre or ip6gre link. A change sends every
// parameter because the kernel resets the ones left out.
func (r *Reconciler) greRequest(name, kind string, index, mtu int, g greParams) error {
	flags := unix.NLM_F_ACK
	if index == 0 {
		flags |= unix.NLM_F_CREATE | unix.NLM_F_EXCL
	}
	req := r.rtRequest(unix.RTM_NEWLINK, flags)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	if index == 0 {
		// Not on a change: a name with an index is a rename, which the kernel refuses (EBUSY)
		// for an up link after it already applied the tunnel change.
		req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	}
	if index == 0 && mtu > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(mtu))))
	}
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated(kind))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	if g.local.IsValid() {
		data.AddRtAttr(nl.IFLA_GRE_LOCAL, g.local.AsSlice())
	}
	data.AddRtAttr(nl.IFLA_GRE_REMOTE, g.remote.AsSlice())
	data.AddRtAttr(nl.IFLA_GRE_TTL, nl.Uint8Attr(g.ttl))
	if kind == kindGRE {
		// A fixed TTL requires path MTU discovery (the kernel refuses ttl with nopmtudisc).
		data.AddRtAttr(nl.IFLA_GRE_PMTUDISC, nl.Uint8Attr(1))
	} else {
		var f uint32
		if g.ignEncapLimit {
			f |= ip6tnlIgnEncapLimit
		}
		data.AddRtAttr(nl.IFLA_GRE_FLAGS, nl.Uint32Attr(f))
	}
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// probeKernelWireGuard asks the kernel to create a wireguard link with an MTU no device accepts:
// EINVAL means the kind exists (the attempt also loads the module), "not supported" means it
// does not. Nothing is ever created; should the kernel accept it anyway, the link is removed.
func (r *Reconciler) probeKernelWireGuard() (bool, error) {
	name := r.opts.ManagedPrefix + "wgprobe"
	if len(name) > 15 {
		name = name[:15]
	}
	l := &netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: math.MaxInt32}}
	err := r.h.LinkAdd(l)
	switch {
	case err == nil:
		if del := r.h.LinkDel(l); del != nil {
			return true, fmt.Errorf("remove wireguard probe link %s: %w", name, del)
		}
		return true, nil
	case errors.Is(err, unix.EINVAL):
		return true, nil
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOTSUP):
		return false, nil
	default:
		return false, fmt.Errorf("probe kernel wireguard: %w", err)
	}
}

// retryDump runs a netlink dump again when the kernel reports it interrupted (the list changed
// while it was read), up to five times in all.
func retryDump[T any](dump func() (T, error)) (T, error) {
	v, err := dump()
	for i := 1; i < 5 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		v, err = dump()
	}
	return v, err
}

// listAddrs lists the addresses on the interface with that index. The dump asks the kernel to
// filter by index (strict checking), so its cost does not grow with the number of tunnels. The
// prefix length is kept on both sides of a peer address, as deleting an IPv6 address needs it.
func (r *Reconciler) listAddrs(index int) ([]netlink.Addr, error) {
	msgs, err := retryDump(func() ([][]byte, error) {
		req := r.rtRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP)
		m := nl.NewIfAddrmsg(unix.AF_UNSPEC)
		m.Index = uint32(index)
		req.AddData(m)
		return req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWADDR)
	})
	if err != nil {
		return nil, err
	}
	var addrs []netlink.Addr
	for _, m := range msgs {
		am := nl.DeserializeIfAddrmsg(m)
		if int(am.Index) != index { // a kernel without strict checking sends them all
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[am.Len():])
		if err != nil {
			return nil, err
		}
		var local, address net.IP
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.IFA_LOCAL:
				local = net.IP(a.Value)
			case unix.IFA_ADDRESS:
				address = net.IP(a.Value)
			}
		}
		ip := local
		if ip == nil {
			ip = address
		}
		if ip == nil {
			continue
		}
		mask := net.CIDRMask(int(am.Prefixlen), 8*len(ip))
		a := netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: mask}, LinkIndex: index, Scope: int(am.Scope)}
		if local != nil && address != nil && !local.Equal(address) {
			a.Peer = &net.IPNet{IP: address, Mask: mask}
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

// listOwnRoutes lists the IPv6 /128 routes of the interface that the reconciler makes (protocol
// boot, main table); kernel routes and routes others added with another protocol are not ours.
func (r *Reconciler) listOwnRoutes(l netlink.Link) ([]netlink.Route, error) {
	// With strict checking on the handle the kernel filters the dump by interface and protocol.
	filter := &netlink.Route{LinkIndex: l.Attrs().Index, Table: unix.RT_TABLE_MAIN, Protocol: unix.RTPROT_BOOT}
	rs, err := retryDump(func() ([]netlink.Route, error) {
		return r.h.RouteListFiltered(netlink.FAMILY_V6, filter, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	})
	if err != nil {
		return nil, err
	}
	var own []netlink.Route
	for _, rt := range rs {
		if rt.Protocol != unix.RTPROT_BOOT || rt.Dst == nil {
			continue
		}
		if ones, bits := rt.Dst.Mask.Size(); ones != 128 || bits != 128 {
			continue
		}
		own = append(own, rt)
	}
	return own, nil
}

// addrKey identifies an address by what the spec controls: local IP, prefix and peer.
func addrKey(a netlink.Addr) string {
	ones, _ := a.Mask.Size()
	k := fmt.Sprintf("%s/%d", a.IP, ones)
	if a.Peer != nil && !a.Peer.IP.Equal(a.IP) {
		k += " peer " + a.Peer.IP.String()
	}
	return k
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
}
