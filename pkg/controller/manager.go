package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

// Options configures a Manager. Zero values take the documented defaults.
type Options struct {
	Logger logr.Logger
	// Registerer receives the manager's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// MetricsProvider feeds client-go work queue metrics; nil disables them.
	MetricsProvider workqueue.MetricsProvider
	// ResyncInterval between full resyncs (desired ∪ observed keys); default 5m.
	ResyncInterval time.Duration
	// Workers per kind; default 1 (kinds that change the node must stay at 1 unless their
	// reconciler is safe under concurrency). Batch reconcilers always run one worker.
	Workers map[v1alpha1.Kind]int
	// BackoffBase and BackoffMax bound the per-key exponential backoff; default 5ms and 5m.
	BackoffBase, BackoffMax time.Duration
	// QPS and Burst size the overall token bucket shared by the keys of a kind; default 10/100.
	QPS   float64
	Burst int
	// Guard configures the deletion guard.
	Guard GuardOptions
	// AllowMassDelete disables the deletion guard (the operator's override flag).
	AllowMassDelete bool
	// BatchLinger is how long a batch worker waits after its first key for more; default 20ms.
	BatchLinger time.Duration
	// ShutdownTimeout bounds the drain of in-flight reconciles; default 30s.
	ShutdownTimeout time.Duration
	// TombstoneTTL is how long deleted objects stay visible in the status store; default 1h.
	TombstoneTTL time.Duration
}

// GuardOptions says when a snapshot deletes too much at once.
type GuardOptions struct {
	// MaxFraction of a kind's objects one snapshot may delete; default 0.5.
	MaxFraction float64
	// MinCount is the smallest deletion the guard holds; default 5. A snapshot that would delete
	// every object a source had is always held, whatever the count.
	MinCount int
}

func (o *Options) setDefaults() {
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = 5 * time.Minute
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = 5 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 5 * time.Minute
	}
	if o.QPS <= 0 {
		o.QPS = 10
	}
	if o.Burst <= 0 {
		o.Burst = 100
	}
	if o.Guard.MaxFraction <= 0 {
		o.Guard.MaxFraction = 0.5
	}
	if o.Guard.MinCount <= 0 {
		o.Guard.MinCount = 5
	}
	if o.BatchLinger <= 0 {
		o.BatchLinger = 20 * time.Millisecond
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.TombstoneTTL <= 0 {
		o.TombstoneTTL = time.Hour
	}
}

// Manager merges sources into snapshots and runs one work queue and reconciler per kind.
type Manager struct {
	opts    Options
	log     logr.Logger
	store   *Store
	metrics *managerMetrics
	kinds   map[v1alpha1.Kind]*kindRunner
	order   []v1alpha1.Kind

	// updateMu serialises Update calls end to end, so that the status store and the queues see
	// snapshots in generation order even when two sources answer at once.
	updateMu sync.Mutex
	mu       sync.Mutex // guards snap, held, delivered, expected, firstKeys
	snap     *Snapshot
	// held is, per source, the deletions the guard holds: kind → key → the held object.
	held map[string]map[v1alpha1.Kind]map[string]*v1alpha1.Object
	// delivered marks sources that handed over at least one good answer.
	delivered map[string]bool
	// reported marks sources that delivered or failed at least once.
	reported map[string]bool
	expected []string
	// firstKeys are the keys of the first complete snapshot not yet attempted (readiness).
	firstKeys map[statusKey]struct{}
	firstSet  bool

	resyncCh chan struct{}
}

type kindRunner struct {
	kind    v1alpha1.Kind
	rec     Reconciler
	batch   BatchReconciler
	queue   workqueue.TypedRateLimitingInterface[string]
	workers int
}

