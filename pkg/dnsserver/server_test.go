package dnsserver

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

// TestAnswers checks the authoritative semantics over real UDP and TCP sockets.
func TestAnswers(t *testing.T) {
	s := startServer(t, nil, map[string]*v1alpha1.DNSZoneSpec{
		"example.test.":      testZone(),
		"sub2.example.test.": {Records: []v1alpha1.DNSRecord{{Name: "x", Type: "A", Value: "192.0.2.200"}}},
	})
	soa := "soa ns1.example.test. hostmaster.example.test. 7 3600 600 604800 300"
	cases := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		aa     bool
		answer []string
		ns     []string
		extra  []string
	}{
		{"apex A", "example.test.", dns.TypeA, dns.RcodeSuccess, true, []string{"a 192.0.2.1"}, nil, nil},
		{"rrset", "www.example.test.", dns.TypeA, dns.RcodeSuccess, true, []string{"a 192.0.2.10", "a 192.0.2.11"}, nil, nil},
		{"case-insensitive", "wWw.ExAmple.TEST.", dns.TypeAAAA, dns.RcodeSuccess, true, []string{"aaaa 2001:db8::10"}, nil, nil},
		{"NODATA", "www.example.test.", dns.TypeMX, dns.RcodeSuccess, true, nil, []string{soa}, nil},
		{"NXDOMAIN", "nope.example.test.", dns.TypeA, dns.RcodeNameError, true, nil, []string{soa}, nil},
		{"empty non-terminal is NODATA", "b.deep.example.test.", dns.TypeA, dns.RcodeSuccess, true, nil, []string{soa}, nil},
		{"below empty non-terminal", "a.b.deep.example.test.", dns.TypeA, dns.RcodeSuccess, true, []string{"a 192.0.2.42"}, nil, nil},
		{"CNAME chased", "alias.example.test.", dns.TypeA, dns.RcodeSuccess, true, []string{"a 192.0.2.10", "a 192.0.2.11", "cname www.example.test."}, nil, nil},
		{"CNAME chain", "chain.example.test.", dns.TypeAAAA, dns.RcodeSuccess, true, []string{"aaaa 2001:db8::10", "cname alias.example.test.", "cname www.example.test."}, nil, nil},
		{"CNAME then NODATA", "alias.example.test.", dns.TypeTXT, dns.RcodeSuccess, true, []string{"cname www.example.test."}, []string{soa}, nil},
		{"CNAME asked for", "alias.example.test.", dns.TypeCNAME, dns.RcodeSuccess, true, []string{"cname www.example.test."}, nil, nil},
		{"CNAME out of zone", "ext.example.test.", dns.TypeA, dns.RcodeSuccess, true, []string{"cname www.example.org."}, nil, nil},
		{"CNAME to nothing", "dangling.example.test.", dns.TypeA, dns.RcodeNameError, true, []string{"cname nothere.example.test."}, []string{soa}, nil},
		{"MX", "example.test.", dns.TypeMX, dns.RcodeSuccess, true, []string{"mx 10 mail.example.test."}, nil, nil},
		{"TXT split at 255", "long.example.test.", dns.TypeTXT, dns.RcodeSuccess, true, []string{`txt "` + strings.Repeat("x", 255) + `" "` + strings.Repeat("x", 45) + `"`}, nil, nil},
		{"SRV", "_sip._tcp.example.test.", dns.TypeSRV, dns.RcodeSuccess, true, []string{"srv 10 5 5060 sip.example.test."}, nil, nil},
		{"CAA", "example.test.", dns.TypeCAA, dns.RcodeSuccess, true, []string{`caa 0 issue "ca.example"`}, nil, nil},
		{"NS", "example.test.", dns.TypeNS, dns.RcodeSuccess, true, []string{"ns ns1.example.test."}, nil, nil},
		{"synthesised SOA", "example.test.", dns.TypeSOA, dns.RcodeSuccess, true, []string{soa}, nil, nil},
		{"wildcard", "anything.wild.example.test.", dns.TypeA, dns.RcodeSuccess, true, []string{"a 192.0.2.99"}, nil, nil},
		{"wildcard deeper", "x.y.wild.example.test.", dns.TypeA, dns.RcodeSuccess, true, []string{"a 192.0.2.99"}, nil, nil},
		{"wildcard NODATA", "anything.wild.example.test.", dns.TypeAAAA, dns.RcodeSuccess, true, nil, []string{soa}, nil},
		{"referral", "host.sub.example.test.", dns.TypeA, dns.RcodeSuccess, false, nil, []string{"ns ns.sub.example.test."}, []string{"a 192.0.2.77"}},
		{"minimal ANY", "www.example.test.", dns.TypeANY, dns.RcodeSuccess, true, []string{"a 192.0.2.10", "a 192.0.2.11"}, nil, nil},
		{"geo default without GeoIP", "geo.example.test.", dns.TypeA, dns.RcodeSuccess, true, []string{"a 198.51.100.9"}, nil, nil},
		{"geo name, static type", "geo.example.test.", dns.TypeAAAA, dns.RcodeSuccess, true, []string{"aaaa 2001:db8::9"}, nil, nil},
		{"geo without default is NODATA", "nodef.example.test.", dns.TypeA, dns.RcodeSuccess, true, nil, []string{soa}, nil},
		{"geo CNAME default", "gcname.example.test.", dns.TypeA, dns.RcodeSuccess, true, []string{"a 192.0.2.10", "a 192.0.2.11", "cname www.example.test."}, nil, nil},
		{"child zone", "x.sub2.example.test.", dns.TypeA, dns.RcodeSuccess, true, []string{"a 192.0.2.200"}, nil, nil},
		{"outside every zone", "www.example.org.", dns.TypeA, dns.RcodeRefused, false, nil, nil, nil},
		{"parent of a zone", "test.", dns.TypeA, dns.RcodeRefused, false, nil, nil, nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, c := range cases {
			t.Run(network+"/"+c.name, func(t *testing.T) {
				q := query(c.qname, c.qtype)
				q.RecursionDesired = true
				r := exchange(t, s, q, network)
				if r.Rcode != c.rcode || r.Authoritative != c.aa {
					t.Fatalf("rcode %s aa=%v, want %s aa=%v\n%v", dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[c.rcode], c.aa, r)
				}
				if !r.RecursionDesired || r.RecursionAvailable || r.Id != q.Id {
					t.Fatalf("header: rd=%v ra=%v id %d/%d", r.RecursionDesired, r.RecursionAvailable, r.Id, q.Id)
				}
				if len(r.Question) != 1 || r.Question[0].Name != c.qname {
					t.Fatalf("question %v, want %q echoed as sent", r.Question, c.qname)
				}
				if got := rdatas(r.Answer); !reflect.DeepEqual(got, c.answer) {
					t.Fatalf("answer %q, want %q", got, c.answer)
				}
				if got := rdatas(r.Ns); !reflect.DeepEqual(got, c.ns) {
					t.Fatalf("authority %q, want %q", got, c.ns)
				}
				if got := rdatas(r.Extra); !reflect.DeepEqual(got, c.extra) {
					t.Fatalf("additional %q, want %q", got, c.extra)
				}
				for _, rr := range r.Ns {
					if rr.Header().Rrtype == dns.TypeSOA && rr.Header().Ttl != 300 {
						t.Fatalf("negative SOA TTL %d, want the SOA minimum 300", rr.Header().Ttl)
					}
				}
			})
		}
	}
}

