package birdprotocol

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

// TestRealBIRDOneRejectedDoesNotBlock50 applies 50 good objects and one whose filter value BIRD
// rejects ("Number out of range") in one batch against a real BIRD: the bad one is reported
// with BIRD's file:line:col message and rolled back, the 50 are applied with one configure.
func TestRealBIRDOneRejectedDoesNotBlock50(t *testing.T) {
	t.Parallel()
	l := newLab(t, labOpts{})
	ctx := ctxT(t, 2*time.Minute)
	var reqs []controller.Request
	for i := range 51 {
		key := fmt.Sprintf("dn%d", i)
		s := passiveSpec(i)
		if i == 25 {
			s.Filter.Bandwidth = 99999999999 // valid for the spec, out of BIRD's int range
		}
		reqs = append(reqs, controller.Request{Key: key, Desired: obj(t, key, s)})
	}
	before := l.client.Stats()
	outs := l.rec.ReconcileBatch(ctx, reqs)
	after := l.client.Stats()
	if n := after.Configures - before.Configures; n != 1 {
		t.Errorf("%d configure calls, want 1", n)
	}
	t.Logf("51 objects, 1 rejected: %d checks, %d configure", after.ConfigureChecks-before.ConfigureChecks, after.Configures-before.Configures)
	bad := outs[25].Err
	badPath := l.rec.Path("dn25")
	if bad == nil || !controller.IsTerminal(bad) || !strings.Contains(bad.Error(), badPath+":") || !strings.Contains(bad.Error(), "Number out of range") {
		t.Fatalf("bad object: %v", bad)
	}
	if _, err := os.Stat(badPath); !os.IsNotExist(err) {
		t.Errorf("rejected file still on disk: %v", err)
	}
	for i, o := range outs {
		if i == 25 {
			continue
		}
		if o.Err != nil || o.Result.Changes != 1 {
			t.Fatalf("%s: err %v changes %d", reqs[i].Key, o.Err, o.Result.Changes)
		}
		c := condition(o.Result, v1alpha1.ConditionEstablished)
		st, _ := o.Result.Observed.(Status)
		if c == nil || c.Status != v1alpha1.ConditionFalse || o.Result.RequeueAfter != 10*time.Second ||
			len(st.Protocols) != 1 || !st.Protocols[0].Loaded {
			t.Fatalf("%s: condition %+v requeue %v observed %+v", reqs[i].Key, c, o.Result.RequeueAfter, o.Result.Observed)
		}
	}
	ps, err := l.client.ShowProtocolsAll(ctx, "DN42_*")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 50 {
		t.Fatalf("BIRD runs %d DN42 protocols, want 50", len(ps))
	}
	for _, p := range ps {
		if p.Name == "DN42_4242420025_dn25_v4" {
			t.Fatal("rejected protocol loaded")
		}
		if len(p.Channels) != 1 || p.Channels[0].Name != "ipv4" {
			t.Errorf("%s: channels %+v, want only ipv4", p.Name, p.Channels)
		}
	}

	// Fixing the spec applies it.
	fixed := passiveSpec(25)
	o := l.rec.ReconcileBatch(ctx, []controller.Request{{Key: "dn25", Desired: obj(t, "dn25", fixed)}})[0]
	if o.Err != nil || !hasProtocol(t, l.client, "DN42_4242420025_dn25_v4") {
		t.Fatalf("fixed: %v", o.Err)
	}

	// Nothing changed: no write, no configure.
	st, _ := os.Stat(l.rec.Path("dn3"))
	before = l.client.Stats()
	outs = l.rec.ReconcileBatch(ctx, reqs[:10])
	mustOK(t, outs)
	for _, o := range outs {
		if o.Result.Changes != 0 {
			t.Fatalf("unchanged object rewritten")
		}
	}
	if s := l.client.Stats(); s.Configures != before.Configures || s.ConfigureChecks != before.ConfigureChecks {
		t.Errorf("in-sync batch ran configure/check: %+v -> %+v", before, s)
	}
	st2, _ := os.Stat(l.rec.Path("dn3"))
	if !st.ModTime().Equal(st2.ModTime()) {
		t.Error("unchanged file touched")
	}
}

