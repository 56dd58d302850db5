// Package config holds edgeagent's native configuration: its shape and defaults, YAML loading
// with unknown keys as errors, validation with errors that name the field, flag overrides, and
// the translation of the PeerAPI agent's config.json (see peerapi_json.go). Parsing is pure: no
// file other than the config itself is read here.
package config

import (
	"fmt"
	"time"
)

// Config is edgeagent's native configuration. Every key, its default and its meaning is listed
// in README.md next to this file.
type Config struct {
	// StateDir holds the sources' last good answers (pkg/source/persist).
	StateDir   string           `yaml:"stateDir" json:"stateDir"`
	Log        LogConfig        `yaml:"log" json:"log"`
	Ops        OpsConfig        `yaml:"ops" json:"ops"`
	Controller ControllerConfig `yaml:"controller" json:"controller"`
	Sources    SourcesConfig    `yaml:"sources" json:"sources"`
	Tunnel     TunnelConfig     `yaml:"tunnel" json:"tunnel"`
	BIRD       BIRDConfig       `yaml:"bird" json:"bird"`
	DNS        DNSConfig        `yaml:"dns" json:"dns"`

	// origins maps native key paths to the key of the translated file (config.json) that set
	// them, so that validation errors name what the operator wrote.
	origins map[string]string
}

// LogConfig says how and where edgeagent logs.
type LogConfig struct {
	// Format is console or json.
	Format string `yaml:"format" json:"format"`
	// Level is error, warn, info, debug (logr V(1)), trace (V(2)) or a verbosity number.
	Level string `yaml:"level" json:"level"`
	// File, when set, receives the log (appended); "" logs to stderr only.
	File string `yaml:"file" json:"file,omitempty"`
	// Console also writes to stderr when File is set.
	Console bool `yaml:"console" json:"console"`
	// MaxSizeMB, MaxBackups, MaxAgeDays and Compress are the PeerAPI agent's rotation settings;
	// accepted but not used yet (rotate with logrotate's copytruncate meanwhile).
	MaxSizeMB  int  `yaml:"maxSizeMB" json:"maxSizeMB,omitempty"`
	MaxBackups int  `yaml:"maxBackups" json:"maxBackups,omitempty"`
	MaxAgeDays int  `yaml:"maxAgeDays" json:"maxAgeDays,omitempty"`
	Compress   bool `yaml:"compress" json:"compress,omitempty"`
}

// OpsConfig configures the ops HTTP server (pkg/ops).
type OpsConfig struct {
	// Listen is host:port. A non-loopback address requires Token or TokenFile.
	Listen string `yaml:"listen" json:"listen"`
	// Token is the bearer token for every ops endpoint except /healthz.
	Token string `yaml:"token" json:"token,omitempty"`
	// TokenFile holds the token (surrounding white space trimmed); exclusive with Token.
	TokenFile string `yaml:"tokenFile" json:"tokenFile,omitempty"`
}

// ControllerConfig tunes the manager: resync, shutdown, workers, retries and the deletion guard.
type ControllerConfig struct {
	// ResyncInterval enqueues every desired and observed key periodically to repair drift.
	ResyncInterval time.Duration `yaml:"resyncInterval" json:"resyncInterval"`
	// ShutdownTimeout bounds the wait for in-flight reconciles on exit.
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout" json:"shutdownTimeout"`
	// Workers per kind; entries given in the file are merged over the defaults.
	Workers   map[string]int  `yaml:"workers" json:"workers"`
	Backoff   BackoffConfig   `yaml:"backoff" json:"backoff"`
	RateLimit RateLimitConfig `yaml:"rateLimit" json:"rateLimit"`
	// DeletionGuard holds deletions when a source suddenly drops many objects.
	DeletionGuard DeletionGuardConfig `yaml:"deletionGuard" json:"deletionGuard"`
}

// BackoffConfig is the per-key exponential retry backoff.
type BackoffConfig struct {
	Base time.Duration `yaml:"base" json:"base"`
	Max  time.Duration `yaml:"max" json:"max"`
}

// RateLimitConfig is the overall token bucket of each kind's queue.
type RateLimitConfig struct {
	QPS   float64 `yaml:"qps" json:"qps"`
	Burst int     `yaml:"burst" json:"burst"`
}

