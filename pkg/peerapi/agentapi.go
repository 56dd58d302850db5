package peerapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// AgentAPIOptions configure the agent API handler (/status, /sync, /info).
type AgentAPIOptions struct {
	// RouterUUID and AgentSecret define the only accepted bearer: a bcrypt hash of
	// AgentSecret+RouterUUID, which is what the center sends. The center's plain shared secret
	// is deliberately not accepted (the old agent did accept it).
	RouterUUID  string
	AgentSecret string
	// PassthroughSecret signs the /info JWTs (peerApiCenter.sessionPassthroughJwtSecert).
	PassthroughSecret []byte
	// PassthroughTTL is how long an /info JWT and its port reservation stay valid; default 7 days.
	PassthroughTTL time.Duration
	// Ports reserves WireGuard listen ports; required for wireguard /info.
	Ports *PortReservations
	// Status returns the /status data; nil serves empty maps.
	Status func() StatusData
	// TriggerSync asks for a session sync; it must not block.
	TriggerSync func()
	// WireGuardPublicKey and WireGuardEndpointHost are shown in the wireguard /info text.
	WireGuardPublicKey    string
	WireGuardEndpointHost string
	// GREEndpointDesc4 and GREEndpointDesc6 describe our GRE/ip6gre endpoint in the /info text.
	GREEndpointDesc4, GREEndpointDesc6 string
	// Logger receives request errors.
	Logger logr.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

type agentAPI struct {
	o    AgentAPIOptions
	auth chan struct{}

	mu sync.Mutex
	// verified holds bearer tokens that passed bcrypt. The center may reuse a hash (and tests
	// do); only good tokens enter, so the cache cannot be used to skip a check of a bad one.
	verified map[string]struct{}
}

const maxVerified = 256

// NewAgentAPI returns the handler of the agent API. Paths match exactly; anything else is a plain
// 404; a wrong method is a 405 with Allow. Every answer is a {code,message,data} envelope whose
// code is 0 on success and the HTTP status otherwise.
func NewAgentAPI(o AgentAPIOptions) (http.Handler, error) {
	if o.RouterUUID == "" || o.AgentSecret == "" {
		return nil, errors.New("agent API: router UUID and agent secret are required")
	}
	if len(o.AgentSecret)+len(o.RouterUUID) > 72 {
		return nil, fmt.Errorf("agent API: agent secret plus router UUID is %d bytes; bcrypt allows at most 72", len(o.AgentSecret)+len(o.RouterUUID))
	}
	if o.PassthroughTTL <= 0 {
		o.PassthroughTTL = 7 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// bcrypt costs tens of milliseconds of CPU; bounding concurrent checks keeps a flood of
	// bad tokens from starving the agent.
	return &agentAPI{o: o, auth: make(chan struct{}, runtime.NumCPU()), verified: map[string]struct{}{}}, nil
}

func (a *agentAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var method string
	var h func(http.ResponseWriter, *http.Request)
	switch r.URL.Path {
	case "/status":
		method, h = http.MethodGet, a.status
	case "/sync":
		method, h = http.MethodGet, a.sync
	case "/info":
		method, h = http.MethodPost, a.info
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		writeAgentError(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	if !a.authorized(r) {
		writeAgentError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	h(w, r)
}

func (a *agentAPI) authorized(r *http.Request) bool {
	tok, ok := BearerToken(r.Header.Get("Authorization"))
	if !ok {
		return false
	}
	a.mu.Lock()
	_, ok = a.verified[tok]
	a.mu.Unlock()
	if ok {
		return true
	}
	select {
	case a.auth <- struct{}{}:
	case <-r.Context().Done():
		return false
	}
	defer func() { <-a.auth }()
	if !CheckToken(tok, a.o.AgentSecret+a.o.RouterUUID) {
		return false
	}
	a.mu.Lock()
	if len(a.verified) >= maxVerified {
		clear(a.verified)
	}
	a.verified[tok] = struct{}{}
	a.mu.Unlock()
	return true
}

func (a *agentAPI) status(w http.ResponseWriter, _ *http.Request) {
	d := StatusData{}
	if a.o.Status != nil {
		d = a.o.Status()
	}
	if d.Sessions == nil {
		d.Sessions = map[string]Session{}
	}
	if d.Metrics == nil {
		d.Metrics = map[string]SessionMetric{}
	}
	writeAgentOK(w, "OK", d)
}

func (a *agentAPI) sync(w http.ResponseWriter, _ *http.Request) {
	if a.o.TriggerSync != nil {
		a.o.TriggerSync()
	}
	writeAgentOK(w, "Sync initiated", nil)
}

// InfoData is the `data` of the agent's POST /info; the browser submits it as the session's data.
type InfoData struct {
	Passthrough string `json:"passthrough"`
	Info        string `json:"info"`
}

func (a *agentAPI) info(w http.ResponseWriter, r *http.Request) {
	var req InfoRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeAgentError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			return
		}
		writeAgentError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if req.ASN == 0 {
		writeAgentError(w, http.StatusBadRequest, "asn is required")
		return
	}
	now := a.o.Now()
	switch req.Data.LinkType {
	case LinkWireGuard:
		if a.o.Ports == nil {
			writeAgentError(w, http.StatusInternalServerError, "Failed to reserve a port")
			return
		}
		until := now.Add(a.o.PassthroughTTL)
		port, err := a.o.Ports.Reserve(infoHolder(req.ASN), until)
		if err != nil {
			a.o.Logger.Error(err, "info: reserve wireguard port", "asn", req.ASN)
			writeAgentError(w, http.StatusInternalServerError, "Failed to reserve a port")
			return
		}
		tok, err := IssuePassthrough(a.o.PassthroughSecret, req.ASN, port, now, a.o.PassthroughTTL)
		if err != nil {
			a.o.Logger.Error(err, "info: sign passthrough", "asn", req.ASN)
			writeAgentError(w, http.StatusInternalServerError, "Failed to generate token")
			return
		}
		host := a.o.WireGuardEndpointHost
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		var b strings.Builder
		fmt.Fprintf(&b, "**WireGuard**\n\n- Endpoint: `%s:%d`\n- Public key: `%s`\n", host, port, a.o.WireGuardPublicKey)
		fmt.Fprintf(&b, "\nThis port is held for you until %s; submit the session before then.\n", until.UTC().Format(time.RFC3339))
		writeAgentOK(w, "OK", InfoData{Passthrough: tok, Info: b.String()})
	case LinkGRE, LinkIP6GRE:
		tok, err := IssuePassthrough(a.o.PassthroughSecret, req.ASN, 0, now, a.o.PassthroughTTL)
		if err != nil {
			a.o.Logger.Error(err, "info: sign passthrough", "asn", req.ASN)
			writeAgentError(w, http.StatusInternalServerError, "Failed to generate token")
			return
		}
		desc := a.o.GREEndpointDesc4
		if req.Data.LinkType == LinkIP6GRE {
			desc = a.o.GREEndpointDesc6
		}
		var b strings.Builder
		b.WriteString("**Warning:** GRE tunnels are not encrypted, and many networks filter GRE. Prefer WireGuard if you can.\n\n")
		fmt.Fprintf(&b, "- Tunnel type: `%s`\n- Our endpoint: %s\n- TTL: 255\n", req.Data.LinkType, desc)
		writeAgentOK(w, "OK", InfoData{Passthrough: tok, Info: b.String()})
	default:
		writeAgentError(w, http.StatusBadRequest, "Link(Interface) type not supported")
	}
}

// infoHolder names a temporary /info reservation.
func infoHolder(asn uint32) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "info:" + strconv.FormatUint(uint64(asn), 10) + ":" + hex.EncodeToString(b[:])
}

type agentEnvelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func writeAgentOK(w http.ResponseWriter, msg string, data any) {
	writeAgentJSON(w, http.StatusOK, agentEnvelope{Code: 0, Message: msg, Data: data})
}

func writeAgentError(w http.ResponseWriter, status int, msg string) {
	writeAgentJSON(w, status, agentEnvelope{Code: status, Message: msg})
}

func writeAgentJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"code":500,"message":"Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