// TestEDNSTruncation checks the UDP size rules: 512 without EDNS, the client's size with it, TC
// when it does not fit and the whole answer over TCP.
func TestEDNSTruncation(t *testing.T) {
	s := startServer(t, nil, map[string]*v1alpha1.DNSZoneSpec{"example.test.": testZone()})
	plain := exchange(t, s, query("big.example.test.", dns.TypeTXT), "udp")
	if !plain.Truncated || len(plain.Answer) >= 40 {
		t.Fatalf("no EDNS: tc=%v answers=%d, want truncated", plain.Truncated, len(plain.Answer))
	}
	if plain.IsEdns0() != nil {
		t.Fatal("OPT in an answer to a query without EDNS")
	}
	small := query("big.example.test.", dns.TypeTXT)
	small.SetEdns0(1000, true)
	r := exchange(t, s, small, "udp")
	if !r.Truncated || r.IsEdns0() == nil || !r.IsEdns0().Do() {
		t.Fatalf("EDNS 1000: tc=%v opt=%v, want truncated with OPT and DO echoed", r.Truncated, r.IsEdns0())
	}
	r.Compress = true
	if b, _ := r.Pack(); len(b) > 1000 {
		t.Fatalf("answer of %d bytes exceeds the client's 1000", len(b))
	}
	large := query("big.example.test.", dns.TypeTXT)
	large.SetEdns0(4096, false)
	r = exchange(t, s, large, "udp")
	if r.Truncated || len(r.Answer) != 40 {
		t.Fatalf("EDNS 4096: tc=%v answers=%d, want all 40", r.Truncated, len(r.Answer))
	}
	if o := r.IsEdns0(); o == nil || o.UDPSize() != 1232 || o.Do() {
		t.Fatalf("OPT %v, want our size 1232 and DO clear", o)
	}
	tcp := exchange(t, s, query("big.example.test.", dns.TypeTXT), "tcp")
	if tcp.Truncated || len(tcp.Answer) != 40 {
		t.Fatalf("TCP: tc=%v answers=%d, want all 40", tcp.Truncated, len(tcp.Answer))
	}
	bad := query("www.example.test.", dns.TypeA)
	bad.SetEdns0(1232, false)
	bad.IsEdns0().SetVersion(1)
	r = exchange(t, s, bad, "udp")
	if r.Rcode != dns.RcodeBadVers {
		t.Fatalf("EDNS version 1: rcode %s, want BADVERS", dns.RcodeToString[r.Rcode])
	}
}

