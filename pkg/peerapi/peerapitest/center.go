// Package peerapitest is an in-process fake PeerAPI center for tests. It implements the agent
// endpoints of the center as the real server does (bcrypt bearer checked on every call, 404 for
// an unknown router, /modify validation, a /sync callback after every modify) and adds knobs to
// make it fail.
package peerapitest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/edgeagent/edgeagent/pkg/peerapi"
)

// Options configure a Center.
type Options struct {
	// RouterUUID is the one router the center knows.
	RouterUUID string
	// AgentAPIKey is the center's shared agent secret: agents send bcrypt(AgentAPIKey+uuid).
	AgentAPIKey string
	// AgentSecret is the router's agent_secret: the center calls back with bcrypt(AgentSecret+uuid).
	AgentSecret string
	// CallbackURL is the agent API's base URL ("" disables callbacks until SetCallback).
	CallbackURL string
	// CallbackClient makes the callbacks (e.g. over a unix socket); default a plain client.
	CallbackClient *http.Client
}

// Fault makes the center misbehave.
type Fault int

// Faults.
const (
	// FaultNone answers normally.
	FaultNone Fault = iota
	// Fault500 answers HTTP 500 with a code-1 envelope.
	Fault500
	// FaultHang never answers (until the client gives up, the fault is cleared or Close).
	FaultHang
	// FaultGarbage answers HTTP 200 with a body that is not JSON.
	FaultGarbage
	// FaultEmptyList answers /sessions with code 0 and no sessions.
	FaultEmptyList
	// FaultBadCode answers HTTP 200 with code 6 (router operation failed).
	FaultBadCode
)

// Callback is the outcome of one /sync callback.
type Callback struct {
	Status int
	Err    string
}

// Center is the fake. All methods are safe for concurrent use.
type Center struct {
	o   Options
	srv *httptest.Server

	mu         sync.Mutex
	sessions   map[string]peerapi.Session
	order      []string
	faults     map[string]Fault
	reports    []peerapi.ModifyRequest
	heartbeats []peerapi.Heartbeat
	metrics    []peerapi.MetricsReport
	calls      map[string]int
	unauth     int
	callbacks  []Callback
	unhang     chan struct{}
	changed    chan struct{}

	// verified remembers tokens that passed bcrypt for a plain text: the agent sends one hash per
	// process, and bcrypt under the race detector costs over a second per check.
	verified map[string]string
	// cbToken is the callback bearer, hashed once for the same reason (the server hashes per call;
	// the agent cannot tell the difference).
	cbToken string

	cbWG   sync.WaitGroup
	closed chan struct{}
}

// New starts a center on a loopback port.
func New(o Options) *Center {
	if o.CallbackClient == nil {
		o.CallbackClient = &http.Client{Timeout: 10 * time.Second}
	}
	c := &Center{
		o:        o,
		sessions: map[string]peerapi.Session{},
		faults:   map[string]Fault{},
		verified: map[string]string{},
		calls:    map[string]int{},
		unhang:   make(chan struct{}),
		changed:  make(chan struct{}),
		closed:   make(chan struct{}),
	}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	return c
}

// URL is the center's base URL (peerApiCenter.apiUrl).
func (c *Center) URL() string { return c.srv.URL }

// Close stops the server and waits for callbacks in flight.
func (c *Center) Close() {
	c.mu.Lock()
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	c.mu.Unlock()
	c.srv.CloseClientConnections()
	c.srv.Close()
	c.cbWG.Wait()
}

// SetCallback sets the agent API base URL the center calls back.
func (c *Center) SetCallback(url string) {
	c.mu.Lock()
	c.o.CallbackURL = url
	c.mu.Unlock()
}

// SetFault makes the listed calls ("sessions", "modify", "heartbeat", "report", "probe"; none =
// all) misbehave. FaultNone clears them and releases hung requests.
func (c *Center) SetFault(f Fault, calls ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(calls) == 0 {
		calls = []string{"sessions", "modify", "heartbeat", "report", "probe"}
	}
	for _, n := range calls {
		if f == FaultNone {
			delete(c.faults, n)
		} else {
			c.faults[n] = f
		}
	}
	if f == FaultNone {
		close(c.unhang)
		c.unhang = make(chan struct{})
	}
}

// PutSession adds or replaces a session, as a user or admin action on the center would, and
// calls the agent back like the server does.
func (c *Center) PutSession(s peerapi.Session) {
	c.mu.Lock()
	if _, ok := c.sessions[s.UUID]; !ok {
		c.order = append(c.order, s.UUID)
	}
	c.sessions[s.UUID] = s
	c.notifyLocked()
	c.mu.Unlock()
	c.callback()
}

// SetStatus changes a session's status as an admin action would (enable, disable, delete,
// approve, teardown) and calls the agent back. It reports whether the session exists.
func (c *Center) SetStatus(uuid string, st peerapi.SessionStatus) bool {
	c.mu.Lock()
	s, ok := c.sessions[uuid]
	if ok {
		s.Status = st
		s.LastError = ""
		c.sessions[uuid] = s
		c.notifyLocked()
	}
	c.mu.Unlock()
	if ok {
		c.callback()
	}
	return ok
}

