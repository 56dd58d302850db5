package v1alpha1

import (
	"encoding/base64"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// TunnelType is the kind of tunnel interface.
type TunnelType string

// Tunnel types.
const (
	TunnelWireGuard TunnelType = "wireguard"
	TunnelGRE       TunnelType = "gre"
	TunnelIP6GRE    TunnelType = "ip6gre"
)

// TunnelSpec is the desired state of one tunnel interface; the object key is the interface name.
type TunnelSpec struct {
	Type TunnelType `json:"type"`
	// MTU of the interface; 0 leaves the kernel default.
	MTU int `json:"mtu,omitempty"`

	// Addresses are bare IPs. A local address is configured only when the peer has that family
	// (LocalIPv4 with PeerIPv4 as /32 peer, LocalIPv6LinkLocal with PeerIPv6LinkLocal as /64 peer,
	// LocalIPv6 with PeerIPv6 as /128 peer plus a /128 route to PeerIPv6).
	LocalIPv4          string `json:"localIPv4,omitempty"`
	PeerIPv4           string `json:"peerIPv4,omitempty"`
	LocalIPv6          string `json:"localIPv6,omitempty"`
	PeerIPv6           string `json:"peerIPv6,omitempty"`
	LocalIPv6LinkLocal string `json:"localIPv6LinkLocal,omitempty"`
	PeerIPv6LinkLocal  string `json:"peerIPv6LinkLocal,omitempty"`

	// Sysctls are per-interface kernel settings by short name: ipv4.forwarding, ipv4.rp_filter,
	// ipv4.accept_local, ipv6.forwarding, ipv6.accept_ra, ipv6.autoconf. Values are written to
	// /proc/sys/net/<family>/conf/<interface>/<name>.
	Sysctls map[string]string `json:"sysctls,omitempty"`

	WireGuard *WireGuardSpec `json:"wireguard,omitempty"`
	GRE       *GRESpec       `json:"gre,omitempty"`
}

// WireGuardSpec is the WireGuard part of a tunnel: our key and port, and exactly one peer.
type WireGuardSpec struct {
	// PrivateKeyFile holds our base64 private key; the key itself never enters a spec.
	PrivateKeyFile string `json:"privateKeyFile"`
	// ListenPort is the UDP port; 0 lets the kernel pick one.
	ListenPort int `json:"listenPort,omitempty"`
	// PeerPublicKey is the peer's base64 public key.
	PeerPublicKey string `json:"peerPublicKey"`
	// Endpoint is the peer's host:port ([v6]:port); empty waits for the peer to connect.
	Endpoint string `json:"endpoint,omitempty"`
	// PersistentKeepalive in seconds; 0 disables it.
	PersistentKeepalive int `json:"persistentKeepalive,omitempty"`
	// AllowedIPs are CIDRs routed to the peer inside the tunnel.
	AllowedIPs []string `json:"allowedIPs,omitempty"`
}

// GRESpec is the GRE or ip6gre part of a tunnel.
type GRESpec struct {
	// Local and Remote are the outer endpoint addresses (IPv4 for gre, IPv6 for ip6gre).
	Local  string `json:"local,omitempty"`
	Remote string `json:"remote"`
	// TTL of the outer header; 0 means 255.
	TTL int `json:"ttl,omitempty"`
}

// Kind implements Spec.
func (*TunnelSpec) Kind() Kind { return KindTunnel }

var ifNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,15}$`)

// ValidInterfaceName reports whether name is a usable Linux interface name.
func ValidInterfaceName(name string) bool {
	return ifNameRE.MatchString(name) && name != "." && name != ".."
}

// TunnelSysctls lists the sysctl short names a TunnelSpec may set.
var TunnelSysctls = map[string]bool{
	"ipv4.forwarding": true, "ipv4.rp_filter": true, "ipv4.accept_local": true,
	"ipv6.forwarding": true, "ipv6.accept_ra": true, "ipv6.autoconf": true,
}

// Validate implements Spec.
func (s *TunnelSpec) Validate(key string) error {
	fe := NewFieldErrors(KindTunnel, key)
	if !ValidInterfaceName(key) {
		fe.Add("metadata.name", key, "must be an interface name of 1-15 characters from [A-Za-z0-9._-]")
	}
	if s.MTU != 0 && (s.MTU < 1280 || s.MTU > 9999) {
		fe.Add("spec.mtu", strconv.Itoa(s.MTU), "must be between 1280 and 9999")
	}
	checkIP(fe, "spec.localIPv4", s.LocalIPv4, ipv4Only)
	checkIP(fe, "spec.peerIPv4", s.PeerIPv4, ipv4Only)
	checkIP(fe, "spec.localIPv6", s.LocalIPv6, ipv6Global)
	checkIP(fe, "spec.peerIPv6", s.PeerIPv6, ipv6Global)
	checkIP(fe, "spec.localIPv6LinkLocal", s.LocalIPv6LinkLocal, ipv6LinkLocal)
	checkIP(fe, "spec.peerIPv6LinkLocal", s.PeerIPv6LinkLocal, ipv6LinkLocal)
	for name, v := range s.Sysctls {
		if !TunnelSysctls[name] {
			fe.Add("spec.sysctls."+name, name, "unknown sysctl; allowed: ipv4.forwarding, ipv4.rp_filter, ipv4.accept_local, ipv6.forwarding, ipv6.accept_ra, ipv6.autoconf")
		} else if _, err := strconv.Atoi(v); err != nil {
			fe.Add("spec.sysctls."+name, v, "must be an integer")
		}
	}
	switch s.Type {
	case TunnelWireGuard:
		if s.GRE != nil {
			fe.Add("spec.gre", "", "must be empty for a wireguard tunnel")
		}
		w := s.WireGuard
		if w == nil {
			fe.Add("spec.wireguard", "", "required for a wireguard tunnel")
			break
		}
		if w.PrivateKeyFile == "" {
			fe.Add("spec.wireguard.privateKeyFile", "", "required")
		}
		if w.ListenPort < 0 || w.ListenPort > 65535 {
			fe.Add("spec.wireguard.listenPort", strconv.Itoa(w.ListenPort), "must be 0-65535")
		}
		if k, err := base64.StdEncoding.DecodeString(w.PeerPublicKey); err != nil || len(k) != 32 {
			fe.Add("spec.wireguard.peerPublicKey", w.PeerPublicKey, "must be a base64 WireGuard key of 32 bytes")
		}
		if w.Endpoint != "" {
			if err := ValidateHostPort(w.Endpoint); err != nil {
				fe.Add("spec.wireguard.endpoint", w.Endpoint, "%v", err)
			}
		}
		if w.PersistentKeepalive < 0 || w.PersistentKeepalive > 65535 {
			fe.Add("spec.wireguard.persistentKeepalive", strconv.Itoa(w.PersistentKeepalive), "must be 0-65535 seconds")
		}
		for i, c := range w.AllowedIPs {
			if _, err := netip.ParsePrefix(c); err != nil {
				fe.Add("spec.wireguard.allowedIPs["+strconv.Itoa(i)+"]", c, "must be a CIDR")
			}
		}
	case TunnelGRE, TunnelIP6GRE:
		if s.WireGuard != nil {
			fe.Add("spec.wireguard", "", "must be empty for a %s tunnel", s.Type)
		}
		g := s.GRE
		if g == nil {
			fe.Add("spec.gre", "", "required for a %s tunnel", s.Type)
			break
		}
		want := ipv4Only
		if s.Type == TunnelIP6GRE {
			want = ipv6Any
		}
		if g.Remote == "" {
			fe.Add("spec.gre.remote", "", "required")
		}
		checkIP(fe, "spec.gre.remote", g.Remote, want)
		checkIP(fe, "spec.gre.local", g.Local, want)
		if g.TTL < 0 || g.TTL > 255 {
			fe.Add("spec.gre.ttl", strconv.Itoa(g.TTL), "must be 0-255")
		}
	default:
		fe.Add("spec.type", string(s.Type), "must be wireguard, gre or ip6gre")
	}
	return fe.Err()
}

type ipRule int

const (
	ipv4Only ipRule = iota
	ipv6Global
	ipv6LinkLocal
	ipv6Any
)

func checkIP(fe *FieldErrors, field, v string, rule ipRule) {
	if v == "" {
		return
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		fe.Add(field, v, "must be a bare IP address")
		return
	}
	switch rule {
	case ipv4Only:
		if !a.Is4() {
			fe.Add(field, v, "must be an IPv4 address")
		}
	case ipv6Global:
		if !a.Is6() || a.Is4In6() || a.IsLinkLocalUnicast() {
			fe.Add(field, v, "must be an IPv6 address outside fe80::/10")
		}
	case ipv6LinkLocal:
		if !a.Is6() || !a.IsLinkLocalUnicast() {
			fe.Add(field, v, "must be an IPv6 link-local address (fe80::/10)")
		}
	case ipv6Any:
		if !a.Is6() || a.Is4In6() {
			fe.Add(field, v, "must be an IPv6 address")
		}
	}
}

// ValidateHostPort checks a host:port endpoint whose host is an IP or an RFC 1123 host name.
func ValidateHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return errString("must be host:port or [ipv6]:port")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return errString("port must be 1-65535")
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if !ValidHostname(host) {
		return errString("host must be an IP address or an RFC 1123 host name")
	}
	return nil
}

var labelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// ValidHostname reports whether h is an RFC 1123 host name of at most 253 characters.
func ValidHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if !labelRE.MatchString(l) {
			return false
		}
	}
	return true
}

type errString string

func (e errString) Error() string { return string(e) }
