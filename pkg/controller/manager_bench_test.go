package controller

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

// noopNode is an in-sync node: every reconcile finds nothing to do.
type noopNode struct {
	keys  []string
	count atomic.Int64
	want  atomic.Int64
	done  chan struct{}
}

func (n *noopNode) Kind() v1alpha1.Kind                                              { return kindWidget }
func (n *noopNode) Observed(context.Context) ([]string, error)                       { return n.keys, nil }
func (n *noopNode) Plan(context.Context, string, *v1alpha1.Object) ([]string, error) { return nil, nil }
func (n *noopNode) Reconcile(context.Context, string, *v1alpha1.Object) (Result, error) {
	if n.count.Add(1) == n.want.Load() {
		n.done <- struct{}{}
	}
	return Result{}, nil
}

func benchManager(b *testing.B, size int) (*Manager, *noopNode, v1alpha1.ObjectSet, func()) {
	b.Helper()
	node := &noopNode{done: make(chan struct{}, 1)}
	base := v1alpha1.ObjectSet{}
	for i := 0; i < size; i++ {
		key := fmt.Sprintf("w%05d", i)
		base.Add(widget(b, key, "v1"))
		node.keys = append(node.keys, key)
	}
	m, err := New(Options{Logger: logr.Discard()}, node)
	if err != nil {
		b.Fatal(err)
	}
	m.ExpectSources("test")
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = m.Run(ctx); close(stopped) }()
	node.want.Store(int64(size))
	m.Update("test", base)
	<-node.done
	return m, node, base, func() { cancel(); <-stopped }
}

// BenchmarkSnapshotOneChange10k measures one snapshot of 10,000 objects in which one changed,
// end to end: diff, status update, enqueue and the reconcile of the changed key. Building the
// source's new object set is the source's cost and is not timed.
func BenchmarkSnapshotOneChange10k(b *testing.B) {
	m, node, base, stop := benchManager(b, 10000)
	defer stop()
	variants := [2]*v1alpha1.Object{widget(b, "w00042", "v2"), widget(b, "w00042", "v1")}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		next := make(v1alpha1.ObjectSet, 1)
		m2 := make(map[string]*v1alpha1.Object, len(base[kindWidget]))
		for k, o := range base[kindWidget] {
			m2[k] = o
		}
		m2["w00042"] = variants[i%2]
		next[kindWidget] = m2
		node.want.Store(node.count.Load() + 1)
		b.StartTimer()
		m.Update("test", next)
		<-node.done
	}
}

// BenchmarkNoopResync10k measures a resync of 10,000 in-sync objects: every desired and observed
// key is queued and reconciled once with nothing to change.
func BenchmarkNoopResync10k(b *testing.B) {
	m, node, _, stop := benchManager(b, 10000)
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		node.want.Store(node.count.Load() + 10000)
		m.resync(context.Background())
		<-node.done
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/object")
}
