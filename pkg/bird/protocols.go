package bird

import (
	"strconv"
	"strings"
	"time"
)

// Protocol is one protocol of a `show protocols all` reply.
type Protocol struct {
	Name  string `json:"name"`
	Proto string `json:"proto"`
	Table string `json:"table"`
	// State is BIRD's protocol state: up, down, start, stop or flush.
	State string `json:"state"`
	// Since is when State was entered; zero if the timeformat could not be read (SinceText keeps
	// BIRD's text).
	Since     time.Time `json:"since"`
	SinceText string    `json:"sinceText"`
	// Info is the last column, e.g. "Established" or "Active        Socket: Connection refused".
	Info        string `json:"info,omitempty"`
	Description string `json:"description,omitempty"`
	Message     string `json:"message,omitempty"`
	// BGPState is Idle, Connect, Active, OpenSent, OpenConfirm, Established, Close, Down or
	// Passive; empty for other protocols.
	BGPState        string    `json:"bgpState,omitempty"`
	NeighborAddress string    `json:"neighborAddress,omitempty"`
	NeighborAS      uint32    `json:"neighborAS,omitempty"`
	LocalAS         uint32    `json:"localAS,omitempty"`
	NeighborID      string    `json:"neighborID,omitempty"`
	LastError       string    `json:"lastError,omitempty"`
	Channels        []Channel `json:"channels,omitempty"`
}

// Channel returns the channel called name ("ipv4", "ipv6"), or nil.
func (p *Protocol) Channel(name string) *Channel {
	for i := range p.Channels {
		if p.Channels[i].Name == name {
			return &p.Channels[i]
		}
	}
	return nil
}

// Channel is one channel of a protocol.
type Channel struct {
	Name string `json:"name"`
	// State is UP, DOWN, START, ... as BIRD prints it.
	State        string `json:"state"`
	Table        string `json:"table,omitempty"`
	InputFilter  string `json:"inputFilter,omitempty"`
	OutputFilter string `json:"outputFilter,omitempty"`
	// Imported, Filtered, Exported and Preferred come from the Routes: line; Filtered is only
	// printed with `import keep filtered`.
	Imported  uint64 `json:"imported"`
	Filtered  uint64 `json:"filtered"`
	Exported  uint64 `json:"exported"`
	Preferred uint64 `json:"preferred"`
	// The route change statistics table.
	ImportUpdates   RouteChangeStats `json:"importUpdates"`
	ImportWithdraws RouteChangeStats `json:"importWithdraws"`
	ExportUpdates   RouteChangeStats `json:"exportUpdates"`
	ExportWithdraws RouteChangeStats `json:"exportWithdraws"`
}

// RouteChangeStats is one row of the route change statistics. BIRD 2 prints five columns; BIRD 3
// adds "RX limit" and "limit" (or "IN limit"). A "---" cell is 0.
type RouteChangeStats struct {
	Received uint64 `json:"received"`
	Rejected uint64 `json:"rejected"`
	Filtered uint64 `json:"filtered"`
	Ignored  uint64 `json:"ignored"`
	RXLimit  uint64 `json:"rxLimit,omitempty"`
	Limit    uint64 `json:"limit,omitempty"`
	Accepted uint64 `json:"accepted"`
}

// ParseProtocols reads the lines of a `show protocols [all]` reply (codes 2002 heading, 1002
// rows, 1006 details). It never fails: lines it does not understand are skipped, so a new BIRD
// field never breaks it. now anchors time-of-day-only Since values.
func ParseProtocols(lines []Line, now time.Time) []Protocol {
	var (
		out   []Protocol
		p     *Protocol
		ch    *Channel
		stats []string // route change stats columns of the current channel
	)
	for _, l := range lines {
		switch l.Code {
		case 1002:
			out = append(out, parseRow(l.Text, now))
			p, ch, stats = &out[len(out)-1], nil, nil
			continue
		case 1006:
		default:
			continue
		}
		if p == nil {
			continue
		}
		t := strings.TrimSpace(l.Text)
		if t == "" {
			continue
		}
		key, val, hasColon := strings.Cut(t, ":")
		val = strings.TrimSpace(val)
		if !hasColon {
			if name, ok := strings.CutPrefix(t, "Channel "); ok {
				p.Channels = append(p.Channels, Channel{Name: strings.TrimSpace(name)})
				ch, stats = &p.Channels[len(p.Channels)-1], nil
			}
			continue
		}
		if ch == nil {
			switch key {
			case "Description":
				p.Description = val
			case "Message":
				p.Message = val
			case "BGP state":
				p.BGPState = val
			case "Neighbor address":
				p.NeighborAddress = val
			case "Neighbor AS":
				p.NeighborAS = parseU32(val)
			case "Local AS":
				p.LocalAS = parseU32(val)
			case "Neighbor ID":
				p.NeighborID = val
			case "Last error":
				p.LastError = val
			}
			continue
		}
		switch key {
		case "State":
			ch.State = val
		case "Table":
			ch.Table = val
		case "Input filter":
			ch.InputFilter = val
		case "Output filter":
			ch.OutputFilter = val
		case "Routes":
			parseRoutes(val, ch)
		case "Route change stats":
			stats = statsColumns(val)
		case "Import updates":
			ch.ImportUpdates = parseStatsRow(stats, val)
		case "Import withdraws":
			ch.ImportWithdraws = parseStatsRow(stats, val)
		case "Export updates":
			ch.ExportUpdates = parseStatsRow(stats, val)
		case "Export withdraws":
			ch.ExportWithdraws = parseStatsRow(stats, val)
		}
	}
	return out
}

