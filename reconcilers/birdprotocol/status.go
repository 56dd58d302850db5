package birdprotocol

import (
	"context"
	"strings"
	"time"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/bird"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

// Status is what the reconciler observed of one object: its file and each of its protocols as
// BIRD reports them. It is the Observed value at /debug/state.
type Status struct {
	File      string           `json:"file"`
	Protocols []ProtocolStatus `json:"protocols"`
	// Error says why the protocols could not be read, if they could not.
	Error string `json:"error,omitempty"`
}

// ProtocolStatus is one BGP protocol's state.
type ProtocolStatus struct {
	Name string `json:"name"`
	// Loaded is false when BIRD has no protocol of that name (not yet configured).
	Loaded    bool            `json:"loaded"`
	State     string          `json:"state,omitempty"`
	BGPState  string          `json:"bgpState,omitempty"`
	Since     time.Time       `json:"since,omitzero"`
	Info      string          `json:"info,omitempty"`
	LastError string          `json:"lastError,omitempty"`
	Channels  []ChannelStatus `json:"channels,omitempty"`
}

// ChannelStatus is one channel's route counts.
type ChannelStatus struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Imported uint64 `json:"imported"`
	Filtered uint64 `json:"filtered"`
	Exported uint64 `json:"exported"`
}

// Established reports whether every protocol of the object is Established.
func (s Status) Established() bool {
	if len(s.Protocols) == 0 {
		return false
	}
	for _, p := range s.Protocols {
		if p.BGPState != "Established" {
			return false
		}
	}
	return true
}

// observe reads the protocols of every desired request not in skip and fills in the results: Observed, the Established condition, the requeue interval and the gauges. Removed
// keys lose their gauges.
func (r *Reconciler) observe(ctx context.Context, reqs []controller.Request, outs []controller.Outcome, skip map[int]bool) {
	var names []string
	want := map[int][]string{}
	for i, req := range reqs {
		if skip[i] {
			continue
		}
		if req.Desired == nil {
			if outs[i].Err == nil {
				r.metrics.forget(req.Key)
			}
			continue
		}
		spec, ok := req.Desired.Spec.(*v1alpha1.BIRDProtocolSpec)
		if !ok {
			continue
		}
		for _, p := range Protocols(req.Key, spec) {
			want[i] = append(want[i], p.SessionName)
			names = append(names, p.SessionName)
		}
	}
	if len(names) == 0 {
		return
	}
	got, err := r.readProtocols(ctx, names)
	for i, pnames := range want {
		st := Status{File: r.Path(reqs[i].Key)}
		if err != nil {
			st.Error = err.Error()
		}
		for _, n := range pnames {
			ps := ProtocolStatus{Name: n}
			if p, ok := got[n]; ok {
				ps = protocolStatus(p)
			}
			st.Protocols = append(st.Protocols, ps)
		}
		res := &outs[i].Result
		res.Observed = st
		cond := v1alpha1.Condition{Type: v1alpha1.ConditionEstablished}
		switch {
		case err != nil:
			cond.Status, cond.Reason, cond.Message = v1alpha1.ConditionUnknown, "StateUnavailable", err.Error()
		case st.Established():
			cond.Status, cond.Reason = v1alpha1.ConditionTrue, "Established"
		default:
			cond.Status, cond.Reason, cond.Message = v1alpha1.ConditionFalse, notEstablishedReason(st), summary(st)
		}
		res.Conditions = append(res.Conditions, cond)
		if cond.Status == v1alpha1.ConditionTrue {
			res.RequeueAfter = r.opts.RefreshEstablished
		} else {
			res.RequeueAfter = r.opts.RefreshNotEstablished
		}
		if err == nil && outs[i].Err == nil {
			r.metrics.set(reqs[i].Key, st)
		}
	}
}

// readProtocols asks BIRD for the named protocols: one `show protocols all` for everything when
// the batch is large, one per name when it is small, so a single refresh does not print a
// thousand protocols.
func (r *Reconciler) readProtocols(ctx context.Context, names []string) (map[string]bird.Protocol, error) {
	cctx, cancel := r.cmdCtx(ctx)
	defer cancel()
	out := map[string]bird.Protocol{}
	if len(names) > 8 {
		ps, err := r.opts.Client.ShowProtocolsAll(cctx, "")
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			out[p.Name] = p
		}
		return out, nil
	}
	for _, n := range names {
		ps, err := r.opts.Client.ShowProtocolsAll(cctx, n)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			out[p.Name] = p
		}
	}
	return out, nil
}

func protocolStatus(p bird.Protocol) ProtocolStatus {
	ps := ProtocolStatus{Name: p.Name, Loaded: true, State: p.State, BGPState: p.BGPState, Since: p.Since, Info: p.Info, LastError: p.LastError}
	for _, c := range p.Channels {
		ps.Channels = append(ps.Channels, ChannelStatus{Name: c.Name, State: c.State, Imported: c.Imported, Filtered: c.Filtered, Exported: c.Exported})
	}
	return ps
}

// notEstablishedReason is the BGP state of the first protocol that is not Established.
func notEstablishedReason(st Status) string {
	for _, p := range st.Protocols {
		switch {
		case !p.Loaded:
			return "NotLoaded"
		case p.BGPState == "":
			return "Unknown"
		case p.BGPState != "Established":
			return p.BGPState
		}
	}
	return "NoProtocol"
}

func summary(st Status) string {
	var parts []string
	for _, p := range st.Protocols {
		s := p.Name + ": "
		if !p.Loaded {
			s += "not loaded"
		} else {
			s += p.State + "/" + p.BGPState
			if p.LastError != "" {
				s += " (" + p.LastError + ")"
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
