package peerapi

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/edgeagent/edgeagent/pkg/source/persist"
)

// PortOptions configure PortReservations.
type PortOptions struct {
	// StateDir holds the reservation file (wireguard-ports.json); it survives restarts so that a
	// port handed out by /info or given to a session is never handed out twice.
	StateDir string
	// Min and Max bound the ports handed out; default 20000-29999 (below Linux's ephemeral range,
	// so outgoing connections do not take them).
	Min, Max int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Free checks that nothing on the node listens on a UDP port; default binds it for a moment.
	Free func(port int) bool
}

// PortReservations hands out WireGuard listen ports. A port is either held temporarily for an
// /info answer (until its JWT expires) or owned by a session for as long as the session exists.
// It is safe for concurrent use.
type PortReservations struct {
	o   PortOptions
	mu  sync.Mutex
	res map[int]portEntry
	// bySession indexes the permanent entries of res.
	bySession map[string]int
}

type portEntry struct {
	// Session owns the port permanently when set.
	Session string `json:"session,omitempty"`
	// Holder and Until describe a temporary reservation made by /info.
	Holder string    `json:"holder,omitempty"`
	Until  time.Time `json:"until,omitempty"`
}

// ErrPortTaken is returned when a session claims a port another session owns.
var ErrPortTaken = errors.New("port is owned by another session")

// portsFile is the persist name of the reservation file, <StateDir>/wireguard-ports.json.
const portsFile = "wireguard-ports"

// OpenPortReservations loads the reservations from the state directory (none if the file does
// not exist yet).
func OpenPortReservations(o PortOptions) (*PortReservations, error) {
	if o.StateDir == "" {
		return nil, errors.New("port reservations: state directory is required")
	}
	if o.Min == 0 && o.Max == 0 {
		o.Min, o.Max = 20000, 29999
	}
	if o.Min < 1 || o.Max > 65535 || o.Min > o.Max {
		return nil, fmt.Errorf("port reservations: bad range %d-%d", o.Min, o.Max)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Free == nil {
		o.Free = udpPortFree
	}
	p := &PortReservations{o: o, res: map[int]portEntry{}, bySession: map[string]int{}}
	var m map[string]portEntry
	if _, err := persist.Load(o.StateDir, portsFile, &m); err != nil {
		return nil, fmt.Errorf("port reservations: %w", err)
	}
	for k, v := range m {
		n, err := strconv.Atoi(k)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port reservations: decode %s: bad port %q", persist.Path(o.StateDir, portsFile), k)
		}
		p.res[n] = v
		if v.Session != "" {
			p.bySession[v.Session] = n
		}
	}
	return p, nil
}

// Reserve holds a free port for holder until until (the /info JWT's expiry).
func (p *PortReservations) Reserve(holder string, until time.Time) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	port, err := p.pickLocked()
	if err != nil {
		return 0, err
	}
	p.setLocked(port, portEntry{Holder: holder, Until: until})
	return port, p.saveLocked()
}

// SessionPort returns the port a session owns, if any.
func (p *PortReservations) SessionPort(session string) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	port := p.sessionPortLocked(session)
	return port, port != 0
}

// ForSession returns the port the session owns, reserving a free one for it if it has none.
func (p *PortReservations) ForSession(session string) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if port := p.sessionPortLocked(session); port != 0 {
		return port, nil
	}
	port, err := p.pickLocked()
	if err != nil {
		return 0, fmt.Errorf("session %s: %w", session, err)
	}
	p.setLocked(port, portEntry{Session: session})
	return port, p.saveLocked()
}

// Claim makes port the session's own (the port came from the session's passthrough JWT). A
// session owns one port: a different port it owned before is released. Claiming a port another
// session owns fails with ErrPortTaken.
func (p *PortReservations) Claim(session string, port int) error {
	return p.claim(session, port, false)
}

// ClaimFree is Claim for a port whose /info reservation may have lapsed (an expired passthrough
// token): it also refuses a port that a live /info reservation holds for someone else.
func (p *PortReservations) ClaimFree(session string, port int) error {
	return p.claim(session, port, true)
}

// claim checks and takes the port under one lock, so that an /info reservation made in between
// cannot be handed the same port.
func (p *PortReservations) claim(session string, port int, refuseLive bool) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("session %s: claim port %d: out of range", session, port)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.res[port]; ok {
		owned := e.Session != ""
		if owned && e.Session == session {
			return nil
		}
		if owned || (refuseLive && p.o.Now().Before(e.Until)) {
			return fmt.Errorf("session %s: claim port %d: %w", session, port, ErrPortTaken)
		}
	}
	if old := p.sessionPortLocked(session); old != 0 {
		p.deleteLocked(old)
	}
	p.setLocked(port, portEntry{Session: session})
	return p.saveLocked()
}

// Retain releases the ports of sessions not in keep and temporary reservations that expired.
func (p *PortReservations) Retain(keep map[string]bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.o.Now()
	changed := false
	for port, e := range p.res {
		if (e.Session != "" && !keep[e.Session]) || (e.Session == "" && !now.Before(e.Until)) {
			p.deleteLocked(port)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return p.saveLocked()
}

// Ports returns the reserved ports in order (for tests and /debug).
func (p *PortReservations) Ports() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.res))
}

func (p *PortReservations) sessionPortLocked(session string) int {
	return p.bySession[session]
}

func (p *PortReservations) setLocked(port int, e portEntry) {
	p.deleteLocked(port)
	p.res[port] = e
	if e.Session != "" {
		p.bySession[e.Session] = port
	}
}

func (p *PortReservations) deleteLocked(port int) {
	if e, ok := p.res[port]; ok && e.Session != "" && p.bySession[e.Session] == port {
		delete(p.bySession, e.Session)
	}
	delete(p.res, port)
}

// pickLocked finds a port that is neither reserved (expired temporaries count as free) nor in
// use on the node: random tries first, then a scan so that a nearly full range still works.
func (p *PortReservations) pickLocked() (int, error) {
	now := p.o.Now()
	usable := func(port int) bool {
		if e, ok := p.res[port]; ok && (e.Session != "" || now.Before(e.Until)) {
			return false
		}
		return p.o.Free(port)
	}
	n := p.o.Max - p.o.Min + 1
	for i := 0; i < 16; i++ {
		if port := p.o.Min + rand.N(n); usable(port) {
			return port, nil
		}
	}
	start := rand.N(n)
	for i := 0; i < n; i++ {
		if port := p.o.Min + (start+i)%n; usable(port) {
			return port, nil
		}
	}
	return 0, fmt.Errorf("reserve port: no free UDP port in %d-%d", p.o.Min, p.o.Max)
}

func (p *PortReservations) saveLocked() error {
	m := make(map[string]portEntry, len(p.res))
	for port, e := range p.res {
		m[strconv.Itoa(port)] = e
	}
	if err := persist.Save(p.o.StateDir, portsFile, m); err != nil {
		return fmt.Errorf("port reservations: %w", err)
	}
	return nil
}

// udpPortFree binds the port on all addresses for a moment.
func udpPortFree(port int) bool {
	c, err := net.ListenPacket("udp", ":"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	c.Close()
	return true
}
