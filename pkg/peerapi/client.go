package peerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// BaseURL is the center's API URL (peerApiCenter.apiUrl), e.g. https://peerapi.example.org.
	BaseURL string
	// RouterUUID is this router's UUID at the center.
	RouterUUID string
	// Secret is the center's shared agent API key; the bearer is bcrypt(Secret + RouterUUID).
	// Secret + RouterUUID must fit bcrypt's 72 bytes.
	Secret string
	// Bearer is a precomputed bcrypt(Secret + RouterUUID); empty computes one. It lets several
	// clients (e.g. with different timeouts) share one hash.
	Bearer string
	// Timeout bounds one attempt (peerApiCenter.requestTimeout); default 15 s.
	Timeout time.Duration
	// Retries is how many more attempts a retryable failure (network error, timeout, HTTP 5xx or
	// 429) gets; default 2, negative disables retries.
	Retries int
	// RetryBackoff is the first backoff; it doubles per attempt up to 10 s, with ±50 % jitter.
	// Default 500 ms.
	RetryBackoff time.Duration
	// UserAgent overrides the default "edgeagent/<version> (...)" user agent.
	UserAgent string
	// HTTPClient is used for the requests; default a new client with a cloned default transport.
	HTTPClient *http.Client
	// Logger receives retry notices at V(1).
	Logger logr.Logger
}

// Client calls the PeerAPI center's agent endpoints for one router.
type Client struct {
	o      ClientOptions
	base   string
	bearer string
	hc     *http.Client
}

// maxResponse bounds how much of an answer the client reads.
const maxResponse = 32 << 20

