package peerapi

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/peerapi"
)

// TranslateOptions hold the node's side of every session (the old config's ipConfig, wireGuard,
// gre and sysctl sections).
type TranslateOptions struct {
	// IPv4, IPv6 and IPv6LinkLocal are our tunnel addresses (ipConfig), used unless the link
	// type's section sets its own.
	IPv4, IPv6, IPv6LinkLocal string
	WireGuard                 WireGuardOptions
	GRE                       GREOptions
	// Sysctls are per-interface settings by TunnelSpec short name (ipv4.forwarding, ...).
	Sysctls map[string]string
	// PassthroughSecret verifies data.passthrough JWTs (sessionPassthroughJwtSecert).
	PassthroughSecret []byte
}

// WireGuardOptions are the wireGuard section.
type WireGuardOptions struct {
	PrivateKeyPath      string
	PersistentKeepalive int
	// AllowedIPs is the global allowed-ips list (the old comma list, split).
	AllowedIPs []string
	// IPv4, IPv6 and IPv6LinkLocal override the ipConfig addresses (README-style config).
	IPv4, IPv6, IPv6LinkLocal string
	// BandwidthCommunity and SecurityCommunity go into the BIRD filter parameters.
	BandwidthCommunity, SecurityCommunity int
}

// GREOptions are the gre section.
type GREOptions struct {
	// LocalEndpointHost4 and LocalEndpointHost6 are our outer addresses for gre and ip6gre.
	LocalEndpointHost4, LocalEndpointHost6 string
	IPv4, IPv6, IPv6LinkLocal              string
	BandwidthCommunity, SecurityCommunity  int
}

// Source names the objects this package produces.
const SourceName = "peerapi"