// New returns a manager for the given reconcilers, one per kind.
func New(opts Options, recs ...Reconciler) (*Manager, error) {
	opts.setDefaults()
	m := &Manager{
		opts:      opts,
		log:       opts.Logger,
		store:     NewStore(),
		kinds:     map[v1alpha1.Kind]*kindRunner{},
		held:      map[string]map[v1alpha1.Kind]map[string]*v1alpha1.Object{},
		delivered: map[string]bool{},
		reported:  map[string]bool{},
		firstKeys: map[statusKey]struct{}{},
		resyncCh:  make(chan struct{}, 1),
		snap:      newSnapshot(0, map[string]v1alpha1.ObjectSet{}),
	}
	var err error
	if m.metrics, err = newManagerMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	for _, r := range recs {
		k := r.Kind()
		if _, dup := m.kinds[k]; dup {
			return nil, fmt.Errorf("controller: two reconcilers for kind %s", k)
		}
		limiter := workqueue.NewTypedMaxOfRateLimiter(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](opts.BackoffBase, opts.BackoffMax),
			&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(opts.QPS), opts.Burst)},
		)
		cfg := workqueue.TypedRateLimitingQueueConfig[string]{Name: string(k), MetricsProvider: opts.MetricsProvider}
		if opts.MetricsProvider == nil {
			cfg.Name = ""
		}
		kr := &kindRunner{kind: k, rec: r, queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter, cfg), workers: 1}
		if b, ok := r.(BatchReconciler); ok {
			kr.batch = b
		} else if n := opts.Workers[k]; n > 0 {
			kr.workers = n
		}
		m.kinds[k] = kr
		m.order = append(m.order, k)
	}
	sort.Slice(m.order, func(i, j int) bool { return kindIndex(m.order[i]) < kindIndex(m.order[j]) })
	return m, nil
}

func kindIndex(k v1alpha1.Kind) int {
	for i, x := range v1alpha1.Kinds {
		if x == k {
			return i
		}
	}
	return len(v1alpha1.Kinds)
}

// Store returns the status store the manager writes.
func (m *Manager) Store() *Store { return m.store }

// Snapshot returns the current snapshot.
func (m *Manager) Snapshot() *Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snap
}

// ExpectSources declares the sources whose first answer readiness and orphan removal wait for.
// Run calls it with its sources; call it yourself when you feed the manager with Update directly.
func (m *Manager) ExpectSources(names ...string) {
	m.mu.Lock()
	m.expected = append(m.expected, names...)
	m.mu.Unlock()
}

// ReportError implements Sink: the source's previous objects stay.
func (m *Manager) ReportError(source string, err error) {
	m.metrics.sourcePolls.WithLabelValues(source, "error").Inc()
	m.log.Error(err, "source failed", "source", source)
	m.mu.Lock()
	m.reported[source] = true
	m.mu.Unlock()
	m.store.updateSource(source, func(v *SourceStatus) {
		v.LastError = err.Error()
		v.LastErrorTime = time.Now()
		v.ConsecutiveFailures++
	})
	m.maybeSetFirst()
}

