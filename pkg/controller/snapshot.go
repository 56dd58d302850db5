package controller

import (
	"sort"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

// Snapshot is one immutable generation of desired state: every source's last good objects.
// When two sources declare the same kind and key, the source whose name sorts first wins.
type Snapshot struct {
	Generation int64
	// sources holds each source's objects as handed over (plus held deletions); never mutated.
	sources map[string]v1alpha1.ObjectSet
	// order is the sorted source names.
	order []string
}

func newSnapshot(gen int64, sources map[string]v1alpha1.ObjectSet) *Snapshot {
	order := make([]string, 0, len(sources))
	for name := range sources {
		order = append(order, name)
	}
	sort.Strings(order)
	return &Snapshot{Generation: gen, sources: sources, order: order}
}

// Get returns the desired object of kind and key, or nil when it must not exist.
func (s *Snapshot) Get(kind v1alpha1.Kind, key string) *v1alpha1.Object {
	if s == nil {
		return nil
	}
	for _, name := range s.order {
		if o := s.sources[name][kind][key]; o != nil {
			return o
		}
	}
	return nil
}

// Keys returns the sorted desired keys of one kind.
func (s *Snapshot) Keys(kind v1alpha1.Kind) []string {
	if s == nil {
		return nil
	}
	seen := map[string]struct{}{}
	for _, name := range s.order {
		for k := range s.sources[name][kind] {
			seen[k] = struct{}{}
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Count returns the number of distinct desired keys of one kind.
func (s *Snapshot) Count(kind v1alpha1.Kind) int {
	if s == nil {
		return 0
	}
	if len(s.order) == 1 {
		return len(s.sources[s.order[0]][kind])
	}
	return len(s.Keys(kind))
}

// Source returns the objects of one source in this snapshot.
func (s *Snapshot) Source(name string) v1alpha1.ObjectSet {
	if s == nil {
		return nil
	}
	return s.sources[name]
}

// with returns a new snapshot with one source's objects replaced; the map of sources is copied
// (it has one entry per source), the object sets are shared.
func (s *Snapshot) with(gen int64, source string, objs v1alpha1.ObjectSet) *Snapshot {
	sources := make(map[string]v1alpha1.ObjectSet, len(s.sourcesOrEmpty())+1)
	for k, v := range s.sourcesOrEmpty() {
		sources[k] = v
	}
	sources[source] = objs
	if _, ok := s.sourcesOrEmpty()[source]; ok {
		return &Snapshot{Generation: gen, sources: sources, order: s.order}
	}
	return newSnapshot(gen, sources)
}

func (s *Snapshot) sourcesOrEmpty() map[string]v1alpha1.ObjectSet {
	if s == nil {
		return nil
	}
	return s.sources
}
