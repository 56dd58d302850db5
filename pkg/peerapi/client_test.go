package peerapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgeagent/edgeagent/pkg/peerapi"
	"github.com/edgeagent/edgeagent/pkg/peerapi/peerapitest"
)

const (
	routerUUID  = "40ca6d20-048d-4cb2-89be-e94f99af6781"
	centerKey   = "center-shared-key"
	agentSecret = "agent-secret"
	wgKey       = "Jf7pGvVJ0vjPcQJ2y6kqH+0wLbM3wT8nC5rX3W6k3Ww="
)

func newCenter(t *testing.T) *peerapitest.Center {
	t.Helper()
	c := peerapitest.New(peerapitest.Options{RouterUUID: routerUUID, AgentAPIKey: centerKey, AgentSecret: agentSecret})
	t.Cleanup(c.Close)
	return c
}

func newClient(t *testing.T, base, secret string, mod func(*peerapi.ClientOptions)) *peerapi.Client {
	t.Helper()
	o := peerapi.ClientOptions{BaseURL: base, RouterUUID: routerUUID, Secret: secret, Timeout: 20 * time.Second, RetryBackoff: 10 * time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	c, err := peerapi.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func session(uuid, ifname string, st peerapi.SessionStatus) peerapi.Session {
	return peerapi.Session{UUID: uuid, ASN: 4242421080, Status: st, IPv4: "172.20.1.1", IPv6LinkLocal: "fe80::1080",
		Type: "wireguard", Extensions: []string{"mp-bgp", "extended-nexthop"}, Interface: ifname,
		Endpoint: "192.0.2.1:51820", Credential: wgKey, MTU: 1420, Policy: 2}
}

func TestClientCallsAgainstCenter(t *testing.T) {
	center := newCenter(t)
	s1 := session("11111111-1111-4111-8111-111111111111", "dn1y5tt200", peerapi.StatusQueuedForSetup)
	s1.Data = peerapi.SessionData{Passthrough: "tok", Info: "hi"}
	s2 := session("22222222-2222-4222-8222-222222222222", "dn1y5tt201", peerapi.StatusDisabled)
	s2.IPv4, s2.Endpoint = "", "" // null on the wire
	center.PutSession(s1)
	center.PutSession(s2)
	c := newClient(t, center.URL(), centerKey, nil)
	ctx := context.Background()

	got, err := c.Sessions(ctx)
	if err != nil {
		t.Fatalf("sessions: %v", err)
	}
	if len(got) != 2 || got[0].UUID != s1.UUID || got[1].UUID != s2.UUID {
		t.Fatalf("sessions = %+v", got)
	}
	if got[0].Data.Passthrough != "tok" || got[0].Interface != "dn1y5tt200" || !got[0].HasExtension("mp-bgp") || got[0].MTU != 1420 || got[0].Policy != 2 {
		t.Errorf("session 1 decoded wrong: %+v", got[0])
	}
	if got[1].IPv4 != "" || got[1].Endpoint != "" || got[1].Data != (peerapi.SessionData{}) || got[1].Status != peerapi.StatusDisabled {
		t.Errorf("session 2 (nulls, data \"\") decoded wrong: %+v", got[1])
	}

	if err := c.Modify(ctx, s1.UUID, peerapi.StatusProblem, "boom"); err != nil {
		t.Fatalf("modify: %v", err)
	}
	if s, _ := center.Session(s1.UUID); s.Status != peerapi.StatusProblem || s.LastError != "boom" {
		t.Errorf("center holds %v %q after modify", s.Status, s.LastError)
	}
	if err := c.Modify(ctx, s2.UUID, peerapi.StatusDeleted, ""); err != nil {
		t.Fatalf("modify 0: %v", err)
	}
	if _, ok := center.Session(s2.UUID); ok {
		t.Error("status 0 did not delete the session")
	}
	if err := c.Heartbeat(ctx, peerapi.Heartbeat{Version: "v", LoadAvg: "0.1 0.2 0.3", TCP: 3}); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if hb := center.Heartbeats(); len(hb) != 1 || hb[0].LoadAvg != "0.1 0.2 0.3" || hb[0].TCP != 3 {
		t.Errorf("heartbeats = %+v", hb)
	}
	if err := c.Report(ctx, nil); err != nil {
		t.Fatalf("report: %v", err)
	}
	if _, err := c.Probe(ctx); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if n := center.Unauthorized(); n != 0 {
		t.Errorf("center refused %d calls of the right bearer", n)
	}
}

func TestClientErrors(t *testing.T) {
	center := newCenter(t)
	s := session("11111111-1111-4111-8111-111111111111", "dn1y5tt200", peerapi.StatusEnabled)
	center.PutSession(s)
	ctx := context.Background()

	t.Run("wrong secret is 401 code 3, not retried", func(t *testing.T) {
		before := center.Calls("sessions")
		_, err := newClient(t, center.URL(), "wrong", nil).Sessions(ctx)
		var e *peerapi.Error
		if !errors.As(err, &e) || e.HTTPStatus != 401 || e.Code != peerapi.CodeUnauthorized {
			t.Fatalf("err = %v", err)
		}
		if n := center.Calls("sessions") - before; n != 1 {
			t.Errorf("%d attempts for a 401", n)
		}
	})
	t.Run("unknown router is 404", func(t *testing.T) {
		c, err := peerapi.NewClient(peerapi.ClientOptions{BaseURL: center.URL(), RouterUUID: "00000000-0000-4000-8000-000000000000", Secret: centerKey})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Sessions(ctx)
		var e *peerapi.Error
		if !errors.As(err, &e) || e.HTTPStatus != 404 || e.Code != peerapi.CodeNotFound {
			t.Fatalf("err = %v", err)
		}
	})
	// bcrypt is slow under -race: warm the center's check with a patient client, then share its
	// bearer with one that gives up quickly.
	warm := newClient(t, center.URL(), centerKey, nil)
	if _, err := warm.Sessions(ctx); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, center.URL(), centerKey, func(o *peerapi.ClientOptions) { o.Timeout = 300 * time.Millisecond; o.Bearer = warm.Bearer() })
	cases := []struct {
		name     string
		fault    peerapitest.Fault
		attempts int
		check    func(*peerapi.Error) bool
	}{
		{"500 is retried", peerapitest.Fault500, 3, func(e *peerapi.Error) bool { return e.HTTPStatus == 500 && e.Code == peerapi.CodeServerError }},
		{"hang times out and is retried", peerapitest.FaultHang, 3, func(e *peerapi.Error) bool { return e.HTTPStatus == 0 && errors.Is(e, context.DeadlineExceeded) }},
		{"garbage is not retried", peerapitest.FaultGarbage, 1, func(e *peerapi.Error) bool { return e.HTTPStatus == 200 && e.Err != nil }},
		{"code 6 with HTTP 200 is an error", peerapitest.FaultBadCode, 1, func(e *peerapi.Error) bool { return e.Code == peerapi.CodeRouterOperationFailed }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			center.SetFault(tc.fault, "sessions")
			defer center.SetFault(peerapitest.FaultNone)
			before := center.Calls("sessions")
			_, err := c.Sessions(ctx)
			var e *peerapi.Error
			if !errors.As(err, &e) || !tc.check(e) {
				t.Fatalf("err = %#v (%v)", err, err)
			}
			if n := center.Calls("sessions") - before; n != tc.attempts {
				t.Errorf("%d attempts, want %d", n, tc.attempts)
			}
			if !strings.HasPrefix(err.Error(), "peerapi sessions: ") {
				t.Errorf("error %q does not name the call", err)
			}
		})
	}
	t.Run("empty list is a good answer", func(t *testing.T) {
		center.SetFault(peerapitest.FaultEmptyList, "sessions")
		defer center.SetFault(peerapitest.FaultNone)
		got, err := c.Sessions(ctx)
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("got %v, %v", got, err)
		}
	})
	t.Run("modify validation", func(t *testing.T) {
		var e *peerapi.Error
		if err := c.Modify(ctx, s.UUID, 8, ""); !errors.As(err, &e) || e.HTTPStatus != 400 || e.Code != peerapi.CodeBadRequest {
			t.Errorf("status 8: %v", err)
		}
		if err := c.Modify(ctx, "nope", 2, ""); !errors.As(err, &e) || e.HTTPStatus != 404 {
			t.Errorf("unknown session: %v", err)
		}
	})
	t.Run("secret too long for bcrypt", func(t *testing.T) {
		_, err := peerapi.NewClient(peerapi.ClientOptions{BaseURL: center.URL(), RouterUUID: routerUUID, Secret: strings.Repeat("x", 40)})
		if err == nil || !strings.Contains(err.Error(), "72") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("context cancel stops retries", func(t *testing.T) {
		center.SetFault(peerapitest.Fault500, "sessions")
		defer center.SetFault(peerapitest.FaultNone)
		slow := newClient(t, center.URL(), centerKey, func(o *peerapi.ClientOptions) { o.RetryBackoff = time.Hour; o.Retries = 5 })
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if _, err := slow.Sessions(cctx); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestCenterCallsBackAfterModify(t *testing.T) {
	center := newCenter(t)
	s := session("11111111-1111-4111-8111-111111111111", "dn1y5tt200", peerapi.StatusQueuedForSetup)
	center.PutSession(s)
	synced := make(chan struct{}, 10)
	h, err := peerapi.NewAgentAPI(peerapi.AgentAPIOptions{RouterUUID: routerUUID, AgentSecret: agentSecret,
		TriggerSync: func() { synced <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	agent := httptest.NewServer(h)
	defer agent.Close()
	center.SetCallback(agent.URL)
	if err := newClient(t, center.URL(), centerKey, nil).Modify(context.Background(), s.UUID, peerapi.StatusEnabled, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-synced:
	case <-time.After(10 * time.Second):
		t.Fatal("no /sync callback after modify")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !center.WaitFor(ctx, func() bool { return len(center.Callbacks()) == 1 }) {
		t.Fatal("callback outcome not recorded")
	}
	if cb := center.Callbacks()[0]; cb.Status != http.StatusOK {
		t.Errorf("callback = %+v, want 200 (the agent accepts the center's bcrypt bearer)", cb)
	}
}

// BenchmarkCheckToken is the CPU cost of one agent API authentication (bcrypt cost 10), the
// reason the handler bounds concurrent checks and remembers good tokens.
func BenchmarkCheckToken(b *testing.B) {
	tok, err := peerapi.HashToken(agentSecret + routerUUID)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if !peerapi.CheckToken(tok, agentSecret+routerUUID) {
			b.Fatal("rejected")
		}
	}
}
