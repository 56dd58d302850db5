// Package dnsserver is edgeagent's authoritative DNS server: zones compiled from DNSZone specs,
// swapped in atomically, answered with GeoDNS (EDNS Client Subnet aware) from prepacked wire
// messages on SO_REUSEPORT UDP sockets, and from miekg/dns for everything unusual and over TCP.
package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/geoip"
)

// Options configure a Server.
type Options struct {
	// Addr is the UDP and TCP listen address; default ":53".
	Addr string
	// UDPSockets is the number of SO_REUSEPORT UDP sockets, each with its own reader;
	// default GOMAXPROCS.
	UDPSockets int
	// GeoIP places clients; nil puts every client in the default location.
	GeoIP *geoip.DB
	// UDPSize is the EDNS UDP payload size the server advertises; default 1232.
	UDPSize uint16
	// Logger receives the server's logs.
	Logger logr.Logger
	// Registerer receives the server's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Server is an authoritative DNS server. Its zone table is swapped atomically; readers never
// take a lock.
type Server struct {
	opts    Options
	log     logr.Logger
	metrics *metrics
	table   atomic.Pointer[table]

	mu    sync.Mutex // serialises zone writers
	zones map[string]*CompiledZone
	swaps map[string]time.Time

	runMu   sync.Mutex
	started bool
	closed  bool
	conns   []*net.UDPConn
	tcp     net.Listener
	tcpSrv  *dns.Server
	wg      sync.WaitGroup
	cancel  context.CancelFunc
	udpAddr *net.UDPAddr
	tcpAddr net.Addr
}

// table is one immutable version of the served zones.
type table struct {
	zones map[string]*CompiledZone
	// names maps lower-case wire names to prepacked entries, each from the most specific zone.
	names map[string]*entry
	// apexes maps lower-case wire apexes to zones, for the fast negative answers.
	apexes map[string]*CompiledZone
}

// New returns a server with no zones; Start opens its sockets.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = ":53"
	}
	if opts.UDPSockets <= 0 {
		opts.UDPSockets = runtime.GOMAXPROCS(0)
	}
	if opts.UDPSize < 512 {
		opts.UDPSize = 1232
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		metrics: newMetrics(opts.UDPSockets + 1),
		zones:   map[string]*CompiledZone{},
		swaps:   map[string]time.Time{},
	}
	s.table.Store(&table{zones: map[string]*CompiledZone{}, names: map[string]*entry{}, apexes: map[string]*CompiledZone{}})
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(s.metrics); err != nil {
			return nil, fmt.Errorf("dns server: register metrics: %w", err)
		}
	}
	return s, nil
}

// Compile validates spec as the zone apex and prepacks its answers. serial is the SOA serial
// unless the spec sets one. The error names every bad record (spec.records[i] (name TYPE)).
func (s *Server) Compile(apex string, spec *v1alpha1.DNSZoneSpec, serial uint32) (*CompiledZone, error) {
	z, err := compileZone(apex, spec, serial)
	if err != nil {
		return nil, err
	}
	z.prepack()
	return z, nil
}

// SetZone serves z in place of any zone with the same apex. In-flight queries finish on the
// version they started with. z must come from this server's Compile.
func (s *Server) SetZone(z *CompiledZone) {
	s.ReplaceZones([]*CompiledZone{z}, nil)
}

// ReplaceZones swaps in every zone of set and stops serving every apex of del, then publishes
// one new table: readers see all of the changes or none, and a burst of zones (the first load
// of thousands of domains) costs one table build instead of one per zone.
func (s *Server) ReplaceZones(set []*CompiledZone, del []string) {
	if len(set) == 0 && len(del) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, z := range set {
		if z.metrics == nil {
			z.metrics = s.metrics.zone(z.apex)
		}
		s.zones[z.apex] = z
		s.swaps[z.apex] = now
	}
	var dropped []string
	for _, apex := range del {
		apex = dns.CanonicalName(apex)
		if _, ok := s.zones[apex]; ok {
			delete(s.zones, apex)
			delete(s.swaps, apex)
			dropped = append(dropped, apex)
		}
	}
	s.publish()
	for _, apex := range dropped {
		s.metrics.drop(apex)
	}
}

// LastSwap is when the served version of apex was swapped in (zero when not served).
func (s *Server) LastSwap(apex string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.swaps[dns.CanonicalName(apex)]
}

// DeleteZone stops serving apex; it reports whether the zone was loaded.
func (s *Server) DeleteZone(apex string) bool {
	if s.Zone(apex) == nil {
		return false
	}
	s.ReplaceZones(nil, []string{apex})
	return true
}

// Zones lists the apexes served, sorted.
func (s *Server) Zones() []string {
	return slices.Sorted(maps.Keys(s.table.Load().zones))
}

// Zone returns the served version of apex, or nil.
func (s *Server) Zone(apex string) *CompiledZone {
	return s.table.Load().zones[dns.CanonicalName(apex)]
}

