package dnsserver

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

func TestCompileRejects(t *testing.T) {
	ok := v1alpha1.DNSRecord{Name: "www", Type: "A", Value: "192.0.2.1"}
	cases := []struct {
		name string
		recs []v1alpha1.DNSRecord
		want string
	}{
		{"CNAME beside other data", []v1alpha1.DNSRecord{ok, ok, {Name: "WWW", Type: "CNAME", Value: "x"}},
			"DNSZone example.test.: spec.records[2] (WWW CNAME): CNAME beside other data"},
		{"CNAME at the apex", []v1alpha1.DNSRecord{{Name: "@", Type: "CNAME", Value: "x"}}, "spec.records[0] (@ CNAME): CNAME beside other data"},
		{"two CNAMEs", []v1alpha1.DNSRecord{{Name: "a", Type: "CNAME", Value: "x"}, {Name: "a", Type: "CNAME", Value: "y"}}, "spec.records[1] (a CNAME): more than one CNAME"},
		{"name outside the zone", []v1alpha1.DNSRecord{ok, {Name: "www.example.org.", Type: "A", Value: "192.0.2.1"}}, `spec.records[1] (www.example.org. A): name "www.example.org." is outside the zone`},
		{"bad IPv4", []v1alpha1.DNSRecord{{Name: "x", Type: "A", Value: "192.0.2.256"}}, `spec.records[0] (x A): bad address "192.0.2.256"`},
		{"IPv6 in A", []v1alpha1.DNSRecord{{Name: "x", Type: "A", Value: "2001:db8::1"}}, "not IPv4"},
		{"IPv4 in AAAA", []v1alpha1.DNSRecord{{Name: "x", Type: "AAAA", Value: "192.0.2.1"}}, "not IPv6"},
		{"TTL out of range", []v1alpha1.DNSRecord{{Name: "x", Type: "A", Value: "192.0.2.1", TTL: 1 << 31}}, "spec.records[0] (x A): TTL 2147483648 out of range"},
		{"unknown type", []v1alpha1.DNSRecord{{Name: "x", Type: "LOC", Value: "1"}}, `type "LOC" is not supported`},
		{"bad MX", []v1alpha1.DNSRecord{{Name: "@", Type: "MX", Value: "not a name!"}}, "spec.records[0] (@ MX): bad MX value"},
		{"bad CAA", []v1alpha1.DNSRecord{{Name: "@", Type: "CAA", Value: "issue"}}, "spec.records[0] (@ CAA): bad CAA value"},
		{"wildcard not leftmost", []v1alpha1.DNSRecord{{Name: "a.*", Type: "A", Value: "192.0.2.1"}}, "a wildcard must be the whole leftmost label"},
		{"geo on MX", []v1alpha1.DNSRecord{{Name: "x", Type: "MX", Geo: &v1alpha1.GeoAnswers{Default: []v1alpha1.WeightedValue{{Value: "mail"}}}}}, "geo answers are only for A, AAAA and CNAME"},
		{"geo bad country", []v1alpha1.DNSRecord{{Name: "x", Type: "A", Geo: &v1alpha1.GeoAnswers{Countries: map[string][]v1alpha1.WeightedValue{"DEU": {{Value: "192.0.2.1"}}}}}}, `geo country "DEU"`},
		{"geo bad continent", []v1alpha1.DNSRecord{{Name: "x", Type: "A", Geo: &v1alpha1.GeoAnswers{Continents: map[string][]v1alpha1.WeightedValue{"XX": {{Value: "192.0.2.1"}}}}}}, `geo continent "XX"`},
		{"geo bad address", []v1alpha1.DNSRecord{{Name: "x", Type: "A", Geo: &v1alpha1.GeoAnswers{Default: []v1alpha1.WeightedValue{{Value: "nope"}}}}}, `geo default: bad address "nope"`},
		{"geo empty location", []v1alpha1.DNSRecord{{Name: "x", Type: "A", Geo: &v1alpha1.GeoAnswers{Countries: map[string][]v1alpha1.WeightedValue{"DE": nil}}}}, "geo country DE: no values"},
		{"geo beside static", []v1alpha1.DNSRecord{ok, {Name: "www", Type: "A", Geo: &v1alpha1.GeoAnswers{Default: []v1alpha1.WeightedValue{{Value: "192.0.2.2"}}}}}, "geo record beside other A records"},
		{"SOA off the apex", []v1alpha1.DNSRecord{{Name: "x", Type: "SOA", Value: "ns1 hostmaster 1 2 3 4 5"}}, "SOA only at the apex"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := compileZone("example.test.", &v1alpha1.DNSZoneSpec{Records: c.recs}, 1)
			if err == nil {
				t.Fatal("compiled")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			var fe *v1alpha1.FieldError
			if !errors.As(err, &fe) || fe.Kind != v1alpha1.KindDNSZone || fe.Key != "example.test." {
				t.Fatalf("error %v is not a DNSZone FieldError", err)
			}
		})
	}
}

