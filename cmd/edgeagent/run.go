package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/bird"
	"github.com/edgeagent/edgeagent/pkg/config"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/dnsserver"
	"github.com/edgeagent/edgeagent/pkg/geoip"
	"github.com/edgeagent/edgeagent/pkg/logging"
	"github.com/edgeagent/edgeagent/pkg/ops"
	"github.com/edgeagent/edgeagent/pkg/peerapi"
	"github.com/edgeagent/edgeagent/pkg/source/file"
	peerapisource "github.com/edgeagent/edgeagent/pkg/source/peerapi"
	"github.com/edgeagent/edgeagent/reconcilers/birdprotocol"
	"github.com/edgeagent/edgeagent/reconcilers/dnszone"
	"github.com/edgeagent/edgeagent/reconcilers/tunnel"
)

// agent is everything one run (or plan) of edgeagent is made of.
type agent struct {
	cfg         *config.Config
	log         logr.Logger
	reg         *prometheus.Registry
	manager     *controller.Manager
	sources     []controller.Source
	planTimeout time.Duration
	// planning is set for `plan`: sources judge their input fresh.
	planning bool
	// starters run with the agent (servers, heartbeats); each returns when ctx ends.
	starters []func(ctx context.Context) error
	// closers release engines in reverse order.
	closers []func() error
	logDone func() error
}

func (a *agent) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.log.Error(err, "close")
		}
	}
	if a.logDone != nil {
		_ = a.logDone()
	}
}

// defaultConfigPaths are tried in order when -c is not given: edgeagent's own, then the PeerAPI
// agent's default (config.json in the working directory), so a drop-in needs no new flag.
var defaultConfigPaths = []string{"/etc/edgeagent/edgeagent.yaml", "config.json"}

// setup parses flags and the config and builds the engines, reconcilers, manager and sources.
func setup(ctx context.Context, name string, args []string, stderr io.Writer) (*agent, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "config file: native YAML or a PeerAPI agent config.json (default "+strings.Join(defaultConfigPaths, ", then ")+")")
	flags := config.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	path := *cfgPath
	if path == "" {
		for _, p := range defaultConfigPaths {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
	}
	cfg := config.Default()
	var warnings []config.Warning
	if path != "" {
		var err error
		if cfg, warnings, err = config.Load(path); err != nil {
			return nil, err
		}
	}
	cfg.ApplyOverrides(flags.Overrides())
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	out, logDone, err := logging.OpenOutput(cfg.Log.File, cfg.Log.Console, stderr)
	if err != nil {
		return nil, err
	}
	log, err := logging.New(cfg.Log.Format, cfg.Log.Level, out)
	if err != nil {
		_ = logDone()
		return nil, err
	}
	logging.RouteKlog(log)
	a := &agent{cfg: cfg, log: log, reg: prometheus.NewRegistry(), logDone: logDone, planTimeout: 30 * time.Second, planning: name == "plan"}
	if path == "" {
		log.Info("no config file found; using the defaults", "tried", defaultConfigPaths)
	} else {
		log.Info("loaded config", "file", path)
	}
	for _, w := range warnings {
		log.Info("config warning: " + w.String())
	}
	if err := a.build(ctx); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// build wires the engines, reconcilers, manager and sources the config enables.
func (a *agent) build(ctx context.Context) error {
	cfg, log := a.cfg, a.log
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := ops.RegisterBuildInfo(a.reg, version, ""); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory %s: %w", cfg.StateDir, err)
	}
	var recs []controller.Reconciler
	var birdClient *bird.Client

	if cfg.Tunnel.Enabled {
		r, err := tunnel.New(tunnel.Options{
			Logger: log.WithName("tunnel"), ManagedPrefix: cfg.Tunnel.ManagedPrefix,
			StaleHandshake: cfg.Tunnel.StaleHandshake, WireGuardMode: cfg.Tunnel.WireGuardMode,
		})
		if err != nil {
			return fmt.Errorf("tunnel reconciler: %w", err)
		}
		a.closers = append(a.closers, r.Close)
		recs = append(recs, r)
	}
	if cfg.BIRD.Enabled {
		c, err := bird.New(bird.Options{Socket: cfg.BIRD.ControlSocket, PoolSize: cfg.BIRD.PoolSize, Logger: log.WithName("bird")})
		if err != nil {
			return fmt.Errorf("bird client: %w", err)
		}
		birdClient = c
		a.closers = append(a.closers, c.Close)
		r, err := birdprotocol.New(birdprotocol.Options{
			Logger: log.WithName("birdprotocol"), PeerConfDir: cfg.BIRD.PeerConfDir, TemplateFile: cfg.BIRD.TemplateFile,
			Client: c, Registerer: a.reg, AdoptHeaders: []string{"iEdon PeerAPI"},
		})
		if err != nil {
			return fmt.Errorf("birdprotocol reconciler: %w", err)
		}
		recs = append(recs, r)
	}
	if cfg.DNS.Enabled {
		var db *geoip.DB
		if cfg.DNS.GeoIPDatabase != "" {
			var err error
			if db, err = geoip.Open(cfg.DNS.GeoIPDatabase); err != nil {
				return fmt.Errorf("dns: geoip database: %w", err)
			}
			a.closers = append(a.closers, db.Close)
		}
		srv, err := dnsserver.New(dnsserver.Options{
			Addr: cfg.DNS.Listen, UDPSockets: cfg.DNS.UDPSockets, GeoIP: db, Logger: log.WithName("dns"), Registerer: a.reg,
		})
		if err != nil {
			return fmt.Errorf("dns server: %w", err)
		}
		a.starters = append(a.starters, func(ctx context.Context) error {
			if err := srv.Start(ctx); err != nil {
				return fmt.Errorf("dns server: %w", err)
			}
			<-ctx.Done()
			return nil
		})
		a.closers = append(a.closers, srv.Close)
		r, err := dnszone.New(dnszone.Options{Server: srv, Logger: log.WithName("dnszone")})
		if err != nil {
			return fmt.Errorf("dnszone reconciler: %w", err)
		}
		recs = append(recs, r)
	}

	workers := map[v1alpha1.Kind]int{}
	for k, n := range cfg.Controller.Workers {
		workers[v1alpha1.Kind(k)] = n
	}
	m, err := controller.New(controller.Options{
		Logger: log.WithName("controller"), Registerer: a.reg, MetricsProvider: ops.NewWorkqueueMetrics(a.reg),
		ResyncInterval: cfg.Controller.ResyncInterval, Workers: workers,
		BackoffBase: cfg.Controller.Backoff.Base, BackoffMax: cfg.Controller.Backoff.Max,
		QPS: cfg.Controller.RateLimit.QPS, Burst: cfg.Controller.RateLimit.Burst,
		Guard: controller.GuardOptions{
			MaxFraction: cfg.Controller.DeletionGuard.MaxFraction, MinCount: cfg.Controller.DeletionGuard.MinCount,
		},
		AllowMassDelete: cfg.Controller.DeletionGuard.AllowMassDelete, ShutdownTimeout: cfg.Controller.ShutdownTimeout,
	}, recs...)
	if err != nil {
		return err
	}
	a.manager = m

	if cfg.Sources.File.Path != "" {
		stateDir := cfg.StateDir
		if a.planning {
			// plan judges the file as it is now: a persisted last good answer must not mask it.
			stateDir = ""
		}
		s, err := file.New(file.Options{
			Path: cfg.Sources.File.Path, Interval: cfg.Sources.File.Interval, StateDir: stateDir, Logger: log.WithName("source/file"),
		})
		if err != nil {
			return err
		}
		a.sources = append(a.sources, s)
	}
	if cfg.Sources.PeerAPI.Enabled {
		if err := a.buildPeerAPI(birdClient); err != nil {
			return err
		}
	}
	if len(a.sources) == 0 {
		log.Info("no source is configured: nothing is desired, nothing will be changed; set sources.file.path or sources.peerapi")
	}
	return nil
}

