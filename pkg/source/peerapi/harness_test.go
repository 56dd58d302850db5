package peerapi

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/peerapi"
	"github.com/edgeagent/edgeagent/pkg/peerapi/peerapitest"
)

const (
	routerUUID  = "40ca6d20-048d-4cb2-89be-e94f99af6781"
	centerKey   = "center-shared-key"
	agentSecret = "agent-secret"
)

var jwtSecret = []byte("jwt-secret")

// fakeController stands in for the manager: it is the sink, and (in auto mode) "reconciles"
// every update at once into its status entries, which the source reads as its ObjectState.
type fakeController struct {
	mu       sync.Mutex
	updates  []v1alpha1.ObjectSet
	errs     []error
	objs     map[string]*controller.ObjectStatus // kind/key
	fail     map[string]string                   // kind/key → reconcile error
	manual   bool                                // deletions wait for deleteNow
	hold     bool                                // deletions are held (deletion guard)
	watchers []chan struct{}
	changed  chan struct{}
}

func newFakeController() *fakeController {
	return &fakeController{objs: map[string]*controller.ObjectStatus{}, fail: map[string]string{}, changed: make(chan struct{})}
}

func fk(kind v1alpha1.Kind, key string) string { return string(kind) + "/" + key }

func (f *fakeController) Update(_ string, set v1alpha1.ObjectSet) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, set)
	now := time.Now()
	for _, kind := range []v1alpha1.Kind{v1alpha1.KindTunnel, v1alpha1.KindBIRDProtocol} {
		for key, o := range set[kind] {
			st := f.objs[fk(kind, key)]
			if st == nil {
				st = &controller.ObjectStatus{Kind: kind, Key: key}
				f.objs[fk(kind, key)] = st
			}
			st.Desired, st.Deleted, st.Held, st.LastReconcile = o, false, false, now
			if msg := f.fail[fk(kind, key)]; msg != "" {
				st.LastError = msg
				st.Conditions = v1alpha1.SetCondition(st.Conditions, v1alpha1.Condition{Type: v1alpha1.ConditionReady, Status: v1alpha1.ConditionFalse, Reason: v1alpha1.ReasonFailed, Message: msg}, now)
			} else {
				st.LastError, st.AppliedHash = "", o.Hash
				st.Conditions = v1alpha1.SetCondition(st.Conditions, v1alpha1.Condition{Type: v1alpha1.ConditionReady, Status: v1alpha1.ConditionTrue, Reason: v1alpha1.ReasonApplied}, now)
			}
		}
	}
	for _, st := range f.objs {
		if st.Desired == nil || set.Get(st.Kind, st.Key) != nil {
			continue
		}
		switch {
		case f.hold:
			st.Held = true
		case f.manual:
			st.Desired = nil
		default:
			st.Desired, st.Deleted, st.AppliedHash = nil, true, ""
		}
	}
	f.notifyLocked()
}

// deleteNow finishes pending deletions (manual mode).
func (f *fakeController) deleteNow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, st := range f.objs {
		if st.Desired == nil && !st.Deleted {
			st.Deleted, st.AppliedHash, st.Held = true, "", false
		}
	}
	f.notifyLocked()
}

func (f *fakeController) ReportError(_ string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, err)
	f.notifyLocked()
}

func (f *fakeController) Get(kind v1alpha1.Kind, key string) (controller.ObjectStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.objs[fk(kind, key)]
	if st == nil {
		return controller.ObjectStatus{}, false
	}
	c := *st
	c.Conditions = append([]v1alpha1.Condition(nil), st.Conditions...)
	return c, true
}

func (f *fakeController) Watch() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	f.watchers = append(f.watchers, ch)
	f.mu.Unlock()
	return ch, func() {}
}

func (f *fakeController) notifyLocked() {
	for _, ch := range f.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeController) last() (v1alpha1.ObjectSet, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.updates) == 0 {
		return nil, 0
	}
	return f.updates[len(f.updates)-1], len(f.updates)
}

func (f *fakeController) errCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.errs)
}

