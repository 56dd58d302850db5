// Package bird is a client for the BIRD 2 and BIRD 3 control socket: a small connection pool
// running one command at a time per connection, a continuation-aware reply reader, typed errors
// for 8xxx/9xxx replies, reconnection with backoff when BIRD restarts, and parsers for
// `show status` and `show protocols all`.
package bird

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
)

// Options configures a Client.
type Options struct {
	// Socket is the path of BIRD's control socket (bird -s), e.g. /run/bird/bird.ctl.
	Socket string
	// PoolSize bounds the connections open at once (and so the commands in flight); default 4.
	PoolSize int
	// DialTimeout bounds one dial plus banner read; default 5 s.
	DialTimeout time.Duration
	// MaxBackoff caps the wait between dial attempts while BIRD is down; default 5 s.
	MaxBackoff time.Duration
	// Logger receives reconnect messages; the zero value discards.
	Logger logr.Logger
}

// Stats counts what a Client did since it was made.
type Stats struct {
	Dials           int64
	Queries         int64
	Configures      int64
	ConfigureChecks int64
}

// Client talks to one BIRD daemon. It is safe for concurrent use; each connection carries one
// command at a time because BIRD answers in order and has no request ids.
type Client struct {
	opts Options
	sem  chan struct{} // one token per connection that may be open
	idle chan *conn

	version atomic.Value // string, from the last banner
	closed  atomic.Bool

	dials, queries, configures, checks atomic.Int64
}

// conn is one control-socket connection with the reader that owns its buffered bytes.
type conn struct {
	nc net.Conn
	rr *replyReader
	// interrupted is set when ctx ended during a command: the deadline reset that ends a read
	// runs in its own goroutine and may land after the command returned, so the connection must
	// not carry another command.
	interrupted bool
}

// New returns a client for opts.Socket. It does not dial: the first command does, so the agent
// can start before BIRD.
func New(opts Options) (*Client, error) {
	if opts.Socket == "" {
		return nil, errors.New("bird: no control socket path")
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = 4
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	c := &Client{
		opts: opts,
		sem:  make(chan struct{}, opts.PoolSize),
		idle: make(chan *conn, opts.PoolSize),
	}
	c.version.Store("")
	return c, nil
}

// Version is the BIRD version from the last banner ("2.0.12"), or "" before the first dial.
func (c *Client) Version() string { return c.version.Load().(string) }

// Stats returns the counters.
func (c *Client) Stats() Stats {
	return Stats{Dials: c.dials.Load(), Queries: c.queries.Load(), Configures: c.configures.Load(), ConfigureChecks: c.checks.Load()}
}

// Close closes the idle connections. Commands in flight finish on their own connections, which
// are closed when returned.
func (c *Client) Close() error {
	c.closed.Store(true)
	for {
		select {
		case cn := <-c.idle:
			cn.nc.Close()
		default:
			return nil
		}
	}
}

// Query sends one command and returns BIRD's complete reply. A final 8xxx/9xxx code is returned
// as an *Error together with the reply. When a pooled connection turns out to be dead (BIRD
// restarted), the command is sent once more on a fresh connection; a command is never resent
// after any byte of its reply was read.
func (c *Client) Query(ctx context.Context, cmd string) (Reply, error) {
	if strings.ContainsAny(cmd, "\r\n") {
		return Reply{}, fmt.Errorf("bird %q: command must be one line", cmd)
	}
	if len(cmd) >= 4000 {
		return Reply{}, fmt.Errorf("bird %.40q: command longer than BIRD's 4096-byte buffer", cmd)
	}
	c.queries.Add(1)
	for attempt := 0; ; attempt++ {
		cn, pooled, err := c.get(ctx)
		if err != nil {
			return Reply{}, fmt.Errorf("bird %s: %w", cmd, err)
		}
		rep, err := cn.do(ctx, cmd)
		if err == nil {
			c.put(cn)
			if e := rep.err(cmd); e != nil {
				return rep, e
			}
			return rep, nil
		}
		c.discard(cn)
		if pooled && attempt == 0 && len(rep.Lines) == 0 && ctx.Err() == nil && isStale(err) {
			c.opts.Logger.V(1).Info("bird connection went stale, redialing", "socket", c.opts.Socket, "err", err.Error())
			continue
		}
		if cerr := ctxErr(ctx, err); cerr != nil {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return rep, fmt.Errorf("bird %s: %w", cmd, err)
	}
}

// ctxErr returns the context's error when err came from it: either ctx is done, or the
// connection deadline copied from ctx fired a moment before ctx's own timer.
func ctxErr(ctx context.Context, err error) error {
	if e := ctx.Err(); e != nil {
		return e
	}
	if dl, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// isStale reports errors that mean the peer closed the connection before answering.
func isStale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, net.ErrClosed)
}

// do runs one command on the connection, honouring ctx through the connection deadline.
func (cn *conn) do(ctx context.Context, cmd string) (Reply, error) {
	if dl, ok := ctx.Deadline(); ok {
		cn.nc.SetDeadline(dl)
	} else {
		cn.nc.SetDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { cn.nc.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() {
			cn.interrupted = true
		}
	}()
	if _, err := io.WriteString(cn.nc, cmd+"\n"); err != nil {
		return Reply{}, err
	}
	return cn.rr.read()
}

// get takes a connection slot, then an idle connection or a new one.
func (c *Client) get(ctx context.Context) (*conn, bool, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	select {
	case cn := <-c.idle:
		return cn, true, nil
	default:
	}
	cn, err := c.dialBackoff(ctx)
	if err != nil {
		<-c.sem
		return nil, false, err
	}
	return cn, false, nil
}

func (c *Client) put(cn *conn) {
	if c.closed.Load() || cn.interrupted {
		cn.nc.Close()
		<-c.sem
		return
	}
	select {
	case c.idle <- cn:
		if c.closed.Load() {
			// Close drained the pool between the check above and the send.
			c.Close()
		}
	default:
		cn.nc.Close()
	}
	<-c.sem
}

func (c *Client) discard(cn *conn) {
	cn.nc.Close()
	<-c.sem
}

// dialBackoff dials until it succeeds or ctx ends, waiting 100 ms, 200 ms, ... up to MaxBackoff
// between attempts: while BIRD restarts its socket is missing or refuses connections.
func (c *Client) dialBackoff(ctx context.Context) (*conn, error) {
	wait := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		cn, err := c.dial(ctx)
		if err == nil {
			if attempt > 0 {
				c.opts.Logger.Info("bird control socket reconnected", "socket", c.opts.Socket, "attempts", attempt+1)
			}
			return cn, nil
		}
		if attempt == 0 {
			c.opts.Logger.Info("bird control socket unavailable, retrying", "socket", c.opts.Socket, "err", err.Error())
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("dial %s: %w (%w)", c.opts.Socket, ctx.Err(), err)
		case <-t.C:
		}
		wait = min(wait*2, c.opts.MaxBackoff)
	}
}

// dial connects and checks the banner "0001 BIRD <version> ready.".
func (c *Client) dial(ctx context.Context) (*conn, error) {
	c.dials.Add(1)
	dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "unix", c.opts.Socket)
	if err != nil {
		return nil, err
	}
	cn := &conn{nc: nc, rr: newReplyReader(nc)}
	dl, _ := dctx.Deadline()
	nc.SetDeadline(dl)
	rep, err := cn.rr.read()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("read banner: %w", err)
	}
	ver, ok := parseBanner(rep)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("unexpected banner %q", truncate(rep.Text(), 80))
	}
	c.version.Store(ver)
	return cn, nil
}

