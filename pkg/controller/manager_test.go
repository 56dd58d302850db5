package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

// widget is the test-only in-memory kind: its "node" is a map of key to value.
const kindWidget v1alpha1.Kind = "Widget"

type widgetSpec struct {
	Value  string `json:"value"`
	Secret string `json:"secret,omitempty" secret:"true"`
}

func (*widgetSpec) Kind() v1alpha1.Kind { return kindWidget }
func (s *widgetSpec) Validate(key string) error {
	if s.Value == "" {
		return &v1alpha1.FieldError{Kind: kindWidget, Key: key, Field: "spec.value", Reason: "required"}
	}
	return nil
}

func widget(t testing.TB, key, value string) *v1alpha1.Object {
	t.Helper()
	o, err := v1alpha1.NewObject("test", "", key, &widgetSpec{Value: value})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func set(objs ...*v1alpha1.Object) v1alpha1.ObjectSet {
	s := v1alpha1.ObjectSet{}
	for _, o := range objs {
		s.Add(o)
	}
	return s
}

// fakeNode is a Reconciler over an in-memory map with hooks for blocking and failing.
type fakeNode struct {
	mu       sync.Mutex
	node     map[string]string
	calls    map[string]int
	times    map[string][]time.Time
	failures map[string]int  // key -> remaining retryable failures
	terminal map[string]bool // value -> always a terminal error
	block    map[string]chan struct{}
	started  chan string
	done     chan string
	batches  [][]string
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		node: map[string]string{}, calls: map[string]int{}, times: map[string][]time.Time{},
		failures: map[string]int{}, terminal: map[string]bool{}, block: map[string]chan struct{}{},
		started: make(chan string, 100000), done: make(chan string, 100000),
	}
}

func (f *fakeNode) Kind() v1alpha1.Kind { return kindWidget }

func (f *fakeNode) Observed(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := make([]string, 0, len(f.node))
	for k := range f.node {
		keys = append(keys, k)
	}
	return keys, nil
}

func (f *fakeNode) Reconcile(ctx context.Context, key string, desired *v1alpha1.Object) (Result, error) {
	f.mu.Lock()
	f.calls[key]++
	f.times[key] = append(f.times[key], time.Now())
	block := f.block[key]
	f.mu.Unlock()
	f.started <- key
	defer func() { f.done <- key }()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if desired == nil {
		delete(f.node, key)
		return Result{}, nil
	}
	v := desired.Spec.(*widgetSpec).Value
	if f.terminal[v] {
		return Result{}, Terminal(fmt.Errorf("widget %s: value %q can never work", key, v))
	}
	if f.failures[key] > 0 {
		f.failures[key]--
		return Result{}, fmt.Errorf("widget %s: transient failure", key)
	}
	changes := 0
	if f.node[key] != v {
		f.node[key] = v
		changes = 1
	}
	return Result{Observed: map[string]string{"value": v}, Changes: changes}, nil
}

func (f *fakeNode) Plan(_ context.Context, key string, desired *v1alpha1.Object) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, ok := f.node[key]
	switch {
	case desired == nil && ok:
		return []string{"delete " + key}, nil
	case desired == nil:
		return nil, nil
	case cur != desired.Spec.(*widgetSpec).Value:
		return []string{fmt.Sprintf("set %s to %s", key, desired.Spec.(*widgetSpec).Value)}, nil
	}
	return nil, nil
}

func (f *fakeNode) get(key string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.node[key]
	return v, ok
}

func (f *fakeNode) callCount(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[key]
}

// batchNode is a fakeNode that also reconciles in batches.
type batchNode struct{ *fakeNode }

func (b batchNode) MaxBatch() int { return 1000 }
func (b batchNode) ReconcileBatch(ctx context.Context, reqs []Request) []Outcome {
	keys := make([]string, len(reqs))
	out := make([]Outcome, len(reqs))
	for i, r := range reqs {
		keys[i] = r.Key
		out[i].Result, out[i].Err = b.Reconcile(ctx, r.Key, r.Desired)
	}
	b.mu.Lock()
	b.batches = append(b.batches, keys)
	b.mu.Unlock()
	return out
}

type testEnv struct {
	m      *Manager
	node   *fakeNode
	cancel context.CancelFunc
	runErr chan error
}

