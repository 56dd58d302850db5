package controller

import (
	"sort"
	"sync"
	"time"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

// ObjectStatus is everything the controller knows about one object.
type ObjectStatus struct {
	Kind   v1alpha1.Kind `json:"kind"`
	Key    string        `json:"key"`
	Source string        `json:"source,omitempty"`
	Owner  string        `json:"owner,omitempty"`
	// Desired is the object last seen in a snapshot (nil once it left the snapshot). It holds
	// secrets: serve it only through Redacted.
	Desired    *v1alpha1.Object     `json:"desired,omitempty"`
	Conditions []v1alpha1.Condition `json:"conditions,omitempty"`
	// AppliedHash is the spec hash the node last converged to ("" after a deletion).
	AppliedHash string `json:"appliedHash,omitempty"`
	Observed    any    `json:"observed,omitempty"`
	// Attempts counts reconciles since the spec last changed or last succeeded.
	Attempts  int    `json:"attempts"`
	LastError string `json:"lastError,omitempty"`
	// Terminal is set when LastError cannot be fixed by retrying.
	Terminal      bool      `json:"terminal,omitempty"`
	LastReconcile time.Time `json:"lastReconcile,omitzero"`
	LastDuration  Duration  `json:"lastDuration,omitzero"`
	// Deleted is set once the object was removed from the node; the entry stays as a tombstone
	// so that sources can tell "gone" from "never seen".
	Deleted bool `json:"deleted,omitempty"`
	// Held is set while the deletion guard holds this object's deletion.
	Held bool `json:"held,omitempty"`
	// FirstSeen is when the entry was created.
	FirstSeen time.Time `json:"firstSeen"`
}

// Ready reports whether the object converged to its current desired spec.
func (s *ObjectStatus) Ready() bool {
	c := v1alpha1.FindCondition(s.Conditions, v1alpha1.ConditionReady)
	return c != nil && c.Status == v1alpha1.ConditionTrue && s.Desired != nil && s.AppliedHash == s.Desired.Hash
}

// SourceStatus is what the controller knows about one source.
type SourceStatus struct {
	Name                string    `json:"name"`
	LastSuccess         time.Time `json:"lastSuccess,omitzero"`
	LastError           string    `json:"lastError,omitempty"`
	LastErrorTime       time.Time `json:"lastErrorTime,omitzero"`
	ConsecutiveFailures int       `json:"consecutiveFailures"`
	// Generation is the snapshot generation that last took this source's objects.
	Generation int64 `json:"generation"`
	// Objects counts the source's objects in its last good answer.
	Objects int `json:"objects"`
	// Held says which deletions the deletion guard holds for this source, if any.
	Held string `json:"held,omitempty"`
}

type statusKey struct {
	kind v1alpha1.Kind
	key  string
}

// Store keeps the status of every object and source. Reconcile workers write it through the
// manager; reporters and the ops endpoints read copies. Watchers are told of every change.
type Store struct {
	mu       sync.RWMutex
	objects  map[statusKey]*ObjectStatus
	sources  map[string]*SourceStatus
	watchers map[chan struct{}]struct{}
	now      func() time.Time
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{
		objects:  map[statusKey]*ObjectStatus{},
		sources:  map[string]*SourceStatus{},
		watchers: map[chan struct{}]struct{}{},
		now:      time.Now,
	}
}

// Get returns a copy of the status of kind/key.
func (s *Store) Get(kind v1alpha1.Kind, key string) (ObjectStatus, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.objects[statusKey{kind, key}]
	if !ok {
		return ObjectStatus{}, false
	}
	return o.copy(), true
}

// List returns copies of the statuses of one kind (all kinds if kind is ""), sorted by kind
// order and key.
func (s *Store) List(kind v1alpha1.Kind) []ObjectStatus {
	s.mu.RLock()
	out := make([]ObjectStatus, 0, len(s.objects))
	for k, o := range s.objects {
		if kind == "" || k.kind == kind {
			out = append(out, o.copy())
		}
	}
	s.mu.RUnlock()
	order := map[v1alpha1.Kind]int{}
	for i, k := range v1alpha1.Kinds {
		order[k] = i
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return order[out[i].Kind] < order[out[j].Kind]
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// Sources returns copies of every source's status, sorted by name.
func (s *Store) Sources() []SourceStatus {
	s.mu.RLock()
	out := make([]SourceStatus, 0, len(s.sources))
	for _, v := range s.sources {
		out = append(out, *v)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Source returns a copy of one source's status.
func (s *Store) Source(name string) (SourceStatus, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.sources[name]
	if !ok {
		return SourceStatus{}, false
	}
	return *v, true
}

// Watch returns a channel that receives (coalesced) after every change, and a function that
// stops the watch.
func (s *Store) Watch() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.watchers[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.watchers, ch)
		s.mu.Unlock()
	}
}

// update runs fn on the entry of kind/key (created if missing) under the lock and notifies
// watchers.
func (s *Store) update(kind v1alpha1.Kind, key string, fn func(o *ObjectStatus)) {
	s.mu.Lock()
	k := statusKey{kind, key}
	o, ok := s.objects[k]
	if !ok {
		o = &ObjectStatus{Kind: kind, Key: key, FirstSeen: s.now()}
		s.objects[k] = o
	}
	fn(o)
	s.notifyLocked()
	s.mu.Unlock()
}

// updateSource runs fn on the named source's entry (created if missing).
func (s *Store) updateSource(name string, fn func(v *SourceStatus)) {
	s.mu.Lock()
	v, ok := s.sources[name]
	if !ok {
		v = &SourceStatus{Name: name}
		s.sources[name] = v
	}
	fn(v)
	s.notifyLocked()
	s.mu.Unlock()
}

// expireTombstones drops entries of objects deleted from the node before cutoff and no longer
// desired, so that churn does not grow the store without bound.
func (s *Store) expireTombstones(cutoff time.Time) {
	s.mu.Lock()
	for k, o := range s.objects {
		if o.Deleted && o.Desired == nil && o.LastReconcile.Before(cutoff) {
			delete(s.objects, k)
		}
	}
	s.mu.Unlock()
}

func (s *Store) notifyLocked() {
	for ch := range s.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (o *ObjectStatus) copy() ObjectStatus {
	c := *o
	c.Conditions = append([]v1alpha1.Condition(nil), o.Conditions...)
	return c
}
