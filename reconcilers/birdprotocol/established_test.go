package birdprotocol

import (
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
	desired := obj(t, key, spec)
	ctx := ctxT(t, 90*time.Second)
	var res controller.Result
	for {
		o := l.rec.ReconcileBatch(ctx, []controller.Request{{Key: key, Desired: desired}})[0]
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		res = o.Result
		c := condition(res, v1alpha1.ConditionEstablished)
		if c != nil && c.Status == v1alpha1.ConditionTrue {
			break
		}
		if res.RequeueAfter != 10*time.Second {
			t.Fatalf("not established but requeue after %v", res.RequeueAfter)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("not Established: %+v\nBIRD: %s", c, l.bird.Log())
		case <-time.After(500 * time.Millisecond):
		}
	}
	st := res.Observed.(Status)
	imported := map[string]uint64{}
	for _, p := range st.Protocols {
		if p.State != "up" || p.BGPState != "Established" || p.Since.IsZero() || time.Since(p.Since) > time.Minute {
			t.Errorf("protocol %+v", p)
		}
		if len(p.Channels) != 1 {
			t.Errorf("%s: channels %+v, want one (single-family)", p.Name, p.Channels)
		}
		for _, c := range p.Channels {
			imported[p.Name+"/"+c.Name] = c.Imported
		}
	}
	// Routes arrive right after Established; give them a moment.
	deadline := time.Now().Add(20 * time.Second)
	for (imported["DN42_4242420002_"+key+"_v4/ipv4"] != 3 || imported["DN42_4242420002_"+key+"_v6/ipv6"] != 2) && time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		o := l.rec.ReconcileBatch(ctx, []controller.Request{{Key: key, Desired: desired}})[0]
		res = o.Result
		for _, p := range o.Result.Observed.(Status).Protocols {
			for _, c := range p.Channels {
				imported[p.Name+"/"+c.Name] = c.Imported
			}
		}
	}
	want := map[string]uint64{"DN42_4242420002_" + key + "_v4/ipv4": 3, "DN42_4242420002_" + key + "_v6/ipv6": 2}
	if fmt.Sprint(imported) != fmt.Sprint(want) {
		t.Fatalf("imported %v, want %v", imported, want)
	}
	if res.RequeueAfter != time.Minute {
		t.Errorf("established requeue %v", res.RequeueAfter)
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