func startManager(t *testing.T, opts Options, rec Reconciler, node *fakeNode) *testEnv {
	t.Helper()
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	m, err := New(opts, rec)
	if err != nil {
		t.Fatal(err)
	}
	m.ExpectSources("test")
	ctx, cancel := context.WithCancel(context.Background())
	env := &testEnv{m: m, node: node, cancel: cancel, runErr: make(chan error, 1)}
	go func() { env.runErr <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-env.runErr:
		case <-time.After(10 * time.Second):
			t.Error("manager did not stop")
		}
	})
	return env
}

// runManager starts a manager with rec and returns it, a function that stops it, and the
// channel Run's result arrives on. The caller decides how to stop and what to expect.
func runManager(t *testing.T, opts Options, rec Reconciler, sources ...string) (*Manager, context.CancelFunc, <-chan error) {
	t.Helper()
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	m, err := New(opts, rec)
	if err != nil {
		t.Fatal(err)
	}
	m.ExpectSources(sources...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	return m, cancel, done
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s", what)
}

func (e *testEnv) ready(key string) bool {
	st, ok := e.m.Store().Get(kindWidget, key)
	return ok && st.Ready()
}

func TestKeyChangedDuringReconcileRunsAgain(t *testing.T) {
	node := newFakeNode()
	release := make(chan struct{})
	node.block["a"] = release
	env := startManager(t, Options{}, node, node)

	env.m.Update("test", set(widget(t, "a", "v1")))
	if k := <-node.started; k != "a" {
		t.Fatalf("started %q", k)
	}
	// The spec changes while the first reconcile is still running.
	env.m.Update("test", set(widget(t, "a", "v2")))
	node.mu.Lock()
	delete(node.block, "a")
	node.mu.Unlock()
	close(release)

	eventually(t, "a converges to v2", func() bool { v, _ := node.get("a"); return v == "v2" && env.ready("a") })
	if n := node.callCount("a"); n != 2 {
		t.Fatalf("a reconciled %d times, want 2 (once per spec, never concurrently)", n)
	}
	st, _ := env.m.Store().Get(kindWidget, "a")
	if st.AppliedHash != widget(t, "a", "v2").Hash {
		t.Fatalf("applied hash %s is not v2's", st.AppliedHash)
	}
}

func TestFailuresBackOffPerKey(t *testing.T) {
	node := newFakeNode()
	node.failures["a"] = 3
	env := startManager(t, Options{BackoffBase: 20 * time.Millisecond}, node, node)
	env.m.Update("test", set(widget(t, "a", "v1"), widget(t, "b", "v1")))

	eventually(t, "a converges after its failures", func() bool { return env.ready("a") })
	eventually(t, "b converges", func() bool { return env.ready("b") })
	node.mu.Lock()
	times := append([]time.Time(nil), node.times["a"]...)
	node.mu.Unlock()
	if len(times) != 4 {
		t.Fatalf("a reconciled %d times, want 4 (3 failures + success)", len(times))
	}
	// Delays double per failure: 20ms, 40ms, 80ms. They are never shorter than that.
	for i, want := range []time.Duration{20, 40, 80} {
		if gap := times[i+1].Sub(times[i]); gap < want*time.Millisecond {
			t.Errorf("retry %d came after %v, want at least %v", i+1, gap, want*time.Millisecond)
		}
	}
	if node.callCount("b") != 1 {
		t.Errorf("b's reconcile count %d: a's failures must not affect b", node.callCount("b"))
	}
	st, _ := env.m.Store().Get(kindWidget, "a")
	if st.Attempts != 4 || st.LastError != "" {
		t.Errorf("status attempts=%d lastError=%q, want 4 and none", st.Attempts, st.LastError)
	}
}

func TestTerminalErrorWaitsForSpecChange(t *testing.T) {
	node := newFakeNode()
	node.terminal["bad"] = true
	env := startManager(t, Options{BackoffBase: time.Millisecond}, node, node)
	env.m.Update("test", set(widget(t, "a", "bad")))

	eventually(t, "a fails terminally", func() bool {
		st, _ := env.m.Store().Get(kindWidget, "a")
		return st.Terminal
	})
	st, _ := env.m.Store().Get(kindWidget, "a")
	ready := v1alpha1.FindCondition(st.Conditions, v1alpha1.ConditionReady)
	if ready == nil || ready.Status != v1alpha1.ConditionFalse || ready.Reason != v1alpha1.ReasonInvalid || !strings.Contains(ready.Message, "can never work") {
		t.Fatalf("Ready condition %+v, want False/InvalidSpec with the error", ready)
	}
	// Neither backoff nor a resync retries it.
	env.m.Resync()
	time.Sleep(100 * time.Millisecond)
	if n := node.callCount("a"); n != 1 {
		t.Fatalf("terminal key reconciled %d times, want 1", n)
	}
	env.m.Update("test", set(widget(t, "a", "good")))
	eventually(t, "a converges after the spec changed", func() bool { return env.ready("a") })
	if v, _ := node.get("a"); v != "good" {
		t.Fatalf("node has %q", v)
	}
}

func TestOnlyChangedKeysAreEnqueued(t *testing.T) {
	node := newFakeNode()
	env := startManager(t, Options{}, node, node)
	build := func(changed string) v1alpha1.ObjectSet {
		s := v1alpha1.ObjectSet{}
		for i := 0; i < 100; i++ {
			key := fmt.Sprintf("w%03d", i)
			v := "v1"
			if key == changed {
				v = "v2"
			}
			s.Add(widget(t, key, v)) // fresh objects, equal specs: equal hashes
		}
		return s
	}
	env.m.Update("test", build(""))
	eventually(t, "all 100 converge", func() bool {
		n, _ := node.Observed(context.Background())
		return env.ready("w000") && env.ready("w099") && len(n) == 100
	})
	eventually(t, "queue drained", func() bool { return env.m.QueueLen(kindWidget) == 0 })
	before := map[string]int{}
	for i := 0; i < 100; i++ {
		k := fmt.Sprintf("w%03d", i)
		before[k] = node.callCount(k)
	}
	env.m.Update("test", build("w042"))
	eventually(t, "w042 converges", func() bool { v, _ := node.get("w042"); return v == "v2" })
	time.Sleep(50 * time.Millisecond)
	for k, n := range before {
		want := n
		if k == "w042" {
			want = n + 1
		}
		if got := node.callCount(k); got != want {
			t.Errorf("%s reconciled %d times after the update, want %d", k, got-n, want-n)
		}
	}
}

func TestResyncRepairsDriftAndRemovesOrphans(t *testing.T) {
	node := newFakeNode()
	node.node["orphan"] = "left over"
	env := startManager(t, Options{}, node, node)
	env.m.Update("test", set(widget(t, "a", "v1"), widget(t, "b", "v1")))
	eventually(t, "a and b converge", func() bool { return env.ready("a") && env.ready("b") })
	if _, ok := node.get("orphan"); !ok {
		t.Fatal("an orphan was removed before any resync")
	}
	// Someone changes the node behind the agent's back.
	node.mu.Lock()
	node.node["a"] = "drifted"
	node.mu.Unlock()
	env.m.Resync()
	eventually(t, "drift repaired and orphan removed", func() bool {
		v, _ := node.get("a")
		_, orphan := node.get("orphan")
		return v == "v1" && !orphan
	})
	st, ok := env.m.Store().Get(kindWidget, "orphan")
	if !ok || !st.Deleted {
		t.Fatalf("orphan status %+v, want a Deleted tombstone", st)
	}
}

func TestOrphansWaitForEverySource(t *testing.T) {
	node := newFakeNode()
	node.node["keep"] = "v1"
	m, cancel, done := runManager(t, Options{}, node, "test", "slow")
	defer func() { cancel(); <-done }()
	m.Update("test", set(widget(t, "a", "v1")))
	m.ReportError("slow", errors.New("control plane unreachable"))
	m.Resync()
	eventually(t, "a converges", func() bool { _, ok := node.get("a"); return ok })
	time.Sleep(50 * time.Millisecond)
	if _, ok := node.get("keep"); !ok {
		t.Fatal("a resync removed an object while a source had never delivered its answer")
	}
}

func TestDeletionGuardHoldsMassDeletion(t *testing.T) {
	node := newFakeNode()
	env := startManager(t, Options{}, node, node)
	all := v1alpha1.ObjectSet{}
	for i := 0; i < 10; i++ {
		all.Add(widget(t, fmt.Sprintf("w%d", i), "v1"))
	}
	env.m.Update("test", all)
	eventually(t, "10 converge", func() bool { n, _ := node.Observed(context.Background()); return len(n) == 10 })

	keep := set(widget(t, "w0", "v1"), widget(t, "w1", "v1"))
	env.m.Update("test", keep)
	time.Sleep(100 * time.Millisecond)
	if n, _ := node.Observed(context.Background()); len(n) != 10 {
		t.Fatalf("node has %d widgets after a held mass deletion, want 10", len(n))
	}
	src, _ := env.m.Store().Source("test")
	if !strings.Contains(src.Held, "8 deletion(s) held") {
		t.Fatalf("source status Held=%q, want it to say 8 deletions are held", src.Held)
	}
	st, _ := env.m.Store().Get(kindWidget, "w5")
	held := v1alpha1.FindCondition(st.Conditions, v1alpha1.ConditionHeld)
	if !st.Held || held == nil || held.Status != v1alpha1.ConditionTrue {
		t.Fatalf("w5 status %+v, want held", st)
	}
	// A resync does not bypass the hold.
	env.m.Resync()
	time.Sleep(50 * time.Millisecond)
	if n, _ := node.Observed(context.Background()); len(n) != 10 {
		t.Fatalf("resync removed held objects: %d left", len(n))
	}
	// The next answer says the same: the deletion is confirmed.
	env.m.Update("test", keep)
	eventually(t, "confirmed deletion applied", func() bool { n, _ := node.Observed(context.Background()); return len(n) == 2 })
	src, _ = env.m.Store().Source("test")
	if src.Held != "" {
		t.Fatalf("source still says %q", src.Held)
	}
}

func TestDeletionGuardReleasesWhenObjectsReturn(t *testing.T) {
	node := newFakeNode()
	env := startManager(t, Options{}, node, node)
	three := set(widget(t, "a", "v1"), widget(t, "b", "v1"), widget(t, "c", "v1"))
	env.m.Update("test", three)
	eventually(t, "3 converge", func() bool { n, _ := node.Observed(context.Background()); return len(n) == 3 })
	// An empty answer never wipes the node by itself, however few objects there are.
	env.m.Update("test", v1alpha1.ObjectSet{})
	time.Sleep(50 * time.Millisecond)
	if n, _ := node.Observed(context.Background()); len(n) != 3 {
		t.Fatalf("an empty answer removed objects: %d left", len(n))
	}
	env.m.Update("test", three)
	st, _ := env.m.Store().Get(kindWidget, "b")
	if st.Held {
		t.Fatal("b still held after the source declared it again")
	}
	// With the hold released, a later empty answer is held again rather than "confirmed".
	env.m.Update("test", v1alpha1.ObjectSet{})
	time.Sleep(50 * time.Millisecond)
	if n, _ := node.Observed(context.Background()); len(n) != 3 {
		t.Fatalf("an empty answer after a release removed objects: %d left", len(n))
	}
}

func TestDeletionGuardOverride(t *testing.T) {
	node := newFakeNode()
	env := startManager(t, Options{AllowMassDelete: true}, node, node)
	env.m.Update("test", set(widget(t, "a", "v1"), widget(t, "b", "v1")))
	eventually(t, "2 converge", func() bool { n, _ := node.Observed(context.Background()); return len(n) == 2 })
	env.m.Update("test", v1alpha1.ObjectSet{})
	eventually(t, "override deletes at once", func() bool { n, _ := node.Observed(context.Background()); return len(n) == 0 })
}

func TestShutdownDrainsInFlightReconcile(t *testing.T) {
	node := newFakeNode()
	release := make(chan struct{})
	node.block["a"] = release
	m, cancel, done := runManager(t, Options{ShutdownTimeout: 5 * time.Second}, node)
	m.Update("test", set(widget(t, "a", "v1")))
	<-node.started
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while a reconcile was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the in-flight reconcile finished")
	}
	if v, _ := node.get("a"); v != "v1" {
		t.Fatalf("in-flight reconcile was cut: node has %q", v)
	}
}

