package dnszone

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/dnsserver"
)

// TestBatchSwapsGoodZonesTogether: one batch loads two zones, rejects a bad one and removes a
// served one; the good zones are swapped in together (one table publish, one swap time) and the
// bad one does not hold them back.
func TestBatchSwapsGoodZonesTogether(t *testing.T) {
	r, srv, _ := setup(t)
	ctx := context.Background()
	a := v1alpha1.DNSRecord{Name: "@", Type: "A", Value: "192.0.2.1"}
	if _, err := r.Reconcile(ctx, "old.test.", object(t, "old.test.", a)); err != nil {
		t.Fatal(err)
	}
	bad := object(t, "bad.test.", v1alpha1.DNSRecord{Name: "@", Type: "A", Value: "not-an-ip"})
	outs := r.ReconcileBatch(ctx, []controller.Request{
		{Key: "one.test.", Desired: object(t, "one.test.", a)},
		{Key: "bad.test.", Desired: bad},
		{Key: "two.test.", Desired: object(t, "two.test.", a)},
		{Key: "old.test.", Desired: nil},
	})
	if outs[0].Err != nil || outs[2].Err != nil || outs[3].Err != nil {
		t.Fatalf("good requests failed: %v %v %v", outs[0].Err, outs[2].Err, outs[3].Err)
	}
	if outs[1].Err == nil || !controller.IsTerminal(outs[1].Err) {
		t.Fatalf("bad zone: %v, want a terminal error", outs[1].Err)
	}
	if outs[0].Result.Changes != 1 || outs[3].Result.Changes != 1 {
		t.Fatalf("changes %d and %d, want 1 and 1", outs[0].Result.Changes, outs[3].Result.Changes)
	}
	if got := answerA(ask(t, srv, "two.test.")); got != "192.0.2.1" {
		t.Fatalf("two.test. A = %q", got)
	}
	if r := ask(t, srv, "old.test."); r.Rcode != dns.RcodeRefused {
		t.Fatalf("removed zone answered rcode %d, want REFUSED", r.Rcode)
	}
	if srv.Zone("bad.test.") != nil {
		t.Fatal("the bad zone is served")
	}
	if s1, s2 := srv.LastSwap("one.test."), srv.LastSwap("two.test."); s1.IsZero() || !s1.Equal(s2) {
		t.Fatalf("swap times %v and %v: the batch was not published at once", s1, s2)
	}
}

// BenchmarkLoadZones compares loading 2,000 zones one reconcile at a time (a table publish per
// zone) with one batch (one publish per MaxBatch zones).
func BenchmarkLoadZones(b *testing.B) {
	const n = 2000
	for _, mode := range []string{"per-zone", "batch"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				srv, err := dnsserver.New(dnsserver.Options{Addr: "127.0.0.1:0", UDPSockets: 1, Logger: logr.Discard()})
				if err != nil {
					b.Fatal(err)
				}
				r, _ := New(Options{Server: srv, Logger: logr.Discard(), Now: func() time.Time { return time.Unix(1700000000, 0) }})
				reqs := make([]controller.Request, n)
				for k := range reqs {
					key := fmt.Sprintf("zone%d.test.", k)
					o, err := v1alpha1.NewObject("bench", "", key, &v1alpha1.DNSZoneSpec{Records: []v1alpha1.DNSRecord{
						{Name: "@", Type: "A", Value: "192.0.2.1"}, {Name: "www", Type: "CNAME", Value: "@"},
						{Name: "@", Type: "MX", Value: "mail", Priority: 10}, {Name: "mail", Type: "A", Value: "192.0.2.2"},
					}})
					if err != nil {
						b.Fatal(err)
					}
					reqs[k] = controller.Request{Key: key, Desired: o}
				}
				b.StartTimer()
				if mode == "batch" {
					for start := 0; start < n; start += r.MaxBatch() {
						r.ReconcileBatch(context.Background(), reqs[start:min(start+r.MaxBatch(), n)])
					}
				} else {
					for _, req := range reqs {
						if _, err := r.Reconcile(context.Background(), req.Key, req.Desired); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StopTimer()
				if len(srv.Zones()) != n {
					b.Fatalf("%d zones served", len(srv.Zones()))
				}
				_ = srv.Close()
			}
		})
	}
}
