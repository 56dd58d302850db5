package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The PeerAPI agent decoded config.json with encoding/json into its own structs: keys match
// case-insensitively ("wireguard" and "wireGuard" both work), unknown keys are ignored, a key
// given twice takes the last value, null keeps the current value, and a wrong JSON type is fatal.
// ParsePeerAPIJSON keeps all of that, except that what the old agent ignored silently becomes a
// warning, and keys it did not set take edgeagent's defaults instead of Go zero values (which
// made the old agent spin or refuse to start).

// legacyField is one key of a config.json section.
type legacyField struct {
	key    string // as the PeerAPI agent's code spells it
	native string // native key path it sets
	// unused, when set, says why the key is accepted but has no effect in edgeagent.
	unused string
	set    func(c *Config, raw json.RawMessage) error
	// aliasOf marks a README-only name of another key: used only when that key is absent.
	aliasOf string
}

const (
	notYet       = "is accepted but not used yet"
	usesNetlink  = "is accepted but not used: edgeagent configures interfaces over netlink"
	usesWgctrl   = "is accepted but not used: edgeagent configures WireGuard through wgctrl"
	usesProcSys  = "is accepted but not used: edgeagent writes /proc/sys directly"
	noLogRotate  = "is accepted but not used yet: edgeagent does not rotate its log file (use logrotate with copytruncate)"
	noBufferSize = "is accepted but not used yet: the agent API uses Go's default socket buffers"
	// The consumers of these are not wired yet: delete the mark when one lands.
	noMetrics     = "is accepted but not used yet: RTT measurement and metric reports are not wired"
	noGeoIP       = "is accepted but not used yet: the GeoIP endpoint policy is not wired"
	noProbe       = "is accepted but not used yet: the peer probe is not wired"
	noFilterUpd   = "is accepted but not used yet: latency tiers are not re-measured"
	noAccessLog   = "is accepted but not used yet: the agent API has no access log"
	noWGReResolve = "is accepted but not used yet: stale WireGuard endpoints are re-resolved after tunnel.staleHandshake"
	noPoolTuning  = "is accepted but not used yet: the BIRD client keeps bird.poolSize connections"
)

// value decodes a string, integer or boolean key into the field f returns; null keeps it.
func value[T string | int | bool](f func(*Config) *T) func(*Config, json.RawMessage) error {
	return func(c *Config, raw json.RawMessage) error { return json.Unmarshal(raw, f(c)) }
}

func strings_(f func(*Config) *[]string) func(*Config, json.RawMessage) error {
	return func(c *Config, raw json.RawMessage) error {
		if string(raw) == "null" {
			return nil
		}
		var v []string
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		*f(c) = v
		return nil
	}
}

// unit decodes an integer count of u (the old agent's seconds or milliseconds) into a duration.
func unit(u time.Duration, f func(*Config) *time.Duration) func(*Config, json.RawMessage) error {
	return func(c *Config, raw json.RawMessage) error {
		if string(raw) == "null" {
			return nil
		}
		var n int
		if err := json.Unmarshal(raw, &n); err != nil {
			return err
		}
		*f(c) = time.Duration(n) * u
		return nil
	}
}