func TestShutdownTimeoutCancelsReconcile(t *testing.T) {
	node := newFakeNode()
	node.block["a"] = make(chan struct{}) // never released
	m, cancel, done := runManager(t, Options{ShutdownTimeout: 100 * time.Millisecond}, node)
	m.Update("test", set(widget(t, "a", "v1")))
	<-node.started
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "did not finish") {
			t.Fatalf("Run returned %v, want a drain timeout error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not give up after the shutdown timeout")
	}
}

func TestReadinessWaitsForFirstSnapshot(t *testing.T) {
	node := newFakeNode()
	release := make(chan struct{})
	node.block["b"] = release
	// Two workers: b blocks one of them whichever order the keys are queued in.
	env := startManager(t, Options{Workers: map[v1alpha1.Kind]int{kindWidget: 2}}, node, node)
	if ok, why := env.m.Ready(); ok || !strings.Contains(why, "test") {
		t.Fatalf("ready before the source answered (%q)", why)
	}
	env.m.Update("test", set(widget(t, "a", "v1"), widget(t, "b", "v1")))
	eventually(t, "a converges", func() bool { return env.ready("a") })
	if ok, _ := env.m.Ready(); ok {
		t.Fatal("ready while b was never attempted")
	}
	close(release)
	eventually(t, "ready", func() bool { ok, _ := env.m.Ready(); return ok })
}