// parseBanner returns the version from "0001 BIRD 2.0.12 ready.".
func parseBanner(rep Reply) (string, bool) {
	if rep.Code() != CodeWelcome || len(rep.Lines) != 1 {
		return "", false
	}
	f := strings.Fields(rep.Lines[0].Text)
	if len(f) != 3 || f[0] != "BIRD" || f[2] != "ready." {
		return "", false
	}
	return f[1], true
}

// ConfigureCheck asks BIRD to parse its configuration without applying it. A rejected
// configuration is an *Error with code 8002 whose File/Line/Col locate the first error.
func (c *Client) ConfigureCheck(ctx context.Context) error {
	c.checks.Add(1)
	rep, err := c.Query(ctx, "configure check")
	if err != nil {
		return err
	}
	if rep.Code() != CodeConfigOK {
		return &Error{Command: "configure check", Code: rep.Code(), Message: lastText(rep)}
	}
	return nil
}

// Configure makes BIRD load its configuration. Only 0003 (reconfigured), 0004 (in progress) and
// 0019 (nothing to do) count as applied; anything else, including 0005 (queued behind another
// reconfiguration) and 0006 (shutting down), is an *Error.
func (c *Client) Configure(ctx context.Context) error {
	c.configures.Add(1)
	rep, err := c.Query(ctx, "configure")
	if err != nil {
		return err
	}
	switch rep.Code() {
	case CodeReconfigured, CodeReconfigInProgress, CodeNothingToDo:
		return nil
	}
	return &Error{Command: "configure", Code: rep.Code(), Message: lastText(rep)}
}

// ShowStatus runs `show status`.
func (c *Client) ShowStatus(ctx context.Context) (Status, error) {
	rep, err := c.Query(ctx, "show status")
	if err != nil {
		return Status{}, err
	}
	return ParseStatus(rep, time.Now())
}

// ShowProtocolsAll runs `show protocols all`, for every protocol when name is "" and otherwise
// for the protocols matching the pattern name (quoted, so an unknown name is "no match", not a
// syntax error). No match is an empty list, not an error.
func (c *Client) ShowProtocolsAll(ctx context.Context, name string) ([]Protocol, error) {
	cmd := "show protocols all"
	if name != "" {
		if strings.ContainsAny(name, "\"\\") {
			return nil, fmt.Errorf("bird show protocols: invalid name %q", name)
		}
		cmd += ` "` + name + `"`
	}
	rep, err := c.Query(ctx, cmd)
	if err != nil {
		if e := AsError(err); e != nil && e.Code == CodeNoProtocolsMatch {
			return nil, nil
		}
		return nil, err
	}
	return ParseProtocols(rep.Lines, time.Now()), nil
}

func lastText(rep Reply) string {
	if len(rep.Lines) == 0 {
		return ""
	}
	return rep.Lines[len(rep.Lines)-1].Text
}
