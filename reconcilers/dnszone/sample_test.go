package dnszone

import (
	"context"
	"testing"

	"github.com/miekg/dns"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/source/file"
)

// TestSampleZone loads hack/examples/desired/zone.yaml the way `make run` does and checks the
// answers the README shows.
func TestSampleZone(t *testing.T) {
	objs, err := file.LoadPath("file", "../../hack/examples/desired/zone.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, srv, _ := setup(t)
	for _, key := range objs.Keys(v1alpha1.KindDNSZone) {
		if _, err := r.Reconcile(context.Background(), key, objs.Get(v1alpha1.KindDNSZone, key)); err != nil {
			t.Fatal(err)
		}
	}
	if got := answerA(ask(t, srv, "www.example.test.")); got != "192.0.2.80" {
		t.Fatalf("www.example.test A = %q, want the default 192.0.2.80 without a GeoIP database", got)
	}
	if got := answerA(ask(t, srv, "x.apps.example.test.")); got != "192.0.2.90" {
		t.Fatalf("wildcard answer %q", got)
	}
	if rc := ask(t, srv, "nope.example.test.").Rcode; rc != dns.RcodeNameError {
		t.Fatalf("nope.example.test: %s", dns.RcodeToString[rc])
	}
}
