package v1alpha1

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const peerKey = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="

func wgTunnel() *TunnelSpec {
	return &TunnelSpec{
		Type: TunnelWireGuard, MTU: 1420,
		LocalIPv4: "172.20.0.1", PeerIPv4: "172.20.0.2",
		LocalIPv6LinkLocal: "fe80::1", PeerIPv6LinkLocal: "fe80::2",
		Sysctls: map[string]string{"ipv4.forwarding": "1"},
		WireGuard: &WireGuardSpec{
			PrivateKeyFile: "/etc/wireguard/privatekey", ListenPort: 21080, PeerPublicKey: peerKey,
			Endpoint: "peer.example.net:51820", PersistentKeepalive: 25, AllowedIPs: []string{"0.0.0.0/0", "::/0"},
		},
	}
}

func TestValidationNamesObjectAndField(t *testing.T) {
	tests := []struct {
		name  string
		kind  Kind
		key   string
		spec  Spec
		field string // "" means valid
	}{
		{"valid wireguard", KindTunnel, "dn1", wgTunnel(), ""},
		{"bad mtu", KindTunnel, "dn1", func() Spec { s := wgTunnel(); s.MTU = 100; return s }(), "spec.mtu"},
		{"bad interface name", KindTunnel, "this-name-is-too-long", wgTunnel(), "metadata.name"},
		{"peer key not base64", KindTunnel, "dn1", func() Spec { s := wgTunnel(); s.WireGuard.PeerPublicKey = "nope"; return s }(), "spec.wireguard.peerPublicKey"},
		{"endpoint without port", KindTunnel, "dn1", func() Spec { s := wgTunnel(); s.WireGuard.Endpoint = "peer.example.net"; return s }(), "spec.wireguard.endpoint"},
		{"link-local in ipv6", KindTunnel, "dn1", func() Spec { s := wgTunnel(); s.PeerIPv6 = "fe80::5"; return s }(), "spec.peerIPv6"},
		{"global in link-local", KindTunnel, "dn1", func() Spec { s := wgTunnel(); s.PeerIPv6LinkLocal = "fd00::5"; return s }(), "spec.peerIPv6LinkLocal"},
		{"unknown sysctl", KindTunnel, "dn1", func() Spec { s := wgTunnel(); s.Sysctls = map[string]string{"ipv4.bogus": "1"}; return s }(), "spec.sysctls.ipv4.bogus"},
		{"gre with v6 remote", KindTunnel, "dn2", &TunnelSpec{Type: TunnelGRE, GRE: &GRESpec{Remote: "2001:db8::1"}}, "spec.gre.remote"},
		{"ip6gre valid", KindTunnel, "dn3", &TunnelSpec{Type: TunnelIP6GRE, GRE: &GRESpec{Local: "2001:db8::2", Remote: "2001:db8::1"}}, ""},
		{"unknown type", KindTunnel, "dn4", &TunnelSpec{Type: "vxlan"}, "spec.type"},
		{"bird valid", KindBIRDProtocol, "dn1", &BIRDProtocolSpec{Interface: "dn1", ASN: 4242421080, NeighborIPv6LinkLocal: "fe80::1080"}, ""},
		{"bird no neighbour", KindBIRDProtocol, "dn1", &BIRDProtocolSpec{Interface: "dn1", ASN: 4242421080}, "spec.neighborIPv4"},
		{"bird asn zero", KindBIRDProtocol, "dn1", &BIRDProtocolSpec{Interface: "dn1", NeighborIPv4: "172.20.0.2"}, "spec.asn"},
		{"bird latency tier", KindBIRDProtocol, "dn1", &BIRDProtocolSpec{Interface: "dn1", ASN: 1, NeighborIPv4: "172.20.0.2", Filter: FilterParams{LatencyTier: 12}}, "spec.filter.latencyTier"},
		{"zone upper case", KindDNSZone, "Example.com.", &DNSZoneSpec{}, "metadata.name"},
		{"zone without dot", KindDNSZone, "example.com", &DNSZoneSpec{}, "metadata.name"},
		{"proxy key mismatch", KindProxyListener, "tcp/:22", &ProxyListenerSpec{Protocol: "tcp", Address: ":2222", Upstream: "10.0.0.1:22"}, "metadata.name"},
		{"proxy route upstream", KindProxyListener, "http/:80", &ProxyListenerSpec{Protocol: "http", Address: ":80", Routes: []ProxyRoute{{Host: "a.example", Upstream: "ftp://x"}}}, "spec.routes[0].upstream"},
		{"waf empty", KindWAFScript, "a.example", &WAFScriptSpec{}, "spec.code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewObject("test", "", tc.key, tc.spec)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid spec rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid spec accepted, want an error on %s", tc.field)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a FieldError", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, string(tc.kind)+" "+tc.key+": ") || !strings.Contains(msg, tc.field+": ") {
				t.Fatalf("error %q does not name %s %s and field %s", msg, tc.kind, tc.key, tc.field)
			}
		})
	}
}

