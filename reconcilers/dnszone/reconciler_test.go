package dnszone

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/dnsserver"
)

func setup(t *testing.T) (*Reconciler, *dnsserver.Server, *time.Time) {
	t.Helper()
	srv, err := dnsserver.New(dnsserver.Options{Addr: "127.0.0.1:0", UDPSockets: 1, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	now := time.Unix(1700000000, 0)
	r, err := New(Options{Server: srv, Logger: logr.Discard(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return r, srv, &now
}

func object(t *testing.T, key string, recs ...v1alpha1.DNSRecord) *v1alpha1.Object {
	t.Helper()
	o, err := v1alpha1.NewObject("test", "", key, &v1alpha1.DNSZoneSpec{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func ask(t *testing.T, srv *dnsserver.Server, name string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, srv.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func answerA(r *dns.Msg) string {
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String()
		}
	}
	return ""
}

func TestReconcileLifecycle(t *testing.T) {
	ctx := context.Background()
	r, srv, now := setup(t)
	const key = "example.test."
	good := object(t, key, v1alpha1.DNSRecord{Name: "www", Type: "A", Value: "192.0.2.1"})

	lines, err := r.Plan(ctx, key, good)
	if err != nil || len(lines) != 1 || !strings.HasPrefix(lines[0], "load zone example.test.: 1 records") {
		t.Fatalf("plan for a new zone: %q %v", lines, err)
	}
	res, err := r.Reconcile(ctx, key, good)
	if err != nil || res.Changes != 1 {
		t.Fatalf("reconcile: %+v %v", res, err)
	}
	obs := res.Observed.(*Observed)
	if obs.Serial != 1700000000 || obs.Records != 1 || obs.SpecHash != good.Hash || obs.LastSwap.IsZero() {
		t.Fatalf("observed %+v", obs)
	}
	if got := answerA(ask(t, srv, "www.example.test.")); got != "192.0.2.1" {
		t.Fatalf("served %q", got)
	}
	if keys, _ := r.Observed(ctx); len(keys) != 1 || keys[0] != key {
		t.Fatalf("observed keys %v", keys)
	}

	// The same spec again changes nothing, not even the serial.
	*now = now.Add(time.Hour)
	if lines, _ := r.Plan(ctx, key, good); len(lines) != 0 {
		t.Fatalf("plan for an unchanged zone: %q", lines)
	}
	res, err = r.Reconcile(ctx, key, good)
	if err != nil || res.Changes != 0 || res.Observed.(*Observed).Serial != 1700000000 {
		t.Fatalf("unchanged reconcile: %+v %v", res, err)
	}

	// A bad spec is terminal, names the record, and the good zone stays served.
	bad := object(t, key,
		v1alpha1.DNSRecord{Name: "www", Type: "A", Value: "192.0.2.2"},
		v1alpha1.DNSRecord{Name: "mail", Type: "A", Value: "192.0.2.3"},
		v1alpha1.DNSRecord{Name: "www", Type: "CNAME", Value: "mail"})
	if _, err := r.Plan(ctx, key, bad); err == nil {
		t.Fatal("plan accepted a bad zone")
	}
	res, err = r.Reconcile(ctx, key, bad)
	if err == nil || !controller.IsTerminal(err) {
		t.Fatalf("bad zone: %v, want a terminal error", err)
	}
	if want := "DNSZone example.test.: spec.records[2] (www CNAME): CNAME beside other data"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	if res.Observed.(*Observed).SpecHash != good.Hash {
		t.Fatalf("observed after a bad spec: %+v", res.Observed)
	}
	if got := answerA(ask(t, srv, "www.example.test.")); got != "192.0.2.1" {
		t.Fatalf("after a bad spec the zone serves %q, want the previous 192.0.2.1", got)
	}

	// A good change swaps in with a larger serial, even within the same second.
	changed := object(t, key, v1alpha1.DNSRecord{Name: "www", Type: "A", Value: "192.0.2.9"})
	*now = time.Unix(1600000000, 0) // a clock that went backwards still increases the serial
	lines, _ = r.Plan(ctx, key, changed)
	if len(lines) != 1 || !strings.Contains(lines[0], "serial 1700000000 -> 1700000001") {
		t.Fatalf("plan for a change: %q", lines)
	}
	res, err = r.Reconcile(ctx, key, changed)
	if err != nil || res.Changes != 1 || res.Observed.(*Observed).Serial != 1700000001 {
		t.Fatalf("change: %+v %v", res, err)
	}
	if got := answerA(ask(t, srv, "www.example.test.")); got != "192.0.2.9" {
		t.Fatalf("served %q after the change", got)
	}

	// Deletion.
	if lines, _ := r.Plan(ctx, key, nil); len(lines) != 1 || !strings.HasPrefix(lines[0], "remove zone example.test.") {
		t.Fatalf("plan for a removal: %q", lines)
	}
	res, err = r.Reconcile(ctx, key, nil)
	if err != nil || res.Changes != 1 {
		t.Fatalf("delete: %+v %v", res, err)
	}
	if rc := ask(t, srv, "www.example.test.").Rcode; rc != dns.RcodeRefused {
		t.Fatalf("removed zone answers %s, want REFUSED", dns.RcodeToString[rc])
	}
	if res, err = r.Reconcile(ctx, key, nil); err != nil || res.Changes != 0 {
		t.Fatalf("second delete: %+v %v", res, err)
	}
	if keys, _ := r.Observed(ctx); len(keys) != 0 {
		t.Fatalf("observed keys after delete %v", keys)
	}
}

func TestSpecSerialWins(t *testing.T) {
	r, _, _ := setup(t)
	o, err := v1alpha1.NewObject("test", "", "example.test.", &v1alpha1.DNSZoneSpec{SOA: &v1alpha1.SOASpec{Serial: 2024010101}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Reconcile(context.Background(), "example.test.", o)
	if err != nil || res.Observed.(*Observed).Serial != 2024010101 {
		t.Fatalf("%+v %v", res, err)
	}
}
