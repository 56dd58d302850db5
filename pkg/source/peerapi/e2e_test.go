package peerapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/bird"
	"github.com/edgeagent/edgeagent/pkg/bird/birdtest"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/netlab"
	"github.com/edgeagent/edgeagent/pkg/peerapi"
	"github.com/edgeagent/edgeagent/pkg/peerapi/peerapitest"
	"github.com/edgeagent/edgeagent/reconcilers/birdprotocol"
	"github.com/edgeagent/edgeagent/reconcilers/tunnel"
)

// nodeBIRDConf is the operator's bird.conf of a PeerAPI node: the peer dir is included and
// dnpeers, the filter functions and the import limit are defined.
const nodeBIRDConf = `router id 10.241.0.1;
timeformat protocol iso long;
protocol device {}
define BGP_ROUTES_IMPORT_LIMIT = 1000;
function import_filter_ebgp(int p_lat; int p_bw; int p_sec; int p_pol; int p_prb) { return true; }
function export_filter_ebgp(int p_lat; int p_bw; int p_sec; int p_pol; int p_prb) { return source = RTS_STATIC; }
template bgp dnpeers {
	local as 4242420001;
	hold time 6;
	connect retry time 1;
	error wait time 1, 2;
}
include "{{DIR}}/peers/*.conf";
`

// peerBIRDConf is the peer's side: a plain BGP session over the tunnel, exporting two routes.
const peerBIRDConf = `router id 10.241.0.2;
protocol device {}
protocol static s4 { ipv4; route 10.250.1.0/24 blackhole; route 10.250.2.0/24 blackhole; }
protocol bgp up_v4 {
	local as 4242420002; neighbor 172.23.41.1 as 4242420001; direct;
	hold time 6; connect retry time 1; error wait time 1, 2;
	ipv4 { import all; export where source = RTS_STATIC; };
}
`

// agent is one run of the node side: BIRD client and reconciler, manager and source. The tunnel
// reconciler is passed in (see the restart step).
type agent struct {
	mgr     *controller.Manager
	src     *Source
	birdRec *birdprotocol.Reconciler
	reg     *prometheus.Registry
	client  *bird.Client
	stop    func()
}

