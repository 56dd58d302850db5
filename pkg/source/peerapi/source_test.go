package peerapi

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/peerapi"
	"github.com/edgeagent/edgeagent/pkg/peerapi/peerapitest"
)

func TestStatusTable(t *testing.T) {
	h := newHarness(t)
	s4 := sess(1, "dn4", peerapi.StatusQueuedForSetup)
	s2 := sess(2, "dn2", peerapi.StatusEnabled)
	s6 := sess(3, "dn6", peerapi.StatusProblem)
	s6.LastError = "interface configuration failed: old"
	s3 := sess(4, "dn3", peerapi.StatusPendingApproval)
	s5 := sess(5, "dn5", peerapi.StatusQueuedForDelete)
	s1 := sess(6, "dn1", peerapi.StatusDisabled)
	s7 := sess(7, "dn7", peerapi.StatusTeardown)
	bad := sess(8, "eth0", peerapi.StatusQueuedForSetup)
	fail := sess(9, "dnfail", peerapi.StatusQueuedForSetup)
	for _, s := range []peerapi.Session{s4, s2, s6, s3, s5, s1, s7, bad, fail} {
		h.center.PutSession(s)
	}
	h.ctrl = newFakeController()
	h.ctrl.fail[fk(v1alpha1.KindTunnel, "dnfail")] = "set peer: boom"
	h.start(nil)

	waitFor(t, "reports", h.ctrl, h.center, func() bool { return len(h.center.Reports()) >= 5 })
	set, _ := h.ctrl.last()
	if got := set.Keys(v1alpha1.KindTunnel); strings.Join(got, ",") != "dn2,dn4,dn6,dnfail" {
		t.Errorf("tunnels = %v, want dn2,dn4,dn6,dnfail", got)
	}
	if got := set.Keys(v1alpha1.KindBIRDProtocol); strings.Join(got, ",") != "dn2,dn4,dn6,dnfail" {
		t.Errorf("bird protocols = %v", got)
	}
	for _, key := range set.Keys(v1alpha1.KindTunnel) {
		if o := set.Get(v1alpha1.KindTunnel, key); o.Source != "peerapi" || o.Owner == "" {
			t.Errorf("%s: source %q owner %q", key, o.Source, o.Owner)
		}
	}
	want := map[string]peerapi.ModifyRequest{
		s4.UUID:   {Status: 2, Session: s4.UUID},
		s6.UUID:   {Status: 2, Session: s6.UUID},
		s5.UUID:   {Status: 0, Session: s5.UUID},
		bad.UUID:  {Status: 7, Session: bad.UUID, LastError: `invalid configuration: interface name "eth0" must start with the managed prefix "dn"`},
		fail.UUID: {Status: 6, Session: fail.UUID, LastError: "interface configuration failed: set peer: boom"},
	}
	check := func() {
		t.Helper()
		got := map[string][]peerapi.ModifyRequest{}
		for _, r := range h.center.Reports() {
			got[r.Session] = append(got[r.Session], r)
		}
		for id, w := range want {
			if len(got[id]) != 1 || got[id][0] != w {
				t.Errorf("session %s reports %+v, want exactly %+v", id, got[id], w)
			}
		}
		for id, rs := range got {
			if _, ok := want[id]; !ok {
				t.Errorf("unexpected reports for %s: %+v", id, rs)
			}
		}
	}
	check()
	if _, ok := h.center.Session(s5.UUID); ok {
		t.Error("center still has the status-5 session after the 0 report")
	}
	// More syncs with nothing changed report nothing more.
	h.sync()
	h.sync()
	check()

	// The failed tunnel recovers: report 2 once.
	h.ctrl.mu.Lock()
	delete(h.ctrl.fail, fk(v1alpha1.KindTunnel, "dnfail"))
	h.ctrl.mu.Unlock()
	h.sync() // the fake controller "reconciles" on update
	waitFor(t, "recovery report", h.ctrl, h.center, func() bool { return len(h.reportsFor(fail.UUID)) == 2 })
	if r := h.reportsFor(fail.UUID)[1]; r.Status != 2 || r.LastError != "" {
		t.Errorf("recovery report %+v", r)
	}
	st := h.src.Status()
	if len(st.Sessions) != 8 || st.Sessions[s4.UUID].Interface != "dn4" {
		t.Errorf("/status sessions = %d", len(st.Sessions))
	}
}