// DeletionGuardConfig: a new answer that deletes more than MaxFraction of a source's objects,
// and at least MinCount of them, is held until confirmed (or AllowMassDelete).
type DeletionGuardConfig struct {
	MaxFraction     float64 `yaml:"maxFraction" json:"maxFraction"`
	MinCount        int     `yaml:"minCount" json:"minCount"`
	AllowMassDelete bool    `yaml:"allowMassDelete" json:"allowMassDelete"`
}

// SourcesConfig configures the sources of desired objects.
type SourcesConfig struct {
	File    FileSourceConfig `yaml:"file" json:"file"`
	PeerAPI PeerAPIConfig    `yaml:"peerapi" json:"peerapi"`
}

// FileSourceConfig configures the declarative file source (pkg/source/file).
type FileSourceConfig struct {
	// Path is a file or a directory of *.yaml, *.yml, *.json files; "" disables the source.
	Path string `yaml:"path" json:"path"`
	// Interval is the fallback poll of the path; inotify reports changes at once.
	Interval time.Duration `yaml:"interval" json:"interval"`
}

// TunnelConfig configures the tunnel reconciler.
type TunnelConfig struct {
	// Enabled runs the tunnel reconciler. It owns every interface with ManagedPrefix, removing
	// those nobody desires, so it is off unless asked for; a PeerAPI config.json turns it on.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// ManagedPrefix: only interfaces whose name starts with it are created, changed or removed.
	ManagedPrefix string `yaml:"managedPrefix" json:"managedPrefix"`
	// StaleHandshake: a WireGuard peer whose last handshake is older gets its endpoint
	// re-resolved and set again.
	StaleHandshake time.Duration `yaml:"staleHandshake" json:"staleHandshake"`
	// WireGuardMode is auto (kernel, else userspace), kernel or userspace.
	WireGuardMode string `yaml:"wireguardMode" json:"wireguardMode"`
	// IPCommandPath, WGCommandPath and SysctlCommandPath are the PeerAPI agent's command paths;
	// accepted but not used: edgeagent uses netlink, wgctrl and /proc/sys.
	IPCommandPath     string `yaml:"ipCommandPath" json:"ipCommandPath,omitempty"`
	WGCommandPath     string `yaml:"wgCommandPath" json:"wgCommandPath,omitempty"`
	SysctlCommandPath string `yaml:"sysctlCommandPath" json:"sysctlCommandPath,omitempty"`
}

// BIRDConfig configures the BIRD protocol reconciler and the BIRD control-socket client.
type BIRDConfig struct {
	// Enabled runs the BIRD protocol reconciler (off by default; a PeerAPI config.json turns it on).
	Enabled       bool   `yaml:"enabled" json:"enabled"`
	ControlSocket string `yaml:"controlSocket" json:"controlSocket"`
	// PeerConfDir holds one managed file per BIRDProtocol object; bird.conf must include it.
	PeerConfDir string `yaml:"peerConfDir" json:"peerConfDir"`
	// TemplateFile overrides the embedded peer template; "" uses the embedded one.
	TemplateFile string `yaml:"templateFile" json:"templateFile,omitempty"`
	// PoolSize connections are kept open; PoolSizeMax bounds them (0 = PoolSize).
	PoolSize    int `yaml:"poolSize" json:"poolSize"`
	PoolSizeMax int `yaml:"poolSizeMax" json:"poolSizeMax,omitempty"`
	// ConnectionMaxRetries and ConnectionRetryDelay bound dialing the control socket.
	ConnectionMaxRetries int           `yaml:"connectionMaxRetries" json:"connectionMaxRetries,omitempty"`
	ConnectionRetryDelay time.Duration `yaml:"connectionRetryDelay" json:"connectionRetryDelay,omitempty"`
}

// DNSConfig configures the in-process authoritative DNS server.
type DNSConfig struct {
	Enabled bool   `yaml:"enabled" json:"enabled"`
	Listen  string `yaml:"listen" json:"listen"`
	// UDPSockets is the number of SO_REUSEPORT UDP sockets; 0 means one per CPU.
	UDPSockets int `yaml:"udpSockets" json:"udpSockets"`
	// GeoIPDatabase is a MaxMind country/city mmdb for geo answers; "" answers Default only.
	GeoIPDatabase string `yaml:"geoipDatabase" json:"geoipDatabase,omitempty"`
}