func startAgent(t *testing.T, sock, peerDir, stateDir string, tun *tunnel.Reconciler, client *peerapi.Client, tr TranslateOptions, log logr.Logger) *agent {
	t.Helper()
	bc, err := bird.New(bird.Options{Socket: sock, PoolSize: 2, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	br, err := birdprotocol.New(birdprotocol.Options{PeerConfDir: peerDir, Client: bc, Registerer: reg,
		RefreshNotEstablished: 500 * time.Millisecond, RefreshEstablished: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := controller.New(controller.Options{Logger: log.WithName("manager"), ResyncInterval: time.Hour}, tun, br)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := peerapi.OpenPortReservations(peerapi.PortOptions{StateDir: stateDir, Min: 43000, Max: 43999})
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(Options{Client: client, StateDir: stateDir, SyncInterval: time.Hour, Translate: tr, Ports: ports,
		Objects: mgr.Store(), ObjectsReady: func() bool { ok, _ := mgr.Ready(); return ok },
		ReportBackoff: 100 * time.Millisecond, HeldRecheck: 500 * time.Millisecond, Logger: log.WithName("source")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Run(ctx, src); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	a := &agent{mgr: mgr, src: src, birdRec: br, reg: reg, client: bc}
	stopped := false
	a.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			bc.Close()
		}
	}
	t.Cleanup(a.stop)
	return a
}

func (a *agent) configures(t *testing.T) float64 {
	t.Helper()
	mfs, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "edgeagent_bird_configure_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func keyPair(t *testing.T) (string, wgtypes.Key) {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "wg.key")
	if err := os.WriteFile(p, []byte(k.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, k
}

// TestEndToEnd drives the whole path: fake center → source → manager → tunnel and BIRD
// reconcilers → a userspace WireGuard tunnel and a BGP session to a real BIRD in another
// namespace → status reports back to the center.
func TestEndToEnd(t *testing.T) {
	birdtest.Require(t)
	netlab.RequireRoot(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("needs /dev/net/tun for userspace WireGuard: %v", err)
	}
	log := testr.NewWithOptions(t, testr.Options{Verbosity: 0})
	node := netlab.NewNamespace(t, "pae-n")
	peerNS := netlab.NewNamespace(t, "pae-p")
	netlab.Veth(t, node, peerNS, "10.241.0.1/24", "10.241.0.2/24")
	nodeBIRD := birdtest.Start(t, birdtest.Options{Config: nodeBIRDConf, Starter: node.Start})
	peerBIRD := birdtest.Start(t, birdtest.Options{Config: peerBIRDConf, Starter: peerNS.Start})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	nodeKeyFile, nodeKey := keyPair(t)
	peerKeyFile, peerKey := keyPair(t)
	ifNode, ifPeer := "dn"+netlab.RandomSuffix(8), "dn"+netlab.RandomSuffix(8)

	// Node side.
	center, client := newCenterAndClient(t)
	tunRec, err := tunnel.New(tunnel.Options{NetNS: node.NsHandle(), WireGuardMode: tunnel.ModeUserspace, Logger: log.WithName("tunnel")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tunRec.Close() })
	stateDir := t.TempDir()
	tr := TranslateOptions{IPv4: "172.23.41.1", IPv6LinkLocal: "fe80::4101",
		WireGuard: WireGuardOptions{PrivateKeyPath: nodeKeyFile, PersistentKeepalive: 5,
			AllowedIPs: []string{"172.16.0.0/12", "fd00::/8", "fe80::/10"}, BandwidthCommunity: 24, SecurityCommunity: 34},
		PassthroughSecret: jwtSecret}
	ag := startAgent(t, nodeBIRD.Socket, nodeBIRD.PeerDir, stateDir, tunRec, client, tr, log)

	// The agent API, pointed at whichever agent run is current.
	var cur atomic.Pointer[Source]
	cur.Store(ag.src)
	apiPorts, err := peerapi.OpenPortReservations(peerapi.PortOptions{StateDir: stateDir, Min: 43000, Max: 43999})
	if err != nil {
		t.Fatal(err)
	}
	h, err := peerapi.NewAgentAPI(peerapi.AgentAPIOptions{RouterUUID: routerUUID, AgentSecret: agentSecret, PassthroughSecret: jwtSecret,
		Ports: apiPorts, TriggerSync: func() { cur.Load().TriggerSync() }, Status: func() peerapi.StatusData { return cur.Load().Status() },
		WireGuardPublicKey: nodeKey.PublicKey().String(), WireGuardEndpointHost: "10.241.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := peerapi.NewAgentServer(peerapi.ServerOptions{Address: "127.0.0.1:0", Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	sdone := make(chan struct{})
	go func() { defer close(sdone); _ = srv.Run(sctx) }()
	t.Cleanup(func() { scancel(); <-sdone })
	agentURL := "http://" + srv.Addr().String()
	center.SetCallback(agentURL)
	agentBearer, err := peerapi.HashToken(agentSecret + routerUUID)
	if err != nil {
		t.Fatal(err)
	}
	callAgent := func(method, path, body string) []byte {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(ctx, method, agentURL+path, rd)
		req.Header.Set("Authorization", "Bearer "+agentBearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return b
	}

	// The user asks for the router's info: the agent reserves a port and signs it.
	var info struct {
		Data peerapi.InfoData `json:"data"`
	}
	if err := json.Unmarshal(callAgent("POST", "/info", `{"asn":4242420002,"data":{"linkType":"wireguard","bgpExtensions":[]}}`), &info); err != nil {
		t.Fatal(err)
	}
	claims, err := peerapi.ParsePassthrough(jwtSecret, info.Data.Passthrough, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	// Peer side: its own tunnel towards the port the agent handed out.
	peerTun, err := tunnel.New(tunnel.Options{NetNS: peerNS.NsHandle(), WireGuardMode: tunnel.ModeUserspace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peerTun.Close() })
	peerSpec := &v1alpha1.TunnelSpec{Type: v1alpha1.TunnelWireGuard, LocalIPv4: "172.23.41.2", PeerIPv4: "172.23.41.1",
		WireGuard: &v1alpha1.WireGuardSpec{PrivateKeyFile: peerKeyFile, ListenPort: 51820, PeerPublicKey: nodeKey.PublicKey().String(),
			Endpoint: fmt.Sprintf("10.241.0.1:%d", claims.Port), PersistentKeepalive: 5, AllowedIPs: []string{"172.16.0.0/12"}}}
	po, err := v1alpha1.NewObject("test", "", ifPeer, peerSpec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peerTun.Reconcile(ctx, ifPeer, po); err != nil {
		t.Fatal(err)
	}

	sessUUID := "5e55e55e-0000-4000-8000-000000000001"
	s := peerapi.Session{UUID: sessUUID, ASN: 4242420002, Status: peerapi.StatusQueuedForSetup, IPv4: "172.23.41.2",
		Type: "wireguard", Interface: ifNode, Endpoint: "10.241.0.2:51820", Credential: peerKey.PublicKey().String(),
		Data: peerapi.SessionData{Passthrough: info.Data.Passthrough}, MTU: 1420, Policy: 0}
	protoName := "DN42_4242420002_" + ifNode + "_v4"
	store := func() *controller.Store { return cur.Load().o.Objects.(*controller.Store) }
	established := func() (bird.Protocol, bool) {
		ps, err := ag.client.ShowProtocolsAll(ctx, protoName)
		if err != nil || len(ps) != 1 {
			return bird.Protocol{}, false
		}
		return ps[0], ps[0].BGPState == "Established"
	}
	reports := func(st peerapi.SessionStatus) int {
		n := 0
		for _, r := range center.Reports() {
			if r.Session == sessUUID && r.Status == st {
				n++
			}
		}
		return n
	}
	ifindex := func() int {
		l, err := node.Handle().LinkByName(ifNode)
		if err != nil {
			return 0
		}
		return l.Attrs().Index
	}
	mtu := func() int {
		l, err := node.Handle().LinkByName(ifNode)
		if err != nil {
			return 0
		}
		return l.Attrs().MTU
	}

	t.Run("status 4 becomes a tunnel, an Established session and a report of 2", func(t *testing.T) {
		center.PutSession(s)
		eventually(t, "report 2", 60*time.Second, func() bool { return reports(peerapi.StatusEnabled) == 1 })
		eventually(t, "BGP Established", 60*time.Second, func() bool { _, ok := established(); return ok })
		if got, _ := center.Session(sessUUID); got.Status != peerapi.StatusEnabled {
			t.Errorf("center status %v", got.Status)
		}
		st, _ := store().Get(v1alpha1.KindTunnel, ifNode)
		if st.Desired.Spec.(*v1alpha1.TunnelSpec).WireGuard.ListenPort != claims.Port {
			t.Errorf("listen port %d, want the /info port %d", st.Desired.Spec.(*v1alpha1.TunnelSpec).WireGuard.ListenPort, claims.Port)
		}
	})
	if t.Failed() {
		t.Fatalf("BIRD node log:\n%s\nBIRD peer log:\n%s", nodeBIRD.Log(), peerBIRD.Log())
	}
	p0, _ := established()
	idx0 := ifindex()

	t.Run("MTU change converges in place", func(t *testing.T) {
		m := s
		m.MTU = 1380 // a user modification: the center queues it for setup again
		center.PutSession(m)
		eventually(t, "MTU 1380", 30*time.Second, func() bool { return mtu() == 1380 })
		eventually(t, "second report 2", 30*time.Second, func() bool { return reports(peerapi.StatusEnabled) == 2 })
		if ifindex() != idx0 {
			t.Errorf("interface recreated: ifindex %d -> %d", idx0, ifindex())
		}
		p, ok := established()
		if !ok || !p.Since.Equal(p0.Since) {
			t.Errorf("BGP flapped: %+v (since %v, was %v)", p, p.Since, p0.Since)
		}
		s = m
	})

	t.Run("an invalid session is reported 7 and touches nothing", func(t *testing.T) {
		links, _ := node.Handle().LinkList()
		bad := s
		bad.UUID, bad.Interface, bad.Data = "5e55e55e-0000-4000-8000-00000000000b", "eth0", peerapi.SessionData{}
		center.PutSession(bad)
		var r peerapi.ModifyRequest
		eventually(t, "report 7", 30*time.Second, func() bool {
			for _, x := range center.Reports() {
				if x.Session == bad.UUID {
					r = x
					return true
				}
			}
			return false
		})
		if r.Status != 7 || !strings.HasPrefix(r.LastError, "invalid configuration: ") {
			t.Errorf("report %+v", r)
		}
		after, _ := node.Handle().LinkList()
		if len(after) != len(links) {
			t.Errorf("links %d -> %d", len(links), len(after))
		}
		if _, ok := store().Get(v1alpha1.KindTunnel, "eth0"); ok {
			t.Error("an object for eth0 reached the controller")
		}
	})

	t.Run("center failures and an empty list change nothing", func(t *testing.T) {
		for _, f := range []struct {
			name  string
			fault peerapitest.Fault
		}{{"500", peerapitest.Fault500}, {"timeout", peerapitest.FaultHang}, {"garbage", peerapitest.FaultGarbage}, {"empty list", peerapitest.FaultEmptyList}} {
			center.SetFault(f.fault, "sessions")
			n := cur.Load().Syncs()
			callAgent("GET", "/sync", "")
			eventually(t, f.name+" sync", 30*time.Second, func() bool { return cur.Load().Syncs() > n })
			if f.fault == peerapitest.FaultEmptyList {
				eventually(t, "held deletion", 10*time.Second, func() bool {
					st, _ := store().Get(v1alpha1.KindTunnel, ifNode)
					return st.Held
				})
			}
			time.Sleep(500 * time.Millisecond) // let a wrong deletion, if any, happen
			if ifindex() != idx0 || mtu() != 1380 {
				t.Errorf("%s: interface changed (ifindex %d, mtu %d)", f.name, ifindex(), mtu())
			}
			if p, ok := established(); !ok || !p.Since.Equal(p0.Since) {
				t.Errorf("%s: BGP changed: %+v", f.name, p)
			}
			center.SetFault(peerapitest.FaultNone)
		}
		n := cur.Load().Syncs()
		cur.Load().TriggerSync()
		eventually(t, "recovery sync", 30*time.Second, func() bool { return cur.Load().Syncs() > n })
		eventually(t, "hold released", 10*time.Second, func() bool {
			st, _ := store().Get(v1alpha1.KindTunnel, ifNode)
			return !st.Held && st.Ready()
		})
		if got := reports(peerapi.StatusEnabled); got != 2 {
			t.Errorf("failures caused reports: %d reports of 2", got)
		}
	})

	t.Run("a /sync during a sync is not lost", func(t *testing.T) {
		center.SetFault(peerapitest.FaultHang, "sessions")
		calls := center.Calls("sessions")
		callAgent("GET", "/sync", "")
		eventually(t, "a hung fetch", 10*time.Second, func() bool { return center.Calls("sessions") > calls })
		m := s
		m.MTU = 1400
		center.PutSession(m) // its /sync callback arrives while the fetch hangs
		eventually(t, "the callback", 10*time.Second, func() bool {
			cbs := center.Callbacks()
			return len(cbs) > 0 && cbs[len(cbs)-1].Status == 200
		})
		center.SetFault(peerapitest.FaultNone)
		eventually(t, "MTU 1400 without another trigger", 30*time.Second, func() bool { return mtu() == 1400 })
		if ifindex() != idx0 {
			t.Error("interface recreated")
		}
		s = m
		eventually(t, "report 2", 30*time.Second, func() bool { return reports(peerapi.StatusEnabled) == 3 })
	})

	top := t
	t.Run("restart with sessions up changes nothing", func(t *testing.T) {
		eventually(t, "converged", 30*time.Second, func() bool {
			st, _ := store().Get(v1alpha1.KindTunnel, ifNode)
			return st.Ready()
		})
		p1, _ := established()
		before := tunRec.Writes()
		nReports := len(center.Reports())
		ag.stop()
		// A new manager, source, BIRD client and BIRD reconciler on the same state directory.
		// The tunnel reconciler instance is kept: userspace WireGuard devices live in the agent
		// process, so only kernel interfaces (kernel WireGuard, GRE) survive a real restart.
		ag = startAgent(top, nodeBIRD.Socket, nodeBIRD.PeerDir, stateDir, tunRec, client, tr, log)
		cur.Store(ag.src)
		why := ""
		eventually(t, "manager ready", 30*time.Second, func() bool {
			ok, reason := ag.mgr.Ready()
			if reason != why {
				why = reason
				t.Logf("manager not ready yet: %s", reason)
			}
			return ok
		})
		n := ag.src.Syncs()
		ag.src.TriggerSync()
		eventually(t, "a sync", 30*time.Second, func() bool { return ag.src.Syncs() > n })
		eventually(t, "converged again", 30*time.Second, func() bool {
			st, _ := store().Get(v1alpha1.KindTunnel, ifNode)
			b, _ := store().Get(v1alpha1.KindBIRDProtocol, ifNode)
			return st.Ready() && b.Ready()
		})
		if w := tunRec.Writes(); w.Total() != before.Total() {
			t.Errorf("restart wrote to the tunnel: %+v -> %+v", before, w)
		}
		if ifindex() != idx0 {
			t.Error("interface recreated")
		}
		if p, ok := established(); !ok || !p.Since.Equal(p1.Since) {
			t.Errorf("BGP flapped on restart: %+v", p)
		}
		if n := len(center.Reports()) - nReports; n != 0 {
			t.Errorf("restart made %d reports", n)
		}
		if n := ag.configures(t); n != 0 {
			t.Errorf("restart sent %v BIRD configure commands, want 0", n)
		}
	})

	t.Run("status 5 tears down and reports 0", func(t *testing.T) {
		center.SetStatus(sessUUID, peerapi.StatusQueuedForDelete)
		eventually(t, "report 0", 60*time.Second, func() bool { return reports(peerapi.StatusDeleted) == 1 })
		if ifindex() != 0 {
			t.Error("interface still there after the 0 report")
		}
		if _, err := os.Stat(filepath.Join(nodeBIRD.PeerDir, ifNode+".conf")); !os.IsNotExist(err) {
			t.Errorf("peer file still there: %v", err)
		}
		if _, ok := center.Session(sessUUID); ok {
			t.Error("center kept the session")
		}
		eventually(t, "protocol gone", 20*time.Second, func() bool {
			ps, err := ag.client.ShowProtocolsAll(ctx, protoName)
			return err == nil && len(ps) == 0
		})
	})
}
