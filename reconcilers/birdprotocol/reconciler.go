// Package birdprotocol reconciles BIRDProtocol objects: one BIRD peer file per object in the peer
// config dir, applied in batches with one `configure check` and one `configure`, and the BGP
// session state read back from `show protocols all`.
package birdprotocol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"text/template"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/bird"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

// BIRD is what the reconciler needs from the control socket; *bird.Client implements it.
type BIRD interface {
	ConfigureCheck(ctx context.Context) error
	Configure(ctx context.Context) error
	ShowProtocolsAll(ctx context.Context, name string) ([]bird.Protocol, error)
}

// Options configures a Reconciler.
type Options struct {
	Logger logr.Logger
	// PeerConfDir is the directory BIRD's config includes (e.g. /etc/bird/peers); one file
	// <key>.conf per object.
	PeerConfDir string
	// TemplateFile is the operator's text/template for one protocol; "" uses the embedded
	// default (templates.BIRDPeer).
	TemplateFile string
	// Client talks to BIRD.
	Client BIRD
	// Registerer receives the gauges; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// MaxBatch bounds the keys of one batch; default 1000.
	MaxBatch int
	// CommandTimeout bounds each BIRD command (a configure of a thousand protocols takes a
	// while); default 2 min.
	CommandTimeout time.Duration
	// RefreshNotEstablished is how soon a session that is not Established is looked at again;
	// default 10 s. RefreshEstablished is the same for Established ones; default 60 s.
	RefreshNotEstablished, RefreshEstablished time.Duration
	// AdoptHeaders lists first-line substrings of files another manager wrote (e.g. the
	// PeerAPI agent's banner) that edgeagent may overwrite when it wants that file. Such files
	// are never removed as orphans.
	AdoptHeaders []string
}

// Reconciler is the BIRDProtocol reconciler. It implements controller.BatchReconciler.
type Reconciler struct {
	opts    Options
	log     logr.Logger
	tmpl    *template.Template
	metrics *metrics

	// mu serialises batches: `configure check` and `configure` act on the whole config.
	mu sync.Mutex
	// pending is true while files may be on disk that BIRD has not loaded: after a failed
	// configure, and at start (a previous run may have stopped between write and configure).
	pending bool
	// startup is true until the first batch, which may find that BIRD already loaded every
	// managed file (an agent restart) and so needs no `configure`.
	startup bool
}

var _ controller.BatchReconciler = (*Reconciler)(nil)

// New checks opts, parses the template and returns the reconciler.
func New(opts Options) (*Reconciler, error) {
	if opts.PeerConfDir == "" {
		return nil, errors.New("birdprotocol: no peer config dir")
	}
	if opts.Client == nil {
		return nil, errors.New("birdprotocol: no BIRD client")
	}
	if st, err := os.Stat(opts.PeerConfDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("birdprotocol: peer config dir %s: not a directory (%v)", opts.PeerConfDir, err)
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 2 * time.Minute
	}
	if opts.RefreshNotEstablished <= 0 {
		opts.RefreshNotEstablished = 10 * time.Second
	}
	if opts.RefreshEstablished <= 0 {
		opts.RefreshEstablished = time.Minute
	}
	t, err := loadTemplate(opts.TemplateFile)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Reconciler{opts: opts, log: opts.Logger, tmpl: t, metrics: m, pending: true, startup: true}, nil
}

// Kind implements controller.Reconciler.
func (r *Reconciler) Kind() v1alpha1.Kind { return v1alpha1.KindBIRDProtocol }

// MaxBatch implements controller.BatchReconciler.
func (r *Reconciler) MaxBatch() int { return r.opts.MaxBatch }

// Observed lists the keys of the managed files in the peer config dir.
func (r *Reconciler) Observed(ctx context.Context) ([]string, error) {
	keys, err := managedKeys(r.opts.PeerConfDir)
	if err != nil {
		return nil, fmt.Errorf("birdprotocol: %w", err)
	}
	return keys, nil
}

// Path is the file of key.
func (r *Reconciler) Path(key string) string {
	return filepath.Join(r.opts.PeerConfDir, key+".conf")
}

