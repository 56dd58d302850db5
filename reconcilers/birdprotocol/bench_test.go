package birdprotocol

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/bird"
	"github.com/edgeagent/edgeagent/pkg/bird/birdtest"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

// BenchmarkApply1000 applies 1,000 new BGP protocols (to neighbours nobody answers) to a real
// BIRD three ways, in the same run:
//
//   - batch: one ReconcileBatch of 1,000 (one configure check, one configure);
//   - per-key: 1,000 single-key reconciles (a check and a configure each);
//   - peerapi-agent: the old agent's way, write a file then `configure` for each session,
//     without checking anything.
//
// Each op ends when BIRD lists all 1,000 protocols. ns/op is the wall time; configures/op and
// checks/op count the commands sent. Run with -benchtime 1x (hack/bench/bird.sh does).
func BenchmarkApply1000(b *testing.B) {
	const n = 1000
	birdtest.Require(b)
	for _, mode := range []string{"batch", "per-key", "peerapi-agent"} {
		b.Run(mode, func(b *testing.B) {
			in := birdtest.Start(b, birdtest.Options{Config: fmt.Sprintf(dropInConf, "10.255.255.1", "", 4242420001, "")})
			c, err := bird.New(bird.Options{Socket: in.Socket, PoolSize: 2})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			r, err := New(Options{Logger: logr.Discard(), PeerConfDir: in.PeerDir, Client: c, MaxBatch: n})
			if err != nil {
				b.Fatal(err)
			}
			reqs := make([]controller.Request, n)
			for i := range reqs {
				key := fmt.Sprintf("dn%d", i)
				reqs[i] = controller.Request{Key: key, Desired: obj(b, key, passiveSpec(i))}
			}
			ctx := context.Background()
			var configures, checks, failures int64
			for b.Loop() {
				b.StopTimer()
				clearPeers(b, ctx, c, in.PeerDir)
				s0 := c.Stats()
				b.StartTimer()
				switch mode {
				case "batch":
					for _, o := range r.ReconcileBatch(ctx, reqs) {
						if o.Err != nil {
							failures++
						}
					}
				case "per-key":
					for _, q := range reqs {
						if _, err := r.Reconcile(ctx, q.Key, q.Desired); err != nil {
							failures++
						}
					}
				case "peerapi-agent":
					for _, q := range reqs {
						content, err := r.Render(q.Key, q.Desired.Spec.(*v1alpha1.BIRDProtocolSpec))
						if err != nil {
							b.Fatal(err)
						}
						if err := os.WriteFile(r.Path(q.Key), content, 0o644); err != nil {
							b.Fatal(err)
						}
						if err := c.Configure(ctx); err != nil {
							failures++ // the old agent ignored this reply
						}
					}
				}
				waitProtocols(b, ctx, c, n)
				s1 := c.Stats()
				configures += s1.Configures - s0.Configures
				checks += s1.ConfigureChecks - s0.ConfigureChecks
			}
			b.ReportMetric(float64(configures)/float64(b.N), "configures/op")
			b.ReportMetric(float64(checks)/float64(b.N), "checks/op")
			b.ReportMetric(float64(failures)/float64(b.N), "failed/op")
		})
	}
}

func clearPeers(b *testing.B, ctx context.Context, c *bird.Client, dir string) {
	b.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
	for _, p := range paths {
		os.Remove(p)
	}
	for {
		if err := c.Configure(ctx); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitProtocols(b, ctx, c, 0)
}

// waitProtocols waits until BIRD lists exactly n DN42 protocols.
func waitProtocols(b *testing.B, ctx context.Context, c *bird.Client, n int) {
	b.Helper()
	for end := time.Now().Add(5 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		ps, err := c.ShowProtocolsAll(ctx, "DN42_*")
		if err == nil && len(ps) == n {
			return
		}
		if time.Now().After(end) {
			b.Fatalf("BIRD lists %d protocols, want %d (%v)", len(ps), n, err)
		}
	}
}