func TestCompileReportsEveryBadRecord(t *testing.T) {
	_, err := compileZone("example.test.", &v1alpha1.DNSZoneSpec{Records: []v1alpha1.DNSRecord{
		{Name: "a", Type: "A", Value: "x"}, {Name: "b", Type: "A", Value: "192.0.2.1"}, {Name: "c", Type: "AAAA", Value: "y"},
	}}, 1)
	if err == nil || !strings.Contains(err.Error(), "spec.records[0]") || !strings.Contains(err.Error(), "spec.records[2]") || strings.Contains(err.Error(), "spec.records[1]") {
		t.Fatalf("error %v: want records 0 and 2 named", err)
	}
}

func TestCompileSOA(t *testing.T) {
	z, err := compileZone("Example.Test", &v1alpha1.DNSZoneSpec{
		SOA:     &v1alpha1.SOASpec{MName: "ns.other.test.", RName: "admin", Minimum: 60},
		Records: []v1alpha1.DNSRecord{{Name: "@", Type: "NS", Value: "ns1"}},
	}, 42)
	if err != nil {
		t.Fatal(err)
	}
	if z.Apex() != "example.test." || z.Serial() != 42 || z.soa.Ns != "ns.other.test." || z.soa.Mbox != "admin.example.test." || z.soa.Minttl != 60 {
		t.Fatalf("SOA %v serial %d apex %s", z.soa, z.Serial(), z.Apex())
	}
	z, err = compileZone("example.test.", &v1alpha1.DNSZoneSpec{Records: []v1alpha1.DNSRecord{
		{Name: "@", Type: "SOA", Value: "ns1 hostmaster 2024010101 7200 900 1209600 120"},
	}}, 42)
	if err != nil {
		t.Fatal(err)
	}
	if z.Serial() != 2024010101 || z.soa.Ns != "ns1.example.test." {
		t.Fatalf("explicit SOA: %v", z.soa)
	}
	z, err = compileZone("example.test.", &v1alpha1.DNSZoneSpec{Records: []v1alpha1.DNSRecord{{Name: "@", Type: "NS", Value: "dns.example.net."}}}, 9)
	if err != nil || z.soa.Ns != "dns.example.net." || z.soa.Serial != 9 {
		t.Fatalf("synthesised SOA %v %v", z.soa, err)
	}
	if got := z.nodes["example.test."].rrsets[0].typ; got != dns.TypeSOA {
		t.Fatalf("apex first rrset %s", dns.TypeToString[got])
	}
}

func TestTXTStrings(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"hello world", []string{"hello world"}},
		{`v=spf1 "quoted" \ back`, []string{`v=spf1 \"quoted\" \\ back`}},
		{`"one" "two"`, []string{"one", "two"}},
		{strings.Repeat("a", 510), []string{strings.Repeat("a", 255), strings.Repeat("a", 255)}},
		{strings.Repeat("b", 256), []string{strings.Repeat("b", 255), "b"}},
	}
	for _, c := range cases {
		got := txtStrings(c.in)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("txtStrings(%.20q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// BenchmarkCompileAndSwap10k compiles a zone of 10,000 A records (plus 100 geo names) and swaps
// it in next to 50 other zones: the cost of one DNSZone reconcile.
func BenchmarkCompileAndSwap10k(b *testing.B) {
	s, err := New(Options{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		z, _ := s.Compile(fmt.Sprintf("z%d.test.", i), &v1alpha1.DNSZoneSpec{Records: []v1alpha1.DNSRecord{{Name: "www", Type: "A", Value: "192.0.2.1"}}}, 1)
		s.SetZone(z)
	}
	spec := &v1alpha1.DNSZoneSpec{}
	for i := 0; i < 10000; i++ {
		spec.Records = append(spec.Records, v1alpha1.DNSRecord{Name: fmt.Sprintf("h%d", i), Type: "A", Value: fmt.Sprintf("10.0.%d.%d", i/250, i%250)})
	}
	for i := 0; i < 100; i++ {
		spec.Records = append(spec.Records, v1alpha1.DNSRecord{Name: fmt.Sprintf("g%d", i), Type: "A", Geo: &v1alpha1.GeoAnswers{
			Countries: map[string][]v1alpha1.WeightedValue{"DE": {{Value: "192.0.2.1"}}, "US": {{Value: "192.0.2.2", Weight: 1}, {Value: "192.0.2.3", Weight: 2}}},
			Default:   []v1alpha1.WeightedValue{{Value: "192.0.2.9"}},
		}})
	}
	b.ReportAllocs()
	for b.Loop() {
		z, err := s.Compile("big.test.", spec, 1)
		if err != nil {
			b.Fatal(err)
		}
		s.SetZone(z)
	}
}
