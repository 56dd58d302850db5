// Package peerapi is the PeerAPI source: it fetches the router's sessions from the PeerAPI
// center, validates them, translates them into Tunnel and BIRDProtocol objects, persists the
// last good answer, and reports each session's state back to the center.
package peerapi

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/peerapi"
	"github.com/edgeagent/edgeagent/pkg/source/persist"
)

// Client is what the source needs from the PeerAPI client (*peerapi.Client implements it).
type Client interface {
	Sessions(ctx context.Context) ([]peerapi.Session, error)
	Modify(ctx context.Context, session string, status peerapi.SessionStatus, lastError string) error
}

// ObjectState is the controller's view of the objects (*controller.Store implements it).
type ObjectState interface {
	Get(kind v1alpha1.Kind, key string) (controller.ObjectStatus, bool)
	// Watch returns a channel that receives after every change, and a stop function.
	Watch() (<-chan struct{}, func())
}

// Options configure the source.
type Options struct {
	// Name of the source; default "peerapi".
	Name string
	// Client talks to the center.
	Client Client
	// StateDir keeps the last good answer and the last reports.
	StateDir string
	// SyncInterval between syncs (syncInterval); default 300 s.
	SyncInterval time.Duration
	// Validation and Translate hold the operator's limits and the node's side of the tunnels.
	Validation ValidationOptions
	Translate  TranslateOptions
	// Ports reserves WireGuard listen ports; required when sessions use WireGuard.
	Ports *peerapi.PortReservations
	// Objects is the controller's status store. Without it, only invalid sessions are reported.
	Objects ObjectState
	// ObjectsReady reports whether the controller finished its first resync, so that an object
	// absent from Objects really is absent from the node; nil means always.
	ObjectsReady func() bool
	// ReportBackoff and ReportBackoffMax bound the retry backoff of failed reports; default
	// 1 s and 2 min.
	ReportBackoff, ReportBackoffMax time.Duration
	// HeldRecheck is how soon the source syncs again when a deletion the center asked for
	// (status 5) is held by the deletion guard: the next answer confirms it. Default 10 s.
	HeldRecheck time.Duration
	// Logger for sync and report events.
	Logger logr.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Source is the PeerAPI source. It implements controller.Source.
type Source struct {
	o       Options
	log     logr.Logger
	trigger chan struct{}
	wake    chan struct{}

	mu     sync.Mutex
	remote []peerapi.Session
	// applied is, per session, the version its objects were translated from (for status 3).
	applied map[string]peerapi.Session
	intents map[string]intent
	// syncs counts finished syncs (applied or failed), for tests and /debug.
	syncs   int
	started int

	// reported holds the reports the center accepted since the last fetch that started later.
	reported map[string]reportRecord
}

// intent is what a session should be reported as, once its condition holds.
type intent struct {
	kind intentKind
	// msg is the lastError of an intentInvalid report.
	msg string
	// key of the session's objects (the interface name) and their hashes.
	key                  string
	tunnelHash, birdHash string
	// remoteStatus and remoteError are what the center held at the fetch: no report when the
	// wanted one equals them.
	remoteStatus peerapi.SessionStatus
	remoteError  string
}

type intentKind int

const (
	// intentConfigured: report 2 when both objects are ready, 6 when one failed.
	intentConfigured intentKind = iota + 1
	// intentInvalid: report 7 with the reason.
	intentInvalid
	// intentDelete: report 0 once both objects are gone from the node.
	intentDelete
)

// reportRecord is the last report the center accepted for a session.
type reportRecord struct {
	Status peerapi.SessionStatus `json:"status"`
	Error  string                `json:"error"`
	// At is when the center accepted it. A fetch that starts later shows the center's own
	// state, so the record is dropped then: it only bridges the time until that fetch.
	At time.Time `json:"at"`
}

// savedState is the last good answer as persisted.
type savedState struct {
	Sessions []peerapi.Session          `json:"sessions"`
	Applied  map[string]peerapi.Session `json:"applied"`
}

const (
	stateFile   = "peerapi-sessions"
	reportsFile = "peerapi-reports"
)

// New checks the options.
func New(o Options) (*Source, error) {
	if o.Client == nil {
		return nil, errors.New("peerapi source: no client")
	}
	if o.StateDir == "" {
		return nil, errors.New("peerapi source: state directory is required")
	}
	if o.Name == "" {
		o.Name = SourceName
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = 300 * time.Second
	}
	if o.ReportBackoff <= 0 {
		o.ReportBackoff = time.Second
	}
	if o.ReportBackoffMax <= 0 {
		o.ReportBackoffMax = 2 * time.Minute
	}
	if o.HeldRecheck <= 0 {
		o.HeldRecheck = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Source{
		o:        o,
		log:      o.Logger.WithValues("source", o.Name),
		trigger:  make(chan struct{}, 1),
		wake:     make(chan struct{}, 1),
		applied:  map[string]peerapi.Session{},
		intents:  map[string]intent{},
		reported: map[string]reportRecord{},
	}
	return s, nil
}

// Name implements controller.Source.
func (s *Source) Name() string { return s.o.Name }

// TriggerSync asks for a sync (the agent API's /sync). It never blocks: a trigger that arrives
// during a sync schedules exactly one more sync right after it, and a burst coalesces into one.
func (s *Source) TriggerSync() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Status returns the agent API's /status data: the sessions of the last good answer. Metrics are
// not collected yet, so the metrics map is empty.
func (s *Source) Status() peerapi.StatusData {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := peerapi.StatusData{Sessions: make(map[string]peerapi.Session, len(s.remote)), Metrics: map[string]peerapi.SessionMetric{}}
	for _, ss := range s.remote {
		d.Sessions[ss.UUID] = ss
	}
	return d
}

// Syncs counts the syncs finished so far (applied or failed).
func (s *Source) Syncs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncs
}

// Run implements controller.Source: it hands the persisted last good answer to the sink, then
// syncs at start, every SyncInterval and on TriggerSync, and reports sessions until ctx ends.
func (s *Source) Run(ctx context.Context, sink controller.Sink) error {
	var saved savedState
	found, err := persist.Load(s.o.StateDir, stateFile, &saved)
	if err != nil {
		s.log.Error(err, "load last good answer; starting without it")
	} else if found {
		s.log.Info("using the persisted last good answer until the center answers", "sessions", len(saved.Sessions))
		s.apply(sink, saved.Sessions, saved.Applied, time.Time{})
	}
	var reported map[string]reportRecord
	if found, err := persist.Load(s.o.StateDir, reportsFile, &reported); err != nil {
		s.log.Error(err, "load last reports")
	} else if found && reported != nil { // a file holding null decodes to a nil map
		s.mu.Lock()
		s.reported = reported
		s.mu.Unlock()
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.reportLoop(rctx)
	}()

	ticker := time.NewTicker(s.o.SyncInterval)
	defer ticker.Stop()
	for {
		s.syncOnce(ctx, sink)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-s.trigger:
		}
	}
}

