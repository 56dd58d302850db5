// Package file is a source of desired objects declared in YAML or JSON files: a file or a
// directory, reloaded when it changes. A bad file never reaches the controller: the error (naming
// file, line, kind, key and field) is reported and the previous good objects stay. The last good
// set is persisted in the state directory, so a restart with a broken file starts from it.
//
// Format: YAML documents (or JSON) each holding one object
//
//	apiVersion: edgeagent.io/v1alpha1
//	kind: Tunnel            # Tunnel, BIRDProtocol, DNSZone, ProxyListener, WAFScript
//	metadata: {name: dn1}   # the object key
//	spec: {...}             # the kind's spec, with its JSON field names
//
// or a list of such objects, or {"items": [...]} (optionally with kind: List, as kubectl writes).
package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/source/persist"
)

// DefaultInterval is how often the path is checked for changes.
const DefaultInterval = 2 * time.Second

// Options configures a file source.
type Options struct {
	// Name of the source; "" means "file".
	Name string
	// Path is a file or a directory of *.yaml, *.yml and *.json files.
	Path string
	// Logger receives reload and error logs.
	Logger logr.Logger
	// Interval between checks for changes; 0 means DefaultInterval.
	Interval time.Duration
	// StateDir keeps the last good set; "" disables persistence.
	StateDir string
}

// Source is the file source; it implements controller.Source.
type Source struct {
	opts Options
	log  logr.Logger
}

var _ controller.Source = (*Source)(nil)

// New checks opts and returns the source; nothing is read until Run.
func New(opts Options) (*Source, error) {
	if opts.Path == "" {
		return nil, errors.New("file source: no path")
	}
	if opts.Name == "" {
		opts.Name = "file"
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	log := opts.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	return &Source{opts: opts, log: log.WithValues("source", opts.Name, "path", opts.Path)}, nil
}

// Name implements controller.Source.
func (s *Source) Name() string { return s.opts.Name }

// saved is the persisted last good answer.
type saved struct {
	Version int           `json:"version"`
	Path    string        `json:"path"`
	SavedAt time.Time     `json:"savedAt"`
	Objects []savedObject `json:"objects"`
}

type savedObject struct {
	Kind  v1alpha1.Kind   `json:"kind"`
	Key   string          `json:"key"`
	Owner string          `json:"owner,omitempty"`
	Spec  json.RawMessage `json:"spec"`
}

// Run implements controller.Source: it reads the path at once, then whenever inotify reports a
// change in it (or in the file's directory) and every Interval in any case, and hands each
// changed good set to sink until ctx ends.
func (s *Source) Run(ctx context.Context, sink controller.Sink) error {
	var last [32]byte
	first := true
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	changed, stopWatch := watchChanges(ctx, s.opts.Path)
	defer stopWatch()
	for {
		inputs, err := ReadInputs(s.opts.Path)
		var fp [32]byte
		if err == nil {
			fp = fingerprint(inputs)
		}
		switch {
		case err == nil && !first && fp == last:
			// unchanged
		case err != nil && !first && last == [32]byte{}:
			// still unreadable; already reported
		default:
			last = fp
			var set v1alpha1.ObjectSet
			if err == nil {
				set, err = Parse(s.opts.Name, inputs)
			}
			if err != nil {
				s.log.Error(err, "desired objects rejected; keeping the previous good objects")
				sink.ReportError(s.opts.Name, err)
				if first {
					s.startFromSaved(sink)
				}
			} else {
				s.log.Info("desired objects loaded", "files", len(inputs), "objects", set.Len())
				sink.Update(s.opts.Name, set)
				s.save(set)
			}
		}
		first = false
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case _, ok := <-changed:
			if !ok {
				changed = nil // the watch ended: keep polling
				continue
			}
			// Let a burst of events (write, then rename) settle into one reload.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(settle):
			}
			drain(changed)
		}
	}
}

// settle is how long a change event waits for the rest of its burst.
const settle = 20 * time.Millisecond

func drain(ch <-chan struct{}) {
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// fingerprint identifies the inputs' names and contents; mtime alone misses same-second writes.
func fingerprint(in []Input) [32]byte {
	h := sha256.New()
	for _, i := range in {
		fmt.Fprintf(h, "%d:%s\x00%d:", len(i.Name), i.Name, len(i.Data))
		h.Write(i.Data)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func (s *Source) save(set v1alpha1.ObjectSet) {
	if s.opts.StateDir == "" {
		return
	}
	sv := saved{Version: 1, Path: s.opts.Path, SavedAt: time.Now().UTC()}
	for _, kind := range v1alpha1.Kinds {
		for _, key := range set.Keys(kind) {
			o := set.Get(kind, key)
			b, err := json.Marshal(o.Spec)
			if err != nil {
				s.log.Error(err, "persist last good objects: encode spec", "kind", kind, "key", key)
				return
			}
			sv.Objects = append(sv.Objects, savedObject{Kind: kind, Key: key, Owner: o.Owner, Spec: b})
		}
	}
	if err := persist.Save(s.opts.StateDir, s.opts.Name, sv); err != nil {
		s.log.Error(err, "persist last good objects")
	}
}

// startFromSaved hands the persisted last good set to sink when the files are bad at startup.
func (s *Source) startFromSaved(sink controller.Sink) {
	if s.opts.StateDir == "" {
		return
	}
	set, found, err := LoadSaved(s.opts.StateDir, s.opts.Name)
	if err != nil {
		s.log.Error(err, "cannot start from the last good objects")
		return
	}
	if !found {
		s.log.Info("no last good objects saved; waiting for a good file")
		return
	}
	s.log.Info("starting from the last good objects", "objects", set.Len())
	sink.Update(s.opts.Name, set)
}

// LoadSaved reads the set a file source named name persisted in stateDir. Every object is
// validated again; one that no longer validates fails the whole set, because a partial set would
// delete the missing objects.
func LoadSaved(stateDir, name string) (v1alpha1.ObjectSet, bool, error) {
	var sv saved
	found, err := persist.Load(stateDir, name, &sv)
	if err != nil || !found {
		return nil, found, err
	}
	set := v1alpha1.ObjectSet{}
	for _, so := range sv.Objects {
		spec := v1alpha1.NewSpec(so.Kind)
		if spec == nil {
			return nil, true, fmt.Errorf("last good objects of %s: unknown kind %q", name, so.Kind)
		}
		dec := json.NewDecoder(bytes.NewReader(so.Spec))
		if err := dec.Decode(spec); err != nil {
			return nil, true, fmt.Errorf("last good objects of %s: %s %s: %w", name, so.Kind, so.Key, err)
		}
		o, err := v1alpha1.NewObject(name, so.Owner, so.Key, spec)
		if err != nil {
			return nil, true, fmt.Errorf("last good objects of %s: %w", name, err)
		}
		set.Add(o)
	}
	return set, true, nil
}
