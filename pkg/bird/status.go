package bird

import (
	"fmt"
	"strings"
	"time"
)

// Status is the parsed reply of `show status`.
type Status struct {
	// Version is BIRD's version, e.g. "2.0.12".
	Version  string `json:"version"`
	RouterID string `json:"routerID"`
	Hostname string `json:"hostname,omitempty"`
	// ServerTime, LastReboot and LastReconfiguration are zero when BIRD's timeformat could not be
	// read.
	ServerTime          time.Time `json:"serverTime"`
	LastReboot          time.Time `json:"lastReboot"`
	LastReconfiguration time.Time `json:"lastReconfiguration"`
	// Message is the final line, e.g. "Daemon is up and running".
	Message string `json:"message"`
	// Up is true when the daemon says it is up and running (not reconfiguring or shutting down).
	Up bool `json:"up"`
}

// ParseStatus reads a `show status` reply. now anchors time-of-day-only timestamps (BIRD's
// default "iso short" formats print only the time for recent events).
func ParseStatus(rep Reply, now time.Time) (Status, error) {
	var s Status
	if rep.Code() != CodeStatus {
		return s, fmt.Errorf("bird show status: unexpected final code %04d", rep.Code())
	}
	for _, l := range rep.Lines {
		t := strings.TrimSpace(l.Text)
		switch {
		case l.Code == 1000 && strings.HasPrefix(t, "BIRD "):
			s.Version = strings.TrimPrefix(t, "BIRD ")
		case strings.HasPrefix(t, "Router ID is "):
			s.RouterID = strings.TrimPrefix(t, "Router ID is ")
		case strings.HasPrefix(t, "Hostname is "):
			s.Hostname = strings.TrimPrefix(t, "Hostname is ")
		case strings.HasPrefix(t, "Current server time is "):
			s.ServerTime, _ = ParseTime(strings.TrimPrefix(t, "Current server time is "), now)
		case strings.HasPrefix(t, "Last reboot on "):
			s.LastReboot, _ = ParseTime(strings.TrimPrefix(t, "Last reboot on "), now)
		case strings.HasPrefix(t, "Last reconfiguration on "):
			s.LastReconfiguration, _ = ParseTime(strings.TrimPrefix(t, "Last reconfiguration on "), now)
		}
	}
	s.Message = lastText(rep)
	s.Up = strings.Contains(s.Message, "up and running")
	return s, nil
}

// timeLayouts are BIRD's built-in timeformats: iso long ms, iso long, iso short ms (time only,
// or date only when older than 20 h), iso short, and the date-only fallbacks.
var timeLayouts = []string{
	"2006-01-02 15:04:05.000000",
	"2006-01-02 15:04:05.000",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

var timeOfDayLayouts = []string{"15:04:05.000000", "15:04:05.000", "15:04:05"}

// ParseTime reads a BIRD timestamp in any of its built-in timeformats, in now's location.
// A time of day alone is taken as the most recent such moment not after now (plus a minute of
// clock slack).
func ParseTime(s string, now time.Time) (time.Time, bool) {
	s = strings.TrimSpace(s)
	loc := now.Location()
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, true
		}
	}
	for _, l := range timeOfDayLayouts {
		tod, err := time.ParseInLocation(l, s, loc)
		if err != nil {
			continue
		}
		y, m, d := now.Date()
		t := time.Date(y, m, d, tod.Hour(), tod.Minute(), tod.Second(), tod.Nanosecond(), loc)
		if t.After(now.Add(time.Minute)) {
			t = t.AddDate(0, 0, -1)
		}
		return t, true
	}
	return time.Time{}, false
}
