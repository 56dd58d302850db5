package birdprotocol

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/bird/birdtest"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/netlab"
)

// remoteConf is the far side: a plain BIRD in its own namespace exporting static routes to us.
const remoteConf = `router id 10.201.0.2;
protocol device {}
protocol static s4 { ipv4; route 10.210.1.0/24 blackhole; route 10.210.2.0/24 blackhole; route 10.210.3.0/24 blackhole; }
protocol static s6 { ipv6; route fd10:1::/48 blackhole; route fd10:2::/48 blackhole; }
protocol bgp up_v4 {
	local as 4242420002; neighbor 10.201.0.1 as 4242420001; direct;
	hold time 6; connect retry time 1; error wait time 1, 2;
	ipv4 { import all; export where source = RTS_STATIC; };
}
protocol bgp up_v6 {
	local as 4242420002; neighbor fd01:201::1 as 4242420001; direct;
	hold time 6; connect retry time 1; error wait time 1, 2;
	ipv6 { import all; export where source = RTS_STATIC; };
}
`

// TestRealBIRDEstablished runs two BIRDs in two network namespaces joined by veth. The
// reconciler on one side creates the sessions; they reach Established, and the routes the other
// side exports are counted as imported: in Observed, in the Established condition and in the
// gauges.
func TestRealBIRDEstablished(t *testing.T) {
	t.Parallel()
	birdtest.Require(t)
	a := netlab.NewNamespace(t, "bpa")
	b := netlab.NewNamespace(t, "bpb")
	ifA, _ := netlab.Veth(t, a, b, "10.201.0.1/24", "10.201.0.2/24")
	// Second addresses for the IPv6 session (netlab's helper sets one address per side).
	if err := netlab.AddrUp(a.Handle(), ifA, "fd01:201::1/64"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Run(ctxT(t, 10*time.Second), "ip", "-6", "addr", "add", "fd01:201::2/64", "dev", "vlb"+strings.TrimPrefix(ifA, "vla"), "nodad"); err != nil {
		t.Fatal(err)
	}
	birdtest.Start(t, birdtest.Options{Config: remoteConf, Starter: b.Start})
	l := newLab(t, labOpts{routerID: "10.201.0.1", timeformat: "timeformat protocol iso long;", starter: a.Start})

	key := ifA
	spec := &v1alpha1.BIRDProtocolSpec{Interface: ifA, ASN: 4242420002, NeighborIPv4: "10.201.0.2", NeighborIPv6: "fd01:201::2",
		Filter: v1alpha1.FilterParams{LatencyTier: 2, Bandwidth: 24, Security: 34}}
	ctx := ctxT(t, 90*time.Second)
	res := waitImported(t, ctx, l, obj(t, key, spec), map[string]uint64{
		"DN42_4242420002_" + key + "_v4/ipv4": 3, "DN42_4242420002_" + key + "_v6/ipv6": 2})
	for _, p := range res.Observed.(Status).Protocols {
		if p.State != "up" || p.Since.IsZero() || time.Since(p.Since) > time.Minute {
			t.Errorf("protocol %+v", p)
		}
		if len(p.Channels) != 1 {
			t.Errorf("%s: channels %+v, want one (single-family)", p.Name, p.Channels)
		}
	}
	// The gauges carry the same numbers.
	got := gauge(t, l, "edgeagent_bird_channel_routes", map[string]string{"key": key, "channel": "ipv4", "type": "imported"})
	if got != 3 {
		t.Errorf("imported gauge %v", got)
	}
	if e := gauge(t, l, "edgeagent_bird_protocol_established", map[string]string{"protocol": "DN42_4242420002_" + key + "_v6"}); e != 1 {
		t.Errorf("established gauge %v", e)
	}
	// Removing the object removes the sessions and the series.
	mustOK(t, l.rec.ReconcileBatch(ctx, []controller.Request{{Key: key}}))
	// BIRD shuts a removed protocol down before it forgets it.
	for end := time.Now().Add(20 * time.Second); hasProtocol(t, l.client, "DN42_4242420002_"+key+"_v4"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("protocol still loaded after delete")
		}
	}
	if gauge(t, l, "edgeagent_bird_channel_routes", map[string]string{"key": key}) != -1 {
		t.Error("series of a deleted key remain")
	}
}

