package dnsserver

import (
	"context"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/geoip"
	"github.com/edgeagent/edgeagent/pkg/geoip/geoiptest"
)

// testZone is the zone most tests serve.
func testZone() *v1alpha1.DNSZoneSpec {
	var big []v1alpha1.DNSRecord
	for i := 0; i < 40; i++ {
		big = append(big, v1alpha1.DNSRecord{Name: "big", Type: "TXT", Value: "record " + strings.Repeat("y", 20) + string(rune('a'+i%26)) + string(rune('a'+i/26))})
	}
	recs := []v1alpha1.DNSRecord{
		{Name: "@", Type: "NS", Value: "ns1"},
		{Name: "ns1", Type: "A", Value: "192.0.2.53"},
		{Name: "@", Type: "A", Value: "192.0.2.1"},
		{Name: "www", Type: "A", Value: "192.0.2.10", TTL: 300},
		{Name: "www", Type: "A", Value: "192.0.2.11", TTL: 300},
		{Name: "www", Type: "AAAA", Value: "2001:db8::10"},
		{Name: "alias", Type: "CNAME", Value: "www"},
		{Name: "chain.example.test.", Type: "CNAME", Value: "alias.example.test."},
		{Name: "ext", Type: "CNAME", Value: "www.example.org."},
		{Name: "dangling", Type: "CNAME", Value: "nothere"},
		{Name: "@", Type: "MX", Value: "mail", Priority: 10},
		{Name: "mail", Type: "A", Value: "192.0.2.25"},
		{Name: "long", Type: "TXT", Value: strings.Repeat("x", 300)},
		{Name: "_sip._tcp", Type: "SRV", Value: "5 5060 sip", Priority: 10},
		{Name: "@", Type: "CAA", Value: `0 issue "ca.example"`},
		{Name: "*.wild", Type: "A", Value: "192.0.2.99"},
		{Name: "a.b.deep", Type: "A", Value: "192.0.2.42"},
		{Name: "sub", Type: "NS", Value: "ns.sub"},
		{Name: "ns.sub", Type: "A", Value: "192.0.2.77"},
		{Name: "geo", Type: "A", TTL: 60, Geo: &v1alpha1.GeoAnswers{
			Countries:  map[string][]v1alpha1.WeightedValue{"de": {{Value: "198.51.100.1"}}, "US": {{Value: "198.51.100.2"}}},
			Continents: map[string][]v1alpha1.WeightedValue{"AS": {{Value: "198.51.100.3"}, {Value: "198.51.100.4"}}},
			Default:    []v1alpha1.WeightedValue{{Value: "198.51.100.9"}},
		}},
		{Name: "geo", Type: "AAAA", Value: "2001:db8::9"},
		{Name: "wgeo", Type: "A", Geo: &v1alpha1.GeoAnswers{
			Default: []v1alpha1.WeightedValue{{Value: "203.0.113.1", Weight: 1}, {Value: "203.0.113.2", Weight: 3}, {Value: "203.0.113.3"}},
		}},
		{Name: "nodef", Type: "A", Geo: &v1alpha1.GeoAnswers{
			Countries: map[string][]v1alpha1.WeightedValue{"DE": {{Value: "198.51.100.1"}}},
		}},
		{Name: "gcname", Type: "CNAME", Geo: &v1alpha1.GeoAnswers{
			Countries: map[string][]v1alpha1.WeightedValue{"DE": {{Value: "mail"}}},
			Default:   []v1alpha1.WeightedValue{{Value: "www"}},
		}},
	}
	return &v1alpha1.DNSZoneSpec{Records: append(recs, big...)}
}

// testGeoDB writes a Country-shaped database: 198.51.100.0/24 DE, 203.0.113.0/25 JP (AS),
// 203.0.113.128/25 only continent AS, 2001:db8:1::/48 US.
func testGeoDB(t testing.TB) *geoip.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "country.mmdb")
	err := geoiptest.Write(path, []geoiptest.Network{
		{CIDR: "198.51.100.0/24", Country: "DE", Continent: "EU"},
		{CIDR: "203.0.113.0/25", Country: "JP", Continent: "AS"},
		{CIDR: "203.0.113.128/25", Continent: "AS"},
		{CIDR: "2001:db8:1::/48", Country: "US", Continent: "NA"},
		{CIDR: "100.64.0.0/10", Country: "FR", Continent: "EU"},
		{CIDR: "127.0.0.2/32", Country: "DE", Continent: "EU"},
	})
	if err != nil {
		t.Fatal(err)
	}
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// startServer serves the zones on 127.0.0.1 ephemeral ports until the test ends.
func startServer(t testing.TB, db *geoip.DB, zones map[string]*v1alpha1.DNSZoneSpec) *Server {
	t.Helper()
	s, err := New(Options{Addr: "127.0.0.1:0", UDPSockets: 2, GeoIP: db, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	for apex, spec := range zones {
		z, err := s.Compile(apex, spec, 7)
		if err != nil {
			t.Fatal(err)
		}
		s.SetZone(z)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func exchange(t testing.TB, s *Server, m *dns.Msg, network string) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 2 * time.Second, UDPSize: 65535}
	addr := s.UDPAddr().String()
	if network == "tcp" {
		addr = s.TCPAddr().String()
	}
	var lastErr error
	for i := 0; i < 3; i++ {
		r, _, err := c.Exchange(m, addr)
		if err == nil {
			return r
		}
		lastErr = err
	}
	t.Fatalf("exchange %s %s over %s: %v", m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], network, lastErr)
	return nil
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	return m
}

// withECS adds EDNS with an ECS option for prefix.
func withECS(m *dns.Msg, prefix string, bits uint8) *dns.Msg {
	ip := net.ParseIP(prefix)
	fam := uint16(1)
	if ip.To4() == nil {
		fam = 2
	} else {
		ip = ip.To4()
	}
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(1232)
	o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: fam, SourceNetmask: bits, Address: ip})
	m.Extra = append(m.Extra, o)
	return m
}

func ecsOf(m *dns.Msg) *dns.EDNS0_SUBNET {
	if o := m.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_SUBNET); ok {
				return e
			}
		}
	}
	return nil
}

// rdatas renders a section as sorted "TYPE rdata" strings, lower case.
func rdatas(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		s := rr.String()
		hdr := rr.Header().String()
		out = append(out, strings.ToLower(dns.TypeToString[rr.Header().Rrtype]+" "+strings.TrimSpace(strings.TrimPrefix(s, hdr))))
	}
	sort.Strings(out)
	return out
}
