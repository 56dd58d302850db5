// Package ops serves edgeagent's operator endpoints: /debug/state (every object's desired spec,
// redacted, with conditions, observed state and errors), /healthz, /readyz and /metrics, plus
// compatibility endpoints of the agents edgeagent replaces. It also holds the client side used by
// `edgeagent state` and the Prometheus adapters the controller registers.
package ops

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/config"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

// DefaultListen is where the ops server listens unless configured otherwise: loopback only, so
// that no token is needed.
const DefaultListen = "127.0.0.1:9470"

// Options configures the ops server.
type Options struct {
	// Listen is host:port; "" means DefaultListen. A non-loopback address requires Token.
	Listen string
	// Token, when set, is the bearer token every endpoint except /healthz requires.
	Token string
	// State is the controller's state; required.
	State controller.StateProvider
	// Gatherer is served at /metrics; nil serves no /metrics.
	Gatherer prometheus.Gatherer
	// Logger logs server errors.
	Logger logr.Logger
	// Extra are compatibility endpoints by exact path, mounted as-is: they are NOT behind Token
	// because they carry their own authentication (e.g. the PeerAPI agent's bearer check).
	Extra map[string]http.Handler
}

// Server is the ops HTTP server.
type Server struct {
	opts    Options
	handler http.Handler
	tokenH  [32]byte

	mu   sync.Mutex
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// CheckListen enforces the ops rule: a listen address reachable from other hosts needs a token.
func CheckListen(listen, token string) error {
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return fmt.Errorf("ops listen %q: must be host:port: %w", listen, err)
	}
	if token == "" && !config.IsLoopbackListen(listen) {
		return fmt.Errorf("ops listen %q: a non-loopback listen address requires a bearer token (ops.token or ops.tokenFile)", listen)
	}
	return nil
}

// New checks opts and builds the server; it does not listen yet.
func New(opts Options) (*Server, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if err := CheckListen(opts.Listen, opts.Token); err != nil {
		return nil, err
	}
	if opts.State == nil {
		return nil, errors.New("ops: no State provider")
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	s := &Server{opts: opts}
	if opts.Token != "" {
		s.tokenH = sha256.Sum256([]byte(opts.Token))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.healthz)
	mux.Handle("/readyz", s.auth(http.HandlerFunc(s.readyz)))
	mux.Handle("/debug/state", s.auth(http.HandlerFunc(s.debugState)))
	if opts.Gatherer != nil {
		mux.Handle("/metrics", s.auth(promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{})))
	}
	for path, h := range opts.Extra {
		if err := handleSafely(mux, path, h); err != nil {
			return nil, err
		}
	}
	s.handler = mux
	return s, nil
}

// handleSafely mounts an extra endpoint, turning ServeMux's panic on a bad or duplicate pattern
// (e.g. an extra "/healthz") into an error.
func handleSafely(mux *http.ServeMux, path string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ops: extra endpoint %q: %v", path, r)
		}
	}()
	if h == nil {
		return fmt.Errorf("ops: extra endpoint %q: nil handler", path)
	}
	mux.Handle(path, h)
	return nil
}

// Handler returns the server's handler, e.g. for tests or to mount it elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens and serves in the background until Shutdown is called or ctx ends. A listen
// error is returned at once.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("ops: already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("ops: listen %s: %w", s.opts.Listen, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.done = make(chan struct{})
	srv, done := s.srv, s.done
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Error(err, "ops server stopped", "listen", ln.Addr().String())
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		case <-done:
		}
	}()
	s.opts.Logger.Info("ops server listening", "listen", ln.Addr().String(), "auth", s.opts.Token != "")
	return nil
}

// Addr is the address the server listens on (useful with port 0), or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops accepting, waits for active requests until ctx ends, and waits for the serve
// goroutine to exit.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// auth requires the bearer token when one is configured. Both sides are hashed first so the
// constant-time comparison also hides the token's length.
func (s *Server) auth(h http.Handler) http.Handler {
	if s.opts.Token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		gh := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || subtle.ConstantTimeCompare(gh[:], s.tokenH[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edgeagent"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func getOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return false
	}
	return true
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if !getOnly(w, r) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if !getOnly(w, r) {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	ready, reason := s.opts.State.Ready()
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
		if reason == "" {
			reason = "not ready"
		}
		fmt.Fprintln(w, reason)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (s *Server) debugState(w http.ResponseWriter, r *http.Request) {
	if !getOnly(w, r) {
		return
	}
	q := r.URL.Query()
	kind, key := q.Get("kind"), q.Get("key")
	if kind != "" {
		k, ok := canonicalKind(kind)
		if !ok {
			http.Error(w, fmt.Sprintf("unknown kind %q", kind), http.StatusBadRequest)
			return
		}
		kind = k
	}
	st := s.opts.State.DebugState(kind, key)
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(st); err != nil {
		s.opts.Logger.Error(err, "encode /debug/state")
	}
}

// canonicalKind returns the API spelling of kind k given in any case (tunnel → Tunnel), so that
// `?kind=dnszone` works as it would with kubectl.
func canonicalKind(k string) (string, bool) {
	for _, kk := range v1alpha1.Kinds {
		if strings.EqualFold(string(kk), k) {
			return string(kk), true
		}
	}
	return "", false
}