func TestHashIsStableAndSensitive(t *testing.T) {
	a, err := NewObject("s", "", "dn1", wgTunnel())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewObject("other-source", "owner", "dn1", wgTunnel())
	if a.Hash != b.Hash {
		t.Fatal("equal specs hash differently (source and owner are not part of the spec)")
	}
	// Map order must not matter.
	s1, s2 := wgTunnel(), wgTunnel()
	s1.Sysctls = map[string]string{"ipv4.forwarding": "1", "ipv6.forwarding": "1", "ipv6.autoconf": "0"}
	s2.Sysctls = map[string]string{"ipv6.autoconf": "0", "ipv6.forwarding": "1", "ipv4.forwarding": "1"}
	h1, _ := HashSpec(s1)
	h2, _ := HashSpec(s2)
	if h1 != h2 {
		t.Fatal("map order changed the hash")
	}
	c := wgTunnel()
	c.WireGuard.PersistentKeepalive = 26
	hc, _ := HashSpec(c)
	if hc == a.Hash {
		t.Fatal("a changed keepalive did not change the hash")
	}
	// A fixed spec has a fixed hash across processes: objects persisted by an earlier run must
	// compare equal after a restart.
	if h, _ := HashSpec(&WAFScriptSpec{Code: "return"}); h != mustHash(t, &WAFScriptSpec{Code: "return"}) || len(h) != 32 {
		t.Fatalf("hash %q", h)
	}
}

func mustHash(t *testing.T, s Spec) string {
	t.Helper()
	h, err := HashSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRedactionMasksSecretsDeeply(t *testing.T) {
	spec := &ProxyListenerSpec{Protocol: "https", Address: ":443", Routes: []ProxyRoute{
		{Host: "a.example", Upstream: "http://10.0.0.1", CertificatePEM: "CERT", PrivateKeyPEM: "-----BEGIN PRIVATE KEY-----secret"},
		{Host: "b.example", Upstream: "http://10.0.0.2"},
	}}
	o, err := NewObject("s", "", "https/:443", spec)
	if err != nil {
		t.Fatal(err)
	}
	r := o.Redacted()
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), "secret") {
		t.Fatalf("redacted object still holds the key: %s", b)
	}
	rs := r.Spec.(*ProxyListenerSpec)
	if rs.Routes[0].PrivateKeyPEM != Redaction || rs.Routes[0].CertificatePEM != "CERT" || rs.Routes[1].PrivateKeyPEM != "" {
		t.Fatalf("redaction masked the wrong fields: %+v", rs.Routes)
	}
	if spec.Routes[0].PrivateKeyPEM == Redaction || o.Hash != r.Hash {
		t.Fatal("redaction changed the original object")
	}
}

func TestSetConditionKeepsTransitionTime(t *testing.T) {
	t0 := time.Unix(100, 0)
	conds := SetCondition(nil, Condition{Type: ConditionReady, Status: ConditionFalse}, t0)
	conds = SetCondition(conds, Condition{Type: ConditionReady, Status: ConditionFalse, Reason: "Other"}, t0.Add(time.Minute))
	if !conds[0].LastTransitionTime.Equal(t0) || conds[0].Reason != "Other" {
		t.Fatalf("same status moved the transition time: %+v", conds[0])
	}
	conds = SetCondition(conds, Condition{Type: ConditionReady, Status: ConditionTrue}, t0.Add(2*time.Minute))
	if !conds[0].LastTransitionTime.Equal(t0.Add(2*time.Minute)) || len(conds) != 1 {
		t.Fatalf("status change kept the old transition time: %+v", conds)
	}
}