// Render returns the file content edgeagent wants for key.
func (r *Reconciler) Render(key string, spec *v1alpha1.BIRDProtocolSpec) ([]byte, error) {
	return render(r.tmpl, key, spec)
}

// Plan says which file Reconcile would write or remove.
func (r *Reconciler) Plan(ctx context.Context, key string, desired *v1alpha1.Object) ([]string, error) {
	c, err := r.diff(key, desired)
	if err != nil || c == nil {
		return nil, err
	}
	switch {
	case c.next == nil:
		return []string{"remove " + c.path}, nil
	case !c.prev.exists:
		return []string{"write " + c.path + " (new)"}, nil
	default:
		return []string{"write " + c.path + " (changed)"}, nil
	}
}

// Reconcile converges one key; it is a batch of one.
func (r *Reconciler) Reconcile(ctx context.Context, key string, desired *v1alpha1.Object) (controller.Result, error) {
	out := r.ReconcileBatch(ctx, []controller.Request{{Key: key, Desired: desired}})
	return out[0].Result, out[0].Err
}

// change is one file the batch writes or removes.
type change struct {
	idx  int
	key  string
	path string
	prev fileState
	// next is the wanted content; nil removes the file.
	next []byte
	// rejected holds BIRD's complaint when the change was rolled back.
	rejected *bird.Error
	failed   error
}

// diff returns the change key needs, or nil when the file already matches.
func (r *Reconciler) diff(key string, desired *v1alpha1.Object) (*change, error) {
	if !v1alpha1.ValidInterfaceName(key) {
		return nil, controller.Terminal(fmt.Errorf("BIRDProtocol %s: key is not a valid file base name", key))
	}
	path := r.Path(key)
	cur, err := r.readFile(path, key)
	if err != nil {
		return nil, fmt.Errorf("BIRDProtocol %s: %w", key, err)
	}
	if desired == nil {
		if cur.managed {
			return &change{key: key, path: path, prev: cur}, nil
		}
		return nil, nil // absent, or not ours: nothing to remove
	}
	spec, ok := desired.Spec.(*v1alpha1.BIRDProtocolSpec)
	if !ok {
		return nil, controller.Terminal(fmt.Errorf("BIRDProtocol %s: spec is %T", key, desired.Spec))
	}
	if cur.exists && !cur.managed && !cur.adoptable {
		return nil, controller.Terminal(fmt.Errorf("BIRDProtocol %s: %s exists without the edgeagent header; not touching it", key, path))
	}
	next, err := r.Render(key, spec)
	if err != nil {
		return nil, fmt.Errorf("BIRDProtocol %s: %w", key, err)
	}
	if cur.managed && bytes.Equal(cur.content, next) {
		return nil, nil
	}
	return &change{key: key, path: path, prev: cur, next: next}, nil
}

// apply puts the change's new content on disk.
func (c *change) apply() error {
	if c.next == nil {
		return removeFile(c.path)
	}
	return writeAtomic(c.path, c.next)
}

// restore puts back what was on disk before the change.
func (c *change) restore() error {
	if !c.prev.exists {
		return removeFile(c.path)
	}
	return writeAtomic(c.path, c.prev.content)
}

func (r *Reconciler) cmdCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.opts.CommandTimeout)
}

// statusReader is the part of *bird.Client that tells when BIRD last read its configuration.
type statusReader interface {
	ShowStatus(ctx context.Context) (bird.Status, error)
}