// Update implements Sink: it makes the next snapshot from the source's new objects, holds mass
// deletions, records desired state and enqueues exactly the keys whose effective object changed.
func (m *Manager) Update(source string, objs v1alpha1.ObjectSet) {
	if objs == nil {
		objs = v1alpha1.ObjectSet{}
	}
	m.updateMu.Lock()
	defer m.updateMu.Unlock()
	m.metrics.sourcePolls.WithLabelValues(source, "ok").Inc()
	type change struct {
		kind v1alpha1.Kind
		key  string
		obj  *v1alpha1.Object
	}
	var changes []change
	var heldNow []change

	m.mu.Lock()
	old := m.snap
	oldSet := old.Source(source)
	// One pass over the old objects finds the removals, one over the new ones the rest.
	removed := map[v1alpha1.Kind][]string{}
	for kind, oldKeys := range oldSet {
		newKeys := objs[kind]
		for key := range oldKeys {
			if _, ok := newKeys[key]; !ok {
				removed[kind] = append(removed[kind], key)
			}
		}
	}
	effective, held, releasedHold := m.guard(oldSet, objs, removed, m.held[source])
	gen := old.Generation + 1
	next := old.with(gen, source, effective)
	for kind, newKeys := range objs {
		oldKeys := oldSet[kind]
		for key, o := range newKeys {
			if p := oldKeys[key]; p == nil || p.Hash != o.Hash {
				if eff := next.Get(kind, key); eff != old.Get(kind, key) {
					changes = append(changes, change{kind, key, eff})
				}
			}
		}
	}
	for kind, keys := range removed {
		for _, key := range keys {
			if held[kind][key] != nil {
				continue
			}
			if eff := next.Get(kind, key); eff != old.Get(kind, key) {
				changes = append(changes, change{kind, key, eff})
			}
		}
	}
	for kind, keys := range held {
		for key, o := range keys {
			heldNow = append(heldNow, change{kind, key, o})
		}
	}
	if len(held) > 0 {
		m.held[source] = held
	} else {
		delete(m.held, source)
	}
	m.snap = next
	m.delivered[source] = true
	m.reported[source] = true
	m.mu.Unlock()

	now := time.Now()
	for _, c := range changes {
		m.store.update(c.kind, c.key, func(st *ObjectStatus) {
			m.setDesired(st, c.obj, now)
		})
	}
	for _, c := range heldNow {
		m.store.update(c.kind, c.key, func(st *ObjectStatus) {
			st.Held = true
			st.Conditions = v1alpha1.SetCondition(st.Conditions, v1alpha1.Condition{
				Type: v1alpha1.ConditionHeld, Status: v1alpha1.ConditionTrue, Reason: v1alpha1.ReasonHeld,
				Message: fmt.Sprintf("source %s dropped this object in a mass deletion; held until the next answer confirms it or --allow-mass-delete", source),
			}, now)
		})
	}
	for kind, keys := range releasedHold {
		for key := range keys {
			m.store.update(kind, key, func(st *ObjectStatus) {
				st.Held = false
				st.Conditions = v1alpha1.SetCondition(st.Conditions, v1alpha1.Condition{
					Type: v1alpha1.ConditionHeld, Status: v1alpha1.ConditionFalse, Reason: "Released",
				}, now)
			})
		}
	}
	heldMsg := ""
	if len(heldNow) > 0 {
		heldMsg = fmt.Sprintf("%d deletion(s) held by the deletion guard (%s); the next answer that confirms them applies them, or pass --allow-mass-delete", len(heldNow), summarize(held))
		m.log.Info("deletion guard holds a mass deletion", "source", source, "held", len(heldNow))
	}
	count := objs.Len()
	m.store.updateSource(source, func(v *SourceStatus) {
		v.LastSuccess = now
		v.ConsecutiveFailures = 0
		v.LastError = ""
		v.Generation = gen
		v.Objects = count
		v.Held = heldMsg
	})
	m.metrics.generation.Set(float64(gen))
	for _, c := range changes {
		if kr := m.kinds[c.kind]; kr != nil {
			kr.queue.Add(c.key)
		}
	}
	m.maybeSetFirst()
}

// setDesired records a new desired object (or its removal) for a status entry.
func (m *Manager) setDesired(st *ObjectStatus, o *v1alpha1.Object, now time.Time) {
	prevHash := ""
	if st.Desired != nil {
		prevHash = st.Desired.Hash
	}
	newHash := ""
	if o != nil {
		newHash = o.Hash
		st.Source, st.Owner = o.Source, o.Owner
	}
	st.Desired = o
	if prevHash != newHash || (o != nil && st.Deleted) {
		st.Attempts = 0
		st.Terminal = false
		if o != nil {
			st.Deleted = false
		}
		if o == nil || st.AppliedHash != newHash {
			st.Conditions = v1alpha1.SetCondition(st.Conditions, v1alpha1.Condition{
				Type: v1alpha1.ConditionReady, Status: v1alpha1.ConditionFalse, Reason: v1alpha1.ReasonProgressing,
				Message: "desired spec changed; reconcile pending",
			}, now)
		}
	}
	if o != nil && st.Held {
		st.Held = false
	}
}