// commaList decodes the old "a,b,c" string (wireGuard.allowedIps) into a list.
func commaList(f func(*Config) *[]string) func(*Config, json.RawMessage) error {
	return func(c *Config, raw json.RawMessage) error {
		if string(raw) == "null" {
			return nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		*f(c) = out
		return nil
	}
}

func pa(c *Config) *PeerAPIConfig { return &c.Sources.PeerAPI }

// legacySections lists every section and key of the PeerAPI agent's config.json (v1.9.3
// src/config.go), plus the README's spellings, and where each lands in Config.
var legacySections = []struct {
	name   string
	fields []legacyField
}{
	{"server", []legacyField{
		{key: "debug", native: "sources.peerapi.server.debug", unused: noAccessLog, set: value(func(c *Config) *bool { return &pa(c).Server.Debug })},
		{key: "listenerType", native: "sources.peerapi.server.listenerType", set: value(func(c *Config) *string { return &pa(c).Server.ListenerType })},
		{key: "listen", native: "sources.peerapi.server.listen", set: value(func(c *Config) *string { return &pa(c).Server.Listen })},
		{key: "bodyLimit", native: "sources.peerapi.server.bodyLimit", set: value(func(c *Config) *int { return &pa(c).Server.BodyLimit })},
		{key: "readTimeout", native: "sources.peerapi.server.readTimeout", set: unit(time.Second, func(c *Config) *time.Duration { return &pa(c).Server.ReadTimeout })},
		{key: "writeTimeout", native: "sources.peerapi.server.writeTimeout", set: unit(time.Second, func(c *Config) *time.Duration { return &pa(c).Server.WriteTimeout })},
		{key: "idleTimeout", native: "sources.peerapi.server.idleTimeout", set: unit(time.Second, func(c *Config) *time.Duration { return &pa(c).Server.IdleTimeout })},
		{key: "readBufferSize", native: "sources.peerapi.server.readBufferSize", unused: noBufferSize, set: value(func(c *Config) *int { return &pa(c).Server.ReadBufferSize })},
		{key: "writeBufferSize", native: "sources.peerapi.server.writeBufferSize", unused: noBufferSize, set: value(func(c *Config) *int { return &pa(c).Server.WriteBufferSize })},
		{key: "trustedProxies", native: "sources.peerapi.server.trustedProxies", set: strings_(func(c *Config) *[]string { return &pa(c).Server.TrustedProxies })},
	}},
	{"peerApiCenter", []legacyField{
		{key: "apiUrl", native: "sources.peerapi.apiURL", set: value(func(c *Config) *string { return &pa(c).APIURL })},
		{key: "url", aliasOf: "apiUrl", native: "sources.peerapi.apiURL", set: value(func(c *Config) *string { return &pa(c).APIURL })},
		{key: "probeServerIPv4", native: "sources.peerapi.peerProbe.serverIPv4", unused: noProbe, set: value(func(c *Config) *string { return &pa(c).PeerProbe.ServerIPv4 })},
		{key: "probeServerIPv6", native: "sources.peerapi.peerProbe.serverIPv6", unused: noProbe, set: value(func(c *Config) *string { return &pa(c).PeerProbe.ServerIPv6 })},
		{key: "probeServerIPv6Prefix", native: "sources.peerapi.peerProbe.serverIPv6Prefix", unused: noProbe, set: value(func(c *Config) *string { return &pa(c).PeerProbe.ServerIPv6Prefix })},
		{key: "probeServerPort", native: "sources.peerapi.peerProbe.serverPort", unused: noProbe, set: value(func(c *Config) *int { return &pa(c).PeerProbe.ServerPort })},
		{key: "secret", native: "sources.peerapi.secret", set: value(func(c *Config) *string { return &pa(c).Secret })},
		{key: "requestTimeout", native: "sources.peerapi.requestTimeout", set: unit(time.Second, func(c *Config) *time.Duration { return &pa(c).RequestTimeout })},
		{key: "routerUuid", native: "sources.peerapi.routerUUID", set: value(func(c *Config) *string { return &pa(c).RouterUUID })},
		{key: "agentSecret", native: "sources.peerapi.agentSecret", set: value(func(c *Config) *string { return &pa(c).AgentSecret })},
		{key: "heartbeatInterval", native: "sources.peerapi.heartbeatInterval", set: unit(time.Second, func(c *Config) *time.Duration { return &pa(c).HeartbeatInterval })},
		{key: "syncInterval", native: "sources.peerapi.syncInterval", set: unit(time.Second, func(c *Config) *time.Duration { return &pa(c).SyncInterval })},
		{key: "metricInterval", native: "sources.peerapi.metricInterval", unused: noMetrics, set: unit(time.Second, func(c *Config) *time.Duration { return &pa(c).MetricInterval })},
		{key: "wanInterfaces", native: "sources.peerapi.wanInterfaces", set: strings_(func(c *Config) *[]string { return &pa(c).WANInterfaces })},
		{key: "sessionPassthroughJwtSecert", native: "sources.peerapi.sessionPassthroughJWTSecret", set: value(func(c *Config) *string { return &pa(c).SessionPassthroughJWTSecret })},
		{key: "sessionPassthroughJwtSecret", aliasOf: "sessionPassthroughJwtSecert", native: "sources.peerapi.sessionPassthroughJWTSecret", set: value(func(c *Config) *string { return &pa(c).SessionPassthroughJWTSecret })},
		{key: "interfaceIpAllowPublic", native: "sources.peerapi.interfaceIPAllowPublic", set: value(func(c *Config) *bool { return &pa(c).InterfaceIPAllowPublic })},
		{key: "interfaceIpBlacklist", native: "sources.peerapi.interfaceIPBlacklist", set: strings_(func(c *Config) *[]string { return &pa(c).InterfaceIPBlacklist })},
	}},
	{"ipConfig", []legacyField{
		{key: "ipv4", native: "sources.peerapi.ipConfig.ipv4", set: value(func(c *Config) *string { return &pa(c).IPConfig.IPv4 })},
		{key: "ipv6", native: "sources.peerapi.ipConfig.ipv6", set: value(func(c *Config) *string { return &pa(c).IPConfig.IPv6 })},
		{key: "ipv6LinkLocal", native: "sources.peerapi.ipConfig.ipv6LinkLocal", set: value(func(c *Config) *string { return &pa(c).IPConfig.IPv6LinkLocal })},
	}},
	{"bird", []legacyField{
		{key: "controlSocket", native: "bird.controlSocket", set: value(func(c *Config) *string { return &c.BIRD.ControlSocket })},
		{key: "poolSize", native: "bird.poolSize", set: value(func(c *Config) *int { return &c.BIRD.PoolSize })},
		{key: "poolSizeMax", native: "bird.poolSizeMax", unused: noPoolTuning, set: value(func(c *Config) *int { return &c.BIRD.PoolSizeMax })},
		{key: "connectionMaxRetries", native: "bird.connectionMaxRetries", unused: noPoolTuning, set: value(func(c *Config) *int { return &c.BIRD.ConnectionMaxRetries })},
		{key: "connectionRetryDelayMs", native: "bird.connectionRetryDelay", unused: noPoolTuning, set: unit(time.Millisecond, func(c *Config) *time.Duration { return &c.BIRD.ConnectionRetryDelay })},
		{key: "bgpPeerConfDir", native: "bird.peerConfDir", set: value(func(c *Config) *string { return &c.BIRD.PeerConfDir })},
		{key: "bgpPeerConfTemplateFile", native: "bird.templateFile", set: value(func(c *Config) *string { return &c.BIRD.TemplateFile })},
		{key: "ipCommandPath", native: "tunnel.ipCommandPath", unused: usesNetlink, set: value(func(c *Config) *string { return &c.Tunnel.IPCommandPath })},
	}},
	{"sysctl", []legacyField{
		{key: "commandPath", native: "tunnel.sysctlCommandPath", unused: usesProcSys, set: value(func(c *Config) *string { return &c.Tunnel.SysctlCommandPath })},
		{key: "ifaceIpForwarding", native: "sources.peerapi.sysctl.ipv4Forwarding", set: value(func(c *Config) *bool { return &pa(c).Sysctl.IPv4Forwarding })},
		{key: "ifaceIp6Forwarding", native: "sources.peerapi.sysctl.ipv6Forwarding", set: value(func(c *Config) *bool { return &pa(c).Sysctl.IPv6Forwarding })},
		{key: "ifaceIp6AcceptRa", native: "sources.peerapi.sysctl.ipv6AcceptRA", set: value(func(c *Config) *bool { return &pa(c).Sysctl.IPv6AcceptRA })},
		{key: "ifaceIp6AutoConfig", native: "sources.peerapi.sysctl.ipv6Autoconf", set: value(func(c *Config) *bool { return &pa(c).Sysctl.IPv6Autoconf })},
		{key: "ifaceRpFilter", native: "sources.peerapi.sysctl.rpFilter", set: value(func(c *Config) *int { return &pa(c).Sysctl.RPFilter })},
		{key: "ifaceAcceptLocal", native: "sources.peerapi.sysctl.acceptLocal", set: value(func(c *Config) *bool { return &pa(c).Sysctl.AcceptLocal })},
	}},
	{"metric", []legacyField{
		{key: "autoTeardown", native: "sources.peerapi.metric.autoTeardown", unused: noGeoIP, set: value(func(c *Config) *bool { return &pa(c).Metric.AutoTeardown })},
		{key: "maxMindGeoLiteCountryMmdbPath", native: "sources.peerapi.metric.geoIPDatabase", unused: noGeoIP, set: value(func(c *Config) *string { return &pa(c).Metric.GeoIPDatabase })},
		{key: "geoIpCountryMode", native: "sources.peerapi.metric.geoIPCountryMode", unused: noGeoIP, set: value(func(c *Config) *string { return &pa(c).Metric.GeoIPCountryMode })},
		{key: "blacklistGeoCountries", native: "sources.peerapi.metric.blacklistGeoCountries", unused: noGeoIP, set: strings_(func(c *Config) *[]string { return &pa(c).Metric.BlacklistGeoCountries })},
		{key: "whitelistGeoCountries", native: "sources.peerapi.metric.whitelistGeoCountries", unused: noGeoIP, set: strings_(func(c *Config) *[]string { return &pa(c).Metric.WhitelistGeoCountries })},
		{key: "pingCommandPath", native: "sources.peerapi.metric.pingCommandPath", unused: noMetrics, set: value(func(c *Config) *string { return &pa(c).Metric.PingCommandPath })},
		{key: "pingTimeout", native: "sources.peerapi.metric.pingTimeout", unused: noMetrics, set: unit(time.Second, func(c *Config) *time.Duration { return &pa(c).Metric.PingTimeout })},
		{key: "pingCount", native: "sources.peerapi.metric.pingCount", unused: noMetrics, set: value(func(c *Config) *int { return &pa(c).Metric.PingCount })},
		{key: "pingCountOnFail", native: "sources.peerapi.metric.pingCountOnFail", unused: noMetrics, set: value(func(c *Config) *int { return &pa(c).Metric.PingCountOnFail })},
		{key: "pingWorkerCount", native: "sources.peerapi.metric.pingWorkerCount", unused: noMetrics, set: value(func(c *Config) *int { return &pa(c).Metric.PingWorkerCount })},
		{key: "sessionWorkerCount", native: "sources.peerapi.metric.sessionWorkerCount", unused: noMetrics, set: value(func(c *Config) *int { return &pa(c).Metric.SessionWorkerCount })},
		{key: "maxRTTMetricsHistroy", native: "sources.peerapi.metric.maxRTTMetricsHistory", unused: noMetrics, set: value(func(c *Config) *int { return &pa(c).Metric.MaxRTTMetricsHistory })},
		{key: "geoCheckInterval", native: "sources.peerapi.metric.geoCheckInterval", unused: noGeoIP, set: unit(time.Second, func(c *Config) *time.Duration { return &pa(c).Metric.GeoCheckInterval })},
		{key: "filterParamsUpdateInterval", native: "sources.peerapi.metric.filterParamsUpdateInterval", unused: noFilterUpd, set: unit(time.Second, func(c *Config) *time.Duration { return &pa(c).Metric.FilterParamsUpdateInterval })},
	}},
	{"wireGuard", []legacyField{
		{key: "wgCommandPath", native: "tunnel.wgCommandPath", unused: usesWgctrl, set: value(func(c *Config) *string { return &c.Tunnel.WGCommandPath })},
		{key: "localEndpointHost", native: "sources.peerapi.wireGuard.localEndpointHost", set: value(func(c *Config) *string { return &pa(c).WireGuard.LocalEndpointHost })},
		{key: "privateKeyPath", native: "sources.peerapi.wireGuard.privateKeyPath", set: value(func(c *Config) *string { return &pa(c).WireGuard.PrivateKeyPath })},
		{key: "publicKeyPath", native: "sources.peerapi.wireGuard.publicKeyPath", set: value(func(c *Config) *string { return &pa(c).WireGuard.PublicKeyPath })},
		{key: "persistentKeepaliveInterval", native: "sources.peerapi.wireGuard.persistentKeepalive", set: value(func(c *Config) *int { return &pa(c).WireGuard.PersistentKeepalive })},
		{key: "allowedIps", native: "sources.peerapi.wireGuard.allowedIPs", set: commaList(func(c *Config) *[]string { return &pa(c).WireGuard.AllowedIPs })},
		{key: "dnsUpdateInterval", native: "sources.peerapi.wireGuard.dnsUpdateInterval", unused: noWGReResolve, set: unit(time.Second, func(c *Config) *time.Duration { return &pa(c).WireGuard.DNSUpdateInterval })},
		{key: "dn42BandwidthCommunity", native: "sources.peerapi.wireGuard.bandwidthCommunity", set: value(func(c *Config) *int { return &pa(c).WireGuard.BandwidthCommunity })},
		{key: "dn42InterfaceSecurityCommunity", native: "sources.peerapi.wireGuard.securityCommunity", set: value(func(c *Config) *int { return &pa(c).WireGuard.SecurityCommunity })},
		{key: "ipv4", aliasOf: "ipConfig.ipv4", native: "sources.peerapi.ipConfig.ipv4", set: value(func(c *Config) *string { return &pa(c).IPConfig.IPv4 })},
		{key: "ipv6", aliasOf: "ipConfig.ipv6", native: "sources.peerapi.ipConfig.ipv6", set: value(func(c *Config) *string { return &pa(c).IPConfig.IPv6 })},
		{key: "ipv6LinkLocal", aliasOf: "ipConfig.ipv6LinkLocal", native: "sources.peerapi.ipConfig.ipv6LinkLocal", set: value(func(c *Config) *string { return &pa(c).IPConfig.IPv6LinkLocal })},
	}},
	{"gre", []legacyField{
		{key: "localEndpointHost4", native: "sources.peerapi.gre.localEndpointHost4", set: value(func(c *Config) *string { return &pa(c).GRE.LocalEndpointHost4 })},
		{key: "localEndpointHost6", native: "sources.peerapi.gre.localEndpointHost6", set: value(func(c *Config) *string { return &pa(c).GRE.LocalEndpointHost6 })},
		{key: "localEndpointDesc4", native: "sources.peerapi.gre.localEndpointDesc4", set: value(func(c *Config) *string { return &pa(c).GRE.LocalEndpointDesc4 })},
		{key: "localEndpointDesc6", native: "sources.peerapi.gre.localEndpointDesc6", set: value(func(c *Config) *string { return &pa(c).GRE.LocalEndpointDesc6 })},
		{key: "dn42BandwidthCommunity", native: "sources.peerapi.gre.bandwidthCommunity", set: value(func(c *Config) *int { return &pa(c).GRE.BandwidthCommunity })},
		{key: "dn42InterfaceSecurityCommunity", native: "sources.peerapi.gre.securityCommunity", set: value(func(c *Config) *int { return &pa(c).GRE.SecurityCommunity })},
		{key: "ipv4", aliasOf: "ipConfig.ipv4", native: "sources.peerapi.ipConfig.ipv4", set: value(func(c *Config) *string { return &pa(c).IPConfig.IPv4 })},
		{key: "ipv6", aliasOf: "ipConfig.ipv6", native: "sources.peerapi.ipConfig.ipv6", set: value(func(c *Config) *string { return &pa(c).IPConfig.IPv6 })},
		{key: "ipv6LinkLocal", aliasOf: "ipConfig.ipv6LinkLocal", native: "sources.peerapi.ipConfig.ipv6LinkLocal", set: value(func(c *Config) *string { return &pa(c).IPConfig.IPv6LinkLocal })},
	}},
	{"logger", []legacyField{
		{key: "file", native: "log.file", set: value(func(c *Config) *string { return &c.Log.File })},
		{key: "maxSize", native: "log.maxSizeMB", unused: noLogRotate, set: value(func(c *Config) *int { return &c.Log.MaxSizeMB })},
		{key: "maxBackups", native: "log.maxBackups", unused: noLogRotate, set: value(func(c *Config) *int { return &c.Log.MaxBackups })},
		{key: "maxAge", native: "log.maxAgeDays", unused: noLogRotate, set: value(func(c *Config) *int { return &c.Log.MaxAgeDays })},
		{key: "compress", native: "log.compress", unused: noLogRotate, set: value(func(c *Config) *bool { return &c.Log.Compress })},
		{key: "consoleLogging", native: "log.console", set: value(func(c *Config) *bool { return &c.Log.Console })},
	}},
	{"peerProbe", []legacyField{
		{key: "enabled", native: "sources.peerapi.peerProbe.enabled", unused: noProbe, set: value(func(c *Config) *bool { return &pa(c).PeerProbe.Enabled })},
		{key: "intervalSeconds", native: "sources.peerapi.peerProbe.interval", unused: noProbe, set: unit(time.Second, func(c *Config) *time.Duration { return &pa(c).PeerProbe.Interval })},
		{key: "probePacketCount", native: "sources.peerapi.peerProbe.packetCount", unused: noProbe, set: value(func(c *Config) *int { return &pa(c).PeerProbe.PacketCount })},
		{key: "probePacketIntervalMs", native: "sources.peerapi.peerProbe.packetInterval", unused: noProbe, set: unit(time.Millisecond, func(c *Config) *time.Duration { return &pa(c).PeerProbe.PacketInterval })},
		{key: "probePacketEncryptionKey", native: "sources.peerapi.peerProbe.encryptionKey", unused: noProbe, set: value(func(c *Config) *string { return &pa(c).PeerProbe.EncryptionKey })},
		{key: "sessionWorkerCount", native: "sources.peerapi.peerProbe.sessionWorkerCount", unused: noProbe, set: value(func(c *Config) *int { return &pa(c).PeerProbe.SessionWorkerCount })},
		{key: "probePacketBanner", native: "sources.peerapi.peerProbe.banner", unused: noProbe, set: value(func(c *Config) *string { return &pa(c).PeerProbe.Banner })},
		{key: "probeSummaryCooldownSeconds", native: "sources.peerapi.peerProbe.summaryCooldown", unused: noProbe, set: unit(time.Second, func(c *Config) *time.Duration { return &pa(c).PeerProbe.SummaryCooldown })},
	}},
}

// nativeTopKeys are top-level keys only the native format has.
var nativeTopKeys = []string{"stateDir", "log", "ops", "controller", "sources", "tunnel", "dns"}

type member struct {
	key  string
	line int
	raw  json.RawMessage
	off  int // offset of raw in the whole file
}

// lineAt is the 1-based line of byte offset off in data.
func lineAt(data []byte, off int) int {
	if off > len(data) {
		off = len(data)
	}
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

// members returns the members of the JSON object at data[base:base+len(obj)] in document order,
// with the line of each key.
func members(data []byte, base int, obj []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("must be a JSON object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		line := lineAt(data, base+int(dec.InputOffset()))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		out = append(out, member{key: key, line: line, raw: raw, off: base + int(dec.InputOffset()) - len(raw)})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

// isPeerAPIJSON reports whether data is a JSON object with the PeerAPI agent's sections.
func isPeerAPIJSON(data []byte) bool {
	top, err := members(data, 0, bytes.TrimSpace(data))
	if err != nil {
		return false
	}
	hasBird, hasNative := false, false
	for _, m := range top {
		for _, s := range legacySections {
			if strings.EqualFold(m.key, s.name) {
				if s.name != "bird" {
					return true
				}
				hasBird = true
			}
		}
		for _, k := range nativeTopKeys {
			if m.key == k {
				hasNative = true
			}
		}
	}
	return hasBird && !hasNative
}

// jsonTypeError turns encoding/json's Go-typed message into one about the config value.
func jsonTypeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := te.Type.Kind().String()
		switch {
		case strings.HasPrefix(want, "int"):
			want = "an integer"
		case want == "string":
			want = "a string"
		case want == "bool":
			want = "true or false"
		case want == "slice":
			want = "an array of strings"
		}
		return fmt.Sprintf("must be %s (got a JSON %s)", want, te.Value)
	}
	return err.Error()
}

// ParsePeerAPIJSON translates the PeerAPI agent's config.json (named name in messages) into a
// Config with the PeerAPI source enabled. Warnings list unknown keys, keys edgeagent does not use
// (yet) and README-style aliases; errors are the old agent's fatal ones (bad JSON, wrong types).
func ParsePeerAPIJSON(name string, data []byte) (*Config, []Warning, error) {
	c := Default()
	c.Sources.PeerAPI.Enabled = true
	// The PeerAPI agent managed tunnels and BIRD files: as a drop-in, so does edgeagent.
	c.Tunnel.Enabled = true
	c.BIRD.Enabled = true
	c.origins = map[string]string{}
	var warns []Warning
	var errs []error
	warn := func(line int, key, msg string) {
		warns = append(warns, Warning{File: name, Line: line, Key: key, Message: msg})
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	top, err := members(data, len(data)-len(trimmed), bytes.TrimSpace(trimmed))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	type alias struct {
		f    legacyField
		m    member
		path string
	}
	var aliases []alias
	present := map[string]bool{} // canonical "section.key" paths given
	for _, sm := range top {
		si := -1
		for i, s := range legacySections {
			if strings.EqualFold(sm.key, s.name) {
				si = i
			}
		}
		if si < 0 {
			warn(sm.line, sm.key, "is not a PeerAPI agent section; ignored (the PeerAPI agent ignored it too)")
			continue
		}
		sec := legacySections[si]
		if string(sm.raw) == "null" {
			continue
		}
		fields, err := members(data, sm.off, sm.raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s line %d: %s: %w", name, sm.line, sec.name, err))
			continue
		}
		for _, fm := range fields {
			path := sec.name + "." + fm.key
			var f *legacyField
			for i := range sec.fields {
				if strings.EqualFold(fm.key, sec.fields[i].key) {
					f = &sec.fields[i]
					break
				}
			}
			if f == nil {
				warn(fm.line, path, "is not a PeerAPI agent key; ignored (the PeerAPI agent ignored it too)")
				continue
			}
			canon := sec.name + "." + f.key
			if f.aliasOf != "" {
				aliases = append(aliases, alias{f: *f, m: fm, path: canon})
				continue
			}
			present[canon] = true
			if err := f.set(c, fm.raw); err != nil {
				errs = append(errs, fmt.Errorf("%s line %d: %s: %s", name, fm.line, canon, jsonTypeError(err)))
				continue
			}
			c.origins[f.native] = name + " " + canon
			if f.unused != "" {
				warn(fm.line, canon, f.unused)
			}
		}
	}
	// README spellings apply only where the code's key is absent (first one given wins, as the
	// README repeats the addresses under wireguard and gre).
	for _, a := range aliases {
		target := a.f.aliasOf
		if !strings.Contains(target, ".") {
			target = a.path[:strings.Index(a.path, ".")+1] + target
		}
		if present[target] {
			warn(a.m.line, a.path, fmt.Sprintf("is the README's name for %s, which is also set; ignored", target))
			continue
		}
		if err := a.f.set(c, a.m.raw); err != nil {
			errs = append(errs, fmt.Errorf("%s line %d: %s: %s", name, a.m.line, a.path, jsonTypeError(err)))
			continue
		}
		present[target] = true
		c.origins[a.f.native] = name + " " + a.path
		warn(a.m.line, a.path, fmt.Sprintf("is the README's name for %s: the PeerAPI agent ignored it, edgeagent uses it as %s", target, target))
	}
	if len(errs) > 0 {
		return nil, warns, errors.Join(errs...)
	}
	return c, warns, nil
}