// loadedBeforeStart reports whether BIRD's last reconfiguration happened after the newest
// managed file was written, so that the files on disk are what BIRD runs. BIRD may print the
// time in whole seconds, hence the one-second allowance; an unknown time means "not known to be
// loaded".
func (r *Reconciler) loadedBeforeStart(ctx context.Context) bool {
	sr, ok := r.opts.Client.(statusReader)
	if !ok {
		return false
	}
	cctx, cancel := r.cmdCtx(ctx)
	st, err := sr.ShowStatus(cctx)
	cancel()
	if err != nil || st.LastReconfiguration.IsZero() {
		return false
	}
	keys, err := managedKeys(r.opts.PeerConfDir)
	if err != nil {
		return false
	}
	var newest time.Time
	for _, k := range keys {
		fi, err := os.Stat(r.Path(k))
		if err != nil {
			return false
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	return !st.LastReconfiguration.Add(time.Second).Before(newest)
}

// ReconcileBatch writes every pending change, validates them together with one `configure
// check`, rolls back the files BIRD rejects (found from the file:line:col of BIRD's error, or by
// bisection when the error names none of them), and applies the rest with one `configure`.
// Then it reads every session's state with one `show protocols all`.
func (r *Reconciler) ReconcileBatch(ctx context.Context, reqs []controller.Request) []controller.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	outs := make([]controller.Outcome, len(reqs))
	var changes []*change
	// unjudged marks requests that failed before BIRD saw them (a conflicting unmanaged file, a
	// render error): what BIRD runs under their names is not theirs to report.
	unjudged := map[int]bool{}
	for i, req := range reqs {
		c, err := r.diff(req.Key, req.Desired)
		if err != nil {
			outs[i].Err = err
			unjudged[i] = true
			continue
		}
		if c == nil {
			continue
		}
		c.idx = i
		if err := c.apply(); err != nil {
			outs[i].Err = fmt.Errorf("BIRDProtocol %s: %w", req.Key, err)
			unjudged[i] = true
			continue
		}
		changes = append(changes, c)
	}

	if r.startup {
		r.startup = false
		if len(changes) == 0 && r.pending && r.loadedBeforeStart(ctx) {
			// Restart with nothing to change: BIRD already runs these files, so a `configure`
			// would only be noise (and with some configs restart sessions).
			r.pending = false
		}
	}
	if len(changes) > 0 || r.pending {
		good, err := r.validate(ctx, changes)
		if err == nil && len(good) > 0 {
			// Durable before BIRD loads them; a failure here only risks a crash losing them.
			if serr := syncDir(r.opts.PeerConfDir); serr != nil {
				r.log.Error(serr, "sync peer config dir")
			}
		}
		if err != nil {
			// BIRD could not judge the files: roll all of them back so that BIRD never starts
			// with a file it did not accept, and retry later.
			for _, c := range changes {
				if c.failed == nil && c.rejected == nil {
					if rerr := c.restore(); rerr != nil {
						r.log.Error(rerr, "roll back", "key", c.key)
					}
					c.failed = err
				}
			}
			good = nil
		}
		if len(good) > 0 || (r.pending && err == nil) {
			cctx, cancel := r.cmdCtx(ctx)
			cerr := r.opts.Client.Configure(cctx)
			cancel()
			r.metrics.configures.WithLabelValues(result(cerr)).Inc()
			if cerr != nil {
				r.pending = true
				for _, c := range good {
					c.failed = fmt.Errorf("configure: %w", cerr)
				}
			} else {
				r.pending = false
			}
		}
		for _, c := range changes {
			switch {
			case c.rejected != nil:
				r.metrics.rejected.Inc()
				err := fmt.Errorf("BIRDProtocol %s: bird rejected %s: %s", c.key, c.path, c.rejected.Message)
				if c.next != nil {
					// The spec renders to a file BIRD refuses: only a spec change can fix it.
					err = controller.Terminal(err)
				}
				outs[c.idx].Err = err
			case c.failed != nil:
				outs[c.idx].Err = fmt.Errorf("BIRDProtocol %s: %w", c.key, c.failed)
			default:
				outs[c.idx].Result.Changes = 1
			}
		}
	}

	r.observe(ctx, reqs, outs, unjudged)
	return outs
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// validate runs `configure check` over the written changes and rolls back the rejected ones. It
// returns the changes left on disk, all of which BIRD accepted together. An error means BIRD
// could not be asked, or rejects its configuration even without this batch.
//
// Cost: one check when everything is good; one more per rejected file whose name BIRD's error
// gives; O(log n) more per rejected change found by bisection. Never a `configure`.
func (r *Reconciler) validate(ctx context.Context, changes []*change) ([]*change, error) {
	v := &validator{r: r, ctx: ctx}
	if err := v.resolve(changes); err != nil {
		return nil, err
	}
	return v.good, nil
}

type validator struct {
	r         *Reconciler
	ctx       context.Context
	good      []*change
	baseKnown bool
	rejected  int
}

func (v *validator) check() error {
	cctx, cancel := v.r.cmdCtx(v.ctx)
	defer cancel()
	err := v.r.opts.Client.ConfigureCheck(cctx)
	v.r.metrics.checks.WithLabelValues(result(err)).Inc()
	return err
}

// resolve finds the rejected changes of set, which is applied on disk on top of v.good (known to
// pass). On return every change of set is either in v.good (applied) or rejected (restored).
func (v *validator) resolve(set []*change) error {
	return v.resolveKnown(set, nil)
}

// resolveKnown is resolve; known, when set, is the failed check of exactly this state (so it
// need not be run again).
func (v *validator) resolveKnown(set []*change, known error) error {
	for {
		err := known
		known = nil
		if err == nil {
			err = v.check()
		}
		if err == nil {
			v.good = append(v.good, set...)
			return nil
		}
		be := bird.AsError(err)
		if be == nil || be.Code != bird.CodeConfigError {
			return err
		}
		if len(set) == 0 {
			return fmt.Errorf("bird rejects its configuration outside the managed files: %w", err)
		}
		if c := named(be, set); c != nil {
			v.reject(c, be)
			set = without(set, c)
			continue
		}
		if !v.baseKnown {
			// The error names no file of this batch. Make sure BIRD accepts the configuration
			// without the batch before blaming any change of it.
			v.restoreAll(set)
			if err := v.check(); err != nil {
				// The batch stays rolled back: nothing unverified is left on disk.
				return fmt.Errorf("bird rejects its configuration even without this batch: %w", err)
			}
			v.baseKnown = true
			v.applyAll(set)
		}
		if len(set) == 1 {
			v.reject(set[0], be)
			return nil
		}
		h := len(set) / 2
		v.restoreAll(set[h:])
		rejected := v.rejected
		if err := v.resolve(set[:h]); err != nil {
			return err
		}
		v.applyAll(set[h:])
		if v.rejected == rejected {
			// The first half was all good, so the second half holds what failed this check:
			// split it without checking it whole again.
			return v.resolveKnown(set[h:], err)
		}
		return v.resolve(set[h:])
	}
}

func (v *validator) reject(c *change, be *bird.Error) {
	v.rejected++
	c.rejected = be
	if err := c.restore(); err != nil {
		v.r.log.Error(err, "roll back rejected file", "key", c.key, "path", c.path)
	}
	v.r.log.Info("bird rejected file", "key", c.key, "path", c.path, "error", be.Message)
}

func (v *validator) restoreAll(set []*change) {
	for _, c := range set {
		if err := c.restore(); err != nil {
			v.r.log.Error(err, "roll back", "key", c.key)
		}
	}
}

func (v *validator) applyAll(set []*change) {
	for _, c := range set {
		if err := c.apply(); err != nil {
			v.r.log.Error(err, "re-apply", "key", c.key)
		}
	}
}

// named returns the change whose file BIRD's 8002 error names. BIRD prints the path as its
// include produced it (relative to its working directory, or absolute), so a relative name
// matches a path ending in it.
func named(be *bird.Error, set []*change) *change {
	if be.File == "" {
		return nil
	}
	f := filepath.Clean(be.File)
	for _, c := range set {
		p := filepath.Clean(c.path)
		if p == f {
			return c
		}
		if !filepath.IsAbs(f) {
			rel := filepath.Clean(string(filepath.Separator) + f)
			if len(p) >= len(rel) && p[len(p)-len(rel):] == rel {
				return c
			}
		}
	}
	return nil
}

func without(set []*change, c *change) []*change {
	out := make([]*change, 0, len(set)-1)
	for _, x := range set {
		if x != c {
			out = append(out, x)
		}
	}
	return out
}
