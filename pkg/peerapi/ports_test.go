package peerapi_test

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/edgeagent/edgeagent/pkg/peerapi"
)

func TestPortReservations(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	open := func() *peerapi.PortReservations {
		p, err := peerapi.OpenPortReservations(peerapi.PortOptions{StateDir: dir, Min: 41000, Max: 41003, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := open()
	a, err := p.ForSession("a")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := p.ForSession("a"); again != a {
		t.Errorf("session a got %d then %d", a, again)
	}
	tmp, err := p.Reserve("info:1", now.Add(time.Hour))
	if err != nil || tmp == a {
		t.Fatalf("reserve = %d, %v (a has %d)", tmp, err, a)
	}
	// Restart: everything is still held.
	p = open()
	if got, ok := p.SessionPort("a"); !ok || got != a {
		t.Errorf("after reopen a owns %d %v, want %d", got, ok, a)
	}
	if err := p.Claim("b", tmp); err != nil {
		t.Fatalf("b claims its /info port: %v", err)
	}
	if err := p.Claim("c", tmp); !errors.Is(err, peerapi.ErrPortTaken) {
		t.Errorf("c claims b's port: %v", err)
	}
	if err := p.Claim("b", tmp); err != nil {
		t.Errorf("re-claim by the owner: %v", err)
	}
	// A port in use by someone else on the node is skipped.
	var busy []net.PacketConn
	for port := 41000; port <= 41003; port++ {
		if port != a && port != tmp {
			if c, err := net.ListenPacket("udp", ":"+strconv.Itoa(port)); err == nil {
				busy = append(busy, c)
			}
		}
	}
	if len(busy) == 2 {
		if port, err := p.ForSession("d"); err == nil {
			t.Errorf("reserved port %d that another process listens on", port)
		}
	}
	for _, c := range busy {
		c.Close()
	}
	// An expired /info reservation is free again; a gone session's port is released.
	x, err := p.Reserve("info:2", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	if err := p.Retain(map[string]bool{"b": true}); err != nil {
		t.Fatal(err)
	}
	for _, port := range p.Ports() {
		if port == x || port == a {
			t.Errorf("port %d still held after expiry / session removal", port)
		}
	}
	if _, ok := p.SessionPort("a"); ok {
		t.Error("a still owns a port after Retain without it")
	}
}
