package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

// cmdPlan loads the config and every source once, asks each reconciler what it would change on
// this node and prints it. It changes nothing. Invalid input (a source that cannot produce a good
// answer) exits non-zero.
func cmdPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a, err := setup(ctx, "plan", args, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	sets, err := collectOnce(ctx, a.sources, a.planTimeout)
	if err != nil {
		return err
	}
	plan, perr := a.manager.Plan(ctx, sets)
	changes := 0
	for _, k := range v1alpha1.Kinds {
		keys := make([]string, 0, len(plan[k]))
		for key := range plan[k] {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			fmt.Fprintf(stdout, "%s %s:\n", k, key)
			for _, line := range plan[k][key] {
				fmt.Fprintf(stdout, "  - %s\n", line)
				changes++
			}
		}
	}
	if changes == 0 {
		fmt.Fprintln(stdout, "no changes: the node matches the desired state")
	} else {
		fmt.Fprintf(stdout, "%d change(s)\n", changes)
	}
	return perr
}

// captureSink keeps the first answer of every source.
type captureSink struct {
	mu   sync.Mutex
	sets map[string]v1alpha1.ObjectSet
	errs map[string]error
	got  chan string
}

func (c *captureSink) Update(source string, objs v1alpha1.ObjectSet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.sets[source]; ok {
		return
	}
	c.sets[source] = objs
	c.got <- source
}

func (c *captureSink) ReportError(source string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.errs[source]; ok {
		return
	}
	c.errs[source] = err
	c.got <- source
}

// collectOnce runs every source until it delivered its first good answer. A source whose first
// word is an error, or that says nothing within timeout, fails the plan.
func collectOnce(ctx context.Context, sources []controller.Source, timeout time.Duration) (map[string]v1alpha1.ObjectSet, error) {
	sink := &captureSink{sets: map[string]v1alpha1.ObjectSet{}, errs: map[string]error{}, got: make(chan string, 2*len(sources)+2)}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Run(ctx, sink)
		}()
	}
	pending := map[string]bool{}
	for _, s := range sources {
		pending[s.Name()] = true
	}
	var errs []error
	for len(pending) > 0 {
		select {
		case name := <-sink.got:
			sink.mu.Lock()
			if err := sink.errs[name]; err != nil {
				if _, ok := sink.sets[name]; !ok {
					errs = append(errs, fmt.Errorf("source %s: %w", name, err))
				}
			}
			sink.mu.Unlock()
			delete(pending, name)
		case <-ctx.Done():
			for name := range pending {
				errs = append(errs, fmt.Errorf("source %s: no answer within %s", name, timeout))
			}
			pending = nil
		}
	}
	cancel()
	wg.Wait()
	return sink.sets, errors.Join(errs...)
}