// guard applies the deletion guard to one source's update, given the keys the update removes.
// It returns the effective object set (objs plus held objects), the deletions now held, and the
// keys whose earlier hold was released (declared again, or confirmed by this second answer).
func (m *Manager) guard(oldSet, objs v1alpha1.ObjectSet, removed map[v1alpha1.Kind][]string, prevHeld map[v1alpha1.Kind]map[string]*v1alpha1.Object) (
	effective v1alpha1.ObjectSet, held map[v1alpha1.Kind]map[string]*v1alpha1.Object, released map[v1alpha1.Kind]map[string]bool) {
	effective = objs
	held = map[v1alpha1.Kind]map[string]*v1alpha1.Object{}
	released = map[v1alpha1.Kind]map[string]bool{}
	release := func(kind v1alpha1.Kind, key string) {
		if released[kind] == nil {
			released[kind] = map[string]bool{}
		}
		released[kind][key] = true
	}
	// Every earlier hold ends now: either the key is desired again, or this answer confirms it.
	for kind, keys := range prevHeld {
		for key := range keys {
			release(kind, key)
		}
	}
	if m.opts.AllowMassDelete || len(removed) == 0 {
		return effective, held, released
	}
	wipe := objs.Len() == 0
	for kind, keys := range removed {
		var fresh []string
		for _, key := range keys {
			if prevHeld[kind][key] == nil {
				fresh = append(fresh, key)
			}
		}
		if len(fresh) == 0 {
			continue
		}
		total := len(oldSet[kind])
		mass := float64(len(fresh)) > m.opts.Guard.MaxFraction*float64(total) && len(fresh) >= m.opts.Guard.MinCount
		if !mass && !wipe {
			continue
		}
		h := make(map[string]*v1alpha1.Object, len(fresh))
		for _, key := range fresh {
			h[key] = oldSet[kind][key]
		}
		held[kind] = h
	}
	if len(held) == 0 {
		return effective, held, released
	}
	effective = v1alpha1.ObjectSet{}
	for _, keys := range objs {
		for _, o := range keys {
			effective.Add(o)
		}
	}
	for _, keys := range held {
		for _, o := range keys {
			effective.Add(o)
		}
	}
	return effective, held, released
}

func summarize(held map[v1alpha1.Kind]map[string]*v1alpha1.Object) string {
	var parts []string
	for _, k := range v1alpha1.Kinds {
		if n := len(held[k]); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return fmt.Sprint(parts)
}

// maybeSetFirst fixes the keys readiness waits for once every expected source has answered.
func (m *Manager) maybeSetFirst() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.firstSet {
		return
	}
	for _, s := range m.expected {
		if !m.reported[s] {
			return
		}
	}
	m.firstSet = true
	for _, k := range m.order {
		for _, key := range m.snap.Keys(k) {
			m.firstKeys[statusKey{k, key}] = struct{}{}
		}
	}
}

// Ready implements StateProvider: ready once every expected source answered and every key of
// that first snapshot was attempted.
func (m *Manager) Ready() (bool, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.firstSet {
		var waiting []string
		for _, s := range m.expected {
			if !m.reported[s] {
				waiting = append(waiting, s)
			}
		}
		return false, fmt.Sprintf("waiting for the first answer of source(s) %v", waiting)
	}
	if n := len(m.firstKeys); n > 0 {
		return false, fmt.Sprintf("%d object(s) of the first snapshot not attempted yet", n)
	}
	return true, ""
}

// orphansAllowed reports whether every expected source delivered a good answer, so that keys
// found on the node but desired by nobody really are orphans.
func (m *Manager) orphansAllowed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.expected {
		if !m.delivered[s] {
			return false
		}
	}
	return true
}