// waitFor polls cond on every change of the controller or the center until it holds.
func waitFor(t *testing.T, what string, f *fakeController, c *peerapitest.Center, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		f.mu.Lock()
		fch := f.changed
		f.mu.Unlock()
		var cch <-chan struct{}
		if c != nil {
			cch = c.Changed()
		}
		select {
		case <-fch:
		case <-cch:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type harness struct {
	t      *testing.T
	dir    string
	center *peerapitest.Center
	client *peerapi.Client
	ctrl   *fakeController
	ports  *peerapi.PortReservations
	src    *Source
	stop   func()
}

var (
	bearerOnce sync.Once
	bearer     string
)

// newCenterAndClient starts a fake center and a client whose bcrypt bearer is shared by all
// tests (bcrypt under -race costs over a second).
func newCenterAndClient(t *testing.T) (*peerapitest.Center, *peerapi.Client) {
	t.Helper()
	bearerOnce.Do(func() {
		var err error
		if bearer, err = peerapi.HashToken(centerKey + routerUUID); err != nil {
			panic(err)
		}
	})
	center := peerapitest.New(peerapitest.Options{RouterUUID: routerUUID, AgentAPIKey: centerKey, AgentSecret: agentSecret})
	t.Cleanup(center.Close)
	warm, err := peerapi.NewClient(peerapi.ClientOptions{BaseURL: center.URL(), RouterUUID: routerUUID, Secret: centerKey, Bearer: bearer, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := warm.Sessions(context.Background()); err != nil {
		t.Fatal(err)
	}
	client, err := peerapi.NewClient(peerapi.ClientOptions{BaseURL: center.URL(), RouterUUID: routerUUID, Secret: centerKey, Bearer: bearer,
		Timeout: 500 * time.Millisecond, Retries: 1, RetryBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return center, client
}

func newHarness(t *testing.T) *harness {
	center, client := newCenterAndClient(t)
	return &harness{t: t, dir: t.TempDir(), center: center, client: client}
}

// start runs a fresh Source (and fake controller) on the harness's state directory.
func (h *harness) start(mod func(*Options)) {
	h.t.Helper()
	ports, err := peerapi.OpenPortReservations(peerapi.PortOptions{StateDir: h.dir, Min: 42000, Max: 42999})
	if err != nil {
		h.t.Fatal(err)
	}
	h.ports = ports
	if h.ctrl == nil {
		h.ctrl = newFakeController()
	}
	o := Options{Client: h.client, StateDir: h.dir, SyncInterval: time.Hour, Translate: testTranslate, Ports: ports,
		Objects: h.ctrl, ReportBackoff: 20 * time.Millisecond, ReportBackoffMax: 100 * time.Millisecond, HeldRecheck: 50 * time.Millisecond,
		Logger: logr.Discard()}
	o.Translate.PassthroughSecret = jwtSecret
	if mod != nil {
		mod(&o)
	}
	src, err := New(o)
	if err != nil {
		h.t.Fatal(err)
	}
	h.src = src
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := src.Run(ctx, h.ctrl); err != nil {
			h.t.Errorf("run: %v", err)
		}
	}()
	h.stop = func() { cancel(); <-done }
	h.t.Cleanup(h.stop)
}

// sync triggers a sync and waits until it was fetched and applied (or failed).
func (h *harness) sync() {
	h.t.Helper()
	h.src.mu.Lock()
	st := h.src.started
	h.src.mu.Unlock()
	h.src.TriggerSync()
	// A sync that started after the trigger, and everything before it, finished.
	waitFor(h.t, "a sync", h.ctrl, nil, func() bool {
		h.src.mu.Lock()
		defer h.src.mu.Unlock()
		return h.src.started > st && h.src.syncs >= h.src.started
	})
}

func (h *harness) reportsFor(uuid string) []peerapi.ModifyRequest {
	var out []peerapi.ModifyRequest
	for _, r := range h.center.Reports() {
		if r.Session == uuid {
			out = append(out, r)
		}
	}
	return out
}

func sess(n int, ifname string, st peerapi.SessionStatus) peerapi.Session {
	s := validWG()
	s.UUID = "00000000-0000-4000-8000-00000000000" + string(rune('0'+n))
	s.Interface = ifname
	s.Status = st
	return s
}
