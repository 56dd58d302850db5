package ops

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

// fakeState is a StateProvider whose answers the test controls and whose calls it records.
type fakeState struct {
	mu        sync.Mutex
	ready     bool
	reason    string
	state     controller.DebugState
	gotKind   string
	gotKey    string
	callCount int
}

func (f *fakeState) DebugState(kind, key string) controller.DebugState {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gotKind, f.gotKey = kind, key
	f.callCount++
	st := f.state
	var objs []controller.ObjectStatus
	for _, o := range st.Objects {
		if (kind == "" || string(o.Kind) == kind) && (key == "" || o.Key == key) {
			objs = append(objs, o)
		}
	}
	st.Objects = objs
	return st
}

func (f *fakeState) Ready() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready, f.reason
}

func (f *fakeState) setReady(r bool, reason string) {
	f.mu.Lock()
	f.ready, f.reason = r, reason
	f.mu.Unlock()
}

func sampleState(t *testing.T) controller.DebugState {
	t.Helper()
	spec := &v1alpha1.ProxyListenerSpec{Protocol: "https", Address: ":443", Routes: []v1alpha1.ProxyRoute{{
		Host: "example.com", Upstream: "http://10.0.0.1:8080", CertificatePEM: "CERT", PrivateKeyPEM: "SECRET-KEY",
	}}}
	o, err := v1alpha1.NewObject("file", "desired.yaml", "https/:443", spec)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return controller.DebugState{
		Generation: 7, Ready: true, Time: first.Add(time.Hour),
		Sources: []controller.SourceStatus{{Name: "file", Generation: 7, Objects: 2}},
		Queues:  map[v1alpha1.Kind]int{v1alpha1.KindTunnel: 1},
		Objects: []controller.ObjectStatus{
			{Kind: v1alpha1.KindProxyListener, Key: "https/:443", Source: "file", Desired: o.Redacted(), Attempts: 1, FirstSeen: first,
				Conditions: []v1alpha1.Condition{{Type: v1alpha1.ConditionReady, Status: v1alpha1.ConditionTrue, Reason: v1alpha1.ReasonApplied}}},
			{Kind: v1alpha1.KindTunnel, Key: "dn1y5tt200", Source: "file", Attempts: 3, LastError: "tunnel dn1y5tt200: set peer: boom", FirstSeen: first,
				Conditions: []v1alpha1.Condition{{Type: v1alpha1.ConditionReady, Status: v1alpha1.ConditionFalse, Reason: v1alpha1.ReasonFailed}}},
		},
	}
}

func startServer(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	opts.Logger = logr.Discard()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		if err := s.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
	})
	return s, "http://" + s.Addr().String()
}

