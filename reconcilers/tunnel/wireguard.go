package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

// wgDesired is the WireGuard configuration a spec asks for.
type wgDesired struct {
	privateKey wgtypes.Key
	listenPort int
	peer       wgtypes.Key
	endpoint   string // host:port as in the spec; "" leaves the peer's endpoint alone
	keepalive  time.Duration
	allowed    []net.IPNet
}

// endpointRecord remembers which spec endpoint the peer's current endpoint came from and when it
// was set, so a fresh, roaming peer is left alone and a stale host name is resolved again.
type endpointRecord struct {
	spec  string
	setAt time.Time
}

// wireGuardDesired reads the private key. Neither the key nor the file content ever appears in
// an error or a log line.
func wireGuardDesired(name string, s *v1alpha1.WireGuardSpec) (*wgDesired, error) {
	b, err := os.ReadFile(s.PrivateKeyFile)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the message
		}
		return nil, fmt.Errorf("tunnel %s: read private key file %s: %w", name, s.PrivateKeyFile, err)
	}
	priv, err := wgtypes.ParseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("tunnel %s: private key file %s: not a base64 WireGuard key", name, s.PrivateKeyFile)
	}
	peer, err := wgtypes.ParseKey(s.PeerPublicKey)
	if err != nil {
		return nil, fmt.Errorf("tunnel %s: peer public key: not a base64 WireGuard key", name)
	}
	w := &wgDesired{
		privateKey: priv,
		listenPort: s.ListenPort,
		peer:       peer,
		endpoint:   s.Endpoint,
		keepalive:  time.Duration(s.PersistentKeepalive) * time.Second,
	}
	for _, c := range s.AllowedIPs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("tunnel %s: allowed ip %q: %w", name, c, err)
		}
		p = p.Masked()
		w.allowed = append(w.allowed, *ipNet(p.Addr(), p.Bits()))
	}
	return w, nil
}