// buildPeerAPI wires the PeerAPI source, its agent API server and its heartbeat.
func (a *agent) buildPeerAPI(birdClient *bird.Client) error {
	p := a.cfg.Sources.PeerAPI
	log := a.log.WithName("peerapi")
	client, err := peerapi.NewClient(peerapi.ClientOptions{
		BaseURL: p.APIURL, RouterUUID: p.RouterUUID, Secret: p.Secret, Timeout: p.RequestTimeout,
		UserAgent: "edgeagent/" + version, Logger: log,
	})
	if err != nil {
		return err
	}
	ports, err := peerapi.OpenPortReservations(peerapi.PortOptions{StateDir: a.cfg.StateDir})
	if err != nil {
		return err
	}
	blacklist, err := peerapisource.ParseBlacklist(p.InterfaceIPBlacklist)
	if err != nil {
		return fmt.Errorf("sources.peerapi.interfaceIPBlacklist: %w", err)
	}
	sysctls := map[string]string{
		"ipv4.forwarding": boolSysctl(p.Sysctl.IPv4Forwarding), "ipv6.forwarding": boolSysctl(p.Sysctl.IPv6Forwarding),
		"ipv6.accept_ra": boolSysctl(p.Sysctl.IPv6AcceptRA), "ipv6.autoconf": boolSysctl(p.Sysctl.IPv6Autoconf),
		"ipv4.rp_filter": strconv.Itoa(p.Sysctl.RPFilter), "ipv4.accept_local": boolSysctl(p.Sysctl.AcceptLocal),
	}
	src, err := peerapisource.New(peerapisource.Options{
		Client: client, StateDir: a.cfg.StateDir, SyncInterval: p.SyncInterval,
		Validation: peerapisource.ValidationOptions{ManagedPrefix: a.cfg.Tunnel.ManagedPrefix, AllowPublic: p.InterfaceIPAllowPublic, Blacklist: blacklist},
		Translate: peerapisource.TranslateOptions{
			IPv4: p.IPConfig.IPv4, IPv6: p.IPConfig.IPv6, IPv6LinkLocal: p.IPConfig.IPv6LinkLocal,
			WireGuard: peerapisource.WireGuardOptions{
				PrivateKeyPath: p.WireGuard.PrivateKeyPath, PersistentKeepalive: p.WireGuard.PersistentKeepalive,
				AllowedIPs: p.WireGuard.AllowedIPs, BandwidthCommunity: p.WireGuard.BandwidthCommunity, SecurityCommunity: p.WireGuard.SecurityCommunity,
			},
			GRE: peerapisource.GREOptions{
				LocalEndpointHost4: p.GRE.LocalEndpointHost4, LocalEndpointHost6: p.GRE.LocalEndpointHost6,
				BandwidthCommunity: p.GRE.BandwidthCommunity, SecurityCommunity: p.GRE.SecurityCommunity,
			},
			Sysctls:           sysctls,
			PassthroughSecret: []byte(p.SessionPassthroughJWTSecret),
		},
		Ports: ports, Objects: a.manager.Store(), ObjectsReady: func() bool { ok, _ := a.manager.Ready(); return ok },
		Logger: log,
	})
	if err != nil {
		return err
	}
	a.sources = append(a.sources, src)

	pub, _ := os.ReadFile(p.WireGuard.PublicKeyPath)
	handler, err := peerapi.NewAgentAPI(peerapi.AgentAPIOptions{
		RouterUUID: p.RouterUUID, AgentSecret: p.AgentSecret, PassthroughSecret: []byte(p.SessionPassthroughJWTSecret),
		Ports: ports, Status: src.Status, TriggerSync: src.TriggerSync,
		WireGuardPublicKey: strings.TrimSpace(string(pub)), WireGuardEndpointHost: p.WireGuard.LocalEndpointHost,
		GREEndpointDesc4: p.GRE.LocalEndpointDesc4, GREEndpointDesc6: p.GRE.LocalEndpointDesc6, Logger: log,
	})
	if err != nil {
		return err
	}
	srv, err := peerapi.NewAgentServer(peerapi.ServerOptions{
		Network: p.Server.ListenerType, Address: p.Server.Listen, Handler: handler, BodyLimit: int64(p.Server.BodyLimit),
		TrustedProxies: p.Server.TrustedProxies, Signature: "edgeagent/" + version,
		ReadTimeout: p.Server.ReadTimeout, WriteTimeout: p.Server.WriteTimeout, IdleTimeout: p.Server.IdleTimeout, Logger: log,
	})
	if err != nil {
		return err
	}
	a.starters = append(a.starters, srv.Run)
	var birdStatus peerapi.BIRDStatus
	if birdClient != nil {
		birdStatus = birdStatusText{birdClient}
	}
	hb, err := peerapi.NewHeartbeater(peerapi.HeartbeatOptions{
		Client: client, Interval: p.HeartbeatInterval, BIRD: birdStatus, WANInterfaces: p.WANInterfaces,
		Version: "edgeagent/" + version, Logger: log,
	})
	if err != nil {
		return err
	}
	a.starters = append(a.starters, hb.Run)
	return nil
}