func get(t *testing.T, url, token string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestEndpoints(t *testing.T) {
	fs := &fakeState{state: sampleState(t), reason: "waiting for the first snapshot of source peerapi"}
	reg := prometheus.NewRegistry()
	if err := RegisterBuildInfo(reg, "v0.1.0", "abc1234"); err != nil {
		t.Fatal(err)
	}
	_, base := startServer(t, Options{State: fs, Gatherer: reg, Extra: map[string]http.Handler{
		"/status": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "compat") }),
	}})

	if code, body, _ := get(t, base+"/healthz", ""); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body, _ := get(t, base+"/readyz", ""); code != 503 || !strings.Contains(body, "peerapi") {
		t.Errorf("/readyz before ready = %d %q, want 503 with the reason", code, body)
	}
	fs.setReady(true, "")
	if code, body, _ := get(t, base+"/readyz", ""); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/readyz when ready = %d %q", code, body)
	}

	code, body, hdr := get(t, base+"/debug/state", "")
	if code != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("/debug/state = %d %s", code, hdr.Get("Content-Type"))
	}
	st, err := DecodeState(strings.NewReader(body))
	if err != nil {
		t.Fatalf("decode /debug/state: %v\n%s", err, body)
	}
	if st.Generation != 7 || len(st.Objects) != 2 || st.Queues[v1alpha1.KindTunnel] != 1 || st.Sources[0].Name != "file" {
		t.Errorf("/debug/state content wrong: %+v", st)
	}
	if strings.Contains(body, "SECRET-KEY") || !strings.Contains(body, v1alpha1.Redaction) {
		t.Errorf("/debug/state leaks the private key or lacks the redaction marker")
	}
	var pl *v1alpha1.ProxyListenerSpec
	for _, o := range st.Objects {
		if o.Desired != nil {
			pl, _ = o.Desired.Spec.(*v1alpha1.ProxyListenerSpec)
		}
	}
	if pl == nil || pl.Routes[0].Host != "example.com" || pl.Routes[0].PrivateKeyPEM != v1alpha1.Redaction {
		t.Errorf("desired spec not decoded by kind: %+v", pl)
	}

	code, body, _ = get(t, base+"/debug/state?kind=tunnel&key=dn1y5tt200", "")
	fs.mu.Lock()
	gk, gkey := fs.gotKind, fs.gotKey
	fs.mu.Unlock()
	if code != 200 || gk != "Tunnel" || gkey != "dn1y5tt200" {
		t.Errorf("filters not passed: code %d kind %q key %q", code, gk, gkey)
	}
	st, _ = DecodeState(strings.NewReader(body))
	if len(st.Objects) != 1 || st.Objects[0].Key != "dn1y5tt200" {
		t.Errorf("filtered state = %+v", st.Objects)
	}
	if code, body, _ := get(t, base+"/debug/state?kind=Bogus", ""); code != 400 || !strings.Contains(body, "Bogus") {
		t.Errorf("unknown kind = %d %q, want 400", code, body)
	}

	code, body, _ = get(t, base+"/metrics", "")
	if code != 200 || !strings.Contains(body, `edgeagent_build_info{commit="abc1234"`) {
		t.Errorf("/metrics = %d, build info missing:\n%s", code, body)
	}
	if code, body, _ := get(t, base+"/status", ""); code != 200 || body != "compat" {
		t.Errorf("extra endpoint = %d %q", code, body)
	}
	if code, _, _ := get(t, base+"/nope", ""); code != 404 {
		t.Errorf("unknown path = %d, want 404", code)
	}
	resp, err := http.Post(base+"/debug/state", "application/json", bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
		t.Errorf("POST /debug/state = %d Allow %q, want 405 with Allow", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestTokenAuth(t *testing.T) {
	fs := &fakeState{state: sampleState(t), ready: true}
	reg := prometheus.NewRegistry()
	_, base := startServer(t, Options{State: fs, Gatherer: reg, Token: "s3cret-token", Extra: map[string]http.Handler{
		"/sync": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "own auth") }),
	}})
	if code, _, _ := get(t, base+"/healthz", ""); code != 200 {
		t.Errorf("/healthz without token = %d, want 200", code)
	}
	for _, p := range []string{"/readyz", "/debug/state", "/metrics"} {
		for _, tok := range []string{"", "wrong", "s3cret-token-longer", "s3cret-toke"} {
			code, _, hdr := get(t, base+p, tok)
			if code != 401 || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s with token %q = %d, want 401 with WWW-Authenticate", p, tok, code)
			}
		}
		if code, _, _ := get(t, base+p, "s3cret-token"); code != 200 {
			t.Errorf("%s with the token = %d, want 200", p, code)
		}
	}
	// Basic auth with the token as password is not a bearer token.
	req, _ := http.NewRequest(http.MethodGet, base+"/debug/state", nil)
	req.SetBasicAuth("x", "s3cret-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("basic auth = %d, want 401", resp.StatusCode)
	}
	if code, body, _ := get(t, base+"/sync", ""); code != 200 || body != "own auth" {
		t.Errorf("extra endpoint behind ops token: %d %q", code, body)
	}
	// FetchState sends the token.
	if _, err := FetchState(context.Background(), base, ""); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("FetchState without token: err %v, want HTTP 401", err)
	}
	st, err := FetchState(context.Background(), strings.TrimPrefix(base, "http://"), "s3cret-token")
	if err != nil || st.Generation != 7 {
		t.Fatalf("FetchState with token = %+v, %v", st, err)
	}
}

func TestListenRule(t *testing.T) {
	fs := &fakeState{}
	for _, tc := range []struct {
		listen, token string
		ok            bool
	}{
		{"127.0.0.1:0", "", true},
		{"[::1]:0", "", true},
		{"localhost:0", "", true},
		{"0.0.0.0:9470", "", false},
		{":9470", "", false},
		{"[::]:9470", "", false},
		{"192.0.2.1:9470", "", false},
		{"edge.example:9470", "", false},
		{"0.0.0.0:9470", "tok", true},
		{"nonsense", "tok", false},
	} {
		_, err := New(Options{Listen: tc.listen, Token: tc.token, State: fs})
		if (err == nil) != tc.ok {
			t.Errorf("New(listen %q, token %q) err = %v, want ok=%v", tc.listen, tc.token, err, tc.ok)
		}
		if err != nil && !tc.ok && tc.token == "" && !strings.Contains(err.Error(), "requires a bearer token") {
			t.Errorf("error %q does not name the rule", err)
		}
	}
	if _, err := New(Options{Listen: "127.0.0.1:0"}); err == nil {
		t.Error("New without State succeeded")
	}
	// An extra endpoint that collides with a built-in one is an error, not a panic.
	_, err := New(Options{Listen: "127.0.0.1:0", State: fs, Extra: map[string]http.Handler{"/healthz": http.NotFoundHandler()}})
	if err == nil || !strings.Contains(err.Error(), "/healthz") {
		t.Errorf("colliding extra endpoint: err %v", err)
	}
}

func TestShutdownOnContextEnd(t *testing.T) {
	s, err := New(Options{Listen: "127.0.0.1:0", State: &fakeState{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	if err := s.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	cancel()
	sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
	defer c()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}