// TranslateSession turns one valid session into its Tunnel and BIRDProtocol objects, both keyed
// by the interface name and owned by the session. listenPort is the WireGuard port decided for
// the session (ignored for GRE).
func TranslateSession(source string, s *peerapi.Session, o *TranslateOptions, listenPort int) (tunnel, bird *v1alpha1.Object, err error) {
	ipv4, ipv6, ll := o.IPv4, o.IPv6, o.IPv6LinkLocal
	override := func(v4, v6, l string) {
		if v4 != "" {
			ipv4 = v4
		}
		if v6 != "" {
			ipv6 = v6
		}
		if l != "" {
			ll = l
		}
	}
	ts := &v1alpha1.TunnelSpec{MTU: s.MTU, Sysctls: copyMap(o.Sysctls)}
	filter := v1alpha1.FilterParams{Policy: s.Policy}
	switch s.Type {
	case peerapi.LinkWireGuard:
		w := o.WireGuard
		override(w.IPv4, w.IPv6, w.IPv6LinkLocal)
		ts.Type = v1alpha1.TunnelWireGuard
		ts.WireGuard = &v1alpha1.WireGuardSpec{
			PrivateKeyFile:      w.PrivateKeyPath,
			ListenPort:          listenPort,
			PeerPublicKey:       s.Credential,
			Endpoint:            s.Endpoint,
			PersistentKeepalive: w.PersistentKeepalive,
			AllowedIPs:          append([]string(nil), w.AllowedIPs...),
		}
		filter.Bandwidth, filter.Security = w.BandwidthCommunity, w.SecurityCommunity
	case peerapi.LinkGRE, peerapi.LinkIP6GRE:
		g := o.GRE
		override(g.IPv4, g.IPv6, g.IPv6LinkLocal)
		ts.Type = v1alpha1.TunnelGRE
		local := g.LocalEndpointHost4
		if s.Type == peerapi.LinkIP6GRE {
			ts.Type = v1alpha1.TunnelIP6GRE
			local = g.LocalEndpointHost6
		}
		ts.GRE = &v1alpha1.GRESpec{Local: local, Remote: s.Endpoint, TTL: 255}
		filter.Bandwidth, filter.Security = g.BandwidthCommunity, g.SecurityCommunity
	default:
		return nil, nil, fmt.Errorf("link type %q is not supported", s.Type)
	}
	// Local addresses only for the families the peer has: an IPv4 address on an IPv6-only
	// tunnel is noise (and the old agent's bug 14).
	if s.IPv4 != "" {
		ts.LocalIPv4, ts.PeerIPv4 = ipv4, s.IPv4
	}
	if s.IPv6 != "" {
		ts.LocalIPv6, ts.PeerIPv6 = ipv6, s.IPv6
	}
	if s.IPv6LinkLocal != "" {
		ts.LocalIPv6LinkLocal, ts.PeerIPv6LinkLocal = ll, s.IPv6LinkLocal
	}
	bs := &v1alpha1.BIRDProtocolSpec{
		Interface:             s.Interface,
		ASN:                   s.ASN,
		MPBGP:                 s.HasExtension(peerapi.ExtensionMPBGP),
		ExtendedNextHop:       s.HasExtension(peerapi.ExtensionExtendedNextHop),
		NeighborIPv4:          s.IPv4,
		NeighborIPv6:          s.IPv6,
		NeighborIPv6LinkLocal: s.IPv6LinkLocal,
		Filter:                filter,
	}
	if tunnel, err = v1alpha1.NewObject(source, s.UUID, s.Interface, ts); err != nil {
		return nil, nil, err
	}
	if bird, err = v1alpha1.NewObject(source, s.UUID, s.Interface, bs); err != nil {
		return nil, nil, err
	}
	return tunnel, bird, nil
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// errInvalidPort marks a port decision that makes the session invalid (as opposed to a state
// directory failure).
type invalidPortError struct{ msg string }

func (e *invalidPortError) Error() string { return e.msg }

// listenPort decides a WireGuard session's listen port. A port the session already owns stays
// its own (even after its passthrough JWT expired: the peer has configured it). A passthrough JWT
// claims its port for the session; an expired one only if nobody else holds the port. Without a
// passthrough, the session gets a port reserved for it. An unverifiable token, an ASN mismatch
// or a port someone else holds make the session invalid (*invalidPortError).
func listenPort(ports *peerapi.PortReservations, secret []byte, s *peerapi.Session, now time.Time) (int, error) {
	if ports == nil {
		return 0, nil
	}
	owned, hasOwned := ports.SessionPort(s.UUID)
	if s.Data.Passthrough == "" {
		if hasOwned {
			return owned, nil
		}
		return ports.ForSession(s.UUID)
	}
	c, err := peerapi.ParsePassthrough(secret, s.Data.Passthrough, now)
	if c != nil && c.ASN != s.ASN {
		return 0, &invalidPortError{fmt.Sprintf("passthrough token was issued for AS%d, not AS%d", c.ASN, s.ASN)}
	}
	expired := errors.Is(err, peerapi.ErrPassthroughExpired)
	if err != nil && !expired {
		return 0, &invalidPortError{strings.TrimPrefix(err.Error(), "passthrough: ") + " (passthrough token)"}
	}
	if c.Port == 0 {
		// A GRE token reused for WireGuard, or an old token without a port.
		if hasOwned {
			return owned, nil
		}
		return ports.ForSession(s.UUID)
	}
	if hasOwned && c.Port == owned {
		return owned, nil
	}
	// An expired token is still ours (the signature holds): its port is taken if nobody else
	// has it by now, so that a lost state directory does not fail every older session.
	claim := ports.Claim
	if expired {
		claim = ports.ClaimFree
	}
	if err := claim(s.UUID, c.Port); err != nil {
		if errors.Is(err, peerapi.ErrPortTaken) {
			msg := fmt.Sprintf("listen port %d from the passthrough token is used by another session", c.Port)
			if expired {
				msg = fmt.Sprintf("passthrough token expired and its listen port %d was given to someone else; request the router info again", c.Port)
			}
			return 0, &invalidPortError{msg}
		}
		return 0, err
	}
	return c.Port, nil
}
