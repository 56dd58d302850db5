package dnsserver

import (
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

// TestGeoAnswers checks location-based answers and the ECS scope with a GeoIP database the test
// builds; UDP takes the fast path, TCP the general one, and both must agree.
func TestGeoAnswers(t *testing.T) {
	s := startServer(t, testGeoDB(t), map[string]*v1alpha1.DNSZoneSpec{"example.test.": testZone()})
	cases := []struct {
		name     string
		qname    string
		ecs      string
		bits     uint8
		answer   []string
		scope    int // -1: no ECS option expected
		scopeMin bool
		nodata   bool
	}{
		{"country", "geo.example.test.", "198.51.100.0", 24, []string{"a 198.51.100.1"}, 24, false, false},
		{"country, narrower source", "geo.example.test.", "198.51.100.128", 25, []string{"a 198.51.100.1"}, 24, false, false},
		{"continent when the country has no entry", "geo.example.test.", "203.0.113.0", 24, []string{"a 198.51.100.3", "a 198.51.100.4"}, 25, false, false},
		{"continent only in the database", "geo.example.test.", "203.0.113.128", 25, []string{"a 198.51.100.3", "a 198.51.100.4"}, 25, false, false},
		{"IPv6 client subnet", "geo.example.test.", "2001:db8:1::", 56, []string{"a 198.51.100.2"}, 48, false, false},
		{"unknown network gets the default", "geo.example.test.", "192.0.2.0", 24, []string{"a 198.51.100.9"}, 1, true, false},
		{"country with no continent match", "geo.example.test.", "100.64.1.0", 24, []string{"a 198.51.100.9"}, 10, false, false},
		{"ECS /0 uses the source, scope 0", "geo.example.test.", "0.0.0.0", 0, []string{"a 198.51.100.9"}, 0, false, false},
		{"no default and no match is NODATA", "nodef.example.test.", "192.0.2.0", 24, nil, 1, true, true},
		{"no default, match", "nodef.example.test.", "198.51.100.0", 24, []string{"a 198.51.100.1"}, 24, false, false},
		{"geo CNAME", "gcname.example.test.", "198.51.100.0", 24, []string{"a 192.0.2.25", "cname mail.example.test."}, 24, false, false},
		{"static name echoes scope 0", "www.example.test.", "198.51.100.0", 24, []string{"a 192.0.2.10", "a 192.0.2.11"}, 0, false, false},
		{"no ECS, source 127.0.0.1", "geo.example.test.", "", 0, []string{"a 198.51.100.9"}, -1, false, false},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, c := range cases {
			t.Run(network+"/"+c.name, func(t *testing.T) {
				q := query(c.qname, dns.TypeA)
				if c.ecs != "" {
					withECS(q, c.ecs, c.bits)
				}
				r := exchange(t, s, q, network)
				if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
					t.Fatalf("rcode %s aa=%v\n%v", dns.RcodeToString[r.Rcode], r.Authoritative, r)
				}
				if got := rdatas(r.Answer); !reflect.DeepEqual(got, c.answer) {
					t.Fatalf("answer %q, want %q", got, c.answer)
				}
				if c.nodata && (len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA) {
					t.Fatalf("NODATA without SOA: %v", r.Ns)
				}
				e := ecsOf(r)
				if c.scope < 0 {
					if e != nil {
						t.Fatalf("ECS %v in an answer to a query without it", e)
					}
					return
				}
				if e == nil {
					t.Fatal("ECS option not echoed")
				}
				if e.SourceNetmask != c.bits || !e.Address.Equal(net.ParseIP(c.ecs)) {
					t.Fatalf("ECS echoed as %s/%d, want %s/%d", e.Address, e.SourceNetmask, c.ecs, c.bits)
				}
				if (c.scopeMin && int(e.SourceScope) < c.scope) || (!c.scopeMin && int(e.SourceScope) != c.scope) {
					t.Fatalf("ECS scope %d, want %d (min=%v)", e.SourceScope, c.scope, c.scopeMin)
				}
			})
		}
	}
}

// TestGeoBySourceAddress places a client with no ECS by the address it sends from.
func TestGeoBySourceAddress(t *testing.T) {
	s := startServer(t, testGeoDB(t), map[string]*v1alpha1.DNSZoneSpec{"example.test.": testZone()})
	for _, network := range []string{"udp", "tcp"} {
		var local net.Addr = &net.UDPAddr{IP: net.ParseIP("127.0.0.2")}
		addr := s.UDPAddr().String()
		if network == "tcp" {
			local = &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}
			addr = s.TCPAddr().String()
		}
		c := &dns.Client{Net: network, Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: local, Timeout: 2 * time.Second}}
		r, _, err := c.Exchange(query("geo.example.test.", dns.TypeA), addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := rdatas(r.Answer); !reflect.DeepEqual(got, []string{"a 198.51.100.1"}) {
			t.Fatalf("%s from 127.0.0.2 (DE): %q", network, got)
		}
	}
}

// TestGeoWeights checks that weights spread clients, that a client keeps its pick, that a
// zero-weight value among weighted ones is never picked and that the scope covers the client.
func TestGeoWeights(t *testing.T) {
	s := startServer(t, testGeoDB(t), map[string]*v1alpha1.DNSZoneSpec{"example.test.": testZone()})
	counts := map[string]int{}
	for i := 0; i < 200; i++ {
		subnet := net.IPv4(10, byte(i/250), byte(i%250), 0).String()
		var first []string
		for _, network := range []string{"udp", "tcp", "udp"} {
			r := exchange(t, s, withECS(query("wgeo.example.test.", dns.TypeA), subnet, 24), network)
			got := rdatas(r.Answer)
			if len(got) != 1 {
				t.Fatalf("%s: %d answers, want one picked value", subnet, len(got))
			}
			if first == nil {
				first = got
			} else if !reflect.DeepEqual(got, first) {
				t.Fatalf("%s over %s: %q, first %q: the pick must be stable per client", subnet, network, got, first)
			}
			if e := ecsOf(r); e == nil || e.SourceScope < 24 {
				t.Fatalf("%s: scope %v, want at least the source /24 for a weighted pick", subnet, e)
			}
		}
		counts[first[0]]++
	}
	if counts["a 203.0.113.3"] != 0 {
		t.Fatalf("zero-weight value picked %d times", counts["a 203.0.113.3"])
	}
	if counts["a 203.0.113.1"] < 20 || counts["a 203.0.113.2"] < 100 {
		t.Fatalf("weights 1:3 gave %v", counts)
	}
}