// waitImported reconciles desired until it is Established and its channels imported want
// ("protocol/channel" -> routes), and returns the last result.
func waitImported(t *testing.T, ctx context.Context, l *lab, desired *v1alpha1.Object, want map[string]uint64) controller.Result {
	t.Helper()
	var (
		res      controller.Result
		imported map[string]uint64
	)
	for {
		o := l.rec.ReconcileBatch(ctx, []controller.Request{{Key: desired.Key, Desired: desired}})[0]
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		res = o.Result
		c := condition(res, v1alpha1.ConditionEstablished)
		imported = map[string]uint64{}
		for _, p := range res.Observed.(Status).Protocols {
			for _, ch := range p.Channels {
				imported[p.Name+"/"+ch.Name] = ch.Imported
			}
		}
		established := c != nil && c.Status == v1alpha1.ConditionTrue
		if established && fmt.Sprint(imported) == fmt.Sprint(want) {
			if res.RequeueAfter != time.Minute {
				t.Errorf("established requeue %v", res.RequeueAfter)
			}
			return res
		}
		if !established && res.RequeueAfter != 10*time.Second {
			t.Fatalf("not established but requeue after %v", res.RequeueAfter)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("condition %+v, imported %v, want %v\nBIRD: %s", c, imported, want, l.bird.Log())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// remoteLLConf is the far side of an MP-BGP session over IPv6 link-local carrying IPv4 with
// extended next hop, the usual DN42 WireGuard setup.
const remoteLLConf = `router id 10.202.0.2;
protocol device {}
protocol static s4 { ipv4; route 10.220.1.0/24 blackhole; route 10.220.2.0/24 blackhole; }
protocol static s6 { ipv6; route fd20:1::/48 blackhole; route fd20:2::/48 blackhole; route fd20:3::/48 blackhole; }
protocol bgp up {
	local as 4242420002; neighbor fe80::1%%'%[1]s' as 4242420001; direct;
	hold time 6; connect retry time 1; error wait time 1, 2;
	ipv4 { import all; export where source = RTS_STATIC; extended next hop on; };
	ipv6 { import all; export where source = RTS_STATIC; };
}
`

// TestRealBIRDEstablishedMPBGPLinkLocal is the DN42 shape: one MP-BGP protocol to a link-local
// neighbour (fe80::2%'if'), IPv4 carried with extended next hop.
func TestRealBIRDEstablishedMPBGPLinkLocal(t *testing.T) {
	t.Parallel()
	birdtest.Require(t)
	a := netlab.NewNamespace(t, "bpa")
	b := netlab.NewNamespace(t, "bpb")
	ifA, ifB := netlab.Veth(t, a, b, "fe80::1/64", "fe80::2/64")
	birdtest.Start(t, birdtest.Options{Config: fmt.Sprintf(remoteLLConf, ifB), Starter: b.Start})
	l := newLab(t, labOpts{routerID: "10.202.0.1", starter: a.Start})
	spec := &v1alpha1.BIRDProtocolSpec{Interface: ifA, ASN: 4242420002, MPBGP: true, ExtendedNextHop: true,
		NeighborIPv6LinkLocal: "fe80::2", Filter: v1alpha1.FilterParams{Bandwidth: 24, Security: 34}}
	ctx := ctxT(t, 90*time.Second)
	name := "DN42_4242420002_" + ifA
	res := waitImported(t, ctx, l, obj(t, ifA, spec), map[string]uint64{name + "/ipv4": 2, name + "/ipv6": 3})
	st := res.Observed.(Status)
	if len(st.Protocols) != 1 || st.Protocols[0].Name != name {
		t.Fatalf("protocols %+v", st.Protocols)
	}
}

// gauge returns the value of the first series of name whose labels include match, or -1.
func gauge(t *testing.T, l *lab, name string, match map[string]string) float64 {
	t.Helper()
	mfs, err := l.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for k, v := range match {
				if labelValue(m, k) != v {
					continue metric
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func labelValue(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}