// allowedKey is a canonical, order-free form of a list of allowed IPs.
func allowedKey(nets []net.IPNet) string {
	s := make([]string, 0, len(nets))
	for _, n := range nets {
		if p, ok := netipPrefix(n); ok {
			s = append(s, p.Masked().String())
		}
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func netipPrefix(n net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	if a.Is4In6() {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, ones), true
}

// convergeWireGuard compares the device's key, port and peers with d and applies every
// difference in one wgctrl configure (one write). The peer is changed in place, so its session
// survives a keepalive, endpoint or allowed-IPs change.
func (r *Reconciler) convergeWireGuard(ctx context.Context, x *run, d *desiredTunnel, exists bool) (*wgtypes.Device, time.Duration, error) {
	name, w := d.name, d.wg
	cur := &wgtypes.Device{}
	if exists {
		dev, err := d.wgc.Device(name)
		if err != nil {
			return nil, 0, fmt.Errorf("tunnel %s: read wireguard device: %w", name, err)
		}
		cur = dev
	}
	var cfg wgtypes.Config
	var lines []string
	if cur.PrivateKey != w.privateKey {
		k := w.privateKey
		cfg.PrivateKey = &k
		lines = append(lines, "set private key (public key "+k.PublicKey().String()+")")
	}
	if w.listenPort != 0 && cur.ListenPort != w.listenPort {
		p := w.listenPort
		cfg.ListenPort = &p
		lines = append(lines, fmt.Sprintf("set listen port %d -> %d", cur.ListenPort, p))
	}
	var peer *wgtypes.Peer
	for i := range cur.Peers {
		if cur.Peers[i].PublicKey == w.peer {
			peer = &cur.Peers[i]
			continue
		}
		cfg.Peers = append(cfg.Peers, wgtypes.PeerConfig{PublicKey: cur.Peers[i].PublicKey, Remove: true})
		lines = append(lines, "remove peer "+cur.Peers[i].PublicKey.String())
	}
	pc := wgtypes.PeerConfig{PublicKey: w.peer}
	var peerLines []string
	if peer == nil || peer.PersistentKeepaliveInterval != w.keepalive {
		ka := w.keepalive
		pc.PersistentKeepaliveInterval = &ka
		if peer != nil {
			peerLines = append(peerLines, fmt.Sprintf("keepalive %s -> %s", peer.PersistentKeepaliveInterval, ka))
		}
	}
	if peer == nil || allowedKey(peer.AllowedIPs) != allowedKey(w.allowed) {
		pc.ReplaceAllowedIPs = true
		pc.AllowedIPs = w.allowed
		if peer != nil {
			peerLines = append(peerLines, fmt.Sprintf("allowed-ips %s -> %s", orNone(allowedKey(peer.AllowedIPs)), orNone(allowedKey(w.allowed))))
		}
	}
	ep, epLine, requeue, err := r.endpointChange(ctx, x, w, peer)
	if err != nil {
		return nil, 0, err
	}
	if ep != nil {
		pc.Endpoint = ep
		if peer != nil {
			peerLines = append(peerLines, epLine)
		}
	}
	switch {
	case peer == nil:
		l := fmt.Sprintf("add peer %s allowed-ips %s keepalive %s", w.peer, orNone(allowedKey(w.allowed)), w.keepalive)
		if ep != nil {
			l += " endpoint " + ep.String()
		}
		lines = append(lines, l)
		cfg.Peers = append(cfg.Peers, pc)
	case len(peerLines) > 0:
		lines = append(lines, "set peer "+w.peer.String()+" "+strings.Join(peerLines, ", "))
		cfg.Peers = append(cfg.Peers, pc)
	}
	if len(lines) == 0 {
		return cur, requeue, nil
	}
	if err := x.doMany(writeWireGuard, lines, func() error { return d.wgc.ConfigureDevice(name, cfg) }); err != nil {
		return nil, 0, err
	}
	if ep != nil && !x.dry {
		r.epMu.Lock()
		r.eps[name] = endpointRecord{spec: w.endpoint, setAt: time.Now()}
		r.epMu.Unlock()
	}
	return nil, requeue, nil
}

// endpointChange decides whether the peer's endpoint must be set, and to what.
//   - Spec endpoint unchanged since we set it, handshake fresh: leave it, even if the peer
//     roamed to another address (WireGuard follows the peer; resetting it would break that).
//   - Handshake stale (older than StaleHandshake, or none since we set it that long ago): a host
//     name is resolved and set again; an IP is set again only if the endpoint moved.
//   - Otherwise (spec changed, agent restarted, no endpoint yet): resolve, and set unless the
//     current endpoint is one of the answers.
//
// It also returns when to look again for staleness. A dry run (Plan) records nothing.
func (r *Reconciler) endpointChange(ctx context.Context, x *run, w *wgDesired, peer *wgtypes.Peer) (*net.UDPAddr, string, time.Duration, error) {
	name := x.name
	if w.endpoint == "" {
		return nil, "", 0, nil
	}
	host, portStr, _ := net.SplitHostPort(w.endpoint)
	port, _ := strconv.Atoi(portStr)
	_, literalErr := netip.ParseAddr(host)
	isName := literalErr != nil

	var cur netip.AddrPort
	if peer != nil && peer.Endpoint != nil {
		cur = peer.Endpoint.AddrPort()
		cur = netip.AddrPortFrom(cur.Addr().Unmap(), cur.Port())
	}
	r.epMu.Lock()
	rec, haveRec := r.eps[name]
	r.epMu.Unlock()
	now := time.Now()
	// Staleness counts from the peer's last handshake or, with none, from our last set.
	var since time.Time
	if peer != nil {
		since = peer.LastHandshakeTime
		if since.IsZero() && haveRec && rec.spec == w.endpoint {
			since = rec.setAt
		}
	}
	stale, requeue := false, r.opts.StaleHandshake
	switch {
	case !since.IsZero():
		age := now.Sub(since)
		stale = age > r.opts.StaleHandshake
		if !stale {
			requeue = r.opts.StaleHandshake - age + time.Second
		}
	case !isName:
		requeue = 0 // an IP endpoint has nothing to re-resolve until something changes
	}

	known := haveRec && rec.spec == w.endpoint && cur.IsValid()
	if known && !stale {
		return nil, "", requeue, nil
	}
	addrs, err := r.resolveEndpoint(ctx, host)
	if err != nil {
		return nil, "", 0, fmt.Errorf("tunnel %s: resolve endpoint %s: %w", name, w.endpoint, err)
	}
	match := cur.IsValid() && int(cur.Port()) == port && slices.Contains(addrs, cur.Addr())
	target := &net.UDPAddr{IP: addrs[0].AsSlice(), Port: port}
	switch {
	case stale && isName:
		return target, fmt.Sprintf("endpoint %s -> %s (handshake stale, %s re-resolved)", endpointString(cur), target, host), r.opts.StaleHandshake, nil
	case match:
		if !known && !x.dry {
			r.epMu.Lock()
			r.eps[name] = endpointRecord{spec: w.endpoint, setAt: now}
			r.epMu.Unlock()
		}
		return nil, "", requeue, nil
	default:
		return target, fmt.Sprintf("endpoint %s -> %s", endpointString(cur), target), requeue, nil
	}
}

func endpointString(a netip.AddrPort) string {
	if !a.IsValid() {
		return "(none)"
	}
	return a.String()
}