// Session returns a session as the center stores it.
func (c *Center) Session(uuid string) (peerapi.Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[uuid]
	return s, ok
}

// Reports returns every accepted /modify, in order.
func (c *Center) Reports() []peerapi.ModifyRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]peerapi.ModifyRequest(nil), c.reports...)
}

// Heartbeats returns every accepted heartbeat.
func (c *Center) Heartbeats() []peerapi.Heartbeat {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]peerapi.Heartbeat(nil), c.heartbeats...)
}

// MetricsReports returns every accepted /report body.
func (c *Center) MetricsReports() []peerapi.MetricsReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]peerapi.MetricsReport(nil), c.metrics...)
}

// Calls counts the requests to one call name (authorized or not).
func (c *Center) Calls(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[name]
}

// Unauthorized counts requests refused with 401.
func (c *Center) Unauthorized() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unauth
}

// Callbacks returns the outcomes of the /sync callbacks made so far.
func (c *Center) Callbacks() []Callback {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Callback(nil), c.callbacks...)
}

// Changed returns a channel that is closed at the next change of the center's state (a
// session, report, heartbeat or callback); for waiting in tests without sleeping.
func (c *Center) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// WaitFor polls cond on every change until it holds or ctx ends; it reports whether it held.
func (c *Center) WaitFor(ctx context.Context, cond func() bool) bool {
	for {
		ch := c.Changed()
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-ch:
		}
	}
}

func (c *Center) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// envelope writes the center's {code,message,data} answer; data "" when empty, as the server.
func envelope(w http.ResponseWriter, status, code int, msg string, data any) {
	if data == nil {
		data = ""
	}
	b, _ := json.Marshal(map[string]any{"code": code, "message": msg, "data": data})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (c *Center) serve(w http.ResponseWriter, r *http.Request) {
	// /agent/{router}/{call}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) != 3 || parts[0] != "agent" {
		envelope(w, http.StatusNotFound, peerapi.CodeNotFound, "Not Found", nil)
		return
	}
	router, call := parts[1], parts[2]
	methods := map[string]string{"sessions": http.MethodGet, "modify": http.MethodPost, "heartbeat": http.MethodPost,
		"report": http.MethodPost, "probe": http.MethodGet}
	want, known := methods[call]
	c.mu.Lock()
	c.calls[call]++
	c.mu.Unlock()
	if !known || r.Method != want {
		envelope(w, http.StatusNotFound, peerapi.CodeNotFound, "Not Found", nil)
		return
	}
	// The server compares agentApiKey + <router in the URL> with the token before it looks the
	// router up.
	tok, _ := peerapi.BearerToken(r.Header.Get("Authorization"))
	if !c.checkToken(tok, c.o.AgentAPIKey+router) {
		c.mu.Lock()
		c.unauth++
		c.mu.Unlock()
		envelope(w, http.StatusUnauthorized, peerapi.CodeUnauthorized, "Unauthorized", nil)
		return
	}
	if router != c.o.RouterUUID {
		envelope(w, http.StatusNotFound, peerapi.CodeNotFound, "Router not found", nil)
		return
	}
	c.mu.Lock()
	fault, unhang := c.faults[call], c.unhang
	c.mu.Unlock()
	switch fault {
	case Fault500:
		envelope(w, http.StatusInternalServerError, peerapi.CodeServerError, "Internal Server Error", nil)
		return
	case FaultHang:
		select {
		case <-r.Context().Done():
		case <-unhang:
		case <-c.closed:
		}
		return
	case FaultGarbage:
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<html>502 bad gateway</html>\x00\xff"))
		return
	case FaultBadCode:
		envelope(w, http.StatusOK, peerapi.CodeRouterOperationFailed, "Router operation failed", nil)
		return
	}
	switch call {
	case "sessions":
		list := []any{}
		if fault != FaultEmptyList {
			c.mu.Lock()
			for _, id := range c.order {
				if s, ok := c.sessions[id]; ok {
					list = append(list, wireSession(s))
				}
			}
			c.mu.Unlock()
		}
		envelope(w, http.StatusOK, peerapi.CodeOK, "Success", map[string]any{"bgpSessions": list})
	case "modify":
		c.modify(w, r)
	case "heartbeat":
		var hb peerapi.Heartbeat
		if err := json.NewDecoder(r.Body).Decode(&hb); err != nil {
			envelope(w, http.StatusBadRequest, peerapi.CodeBadRequest, "Bad Request", nil)
			return
		}
		c.mu.Lock()
		c.heartbeats = append(c.heartbeats, hb)
		c.notifyLocked()
		c.mu.Unlock()
		envelope(w, http.StatusOK, peerapi.CodeOK, "Success", nil)
	case "report":
		var m peerapi.MetricsReport
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Metrics == nil {
			envelope(w, http.StatusBadRequest, peerapi.CodeBadRequest, "Bad Request", nil)
			return
		}
		c.mu.Lock()
		c.metrics = append(c.metrics, m)
		c.notifyLocked()
		c.mu.Unlock()
		envelope(w, http.StatusOK, peerapi.CodeOK, "Success", nil)
	case "probe":
		envelope(w, http.StatusOK, peerapi.CodeOK, "Success", []any{})
	}
}

