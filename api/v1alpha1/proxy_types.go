package v1alpha1

import (
	"net"
	"strconv"
	"strings"
)

// ProxyListenerSpec is one listener the agent opens; the key is "<proto>/<address>", e.g.
// "https/:443" or "tcp/:2222".
type ProxyListenerSpec struct {
	// Protocol is http, https, tcp or udp (must match the key's prefix).
	Protocol string `json:"protocol"`
	// Address is host:port to listen on (must match the key's suffix).
	Address string `json:"address"`
	// Routes are the virtual hosts served by an http/https listener.
	Routes []ProxyRoute `json:"routes,omitempty"`
	// Upstream is host:port for a tcp/udp forwarder.
	Upstream string `json:"upstream,omitempty"`
	// ProxyProtocol sends a PROXY protocol v2 header to a tcp upstream.
	ProxyProtocol bool `json:"proxyProtocol,omitempty"`
}

// ProxyRoute sends requests for Host (and its subdomains when Wildcard) to Upstream.
type ProxyRoute struct {
	Host     string `json:"host"`
	Wildcard bool   `json:"wildcard,omitempty"`
	// Upstream is a URL: http://10.0.0.1:8080 or https://origin.example.
	Upstream string `json:"upstream"`
	// TLS certificate and key in PEM, for https listeners (SNI = Host).
	CertificatePEM string `json:"certificatePEM,omitempty"`
	PrivateKeyPEM  string `json:"privateKeyPEM,omitempty" secret:"true"`
	// WAFScript names the WAFScript object run for this route; empty runs none.
	WAFScript string `json:"wafScript,omitempty"`
	// RedirectHTTPS answers plain HTTP with a 301 to https.
	RedirectHTTPS bool `json:"redirectHTTPS,omitempty"`
}

// Kind implements Spec.
func (*ProxyListenerSpec) Kind() Kind { return KindProxyListener }

// Validate implements Spec.
func (s *ProxyListenerSpec) Validate(key string) error {
	fe := NewFieldErrors(KindProxyListener, key)
	switch s.Protocol {
	case "http", "https", "tcp", "udp":
	default:
		fe.Add("spec.protocol", s.Protocol, "must be http, https, tcp or udp")
	}
	if key != s.Protocol+"/"+s.Address {
		fe.Add("metadata.name", key, "must be <protocol>/<address> (%s/%s)", s.Protocol, s.Address)
	}
	if _, port, err := net.SplitHostPort(s.Address); err != nil {
		fe.Add("spec.address", s.Address, "must be host:port")
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		fe.Add("spec.address", s.Address, "port must be 0-65535")
	}
	switch s.Protocol {
	case "tcp", "udp":
		if err := ValidateHostPort(s.Upstream); err != nil {
			fe.Add("spec.upstream", s.Upstream, "%v", err)
		}
	case "http", "https":
		for i, r := range s.Routes {
			f := "spec.routes[" + strconv.Itoa(i) + "]"
			if !ValidHostname(r.Host) {
				fe.Add(f+".host", r.Host, "must be a host name")
			}
			if !strings.HasPrefix(r.Upstream, "http://") && !strings.HasPrefix(r.Upstream, "https://") {
				fe.Add(f+".upstream", r.Upstream, "must be an http:// or https:// URL")
			}
			if s.Protocol == "https" && (r.CertificatePEM == "") != (r.PrivateKeyPEM == "") {
				fe.Add(f+".certificatePEM", "", "certificate and private key must be given together")
			}
		}
	}
	return fe.Err()
}

// WAFScriptSpec is a Lua program run for requests of one domain; the key is the script name.
type WAFScriptSpec struct {
	// Lua source code.
	Code string `json:"code"`
	// TimeoutMillis bounds one run; 0 means the engine default.
	TimeoutMillis int `json:"timeoutMillis,omitempty"`
}

// Kind implements Spec.
func (*WAFScriptSpec) Kind() Kind { return KindWAFScript }

// Validate implements Spec.
func (s *WAFScriptSpec) Validate(key string) error {
	fe := NewFieldErrors(KindWAFScript, key)
	if strings.TrimSpace(s.Code) == "" {
		fe.Add("spec.code", "", "must not be empty")
	}
	if s.TimeoutMillis < 0 || s.TimeoutMillis > 10000 {
		fe.Add("spec.timeoutMillis", strconv.Itoa(s.TimeoutMillis), "must be 0-10000")
	}
	return fe.Err()
}