func TestPendingApprovalKeepsPreviousObjects(t *testing.T) {
	h := newHarness(t)
	s := sess(1, "dnpa", peerapi.StatusEnabled)
	h.center.PutSession(s)
	h.start(nil)
	h.sync()
	set, _ := h.ctrl.last()
	before := set.Get(v1alpha1.KindTunnel, "dnpa")
	if before == nil {
		t.Fatal("no tunnel for the enabled session")
	}
	mod := s
	mod.Status, mod.MTU = peerapi.StatusPendingApproval, 1380
	h.center.PutSession(mod)
	h.sync()
	set, _ = h.ctrl.last()
	if o := set.Get(v1alpha1.KindTunnel, "dnpa"); o == nil || o.Hash != before.Hash {
		t.Fatalf("pending approval changed the tunnel: %v", o)
	}
	// A restart while pending keeps it too (the applied version is persisted).
	h.stop()
	h.ctrl = newFakeController()
	h.start(nil)
	h.sync()
	set, _ = h.ctrl.last()
	if o := set.Get(v1alpha1.KindTunnel, "dnpa"); o == nil || o.Hash != before.Hash {
		t.Fatalf("pending approval after restart: %v", o)
	}
	mod.Status = peerapi.StatusEnabled
	h.center.PutSession(mod)
	h.sync()
	set, _ = h.ctrl.last()
	if o := set.Get(v1alpha1.KindTunnel, "dnpa"); o == nil || o.Spec.(*v1alpha1.TunnelSpec).MTU != 1380 {
		t.Fatalf("approved change not applied: %v", o)
	}
	for _, r := range h.reportsFor(s.UUID) {
		if r.Status != peerapi.StatusEnabled {
			t.Errorf("unexpected report %+v", r)
		}
	}
}

func TestDeleteAcknowledgedOnlyWhenObjectsGone(t *testing.T) {
	h := newHarness(t)
	a := sess(1, "dnda", peerapi.StatusEnabled)
	b := sess(2, "dndb", peerapi.StatusEnabled)
	h.center.PutSession(a)
	h.center.PutSession(b)
	h.ctrl = newFakeController()
	h.start(nil)
	h.sync()
	h.ctrl.mu.Lock()
	h.ctrl.manual = true
	h.ctrl.mu.Unlock()
	h.center.SetStatus(a.UUID, peerapi.StatusQueuedForDelete)
	h.sync()
	set, _ := h.ctrl.last()
	if set.Get(v1alpha1.KindTunnel, "dnda") != nil || set.Get(v1alpha1.KindBIRDProtocol, "dnda") != nil {
		t.Fatal("status 5 session still has objects")
	}
	if set.Get(v1alpha1.KindTunnel, "dndb") == nil {
		t.Fatal("other session lost its tunnel")
	}
	h.sync() // give the reporter a chance to misbehave
	if r := h.reportsFor(a.UUID); len(r) != 0 {
		t.Fatalf("reported %+v before the objects were gone", r)
	}
	h.ctrl.deleteNow()
	waitFor(t, "the 0 report", h.ctrl, h.center, func() bool { return len(h.reportsFor(a.UUID)) == 1 })
	if r := h.reportsFor(a.UUID)[0]; r.Status != 0 {
		t.Errorf("report %+v", r)
	}
	if _, ok := h.center.Session(a.UUID); ok {
		t.Error("center kept the session")
	}

	// A held deletion (deletion guard) is not acknowledged; the source syncs again soon so that
	// the next answer confirms it.
	h.ctrl.mu.Lock()
	h.ctrl.manual, h.ctrl.hold = false, true
	h.ctrl.mu.Unlock()
	n := h.src.Syncs()
	h.center.SetStatus(b.UUID, peerapi.StatusQueuedForDelete)
	h.src.TriggerSync()
	waitFor(t, "rechecks of the held deletion", h.ctrl, nil, func() bool { return h.src.Syncs() >= n+3 })
	if r := h.reportsFor(b.UUID); len(r) != 0 {
		t.Fatalf("held deletion acknowledged: %+v", r)
	}
	h.ctrl.mu.Lock()
	h.ctrl.hold = false
	h.ctrl.mu.Unlock()
	waitFor(t, "the 0 report after the hold", h.ctrl, h.center, func() bool { return len(h.reportsFor(b.UUID)) == 1 })
}

func TestFetchFailuresChangeNothing(t *testing.T) {
	h := newHarness(t)
	s := sess(1, "dnff", peerapi.StatusEnabled)
	h.center.PutSession(s)
	h.start(nil)
	h.sync()
	_, updates := h.ctrl.last()
	for _, f := range []peerapitest.Fault{peerapitest.Fault500, peerapitest.FaultHang, peerapitest.FaultGarbage, peerapitest.FaultBadCode} {
		h.center.SetFault(f, "sessions")
		errs := h.ctrl.errCount()
		h.sync()
		h.center.SetFault(peerapitest.FaultNone)
		if _, u := h.ctrl.last(); u != updates {
			t.Errorf("fault %d: the source updated the sink", f)
		}
		if h.ctrl.errCount() != errs+1 {
			t.Errorf("fault %d: %d errors reported, want 1", f, h.ctrl.errCount()-errs)
		}
	}
	if got := h.src.Status().Sessions; len(got) != 1 {
		t.Errorf("/status lost the sessions: %v", got)
	}
	// An empty list is passed through as-is: holding it is the deletion guard's job.
	h.center.SetFault(peerapitest.FaultEmptyList, "sessions")
	h.sync()
	if set, u := h.ctrl.last(); u != updates+1 || set.Len() != 0 {
		t.Errorf("empty list: update %d with %d objects", u-updates, set.Len())
	}
	if len(h.reportsFor(s.UUID)) != 0 {
		t.Errorf("reports: %+v", h.reportsFor(s.UUID))
	}
}

