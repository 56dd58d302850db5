package peerapi

import (
	"context"
	"maps"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/peerapi"
	"github.com/edgeagent/edgeagent/pkg/source/persist"
)

// report is one status report to send.
type report struct {
	session string
	status  peerapi.SessionStatus
	err     string
}

// retryState is the backoff of a session whose report failed.
type retryState struct {
	next    time.Time
	backoff time.Duration
}

// reportLoop sends the reports the intents call for whenever the sessions or the controller's
// objects change, retrying failures with jittered exponential backoff.
func (s *Source) reportLoop(ctx context.Context) {
	var watch <-chan struct{}
	if s.o.Objects != nil {
		ch, stop := s.o.Objects.Watch()
		defer stop()
		watch = ch
	}
	retries := map[string]*retryState{}
	var timer *time.Timer
	var timerC <-chan time.Time
	for {
		reps, heldDelete := s.dueReports()
		now := s.o.Now()
		var soonest time.Time
		for _, r := range reps {
			if rs := retries[r.session]; rs != nil && now.Before(rs.next) {
				if soonest.IsZero() || rs.next.Before(soonest) {
					soonest = rs.next
				}
				continue
			}
			err := s.o.Client.Modify(ctx, r.session, r.status, r.err)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				rs := retries[r.session]
				if rs == nil {
					rs = &retryState{backoff: s.o.ReportBackoff}
					retries[r.session] = rs
				} else if rs.backoff *= 2; rs.backoff > s.o.ReportBackoffMax {
					rs.backoff = s.o.ReportBackoffMax
				}
				d := rs.backoff/2 + rand.N(rs.backoff)
				rs.next = s.o.Now().Add(d)
				if soonest.IsZero() || rs.next.Before(soonest) {
					soonest = rs.next
				}
				s.log.Error(err, "report session status; will retry", "session", r.session, "status", r.status, "in", d)
				continue
			}
			delete(retries, r.session)
			s.log.Info("reported session status", "session", r.session, "status", r.status.String(), "error", r.err)
			s.mu.Lock()
			s.reported[r.session] = reportRecord{Status: r.status, Error: r.err, At: s.o.Now()}
			saved := maps.Clone(s.reported)
			s.mu.Unlock()
			if err := persist.Save(s.o.StateDir, reportsFile, saved); err != nil {
				s.log.Error(err, "persist last reports")
			}
		}
		if heldDelete && (soonest.IsZero() || now.Add(s.o.HeldRecheck).Before(soonest)) {
			soonest = now.Add(s.o.HeldRecheck)
		}
		if timer != nil {
			timer.Stop()
			timerC = nil
		}
		if !soonest.IsZero() {
			timer = time.NewTimer(time.Until(soonest))
			timerC = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-watch:
		case <-s.wake:
		case <-timerC:
			if heldDelete {
				s.TriggerSync()
			}
		}
	}
}

// dueReports computes, from the intents and the controller's objects, the reports that differ
// from what the center holds and were not already accepted. heldDelete says that a deletion the
// center asked for waits for the deletion guard.
func (s *Source) dueReports() (out []report, heldDelete bool) {
	s.mu.Lock()
	intents := maps.Clone(s.intents)
	// Forget sessions with nothing to report (gone, or in a status the agent does not report).
	for id := range s.reported {
		if _, ok := intents[id]; !ok {
			delete(s.reported, id)
		}
	}
	reported := maps.Clone(s.reported)
	s.mu.Unlock()

	ids := make([]string, 0, len(intents))
	for id := range intents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		it := intents[id]
		st, msg, ok, held := s.want(it)
		if held {
			heldDelete = true
		}
		if !ok {
			continue
		}
		if st == it.remoteStatus && msg == it.remoteError {
			continue // the center already says so
		}
		if r, ok := reported[id]; ok && r.Status == st && r.Error == msg {
			continue // accepted already; no fetch since shows the center's state
		}
		out = append(out, report{session: id, status: st, err: msg})
	}
	return out, heldDelete
}

// want says what a session should be reported as now, if anything.
func (s *Source) want(it intent) (st peerapi.SessionStatus, msg string, ok, held bool) {
	switch it.kind {
	case intentInvalid:
		return peerapi.StatusTeardown, it.msg, true, false
	case intentDelete:
		if s.o.Objects == nil {
			return peerapi.StatusDeleted, "", true, false
		}
		for _, kind := range []v1alpha1.Kind{v1alpha1.KindTunnel, v1alpha1.KindBIRDProtocol} {
			o, found := s.o.Objects.Get(kind, it.key)
			switch {
			case !found:
				if s.o.ObjectsReady != nil && !s.o.ObjectsReady() {
					return 0, "", false, false
				}
			case o.Deleted:
			case o.Held:
				return 0, "", false, true
			case o.Desired == nil && o.AppliedHash == "" && o.LastReconcile.IsZero():
				// Known only as "not desired" and never on the node.
			default:
				return 0, "", false, false
			}
		}
		return peerapi.StatusDeleted, "", true, false
	case intentConfigured:
		if s.o.Objects == nil {
			return 0, "", false, false
		}
		t, tok := s.o.Objects.Get(v1alpha1.KindTunnel, it.key)
		b, bok := s.o.Objects.Get(v1alpha1.KindBIRDProtocol, it.key)
		tCur := tok && t.Desired != nil && t.Desired.Hash == it.tunnelHash
		bCur := bok && b.Desired != nil && b.Desired.Hash == it.birdHash
		if tCur && failed(&t) {
			return peerapi.StatusProblem, "interface configuration failed: " + t.LastError, true, false
		}
		if bCur && failed(&b) {
			return peerapi.StatusProblem, "BIRD configuration failed: " + b.LastError, true, false
		}
		if tCur && bCur && t.Ready() && b.Ready() {
			return peerapi.StatusEnabled, "", true, false
		}
	}
	return 0, "", false, false
}

// failed reports whether the last reconcile of the object's current spec failed. The Ready
// condition says so only for the current spec (a change resets it), unlike LastError, which may
// still hold an older spec's failure.
func failed(o *controller.ObjectStatus) bool {
	c := v1alpha1.FindCondition(o.Conditions, v1alpha1.ConditionReady)
	return o.LastError != "" && c != nil && c.Status == v1alpha1.ConditionFalse &&
		(c.Reason == v1alpha1.ReasonFailed || c.Reason == v1alpha1.ReasonInvalid)
}