// TestRealBIRDOrphansAndUnmanaged removes a managed file nobody wants, through a batch with one
// configure, and never touches a file without the header.
func TestRealBIRDOrphansAndUnmanaged(t *testing.T) {
	t.Parallel()
	l := newLab(t, labOpts{})
	ctx := ctxT(t, time.Minute)
	mustOK(t, l.rec.ReconcileBatch(ctx, []controller.Request{
		{Key: "dnold", Desired: obj(t, "dnold", passiveSpec(1))},
		{Key: "dnkeep", Desired: obj(t, "dnkeep", passiveSpec(2))},
	}))
	hand := filepath.Join(l.bird.PeerDir, "dnhand.conf")
	handText := "# written by the operator\nprotocol bgp hand from dnpeers { neighbor 10.250.0.2 as 65000; ipv4 { import none; export none; }; }\n"
	if err := os.WriteFile(hand, []byte(handText), 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := l.rec.Observed(ctx)
	if err != nil || strings.Join(keys, ",") != "dnkeep,dnold" {
		t.Fatalf("observed %v %v", keys, err)
	}
	// The resync asks to remove every observed key that is not desired, and the unmanaged one
	// is not even observed; removing it by key is a no-op too.
	before := l.client.Stats().Configures
	outs := l.rec.ReconcileBatch(ctx, []controller.Request{{Key: "dnold"}, {Key: "dnhand"}, {Key: "dnkeep", Desired: obj(t, "dnkeep", passiveSpec(2))}})
	mustOK(t, outs)
	if outs[0].Result.Changes != 1 || outs[1].Result.Changes != 0 {
		t.Errorf("changes %d %d", outs[0].Result.Changes, outs[1].Result.Changes)
	}
	if n := l.client.Stats().Configures - before; n != 1 {
		t.Errorf("%d configures", n)
	}
	if _, err := os.Stat(l.rec.Path("dnold")); !os.IsNotExist(err) {
		t.Errorf("orphan still there: %v", err)
	}
	if b, _ := os.ReadFile(hand); string(b) != handText {
		t.Errorf("unmanaged file changed")
	}
	if hasProtocol(t, l.client, "DN42_4242420001_dnold_v4") || !hasProtocol(t, l.client, "DN42_4242420002_dnkeep_v4") || !hasProtocol(t, l.client, "hand") {
		t.Error("BIRD protocols after orphan removal are wrong")
	}
	// Wanting the unmanaged file's key is a terminal conflict, not an overwrite.
	o := l.rec.ReconcileBatch(ctx, []controller.Request{{Key: "dnhand", Desired: obj(t, "dnhand", passiveSpec(3))}})[0]
	if !controller.IsTerminal(o.Err) || !strings.Contains(o.Err.Error(), "without the edgeagent header") {
		t.Errorf("conflict: %v", o.Err)
	}
	if b, _ := os.ReadFile(hand); string(b) != handText {
		t.Errorf("unmanaged file changed")
	}
}

// TestRealBIRDRestart restarts BIRD under the reconciler: the client reconnects and the next
// batch applies without restarting the reconciler; while BIRD is down a batch fails retryably
// and leaves no unchecked file behind.
func TestRealBIRDRestart(t *testing.T) {
	t.Parallel()
	l := newLab(t, labOpts{timeformat: "timeformat protocol iso long;"})
	ctx := ctxT(t, time.Minute)
	mustOK(t, l.rec.ReconcileBatch(ctx, []controller.Request{{Key: "dn1", Desired: obj(t, "dn1", passiveSpec(1))}}))

	l.bird.Restart()
	mustOK(t, l.rec.ReconcileBatch(ctx, []controller.Request{{Key: "dn2", Desired: obj(t, "dn2", passiveSpec(2))}}))
	if !hasProtocol(t, l.client, "DN42_4242420001_dn1_v4") || !hasProtocol(t, l.client, "DN42_4242420002_dn2_v4") {
		t.Fatal("protocols missing after restart")
	}

	l.bird.Stop()
	short := ctxT(t, 2*time.Second)
	o := l.rec.ReconcileBatch(short, []controller.Request{{Key: "dn3", Desired: obj(t, "dn3", passiveSpec(3))}})[0]
	if o.Err == nil || controller.IsTerminal(o.Err) {
		t.Fatalf("with BIRD down: %v", o.Err)
	}
	if _, err := os.Stat(l.rec.Path("dn3")); !os.IsNotExist(err) {
		t.Errorf("unchecked file left while BIRD is down")
	}
	l.bird.Restart()
	o = l.rec.ReconcileBatch(ctx, []controller.Request{{Key: "dn3", Desired: obj(t, "dn3", passiveSpec(3))}})[0]
	if o.Err != nil || o.Result.Changes != 1 || !hasProtocol(t, l.client, "DN42_4242420003_dn3_v4") {
		t.Fatalf("after BIRD came back: %v", o.Err)
	}
}

// TestRealBIRDOperatorTemplate runs the reconciler with a template written for the PeerAPI agent
// (its variable names only) and takes over a file that agent wrote: BIRD loads the protocol in
// the old shape, both channels declared.
func TestRealBIRDOperatorTemplate(t *testing.T) {
	t.Parallel()
	tmpl := filepath.Join(t.TempDir(), "bird_peer.conf")
	if err := os.WriteFile(tmpl, []byte(peerAPITemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	l := newLab(t, labOpts{template: tmpl})
	ctx := ctxT(t, time.Minute)
	r, err := New(Options{PeerConfDir: l.bird.PeerDir, Client: l.client, TemplateFile: tmpl, AdoptHeaders: []string{"managed by iEdon PeerAPI"}})
	if err != nil {
		t.Fatal(err)
	}
	// The old agent's file for dn7, with its banner: adopted (overwritten) when dn7 is desired.
	old := "# managed by iEdon PeerAPI\nprotocol bgp DN42_4242420007_dn7_v4 from dnpeers { neighbor 10.100.7.2 as 4242420007; ipv4 { import none; export none; }; }\n"
	os.WriteFile(r.Path("dn7"), []byte(old), 0o644)
	if keys, _ := r.Observed(ctx); len(keys) != 0 {
		t.Fatalf("the old agent's file is observed as ours: %v", keys)
	}
	mustOK(t, r.ReconcileBatch(ctx, []controller.Request{{Key: "dn7", Desired: obj(t, "dn7", passiveSpec(7))}}))
	b, _ := os.ReadFile(r.Path("dn7"))
	if !strings.HasPrefix(string(b), headerPrefix+"dn7\n") {
		t.Fatalf("not adopted:\n%s", b)
	}
	ps, err := l.client.ShowProtocolsAll(ctx, "DN42_4242420007_dn7_v4")
	if err != nil || len(ps) != 1 {
		t.Fatalf("%+v %v", ps, err)
	}
	if len(ps[0].Channels) != 2 || ps[0].Channel("ipv4") == nil || ps[0].Channel("ipv6") == nil {
		t.Errorf("the PeerAPI template declares both channels; BIRD shows %+v", ps[0].Channels)
	}
	if ps[0].Channel("ipv4").InputFilter == "REJECT" || ps[0].Channel("ipv6").InputFilter != "REJECT" {
		t.Errorf("filters: ipv4 %q ipv6 %q", ps[0].Channel("ipv4").InputFilter, ps[0].Channel("ipv6").InputFilter)
	}
}