// PeerAPIConfig is everything the PeerAPI agent's config.json says, with native names. Intervals
// that were integer seconds are durations here ("30s"). See README.md for the key mapping.
type PeerAPIConfig struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// APIURL is the PeerAPI center base URL (config.json peerApiCenter.apiUrl).
	APIURL string `yaml:"apiURL" json:"apiURL"`
	// Secret authenticates the agent to the center (bcrypt(secret+routerUUID)). Unlike the PeerAPI
	// agent, the agent API does not accept it as a bearer token. At most 72 bytes together with
	// RouterUUID.
	Secret         string        `yaml:"secret" json:"secret,omitempty"`
	RequestTimeout time.Duration `yaml:"requestTimeout" json:"requestTimeout"`
	RouterUUID     string        `yaml:"routerUUID" json:"routerUUID"`
	// AgentSecret: the agent API accepts bcrypt(agentSecret+routerUUID) as a bearer token.
	AgentSecret       string        `yaml:"agentSecret" json:"agentSecret,omitempty"`
	HeartbeatInterval time.Duration `yaml:"heartbeatInterval" json:"heartbeatInterval"`
	SyncInterval      time.Duration `yaml:"syncInterval" json:"syncInterval"`
	// MetricInterval must be at least 60s (the PeerAPI agent refused to start otherwise).
	MetricInterval time.Duration `yaml:"metricInterval" json:"metricInterval"`
	// WANInterfaces are summed for the heartbeat's tx/rx.
	WANInterfaces []string `yaml:"wanInterfaces" json:"wanInterfaces"`
	// SessionPassthroughJWTSecret signs the /info passthrough JWT (HS256)
	// (config.json peerApiCenter.sessionPassthroughJwtSecert, sic).
	SessionPassthroughJWTSecret string `yaml:"sessionPassthroughJWTSecret" json:"sessionPassthroughJWTSecret,omitempty"`
	// InterfaceIPAllowPublic allows peer tunnel IPs outside private ranges.
	InterfaceIPAllowPublic bool `yaml:"interfaceIPAllowPublic" json:"interfaceIPAllowPublic"`
	// InterfaceIPBlacklist rejects peer tunnel IPs inside these IPs/CIDRs.
	InterfaceIPBlacklist []string `yaml:"interfaceIPBlacklist" json:"interfaceIPBlacklist"`

	Server    PeerAPIServerConfig    `yaml:"server" json:"server"`
	IPConfig  PeerAPIIPConfig        `yaml:"ipConfig" json:"ipConfig"`
	WireGuard PeerAPIWireGuardConfig `yaml:"wireGuard" json:"wireGuard"`
	GRE       PeerAPIGREConfig       `yaml:"gre" json:"gre"`
	Sysctl    PeerAPISysctlConfig    `yaml:"sysctl" json:"sysctl"`
	Metric    PeerAPIMetricConfig    `yaml:"metric" json:"metric"`
	PeerProbe PeerAPIProbeConfig     `yaml:"peerProbe" json:"peerProbe"`
}

// PeerAPIServerConfig is the agent API listener (/status, /sync, /info) the center calls.
type PeerAPIServerConfig struct {
	// Debug logs every request.
	Debug bool `yaml:"debug" json:"debug"`
	// ListenerType is tcp or unix.
	ListenerType string `yaml:"listenerType" json:"listenerType"`
	// Listen is host:port (tcp) or a socket path (unix, mode 0666, removed on exit).
	Listen          string        `yaml:"listen" json:"listen"`
	BodyLimit       int           `yaml:"bodyLimit" json:"bodyLimit"`
	ReadTimeout     time.Duration `yaml:"readTimeout" json:"readTimeout"`
	WriteTimeout    time.Duration `yaml:"writeTimeout" json:"writeTimeout"`
	IdleTimeout     time.Duration `yaml:"idleTimeout" json:"idleTimeout"`
	ReadBufferSize  int           `yaml:"readBufferSize" json:"readBufferSize,omitempty"`
	WriteBufferSize int           `yaml:"writeBufferSize" json:"writeBufferSize,omitempty"`
	// TrustedProxies (IPs or CIDRs) may set X-Forwarded-For / X-Real-IP.
	TrustedProxies []string `yaml:"trustedProxies" json:"trustedProxies"`
}