// birdStatusText gives the heartbeat BIRD's `show status` text with the reply codes stripped.
type birdStatusText struct{ c *bird.Client }

func (b birdStatusText) ShowStatusText(ctx context.Context) (string, error) {
	r, err := b.c.Query(ctx, "show status")
	if err != nil {
		return "", err
	}
	return r.Text(), nil
}

func boolSysctl(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// cmdRun runs the agent until SIGINT/SIGTERM, then shuts down gracefully (exit 0).
func cmdRun(ctx context.Context, args []string, stderr io.Writer) error {
	a, err := setup(ctx, "run", args, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	token, err := a.cfg.OpsToken()
	if err != nil {
		return err
	}
	opsSrv, err := ops.New(ops.Options{Listen: a.cfg.Ops.Listen, Token: token, State: a.manager, Gatherer: a.reg, Logger: a.log.WithName("ops")})
	if err != nil {
		return err
	}
	if err := opsSrv.Start(ctx); err != nil {
		return err
	}
	a.log.Info("edgeagent running", "version", version, "ops", opsSrv.Addr().String(), "sources", len(a.sources))

	errc := make(chan error, len(a.starters))
	sctx, stopStarters := context.WithCancel(ctx)
	defer stopStarters()
	for _, start := range a.starters {
		go func() { errc <- start(sctx) }()
	}
	mctx, stopManager := context.WithCancel(ctx)
	defer stopManager()
	runErr := make(chan error, 1)
	go func() { runErr <- a.manager.Run(mctx, a.sources...) }()

	var firstErr error
	select {
	case firstErr = <-errc:
		// A server that cannot run (port taken...) stops the agent.
		a.log.Error(firstErr, "component failed; shutting down")
	case <-ctx.Done():
	}
	stopStarters()
	stopManager()
	err = <-runErr
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = opsSrv.Shutdown(shutdownCtx)
	a.log.Info("edgeagent stopped; the data plane is left in place")
	if firstErr != nil {
		return firstErr
	}
	return err
}