// Resync asks for a resync now (coalesced with one already pending).
func (m *Manager) Resync() {
	select {
	case m.resyncCh <- struct{}{}:
	default:
	}
}

// resync enqueues every desired key and, once orphans may be judged, every observed key.
func (m *Manager) resync(ctx context.Context) {
	snap := m.Snapshot()
	orphans := m.orphansAllowed()
	for _, k := range m.order {
		kr := m.kinds[k]
		for _, key := range snap.Keys(k) {
			kr.queue.Add(key)
		}
		if !orphans {
			continue
		}
		obs, err := kr.rec.Observed(ctx)
		if err != nil {
			m.log.Error(err, "list observed objects", "kind", k)
			continue
		}
		for _, key := range obs {
			kr.queue.Add(key)
		}
	}
	m.store.expireTombstones(time.Now().Add(-m.opts.TombstoneTTL))
}

// Run starts the reconcile workers and the sources and blocks until ctx ends; then it stops the
// sources, lets in-flight reconciles finish within ShutdownTimeout and returns. The data plane is
// left as it is.
func (m *Manager) Run(ctx context.Context, sources ...Source) error {
	names := make([]string, len(sources))
	for i, s := range sources {
		names[i] = s.Name()
	}
	m.ExpectSources(names...)

	// Reconciles run on a context that outlives ctx so that a shutdown drains instead of
	// cutting a half-applied change; it is cancelled only when the drain times out.
	rctx, cancelReconciles := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReconciles()

	var workers sync.WaitGroup
	for _, k := range m.order {
		kr := m.kinds[k]
		for i := 0; i < kr.workers; i++ {
			workers.Add(1)
			go func() {
				defer workers.Done()
				m.worker(rctx, kr)
			}()
		}
	}

	var srcs sync.WaitGroup
	sctx, stopSources := context.WithCancel(ctx)
	defer stopSources()
	for _, s := range sources {
		srcs.Add(1)
		go func() {
			defer srcs.Done()
			if err := s.Run(sctx, m); err != nil && !errors.Is(err, context.Canceled) {
				m.ReportError(s.Name(), fmt.Errorf("source stopped: %w", err))
			}
		}()
	}

	ticker := time.NewTicker(m.opts.ResyncInterval)
	defer ticker.Stop()
	m.maybeSetFirst()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-ticker.C:
			m.resync(rctx)
		case <-m.resyncCh:
			m.resync(rctx)
		}
	}

	m.log.Info("shutting down: stopping sources and draining reconciles", "timeout", m.opts.ShutdownTimeout)
	stopSources()
	srcs.Wait()
	for _, k := range m.order {
		m.kinds[k].queue.ShutDown()
	}
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(m.opts.ShutdownTimeout):
		cancelReconciles()
		<-done
		return fmt.Errorf("controller: in-flight reconciles did not finish within %s", m.opts.ShutdownTimeout)
	}
}

func (m *Manager) worker(ctx context.Context, kr *kindRunner) {
	for {
		key, shutdown := kr.queue.Get()
		if shutdown {
			return
		}
		if kr.queue.ShuttingDown() {
			// Shutting down: queued keys wait for the next start, only in-flight work drains.
			kr.queue.Done(key)
			continue
		}
		if kr.batch == nil {
			m.process(ctx, kr, []string{key})
			continue
		}
		keys := []string{key}
		max := kr.batch.MaxBatch()
		if kr.queue.Len() == 0 && max > 1 {
			time.Sleep(m.opts.BatchLinger)
		}
		for len(keys) < max && kr.queue.Len() > 0 {
			k, sd := kr.queue.Get()
			if sd {
				break
			}
			keys = append(keys, k)
		}
		m.process(ctx, kr, keys)
	}
}