// NewClient checks the options and computes the bearer: one bcrypt hash (cost 10) per process is
// enough, since the center only checks that the token is a valid hash of secret+uuid.
func NewClient(o ClientOptions) (*Client, error) {
	if o.BaseURL == "" {
		return nil, errors.New("peerapi client: base URL is required")
	}
	u, err := url.Parse(o.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("peerapi client: base URL %q must be an http(s) URL", o.BaseURL)
	}
	if o.RouterUUID == "" {
		return nil, errors.New("peerapi client: router UUID is required")
	}
	if o.Secret == "" {
		return nil, errors.New("peerapi client: secret is required")
	}
	bearer := o.Bearer
	if bearer == "" {
		var err error
		if bearer, err = HashToken(o.Secret + o.RouterUUID); err != nil {
			return nil, fmt.Errorf("peerapi client: bearer: %w", err)
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Retries == 0 {
		o.Retries = 2
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 500 * time.Millisecond
	}
	if o.UserAgent == "" {
		o.UserAgent = fmt.Sprintf("edgeagent (%s; %s; %s)", runtime.GOOS, runtime.GOARCH, runtime.Version())
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return &Client{o: o, base: strings.TrimRight(o.BaseURL, "/") + "/agent/" + url.PathEscape(o.RouterUUID), bearer: bearer, hc: hc}, nil
}

// Bearer returns the client's bearer hash (to share it with another client).
func (c *Client) Bearer() string { return c.bearer }

// RouterUUID returns the router this client speaks for.
func (c *Client) RouterUUID() string { return c.o.RouterUUID }

// Error is a failed call: a transport error, a non-200 answer, an undecodable body or a
// code other than 0.
type Error struct {
	// Call names the call: sessions, modify, heartbeat, report, probe.
	Call string
	// HTTPStatus is the HTTP status, 0 when no answer arrived.
	HTTPStatus int
	// Code and Message come from the envelope when one was decoded (Code is -1 otherwise).
	Code    int
	Message string
	// Err is the underlying transport or decoding error, if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("peerapi ")
	b.WriteString(e.Call)
	b.WriteString(": ")
	switch {
	case e.Err != nil && e.HTTPStatus == 0:
		b.WriteString(e.Err.Error())
		return b.String()
	case e.Err != nil:
		fmt.Fprintf(&b, "HTTP %d: %v", e.HTTPStatus, e.Err)
		return b.String()
	}
	fmt.Fprintf(&b, "HTTP %d, code %d", e.HTTPStatus, e.Code)
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// retryable says whether another attempt may succeed: no answer, a 5xx or a 429.
func (e *Error) retryable() bool {
	if e.HTTPStatus == 0 {
		return true
	}
	return e.HTTPStatus >= 500 || e.HTTPStatus == http.StatusTooManyRequests
}

// Sessions fetches every session of the router, whatever its status.
func (c *Client) Sessions(ctx context.Context) ([]Session, error) {
	var d SessionsData
	if err := c.call(ctx, "sessions", http.MethodGet, "/sessions", nil, &d); err != nil {
		return nil, err
	}
	if d.BGPSessions == nil {
		d.BGPSessions = []Session{}
	}
	return d.BGPSessions, nil
}

// Modify reports a session's status and last error ("" for none).
func (c *Client) Modify(ctx context.Context, session string, status SessionStatus, lastError string) error {
	return c.call(ctx, "modify", http.MethodPost, "/modify", ModifyRequest{Status: status, Session: session, LastError: lastError}, nil)
}

// Heartbeat sends the node's heartbeat.
func (c *Client) Heartbeat(ctx context.Context, h Heartbeat) error {
	return c.call(ctx, "heartbeat", http.MethodPost, "/heartbeat", h, nil)
}

// Report sends session metrics.
func (c *Client) Report(ctx context.Context, metrics []SessionMetric) error {
	if metrics == nil {
		metrics = []SessionMetric{}
	}
	return c.call(ctx, "report", http.MethodPost, "/report", MetricsReport{Metrics: metrics}, nil)
}

// Probe fetches the peer probe summary. Its shape changed between center versions (see the
// protocol notes), so it is returned undecoded.
func (c *Client) Probe(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.call(ctx, "probe", http.MethodGet, "/probe", nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

func (c *Client) call(ctx context.Context, name, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return &Error{Call: name, Code: -1, Err: fmt.Errorf("encode body: %w", err)}
		}
	}
	backoff := c.o.RetryBackoff
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, name, method, path, payload, out)
		var e *Error
		if err == nil || !errors.As(err, &e) || !e.retryable() || attempt >= c.o.Retries || ctx.Err() != nil {
			return err
		}
		// Jitter spreads the retries of many agents hitting one recovering center.
		d := backoff/2 + rand.N(backoff)
		c.o.Logger.V(1).Info("peerapi call failed, retrying", "call", name, "attempt", attempt+1, "in", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		if backoff *= 2; backoff > 10*time.Second {
			backoff = 10 * time.Second
		}
	}
}

func (c *Client) once(ctx context.Context, name, method, path string, payload []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return &Error{Call: name, Code: -1, Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.bearer)
	req.Header.Set("User-Agent", c.o.UserAgent)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &Error{Call: name, Code: -1, Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return &Error{Call: name, HTTPStatus: resp.StatusCode, Code: -1, Err: fmt.Errorf("read body: %w", err)}
	}
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		if resp.StatusCode != http.StatusOK {
			return &Error{Call: name, HTTPStatus: resp.StatusCode, Code: -1, Message: snippet(b)}
		}
		return &Error{Call: name, HTTPStatus: resp.StatusCode, Code: -1, Err: fmt.Errorf("decode envelope: %w", err)}
	}
	if resp.StatusCode != http.StatusOK || env.Code != CodeOK {
		return &Error{Call: name, HTTPStatus: resp.StatusCode, Code: env.Code, Message: env.Message}
	}
	if out == nil {
		return nil
	}
	if len(env.Data) == 0 || bytes.Equal(env.Data, []byte("null")) || bytes.Equal(env.Data, []byte(`""`)) {
		return &Error{Call: name, HTTPStatus: resp.StatusCode, Code: env.Code, Err: errors.New("answer has no data")}
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return &Error{Call: name, HTTPStatus: resp.StatusCode, Code: env.Code, Err: fmt.Errorf("decode data: %w", err)}
	}
	return nil
}

// snippet returns a short printable prefix of a non-JSON body for error messages.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