// PeerAPIIPConfig holds our addresses on every tunnel.
type PeerAPIIPConfig struct {
	IPv4          string `yaml:"ipv4" json:"ipv4,omitempty"`
	IPv6          string `yaml:"ipv6" json:"ipv6,omitempty"`
	IPv6LinkLocal string `yaml:"ipv6LinkLocal" json:"ipv6LinkLocal,omitempty"`
}

// PeerAPIWireGuardConfig is how WireGuard sessions are built.
type PeerAPIWireGuardConfig struct {
	// LocalEndpointHost is shown to peers by /info as <host>:<port>.
	LocalEndpointHost string `yaml:"localEndpointHost" json:"localEndpointHost"`
	PrivateKeyPath    string `yaml:"privateKeyPath" json:"privateKeyPath"`
	PublicKeyPath     string `yaml:"publicKeyPath" json:"publicKeyPath"`
	// PersistentKeepalive in seconds.
	PersistentKeepalive int `yaml:"persistentKeepalive" json:"persistentKeepalive"`
	// AllowedIPs routed into every WireGuard tunnel (config.json: one comma-separated string).
	AllowedIPs []string `yaml:"allowedIPs" json:"allowedIPs"`
	// DNSUpdateInterval re-resolves endpoints of peers without a recent handshake.
	DNSUpdateInterval time.Duration `yaml:"dnsUpdateInterval" json:"dnsUpdateInterval"`
	// BandwidthCommunity and SecurityCommunity are the DN42 community numbers for the filters.
	BandwidthCommunity int `yaml:"bandwidthCommunity" json:"bandwidthCommunity"`
	SecurityCommunity  int `yaml:"securityCommunity" json:"securityCommunity"`
}

// PeerAPIGREConfig is how GRE and ip6gre sessions are built.
type PeerAPIGREConfig struct {
	LocalEndpointHost4 string `yaml:"localEndpointHost4" json:"localEndpointHost4,omitempty"`
	LocalEndpointHost6 string `yaml:"localEndpointHost6" json:"localEndpointHost6,omitempty"`
	// LocalEndpointDesc4/6 are shown to peers by /info instead of the address.
	LocalEndpointDesc4 string `yaml:"localEndpointDesc4" json:"localEndpointDesc4,omitempty"`
	LocalEndpointDesc6 string `yaml:"localEndpointDesc6" json:"localEndpointDesc6,omitempty"`
	BandwidthCommunity int    `yaml:"bandwidthCommunity" json:"bandwidthCommunity"`
	SecurityCommunity  int    `yaml:"securityCommunity" json:"securityCommunity"`
}

// PeerAPISysctlConfig are the per-interface sysctls set on every tunnel.
type PeerAPISysctlConfig struct {
	IPv4Forwarding bool `yaml:"ipv4Forwarding" json:"ipv4Forwarding"`
	IPv6Forwarding bool `yaml:"ipv6Forwarding" json:"ipv6Forwarding"`
	IPv6AcceptRA   bool `yaml:"ipv6AcceptRA" json:"ipv6AcceptRA"`
	IPv6Autoconf   bool `yaml:"ipv6Autoconf" json:"ipv6Autoconf"`
	// RPFilter: 0 off, 1 strict, 2 loose.
	RPFilter    int  `yaml:"rpFilter" json:"rpFilter"`
	AcceptLocal bool `yaml:"acceptLocal" json:"acceptLocal"`
}

