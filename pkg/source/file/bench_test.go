package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeagent/edgeagent/pkg/source/persist"
)

// benchInput is n WireGuard tunnels with their BIRD protocols, like a busy PeerAPI router.
func benchInput(n int) []Input {
	var b strings.Builder
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("dn%07d", i)
		fmt.Fprintf(&b, `---
apiVersion: edgeagent.io/v1alpha1
kind: Tunnel
metadata: {name: %s}
spec:
  type: wireguard
  mtu: 1420
  localIPv6LinkLocal: fe80::118
  peerIPv6LinkLocal: fe80::%x
  wireguard: {privateKeyFile: /etc/wireguard/privatekey, listenPort: %d, peerPublicKey: %s, endpoint: "peer%d.example.net:21118"}
---
apiVersion: edgeagent.io/v1alpha1
kind: BIRDProtocol
metadata: {name: %s}
spec: {interface: %s, asn: %d, mpBGP: true, neighborIPv6LinkLocal: "fe80::%x", filter: {latencyTier: 3, bandwidth: 24, security: 34}}
`, name, i+1, 20000+i, wgKey, i, name, name, 4242420000+i, i+1)
	}
	return []Input{{Name: "bench.yaml", Data: []byte(b.String())}}
}

// BenchmarkParse measures parsing and validating 1000 tunnels + 1000 BIRD protocols (one poll
// of a changed file).
func BenchmarkParse(b *testing.B) {
	in := benchInput(1000)
	b.SetBytes(int64(len(in[0].Data)))
	b.ReportAllocs()
	for b.Loop() {
		set, err := Parse("file", in)
		if err != nil || set.Len() != 2000 {
			b.Fatal(err)
		}
	}
}

// BenchmarkFingerprint measures the cost of one poll of an unchanged file of that size.
func BenchmarkFingerprint(b *testing.B) {
	in := benchInput(1000)
	b.SetBytes(int64(len(in[0].Data)))
	for b.Loop() {
		fingerprint(in)
	}
}

// BenchmarkSaveLastGood measures persisting 2000 objects (write, fsync, rename, fsync dir).
func BenchmarkSaveLastGood(b *testing.B) {
	set, err := Parse("file", benchInput(1000))
	if err != nil {
		b.Fatal(err)
	}
	s, _ := New(Options{Path: "x", StateDir: b.TempDir()})
	b.ReportAllocs()
	for b.Loop() {
		s.save(set)
	}
	if _, found, err := LoadSaved(s.opts.StateDir, "file"); !found || err != nil {
		b.Fatal(found, err)
	}
	_ = persist.Path
}

// BenchmarkReloadLatency measures the time from renaming a changed file into place to the new
// set reaching the sink, with polling effectively off (inotify only).
func BenchmarkReloadLatency(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "desired.yaml")
	os.WriteFile(path, []byte(wafDoc("a", "v0")), 0o600)
	sink := newRecSink()
	s, _ := New(Options{Path: path, Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, sink) }()
	defer func() { cancel(); <-done }()
	<-sink.ch
	i := 0
	for b.Loop() {
		i++
		tmp := filepath.Join(dir, ".tmp")
		os.WriteFile(tmp, []byte(wafDoc("a", fmt.Sprintf("v%d", i))), 0o600)
		os.Rename(tmp, path)
		<-sink.ch
	}
}