func TestRestartUsesPersistedAnswerAndReportsNothing(t *testing.T) {
	h := newHarness(t)
	a := sess(1, "dnra", peerapi.StatusQueuedForSetup)
	b := sess(2, "dnrb", peerapi.StatusEnabled)
	h.center.PutSession(a)
	h.center.PutSession(b)
	h.start(nil)
	waitFor(t, "report 2", h.ctrl, h.center, func() bool { return len(h.reportsFor(a.UUID)) == 1 })
	h.sync()
	first, _ := h.ctrl.last()
	reports := len(h.center.Reports())
	h.stop()

	// The center is down at restart: the persisted answer is used as is.
	h.center.SetFault(peerapitest.Fault500)
	ctrl := newFakeController()
	// The controller state survives (the node still has the objects converged).
	ctrl.objs = h.ctrl.objs
	h.ctrl = ctrl
	h.start(nil)
	waitFor(t, "an update from the persisted answer", h.ctrl, nil, func() bool { _, n := h.ctrl.last(); return n >= 1 })
	got, _ := h.ctrl.last()
	if !sameHashes(first, got) {
		t.Fatalf("persisted answer translated differently:\n%v\n%v", hashes(first), hashes(got))
	}
	waitFor(t, "a failed sync", h.ctrl, nil, func() bool { return h.ctrl.errCount() >= 1 })
	h.center.SetFault(peerapitest.FaultNone)
	h.sync()
	got, _ = h.ctrl.last()
	if !sameHashes(first, got) {
		t.Fatal("fresh answer after restart translated differently")
	}
	h.sync()
	if n := len(h.center.Reports()); n != reports {
		t.Errorf("restart made %d reports", n-reports)
	}
}

func hashes(s v1alpha1.ObjectSet) map[string]string {
	m := map[string]string{}
	for kind, objs := range s {
		for key, o := range objs {
			m[string(kind)+"/"+key] = o.Hash
		}
	}
	return m
}

func sameHashes(a, b v1alpha1.ObjectSet) bool {
	ha, hb := hashes(a), hashes(b)
	if len(ha) != len(hb) || len(ha) == 0 {
		return false
	}
	for k, v := range ha {
		if hb[k] != v {
			return false
		}
	}
	return true
}

func TestReportsRetriedUntilAccepted(t *testing.T) {
	h := newHarness(t)
	s := sess(1, "dnrr", peerapi.StatusQueuedForSetup)
	h.center.PutSession(s)
	h.center.SetFault(peerapitest.Fault500, "modify")
	h.start(nil)
	waitFor(t, "failed report attempts", h.ctrl, h.center, func() bool { return h.center.Calls("modify") >= 4 })
	if len(h.center.Reports()) != 0 {
		t.Fatal("report accepted during the fault")
	}
	h.center.SetFault(peerapitest.FaultNone)
	waitFor(t, "the report", h.ctrl, h.center, func() bool { return len(h.reportsFor(s.UUID)) == 1 })
	calls := h.center.Calls("modify")
	h.sync()
	h.sync()
	if h.center.Calls("modify") != calls {
		t.Error("report repeated after it was accepted")
	}
}

// blockingClient lets a test hold a sync in progress.
type blockingClient struct {
	mu      sync.Mutex
	calls   int
	release chan struct{}
	entered chan struct{}
}

func (b *blockingClient) Sessions(ctx context.Context) ([]peerapi.Session, error) {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []peerapi.Session{}, nil
}

func (b *blockingClient) Modify(context.Context, string, peerapi.SessionStatus, string) error {
	return nil
}

func (b *blockingClient) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

