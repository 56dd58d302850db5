package tunnel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Observed is a tunnel interface as the node has it, shown at /debug/state. It holds no secret:
// only the public key is shown.
type Observed struct {
	Name   string `json:"name"`
	Exists bool   `json:"exists"`
	// Type is the link kind: wireguard, gre, ip6gre, or tun for userspace WireGuard.
	Type string `json:"type,omitempty"`
	// Implementation is kernel or userspace.
	Implementation string             `json:"implementation,omitempty"`
	Ifindex        int                `json:"ifindex,omitempty"`
	Flags          string             `json:"flags,omitempty"`
	OperState      string             `json:"operState,omitempty"`
	MTU            int                `json:"mtu,omitempty"`
	Addresses      []string           `json:"addresses,omitempty"`
	Routes         []string           `json:"routes,omitempty"`
	GRE            *ObservedGRE       `json:"gre,omitempty"`
	WireGuard      *ObservedWireGuard `json:"wireguard,omitempty"`
}

// ObservedGRE is the outer tunnel of a gre or ip6gre interface.
type ObservedGRE struct {
	Local          string `json:"local,omitempty"`
	Remote         string `json:"remote"`
	TTL            int    `json:"ttl"`
	EncapLimitNone bool   `json:"encapLimitNone,omitempty"`
}

// ObservedWireGuard is a WireGuard device's public state.
type ObservedWireGuard struct {
	PublicKey  string         `json:"publicKey,omitempty"`
	ListenPort int            `json:"listenPort"`
	Peers      []ObservedPeer `json:"peers,omitempty"`
}

// ObservedPeer is one WireGuard peer with its counters.
type ObservedPeer struct {
	PublicKey           string     `json:"publicKey"`
	Endpoint            string     `json:"endpoint,omitempty"`
	PersistentKeepalive int        `json:"persistentKeepalive,omitempty"`
	AllowedIPs          []string   `json:"allowedIPs,omitempty"`
	LastHandshake       *time.Time `json:"lastHandshake,omitempty"`
	RxBytes             int64      `json:"rxBytes"`
	TxBytes             int64      `json:"txBytes"`
}

// Observe reads the interface called name fresh from the node (managed prefix or not: it only
// reads).
func (r *Reconciler) Observe(ctx context.Context, name string) (*Observed, error) {
	st, err := r.getLink(name)
	if err != nil {
		return nil, fmt.Errorf("tunnel %s: get interface: %w", name, err)
	}
	if st == nil {
		return &Observed{Name: name}, nil
	}
	addrs, err := r.listAddrs(st.link.Attrs().Index)
	if err != nil {
		return nil, fmt.Errorf("tunnel %s: list addresses: %w", name, err)
	}
	routes, err := r.listOwnRoutes(st.link)
	if err != nil {
		return nil, fmt.Errorf("tunnel %s: list routes: %w", name, err)
	}
	var dev *wgtypes.Device
	if st.kind == kindWireGuard || (st.kind == kindTUN && r.devs.Get(name) != nil) {
		if c, _, err := r.wgClient(); err == nil {
			dev, err = c.Device(name)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("tunnel %s: read wireguard device: %w", name, err)
			}
		}
	}
	return r.observed(st, addrs, routes, dev), ctx.Err()
}

func (r *Reconciler) observed(st *linkState, addrs []netlink.Addr, routes []netlink.Route, dev *wgtypes.Device) *Observed {
	a := st.link.Attrs()
	o := &Observed{
		Name:           a.Name,
		Exists:         true,
		Type:           st.kind,
		Implementation: "kernel",
		Ifindex:        a.Index,
		Flags:          a.Flags.String(),
		OperState:      a.OperState.String(),
		MTU:            a.MTU,
	}
	if st.kind == kindTUN {
		o.Implementation = "userspace"
	}
	for _, ad := range addrs {
		o.Addresses = append(o.Addresses, addrKey(ad))
	}
	for _, rt := range routes {
		o.Routes = append(o.Routes, rt.Dst.String())
	}
	if st.kind == kindGRE || st.kind == kindIP6GRE {
		g := &ObservedGRE{Remote: st.gre.remote.String(), TTL: int(st.gre.ttl), EncapLimitNone: st.gre.ignEncapLimit}
		if st.gre.local.IsValid() && !st.gre.local.IsUnspecified() {
			g.Local = st.gre.local.String()
		}
		o.GRE = g
	}
	if dev != nil {
		w := &ObservedWireGuard{ListenPort: dev.ListenPort}
		if dev.PublicKey != (wgtypes.Key{}) {
			w.PublicKey = dev.PublicKey.String()
		}
		for _, p := range dev.Peers {
			op := ObservedPeer{
				PublicKey:           p.PublicKey.String(),
				PersistentKeepalive: int(p.PersistentKeepaliveInterval / time.Second),
				RxBytes:             p.ReceiveBytes,
				TxBytes:             p.TransmitBytes,
			}
			if p.Endpoint != nil {
				op.Endpoint = p.Endpoint.String()
			}
			if !p.LastHandshakeTime.IsZero() {
				t := p.LastHandshakeTime
				op.LastHandshake = &t
			}
			for _, n := range p.AllowedIPs {
				op.AllowedIPs = append(op.AllowedIPs, n.String())
			}
			w.Peers = append(w.Peers, op)
		}
		o.WireGuard = w
	}
	return o
}
