package peerapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// ServerOptions configure the agent API server (the `server` section of the old config).
type ServerOptions struct {
	// Network is "tcp" (default) or "unix".
	Network string
	// Address is host:port for tcp (":8080") or the socket path for unix.
	Address string
	// Handler serves the requests, normally NewAgentAPI's.
	Handler http.Handler
	// BodyLimit bounds request bodies in bytes; default 1 MiB.
	BodyLimit int64
	// TrustedProxies are IPs or CIDRs whose X-Forwarded-For / X-Real-IP are believed; default
	// 127.0.0.1 and ::1. Requests over the unix socket come from this host and are trusted.
	TrustedProxies []string
	// Signature is sent as the Server header.
	Signature string
	// ReadTimeout, WriteTimeout and IdleTimeout default to 30 s, 30 s and 120 s.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Logger receives serve errors and, at V(1), one line per request.
	Logger logr.Logger
}

// AgentServer serves the agent API on a TCP address or a unix socket (mode 0666, removed on
// exit).
type AgentServer struct {
	o       ServerOptions
	trusted []netip.Prefix
	ln      net.Listener
	srv     *http.Server
}

// NewAgentServer checks the options and opens the listener, so that a bad address fails at
// start and tests can read Addr before Run.
func NewAgentServer(o ServerOptions) (*AgentServer, error) {
	if o.Handler == nil {
		return nil, errors.New("agent server: no handler")
	}
	if o.Network == "" {
		o.Network = "tcp"
	}
	if o.BodyLimit <= 0 {
		o.BodyLimit = 1 << 20
	}
	if o.TrustedProxies == nil {
		o.TrustedProxies = []string{"127.0.0.1", "::1"}
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 120 * time.Second
	}
	s := &AgentServer{o: o}
	for _, t := range o.TrustedProxies {
		p, err := parsePrefixOrIP(t)
		if err != nil {
			return nil, fmt.Errorf("agent server: trusted proxy %q: %w", t, err)
		}
		s.trusted = append(s.trusted, p)
	}
	switch o.Network {
	case "tcp":
		ln, err := net.Listen("tcp", o.Address)
		if err != nil {
			return nil, fmt.Errorf("agent server: listen tcp %s: %w", o.Address, err)
		}
		s.ln = ln
	case "unix":
		if o.Address == "" {
			return nil, errors.New("agent server: unix socket path is required")
		}
		// A socket left by a crashed run would make the bind fail.
		if fi, err := os.Lstat(o.Address); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(o.Address)
		}
		ln, err := net.Listen("unix", o.Address)
		if err != nil {
			return nil, fmt.Errorf("agent server: listen unix %s: %w", o.Address, err)
		}
		if err := os.Chmod(o.Address, 0o666); err != nil {
			ln.Close()
			return nil, fmt.Errorf("agent server: chmod %s: %w", o.Address, err)
		}
		s.ln = ln
	default:
		return nil, fmt.Errorf("agent server: listener type %q must be tcp or unix", o.Network)
	}
	s.srv = &http.Server{
		Handler:           s.middleware(o.Handler),
		ReadTimeout:       o.ReadTimeout,
		ReadHeaderTimeout: o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		ErrorLog:          nil,
	}
	return s, nil
}

// Addr is the listening address.
func (s *AgentServer) Addr() net.Addr { return s.ln.Addr() }

// Run serves until ctx ends, then shuts down (waiting up to 30 s for requests in flight) and
// removes the unix socket.
func (s *AgentServer) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = s.srv.Shutdown(sctx)
		cancel()
		<-errc
	}
	if s.o.Network == "unix" {
		_ = os.Remove(s.o.Address)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("agent server %s: %w", s.o.Address, err)
	}
	return nil
}

func (s *AgentServer) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.o.Signature != "" {
			w.Header().Set("Server", s.o.Signature)
		}
		ip, ok := s.clientIP(r)
		if !ok {
			writeAgentError(w, http.StatusBadRequest, "Bad Request")
			return
		}
		if r.ContentLength > s.o.BodyLimit {
			writeAgentError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.o.BodyLimit)
		s.o.Logger.V(1).Info("agent api request", "method", r.Method, "path", r.URL.Path, "client", ip)
		next.ServeHTTP(w, r)
	})
}

// clientIP returns the peer address, or the forwarded one when the peer is a trusted proxy. A
// forwarded address that is unparsable or unspecified is refused.
func (s *AgentServer) clientIP(r *http.Request) (string, bool) {
	peer := r.RemoteAddr
	trusted := false
	if s.o.Network == "unix" {
		peer, trusted = "unix", true
	} else if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		a := ap.Addr().Unmap()
		peer = a.String()
		for _, p := range s.trusted {
			if p.Contains(a) {
				trusted = true
				break
			}
		}
	}
	if !trusted {
		return peer, true
	}
	fwd := r.Header.Get("X-Forwarded-For")
	if fwd != "" {
		fwd = strings.TrimSpace(strings.Split(fwd, ",")[0])
	} else {
		fwd = strings.TrimSpace(r.Header.Get("X-Real-IP"))
	}
	if fwd == "" {
		return peer, true
	}
	a, err := netip.ParseAddr(fwd)
	if err != nil || a.IsUnspecified() {
		return "", false
	}
	return a.Unmap().String(), true
}

func parsePrefixOrIP(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
