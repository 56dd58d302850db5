package bird

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// readFixture reads a socket transcript: the banner, then one reply.
func readFixture(t testing.TB, name string) Reply {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rr := newReplyReader(f)
	banner, err := rr.read()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := parseBanner(banner); !ok {
		t.Fatalf("%s: bad banner %+v", name, banner)
	}
	rep, err := rr.read()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rep
}

func findProto(t *testing.T, ps []Protocol, name string) *Protocol {
	t.Helper()
	for i := range ps {
		if ps[i].Name == name {
			return &ps[i]
		}
	}
	t.Fatalf("protocol %s not in %d parsed", name, len(ps))
	return nil
}

func TestParseProtocolsBIRD2(t *testing.T) {
	loc := time.Local
	now := time.Date(2026, 11, 21, 0, 30, 0, 0, loc)
	for _, tc := range []struct {
		file, name string
		since      time.Time
		routes4    [4]uint64 // imported, filtered, exported, preferred
		import4    RouteChangeStats
	}{
		// iso short ms: a time of day, anchored to now's date.
		{"bird2-protocols-all-default.txt", "DN42_4242420002_peer", time.Date(2026, 11, 21, 0, 29, 13, 656e6, loc),
			[4]uint64{2, 1, 3, 2}, RouteChangeStats{Received: 3, Filtered: 1, Accepted: 2}},
		// iso long: date and time in two columns.
		{"bird2-protocols-all-isolong.txt", "DN42_4242420001_peer", time.Date(2026, 11, 21, 0, 29, 13, 0, loc),
			[4]uint64{3, 0, 3, 3}, RouteChangeStats{Received: 3, Accepted: 3}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ps := ParseProtocols(readFixture(t, tc.file).Lines, now)
			if len(ps) != 5 {
				t.Fatalf("parsed %d protocols, want 5: %+v", len(ps), ps)
			}
			p := findProto(t, ps, tc.name)
			if p.Proto != "BGP" || p.State != "up" || p.Info != "Established" || p.BGPState != "Established" {
				t.Errorf("row/state: %+v", p)
			}
			if !p.Since.Equal(tc.since) {
				t.Errorf("since = %v (%q), want %v", p.Since, p.SinceText, tc.since)
			}
			if p.NeighborAS == 0 || p.LocalAS == 0 || p.NeighborID == "" {
				t.Errorf("neighbor fields: %+v", p)
			}
			if len(p.Channels) != 2 {
				t.Fatalf("channels: %+v", p.Channels)
			}
			c4, c6 := p.Channel("ipv4"), p.Channel("ipv6")
			if c4 == nil || c6 == nil || c4.State != "UP" {
				t.Fatalf("channels: %+v", p.Channels)
			}
			if got := [4]uint64{c4.Imported, c4.Filtered, c4.Exported, c4.Preferred}; got != tc.routes4 {
				t.Errorf("ipv4 routes: %v, want %v", got, tc.routes4)
			}
			if c4.ImportUpdates != tc.import4 {
				t.Errorf("ipv4 import updates: %+v, want %+v", c4.ImportUpdates, tc.import4)
			}
			if c4.ExportUpdates.Accepted != 3 || c4.ExportUpdates.Received == 0 {
				t.Errorf("ipv4 export updates: %+v", c4.ExportUpdates)
			}
			if c6.Imported != 1 || c6.Exported != 1 {
				t.Errorf("ipv6 routes: %+v", c6)
			}
			d := findProto(t, ps, "device1")
			if d.Proto != "Device" || d.State != "up" || d.Info != "" || d.Since.IsZero() {
				t.Errorf("device row: %+v", d)
			}
			st := findProto(t, ps, "st4")
			if st.Table != "master4" || st.Channel("ipv4").Imported != 3 {
				t.Errorf("static: %+v", st)
			}
		})
	}
}

