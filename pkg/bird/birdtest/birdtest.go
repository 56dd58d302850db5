// Package birdtest starts real BIRD daemons for tests: each with its own directory, config,
// control socket and pid file, optionally inside a network namespace, and stopped in t.Cleanup.
package birdtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Binary is where Debian's bird2 installs the daemon.
const Binary = "/usr/sbin/bird"

// Options says how to run one BIRD.
type Options struct {
	// Config is the text of bird.conf. "{{DIR}}" in it is replaced by the instance directory,
	// which has an empty "peers" subdirectory for included files.
	Config string
	// Starter, when set, starts the command instead of exec.Cmd.Start, e.g. netlab's
	// Namespace.Start to run BIRD inside a test's network namespace.
	Starter func(*exec.Cmd) error
}

// Instance is one running BIRD.
type Instance struct {
	t testing.TB
	// Dir holds bird.conf, the socket and the pid file.
	Dir string
	// PeerDir is Dir/peers, created empty, for the files the config includes.
	PeerDir string
	Socket  string
	Conf    string
	opts    Options

	mu     sync.Mutex
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
}

// syncBuffer is a bytes.Buffer that BIRD's output goroutine and Log may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Require skips the test when BIRD or root is missing.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Skipf("needs BIRD at %s (apt-get install bird2): %v", Binary, err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run BIRD")
	}
}

// Start writes the config and starts BIRD, waiting until its control socket answers.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	Require(t)
	// Unix socket paths are limited to 108 bytes, so use a short directory under /tmp rather
	// than t.TempDir's long name.
	dir, err := os.MkdirTemp("", "bt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	in := &Instance{t: t, Dir: dir, PeerDir: filepath.Join(dir, "peers"), Socket: filepath.Join(dir, "bird.ctl"),
		Conf: filepath.Join(dir, "bird.conf"), opts: opts}
	if err := os.Mkdir(in.PeerDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := bytes.ReplaceAll([]byte(opts.Config), []byte("{{DIR}}"), []byte(dir))
	if err := os.WriteFile(in.Conf, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Stop)
	in.start()
	return in
}

func (in *Instance) start() {
	in.t.Helper()
	args := []string{Binary, "-f", "-c", in.Conf, "-s", in.Socket, "-P", filepath.Join(in.Dir, "bird.pid")}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = in.Dir
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	start := cmd.Start
	if in.opts.Starter != nil {
		start = func() error { return in.opts.Starter(cmd) }
	}
	if err := start(); err != nil {
		in.t.Fatalf("start bird: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	in.mu.Lock()
	in.cmd, in.stderr, in.done = cmd, stderr, done
	in.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			in.t.Fatalf("bird exited at start: %s", stderr.String())
		default:
		}
		if c, err := net.DialTimeout("unix", in.Socket, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	in.t.Fatalf("bird socket %s did not appear: %s", in.Socket, stderr.String())
}

// Stop kills BIRD and waits for it to exit. It is safe to call more than once.
func (in *Instance) Stop() {
	in.mu.Lock()
	cmd, done := in.cmd, in.done
	in.cmd = nil
	in.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
	// BIRD killed with SIGKILL leaves its socket file behind.
	os.Remove(in.Socket)
}

// Restart stops BIRD and starts it again with the same config and socket path.
func (in *Instance) Restart() {
	in.t.Helper()
	in.Stop()
	in.start()
}

// Log returns what BIRD printed so far, for failure messages.
func (in *Instance) Log() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stderr == nil {
		return ""
	}
	return in.stderr.String()
}

// String names the instance in messages.
func (in *Instance) String() string { return fmt.Sprintf("bird(%s)", in.Socket) }