// process reconciles keys (one, or a batch) and records the outcomes.
func (m *Manager) process(ctx context.Context, kr *kindRunner, keys []string) {
	snap := m.Snapshot()
	reqs := make([]Request, 0, len(keys))
	for _, key := range keys {
		desired := snap.Get(kr.kind, key)
		if m.skipTerminal(kr.kind, key, desired) {
			kr.queue.Forget(key)
			kr.queue.Done(key)
			m.markAttempted(kr.kind, key)
			continue
		}
		reqs = append(reqs, Request{Key: key, Desired: desired})
	}
	if len(reqs) == 0 {
		return
	}
	start := time.Now()
	var outs []Outcome
	if kr.batch != nil && len(reqs) > 1 {
		outs = kr.batch.ReconcileBatch(ctx, reqs)
		if len(outs) != len(reqs) {
			err := fmt.Errorf("%s reconciler returned %d outcomes for %d requests", kr.kind, len(outs), len(reqs))
			outs = make([]Outcome, len(reqs))
			for i := range outs {
				outs[i].Err = err
			}
		}
	} else {
		outs = make([]Outcome, len(reqs))
		for i, r := range reqs {
			outs[i].Result, outs[i].Err = m.reconcileOne(ctx, kr, r)
		}
	}
	dur := time.Since(start)
	per := dur / time.Duration(len(reqs))
	for i, r := range reqs {
		m.record(kr, r, outs[i], start, per)
		kr.queue.Done(r.Key)
	}
}

func (m *Manager) reconcileOne(ctx context.Context, kr *kindRunner, r Request) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s %s: reconcile panicked: %v", kr.kind, r.Key, p)
		}
	}()
	return kr.rec.Reconcile(ctx, r.Key, r.Desired)
}

// skipTerminal reports whether key's last error was terminal for the same desired spec.
func (m *Manager) skipTerminal(kind v1alpha1.Kind, key string, desired *v1alpha1.Object) bool {
	st, ok := m.store.Get(kind, key)
	if !ok || !st.Terminal {
		return false
	}
	return objHash(st.Desired) == objHash(desired)
}

func objHash(o *v1alpha1.Object) string {
	if o == nil {
		return ""
	}
	return o.Hash
}

func (m *Manager) markAttempted(kind v1alpha1.Kind, key string) {
	m.mu.Lock()
	delete(m.firstKeys, statusKey{kind, key})
	m.mu.Unlock()
}

func (m *Manager) record(kr *kindRunner, r Request, out Outcome, start time.Time, dur time.Duration) {
	m.markAttempted(kr.kind, r.Key)
	hash := ""
	if r.Desired != nil {
		hash = r.Desired.Hash
	}
	now := time.Now()
	terminal := out.Err != nil && IsTerminal(out.Err)
	result := "ok"
	switch {
	case terminal:
		result = "terminal"
	case out.Err != nil:
		result = "error"
	}
	m.metrics.reconciles.WithLabelValues(string(kr.kind), result).Inc()
	m.metrics.duration.WithLabelValues(string(kr.kind)).Observe(dur.Seconds())
	if out.Err != nil {
		m.metrics.errors.WithLabelValues(string(kr.kind)).Inc()
	}
	m.store.update(kr.kind, r.Key, func(st *ObjectStatus) {
		// A newer desired spec may have arrived while this one ran; its reconcile is queued,
		// so only record results that belong to the spec the status shows.
		current := objHash(st.Desired) == hash
		st.Attempts++
		st.LastReconcile = start
		st.LastDuration = Duration(dur)
		if out.Result.Observed != nil {
			st.Observed = out.Result.Observed
		}
		for _, c := range out.Result.Conditions {
			st.Conditions = v1alpha1.SetCondition(st.Conditions, c, now)
		}
		if out.Err != nil {
			st.LastError = out.Err.Error()
			st.Terminal = terminal && current
			reason := v1alpha1.ReasonFailed
			if terminal {
				reason = v1alpha1.ReasonInvalid
			}
			if current {
				st.Conditions = v1alpha1.SetCondition(st.Conditions, v1alpha1.Condition{
					Type: v1alpha1.ConditionReady, Status: v1alpha1.ConditionFalse, Reason: reason, Message: out.Err.Error(),
				}, now)
			}
			return
		}
		st.LastError = ""
		st.Terminal = false
		if !current {
			return
		}
		st.AppliedHash = hash
		if r.Desired == nil {
			st.Deleted = true
			st.Observed = nil
			st.Conditions = v1alpha1.SetCondition(st.Conditions, v1alpha1.Condition{
				Type: v1alpha1.ConditionReady, Status: v1alpha1.ConditionFalse, Reason: v1alpha1.ReasonDeleted,
				Message: "removed from the node",
			}, now)
			return
		}
		st.Deleted = false
		st.Conditions = v1alpha1.SetCondition(st.Conditions, v1alpha1.Condition{
			Type: v1alpha1.ConditionReady, Status: v1alpha1.ConditionTrue, Reason: v1alpha1.ReasonApplied,
		}, now)
	})
	switch {
	case out.Err != nil && !terminal:
		m.log.V(1).Info("reconcile failed; retrying with backoff", "kind", kr.kind, "key", r.Key, "error", out.Err.Error())
		kr.queue.AddRateLimited(r.Key)
	case out.Err != nil:
		m.log.Info("reconcile failed terminally; waiting for a spec change", "kind", kr.kind, "key", r.Key, "error", out.Err.Error())
		kr.queue.Forget(r.Key)
	default:
		kr.queue.Forget(r.Key)
		if out.Result.RequeueAfter > 0 {
			kr.queue.AddAfter(r.Key, out.Result.RequeueAfter)
		}
	}
}

