package peerapi

import (
	"reflect"
	"testing"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/peerapi"
)

var testTranslate = TranslateOptions{
	IPv4: "172.23.91.132", IPv6: "fd42:4242:2189:118::1", IPv6LinkLocal: "fe80::118",
	WireGuard: WireGuardOptions{PrivateKeyPath: "/etc/wireguard/privatekey", PersistentKeepalive: 25,
		AllowedIPs: []string{"172.16.0.0/12", "10.0.0.0/8", "fd00::/8", "fe80::/10"}, BandwidthCommunity: 24, SecurityCommunity: 34},
	GRE: GREOptions{LocalEndpointHost4: "203.0.113.1", LocalEndpointHost6: "2001:db8::118", IPv6LinkLocal: "fe80::1:118",
		BandwidthCommunity: 23, SecurityCommunity: 31},
	Sysctls: map[string]string{"ipv4.forwarding": "1", "ipv6.accept_ra": "0"},
}

func TestTranslateSession(t *testing.T) {
	cases := []struct {
		name       string
		mod        func(*peerapi.Session)
		port       int
		wantTunnel v1alpha1.TunnelSpec
		wantBIRD   v1alpha1.BIRDProtocolSpec
	}{
		{
			name: "wireguard mp-bgp, all families",
			mod:  func(s *peerapi.Session) { s.Extensions = []string{"mp-bgp", "extended-nexthop"}; s.Policy = 2 },
			port: 21080,
			wantTunnel: v1alpha1.TunnelSpec{Type: "wireguard", MTU: 1420,
				LocalIPv4: "172.23.91.132", PeerIPv4: "172.20.1.1", LocalIPv6: "fd42:4242:2189:118::1", PeerIPv6: "fd42:1:2::1",
				LocalIPv6LinkLocal: "fe80::118", PeerIPv6LinkLocal: "fe80::1080",
				Sysctls: map[string]string{"ipv4.forwarding": "1", "ipv6.accept_ra": "0"},
				WireGuard: &v1alpha1.WireGuardSpec{PrivateKeyFile: "/etc/wireguard/privatekey", ListenPort: 21080, PeerPublicKey: wgKey,
					Endpoint: "peer.example.net:51820", PersistentKeepalive: 25, AllowedIPs: []string{"172.16.0.0/12", "10.0.0.0/8", "fd00::/8", "fe80::/10"}}},
			wantBIRD: v1alpha1.BIRDProtocolSpec{Interface: "dn1y5tt200", ASN: 4242421080, MPBGP: true, ExtendedNextHop: true,
				NeighborIPv4: "172.20.1.1", NeighborIPv6: "fd42:1:2::1", NeighborIPv6LinkLocal: "fe80::1080",
				Filter: v1alpha1.FilterParams{Bandwidth: 24, Security: 34, Policy: 2}},
		},
		{
			name: "wireguard IPv4 only, no mp-bgp: no local IPv6 addresses",
			mod: func(s *peerapi.Session) {
				s.Extensions, s.IPv6, s.IPv6LinkLocal, s.Endpoint = nil, "", "", ""
			},
			port: 20001,
			wantTunnel: v1alpha1.TunnelSpec{Type: "wireguard", MTU: 1420, LocalIPv4: "172.23.91.132", PeerIPv4: "172.20.1.1",
				Sysctls: map[string]string{"ipv4.forwarding": "1", "ipv6.accept_ra": "0"},
				WireGuard: &v1alpha1.WireGuardSpec{PrivateKeyFile: "/etc/wireguard/privatekey", ListenPort: 20001, PeerPublicKey: wgKey,
					PersistentKeepalive: 25, AllowedIPs: []string{"172.16.0.0/12", "10.0.0.0/8", "fd00::/8", "fe80::/10"}}},
			wantBIRD: v1alpha1.BIRDProtocolSpec{Interface: "dn1y5tt200", ASN: 4242421080, NeighborIPv4: "172.20.1.1",
				Filter: v1alpha1.FilterParams{Bandwidth: 24, Security: 34}},
		},
		{
			name: "gre uses the gre section and its own link-local",
			mod: func(s *peerapi.Session) {
				s.Type, s.Endpoint, s.Credential, s.IPv6 = "gre", "192.0.2.9", "", ""
			},
			wantTunnel: v1alpha1.TunnelSpec{Type: "gre", MTU: 1420, LocalIPv4: "172.23.91.132", PeerIPv4: "172.20.1.1",
				LocalIPv6LinkLocal: "fe80::1:118", PeerIPv6LinkLocal: "fe80::1080",
				Sysctls: map[string]string{"ipv4.forwarding": "1", "ipv6.accept_ra": "0"},
				GRE:     &v1alpha1.GRESpec{Local: "203.0.113.1", Remote: "192.0.2.9", TTL: 255}},
			wantBIRD: v1alpha1.BIRDProtocolSpec{Interface: "dn1y5tt200", ASN: 4242421080, MPBGP: true,
				NeighborIPv4: "172.20.1.1", NeighborIPv6LinkLocal: "fe80::1080", Filter: v1alpha1.FilterParams{Bandwidth: 23, Security: 31}},
		},
		{
			name: "ip6gre",
			mod: func(s *peerapi.Session) {
				s.Type, s.Endpoint, s.IPv4, s.IPv6LinkLocal = "ip6gre", "2001:db8::9", "", ""
			},
			wantTunnel: v1alpha1.TunnelSpec{Type: "ip6gre", MTU: 1420, LocalIPv6: "fd42:4242:2189:118::1", PeerIPv6: "fd42:1:2::1",
				Sysctls: map[string]string{"ipv4.forwarding": "1", "ipv6.accept_ra": "0"},
				GRE:     &v1alpha1.GRESpec{Local: "2001:db8::118", Remote: "2001:db8::9", TTL: 255}},
			wantBIRD: v1alpha1.BIRDProtocolSpec{Interface: "dn1y5tt200", ASN: 4242421080, MPBGP: true,
				NeighborIPv6: "fd42:1:2::1", Filter: v1alpha1.FilterParams{Bandwidth: 23, Security: 31}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validWG()
			tc.mod(&s)
			if err := ValidateSession(&s, ValidationOptions{}); err != nil {
				t.Fatalf("test session invalid: %v", err)
			}
			tun, bird, err := TranslateSession("peerapi", &s, &testTranslate, tc.port)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range []*v1alpha1.Object{tun, bird} {
				if o.Key != "dn1y5tt200" || o.Owner != s.UUID || o.Source != "peerapi" || o.Hash == "" {
					t.Errorf("%s envelope = key %q owner %q source %q", o.Kind, o.Key, o.Owner, o.Source)
				}
			}
			if got := tun.Spec.(*v1alpha1.TunnelSpec); !reflect.DeepEqual(*got, tc.wantTunnel) {
				t.Errorf("tunnel\n got %+v\nwant %+v", *got, tc.wantTunnel)
			}
			if got := bird.Spec.(*v1alpha1.BIRDProtocolSpec); !reflect.DeepEqual(*got, tc.wantBIRD) {
				t.Errorf("bird\n got %+v\nwant %+v", *got, tc.wantBIRD)
			}
			// Same input, same hash: a restart must not look like a change.
			tun2, bird2, _ := TranslateSession("peerapi", &s, &testTranslate, tc.port)
			if tun2.Hash != tun.Hash || bird2.Hash != bird.Hash {
				t.Error("translation is not stable")
			}
		})
	}
}