func TestSyncTriggersCoalesceAndAreNeverLost(t *testing.T) {
	bc := &blockingClient{release: make(chan struct{}), entered: make(chan struct{}, 100)}
	src, err := New(Options{Client: bc, StateDir: t.TempDir(), SyncInterval: time.Hour, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctrl := newFakeController()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = src.Run(ctx, ctrl) }()
	defer func() { cancel(); <-done }()

	<-bc.entered // the start-up sync is running
	for i := 0; i < 10; i++ {
		src.TriggerSync() // a burst during the sync
	}
	bc.release <- struct{}{}
	<-bc.entered      // exactly one more sync starts right after
	src.TriggerSync() // a trigger during that one is not lost either
	bc.release <- struct{}{}
	<-bc.entered
	bc.release <- struct{}{}
	waitFor(t, "three finished syncs", ctrl, nil, func() bool { return src.Syncs() == 3 })
	// No further sync was queued: the next trigger starts the fourth, not a leftover.
	select {
	case <-bc.entered:
		t.Fatalf("a leftover sync ran (%d calls)", bc.count())
	case <-time.After(100 * time.Millisecond):
	}
	src.TriggerSync()
	<-bc.entered
	bc.release <- struct{}{}
	if n := bc.count(); n != 4 {
		t.Errorf("%d fetches, want 4", n)
	}
}

func TestPassthroughPorts(t *testing.T) {
	h := newHarness(t)
	now := time.Now()
	tok := func(asn uint32, port int, ttl time.Duration) string {
		issued := now
		if ttl < 0 {
			issued, ttl = now.Add(2*ttl), -ttl // expired an hour ago
		}
		s, err := peerapi.IssuePassthrough(jwtSecret, asn, port, issued, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	withJWT := sess(1, "dnjwt", peerapi.StatusQueuedForSetup)
	withJWT.Data.Passthrough = tok(withJWT.ASN, 42424, time.Hour)
	sameJWT := sess(2, "dnjwt2", peerapi.StatusQueuedForSetup)
	sameJWT.Data = withJWT.Data
	noJWT := sess(3, "dnnojwt", peerapi.StatusQueuedForSetup)
	forged := sess(4, "dnforged", peerapi.StatusQueuedForSetup)
	forged.Data.Passthrough, _ = peerapi.IssuePassthrough([]byte("not-the-key"), forged.ASN, 42425, now, time.Hour)
	wrongASN := sess(5, "dnasn", peerapi.StatusQueuedForSetup)
	wrongASN.Data.Passthrough = tok(4242420001, 42426, time.Hour)
	expired := sess(6, "dnexp", peerapi.StatusQueuedForSetup)
	expired.Data.Passthrough = tok(expired.ASN, 42427, -time.Hour)
	expiredTaken := sess(7, "dnexptaken", peerapi.StatusQueuedForSetup)
	expiredTaken.Data.Passthrough = tok(expiredTaken.ASN, 42424, -time.Hour)
	for _, s := range []peerapi.Session{withJWT, sameJWT, noJWT, forged, wrongASN, expired, expiredTaken} {
		h.center.PutSession(s)
	}
	h.start(nil)
	waitFor(t, "reports", h.ctrl, h.center, func() bool { return len(h.center.Reports()) >= 7 })
	set, _ := h.ctrl.last()
	port := func(key string) int {
		o := set.Get(v1alpha1.KindTunnel, key)
		if o == nil {
			return -1
		}
		return o.Spec.(*v1alpha1.TunnelSpec).WireGuard.ListenPort
	}
	if p := port("dnjwt"); p != 42424 {
		t.Errorf("JWT session listens on %d, want the claim 42424", p)
	}
	if p := port("dnexp"); p != 42427 {
		t.Errorf("expired token with a free port: listens on %d, want 42427", p)
	}
	reserved := port("dnnojwt")
	if reserved < 42000 || reserved > 42999 {
		t.Errorf("session without JWT listens on %d, want a reserved port", reserved)
	}
	for _, c := range []struct {
		s    peerapi.Session
		want string
	}{
		{sameJWT, "used by another session"},
		{forged, "signature"},
		{wrongASN, "issued for AS4242420001"},
		{expiredTaken, "expired and its listen port 42424 was given to someone else"},
	} {
		r := h.reportsFor(c.s.UUID)
		if len(r) != 1 || r[0].Status != 7 || !strings.Contains(r[0].LastError, c.want) {
			t.Errorf("%s: reports %+v, want 7 with %q", c.s.Interface, r, c.want)
		}
		if port(c.s.Interface) != -1 {
			t.Errorf("%s: invalid session has a tunnel", c.s.Interface)
		}
	}
	// After a restart the reserved port is the same, and the JWT session keeps its port even
	// once its token has expired.
	h.stop()
	h.ctrl = nil
	h.start(func(o *Options) { o.Now = func() time.Time { return now.Add(2 * time.Hour) } })
	h.sync()
	set, _ = h.ctrl.last()
	if p := port("dnnojwt"); p != reserved {
		t.Errorf("reserved port changed across restart: %d → %d", reserved, p)
	}
	if p := port("dnjwt"); p != 42424 {
		t.Errorf("JWT session after its token expired: port %d", p)
	}
}
