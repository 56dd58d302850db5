package peerapi

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/edgeagent/edgeagent/pkg/peerapi"
)

const wgKey = "Jf7pGvVJ0vjPcQJ2y6kqH+0wLbM3wT8nC5rX3W6k3Ww="

func validWG() peerapi.Session {
	return peerapi.Session{UUID: "11111111-1111-4111-8111-111111111111", ASN: 4242421080, Status: peerapi.StatusQueuedForSetup,
		IPv4: "172.20.1.1", IPv6: "fd42:1:2::1", IPv6LinkLocal: "fe80::1080", Type: "wireguard",
		Extensions: []string{"mp-bgp"}, Interface: "dn1y5tt200", Endpoint: "peer.example.net:51820", Credential: wgKey, MTU: 1420}
}

func TestValidateSession(t *testing.T) {
	bl, err := ParseBlacklist([]string{"172.20.99.0/24", "fd42:dead::1"})
	if err != nil {
		t.Fatal(err)
	}
	opts := ValidationOptions{Blacklist: bl}
	cases := []struct {
		name string
		mod  func(s *peerapi.Session)
		opts *ValidationOptions
		want string // "" = valid; else a substring of the reason
	}{
		{"valid wireguard", func(*peerapi.Session) {}, nil, ""},
		{"wireguard without endpoint", func(s *peerapi.Session) { s.Endpoint = "" }, nil, ""},
		{"wireguard v6 endpoint", func(s *peerapi.Session) { s.Endpoint = "[2001:db8::1]:51820" }, nil, ""},
		{"valid gre", func(s *peerapi.Session) { s.Type, s.Endpoint, s.Credential = "gre", "192.0.2.1", "" }, nil, ""},
		{"valid ip6gre", func(s *peerapi.Session) { s.Type, s.Endpoint = "ip6gre", "2001:db8::1" }, nil, ""},
		{"only link-local", func(s *peerapi.Session) { s.IPv4, s.IPv6 = "", "" }, nil, ""},
		{"bad interface chars", func(s *peerapi.Session) { s.Interface = "dn1;rm -rf" }, nil, "interface name"},
		{"interface too long", func(s *peerapi.Session) { s.Interface = "dn1234567890abcd" }, nil, "interface name"},
		{"interface without managed prefix", func(s *peerapi.Session) { s.Interface = "eth0" }, nil, `managed prefix "dn"`},
		{"interface is just the prefix", func(s *peerapi.Session) { s.Interface = "dn" }, nil, "managed prefix"},
		{"custom prefix", func(s *peerapi.Session) { s.Interface = "pe0" }, &ValidationOptions{ManagedPrefix: "pe"}, ""},
		{"asn 0", func(s *peerapi.Session) { s.ASN = 0 }, nil, "asn"},
		{"mtu low", func(s *peerapi.Session) { s.MTU = 1279 }, nil, "mtu 1279"},
		{"mtu high", func(s *peerapi.Session) { s.MTU = 10000 }, nil, "mtu 10000"},
		{"policy", func(s *peerapi.Session) { s.Policy = 5 }, nil, "policy"},
		{"ipv4 not an IP", func(s *peerapi.Session) { s.IPv4 = "172.20.1" }, nil, "ipv4"},
		{"ipv4 is v6", func(s *peerapi.Session) { s.IPv4 = "fd00::1" }, nil, "IPv4"},
		{"ipv6 is link-local", func(s *peerapi.Session) { s.IPv6 = "fe80::1" }, nil, "outside fe80::/10"},
		{"link-local is global", func(s *peerapi.Session) { s.IPv6LinkLocal = "fd00::1" }, nil, "link-local"},
		{"zone in address", func(s *peerapi.Session) { s.IPv6LinkLocal = "fe80::1%eth0" }, nil, "not an IP"},
		{"public ipv4", func(s *peerapi.Session) { s.IPv4 = "8.8.8.8" }, nil, "public"},
		{"public ipv6", func(s *peerapi.Session) { s.IPv6 = "2001:4860::8888" }, nil, "public"},
		{"public allowed", func(s *peerapi.Session) { s.IPv4 = "8.8.8.8" }, &ValidationOptions{AllowPublic: true}, ""},
		{"blacklisted ipv4", func(s *peerapi.Session) { s.IPv4 = "172.20.99.5" }, nil, "blacklisted"},
		{"blacklisted ipv6", func(s *peerapi.Session) { s.IPv6 = "fd42:dead::1" }, nil, "blacklisted"},
		{"no peer address", func(s *peerapi.Session) { s.IPv4, s.IPv6, s.IPv6LinkLocal = "", "", "" }, nil, "no peer address"},
		{"unsupported type", func(s *peerapi.Session) { s.Type = "openvpn" }, nil, "not supported"},
		{"wireguard without credential", func(s *peerapi.Session) { s.Credential = "" }, nil, "credential"},
		{"wireguard credential not base64", func(s *peerapi.Session) { s.Credential = "not a key!" }, nil, "credential"},
		{"wireguard endpoint without port", func(s *peerapi.Session) { s.Endpoint = "peer.example.net" }, nil, "endpoint"},
		{"wireguard endpoint bad host", func(s *peerapi.Session) { s.Endpoint = "bad_host!:51820" }, nil, "endpoint"},
		{"gre without endpoint", func(s *peerapi.Session) { s.Type, s.Endpoint = "gre", "" }, nil, "endpoint is required"},
		{"gre with hostname", func(s *peerapi.Session) { s.Type, s.Endpoint = "gre", "peer.example.net" }, nil, "bare IP"},
		{"gre with v6 endpoint", func(s *peerapi.Session) { s.Type, s.Endpoint = "gre", "2001:db8::1" }, nil, "IPv4"},
		{"ip6gre with v4 endpoint", func(s *peerapi.Session) { s.Type, s.Endpoint = "ip6gre", "192.0.2.1" }, nil, "IPv6"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validWG()
			tc.mod(&s)
			o := opts
			if tc.opts != nil {
				o = *tc.opts
			}
			err := ValidateSession(&s, o)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want an error containing %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	if _, err := ParseBlacklist([]string{"nope"}); err == nil {
		t.Error("bad blacklist entry accepted")
	}
	if p, _ := ParseBlacklist([]string{"10.1.2.3/8"}); p[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("blacklist not masked: %v", p)
	}
}
