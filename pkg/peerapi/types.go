// Package peerapi speaks the iEdon PeerAPI wire protocol: the client the agent uses to talk to the
// PeerAPI center, the agent API the center calls back (/status, /sync, /info), the passthrough
// JWTs and the WireGuard listen-port reservations behind /info.
package peerapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// SessionStatus is the PeerAPI session state machine's status.
type SessionStatus int

// Session statuses, as the center numbers them.
const (
	StatusDeleted         SessionStatus = 0
	StatusDisabled        SessionStatus = 1
	StatusEnabled         SessionStatus = 2
	StatusPendingApproval SessionStatus = 3
	StatusQueuedForSetup  SessionStatus = 4
	StatusQueuedForDelete SessionStatus = 5
	StatusProblem         SessionStatus = 6
	StatusTeardown        SessionStatus = 7
)

var statusNames = [...]string{"DELETED", "DISABLED", "ENABLED", "PENDING_APPROVAL", "QUEUED_FOR_SETUP",
	"QUEUED_FOR_DELETE", "PROBLEM", "TEARDOWN"}

// String names the status as the center's code does.
func (s SessionStatus) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "STATUS_" + strconv.Itoa(int(s))
}

// Link types the agent configures.
const (
	LinkWireGuard = "wireguard"
	LinkGRE       = "gre"
	LinkIP6GRE    = "ip6gre"
)

// Session extensions.
const (
	ExtensionMPBGP           = "mp-bgp"
	ExtensionExtendedNextHop = "extended-nexthop"
)

// Session is one BGP session as the center sends it. Null strings decode as "".
type Session struct {
	UUID          string        `json:"uuid"`
	ASN           uint32        `json:"asn"`
	Status        SessionStatus `json:"status"`
	IPv4          string        `json:"ipv4"`
	IPv6          string        `json:"ipv6"`
	IPv6LinkLocal string        `json:"ipv6LinkLocal"`
	Type          string        `json:"type"`
	Extensions    []string      `json:"extensions"`
	Interface     string        `json:"interface"`
	Endpoint      string        `json:"endpoint"`
	Credential    string        `json:"credential"`
	Data          SessionData   `json:"data"`
	MTU           int           `json:"mtu"`
	Policy        int           `json:"policy"`
	LastError     string        `json:"lastError"`
}

// HasExtension reports whether the session lists ext.
func (s *Session) HasExtension(ext string) bool {
	for _, e := range s.Extensions {
		if e == ext {
			return true
		}
	}
	return false
}

// SessionData is the session's `data` field: the object /info returned, or "" when none.
type SessionData struct {
	Passthrough string `json:"passthrough,omitempty"`
	Info        string `json:"info,omitempty"`
}

// UnmarshalJSON accepts an object, a string (the center sends "" when empty; a JSON-encoded
// object in a string is decoded too) or null.
func (d *SessionData) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*d = SessionData{}
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			return nil
		}
		b = []byte(s)
	}
	type plain SessionData
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("session data: %w", err)
	}
	*d = SessionData(p)
	return nil
}

// Envelope is the {code,message,data} wrapper of every center and agent API answer.
type Envelope struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Center envelope codes.
const (
	CodeOK                    = 0
	CodeServerError           = 1
	CodeUnavailable           = 2
	CodeUnauthorized          = 3
	CodeBadRequest            = 4
	CodeNotFound              = 5
	CodeRouterOperationFailed = 6
	CodeRouterNotAvailable    = 7
)

// SessionsData is the `data` of GET /agent/{R}/sessions.
type SessionsData struct {
	BGPSessions []Session `json:"bgpSessions"`
}

// ModifyRequest is the body of POST /agent/{R}/modify.
type ModifyRequest struct {
	Status    SessionStatus `json:"status"`
	Session   string        `json:"session"`
	LastError string        `json:"lastError"`
}

// Heartbeat is the body of POST /agent/{R}/heartbeat.
type Heartbeat struct {
	Version string  `json:"version"`
	Kernel  string  `json:"kernel"`
	LoadAvg string  `json:"loadAvg"`
	Uptime  float64 `json:"uptime"`
	// RS is BIRD's `show status` text with reply codes stripped.
	RS  string `json:"rs"`
	TX  uint64 `json:"tx"`
	RX  uint64 `json:"rx"`
	TCP int    `json:"tcp"`
	UDP int    `json:"udp"`
	// Timestamp is in unix milliseconds (the metric timestamp is in seconds).
	Timestamp int64 `json:"timestamp"`
}

// MetricsReport is the body of POST /agent/{R}/report.
type MetricsReport struct {
	Metrics []SessionMetric `json:"metrics"`
}

// SessionMetric is one session's metrics as /report and the agent's /status carry them.
type SessionMetric struct {
	UUID      string          `json:"uuid"`
	ASN       uint32          `json:"asn"`
	Timestamp int64           `json:"timestamp"`
	BGP       []BGPMetric     `json:"bgp"`
	Interface InterfaceMetric `json:"interface"`
	RTT       RTTMetric       `json:"rtt"`
}

// BGPMetric is one BIRD protocol's state and route counts.
type BGPMetric struct {
	Name   string       `json:"name"`
	State  string       `json:"state"`
	Info   string       `json:"info"`
	Type   string       `json:"type"`
	Since  string       `json:"since"`
	Routes RoutesMetric `json:"routes"`
}

// RoutesMetric holds route counts per family.
type RoutesMetric struct {
	IPv4 RouteCounts `json:"ipv4"`
	IPv6 RouteCounts `json:"ipv6"`
}

// RouteCounts are imported and exported route counts.
type RouteCounts struct {
	Imported struct {
		Current int `json:"current"`
	} `json:"imported"`
	Exported struct {
		Current int `json:"current"`
	} `json:"exported"`
}

// InterfaceMetric describes the session's tunnel interface.
type InterfaceMetric struct {
	IPv4          string        `json:"ipv4"`
	IPv6          string        `json:"ipv6"`
	IPv6LinkLocal string        `json:"ipv6LinkLocal"`
	MAC           string        `json:"mac"`
	MTU           int           `json:"mtu"`
	Status        string        `json:"status"`
	Traffic       TrafficMetric `json:"traffic"`
}

// TrafficMetric holds [tx, rx] byte totals and rates.
type TrafficMetric struct {
	Total   [2]uint64 `json:"total"`
	Current [2]uint64 `json:"current"`
}

// RTTMetric is the latest RTT (ms, -1 = failed) and the average loss (0..1).
type RTTMetric struct {
	Current int     `json:"current"`
	Loss    float64 `json:"loss"`
}

// InfoRequest is the body of the agent's POST /info.
type InfoRequest struct {
	ASN  uint32 `json:"asn"`
	Data struct {
		LinkType      string   `json:"linkType"`
		BGPExtensions []string `json:"bgpExtensions"`
	} `json:"data"`
}

// StatusData is the `data` of the agent's GET /status.
type StatusData struct {
	Sessions map[string]Session       `json:"sessions"`
	Metrics  map[string]SessionMetric `json:"metrics"`
}
