package bird_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeagent/edgeagent/pkg/bird"
	"github.com/edgeagent/edgeagent/pkg/bird/birdtest"
)

const baseConf = `router id 10.1.1.1;
%TIMEFORMAT%
protocol device {}
protocol static st4 { ipv4; route 10.200.0.0/24 blackhole; route 10.200.1.0/24 blackhole; }
include "{{DIR}}/peers/*.conf";
`

func startBIRD(t *testing.T, timeformat string) (*birdtest.Instance, *bird.Client) {
	t.Helper()
	conf := strings.Replace(baseConf, "%TIMEFORMAT%", timeformat, 1)
	in := birdtest.Start(t, birdtest.Options{Config: conf})
	c, err := bird.New(bird.Options{Socket: in.Socket, PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return in, c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientQueries(t *testing.T) {
	for _, tf := range []string{"", "timeformat protocol iso long;"} {
		t.Run("timeformat="+tf, func(t *testing.T) {
			t.Parallel()
			_, c := startBIRD(t, tf)
			ctx := ctxT(t)
			st, err := c.ShowStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Up || st.RouterID != "10.1.1.1" || st.Version == "" || st.Version != c.Version() {
				t.Errorf("status %+v, version %q", st, c.Version())
			}
			if time.Since(st.LastReboot) > time.Minute || time.Since(st.LastReboot) < -time.Minute {
				t.Errorf("last reboot %v is not now", st.LastReboot)
			}
			ps, err := c.ShowProtocolsAll(ctx, "st4")
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 1 || ps[0].Name != "st4" || ps[0].State != "up" || ps[0].Channel("ipv4").Imported != 2 {
				t.Fatalf("st4: %+v", ps)
			}
			if d := time.Since(ps[0].Since); d < -time.Minute || d > time.Minute {
				t.Errorf("since %v (%q) is not now", ps[0].Since, ps[0].SinceText)
			}
			ps, err = c.ShowProtocolsAll(ctx, "nosuch")
			if err != nil || len(ps) != 0 {
				t.Errorf("no match: %+v, %v", ps, err)
			}
			all, err := c.ShowProtocolsAll(ctx, "")
			if err != nil || len(all) != 2 {
				t.Errorf("all: %+v, %v", all, err)
			}
			if _, err := c.Query(ctx, "show nonsense"); bird.AsError(err) == nil || bird.AsError(err).Code/1000 != 9 {
				t.Errorf("syntax error: %v", err)
			}
			if _, err := c.Query(ctx, "show status\nconfigure"); err == nil {
				t.Error("two-line command accepted")
			}
		})
	}
}

func TestClientConfigure(t *testing.T) {
	t.Parallel()
	in, c := startBIRD(t, "")
	ctx := ctxT(t)
	if err := c.ConfigureCheck(ctx); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(in.PeerDir, "bad.conf")
	os.WriteFile(bad, []byte("protocol static s9 {\n  ipv4;\n  route 10.9.0.0/24 frobnicate;\n}\n"), 0o644)
	err := c.ConfigureCheck(ctx)
	e := bird.AsError(err)
	if e == nil || e.Code != 8002 || e.File != bad || e.Line != 3 || e.Col == 0 || !strings.Contains(e.Error(), bad+":3:") {
		t.Fatalf("check of a bad file: %v (%+v)", err, e)
	}
	// configure must report the rejection too, not a success.
	if err := c.Configure(ctx); !bird.IsConfigError(err) {
		t.Fatalf("configure with a bad file: %v", err)
	}
	os.WriteFile(bad, []byte("protocol static s9 { ipv4; route 10.9.0.0/24 blackhole; }\n"), 0o644)
	if err := c.Configure(ctx); err != nil {
		t.Fatal(err)
	}
	ps, err := c.ShowProtocolsAll(ctx, "s9")
	if err != nil || len(ps) != 1 {
		t.Fatalf("s9 after configure: %+v %v", ps, err)
	}
	if s := c.Stats(); s.Configures != 2 || s.ConfigureChecks != 2 {
		t.Errorf("stats %+v", s)
	}
}

// TestClientPool runs many commands at once through a pool of 2: each connection carries one
// command at a time, so every reply must belong to its own command.
func TestClientPool(t *testing.T) {
	t.Parallel()
	_, c := startBIRD(t, "")
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			if i%2 == 0 {
				st, err := c.ShowStatus(ctx)
				if err == nil && st.RouterID != "10.1.1.1" {
					err = errors.New("status reply mixed up")
				}
				errs <- err
				return
			}
			ps, err := c.ShowProtocolsAll(ctx, "st4")
			if err == nil && (len(ps) != 1 || ps[0].Name != "st4") {
				err = errors.New("protocols reply mixed up")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := c.Stats().Dials; d > 2 {
		t.Errorf("%d dials for a pool of 2", d)
	}
}

// TestClientReconnect restarts BIRD under a client holding pooled connections: the next command
// redials transparently; while BIRD is down, commands fail when their context ends.
func TestClientReconnect(t *testing.T) {
	t.Parallel()
	in, c := startBIRD(t, "")
	ctx := ctxT(t)
	if _, err := c.ShowStatus(ctx); err != nil {
		t.Fatal(err)
	}
	first, _ := c.ShowStatus(ctx)
	in.Restart()
	st, err := c.ShowStatus(ctx)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if !st.LastReboot.After(first.LastReboot) && st.LastReboot.Equal(first.LastReboot) {
		t.Logf("reboot time unchanged (%v); BIRD restarted within the same millisecond?", st.LastReboot)
	}
	in.Stop()
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.ShowStatus(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with BIRD down: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("deadline not honoured: %v", el)
	}
	// The command waits (with backoff) for BIRD to come back.
	done := make(chan error, 1)
	go func() { _, err := c.ShowStatus(ctx); done <- err }()
	time.Sleep(300 * time.Millisecond)
	in.Restart()
	if err := <-done; err != nil {
		t.Fatalf("command during restart: %v", err)
	}
}

func TestClientBadBanner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			cn, err := ln.Accept()
			if err != nil {
				return
			}
			cn.Write([]byte("220 smtp.example ESMTP\r\n"))
			cn.Close()
		}
	}()
	c, _ := bird.New(bird.Options{Socket: sock})
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if _, err := c.Query(ctx, "show status"); err == nil || !strings.Contains(err.Error(), "banner") {
		t.Fatalf("err = %v", err)
	}
}

// TestClientDeadlineMidReply: a daemon that greets and then never answers must not hang a
// command past its context; the connection is dropped, not reused.
func TestClientDeadlineMidReply(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			cn, err := ln.Accept()
			if err != nil {
				return
			}
			cn.Write([]byte("0001 BIRD 9.9.9 ready.\n0002-Reading configuration\n"))
			accepted <- cn
		}
	}()
	t.Cleanup(func() {
		close(accepted)
		for cn := range accepted {
			cn.Close()
		}
	})
	c, _ := bird.New(bird.Options{Socket: sock, PoolSize: 1})
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		_, err := c.Query(ctx, "configure")
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("took %v", el)
		}
	}
	if c.Version() != "9.9.9" || c.Stats().Dials != 2 {
		t.Errorf("version %q dials %d: a timed-out connection was reused", c.Version(), c.Stats().Dials)
	}
}
