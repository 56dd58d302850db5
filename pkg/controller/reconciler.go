// Package controller merges the sources' objects into immutable snapshots, queues the keys whose
// spec changed, runs one reconciler per kind through rate-limited work queues, and keeps every
// object's status.
package controller

import (
	"context"
	"errors"
	"time"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

// Reconciler converges one kind of object on the node. Reconcile must be idempotent: it reads
// desired and observed state fresh every time and applies the smallest change that converges.
type Reconciler interface {
	// Kind is the kind this reconciler owns.
	Kind() v1alpha1.Kind
	// Observed lists the keys of the objects of this kind the agent owns on the node right now
	// (managed-prefix interfaces, managed-header files, loaded zones...). The resync enqueues them
	// with the desired keys so that orphans are removed.
	Observed(ctx context.Context) ([]string, error)
	// Reconcile converges key to desired, or removes it when desired is nil. A returned error is
	// retried with per-key backoff unless it is Terminal.
	Reconcile(ctx context.Context, key string, desired *v1alpha1.Object) (Result, error)
	// Plan says what Reconcile would change for key, one human-readable line per change, without
	// changing anything. No lines means the node already matches.
	Plan(ctx context.Context, key string, desired *v1alpha1.Object) ([]string, error)
}

// BatchReconciler is a Reconciler that converges several keys at once (BIRD applies a batch of
// files with one `configure`). The manager hands it every key that is queued when a worker
// starts, up to its MaxBatch; Reconcile is still used for single keys.
type BatchReconciler interface {
	Reconciler
	// ReconcileBatch converges every request and returns one outcome per request, in order.
	ReconcileBatch(ctx context.Context, reqs []Request) []Outcome
	// MaxBatch bounds the size of one batch.
	MaxBatch() int
}

// Request is one key to converge in a batch, with its desired object or nil.
type Request struct {
	Key     string
	Desired *v1alpha1.Object
}

// Outcome is the result of one request of a batch.
type Outcome struct {
	Result Result
	Err    error
}

// Result is what a reconcile observed.
type Result struct {
	// Observed is a JSON-encodable summary of the object on the node, shown at /debug/state.
	// It must hold no secret.
	Observed any
	// Conditions besides Ready (which the manager sets), e.g. Established for BGP.
	Conditions []v1alpha1.Condition
	// RequeueAfter asks for another reconcile of this key after the duration (0: only on change
	// or resync). It does not count as a failure.
	RequeueAfter time.Duration
	// Changes counts the writes the reconcile made to the node (0 when it was already in sync).
	Changes int
}

// terminalError marks an error that retrying cannot fix: the spec itself can never work.
type terminalError struct{ err error }

func (t *terminalError) Error() string { return t.err.Error() }
func (t *terminalError) Unwrap() error { return t.err }

// Terminal wraps err so the manager records it and does not retry the key until its spec changes.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return &terminalError{err: err}
}

// IsTerminal reports whether err (or an error it wraps) was made by Terminal.
func IsTerminal(err error) bool {
	var t *terminalError
	return errors.As(err, &t)
}

// Sink receives what sources produce. Update hands over a complete, immutable set of the
// source's objects; the set must not be changed afterwards.
type Sink interface {
	// Update replaces the source's objects.
	Update(source string, objs v1alpha1.ObjectSet)
	// ReportError records a failed fetch or an invalid answer; the previous objects stay.
	ReportError(source string, err error)
}

// Source produces desired objects until ctx ends.
type Source interface {
	// Name identifies the source in the status store and logs.
	Name() string
	// Run fetches, validates and translates, calling sink.Update with each new good answer and
	// sink.ReportError with each failure, until ctx is done.
	Run(ctx context.Context, sink Sink) error
}
