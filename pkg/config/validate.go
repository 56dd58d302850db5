package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/logging"
)

// FieldError says which configuration key is wrong and why.
type FieldError struct {
	// Field is the native key path, e.g. "sources.peerapi.metricInterval".
	Field string
	// Value is the offending value, safe to print ("" for secrets).
	Value string
	// Reason says what the key must be.
	Reason string
	// Origin names the key as the loaded file spells it when that differs from Field, e.g.
	// "config.json peerApiCenter.metricInterval".
	Origin string
}

// Error renders "<field> (<origin>): <reason> (got <value>)".
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.Field)
	if e.Origin != "" {
		fmt.Fprintf(&b, " (%s)", e.Origin)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Value != "" {
		fmt.Fprintf(&b, " (got %q)", e.Value)
	}
	return b.String()
}

type checker struct{ errs []error }

func (c *checker) add(field, value, reason string, args ...any) {
	if len(args) > 0 {
		reason = fmt.Sprintf(reason, args...)
	}
	c.errs = append(c.errs, &FieldError{Field: field, Value: value, Reason: reason})
}

func (c *checker) positive(field string, d time.Duration) {
	if d <= 0 {
		c.add(field, d.String(), "must be a positive duration like 30s or 5m")
	}
}

func (c *checker) hostPort(field, v string, required bool) {
	if v == "" {
		if required {
			c.add(field, "", "required (host:port)")
		}
		return
	}
	_, p, err := net.SplitHostPort(v)
	if err != nil {
		c.add(field, v, "must be host:port")
		return
	}
	if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
		c.add(field, v, "port must be 0-65535")
	}
}

func (c *checker) ipOrCIDR(field, v string) {
	if _, err := netip.ParseAddr(v); err == nil {
		return
	}
	if _, err := netip.ParsePrefix(v); err == nil {
		return
	}
	c.add(field, v, "must be an IP address or a CIDR")
}

