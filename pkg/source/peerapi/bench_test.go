package peerapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/edgeagent/edgeagent/pkg/peerapi"
)

// BenchmarkBuild measures one sync's CPU work after the fetch (validation, port decisions and
// translation into objects with their hashes) for 1000 WireGuard sessions whose ports are
// already reserved, i.e. a steady-state sync.
func BenchmarkBuild1000Sessions(b *testing.B) {
	dir := b.TempDir()
	ports, err := peerapi.OpenPortReservations(peerapi.PortOptions{StateDir: dir, Min: 20000, Max: 29999, Free: func(int) bool { return true }})
	if err != nil {
		b.Fatal(err)
	}
	src, err := New(Options{Client: &blockingClient{}, StateDir: dir, Translate: testTranslate, Ports: ports, Logger: logr.Discard(), Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	sessions := make([]peerapi.Session, 1000)
	for i := range sessions {
		s := validWG()
		s.UUID = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		s.Interface = fmt.Sprintf("dn%d", i)
		s.IPv4 = fmt.Sprintf("172.20.%d.%d", i/250, i%250+1)
		sessions[i] = s
	}
	set, applied, _ := src.build(sessions, nil) // reserves the ports
	if set.Len() != 2000 {
		b.Fatalf("%d objects", set.Len())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src.build(sessions, applied)
	}
}
