package config

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func warningKeys(ws []Warning) []string {
	var keys []string
	for _, w := range ws {
		keys = append(keys, w.Key)
	}
	sort.Strings(keys)
	return keys
}

// expectedUnused lists the canonical keys present in the config.json at path that the table in
// peerapi_json.go marks unused, read independently with encoding/json.
func expectedUnused(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sec := range legacySections {
		for name, keys := range top {
			if !strings.EqualFold(name, sec.name) {
				continue
			}
			for k := range keys {
				for _, f := range sec.fields {
					if strings.EqualFold(k, f.key) && f.unused != "" && f.aliasOf == "" {
						out = append(out, sec.name+"."+f.key)
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func findWarning(ws []Warning, key string) *Warning {
	for i := range ws {
		if ws[i].Key == key {
			return &ws[i]
		}
	}
	return nil
}

func TestPeerAPICodeShape(t *testing.T) {
	c, warns, err := Load("testdata/peerapi-code.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	p := c.Sources.PeerAPI
	checks := []struct {
		name      string
		got, want any
	}{
		{"enabled", p.Enabled, true},
		{"apiURL", p.APIURL, "http://10.127.21.55:3000"},
		{"secret", p.Secret, "center-shared-secret"},
		{"routerUUID", p.RouterUUID, "40ca6d20-048d-4cb2-89be-e94f99af6781"},
		{"agentSecret", p.AgentSecret, "agent-secret"},
		{"sessionPassthroughJWTSecret", p.SessionPassthroughJWTSecret, "jwt-passthrough-key"},
		{"requestTimeout", p.RequestTimeout, 15 * time.Second},
		{"heartbeatInterval", p.HeartbeatInterval, 30 * time.Second},
		{"syncInterval", p.SyncInterval, 300 * time.Second},
		{"metricInterval", p.MetricInterval, time.Minute},
		{"wanInterfaces", p.WANInterfaces, []string{"eth0"}},
		{"interfaceIPAllowPublic", p.InterfaceIPAllowPublic, false},
		{"interfaceIPBlacklist", len(p.InterfaceIPBlacklist), 5},
		{"blacklist[3]", p.InterfaceIPBlacklist[3], "fd42:4242:2189::/48"},
		{"server.listen", p.Server.Listen, ":8080"},
		{"server.listenerType", p.Server.ListenerType, "tcp"},
		{"server.writeTimeout", p.Server.WriteTimeout, 31 * time.Second},
		{"server.idleTimeout", p.Server.IdleTimeout, 120 * time.Second},
		{"server.bodyLimit", p.Server.BodyLimit, 1048576},
		{"server.trustedProxies", p.Server.TrustedProxies, []string{"127.0.0.1", "::1", "10.0.0.0/8"}},
		{"ipConfig", p.IPConfig, PeerAPIIPConfig{IPv4: "172.23.91.118", IPv6: "fd42:4242:2189:118::1", IPv6LinkLocal: "fe80::2189:118"}},
		{"bird.controlSocket", c.BIRD.ControlSocket, "/var/run/bird/bird.ctl"},
		{"bird.peerConfDir", c.BIRD.PeerConfDir, "/etc/bird/peers"},
		{"bird.templateFile", c.BIRD.TemplateFile, "./templates/peer.conf"},
		{"bird.poolSize", c.BIRD.PoolSize, 5},
		{"bird.poolSizeMax", c.BIRD.PoolSizeMax, 64},
		{"bird.connectionMaxRetries", c.BIRD.ConnectionMaxRetries, 5},
		{"bird.connectionRetryDelay", c.BIRD.ConnectionRetryDelay, 50 * time.Millisecond},
		{"tunnel.ipCommandPath", c.Tunnel.IPCommandPath, "/usr/sbin/ip"},
		{"tunnel.wgCommandPath", c.Tunnel.WGCommandPath, "/usr/bin/wg"},
		{"sysctl", p.Sysctl, PeerAPISysctlConfig{IPv4Forwarding: true, IPv6Forwarding: true, RPFilter: 2, AcceptLocal: true}},
		{"metric.autoTeardown", p.Metric.AutoTeardown, true},
		{"metric.geoIPDatabase", p.Metric.GeoIPDatabase, "./GeoLite2-Country.mmdb"},
		{"metric.geoIPCountryMode", p.Metric.GeoIPCountryMode, "blacklist"},
		{"metric.whitelist", p.Metric.WhitelistGeoCountries, []string{"US", "DE", "JP"}},
		{"metric.pingTimeout", p.Metric.PingTimeout, 5 * time.Second},
		{"metric.pingCount", p.Metric.PingCount, 2},
		{"metric.sessionWorkerCount", p.Metric.SessionWorkerCount, 64},
		{"metric.maxRTTMetricsHistory", p.Metric.MaxRTTMetricsHistory, 288},
		{"metric.filterParamsUpdateInterval", p.Metric.FilterParamsUpdateInterval, time.Hour},
		{"wireGuard.allowedIPs", p.WireGuard.AllowedIPs, []string{"172.16.0.0/12", "10.0.0.0/8", "fd00::/8", "fe80::/10"}},
		{"wireGuard.dnsUpdateInterval", p.WireGuard.DNSUpdateInterval, time.Minute},
		{"wireGuard.persistentKeepalive", p.WireGuard.PersistentKeepalive, 25},
		{"wireGuard.localEndpointHost", p.WireGuard.LocalEndpointHost, "jp-118.dn42.example.net"},
		{"wireGuard.communities", [2]int{p.WireGuard.BandwidthCommunity, p.WireGuard.SecurityCommunity}, [2]int{24, 34}},
		{"gre.communities", [2]int{p.GRE.BandwidthCommunity, p.GRE.SecurityCommunity}, [2]int{23, 31}},
		{"gre.localEndpointHost6", p.GRE.LocalEndpointHost6, "2001:db8::1"},
		{"gre.localEndpointDesc4", p.GRE.LocalEndpointDesc4, "Please contact to get IPv4 endpoint"},
		{"peerProbe.enabled", p.PeerProbe.Enabled, true},
		{"peerProbe.packetInterval", p.PeerProbe.PacketInterval, 100 * time.Millisecond},
		{"peerProbe.summaryCooldown", p.PeerProbe.SummaryCooldown, 30 * time.Second},
		{"peerProbe.serverIPv4", p.PeerProbe.ServerIPv4, "172.23.91.112"},
		{"peerProbe.serverIPv6Prefix", p.PeerProbe.ServerIPv6Prefix, "fd42:4242:2189:ac::/64"},
		{"peerProbe.serverPort", p.PeerProbe.ServerPort, 3000},
		{"peerProbe.encryptionKey", p.PeerProbe.EncryptionKey, "probe-key-0123456789"},
		{"peerProbe.banner", p.PeerProbe.Banner, "Example PeerAPI Peering Prober"},
		{"log.file", c.Log.File, "./logs/peerapi-agent.log"},
		{"log.console", c.Log.Console, true},
		{"log.maxSizeMB", c.Log.MaxSizeMB, 10},
		// Not in config.json: native defaults.
		{"ops.listen", c.Ops.Listen, "127.0.0.1:9470"},
		{"tunnel.managedPrefix", c.Tunnel.ManagedPrefix, "dn"},
		// A PeerAPI drop-in manages tunnels and BIRD files, as the old agent did.
		{"tunnel.enabled", c.Tunnel.Enabled, true},
		{"bird.enabled", c.BIRD.Enabled, true},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	// One warning per unused key the file sets, and none for the keys edgeagent uses.
	wantWarn := expectedUnused(t, "testdata/peerapi-code.json")
	if got := warningKeys(warns); !reflect.DeepEqual(got, wantWarn) {
		t.Errorf("warnings for keys %v, want %v\n%v", got, wantWarn, warns)
	}
	// The commands netlink, wgctrl and /proc/sys replace are never used; the log rotation keys
	// are not used yet.
	for _, k := range []string{"bird.ipCommandPath", "wireGuard.wgCommandPath", "sysctl.commandPath", "logger.maxSize"} {
		if findWarning(warns, k) == nil {
			t.Errorf("no warning for %s", k)
		}
	}
	for _, k := range []string{"peerApiCenter.apiUrl", "peerApiCenter.sessionPassthroughJwtSecert", "ipConfig.ipv4", "wireGuard.privateKeyPath", "bird.bgpPeerConfDir"} {
		if w := findWarning(warns, k); w != nil {
			t.Errorf("warning for a used key: %v", w)
		}
	}
	for _, w := range warns {
		if w.Line == 0 || w.File != "peerapi-code.json" || !strings.Contains(w.Message, "accepted but not used") {
			t.Errorf("warning %q lacks line, file or the accepted-but-unused phrase", w)
		}
	}
	// The line is the key's line in the file.
	if w := findWarning(warns, "bird.ipCommandPath"); w == nil || w.Line != lineOf(t, "testdata/peerapi-code.json", `"ipCommandPath"`) {
		t.Errorf("bird.ipCommandPath warning line = %+v", w)
	}
}

func lineOf(t *testing.T, file, needle string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), needle)
	if i < 0 {
		t.Fatalf("%s not in %s", needle, file)
	}
	return strings.Count(string(b[:i]), "\n") + 1
}

func TestPeerAPIReadmeShape(t *testing.T) {
	c, warns, err := Load("testdata/peerapi-readme.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	p := c.Sources.PeerAPI
	// README names the old agent silently dropped are honoured (with a warning).
	if p.APIURL != "https://peerapi.example.org" {
		t.Errorf("apiURL from README 'url' = %q", p.APIURL)
	}
	if p.SessionPassthroughJWTSecret != "jwt-secret-for-passthrough" {
		t.Errorf("JWT secret from README spelling = %q", p.SessionPassthroughJWTSecret)
	}
	if p.IPConfig != (PeerAPIIPConfig{IPv4: "172.23.91.132", IPv6: "fd42:4242:2189:118::1", IPv6LinkLocal: "fe80::118"}) {
		t.Errorf("ipConfig from wireguard/gre ipv4/ipv6 = %+v", p.IPConfig)
	}
	// "wireguard" (README) matches the code's "wireGuard"; "geoIPCountryMode" matches "geoIpCountryMode".
	if p.WireGuard.LocalEndpointHost != "jp-118.dn42.example.net" || p.WireGuard.SecurityCommunity != 34 {
		t.Errorf("lower-case wireguard section not read: %+v", p.WireGuard)
	}
	if p.Metric.GeoIPCountryMode != "whitelist" || len(p.Metric.WhitelistGeoCountries) != 8 {
		t.Errorf("metric = %+v", p.Metric)
	}
	if p.Server.ListenerType != "unix" || p.Server.Listen != "/run/peerapi-agent.sock" || p.Server.BodyLimit != 2097152 {
		t.Errorf("server = %+v", p.Server)
	}
	if p.RequestTimeout != 10*time.Second || p.HeartbeatInterval != 20*time.Second || p.SyncInterval != 10*time.Minute || p.MetricInterval != 2*time.Minute {
		t.Errorf("intervals = %v %v %v %v", p.RequestTimeout, p.HeartbeatInterval, p.SyncInterval, p.MetricInterval)
	}
	if c.Log.Console || c.Log.File != "./logs/peerapi-agent.log" {
		t.Errorf("log = %+v", c.Log)
	}
	// Keys absent from this file keep defaults (the old agent's zero values would not work).
	if p.Metric.MaxRTTMetricsHistory != 288 || p.WireGuard.DNSUpdateInterval != 300*time.Second || p.PeerProbe.Enabled {
		t.Errorf("defaults not kept: %+v %+v", p.Metric, p.WireGuard)
	}
	want := append(expectedUnused(t, "testdata/peerapi-readme.json"), "gre.ipv4", "gre.ipv6", "gre.ipv6LinkLocal",
		"peerApiCenter.sessionPassthroughJwtSecret", "peerApiCenter.url", "wireGuard.ipv4", "wireGuard.ipv6", "wireGuard.ipv6LinkLocal")
	sort.Strings(want)
	if got := warningKeys(warns); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings for %v, want %v\n%v", got, want, warns)
	}
	if w := findWarning(warns, "peerApiCenter.url"); w == nil || !strings.Contains(w.Message, "peerApiCenter.apiUrl") {
		t.Errorf("url warning = %+v", w)
	}
	// wireguard's addresses came first and were used; gre's repeat them and are reported ignored.
	if w := findWarning(warns, "gre.ipv4"); w == nil || !strings.Contains(w.Message, "ignored") {
		t.Errorf("gre.ipv4 warning = %+v", w)
	}
	if w := findWarning(warns, "wireGuard.ipv4"); w == nil || !strings.Contains(w.Message, "uses it") {
		t.Errorf("wireGuard.ipv4 warning = %+v", w)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPeerAPIJSONSemantics(t *testing.T) {
	// Case-insensitive keys, last duplicate wins, null keeps the default, code key beats README alias.
	p := writeFile(t, "config.json", `{
  "PEERAPICENTER": {"APIURL": "http://a.example", "apiurl": "http://b.example", "url": "http://readme.example",
                    "secret": "s", "RouterUuid": "40ca6d20-048d-4cb2-89be-e94f99af6781", "syncInterval": null,
                    "futureKey": 1},
  "WireGuard": {"allowedIps": "10.0.0.0/8"},
  "newSection": {"x": 1}
}`)
	c, warns, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	pa := c.Sources.PeerAPI
	if pa.APIURL != "http://b.example" || pa.RouterUUID == "" || pa.SyncInterval != 300*time.Second {
		t.Errorf("got apiURL %q routerUUID %q syncInterval %v", pa.APIURL, pa.RouterUUID, pa.SyncInterval)
	}
	if !reflect.DeepEqual(pa.WireGuard.AllowedIPs, []string{"10.0.0.0/8"}) {
		t.Errorf("allowedIPs = %v", pa.WireGuard.AllowedIPs)
	}
	if w := findWarning(warns, "peerApiCenter.futureKey"); w == nil || w.Line != 4 || !strings.Contains(w.Message, "ignored") {
		t.Errorf("unknown key warning = %+v (all: %v)", w, warns)
	}
	if w := findWarning(warns, "newSection"); w == nil || w.Line != 6 {
		t.Errorf("unknown section warning = %+v", w)
	}
	if w := findWarning(warns, "peerApiCenter.url"); w == nil || !strings.Contains(w.Message, "also set; ignored") {
		t.Errorf("alias warning = %+v", w)
	}
	if s := findWarning(warns, "peerApiCenter.futureKey").String(); s != "config.json line 4: peerApiCenter.futureKey is not a PeerAPI agent key; ignored (the PeerAPI agent ignored it too)" {
		t.Errorf("warning string = %q", s)
	}
}

func TestPeerAPIJSONErrors(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       []string
	}{
		{"string for int", "{\"peerApiCenter\": {\n\"syncInterval\": \"300\"}}", []string{"config.json line 2: peerApiCenter.syncInterval: must be an integer (got a JSON string)"}},
		{"section not object", `{"peerApiCenter": [1], "server": {"listen": 8080}}`, []string{"peerApiCenter", "must be a JSON object", "server.listen: must be a string (got a JSON number)"}},
		{"bad json", `{"peerApiCenter": {`, []string{"config.json"}},
		{"list for comma string", `{"wireGuard": {"allowedIps": ["10.0.0.0/8"]}}`, []string{"wireGuard.allowedIps: must be a string"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParsePeerAPIJSON("config.json", []byte(tc.json))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestPeerAPIValidationNamesOldKey(t *testing.T) {
	p := writeFile(t, "config.json", `{"peerApiCenter": {"apiUrl": "ftp://x", "secret": "0123456789012345678901234567890123456789",
	"routerUuid": "40ca6d20-048d-4cb2-89be-e94f99af6781", "metricInterval": 30, "interfaceIpBlacklist": ["10.0.0.0/8", "nope"]}}`)
	c, _, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil {
		t.Fatal("Validate passed")
	}
	for _, want := range []string{
		`sources.peerapi.metricInterval (config.json peerApiCenter.metricInterval): must be at least 60s (got "30s")`,
		`sources.peerapi.apiURL (config.json peerApiCenter.apiUrl): must be an http:// or https:// URL`,
		`sources.peerapi.secret (config.json peerApiCenter.secret): with routerUUID must fit bcrypt's 72 bytes: at most 36 bytes`,
		`sources.peerapi.interfaceIPBlacklist[1] (config.json peerApiCenter.interfaceIpBlacklist): must be an IP address or a CIDR (got "nope")`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "0123456789012345678901234567890123456789") {
		t.Error("validation error prints the secret")
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Error("errors are not *FieldError")
	}
}

func TestNativeYAML(t *testing.T) {
	c, warns, err := Load("../../hack/examples/edgeagent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("native config warnings: %v", warns)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("example does not validate: %v", err)
	}
	if c.StateDir != "/tmp/edgeagent-state" || c.Sources.File.Path != "hack/examples/desired" || !c.DNS.Enabled || c.DNS.Listen != "127.0.0.1:8053" {
		t.Errorf("example values: %+v %+v %+v", c.StateDir, c.Sources.File, c.DNS)
	}

	y := writeFile(t, "edgeagent.yaml", `
stateDir: /srv/state
log: {format: json, level: debug}
controller:
  resyncInterval: 90s
  workers: {DNSZone: 8}
  backoff: {base: 10ms, max: 1m}
sources:
  file: {path: /etc/edgeagent/desired.d}
  peerapi:
    enabled: true
    apiURL: https://peerapi.example.org
    secret: s
    routerUUID: 40ca6d20-048d-4cb2-89be-e94f99af6781
    metricInterval: 2m
    wireGuard:
      allowedIPs: [10.0.0.0/8]
    peerProbe: {enabled: false}
tunnel: {managedPrefix: pe}
`)
	c, _, err = Load(y)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.StateDir != "/srv/state" || c.Log.Format != "json" || c.Controller.ResyncInterval != 90*time.Second ||
		c.Controller.Backoff.Max != time.Minute || c.Tunnel.ManagedPrefix != "pe" || c.Sources.PeerAPI.MetricInterval != 2*time.Minute {
		t.Errorf("values not decoded: %+v", c)
	}
	// workers merge over the defaults.
	if w := c.Controller.Workers; w["DNSZone"] != 8 || w["Tunnel"] != 1 || w["WAFScript"] != 2 {
		t.Errorf("workers = %v", w)
	}
	if !reflect.DeepEqual(c.Sources.PeerAPI.WireGuard.AllowedIPs, []string{"10.0.0.0/8"}) || c.Sources.PeerAPI.WireGuard.PersistentKeepalive != 25 {
		t.Errorf("wireGuard = %+v", c.Sources.PeerAPI.WireGuard)
	}
	// A .json native config (it has native top-level keys) is native, not PeerAPI.
	j := writeFile(t, "native.json", `{"stateDir": "/x", "bird": {"poolSize": 3}}`)
	c, _, err = Load(j)
	if err != nil || c.StateDir != "/x" || c.BIRD.PoolSize != 3 || c.Sources.PeerAPI.Enabled {
		t.Errorf("native JSON: %v %+v", err, c)
	}
	// config.json under another name is still recognised by its content.
	b, _ := os.ReadFile("testdata/peerapi-code.json")
	c, _, err = Load(writeFile(t, "peerapi-agent.conf", string(b)))
	if err != nil || !c.Sources.PeerAPI.Enabled || c.Sources.PeerAPI.APIURL != "http://10.127.21.55:3000" {
		t.Errorf("config.json without .json name: %v", err)
	}
	// Empty file and no path: defaults.
	c, _, err = Load(writeFile(t, "empty.yaml", "\n"))
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Errorf("empty file: %v", err)
	}
	c, _, err = Load("")
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Errorf("no path: %v", err)
	}
	if _, _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("missing file loaded")
	}
}

func TestNativeYAMLErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "log:\n  formt: json\n", []string{`c.yaml line 2: log.formt: unknown key (known keys: compress, console, file, format, level, maxAgeDays, maxBackups, maxSizeMB)`}},
		{"unknown top key", "stateDir: /x\nstatedir2: 1\n", []string{"line 2: statedir2: unknown key"}},
		{"case typo", "ops:\n  Listen: 1.2.3.4:1\n", []string{`line 2: ops.Listen: unknown key (did you mean "listen"?)`}},
		{"deep unknown", "sources:\n  peerapi:\n    wireGuard:\n      allowedIps: x\n", []string{`line 4: sources.peerapi.wireGuard.allowedIps: unknown key (did you mean "allowedIPs"?)`}},
		{"type error", "bird:\n  poolSize: many\n", []string{"line 2: bird.poolSize: cannot unmarshal !!str `many` into int"}},
		{"int for duration", "controller:\n  resyncInterval: 300\n", []string{"line 2: controller.resyncInterval:"}},
		{"bad duration", "controller:\n  resyncInterval: 5 minutes\n", []string{"line 2: controller.resyncInterval:"}},
		{"duplicate", "dns:\n  listen: a\n  listen: b\n", []string{"line 3: dns.listen: key given twice (first at line 2)"}},
		{"not a mapping", "log: verbose\n", []string{"line 1: log: must be a mapping of keys"}},
		{"two docs", "stateDir: /a\n---\nstateDir: /b\n", []string{"one YAML document"}},
		{"two errors", "log:\n  formt: json\nops:\n  tokn: x\n", []string{"log.formt", "ops.tokn"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseYAML("c.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		field  string
		reason string
	}{
		{"ok", func(c *Config) {}, "", ""},
		{"public ops without token", func(c *Config) { c.Ops.Listen = "0.0.0.0:9470" }, "ops.listen", "a non-loopback listen address requires a bearer token"},
		{"wildcard ops without token", func(c *Config) { c.Ops.Listen = ":9470" }, "ops.listen", "requires a bearer token"},
		{"public ops with token", func(c *Config) { c.Ops.Listen = "0.0.0.0:9470"; c.Ops.Token = "t" }, "", ""},
		{"public ops with token file", func(c *Config) { c.Ops.Listen = "[::]:9470"; c.Ops.TokenFile = "/etc/t" }, "", ""},
		{"token and file", func(c *Config) { c.Ops.Token = "t"; c.Ops.TokenFile = "/etc/t" }, "ops.tokenFile", "not both"},
		{"bad ops listen", func(c *Config) { c.Ops.Listen = "9470" }, "ops.listen", "host:port"},
		{"no state dir", func(c *Config) { c.StateDir = "" }, "stateDir", "required"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format", "console or json"},
		{"log level", func(c *Config) { c.Log.Level = "chatty" }, "log.level", "must be"},
		{"unknown worker kind", func(c *Config) { c.Controller.Workers["Tunnels"] = 1 }, "controller.workers.Tunnels", "unknown kind"},
		{"zero workers", func(c *Config) { c.Controller.Workers["Tunnel"] = 0 }, "controller.workers.Tunnel", "1-256"},
		{"backoff", func(c *Config) { c.Controller.Backoff.Max = time.Millisecond }, "controller.backoff.max", "at least"},
		{"resync", func(c *Config) { c.Controller.ResyncInterval = 0 }, "controller.resyncInterval", "positive"},
		{"fraction", func(c *Config) { c.Controller.DeletionGuard.MaxFraction = 1.5 }, "controller.deletionGuard.maxFraction", "(0, 1]"},
		{"prefix", func(c *Config) { c.Tunnel.ManagedPrefix = "" }, "tunnel.managedPrefix", "1-8"},
		{"wg mode", func(c *Config) { c.Tunnel.WireGuardMode = "fast" }, "tunnel.wireguardMode", "auto, kernel or userspace"},
		{"bird pool", func(c *Config) { c.BIRD.PoolSizeMax = 1; c.BIRD.PoolSize = 4 }, "bird.poolSizeMax", "at least bird.poolSize"},
		{"dns listen", func(c *Config) { c.DNS.Enabled = true; c.DNS.Listen = "" }, "dns.listen", "required"},
		{"peerapi required", func(c *Config) { c.Sources.PeerAPI.Enabled = true }, "sources.peerapi.apiURL", "required"},
		{"probe needs server", func(c *Config) {
			p := &c.Sources.PeerAPI
			p.Enabled, p.APIURL, p.Secret, p.RouterUUID = true, "http://x", "s", "40ca6d20-048d-4cb2-89be-e94f99af6781"
			p.PeerProbe.Enabled, p.PeerProbe.EncryptionKey = true, "k"
		}, "sources.peerapi.peerProbe.serverIPv4", "serverIPv4 or serverIPv6"},
		{"ipconfig family", func(c *Config) {
			p := &c.Sources.PeerAPI
			p.Enabled, p.APIURL, p.Secret, p.RouterUUID = true, "http://x", "s", "40ca6d20-048d-4cb2-89be-e94f99af6781"
			p.IPConfig.IPv6LinkLocal = "fd00::1"
		}, "sources.peerapi.ipConfig.ipv6LinkLocal", "link-local"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate passed")
			}
			var found bool
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *FieldError
				if errors.As(e, &fe) && fe.Field == tc.field && strings.Contains(fe.Reason, tc.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("no error on %s containing %q in:\n%v", tc.field, tc.reason, err)
			}
		})
	}
}

func TestFlagsOverride(t *testing.T) {
	fs := flag.NewFlagSet("edgeagent", flag.ContinueOnError)
	f := BindFlags(fs)
	if err := fs.Parse([]string{"--ops-listen", "0.0.0.0:9999", "--log-level=debug", "--allow-mass-delete", "--file", "/d"}); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.StateDir = "/from/file"
	c.Log.Format = "json"
	c.ApplyOverrides(f.Overrides())
	if c.Ops.Listen != "0.0.0.0:9999" || c.Log.Level != "debug" || !c.Controller.DeletionGuard.AllowMassDelete || c.Sources.File.Path != "/d" {
		t.Errorf("overrides not applied: %+v %+v", c.Ops, c.Log)
	}
	// Flags not given leave the file's values alone, even where the flag default is "".
	if c.StateDir != "/from/file" || c.Log.Format != "json" {
		t.Errorf("unset flags overrode the file: stateDir %q format %q", c.StateDir, c.Log.Format)
	}
	// The override is validated like the file: a public ops address needs a token.
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "requires a bearer token") {
		t.Errorf("Validate after override = %v", err)
	}
}

func TestRedacted(t *testing.T) {
	c, _, err := Load("testdata/peerapi-code.json")
	if err != nil {
		t.Fatal(err)
	}
	c.Ops.Token = "ops-token"
	r := c.Redacted()
	for _, s := range []string{r.Ops.Token, r.Sources.PeerAPI.Secret, r.Sources.PeerAPI.AgentSecret, r.Sources.PeerAPI.SessionPassthroughJWTSecret, r.Sources.PeerAPI.PeerProbe.EncryptionKey} {
		if s != Redaction {
			t.Errorf("secret not redacted: %q", s)
		}
	}
	if c.Sources.PeerAPI.Secret != "center-shared-secret" || c.Ops.Token != "ops-token" {
		t.Error("Redacted changed the original")
	}
	r.Controller.Workers["Tunnel"] = 99
	if c.Controller.Workers["Tunnel"] == 99 {
		t.Error("Redacted shares the workers map")
	}
}

func TestOpsToken(t *testing.T) {
	c := Default()
	if tok, err := c.OpsToken(); err != nil || tok != "" {
		t.Errorf("no token = %q %v", tok, err)
	}
	c.Ops.TokenFile = writeFile(t, "token", "  abc123\n")
	if tok, err := c.OpsToken(); err != nil || tok != "abc123" {
		t.Errorf("token file = %q %v", tok, err)
	}
	c.Ops.TokenFile = writeFile(t, "empty", "\n")
	if _, err := c.OpsToken(); err == nil {
		t.Error("empty token file accepted")
	}
}

func TestExamplePeerAPIConfig(t *testing.T) {
	c, warns, err := Load("../../hack/examples/peerapi-config.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.Sources.PeerAPI.Enabled || len(warns) == 0 {
		t.Errorf("example PeerAPI config: enabled %v, %d warnings", c.Sources.PeerAPI.Enabled, len(warns))
	}
}
