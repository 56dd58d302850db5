package peerapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/edgeagent/edgeagent/pkg/peerapi"
)

var jwtSecret = []byte("passthrough-secret")

type agentEnv struct {
	url    string
	ports  *peerapi.PortReservations
	syncs  atomic.Int32
	now    time.Time
	bearer string
}

// startAgent serves the agent API on a loopback port through the real server middleware.
func startAgent(t *testing.T, dir string, bearer string) *agentEnv {
	t.Helper()
	env := &agentEnv{now: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), bearer: bearer}
	ports, err := peerapi.OpenPortReservations(peerapi.PortOptions{StateDir: dir, Min: 40000, Max: 40009})
	if err != nil {
		t.Fatal(err)
	}
	env.ports = ports
	h, err := peerapi.NewAgentAPI(peerapi.AgentAPIOptions{
		RouterUUID: routerUUID, AgentSecret: agentSecret, PassthroughSecret: jwtSecret, PassthroughTTL: 48 * time.Hour,
		Ports: ports, TriggerSync: func() { env.syncs.Add(1) },
		Status: func() peerapi.StatusData {
			return peerapi.StatusData{Sessions: map[string]peerapi.Session{"u1": {UUID: "u1", ASN: 4242420001}}}
		},
		WireGuardPublicKey: wgKey, WireGuardEndpointHost: "2001:db8::1", GREEndpointDesc4: "203.0.113.1",
		Now: func() time.Time { return env.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := peerapi.NewAgentServer(peerapi.ServerOptions{Address: "127.0.0.1:0", Handler: h, Signature: "edgeagent-test", BodyLimit: 4096})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	env.url = "http://" + srv.Addr().String()
	return env
}

type answer struct {
	status int
	header http.Header
	body   string
	env    struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
}

func do(t *testing.T, method, url, auth, body string, hdr map[string]string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	_ = json.Unmarshal(b, &a.env)
	return a
}

func TestAgentAPIAuth(t *testing.T) {
	good, err := peerapi.HashToken(agentSecret + routerUUID)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := peerapi.HashToken("someone-else" + routerUUID)
	env := startAgent(t, t.TempDir(), good)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": routerUUID}).SignedString([]byte(agentSecret))
	cases := []struct {
		name, token string
		want        int
	}{
		{"bcrypt of agentSecret+uuid", good, 200},
		{"plain center secret", centerKey, 401},
		{"plain agent secret", agentSecret, 401},
		{"bcrypt of another secret", other, 401},
		{"a JWT signed with the agent secret", forged, 401},
		{"no token", "", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, "GET", env.url+"/status", tc.token, "", nil)
			if a.status != tc.want {
				t.Fatalf("status %d, want %d (%s)", a.status, tc.want, a.body)
			}
			if tc.want == 401 && (a.env.Code != 401 || a.env.Message != "Unauthorized") {
				t.Errorf("401 envelope = %s", a.body)
			}
			if a.header.Get("Server") != "edgeagent-test" {
				t.Errorf("Server header %q", a.header.Get("Server"))
			}
		})
	}
}

func TestAgentAPIRoutes(t *testing.T) {
	good, _ := peerapi.HashToken(agentSecret + routerUUID)
	env := startAgent(t, t.TempDir(), good)

	a := do(t, "GET", env.url+"/status", good, "", nil)
	var st peerapi.StatusData
	if err := json.Unmarshal(a.env.Data, &st); err != nil || a.env.Code != 0 || st.Sessions["u1"].ASN != 4242420001 || st.Metrics == nil {
		t.Errorf("/status = %d %s", a.status, a.body)
	}
	a = do(t, "GET", env.url+"/sync", good, "", nil)
	if a.status != 200 || a.env.Code != 0 || a.env.Message != "Sync initiated" || env.syncs.Load() != 1 {
		t.Errorf("/sync = %d %s, syncs %d", a.status, a.body, env.syncs.Load())
	}
	if a := do(t, "POST", env.url+"/sync", good, "", nil); a.status != 405 || a.header.Get("Allow") != "GET" || a.env.Code != 405 {
		t.Errorf("POST /sync = %d %s allow %q", a.status, a.body, a.header.Get("Allow"))
	}
	if a := do(t, "GET", env.url+"/info", good, "", nil); a.status != 405 || a.header.Get("Allow") != "POST" {
		t.Errorf("GET /info = %d allow %q", a.status, a.header.Get("Allow"))
	}
	for _, p := range []string{"/status/", "/Status", "/sync/x", "/"} {
		if a := do(t, "GET", env.url+p, good, "", nil); a.status != 404 || a.body != "404 page not found\n" {
			t.Errorf("GET %s = %d %q", p, a.status, a.body)
		}
	}
	if a := do(t, "POST", env.url+"/info", good, `{"asn":1,"data":{"linkType":"openvpn"}}`, nil); a.status != 400 || a.env.Message != "Link(Interface) type not supported" {
		t.Errorf("openvpn /info = %d %s", a.status, a.body)
	}
	if a := do(t, "POST", env.url+"/info", good, `{"asn":`, nil); a.status != 400 {
		t.Errorf("bad JSON /info = %d %s", a.status, a.body)
	}
	if a := do(t, "POST", env.url+"/info", good, `{"asn":1,"pad":"`+strings.Repeat("x", 5000)+`"}`, nil); a.status != 413 {
		t.Errorf("oversized /info = %d %s", a.status, a.body)
	}
	// Real IP: the test client is 127.0.0.1, a trusted proxy; an unspecified forwarded IP is refused.
	if a := do(t, "GET", env.url+"/sync", good, "", map[string]string{"X-Forwarded-For": "0.0.0.0"}); a.status != 400 {
		t.Errorf("unspecified X-Forwarded-For = %d", a.status)
	}
	if a := do(t, "GET", env.url+"/sync", good, "", map[string]string{"X-Real-IP": "192.0.2.7"}); a.status != 200 {
		t.Errorf("X-Real-IP = %d", a.status)
	}
}

