package birdprotocol

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/testr"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/bird"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

// fakeBIRD judges the peer dir the way BIRD would for these tests: a file whose text holds
// "as 666" is rejected with its position, one holding "as 777" without any position (as for
// errors BIRD reports elsewhere), so the reconciler must bisect. It is a unit-test stand-in for
// the control socket; the real daemon is exercised in bird_test.go.
type fakeBIRD struct {
	dir string

	mu                 sync.Mutex
	checks, configures int
	checkErr           error
	configureErr       error
}

func (f *fakeBIRD) ConfigureCheck(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	if f.checkErr != nil {
		return f.checkErr
	}
	paths, _ := filepath.Glob(filepath.Join(f.dir, "*.conf"))
	var anon bool
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), " as 666;") {
			return &bird.Error{Command: "configure check", Code: 8002, Message: p + ":4:5 Number out of range", File: p, Line: 4, Col: 5}
		}
		anon = anon || strings.Contains(string(b), " as 777;")
	}
	if anon {
		return &bird.Error{Command: "configure check", Code: 8002, Message: "Channel ipv4 already defined elsewhere"}
	}
	return nil
}

func (f *fakeBIRD) Configure(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.configures++
	return f.configureErr
}

func (f *fakeBIRD) ShowProtocolsAll(ctx context.Context, name string) ([]bird.Protocol, error) {
	return nil, nil
}

func newFake(t *testing.T) (*fakeBIRD, *Reconciler) {
	t.Helper()
	dir := t.TempDir()
	f := &fakeBIRD{dir: dir}
	r, err := New(Options{Logger: testr.New(t), PeerConfDir: dir, Client: f})
	if err != nil {
		t.Fatal(err)
	}
	return f, r
}

func TestBatchBisectsUnnamedErrors(t *testing.T) {
	f, r := newFake(t)
	var reqs []controller.Request
	bad := map[string]bool{}
	for i := range 100 {
		s := passiveSpec(i)
		key := fmt.Sprintf("dn%d", i)
		switch i {
		case 7, 50, 93: // rejected without a file name: found by bisection
			s.ASN = 777
			bad[key] = true
		case 20, 61: // rejected with file:line:col: found directly
			s.ASN = 666
			bad[key] = true
		}
		reqs = append(reqs, controller.Request{Key: key, Desired: obj(t, key, s)})
	}
	outs := r.ReconcileBatch(context.Background(), reqs)
	for i, o := range outs {
		key := reqs[i].Key
		_, statErr := os.Stat(r.Path(key))
		if bad[key] {
			if o.Err == nil || !controller.IsTerminal(o.Err) || !strings.Contains(o.Err.Error(), key) {
				t.Errorf("%s: err = %v, want a terminal error naming it", key, o.Err)
			}
			if statErr == nil {
				t.Errorf("%s: rejected file left on disk", key)
			}
			continue
		}
		if o.Err != nil || o.Result.Changes != 1 || statErr != nil {
			t.Errorf("%s: err %v, changes %d, stat %v", key, o.Err, o.Result.Changes, statErr)
		}
	}
	if f.configures != 1 {
		t.Errorf("%d configures for one batch, want 1", f.configures)
	}
	// 1 + 2 named + the base check + at most 2·log2(100) per unnamed bad file.
	if f.checks > 1+2+1+3*2*7 {
		t.Errorf("%d checks", f.checks)
	}
	t.Logf("100 changes, 5 rejected: %d checks, %d configure", f.checks, f.configures)
	if !strings.Contains(outs[20].Err.Error(), ":4:5 Number out of range") {
		t.Errorf("named error lacks BIRD's position: %v", outs[20].Err)
	}
}

func TestBatchConfigureFailureIsRetried(t *testing.T) {
	f, r := newFake(t)
	f.configureErr = &bird.Error{Command: "configure", Code: 5, Message: "Reconfiguration already in progress, queueing new config"}
	o := r.ReconcileBatch(context.Background(), []controller.Request{{Key: "dn1", Desired: obj(t, "dn1", passiveSpec(1))}})[0]
	if o.Err == nil || controller.IsTerminal(o.Err) || !strings.Contains(o.Err.Error(), "0005") {
		t.Fatalf("err = %v, want a retryable configure error", o.Err)
	}
	// The file passed the check and stays; the retry has nothing to write but must configure.
	f.configureErr = nil
	o = r.ReconcileBatch(context.Background(), []controller.Request{{Key: "dn1", Desired: obj(t, "dn1", passiveSpec(1))}})[0]
	if o.Err != nil || f.configures != 2 {
		t.Fatalf("retry: err %v, configures %d", o.Err, f.configures)
	}
	// In sync and nothing pending: no BIRD command at all.
	o = r.ReconcileBatch(context.Background(), []controller.Request{{Key: "dn1", Desired: obj(t, "dn1", passiveSpec(1))}})[0]
	if o.Err != nil || o.Result.Changes != 0 || f.configures != 2 || f.checks != 2 {
		t.Fatalf("in sync: err %v changes %d configures %d checks %d", o.Err, o.Result.Changes, f.configures, f.checks)
	}
}