// publish builds and stores a new table from s.zones; s.mu is held.
func (s *Server) publish() {
	t := &table{zones: make(map[string]*CompiledZone, len(s.zones)), apexes: make(map[string]*CompiledZone, len(s.zones))}
	n := 0
	for apex, z := range s.zones {
		t.zones[apex] = z
		if w, ok := wireName(apex); ok {
			t.apexes[w] = z
		}
		n += len(z.entries)
	}
	// Only a zone with a child zone loaded must leave the child's names to it.
	parents := map[string]bool{}
	for apex := range s.zones {
		for p := apex; p != "."; {
			i, end := dns.NextLabel(p, 0)
			if end {
				p = "."
			} else {
				p = p[i:]
			}
			if s.zones[p] != nil {
				parents[p] = true
			}
		}
	}
	t.names = make(map[string]*entry, n)
	for apex, z := range s.zones {
		for key, e := range z.entries {
			if !parents[apex] || t.zoneForWire(key) == apex {
				t.names[key] = e
			}
		}
	}
	s.table.Store(t)
}

// zoneForWire returns the apex of the most specific zone holding a wire-format name.
func (t *table) zoneForWire(w string) string {
	name := wireToText(w)
	if z := t.findZone(name); z != nil {
		return z.apex
	}
	return ""
}

// findZone returns the most specific zone holding name (lower-case FQDN), or nil.
func (t *table) findZone(name string) *CompiledZone {
	for p := name; ; {
		if z := t.zones[p]; z != nil {
			return z
		}
		if p == "." {
			return nil
		}
		i, end := dns.NextLabel(p, 0)
		if end {
			p = "."
		} else {
			p = p[i:]
		}
	}
}

func wireToText(w string) string {
	name, _, err := dns.UnpackDomainName([]byte(w), 0)
	if err != nil {
		return ""
	}
	return strings.ToLower(name)
}

// Start opens the UDP sockets and the TCP listener and serves until ctx ends or Close.
func (s *Server) Start(ctx context.Context) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.started || s.closed {
		return errors.New("dns server: already started or closed")
	}
	conns, tl, err := listen(ctx, s.opts.Addr, s.opts.UDPSockets)
	if err != nil {
		return fmt.Errorf("dns server %s: %w", s.opts.Addr, err)
	}
	s.udpAddr = conns[0].LocalAddr().(*net.UDPAddr)
	tcpAddr := tl.Addr().String()
	s.conns, s.tcp, s.tcpAddr = conns, tl, tl.Addr()
	ctx, s.cancel = context.WithCancel(ctx)
	for i, c := range conns {
		w, err := newWorker(s, c, i)
		if err != nil {
			s.cancel()
			for _, c := range conns {
				_ = c.Close()
			}
			_ = tl.Close()
			return fmt.Errorf("dns server %s: %w", s.opts.Addr, err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			w.run()
		}()
	}
	tcpStarted := make(chan struct{})
	s.tcpSrv = &dns.Server{Listener: tl, Net: "tcp", Handler: dns.HandlerFunc(s.serveTCP),
		NotifyStartedFunc: func() { close(tcpStarted) }}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.tcpSrv.ActivateAndServe(); err != nil && ctx.Err() == nil {
			s.log.Error(err, "dns tcp server stopped", "addr", tcpAddr)
		}
	}()
	// Shutdown of a miekg server that has not started yet is a no-op: wait for it.
	select {
	case <-tcpStarted:
	case <-ctx.Done():
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-ctx.Done()
		s.shutdown()
	}()
	s.started = true
	s.log.Info("dns server listening", "udp", s.udpAddr.String(), "tcp", s.tcpAddr.String(), "udpSockets", len(conns), "geoip", s.opts.GeoIP.Path())
	return nil
}

// listen opens the UDP sockets and the TCP listener on the same port. When addr asks for port 0
// the UDP port the kernel picks may be taken for TCP; then it tries another.
func listen(ctx context.Context, addr string, n int) ([]*net.UDPConn, net.Listener, error) {
	for attempt := 0; ; attempt++ {
		conns, err := listenUDP(ctx, addr, n)
		if err != nil {
			return nil, nil, err
		}
		port := conns[0].LocalAddr().(*net.UDPAddr).Port
		tcpAddr := net.JoinHostPort(hostOf(addr), fmt.Sprint(port))
		var lc net.ListenConfig
		tl, err := lc.Listen(ctx, "tcp", tcpAddr)
		if err == nil {
			return conns, tl, nil
		}
		for _, c := range conns {
			_ = c.Close()
		}
		_, p, _ := net.SplitHostPort(addr)
		if p != "0" || attempt >= 20 {
			return nil, nil, fmt.Errorf("listen tcp %s: %w", tcpAddr, err)
		}
	}
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return h
}

// UDPAddr is the bound UDP address (after Start).
func (s *Server) UDPAddr() *net.UDPAddr { return s.udpAddr }

// TCPAddr is the bound TCP address (after Start).
func (s *Server) TCPAddr() net.Addr { return s.tcpAddr }

func (s *Server) shutdown() {
	for _, c := range s.conns {
		_ = c.Close()
	}
	if s.tcpSrv != nil {
		_ = s.tcpSrv.Shutdown()
	}
	if s.tcp != nil {
		_ = s.tcp.Close() // in case the server never got to accept
	}
}

// Close stops serving and waits for every goroutine of the server.
func (s *Server) Close() error {
	s.runMu.Lock()
	s.closed = true
	cancel := s.cancel
	s.runMu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	return nil
}