// TestMalformed checks answers to queries that are not plain.
func TestMalformed(t *testing.T) {
	s := startServer(t, nil, map[string]*v1alpha1.DNSZoneSpec{"example.test.": testZone()})
	two := query("www.example.test.", dns.TypeA)
	two.Question = append(two.Question, dns.Question{Name: "example.test.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	if r := exchange(t, s, two, "udp"); r.Rcode != dns.RcodeFormatError {
		t.Fatalf("two questions: %s, want FORMERR", dns.RcodeToString[r.Rcode])
	}
	notify := query("example.test.", dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	if r := exchange(t, s, notify, "udp"); r.Rcode != dns.RcodeNotImplemented {
		t.Fatalf("NOTIFY: %s, want NOTIMP", dns.RcodeToString[r.Rcode])
	}
	chaos := query("version.bind.", dns.TypeTXT)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	if r := exchange(t, s, chaos, "udp"); r.Rcode != dns.RcodeRefused {
		t.Fatalf("CHAOS: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	axfr := query("example.test.", dns.TypeAXFR)
	if r := exchange(t, s, axfr, "tcp"); r.Rcode != dns.RcodeRefused {
		t.Fatalf("AXFR: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
	scope := withECS(query("geo.example.test.", dns.TypeA), "198.51.100.0", 24)
	ecsOf(scope).SourceScope = 8
	if r := exchange(t, s, scope, "udp"); r.Rcode != dns.RcodeFormatError {
		t.Fatalf("ECS with a scope in the query: %s, want FORMERR", dns.RcodeToString[r.Rcode])
	}
}

// TestHugeAnswer checks an answer larger than the worker's buffer: truncated over UDP even when
// the client offers 65535 bytes, whole over TCP.
func TestHugeAnswer(t *testing.T) {
	var recs []v1alpha1.DNSRecord
	for i := 0; i < 150; i++ {
		recs = append(recs, v1alpha1.DNSRecord{Name: "@", Type: "TXT", Value: fmt.Sprintf("%03d %s", i, strings.Repeat("z", 40))})
	}
	s := startServer(t, nil, map[string]*v1alpha1.DNSZoneSpec{"huge.test.": {Records: recs}})
	q := query("huge.test.", dns.TypeTXT)
	q.SetEdns0(65535, false)
	r := exchange(t, s, q, "udp")
	if !r.Truncated || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("UDP: tc=%v rcode %s, want a truncated answer", r.Truncated, dns.RcodeToString[r.Rcode])
	}
	r = exchange(t, s, query("huge.test.", dns.TypeTXT), "tcp")
	if r.Truncated || len(r.Answer) != 150 {
		t.Fatalf("TCP: tc=%v answers=%d, want all 150", r.Truncated, len(r.Answer))
	}
}

// TestIPv6Listener serves on [::1] and places an IPv6 client by its source address.
func TestIPv6Listener(t *testing.T) {
	s, err := New(Options{Addr: "[::1]:0", UDPSockets: 2, GeoIP: testGeoDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	z, err := s.Compile("example.test.", testZone(), 1)
	if err != nil {
		t.Fatal(err)
	}
	s.SetZone(z)
	if err := s.Start(context.Background()); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for _, network := range []string{"udp", "tcp"} {
		r := exchange(t, s, withECS(query("geo.example.test.", dns.TypeA), "2001:db8:1::", 48), network)
		if got := rdatas(r.Answer); !reflect.DeepEqual(got, []string{"a 198.51.100.2"}) {
			t.Fatalf("%s over IPv6: %q", network, got)
		}
	}
}