func (c *checker) ip(field, v string, want func(netip.Addr) bool, what string) {
	if v == "" {
		return
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" || !want(a) {
		c.add(field, v, "must be %s", what)
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsLoopbackListen reports whether listen (host:port) binds only loopback addresses. An empty
// host or a wildcard address binds every interface and is not loopback. pkg/ops enforces the
// same rule with it.
func IsLoopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validate checks the whole configuration and returns every problem, each a *FieldError naming
// the key, joined with errors.Join; nil when the configuration is usable.
func (c *Config) Validate() error {
	var ck checker
	if strings.TrimSpace(c.StateDir) == "" {
		ck.add("stateDir", "", "required: the directory where sources keep their last good answer")
	}
	if !logging.ValidFormat(c.Log.Format) {
		ck.add("log.format", c.Log.Format, "must be console or json")
	}
	if _, err := logging.ParseLevel(c.Log.Level); err != nil {
		ck.add("log.level", c.Log.Level, "must be error, warn, info, debug, trace or a verbosity 0-127")
	}

	ck.hostPort("ops.listen", c.Ops.Listen, true)
	if c.Ops.Token != "" && c.Ops.TokenFile != "" {
		ck.add("ops.tokenFile", c.Ops.TokenFile, "set ops.token or ops.tokenFile, not both")
	}
	if c.Ops.Listen != "" && c.Ops.Token == "" && c.Ops.TokenFile == "" && !IsLoopbackListen(c.Ops.Listen) {
		ck.add("ops.listen", c.Ops.Listen, "a non-loopback listen address requires a bearer token (ops.token or ops.tokenFile)")
	}

	cc := c.Controller
	ck.positive("controller.resyncInterval", cc.ResyncInterval)
	ck.positive("controller.shutdownTimeout", cc.ShutdownTimeout)
	for k, n := range cc.Workers {
		if !knownKind(k) {
			ck.add("controller.workers."+k, k, "unknown kind; kinds: %s", v1alpha1.KindList())
		} else if n < 1 || n > 256 {
			ck.add("controller.workers."+k, strconv.Itoa(n), "must be 1-256")
		}
	}
	ck.positive("controller.backoff.base", cc.Backoff.Base)
	if cc.Backoff.Max < cc.Backoff.Base {
		ck.add("controller.backoff.max", cc.Backoff.Max.String(), "must be at least controller.backoff.base (%s)", cc.Backoff.Base)
	}
	if cc.RateLimit.QPS <= 0 {
		ck.add("controller.rateLimit.qps", fmt.Sprint(cc.RateLimit.QPS), "must be > 0")
	}
	if cc.RateLimit.Burst < 1 {
		ck.add("controller.rateLimit.burst", strconv.Itoa(cc.RateLimit.Burst), "must be >= 1")
	}
	if cc.DeletionGuard.MaxFraction <= 0 || cc.DeletionGuard.MaxFraction > 1 {
		ck.add("controller.deletionGuard.maxFraction", fmt.Sprint(cc.DeletionGuard.MaxFraction), "must be in (0, 1]")
	}
	if cc.DeletionGuard.MinCount < 0 {
		ck.add("controller.deletionGuard.minCount", strconv.Itoa(cc.DeletionGuard.MinCount), "must be >= 0")
	}

	ck.positive("sources.file.interval", c.Sources.File.Interval)
	if c.Sources.PeerAPI.Enabled {
		c.Sources.PeerAPI.validate(&ck)
	}

	t := c.Tunnel
	if t.ManagedPrefix == "" || len(t.ManagedPrefix) > 8 || !v1alpha1.ValidInterfaceName(t.ManagedPrefix) {
		ck.add("tunnel.managedPrefix", t.ManagedPrefix, "must be 1-8 characters from [A-Za-z0-9._-]: it marks the interfaces edgeagent owns")
	}
	ck.positive("tunnel.staleHandshake", t.StaleHandshake)
	switch t.WireGuardMode {
	case "auto", "kernel", "userspace":
	default:
		ck.add("tunnel.wireguardMode", t.WireGuardMode, "must be auto, kernel or userspace")
	}

	b := c.BIRD
	if b.ControlSocket == "" {
		ck.add("bird.controlSocket", "", "required")
	}
	if b.PeerConfDir == "" {
		ck.add("bird.peerConfDir", "", "required")
	}
	if b.PoolSize < 1 {
		ck.add("bird.poolSize", strconv.Itoa(b.PoolSize), "must be >= 1")
	}
	if b.PoolSizeMax != 0 && b.PoolSizeMax < b.PoolSize {
		ck.add("bird.poolSizeMax", strconv.Itoa(b.PoolSizeMax), "must be 0 or at least bird.poolSize (%d)", b.PoolSize)
	}
	if b.ConnectionMaxRetries < 0 {
		ck.add("bird.connectionMaxRetries", strconv.Itoa(b.ConnectionMaxRetries), "must be >= 0")
	}
	if b.ConnectionRetryDelay < 0 {
		ck.add("bird.connectionRetryDelay", b.ConnectionRetryDelay.String(), "must be >= 0")
	}

	if c.DNS.Enabled {
		ck.hostPort("dns.listen", c.DNS.Listen, true)
	}
	if c.DNS.UDPSockets < 0 || c.DNS.UDPSockets > 1024 {
		ck.add("dns.udpSockets", strconv.Itoa(c.DNS.UDPSockets), "must be 0 (one per CPU) to 1024")
	}
	for _, e := range ck.errs {
		fe := e.(*FieldError)
		key, _, _ := strings.Cut(fe.Field, "[")
		if o, ok := c.origins[key]; ok {
			fe.Origin = o
		}
	}
	return errors.Join(ck.errs...)
}

func (p *PeerAPIConfig) validate(ck *checker) {
	const f = "sources.peerapi."
	if p.APIURL == "" {
		ck.add(f+"apiURL", "", "required: the PeerAPI center base URL")
	} else if u, err := url.Parse(p.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ck.add(f+"apiURL", p.APIURL, "must be an http:// or https:// URL")
	}
	if p.RouterUUID == "" {
		ck.add(f+"routerUUID", "", "required")
	} else if !uuidRE.MatchString(p.RouterUUID) {
		ck.add(f+"routerUUID", p.RouterUUID, "must be a UUID")
	}
	if p.Secret == "" {
		ck.add(f+"secret", "", "required")
	} else if len(p.Secret)+len(p.RouterUUID) > 72 {
		ck.add(f+"secret", "", "with routerUUID must fit bcrypt's 72 bytes: at most %d bytes", max(0, 72-len(p.RouterUUID)))
	}
	if len(p.AgentSecret)+len(p.RouterUUID) > 72 {
		ck.add(f+"agentSecret", "", "with routerUUID must fit bcrypt's 72 bytes: at most %d bytes", max(0, 72-len(p.RouterUUID)))
	}
	ck.positive(f+"requestTimeout", p.RequestTimeout)
	ck.positive(f+"heartbeatInterval", p.HeartbeatInterval)
	ck.positive(f+"syncInterval", p.SyncInterval)
	if p.MetricInterval < time.Minute {
		ck.add(f+"metricInterval", p.MetricInterval.String(), "must be at least 60s")
	}
	for i, v := range p.InterfaceIPBlacklist {
		ck.ipOrCIDR(fmt.Sprintf("%sinterfaceIPBlacklist[%d]", f, i), v)
	}

	s := p.Server
	switch s.ListenerType {
	case "tcp":
		ck.hostPort(f+"server.listen", s.Listen, true)
	case "unix":
		if s.Listen == "" {
			ck.add(f+"server.listen", "", "required: the unix socket path")
		}
	default:
		ck.add(f+"server.listenerType", s.ListenerType, "must be tcp or unix")
	}
	if s.BodyLimit < 0 {
		ck.add(f+"server.bodyLimit", strconv.Itoa(s.BodyLimit), "must be >= 0")
	}
	for name, d := range map[string]time.Duration{"readTimeout": s.ReadTimeout, "writeTimeout": s.WriteTimeout, "idleTimeout": s.IdleTimeout} {
		if d < 0 {
			ck.add(f+"server."+name, d.String(), "must be >= 0")
		}
	}
	for i, v := range s.TrustedProxies {
		ck.ipOrCIDR(fmt.Sprintf("%sserver.trustedProxies[%d]", f, i), v)
	}

	ck.ip(f+"ipConfig.ipv4", p.IPConfig.IPv4, netip.Addr.Is4, "an IPv4 address")
	ck.ip(f+"ipConfig.ipv6", p.IPConfig.IPv6, func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() && !a.IsLinkLocalUnicast() }, "an IPv6 address outside fe80::/10")
	ck.ip(f+"ipConfig.ipv6LinkLocal", p.IPConfig.IPv6LinkLocal, func(a netip.Addr) bool { return a.Is6() && a.IsLinkLocalUnicast() }, "an IPv6 link-local address (fe80::/10)")

	w := p.WireGuard
	if w.PersistentKeepalive < 0 || w.PersistentKeepalive > 65535 {
		ck.add(f+"wireGuard.persistentKeepalive", strconv.Itoa(w.PersistentKeepalive), "must be 0-65535 seconds")
	}
	for i, v := range w.AllowedIPs {
		if _, err := netip.ParsePrefix(v); err != nil {
			ck.add(fmt.Sprintf("%swireGuard.allowedIPs[%d]", f, i), v, "must be a CIDR")
		}
	}
	ck.positive(f+"wireGuard.dnsUpdateInterval", w.DNSUpdateInterval)
	ck.ip(f+"gre.localEndpointHost4", p.GRE.LocalEndpointHost4, netip.Addr.Is4, "an IPv4 address")
	ck.ip(f+"gre.localEndpointHost6", p.GRE.LocalEndpointHost6, func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }, "an IPv6 address")
	if p.Sysctl.RPFilter < 0 || p.Sysctl.RPFilter > 2 {
		ck.add(f+"sysctl.rpFilter", strconv.Itoa(p.Sysctl.RPFilter), "must be 0 (off), 1 (strict) or 2 (loose)")
	}

	m := p.Metric
	ck.positive(f+"metric.pingTimeout", m.PingTimeout)
	for name, n := range map[string]int{"pingCount": m.PingCount, "pingCountOnFail": m.PingCountOnFail, "pingWorkerCount": m.PingWorkerCount,
		"sessionWorkerCount": m.SessionWorkerCount, "maxRTTMetricsHistory": m.MaxRTTMetricsHistory} {
		if n < 1 {
			ck.add(f+"metric."+name, strconv.Itoa(n), "must be >= 1")
		}
	}
	ck.positive(f+"metric.geoCheckInterval", m.GeoCheckInterval)
	ck.positive(f+"metric.filterParamsUpdateInterval", m.FilterParamsUpdateInterval)
	for i, cc := range m.BlacklistGeoCountries {
		if len(cc) != 2 {
			ck.add(fmt.Sprintf("%smetric.blacklistGeoCountries[%d]", f, i), cc, "must be an ISO 3166-1 alpha-2 country code")
		}
	}
	for i, cc := range m.WhitelistGeoCountries {
		if len(cc) != 2 {
			ck.add(fmt.Sprintf("%smetric.whitelistGeoCountries[%d]", f, i), cc, "must be an ISO 3166-1 alpha-2 country code")
		}
	}

	pp := p.PeerProbe
	if pp.Enabled {
		ck.positive(f+"peerProbe.interval", pp.Interval)
		if pp.PacketCount < 1 {
			ck.add(f+"peerProbe.packetCount", strconv.Itoa(pp.PacketCount), "must be >= 1")
		}
		if pp.PacketInterval < 0 {
			ck.add(f+"peerProbe.packetInterval", pp.PacketInterval.String(), "must be >= 0")
		}
		if pp.SessionWorkerCount < 1 {
			ck.add(f+"peerProbe.sessionWorkerCount", strconv.Itoa(pp.SessionWorkerCount), "must be >= 1")
		}
		if pp.EncryptionKey == "" {
			ck.add(f+"peerProbe.encryptionKey", "", "required when the peer probe is enabled")
		}
		if pp.ServerIPv4 == "" && pp.ServerIPv6 == "" {
			ck.add(f+"peerProbe.serverIPv4", "", "the peer probe needs serverIPv4 or serverIPv6")
		}
		ck.ip(f+"peerProbe.serverIPv4", pp.ServerIPv4, netip.Addr.Is4, "an IPv4 address")
		ck.ip(f+"peerProbe.serverIPv6", pp.ServerIPv6, func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }, "an IPv6 address")
		if pp.ServerIPv6Prefix != "" {
			if pfx, err := netip.ParsePrefix(pp.ServerIPv6Prefix); err != nil || !pfx.Addr().Is6() {
				ck.add(f+"peerProbe.serverIPv6Prefix", pp.ServerIPv6Prefix, "must be an IPv6 CIDR")
			}
		}
		if pp.ServerPort < 1 || pp.ServerPort > 65535 {
			ck.add(f+"peerProbe.serverPort", strconv.Itoa(pp.ServerPort), "must be 1-65535")
		}
	}
}

func knownKind(k string) bool {
	for _, kk := range v1alpha1.Kinds {
		if string(kk) == k {
			return true
		}
	}
	return false
}

// OpsToken returns the ops bearer token from ops.token or ops.tokenFile ("" when neither).
func (c *Config) OpsToken() (string, error) {
	if c.Ops.Token != "" || c.Ops.TokenFile == "" {
		return c.Ops.Token, nil
	}
	b, err := os.ReadFile(c.Ops.TokenFile)
	if err != nil {
		return "", fmt.Errorf("ops.tokenFile: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("ops.tokenFile %s: file is empty", c.Ops.TokenFile)
	}
	return tok, nil
}