func TestBatchBIRDUnreachableRollsBack(t *testing.T) {
	f, r := newFake(t)
	// A first good version of dn1 is applied.
	if o := r.ReconcileBatch(context.Background(), []controller.Request{{Key: "dn1", Desired: obj(t, "dn1", passiveSpec(1))}})[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	before, _ := os.ReadFile(r.Path("dn1"))
	f.checkErr = errors.New("dial bird.ctl: connection refused")
	changed := passiveSpec(1)
	changed.Filter.Probe = 1
	outs := r.ReconcileBatch(context.Background(), []controller.Request{
		{Key: "dn1", Desired: obj(t, "dn1", changed)},
		{Key: "dn2", Desired: obj(t, "dn2", passiveSpec(2))},
	})
	for _, o := range outs {
		if o.Err == nil || controller.IsTerminal(o.Err) {
			t.Fatalf("err = %v, want retryable", o.Err)
		}
	}
	after, _ := os.ReadFile(r.Path("dn1"))
	if string(after) != string(before) {
		t.Error("dn1 not rolled back")
	}
	if _, err := os.Stat(r.Path("dn2")); err == nil {
		t.Error("dn2 left on disk unchecked")
	}
}

func TestBatchBaseConfigBroken(t *testing.T) {
	f, r := newFake(t)
	// An unmanaged file BIRD rejects without naming it: nothing of the batch may be blamed.
	os.WriteFile(filepath.Join(f.dir, "hand.conf"), []byte("protocol bgp x { neighbor 10.0.0.1 as 777; }\n"), 0o644)
	outs := r.ReconcileBatch(context.Background(), []controller.Request{
		{Key: "dn1", Desired: obj(t, "dn1", passiveSpec(1))},
		{Key: "dn2", Desired: obj(t, "dn2", passiveSpec(2))},
	})
	for _, o := range outs {
		if o.Err == nil || controller.IsTerminal(o.Err) || !strings.Contains(o.Err.Error(), "even without this batch") {
			t.Errorf("err = %v", o.Err)
		}
	}
	if f.configures != 0 {
		t.Errorf("configured a broken config")
	}
}

func TestPlanAndObserved(t *testing.T) {
	_, r := newFake(t)
	ctx := context.Background()
	o1 := obj(t, "dn1", passiveSpec(1))
	lines, err := r.Plan(ctx, "dn1", o1)
	if err != nil || len(lines) != 1 || lines[0] != "write "+r.Path("dn1")+" (new)" {
		t.Fatalf("plan new: %v %v", lines, err)
	}
	mustOK(t, r.ReconcileBatch(ctx, []controller.Request{{Key: "dn1", Desired: o1}}))
	if lines, _ := r.Plan(ctx, "dn1", o1); len(lines) != 0 {
		t.Errorf("plan in sync: %v", lines)
	}
	changed := passiveSpec(1)
	changed.ASN = 1
	if lines, _ := r.Plan(ctx, "dn1", obj(t, "dn1", changed)); len(lines) != 1 || !strings.HasSuffix(lines[0], "(changed)") {
		t.Errorf("plan changed: %v", lines)
	}
	if lines, _ := r.Plan(ctx, "dn1", nil); len(lines) != 1 || lines[0] != "remove "+r.Path("dn1") {
		t.Errorf("plan remove: %v", lines)
	}
	// Drift: a hand edit of a managed file is undone by the next reconcile.
	want, _ := os.ReadFile(r.Path("dn1"))
	os.WriteFile(r.Path("dn1"), append(append([]byte{}, want...), "# edited\n"...), 0o644)
	if lines, _ := r.Plan(ctx, "dn1", o1); len(lines) != 1 || !strings.HasSuffix(lines[0], "(changed)") {
		t.Errorf("plan after drift: %v", lines)
	}
	if o := r.ReconcileBatch(ctx, []controller.Request{{Key: "dn1", Desired: o1}})[0]; o.Err != nil || o.Result.Changes != 1 {
		t.Errorf("drift repair: %v %d", o.Err, o.Result.Changes)
	}
	if got, _ := os.ReadFile(r.Path("dn1")); string(got) != string(want) {
		t.Error("drift not repaired")
	}
	// Unmanaged and mis-headed files are not observed.
	os.WriteFile(filepath.Join(r.opts.PeerConfDir, "hand.conf"), []byte("# mine\n"), 0o644)
	os.WriteFile(filepath.Join(r.opts.PeerConfDir, "other.conf"), []byte(header("dn1")), 0o644)
	keys, err := r.Observed(ctx)
	if err != nil || len(keys) != 1 || keys[0] != "dn1" {
		t.Errorf("observed %v %v", keys, err)
	}
	if lines, _ := r.Plan(ctx, "hand", nil); len(lines) != 0 {
		t.Errorf("plan would remove an unmanaged file: %v", lines)
	}
	if _, err := r.Plan(ctx, "hand", obj(t, "hand", passiveSpec(3))); !controller.IsTerminal(err) {
		t.Errorf("plan over an unmanaged file: %v", err)
	}
	_ = v1alpha1.KindBIRDProtocol
}