func TestParseProtocolsLastError(t *testing.T) {
	now := time.Date(2026, 11, 21, 0, 30, 0, 0, time.Local)
	ps := ParseProtocols(readFixture(t, "bird2-protocol-peer-shutdown.txt").Lines, now)
	if len(ps) != 1 {
		t.Fatalf("parsed %+v", ps)
	}
	p := ps[0]
	if p.State != "start" || p.BGPState != "Active" || p.LastError != "Received: Administrative shutdown" ||
		p.Info != "Active        Received: Administrative shutdown" {
		t.Errorf("%+v", p)
	}
	if c := p.Channel("ipv4"); c == nil || c.State != "DOWN" || c.Imported != 0 {
		t.Errorf("channel: %+v", p.Channels)
	}
}

func TestParseProtocolsBIRD3(t *testing.T) {
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.Local)
	ps := ParseProtocols(readFixture(t, "bird3-protocols-all.txt").Lines, now)
	if len(ps) != 3 {
		t.Fatalf("parsed %d", len(ps))
	}
	p := findProto(t, ps, "DN42_4242420002_dn1")
	if p.BGPState != "Established" || p.NeighborAddress != "fe80::2%dn1" || p.NeighborAS != 4242420002 {
		t.Errorf("%+v", p)
	}
	if !p.Since.Equal(time.Date(2026, 11, 21, 8, 46, 52, 119e6, time.Local)) {
		t.Errorf("since %v", p.Since)
	}
	c4 := p.Channel("ipv4")
	if c4.Imported != 612 || c4.Filtered != 3 || c4.Exported != 40 || c4.Preferred != 512 {
		t.Errorf("ipv4 routes %+v", c4)
	}
	want := RouteChangeStats{Received: 700, Rejected: 2, Filtered: 3, Ignored: 10, Accepted: 685}
	if c4.ImportUpdates != want {
		t.Errorf("ipv4 import updates %+v, want %+v", c4.ImportUpdates, want)
	}
	if c4.ExportUpdates != (RouteChangeStats{Received: 900, Rejected: 5, Filtered: 11, Accepted: 884}) {
		t.Errorf("ipv4 export updates %+v", c4.ExportUpdates)
	}
	c6 := p.Channel("ipv6")
	if c6.Imported != 1234 || c6.ExportWithdraws.Accepted != 123456789 || c6.ExportWithdraws.Received != 9 {
		t.Errorf("ipv6 %+v / %+v", c6, c6.ExportWithdraws)
	}
	d := findProto(t, ps, "DN42_4242420003_dn2")
	if d.State != "start" || d.LastError != "Socket: Connection refused" || d.Info != "Active        Socket: Connection refused" ||
		!d.Since.Equal(time.Date(2026, 11, 19, 0, 0, 0, 0, time.Local)) {
		t.Errorf("%+v", d)
	}
}

func TestParseStatus(t *testing.T) {
	now := time.Date(2026, 11, 21, 0, 30, 0, 0, time.Local)
	s, err := ParseStatus(readFixture(t, "bird2-status.txt"), now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != "2.0.12" || s.RouterID != "10.77.0.1" || s.Hostname == "" || !s.Up || s.Message != "Daemon is up and running" {
		t.Errorf("%+v", s)
	}
	if !s.LastReconfiguration.Equal(time.Date(2026, 11, 21, 0, 29, 9, 361e6, time.Local)) || s.ServerTime.IsZero() {
		t.Errorf("times %+v", s)
	}
}

func TestParseTime(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	now := time.Date(2026, 11, 21, 1, 0, 0, 0, loc)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2026-11-20 23:59:58", time.Date(2026, 11, 20, 23, 59, 58, 0, loc)},
		{"2026-11-20 23:59:58.250", time.Date(2026, 11, 20, 23, 59, 58, 250e6, loc)},
		{"2026-11-19", time.Date(2026, 11, 19, 0, 0, 0, 0, loc)},
		{"00:30:00.500", time.Date(2026, 11, 21, 0, 30, 0, 500e6, loc)},
		// A time of day later than now is yesterday's.
		{"23:00:00", time.Date(2026, 11, 20, 23, 0, 0, 0, loc)},
		{"garbage", time.Time{}},
	} {
		got, ok := ParseTime(tc.in, now)
		if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, ok, tc.want)
		}
	}
}
