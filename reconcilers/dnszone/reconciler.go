// Package dnszone reconciles DNSZone objects into the in-process authoritative DNS server:
// compile the spec, swap the zone in atomically, or remove it. A spec that does not compile is a
// terminal error naming the record, and the previous good version of the zone stays served.
package dnszone

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/dnsserver"
)

// Options configure a Reconciler.
type Options struct {
	// Server is the DNS server whose zones the reconciler owns.
	Server *dnsserver.Server
	// Logger receives the reconciler's logs.
	Logger logr.Logger
	// Now is the clock for SOA serials; default time.Now.
	Now func() time.Time
}

// Reconciler implements controller.Reconciler for DNSZone.
//
// Serials: a zone whose spec sets no serial (spec.soa.serial or an SOA record) is served with
// the Unix time of the reconcile that changed it, and always at least the served serial + 1, so
// serials grow across changes and restarts. A reconcile that finds the same spec hash already
// served changes nothing, so resyncs and restarts of an unchanged zone keep their serial within
// a process, and a restart gets a larger one.
type Reconciler struct {
	srv *dnsserver.Server
	log logr.Logger
	now func() time.Time
}

var _ controller.BatchReconciler = (*Reconciler)(nil)

// New returns the DNSZone reconciler.
func New(opts Options) (*Reconciler, error) {
	if opts.Server == nil {
		return nil, errors.New("dnszone: no DNS server")
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Reconciler{srv: opts.Server, log: opts.Logger, now: opts.Now}, nil
}

// Observed is what /debug/state shows for a zone.
type Observed struct {
	Serial   uint32    `json:"serial"`
	Records  int       `json:"records"`
	Names    int       `json:"names"`
	SpecHash string    `json:"specHash"`
	LastSwap time.Time `json:"lastSwap"`
}

// Kind implements controller.Reconciler.
func (r *Reconciler) Kind() v1alpha1.Kind { return v1alpha1.KindDNSZone }

// Observed implements controller.Reconciler: the zones the server serves.
func (r *Reconciler) Observed(ctx context.Context) ([]string, error) {
	return r.srv.Zones(), nil
}

func (r *Reconciler) observed(z *dnsserver.CompiledZone) *Observed {
	if z == nil {
		return nil
	}
	return &Observed{Serial: z.Serial(), Records: z.Records(), Names: z.Names(), SpecHash: z.SpecHash(), LastSwap: r.srv.LastSwap(z.Apex())}
}

func spec(key string, desired *v1alpha1.Object) (*v1alpha1.DNSZoneSpec, error) {
	s, ok := desired.Spec.(*v1alpha1.DNSZoneSpec)
	if !ok || s == nil {
		return nil, controller.Terminal(fmt.Errorf("DNSZone %s: spec is %T, not a DNSZoneSpec", key, desired.Spec))
	}
	return s, nil
}

// serial picks the SOA serial for a new version of a zone.
func (r *Reconciler) serial(cur *dnsserver.CompiledZone) uint32 {
	s := uint32(r.now().Unix())
	if cur != nil && s <= cur.Serial() {
		s = cur.Serial() + 1
	}
	return s
}

// compile returns the version of the zone that desired asks for, or nil when cur already serves
// it. Every error is terminal: only a new spec can fix it.
func (r *Reconciler) compile(key string, desired *v1alpha1.Object, cur *dnsserver.CompiledZone) (*dnsserver.CompiledZone, error) {
	s, err := spec(key, desired)
	if err != nil {
		return nil, err
	}
	if cur != nil && cur.SpecHash() == desired.Hash && desired.Hash != "" {
		return nil, nil
	}
	z, err := r.srv.Compile(key, s, r.serial(cur))
	if err != nil {
		return nil, controller.Terminal(err)
	}
	return z, nil
}

// Reconcile implements controller.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, key string, desired *v1alpha1.Object) (controller.Result, error) {
	o := r.ReconcileBatch(ctx, []controller.Request{{Key: key, Desired: desired}})[0]
	return o.Result, o.Err
}

// MaxBatch implements controller.BatchReconciler.
func (r *Reconciler) MaxBatch() int { return 1000 }

// ReconcileBatch implements controller.BatchReconciler: it compiles every zone of the batch and
// swaps all that changed in with one table publish, so loading thousands of zones does not
// rebuild the served table once per zone.
func (r *Reconciler) ReconcileBatch(ctx context.Context, reqs []controller.Request) []controller.Outcome {
	outs := make([]controller.Outcome, len(reqs))
	var set []*dnsserver.CompiledZone
	var setIdx, delIdx []int
	var del []string
	for i, req := range reqs {
		cur := r.srv.Zone(req.Key)
		if req.Desired == nil {
			if cur != nil {
				del = append(del, req.Key)
				delIdx = append(delIdx, i)
			}
			continue
		}
		z, err := r.compile(req.Key, req.Desired, cur)
		if err != nil || z == nil {
			// Unchanged, or a bad spec: the previous good version (if any) stays served.
			outs[i] = controller.Outcome{Result: controller.Result{Observed: r.observed(cur)}, Err: err}
			continue
		}
		set = append(set, z)
		setIdx = append(setIdx, i)
	}
	r.srv.ReplaceZones(set, del)
	for n, i := range setIdx {
		z := set[n]
		r.log.Info("zone loaded", "zone", z.Apex(), "serial", z.Serial(), "records", z.Records())
		outs[i].Result = controller.Result{Observed: r.observed(z), Changes: 1}
	}
	for n, i := range delIdx {
		r.log.Info("zone removed", "zone", del[n])
		outs[i].Result = controller.Result{Changes: 1}
	}
	return outs
}

// Plan implements controller.Reconciler.
func (r *Reconciler) Plan(ctx context.Context, key string, desired *v1alpha1.Object) ([]string, error) {
	cur := r.srv.Zone(key)
	if desired == nil {
		if cur == nil {
			return nil, nil
		}
		return []string{fmt.Sprintf("remove zone %s (serial %d, %d records)", key, cur.Serial(), cur.Records())}, nil
	}
	z, err := r.compile(key, desired, cur)
	if err != nil || z == nil {
		return nil, err
	}
	if cur == nil {
		return []string{fmt.Sprintf("load zone %s: %d records, serial %d", key, z.Records(), z.Serial())}, nil
	}
	return []string{fmt.Sprintf("replace zone %s: %d -> %d records, serial %d -> %d", key, cur.Records(), z.Records(), cur.Serial(), z.Serial())}, nil
}
