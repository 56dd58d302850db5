package birdprotocol

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/bird"
	"github.com/edgeagent/edgeagent/pkg/bird/birdtest"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

// dropInConf is a bird.conf as an operator of the PeerAPI agent has it: it includes the peer dir
// and defines dnpeers, the two filter functions with five int arguments and the import limit.
const dropInConf = `router id %s;
%s
protocol device {}
define BGP_ROUTES_IMPORT_LIMIT = 1000;
function import_filter_ebgp(int p_lat; int p_bw; int p_sec; int p_pol; int p_prb) {
	if p_bw > 1000 then return false;
	return true;
}
function export_filter_ebgp(int p_lat; int p_bw; int p_sec; int p_pol; int p_prb) {
	return source = RTS_STATIC;
}
template bgp dnpeers {
	local as %d;
	hold time 6;
	connect retry time 1;
	error wait time 1, 2;
}
%s
include "{{DIR}}/peers/*.conf";
`

type lab struct {
	bird   *birdtest.Instance
	client *bird.Client
	rec    *Reconciler
	reg    *prometheus.Registry
}

type labOpts struct {
	routerID   string
	timeformat string
	asn        uint32
	extra      string // more config (static routes)
	starter    func(*exec.Cmd) error
	template   string // template file, "" = default
}

func newLab(t *testing.T, o labOpts) *lab {
	t.Helper()
	if o.routerID == "" {
		o.routerID = "10.255.255.1"
	}
	if o.asn == 0 {
		o.asn = 4242420001
	}
	conf := fmt.Sprintf(dropInConf, o.routerID, o.timeformat, o.asn, o.extra)
	in := birdtest.Start(t, birdtest.Options{Config: conf, Starter: o.starter})
	c, err := bird.New(bird.Options{Socket: in.Socket, PoolSize: 2, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	reg := prometheus.NewRegistry()
	r, err := New(Options{Logger: testr.New(t), PeerConfDir: in.PeerDir, Client: c, Registerer: reg, TemplateFile: o.template})
	if err != nil {
		t.Fatal(err)
	}
	return &lab{bird: in, client: c, rec: r, reg: reg}
}

func obj(t testing.TB, key string, spec *v1alpha1.BIRDProtocolSpec) *v1alpha1.Object {
	t.Helper()
	o, err := v1alpha1.NewObject("test", "", key, spec)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// passiveSpec is a session to an address nobody answers: BIRD accepts it and keeps it Active.
func passiveSpec(i int) *v1alpha1.BIRDProtocolSpec {
	return &v1alpha1.BIRDProtocolSpec{
		Interface:    fmt.Sprintf("dn%d", i),
		ASN:          4242420000 + uint32(i),
		NeighborIPv4: fmt.Sprintf("10.%d.%d.2", 100+i/250, i%250),
		Filter:       v1alpha1.FilterParams{Bandwidth: 24, Security: 34},
	}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustOK(t *testing.T, outs []controller.Outcome) {
	t.Helper()
	for i, o := range outs {
		if o.Err != nil {
			t.Fatalf("outcome %d: %v", i, o.Err)
		}
	}
}

func condition(res controller.Result, typ string) *v1alpha1.Condition {
	return v1alpha1.FindCondition(res.Conditions, typ)
}

func hasProtocol(t *testing.T, c *bird.Client, name string) bool {
	t.Helper()
	ps, err := c.ShowProtocolsAll(ctxT(t, 10*time.Second), name)
	if err != nil {
		t.Fatal(err)
	}
	return len(ps) == 1 && strings.EqualFold(ps[0].Name, name)
}