// checkToken is bcrypt.CompareHashAndPassword(token, plain), remembering successes.
func (c *Center) checkToken(tok, plain string) bool {
	c.mu.Lock()
	p, ok := c.verified[tok]
	c.mu.Unlock()
	if ok {
		return p == plain
	}
	if !peerapi.CheckToken(tok, plain) {
		return false
	}
	c.mu.Lock()
	c.verified[tok] = plain
	c.mu.Unlock()
	return true
}

// callbackToken returns bcrypt(AgentSecret + RouterUUID), computed once.
func (c *Center) callbackToken() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cbToken != "" {
		return c.cbToken, nil
	}
	tok, err := peerapi.HashToken(c.o.AgentSecret + c.o.RouterUUID)
	if err == nil {
		c.cbToken = tok
	}
	return tok, err
}

// modify applies the server's /modify rules.
func (c *Center) modify(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Status    json.Number `json:"status"`
		Session   string      `json:"session"`
		LastError *string     `json:"lastError"`
	}
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		envelope(w, http.StatusBadRequest, peerapi.CodeBadRequest, "Bad Request", nil)
		return
	}
	st, err := body.Status.Int64()
	if err != nil || st < 0 || st > 7 || body.Session == "" {
		envelope(w, http.StatusBadRequest, peerapi.CodeBadRequest, "Bad Request", nil)
		return
	}
	c.mu.Lock()
	s, ok := c.sessions[body.Session]
	if !ok {
		c.mu.Unlock()
		envelope(w, http.StatusNotFound, peerapi.CodeNotFound, "Session not found", nil)
		return
	}
	lastErr := ""
	if body.LastError != nil {
		lastErr = *body.LastError
	}
	c.reports = append(c.reports, peerapi.ModifyRequest{Status: peerapi.SessionStatus(st), Session: body.Session, LastError: lastErr})
	if st == 0 {
		delete(c.sessions, body.Session)
		for i, id := range c.order {
			if id == body.Session {
				c.order = append(c.order[:i:i], c.order[i+1:]...)
				break
			}
		}
	} else {
		s.Status = peerapi.SessionStatus(st)
		s.LastError = lastErr
		c.sessions[body.Session] = s
	}
	c.notifyLocked()
	c.mu.Unlock()
	envelope(w, http.StatusOK, peerapi.CodeOK, "Success", nil)
	c.callback()
}

// callback calls the agent's /sync asynchronously with a fresh bcrypt bearer, as the server does
// after every modify.
func (c *Center) callback() {
	c.mu.Lock()
	url := c.o.CallbackURL
	select {
	case <-c.closed:
		url = ""
	default:
	}
	if url != "" {
		c.cbWG.Add(1)
	}
	c.mu.Unlock()
	if url == "" {
		return
	}
	go func() {
		defer c.cbWG.Done()
		res := Callback{}
		tok, err := c.callbackToken()
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			go func() {
				select {
				case <-c.closed:
					cancel()
				case <-ctx.Done():
				}
			}()
			var req *http.Request
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(url, "/")+"/sync", nil)
			if err == nil {
				req.Header.Set("Authorization", "Bearer "+tok)
				var resp *http.Response
				if resp, err = c.o.CallbackClient.Do(req); err == nil {
					res.Status = resp.StatusCode
					resp.Body.Close()
				}
			}
			cancel()
		}
		if err != nil {
			res.Err = err.Error()
		}
		c.mu.Lock()
		c.callbacks = append(c.callbacks, res)
		c.notifyLocked()
		c.mu.Unlock()
	}()
}

// wireSession renders a session the way the server's JSON looks: empty nullable strings are
// null, and data is "" when empty.
func wireSession(s peerapi.Session) map[string]any {
	null := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	var data any = ""
	if s.Data.Passthrough != "" || s.Data.Info != "" {
		data = map[string]any{"passthrough": s.Data.Passthrough, "info": s.Data.Info}
	}
	ext := append([]string{}, s.Extensions...)
	sort.Strings(ext)
	return map[string]any{
		"uuid": s.UUID, "asn": s.ASN, "status": int(s.Status),
		"ipv4": null(s.IPv4), "ipv6": null(s.IPv6), "ipv6LinkLocal": null(s.IPv6LinkLocal),
		"type": s.Type, "extensions": ext, "interface": s.Interface,
		"endpoint": null(s.Endpoint), "credential": null(s.Credential), "data": data,
		"mtu": s.MTU, "policy": s.Policy, "lastError": null(s.LastError),
	}
}