func TestDebugStateRedactsSecretsAndShowsConditions(t *testing.T) {
	node := newFakeNode()
	env := startManager(t, Options{}, node, node)
	o, err := v1alpha1.NewObject("test", "owner-1", "a", &widgetSpec{Value: "v1", Secret: "hunter2"})
	if err != nil {
		t.Fatal(err)
	}
	env.m.Update("test", set(o))
	eventually(t, "a converges", func() bool { return env.ready("a") })
	ds := env.m.DebugState("", "")
	b, err := json.Marshal(ds)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter2") {
		t.Fatalf("debug state leaks a secret: %s", b)
	}
	if !strings.Contains(string(b), `"secret":"\u003credacted\u003e"`) || !strings.Contains(string(b), `"type":"Ready","status":"True"`) {
		t.Fatalf("debug state lacks the redacted spec or the Ready condition: %s", b)
	}
	// The object in the store still carries the secret for the reconciler.
	if o.Spec.(*widgetSpec).Secret != "hunter2" {
		t.Fatal("redaction changed the desired object")
	}
	if got := env.m.DebugState(string(kindWidget), "nope"); len(got.Objects) != 0 {
		t.Fatalf("key filter returned %d objects", len(got.Objects))
	}
}

func TestBatchReconcilerGetsQueuedKeysTogether(t *testing.T) {
	node := newFakeNode()
	b := batchNode{node}
	env := startManager(t, Options{BatchLinger: 50 * time.Millisecond}, b, node)
	s := v1alpha1.ObjectSet{}
	for i := 0; i < 50; i++ {
		s.Add(widget(t, fmt.Sprintf("w%02d", i), "v1"))
	}
	env.m.Update("test", s)
	eventually(t, "50 converge", func() bool { n, _ := node.Observed(context.Background()); return len(n) == 50 })
	node.mu.Lock()
	defer node.mu.Unlock()
	if len(node.batches) != 1 || len(node.batches[0]) != 50 {
		sizes := []int{}
		for _, b := range node.batches {
			sizes = append(sizes, len(b))
		}
		sort.Ints(sizes)
		t.Fatalf("batches of sizes %v, want one batch of 50", sizes)
	}
}