// PeerAPIMetricConfig covers RTT measurement, metrics reports, GeoIP policy and DN42 filters.
type PeerAPIMetricConfig struct {
	// AutoTeardown enables the GeoIP policy (with GeoIPDatabase).
	AutoTeardown bool `yaml:"autoTeardown" json:"autoTeardown"`
	// GeoIPDatabase is the MaxMind GeoLite2 country mmdb (config.json maxMindGeoLiteCountryMmdbPath).
	GeoIPDatabase string `yaml:"geoIPDatabase" json:"geoIPDatabase,omitempty"`
	// GeoIPCountryMode is whitelist or blacklist; any other value keeps every session.
	GeoIPCountryMode      string   `yaml:"geoIPCountryMode" json:"geoIPCountryMode,omitempty"`
	BlacklistGeoCountries []string `yaml:"blacklistGeoCountries" json:"blacklistGeoCountries,omitempty"`
	WhitelistGeoCountries []string `yaml:"whitelistGeoCountries" json:"whitelistGeoCountries,omitempty"`
	PingCommandPath       string   `yaml:"pingCommandPath" json:"pingCommandPath,omitempty"`
	// PingTimeout is per packet (ping -W).
	PingTimeout     time.Duration `yaml:"pingTimeout" json:"pingTimeout"`
	PingCount       int           `yaml:"pingCount" json:"pingCount"`
	PingCountOnFail int           `yaml:"pingCountOnFail" json:"pingCountOnFail"`
	PingWorkerCount int           `yaml:"pingWorkerCount" json:"pingWorkerCount"`
	// SessionWorkerCount bounds parallel per-session metric collection.
	SessionWorkerCount int `yaml:"sessionWorkerCount" json:"sessionWorkerCount"`
	// MaxRTTMetricsHistory samples are kept per session (config.json maxRTTMetricsHistroy, sic).
	MaxRTTMetricsHistory       int           `yaml:"maxRTTMetricsHistory" json:"maxRTTMetricsHistory"`
	GeoCheckInterval           time.Duration `yaml:"geoCheckInterval" json:"geoCheckInterval"`
	FilterParamsUpdateInterval time.Duration `yaml:"filterParamsUpdateInterval" json:"filterParamsUpdateInterval"`
}

// PeerAPIProbeConfig is the active peer probe (UDP packets to the probe server through each tunnel).
type PeerAPIProbeConfig struct {
	Enabled        bool          `yaml:"enabled" json:"enabled"`
	Interval       time.Duration `yaml:"interval" json:"interval"`
	PacketCount    int           `yaml:"packetCount" json:"packetCount"`
	PacketInterval time.Duration `yaml:"packetInterval" json:"packetInterval"`
	// EncryptionKey is the AES-256-GCM key (base64, hex, raw 32 bytes, else SHA-256 of it).
	EncryptionKey      string        `yaml:"encryptionKey" json:"encryptionKey,omitempty"`
	SessionWorkerCount int           `yaml:"sessionWorkerCount" json:"sessionWorkerCount"`
	Banner             string        `yaml:"banner" json:"banner"`
	SummaryCooldown    time.Duration `yaml:"summaryCooldown" json:"summaryCooldown"`
	// Probe server (config.json peerApiCenter.probeServer*).
	ServerIPv4       string `yaml:"serverIPv4" json:"serverIPv4,omitempty"`
	ServerIPv6       string `yaml:"serverIPv6" json:"serverIPv6,omitempty"`
	ServerIPv6Prefix string `yaml:"serverIPv6Prefix" json:"serverIPv6Prefix,omitempty"`
	ServerPort       int    `yaml:"serverPort" json:"serverPort"`
}