func infoCall(t *testing.T, env *agentEnv, body string) (peerapi.InfoData, *peerapi.PassthroughClaims) {
	t.Helper()
	a := do(t, "POST", env.url+"/info", env.bearer, body, nil)
	if a.status != 200 || a.env.Code != 0 {
		t.Fatalf("/info = %d %s", a.status, a.body)
	}
	var d peerapi.InfoData
	if err := json.Unmarshal(a.env.Data, &d); err != nil {
		t.Fatal(err)
	}
	c, err := peerapi.ParsePassthrough(jwtSecret, d.Passthrough, env.now)
	if err != nil {
		t.Fatalf("passthrough: %v", err)
	}
	return d, c
}

func TestAgentAPIInfoIssuesExpiringTokensAndReservesPorts(t *testing.T) {
	good, _ := peerapi.HashToken(agentSecret + routerUUID)
	dir := t.TempDir()
	env := startAgent(t, dir, good)

	d, c := infoCall(t, env, `{"asn":4242421080,"data":{"linkType":"wireguard","bgpExtensions":["mp-bgp"]}}`)
	if c.ASN != 4242421080 || c.Port < 40000 || c.Port > 40009 {
		t.Fatalf("claims %+v", c)
	}
	if c.ExpiresAt == nil || !c.ExpiresAt.Time.Equal(env.now.Add(48*time.Hour)) {
		t.Errorf("exp = %v, want now+48h", c.ExpiresAt)
	}
	if !strings.Contains(d.Info, "[2001:db8::1]:"+strconv.Itoa(c.Port)) || !strings.Contains(d.Info, wgKey) {
		t.Errorf("info text %q lacks the bracketed endpoint and key", d.Info)
	}
	if _, err := peerapi.ParsePassthrough([]byte("other"), d.Passthrough, env.now); err == nil {
		t.Error("token verified with the wrong key")
	}
	if _, err := peerapi.ParsePassthrough(jwtSecret, d.Passthrough, env.now.Add(49*time.Hour)); err == nil {
		t.Error("token still valid after its expiry")
	}
	_, g := infoCall(t, env, `{"asn":4242421080,"data":{"linkType":"gre"}}`)
	if g.Port != 0 || g.ASN != 4242421080 {
		t.Errorf("gre claims %+v", g)
	}

	// A second agent on the same state directory (a restart) never hands out a held port again.
	seen := map[int]bool{c.Port: true}
	env2 := startAgent(t, dir, good)
	env2.now = env.now.Add(time.Hour)
	for i := 0; i < 9; i++ {
		_, c2 := infoCall(t, env2, `{"asn":4242420002,"data":{"linkType":"wireguard"}}`)
		if seen[c2.Port] {
			t.Fatalf("port %d handed out twice", c2.Port)
		}
		seen[c2.Port] = true
	}
	// The range (10 ports) is now full.
	if a := do(t, "POST", env2.url+"/info", good, `{"asn":4242420002,"data":{"linkType":"wireguard"}}`, nil); a.status != 500 {
		t.Errorf("/info with no free port = %d %s", a.status, a.body)
	}
	if _, err := os.Stat(filepath.Join(dir, "wireguard-ports.json")); err != nil {
		t.Errorf("reservations not persisted: %v", err)
	}
}

func TestAgentServerUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "agentsock")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "agent.sock")
	h, _ := peerapi.NewAgentAPI(peerapi.AgentAPIOptions{RouterUUID: routerUUID, AgentSecret: agentSecret})
	srv, err := peerapi.NewAgentServer(peerapi.ServerOptions{Network: "unix", Address: sock, Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o666 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %v mode %v", err, fi.Mode())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Get("http://agent/sync")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("unauthenticated /sync over unix = %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}