// syncOnce fetches and, if the answer is good, applies it. A failed fetch keeps everything.
func (s *Source) syncOnce(ctx context.Context, sink controller.Sink) {
	s.mu.Lock()
	s.started++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.syncs++
		s.mu.Unlock()
	}()
	start := s.o.Now()
	sessions, err := s.o.Client.Sessions(ctx)
	s.mu.Lock()
	prev := s.applied
	s.mu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		s.log.Error(err, "sync failed; keeping the current sessions")
		sink.ReportError(s.o.Name, fmt.Errorf("fetch sessions: %w", err))
		return
	}
	s.apply(sink, sessions, prev, start)
}

// apply validates and translates a session list, hands the objects to the sink and records what
// to report. fetched is when the fetch started; it is zero for the persisted answer at start
// (nothing is saved again, and the persisted reports stay in force).
func (s *Source) apply(sink controller.Sink, sessions []peerapi.Session, prevApplied map[string]peerapi.Session, fetched time.Time) {
	set, applied, intents := s.build(sessions, prevApplied)
	fresh := !fetched.IsZero()
	if fresh {
		if err := persist.Save(s.o.StateDir, stateFile, savedState{Sessions: sessions, Applied: applied}); err != nil {
			s.log.Error(err, "persist last good answer")
		}
		// An empty list is as likely a center fault as a real wipe (the deletion guard holds it
		// too): releasing every port then would let a later answer hand a peer's port to
		// someone else, or fail sessions whose passthrough token has expired.
		if s.o.Ports != nil && len(sessions) > 0 {
			keep := make(map[string]bool, len(sessions))
			for _, ss := range sessions {
				keep[ss.UUID] = true
			}
			if err := s.o.Ports.Retain(keep); err != nil {
				s.log.Error(err, "release ports of deleted sessions")
			}
		}
	}
	sink.Update(s.o.Name, set)
	// The intents and the reports they supersede change together, so that the report loop
	// never sees the new state of one and the old state of the other.
	s.mu.Lock()
	s.remote = sessions
	s.applied = applied
	s.intents = intents
	if fresh {
		for id, r := range s.reported {
			if r.At.Before(fetched) {
				delete(s.reported, id)
			}
		}
	}
	s.mu.Unlock()
	s.log.V(1).Info("sessions applied", "sessions", len(sessions), "objects", set.Len(), "fresh", fresh)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// build is the pure part of a sync (apart from port claims): the object set, the session
// versions the objects come from, and the report intents.
func (s *Source) build(sessions []peerapi.Session, prevApplied map[string]peerapi.Session) (v1alpha1.ObjectSet, map[string]peerapi.Session, map[string]intent) {
	set := v1alpha1.ObjectSet{}
	applied := map[string]peerapi.Session{}
	intents := map[string]intent{}
	now := s.o.Now()

	// Sessions that already have objects claim their interface names first, so that a new
	// session reusing a name cannot take over a running tunnel.
	order := make([]int, len(sessions))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		_, pa := prevApplied[sessions[order[a]].UUID]
		_, pb := prevApplied[sessions[order[b]].UUID]
		if pa != pb {
			return pa
		}
		return sessions[order[a]].UUID < sessions[order[b]].UUID
	})
	owner := map[string]string{} // interface → session uuid
	for _, i := range order {
		ss := sessions[i]
		base := intent{remoteStatus: ss.Status, remoteError: ss.LastError, key: ss.Interface}
		invalid := func(reason string) {
			it := base
			it.kind, it.msg = intentInvalid, "invalid configuration: "+reason
			intents[ss.UUID] = it
			s.log.Info("invalid session", "session", ss.UUID, "interface", ss.Interface, "reason", reason)
		}
		configure := func(from peerapi.Session, report bool) {
			port := 0
			if from.Type == peerapi.LinkWireGuard {
				p, err := listenPort(s.o.Ports, s.o.Translate.PassthroughSecret, &from, now)
				var ip *invalidPortError
				switch {
				case errors.As(err, &ip):
					invalid(ip.msg)
					return
				case err != nil:
					// The state directory failed: keep what the session had rather than
					// reporting the session as broken.
					s.log.Error(err, "decide listen port; keeping the previous objects", "session", from.UUID)
					if prev, ok := prevApplied[from.UUID]; ok && prev.Type == peerapi.LinkWireGuard {
						if op, ok := s.o.Ports.SessionPort(from.UUID); ok {
							from, port = prev, op
							break
						}
					}
					return
				default:
					port = p
				}
			}
			if o, taken := owner[from.Interface]; taken {
				invalid(fmt.Sprintf("interface %s is already used by session %s", from.Interface, o))
				return
			}
			t, b, err := TranslateSession(s.o.Name, &from, &s.o.Translate, port)
			if err != nil {
				invalid(err.Error())
				return
			}
			owner[from.Interface] = from.UUID
			set.Add(t)
			set.Add(b)
			applied[from.UUID] = from
			if report {
				it := base
				it.kind, it.key, it.tunnelHash, it.birdHash = intentConfigured, from.Interface, t.Hash, b.Hash
				intents[ss.UUID] = it
			}
		}
		switch ss.Status {
		case peerapi.StatusEnabled, peerapi.StatusQueuedForSetup, peerapi.StatusProblem:
			if err := ValidateSession(&ss, s.o.Validation); err != nil {
				invalid(err.Error())
				continue
			}
			configure(ss, true)
		case peerapi.StatusPendingApproval:
			// Pending approval keeps whatever was configured before; the new version is checked
			// now so that the user learns early, but nothing is applied.
			if err := ValidateSession(&ss, s.o.Validation); err != nil {
				invalid(err.Error())
				continue
			}
			if prev, ok := prevApplied[ss.UUID]; ok {
				configure(prev, false)
			}
		case peerapi.StatusQueuedForDelete:
			it := base
			it.kind = intentDelete
			intents[ss.UUID] = it
		default:
			// 0, 1, 7 and unknown statuses: nothing on the node, nothing to report.
		}
	}
	return set, applied, intents
}