// parseRow reads "Name Proto Table State Since Info". Since is one token (iso short: a time of
// day or a date) or two (iso long: date and time); Info is the rest with its spacing kept.
func parseRow(s string, now time.Time) Protocol {
	toks := fieldsWithOffsets(s)
	var p Protocol
	get := func(i int) string {
		if i < len(toks) {
			return toks[i].s
		}
		return ""
	}
	p.Name, p.Proto, p.Table, p.State = get(0), get(1), get(2), get(3)
	if len(toks) <= 4 {
		return p
	}
	next := 5
	since := toks[4].s
	if len(toks) > 5 && isDate(since) && isTimeOfDay(toks[5].s) {
		since += " " + toks[5].s
		next = 6
	}
	p.SinceText = since
	p.Since, _ = ParseTime(since, now)
	if next < len(toks) {
		p.Info = strings.TrimSpace(s[toks[next].off:])
	}
	return p
}

type token struct {
	s   string
	off int
}

func fieldsWithOffsets(s string) []token {
	var out []token
	start := -1
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' || s[i] == '\t' {
			if start >= 0 {
				out = append(out, token{s: s[start:i], off: start})
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return out
}

func isDate(s string) bool {
	return len(s) == 10 && s[4] == '-' && s[7] == '-' && isDigits(s[:4]) && isDigits(s[5:7]) && isDigits(s[8:])
}

func isTimeOfDay(s string) bool {
	return len(s) >= 8 && s[2] == ':' && s[5] == ':' && isDigits(s[:2]) && isDigits(s[3:5]) && isDigits(s[6:8])
}

// parseRoutes reads "1 imported, 2 filtered, 3 exported, 1 preferred".
func parseRoutes(s string, ch *Channel) {
	for part := range strings.SplitSeq(s, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch f[1] {
		case "imported":
			ch.Imported = n
		case "filtered":
			ch.Filtered = n
		case "exported":
			ch.Exported = n
		case "preferred":
			ch.Preferred = n
		}
	}
}

// statsColumns reads the heading of the route change statistics, joining the two-word columns
// ("RX limit", "IN limit") BIRD 3 prints.
func statsColumns(s string) []string {
	f := strings.Fields(s)
	var cols []string
	for i := 0; i < len(f); i++ {
		w := strings.ToLower(f[i])
		if (w == "rx" || w == "in") && i+1 < len(f) && strings.EqualFold(f[i+1], "limit") {
			w += " limit"
			i++
		}
		cols = append(cols, w)
	}
	return cols
}

// parseStatsRow maps a row of numbers (or "---") onto the columns. When the counts differ (a
// layout this parser has not seen), only the first (received) and last (accepted) cells are
// trusted.
func parseStatsRow(cols []string, s string) RouteChangeStats {
	var vals []string
	for _, f := range strings.Fields(s) {
		// BIRD 3 prints "---%10u" without a space, so "---" may be glued to a number.
		for strings.HasPrefix(f, "---") && len(f) > 3 {
			vals = append(vals, "---")
			f = f[3:]
		}
		vals = append(vals, f)
	}
	var r RouteChangeStats
	set := func(col, v string) {
		n, _ := strconv.ParseUint(v, 10, 64)
		switch col {
		case "received":
			r.Received = n
		case "rejected":
			r.Rejected = n
		case "filtered":
			r.Filtered = n
		case "ignored":
			r.Ignored = n
		case "rx limit":
			r.RXLimit = n
		case "limit", "in limit":
			r.Limit = n
		case "accepted":
			r.Accepted = n
		}
	}
	if len(vals) == len(cols) {
		for i, c := range cols {
			set(c, vals[i])
		}
		return r
	}
	if len(vals) > 0 {
		set("received", vals[0])
		set("accepted", vals[len(vals)-1])
	}
	return r
}

func parseU32(s string) uint32 {
	n, _ := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	return uint32(n)
}
