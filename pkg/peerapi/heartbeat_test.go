package peerapi_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeagent/edgeagent/pkg/peerapi"
)

type fakeBIRD string

func (f fakeBIRD) ShowStatusText(context.Context) (string, error) { return string(f), nil }

func TestHeartbeat(t *testing.T) {
	proc := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(proc, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("loadavg", "0.12 0.10 0.05 1/123 4567\n")
	write("uptime", "12345.67 2345.00\n")
	write("net/dev", `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  999 1 0 0 0 0 0 0  999 1 0 0 0 0 0 0
  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0
  ens3:  300 3 0 0 0 0 0 0  400 4 0 0 0 0 0 0
`)
	hdr := "  sl  local_address rem_address   st\n"
	write("net/tcp", hdr+"   0: 0100007F:1F90 00000000:0000 0A\n   1: 0100007F:1F91 00000000:0000 0A\n")
	write("net/tcp6", hdr+"   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A\n")
	write("net/udp", hdr)
	write("net/udp6", hdr+"   0: x\n")

	center := newCenter(t)
	c := newClient(t, center.URL(), centerKey, nil)
	now := time.UnixMilli(1_700_000_000_123)
	bird := fakeBIRD("0001 BIRD 2.0.12 ready.\n1000-BIRD 2.0.12\n1011-Router ID is 192.0.2.1\n 0013 Daemon is up and running\n0013 Daemon is up and running\n")
	h, err := peerapi.NewHeartbeater(peerapi.HeartbeatOptions{Client: c, Interval: time.Hour, BIRD: bird,
		WANInterfaces: []string{"eth0", "ens3", "missing"}, Version: "edgeagent/test", ProcRoot: proc, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	ok := center.WaitFor(wctx, func() bool { return len(center.Heartbeats()) > 0 })
	cancel()
	<-done
	if !ok {
		t.Fatal("no heartbeat at start")
	}
	hb := center.Heartbeats()[0]
	if hb.LoadAvg != "0.12 0.10 0.05" || hb.Uptime != 12345.67 || hb.TX != 2400 || hb.RX != 1300 || hb.TCP != 3 || hb.UDP != 1 ||
		hb.Version != "edgeagent/test" || hb.Timestamp != 1_700_000_000_123 {
		t.Errorf("heartbeat = %+v", hb)
	}
	if !strings.Contains(hb.RS, "Router ID is 192.0.2.1") || strings.Contains(hb.RS, "1011") || !strings.HasPrefix(hb.Kernel, "Linux ") {
		t.Errorf("rs %q kernel %q", hb.RS, hb.Kernel)
	}
}
