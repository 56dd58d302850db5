package dnsserver

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/geoip"
)

// newHandler returns a server with the test zone (not listening) and a handler on it.
func newHandler(t testing.TB, db *geoip.DB) *handler {
	t.Helper()
	s, err := New(Options{Addr: "127.0.0.1:0", UDPSockets: 1, GeoIP: db, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	z, err := s.Compile("example.test.", testZone(), 7)
	if err != nil {
		t.Fatal(err)
	}
	s.SetZone(z)
	// A zone without wildcards or delegations: its NXDOMAIN answers take the fast path.
	z, err = s.Compile("plain.test.", &v1alpha1.DNSZoneSpec{Records: []v1alpha1.DNSRecord{{Name: "www", Type: "A", Value: "192.0.2.1"}}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	s.SetZone(z)
	return &handler{s: s}
}

func packQuery(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seedQueries are the fast-path test and fuzz seeds.
func seedQueries() []*dns.Msg {
	var out []*dns.Msg
	for _, n := range []string{"www.example.test.", "WWW.Example.TEST.", "geo.example.test.", "wgeo.example.test.", "alias.example.test.",
		"nope.example.test.", "x.wild.example.test.", "b.deep.example.test.", "host.sub.example.test.", "gcname.example.test.", "nodef.example.test.", "example.org.", "example.test.", "nope.plain.test.", "www.plain.test."} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeANY, dns.TypeTXT, dns.TypeNS} {
			out = append(out, query(n, qt))
			e := query(n, qt)
			e.SetEdns0(1232, qt == dns.TypeMX)
			out = append(out, e)
			out = append(out, withECS(query(n, qt), "198.51.100.0", 24))
			out = append(out, withECS(query(n, qt), "203.0.113.128", 25))
			out = append(out, withECS(query(n, qt), "2001:db8:1::", 48))
			out = append(out, withECS(query(n, qt), "10.1.2.0", 24))
		}
	}
	return out
}

// compareAnswers fails when two answers differ in anything but name case.
func compareAnswers(t testing.TB, fast, slow []byte) {
	t.Helper()
	var f, s dns.Msg
	if err := f.Unpack(fast); err != nil {
		t.Fatalf("fast answer does not unpack: %v", err)
	}
	if err := s.Unpack(slow); err != nil {
		t.Fatalf("slow answer does not unpack: %v", err)
	}
	if f.MsgHdr != s.MsgHdr {
		t.Fatalf("headers differ:\nfast %+v\nslow %+v", f.MsgHdr, s.MsgHdr)
	}
	if !reflect.DeepEqual(f.Question, s.Question) {
		t.Fatalf("questions differ: %v / %v", f.Question, s.Question)
	}
	for i, pair := range [][2][]dns.RR{{f.Answer, s.Answer}, {f.Ns, s.Ns}, {f.Extra, s.Extra}} {
		if a, b := rdatas(pair[0]), rdatas(pair[1]); !reflect.DeepEqual(a, b) {
			t.Fatalf("section %d differs:\nfast %q\nslow %q", i, a, b)
		}
	}
	fo, so := f.IsEdns0(), s.IsEdns0()
	if (fo == nil) != (so == nil) {
		t.Fatalf("OPT presence differs: %v / %v", fo, so)
	}
	if fo != nil && fo.String() != so.String() {
		t.Fatalf("OPT differs:\nfast %v\nslow %v", fo, so)
	}
}

// TestFastPathMatchesSlowPath answers every seed query both ways and compares.
func TestFastPathMatchesSlowPath(t *testing.T) {
	for _, db := range []*geoip.DB{nil, testGeoDB(t)} {
		h := newHandler(t, db)
		src := netip.MustParseAddr("127.0.0.1")
		fastHits := 0
		for _, m := range seedQueries() {
			q := packQuery(t, m)
			var qq parsedQuery
			out1, out2 := make([]byte, bufSize), make([]byte, bufSize)
			n1 := h.handle(q, src, out1)
			n2 := h.slow(q, src, out2)
			if n1 == 0 || n2 == 0 {
				t.Fatalf("%s: no answer (fast %d, slow %d)", m.Question[0].String(), n1, n2)
			}
			if h.parse(q, &qq) && h.s.table.Load().names[string(h.name[:qq.nameLen])] != nil {
				fastHits++
			}
			compareAnswers(t, out1[:n1], out2[:n2])
		}
		if fastHits < 300 {
			t.Fatalf("only %d seed queries hit the fast path", fastHits)
		}
	}
}

// FuzzHandle throws arbitrary packets at the query handler: it must not panic, must answer only
// with packets that parse and carry the query's ID, and the fast path must agree with the slow.
func FuzzHandle(f *testing.F) {
	for _, m := range seedQueries() {
		f.Add(packQuery(f, m))
	}
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 1})
	h := newHandler(f, testGeoDB(f))
	src := netip.MustParseAddr("198.51.100.7")
	f.Fuzz(func(t *testing.T, q []byte) {
		out := make([]byte, bufSize)
		n := h.handle(q, src, out)
		if n == 0 {
			return
		}
		var r dns.Msg
		if err := r.Unpack(out[:n]); err != nil {
			// A FORMERR header alone is a fine answer to garbage.
			if n != 12 {
				t.Fatalf("answer does not unpack: %v", err)
			}
		}
		if out[0] != q[0] || out[1] != q[1] || out[2]&0x80 == 0 {
			t.Fatalf("answer header %x for query %x", out[:4], q[:4])
		}
		var qq parsedQuery
		if h.parse(q, &qq) {
			out2 := make([]byte, bufSize)
			if n2 := h.slow(q, src, out2); n2 > 0 {
				compareAnswers(t, out[:n], out2[:n2])
			}
		}
	})
}

// TestFastPathDoesNotAllocate answers static and geo queries with zero allocations.
func TestFastPathDoesNotAllocate(t *testing.T) {
	h := newHandler(t, testGeoDB(t))
	src := netip.MustParseAddr("127.0.0.1")
	out := make([]byte, bufSize)
	for _, m := range []*dns.Msg{
		query("www.example.test.", dns.TypeA),
		withECS(query("geo.example.test.", dns.TypeA), "198.51.100.0", 24),
		withECS(query("wgeo.example.test.", dns.TypeA), "10.0.0.0", 24),
		query("b.deep.example.test.", dns.TypeA),
	} {
		q := packQuery(t, m)
		if h.handle(q, src, out) == 0 {
			t.Fatal("no answer")
		}
		if a := testing.AllocsPerRun(1000, func() { h.handle(q, src, out) }); a != 0 {
			t.Fatalf("%s: %.1f allocations per query", m.Question[0].String(), a)
		}
	}
}

func benchHandle(b *testing.B, m *dns.Msg) {
	h := newHandler(b, testGeoDB(b))
	q := packQuery(b, m)
	src := netip.MustParseAddr("127.0.0.1")
	out := make([]byte, bufSize)
	b.ReportAllocs()
	for b.Loop() {
		h.handle(q, src, out)
	}
}

func BenchmarkHandleStatic(b *testing.B) { benchHandle(b, query("www.example.test.", dns.TypeA)) }

func BenchmarkHandleGeoECS(b *testing.B) {
	benchHandle(b, withECS(query("geo.example.test.", dns.TypeA), "198.51.100.0", 24))
}

func BenchmarkHandleWeighted(b *testing.B) {
	benchHandle(b, withECS(query("wgeo.example.test.", dns.TypeA), "10.0.0.0", 24))
}

func BenchmarkHandleSlowNXDOMAIN(b *testing.B) {
	benchHandle(b, query("nope.example.test.", dns.TypeA))
}

func BenchmarkHandleWildcardSlow(b *testing.B) {
	benchHandle(b, query("x.wild.example.test.", dns.TypeA))
}

// TestFastNegativeAnswers checks NXDOMAIN and REFUSED from the fast path against the slow path,
// and that zones with wildcards or delegations leave them to the slow path.
func TestFastNegativeAnswers(t *testing.T) {
	h := newHandler(t, nil)
	plain := h.s.Zone("plain.test.")
	if plain.negTail == nil || h.s.Zone("example.test.").negTail != nil {
		t.Fatal("negative tail: want one for plain.test. and none for example.test. (wildcards, delegation)")
	}
	src := netip.MustParseAddr("127.0.0.1")
	for _, m := range []*dns.Msg{
		query("nope.plain.test.", dns.TypeA),
		query("a.b.C.Plain.Test.", dns.TypeMX),
		withECS(query("nope.plain.test.", dns.TypeA), "198.51.100.0", 24),
		query("example.org.", dns.TypeA),
		withECS(query("www.example.org.", dns.TypeAAAA), "2001:db8::", 32),
		query(".", dns.TypeNS),
	} {
		q := packQuery(t, m)
		out1, out2 := make([]byte, bufSize), make([]byte, bufSize)
		n1 := h.handle(q, src, out1)
		n2 := h.slow(q, src, out2)
		compareAnswers(t, out1[:n1], out2[:n2])
		var r dns.Msg
		_ = r.Unpack(out1[:n1])
		if r.Rcode != dns.RcodeNameError && r.Rcode != dns.RcodeRefused {
			t.Fatalf("%s: %s", m.Question[0].Name, dns.RcodeToString[r.Rcode])
		}
		if a := testing.AllocsPerRun(100, func() { h.handle(q, src, out1) }); a != 0 {
			t.Fatalf("%s: %.1f allocations", m.Question[0].Name, a)
		}
	}
}

func BenchmarkHandleFastNXDOMAIN(b *testing.B) {
	benchHandle(b, query("nope.plain.test.", dns.TypeA))
}
