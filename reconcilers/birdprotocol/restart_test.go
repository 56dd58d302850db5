package birdprotocol

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/edgeagent/edgeagent/pkg/bird"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

// countingBIRD counts the configuration commands a reconciler sends.
type countingBIRD struct {
	*bird.Client
	configures, checks atomic.Int32
}

func (c *countingBIRD) Configure(ctx context.Context) error {
	c.configures.Add(1)
	return c.Client.Configure(ctx)
}

func (c *countingBIRD) ConfigureCheck(ctx context.Context) error {
	c.checks.Add(1)
	return c.Client.ConfigureCheck(ctx)
}

// TestRealBIRDAgentRestartSendsNoConfigure: a new reconciler (an agent restart) that finds BIRD
// already running its files sends no configuration command at all; one that finds a file newer
// than BIRD's last reconfiguration (a crash between write and configure) does configure.
func TestRealBIRDAgentRestartSendsNoConfigure(t *testing.T) {
	t.Parallel()
	for _, tf := range []string{"", "timeformat base iso long;"} {
		l := newLab(t, labOpts{timeformat: tf})
		ctx := ctxT(t, time.Minute)
		var reqs []controller.Request
		for i := 1; i <= 3; i++ {
			key := "dn" + string(rune('0'+i))
			reqs = append(reqs, controller.Request{Key: key, Desired: obj(t, key, passiveSpec(i))})
		}
		mustOK(t, l.rec.ReconcileBatch(ctx, reqs))

		restarted := func() (*Reconciler, *countingBIRD) {
			cb := &countingBIRD{Client: l.client}
			r, err := New(Options{Logger: testr.New(t), PeerConfDir: l.bird.PeerDir, Client: cb})
			if err != nil {
				t.Fatal(err)
			}
			return r, cb
		}
		r, cb := restarted()
		outs := r.ReconcileBatch(ctx, reqs)
		mustOK(t, outs)
		for _, o := range outs {
			if o.Result.Changes != 0 {
				t.Fatalf("timeformat %q: restart rewrote a file", tf)
			}
		}
		if n, c := cb.configures.Load(), cb.checks.Load(); n != 0 || c != 0 {
			t.Fatalf("timeformat %q: restart sent %d configure and %d configure check, want none", tf, n, c)
		}

		// A file on disk that BIRD has not read yet: the restart must configure.
		future := time.Now().Add(10 * time.Second)
		if err := os.Chtimes(l.rec.Path("dn2"), future, future); err != nil {
			t.Fatal(err)
		}
		r, cb = restarted()
		mustOK(t, r.ReconcileBatch(ctx, reqs))
		if n := cb.configures.Load(); n != 1 {
			t.Fatalf("timeformat %q: a file newer than BIRD's last reconfiguration got %d configure, want 1", tf, n)
		}
	}
}