// DebugState implements StateProvider.
func (m *Manager) DebugState(kind, key string) DebugState {
	ready, _ := m.Ready()
	snap := m.Snapshot()
	ds := DebugState{
		Generation: snap.Generation,
		Ready:      ready,
		Time:       time.Now(),
		Sources:    m.store.Sources(),
		Queues:     map[v1alpha1.Kind]int{},
		Objects:    []ObjectStatus{},
	}
	for _, k := range m.order {
		ds.Queues[k] = m.kinds[k].queue.Len()
	}
	for _, st := range m.store.List(v1alpha1.Kind(kind)) {
		if key != "" && st.Key != key {
			continue
		}
		st.Desired = st.Desired.Redacted()
		ds.Objects = append(ds.Objects, st)
	}
	return ds
}

// QueueLen returns the depth of one kind's queue (0 for an unknown kind).
func (m *Manager) QueueLen(kind v1alpha1.Kind) int {
	if kr := m.kinds[kind]; kr != nil {
		return kr.queue.Len()
	}
	return 0
}

// Plan asks every reconciler what it would change to converge the node to the snapshot built
// from sets (one per source), without changing anything. It returns, per kind and key, the
// changes; keys that are in sync are left out.
func (m *Manager) Plan(ctx context.Context, sets map[string]v1alpha1.ObjectSet) (map[v1alpha1.Kind]map[string][]string, error) {
	snap := newSnapshot(1, sets)
	out := map[v1alpha1.Kind]map[string][]string{}
	var errs []error
	for _, k := range m.order {
		kr := m.kinds[k]
		keys := map[string]struct{}{}
		for _, key := range snap.Keys(k) {
			keys[key] = struct{}{}
		}
		obs, err := kr.rec.Observed(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: list observed: %w", k, err))
		}
		for _, key := range obs {
			keys[key] = struct{}{}
		}
		sorted := make([]string, 0, len(keys))
		for key := range keys {
			sorted = append(sorted, key)
		}
		sort.Strings(sorted)
		for _, key := range sorted {
			lines, err := kr.rec.Plan(ctx, key, snap.Get(k, key))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", k, key, err))
				continue
			}
			if len(lines) > 0 {
				if out[k] == nil {
					out[k] = map[string][]string{}
				}
				out[k][key] = lines
			}
		}
	}
	return out, errors.Join(errs...)
}
