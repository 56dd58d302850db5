package peerapi

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// BIRDStatus gives the text of BIRD's `show status`.
type BIRDStatus interface {
	ShowStatusText(ctx context.Context) (string, error)
}

// HeartbeatOptions configure a Heartbeater.
type HeartbeatOptions struct {
	// Client sends the heartbeats.
	Client *Client
	// Interval between heartbeats (heartbeatInterval); default 30 s.
	Interval time.Duration
	// BIRD answers `show status`; nil or a failure sends an empty "rs".
	BIRD BIRDStatus
	// WANInterfaces are summed into tx/rx.
	WANInterfaces []string
	// Version is the agent signature sent as "version".
	Version string
	// ProcRoot is where /proc is mounted; default /proc (tests point it elsewhere).
	ProcRoot string
	// Logger receives send failures (they are only logged, as the center treats them).
	Logger logr.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Heartbeater sends the §6 heartbeat at start and every interval.
type Heartbeater struct {
	o HeartbeatOptions
}

// NewHeartbeater returns a heartbeater; Run starts it.
func NewHeartbeater(o HeartbeatOptions) (*Heartbeater, error) {
	if o.Client == nil {
		return nil, fmt.Errorf("heartbeat: no client")
	}
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Heartbeater{o: o}, nil
}

// Run sends a heartbeat now and then every interval until ctx ends.
func (h *Heartbeater) Run(ctx context.Context) error {
	t := time.NewTicker(h.o.Interval)
	defer t.Stop()
	for {
		hb := h.Collect(ctx)
		if err := h.o.Client.Heartbeat(ctx, hb); err != nil && ctx.Err() == nil {
			h.o.Logger.Error(err, "send heartbeat")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Collect gathers the heartbeat payload. Parts that cannot be read are left empty and logged at
// V(1): a heartbeat with gaps is better than none.
func (h *Heartbeater) Collect(ctx context.Context) Heartbeat {
	hb := Heartbeat{Version: h.o.Version, Timestamp: h.o.Now().UnixMilli()}
	log := h.o.Logger.V(1)
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		hb.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	}
	if b, err := os.ReadFile(filepath.Join(h.o.ProcRoot, "loadavg")); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			hb.LoadAvg = strings.Join(f[:3], " ")
		}
	} else {
		log.Info("heartbeat: read loadavg", "err", err)
	}
	if b, err := os.ReadFile(filepath.Join(h.o.ProcRoot, "uptime")); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 1 {
			hb.Uptime, _ = strconv.ParseFloat(f[0], 64)
		}
	} else {
		log.Info("heartbeat: read uptime", "err", err)
	}
	if h.o.BIRD != nil {
		if s, err := h.o.BIRD.ShowStatusText(ctx); err == nil {
			hb.RS = stripReplyCodes(s)
		} else {
			log.Info("heartbeat: bird show status", "err", err)
		}
	}
	if len(h.o.WANInterfaces) > 0 {
		if b, err := os.ReadFile(filepath.Join(h.o.ProcRoot, "net", "dev")); err == nil {
			dev := parseNetDev(b)
			for _, ifn := range h.o.WANInterfaces {
				c := dev[ifn]
				hb.TX += c.TX
				hb.RX += c.RX
			}
		} else {
			log.Info("heartbeat: read net/dev", "err", err)
		}
	}
	hb.TCP = h.socketRows("tcp") + h.socketRows("tcp6")
	hb.UDP = h.socketRows("udp") + h.socketRows("udp6")
	return hb
}

// socketRows counts the entries of /proc/net/<name> (lines after the header).
func (h *Heartbeater) socketRows(name string) int {
	f, err := os.Open(filepath.Join(h.o.ProcRoot, "net", name))
	if err != nil {
		return 0
	}
	defer f.Close()
	n := -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			n++
		}
	}
	if n < 0 {
		return 0
	}
	return n
}

// counters are an interface's byte counters.
type counters struct{ RX, TX uint64 }

// parseNetDev parses /proc/net/dev into byte counters by interface.
func parseNetDev(b []byte) map[string]counters {
	out := map[string]counters{}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		rx, err1 := strconv.ParseUint(f[0], 10, 64)
		tx, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out[strings.TrimSpace(name)] = counters{RX: rx, TX: tx}
	}
	return out
}

var replyCode = regexp.MustCompile(`^\d{4}[ -]`)

// stripReplyCodes removes BIRD's 4-digit reply codes (and the leading space of continuation
// lines) from a control-socket reply, leaving the text a human sees in birdc.
func stripReplyCodes(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		switch {
		case replyCode.MatchString(l):
			lines[i] = l[5:]
		case strings.HasPrefix(l, " ") && i > 0:
			lines[i] = l[1:]
		}
	}
	return strings.Join(lines, "\n")
}
