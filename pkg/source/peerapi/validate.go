package peerapi

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/peerapi"
)

// ValidationOptions are the operator's limits on what a session may ask for.
type ValidationOptions struct {
	// ManagedPrefix every interface name must start with (default "dn"): the center names the
	// interface, and without the prefix a session could name (and so replace) eth0.
	ManagedPrefix string
	// AllowPublic accepts peer tunnel IPs outside the private ranges (interfaceIpAllowPublic).
	AllowPublic bool
	// Blacklist refuses peer tunnel IPs inside these prefixes (interfaceIpBlacklist).
	Blacklist []netip.Prefix
}

// privateRanges are the peer IPs accepted without AllowPublic, as the PeerAPI agent defines them.
var privateRanges = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
		"224.0.0.0/4", "::1/128", "fe80::/10", "fc00::/7", "ff00::/8"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// ParseBlacklist parses interfaceIpBlacklist entries: CIDRs or bare IPs.
func ParseBlacklist(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if strings.Contains(e, "/") {
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("interface IP blacklist: %q: %w", e, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("interface IP blacklist: %q: %w", e, err)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// ValidateSession checks a session the agent is about to configure (§10 of the protocol notes,
// plus the managed prefix, the private-IP policy and the blacklist). The error text is what the
// center gets after "invalid configuration: ".
func ValidateSession(s *peerapi.Session, o ValidationOptions) error {
	var reasons []string
	add := func(format string, args ...any) { reasons = append(reasons, fmt.Sprintf(format, args...)) }
	prefix := o.ManagedPrefix
	if prefix == "" {
		prefix = "dn"
	}
	if s.UUID == "" {
		add("session has no uuid")
	}
	switch {
	case !v1alpha1.ValidInterfaceName(s.Interface):
		add("interface name %q must be 1-15 characters from [A-Za-z0-9._-]", s.Interface)
	case !strings.HasPrefix(s.Interface, prefix) || len(s.Interface) == len(prefix):
		add("interface name %q must start with the managed prefix %q", s.Interface, prefix)
	}
	if s.ASN == 0 {
		add("asn must be 1-4294967295")
	}
	if s.MTU < 1280 || s.MTU > 9999 {
		add("mtu %d must be between 1280 and 9999", s.MTU)
	}
	if s.Policy < 0 || s.Policy > 4 {
		add("policy %d must be 0-4", s.Policy)
	}
	checkPeer := func(field, v string, check func(netip.Addr) string) {
		if v == "" {
			return
		}
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			add("%s %q is not an IP address", field, v)
			return
		}
		if msg := check(a); msg != "" {
			add("%s %q %s", field, v, msg)
			return
		}
		if !o.AllowPublic && !inAny(a, privateRanges) {
			add("%s %q is a public address; only private tunnel addresses are allowed", field, v)
		}
		if inAny(a, o.Blacklist) {
			add("%s %q is blacklisted", field, v)
		}
	}
	checkPeer("ipv4", s.IPv4, func(a netip.Addr) string {
		if !a.Is4() {
			return "must be an IPv4 address"
		}
		return ""
	})
	checkPeer("ipv6", s.IPv6, func(a netip.Addr) string {
		if !a.Is6() || a.Is4In6() || a.IsLinkLocalUnicast() {
			return "must be an IPv6 address outside fe80::/10"
		}
		return ""
	})
	checkPeer("ipv6LinkLocal", s.IPv6LinkLocal, func(a netip.Addr) string {
		if !a.Is6() || !a.IsLinkLocalUnicast() {
			return "must be an IPv6 link-local address (fe80::/10)"
		}
		return ""
	})
	if s.IPv4 == "" && s.IPv6 == "" && s.IPv6LinkLocal == "" {
		add("session has no peer address (ipv4, ipv6 or ipv6LinkLocal)")
	}
	switch s.Type {
	case peerapi.LinkWireGuard:
		if k, err := base64.StdEncoding.DecodeString(s.Credential); s.Credential == "" || err != nil || len(k) != 32 {
			add("credential must be a base64 WireGuard public key")
		}
		if s.Endpoint != "" {
			if err := v1alpha1.ValidateHostPort(s.Endpoint); err != nil {
				add("endpoint %q: %v", s.Endpoint, err)
			}
		}
	case peerapi.LinkGRE, peerapi.LinkIP6GRE:
		a, err := netip.ParseAddr(s.Endpoint)
		switch {
		case s.Endpoint == "":
			add("endpoint is required for a %s tunnel", s.Type)
		case err != nil || a.Zone() != "":
			add("endpoint %q must be a bare IP address for a %s tunnel", s.Endpoint, s.Type)
		case s.Type == peerapi.LinkGRE && !a.Is4():
			add("endpoint %q must be an IPv4 address for a gre tunnel", s.Endpoint)
		case s.Type == peerapi.LinkIP6GRE && (!a.Is6() || a.Is4In6()):
			add("endpoint %q must be an IPv6 address for an ip6gre tunnel", s.Endpoint)
		}
	default:
		add("link type %q is not supported (wireguard, gre, ip6gre)", s.Type)
	}
	if len(reasons) == 0 {
		return nil
	}
	return &InvalidError{Session: s.UUID, Reasons: reasons}
}

// InvalidError lists why a session cannot be configured.
type InvalidError struct {
	Session string
	Reasons []string
}

func (e *InvalidError) Error() string { return strings.Join(e.Reasons, "; ") }

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
