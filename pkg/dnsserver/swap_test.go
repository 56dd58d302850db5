package dnsserver

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

func versionZone(v int) *v1alpha1.DNSZoneSpec {
	return &v1alpha1.DNSZoneSpec{Records: []v1alpha1.DNSRecord{
		{Name: "www", Type: "A", Value: fmt.Sprintf("192.0.2.%d", v%250+1)},
		{Name: "www", Type: "TXT", Value: fmt.Sprintf("v%d", v)},
		{Name: "geo", Type: "A", Geo: &v1alpha1.GeoAnswers{Default: []v1alpha1.WeightedValue{{Value: fmt.Sprintf("198.51.100.%d", v%250+1)}}}},
	}}
}

// TestZoneSwapUnderLoad swaps a zone while clients query it over UDP and TCP: every answer must
// be complete and from one version (the A and TXT of www agree), never an error or an empty
// answer. Run with -race.
func TestZoneSwapUnderLoad(t *testing.T) {
	s := startServer(t, testGeoDB(t), map[string]*v1alpha1.DNSZoneSpec{"swap.test.": versionZone(0)})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var answered atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 4; i++ {
		network := []string{"udp", "tcp"}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Net: network, Timeout: 2 * time.Second}
			addr := s.UDPAddr().String()
			if network == "tcp" {
				addr = s.TCPAddr().String()
			}
			for ctx.Err() == nil {
				for _, qt := range []uint16{dns.TypeA, dns.TypeTXT} {
					name := "www.swap.test."
					if qt == dns.TypeA && answered.Load()%3 == 0 {
						name = "geo.swap.test."
					}
					m := new(dns.Msg)
					m.SetQuestion(name, qt)
					r, _, err := c.Exchange(m, addr)
					if err != nil {
						errs <- fmt.Errorf("%s: %w", network, err)
						return
					}
					if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
						errs <- fmt.Errorf("%s %s: rcode %s, %d answers", network, name, dns.RcodeToString[r.Rcode], len(r.Answer))
						return
					}
					answered.Add(1)
				}
			}
		}()
	}
	swaps := 0
	for v := 1; ctx.Err() == nil; v++ {
		z, err := s.Compile("swap.test.", versionZone(v), uint32(v))
		if err != nil {
			t.Fatal(err)
		}
		s.SetZone(z)
		if v%10 == 0 {
			// A second zone coming and going rebuilds the table too.
			if v%20 == 0 {
				z2, _ := s.Compile("other.test.", versionZone(v), 1)
				s.SetZone(z2)
			} else {
				s.DeleteZone("other.test.")
			}
		}
		swaps++
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if answered.Load() < 100 || swaps < 100 {
		t.Fatalf("only %d answers over %d swaps", answered.Load(), swaps)
	}
	if got := s.Zone("swap.test.").Serial(); got != uint32(swaps) {
		t.Fatalf("serial %d after %d swaps", got, swaps)
	}
}

// TestDig asks the server with dig, the tool the README shows.
func TestDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig not installed (Debian: dnsutils)")
	}
	s := startServer(t, testGeoDB(t), map[string]*v1alpha1.DNSZoneSpec{"example.test.": testZone()})
	port := fmt.Sprint(s.UDPAddr().Port)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"+short", "geo.example.test", "A"}, "198.51.100.9"},
		{[]string{"+short", "+subnet=198.51.100.0/24", "geo.example.test", "A"}, "198.51.100.1"},
		{[]string{"+short", "+tcp", "+subnet=2001:db8:1::/56", "geo.example.test", "A"}, "198.51.100.2"},
		{[]string{"+short", "example.test", "MX"}, "10 mail.example.test."},
		{[]string{"+subnet=198.51.100.0/24", "geo.example.test", "A"}, "CLIENT-SUBNET: 198.51.100.0/24/24"},
		{[]string{"nope.example.test", "A"}, "status: NXDOMAIN"},
		{[]string{"+norec", "www.example.test", "A"}, "flags: qr aa;"},
	}
	for _, c := range cases {
		args := append([]string{"@127.0.0.1", "-p", port, "+time=2", "+tries=2"}, c.args...)
		out, err := exec.Command(dig, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %v: %v\n%s", args, err, out)
		}
		if !bytes.Contains(out, []byte(c.want)) {
			t.Fatalf("dig %v: want %q in\n%s", c.args, c.want, out)
		}
	}
}

// counts gathers edgeagent_dns_queries_total as "zone qtype rcode" -> value, and the number of
// latency samples.
func counts(t *testing.T, reg *prometheus.Registry) (map[string]float64, uint64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	var samples uint64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "edgeagent_dns_queries_total":
			for _, m := range mf.GetMetric() {
				l := map[string]string{}
				for _, lp := range m.GetLabel() {
					l[lp.GetName()] = lp.GetValue()
				}
				out[l["zone"]+" "+l["qtype"]+" "+l["rcode"]] = m.GetCounter().GetValue()
			}
		case "edgeagent_dns_request_duration_seconds":
			samples = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return out, samples
}

// TestMetrics counts queries by zone, type and rcode on both paths and observes latency.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	s, err := New(Options{Addr: "127.0.0.1:0", UDPSockets: 2, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	z, err := s.Compile("example.test.", testZone(), 1)
	if err != nil {
		t.Fatal(err)
	}
	s.SetZone(z)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for i := 0; i < 3; i++ {
		exchange(t, s, query("www.example.test.", dns.TypeA), "udp")
	}
	exchange(t, s, query("www.example.test.", dns.TypeA), "tcp")
	exchange(t, s, query("nope.example.test.", dns.TypeAAAA), "udp")
	exchange(t, s, query("example.org.", dns.TypeMX), "udp")
	got, samples := counts(t, reg)
	// The latency is observed after the answer is sent: give the worker a moment.
	for deadline := time.Now().Add(2 * time.Second); samples < 5 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		got, samples = counts(t, reg)
	}
	want := map[string]float64{
		"example.test. A NOERROR":     4,
		"example.test. AAAA NXDOMAIN": 1,
		" MX REFUSED":                 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("queries_total %v, want %v", got, want)
	}
	if samples != 5 {
		t.Fatalf("latency samples %d, want the 5 UDP queries", samples)
	}
	s.DeleteZone("example.test.")
	if got, _ := counts(t, reg); !reflect.DeepEqual(got, map[string]float64{" MX REFUSED": 1}) {
		t.Fatalf("after the zone was deleted: %v", got)
	}
}