// Default returns the configuration used for every key a file does not set.
func Default() *Config {
	return &Config{
		StateDir: "/var/lib/edgeagent",
		Log:      LogConfig{Format: "console", Level: "info", Console: true},
		Ops:      OpsConfig{Listen: "127.0.0.1:9470"},
		Controller: ControllerConfig{
			ResyncInterval:  5 * time.Minute,
			ShutdownTimeout: 30 * time.Second,
			Workers:         map[string]int{"Tunnel": 1, "BIRDProtocol": 1, "DNSZone": 2, "ProxyListener": 1, "WAFScript": 2},
			Backoff:         BackoffConfig{Base: 5 * time.Millisecond, Max: 5 * time.Minute},
			RateLimit:       RateLimitConfig{QPS: 10, Burst: 100},
			DeletionGuard:   DeletionGuardConfig{MaxFraction: 0.5, MinCount: 5},
		},
		Sources: SourcesConfig{
			File: FileSourceConfig{Interval: 2 * time.Second},
			PeerAPI: PeerAPIConfig{
				RequestTimeout:    15 * time.Second,
				HeartbeatInterval: 30 * time.Second,
				SyncInterval:      300 * time.Second,
				MetricInterval:    60 * time.Second,
				Server: PeerAPIServerConfig{
					ListenerType: "tcp", Listen: ":8080", BodyLimit: 1 << 20,
					ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
					TrustedProxies: []string{"127.0.0.1", "::1"},
				},
				WireGuard: PeerAPIWireGuardConfig{
					PrivateKeyPath: "/etc/wireguard/privatekey", PublicKeyPath: "/etc/wireguard/publickey",
					PersistentKeepalive: 25,
					AllowedIPs:          []string{"172.16.0.0/12", "10.0.0.0/8", "fd00::/8", "fe80::/10"},
					DNSUpdateInterval:   300 * time.Second,
				},
				Sysctl: PeerAPISysctlConfig{IPv4Forwarding: true, IPv6Forwarding: true, AcceptLocal: true},
				Metric: PeerAPIMetricConfig{
					PingCommandPath: "/usr/bin/ping", PingTimeout: 5 * time.Second, PingCount: 4, PingCountOnFail: 1,
					PingWorkerCount: 64, SessionWorkerCount: 8, MaxRTTMetricsHistory: 288,
					GeoCheckInterval: 900 * time.Second, FilterParamsUpdateInterval: 3600 * time.Second,
				},
				PeerProbe: PeerAPIProbeConfig{
					Interval: 300 * time.Second, PacketCount: 5, PacketInterval: 100 * time.Millisecond,
					SessionWorkerCount: 32, Banner: "iEdon-Net PeerAPI Peering Prober",
					SummaryCooldown: 30 * time.Second, ServerPort: 2189,
				},
			},
		},
		Tunnel: TunnelConfig{ManagedPrefix: "dn", StaleHandshake: 135 * time.Second, WireGuardMode: "auto"},
		BIRD: BIRDConfig{
			ControlSocket: "/var/run/bird/bird.ctl", PeerConfDir: "/etc/bird/peers", PoolSize: 2,
			PoolSizeMax: 16, ConnectionMaxRetries: 5, ConnectionRetryDelay: 50 * time.Millisecond,
		},
		DNS: DNSConfig{Listen: ":53"},
	}
}

// Redaction is what a secret reads as in Redacted.
const Redaction = "<redacted>"

// Redacted returns a copy with every secret masked, for logging the effective configuration.
func (c *Config) Redacted() *Config {
	r := *c
	r.Controller.Workers = make(map[string]int, len(c.Controller.Workers))
	for k, v := range c.Controller.Workers {
		r.Controller.Workers[k] = v
	}
	for _, p := range []*string{&r.Ops.Token, &r.Sources.PeerAPI.Secret, &r.Sources.PeerAPI.AgentSecret,
		&r.Sources.PeerAPI.SessionPassthroughJWTSecret, &r.Sources.PeerAPI.PeerProbe.EncryptionKey} {
		if *p != "" {
			*p = Redaction
		}
	}
	return &r
}

// Overrides are the command-line flags that override the file. A nil field was not given.
type Overrides struct {
	OpsListen       *string
	StateDir        *string
	File            *string
	LogFormat       *string
	LogLevel        *string
	AllowMassDelete *bool
}

// ApplyOverrides sets every field o carries; call Validate afterwards.
func (c *Config) ApplyOverrides(o Overrides) {
	if o.OpsListen != nil {
		c.Ops.Listen = *o.OpsListen
	}
	if o.StateDir != nil {
		c.StateDir = *o.StateDir
	}
	if o.File != nil {
		c.Sources.File.Path = *o.File
	}
	if o.LogFormat != nil {
		c.Log.Format = *o.LogFormat
	}
	if o.LogLevel != nil {
		c.Log.Level = *o.LogLevel
	}
	if o.AllowMassDelete != nil {
		c.Controller.DeletionGuard.AllowMassDelete = *o.AllowMassDelete
	}
}

// Warning is something in a config file that is accepted but deserves the operator's attention:
// a PeerAPI key edgeagent does not use (yet), an unknown key the PeerAPI agent ignored, or a
// README-style alias.
type Warning struct {
	// File is the config file; Line is 0 when unknown.
	File string
	Line int
	// Key is the key as the file spells it, e.g. "metric.pingCount".
	Key     string
	Message string
}

// String renders the warning as "<file> line <n>: <key> <message>".
func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("%s line %d: %s %s", w.File, w.Line, w.Key, w.Message)
	}
	return fmt.Sprintf("%s: %s %s", w.File, w.Key, w.Message)
}