func TestPlanChangesNothing(t *testing.T) {
	node := newFakeNode()
	node.node["a"] = "old"
	node.node["stale"] = "x"
	m, err := New(Options{Logger: logr.Discard()}, node)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := m.Plan(context.Background(), map[string]v1alpha1.ObjectSet{"test": set(widget(t, "a", "new"), widget(t, "b", "v1"))})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "set a to new", "b": "set b to v1", "stale": "delete stale"}
	for k, line := range want {
		if got := plan[kindWidget][k]; len(got) != 1 || got[0] != line {
			t.Errorf("plan for %s = %v, want %q", k, got, line)
		}
	}
	if v, _ := node.get("a"); v != "old" || node.callCount("a") != 0 {
		t.Fatal("plan changed the node")
	}
}

// TestConcurrentSourcesConverge: two sources declaring the same key answer at the same time,
// over and over; the status store must end on the winning source's last spec, Ready.
func TestConcurrentSourcesConverge(t *testing.T) {
	node := newFakeNode()
	m, cancel, done := runManager(t, Options{}, node, "a", "b")
	defer func() { cancel(); <-done }()
	var last *v1alpha1.Object
	for i := 0; i < 300; i++ {
		oa := widget(t, "k", fmt.Sprintf("a%d", i))
		ob := widget(t, "k", fmt.Sprintf("b%d", i))
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); m.Update("a", set(oa)) }()
		go func() { defer wg.Done(); m.Update("b", set(ob)) }()
		wg.Wait()
		last = oa // "a" sorts first and wins
	}
	eventually(t, "k ready on a's last spec", func() bool {
		st, ok := m.Store().Get(kindWidget, "k")
		return ok && st.Ready() && st.AppliedHash == last.Hash
	})
	if v, _ := node.get("k"); v != "a299" {
		t.Fatalf("node has %q, want a299", v)
	}
}
