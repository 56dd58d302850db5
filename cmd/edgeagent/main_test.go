package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The test binary doubles as the edgeagent binary: with EDGEAGENT_TEST_MAIN=1 it runs main, so
// the tests can start the real agent as a process and signal it.
func TestMain(m *testing.M) {
	if os.Getenv("EDGEAGENT_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// freePort returns a loopback port that is free for both TCP and UDP right now (the DNS server
// binds both). Another process may still take it before the agent does: startAgent retries.
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			c.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return 0
}

const zoneDoc = `apiVersion: edgeagent.io/v1alpha1
kind: DNSZone
metadata:
  name: itest.example.
spec:
  records:
    - name: "@"
      type: A
      ttl: 300
      value: %s
    - name: www
      type: CNAME
      value: "@"
`

type agentProc struct {
	cmd    *exec.Cmd
	ops    string
	dns    string
	dir    string
	stderr *syncBuffer
	exited <-chan struct{}
}

// syncBuffer is a bytes.Buffer safe for the process's writer and the test's reader.
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

func startAgent(t *testing.T) *agentProc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p, err := tryStartAgent(t)
		if err == nil {
			return p
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("port taken between picking and binding, retrying: %v", err)
	}
}

// tryStartAgent starts the agent on fresh ports and waits until it is ready, or returns why not.
func tryStartAgent(t *testing.T) (*agentProc, error) {
	t.Helper()
	dir := t.TempDir()
	desired := filepath.Join(dir, "desired")
	if err := os.MkdirAll(desired, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(desired, "zone.yaml"), fmt.Sprintf(zoneDoc, "192.0.2.10"))
	p := &agentProc{
		ops:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		dns:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		dir:    dir,
		stderr: &syncBuffer{},
	}
	cfg := fmt.Sprintf(`stateDir: %s
log: {format: json, level: debug}
ops: {listen: "%s"}
sources:
  file: {path: %s, interval: 100ms}
dns: {enabled: true, listen: "%s", udpSockets: 2}
`, filepath.Join(dir, "state"), p.ops, desired, p.dns)
	writeFile(t, filepath.Join(dir, "edgeagent.yaml"), cfg)
	p.cmd = exec.Command(os.Args[0], "run", "-c", filepath.Join(dir, "edgeagent.yaml"))
	p.cmd.Env = append(os.Environ(), "EDGEAGENT_TEST_MAIN=1")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(exited) }()
	p.exited = exited
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = p.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", p.stderr.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return nil, fmt.Errorf("agent exited before it was ready: %s", p.stderr.String())
		default:
		}
		if resp, err := http.Get("http://" + p.ops + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("agent not ready within 20s: %s", p.stderr.String())
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func queryA(t *testing.T, server, name string) []string {
	t.Helper()
	c := &dns.Client{Timeout: time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return nil
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

func TestAgentServesFileSourceAndShutsDownCleanly(t *testing.T) {
	p := startAgent(t)

	if got := queryA(t, p.dns, "www.itest.example."); len(got) != 1 || got[0] != "192.0.2.10" {
		t.Fatalf("www.itest.example A = %v, want [192.0.2.10] (CNAME chased to the apex)", got)
	}

	// A change of the file is served without a restart.
	writeFile(t, filepath.Join(p.dir, "desired", "zone.yaml"), fmt.Sprintf(zoneDoc, "192.0.2.20"))
	waitFor(t, "reloaded answer", func() bool {
		got := queryA(t, p.dns, "itest.example.")
		return len(got) == 1 && got[0] == "192.0.2.20"
	})

	// A broken file keeps the previous good objects and the error names the field.
	writeFile(t, filepath.Join(p.dir, "desired", "zone.yaml"), strings.Replace(fmt.Sprintf(zoneDoc, "192.0.2.30"), "ttl: 300", "ttl: 300\n      bogus: 1", 1))
	var state map[string]any
	waitFor(t, "source error at /debug/state", func() bool {
		resp, err := http.Get("http://" + p.ops + "/debug/state")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		state = nil
		if json.NewDecoder(resp.Body).Decode(&state) != nil {
			return false
		}
		b, _ := json.Marshal(state["sources"])
		return strings.Contains(string(b), "bogus")
	})
	if got := queryA(t, p.dns, "itest.example."); len(got) != 1 || got[0] != "192.0.2.20" {
		t.Fatalf("after a bad file the answer is %v, want the last good [192.0.2.20]", got)
	}

	// `edgeagent state` prints the table from the running agent.
	var out, errb bytes.Buffer
	if code := run([]string{"state", "--addr", p.ops}, &out, &errb); code != 0 {
		t.Fatalf("state exited %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "KIND") || !strings.Contains(out.String(), "DNSZone") || !strings.Contains(out.String(), "itest.example.") {
		t.Fatalf("state table:\n%s", out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "itest.example.") && !strings.Contains(line, "True") {
			t.Fatalf("zone not ready in the table: %q", line)
		}
	}

	// SIGTERM: graceful shutdown, exit 0.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("agent exited with %d after SIGTERM, want 0", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not exit after SIGTERM")
	}
}

func TestPlanPrintsChangesAndRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	desired := filepath.Join(dir, "desired")
	if err := os.MkdirAll(desired, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(desired, "zone.yaml"), fmt.Sprintf(zoneDoc, "192.0.2.10"))
	cfgPath := filepath.Join(dir, "edgeagent.yaml")
	writeFile(t, cfgPath, fmt.Sprintf("stateDir: %s\nsources:\n  file: {path: %s}\ndns: {enabled: true, listen: \"127.0.0.1:%d\"}\n",
		filepath.Join(dir, "state"), desired, freePort(t)))

	var out, errb bytes.Buffer
	if code := run([]string{"plan", "-c", cfgPath}, &out, &errb); code != 0 {
		t.Fatalf("plan exited %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "DNSZone itest.example.") {
		t.Fatalf("plan output lacks the zone:\n%s", out.String())
	}

	writeFile(t, filepath.Join(desired, "zone.yaml"), "apiVersion: edgeagent.io/v1alpha1\nkind: DNSZone\nmetadata: {name: Bad_Zone}\nspec: {records: []}\n")
	out.Reset()
	errb.Reset()
	if code := run([]string{"plan", "-c", cfgPath}, &out, &errb); code == 0 {
		t.Fatalf("plan accepted an invalid zone name:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "Bad_Zone") {
		t.Fatalf("plan error does not name the object: %s", errb.String())
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "edgeagent ") {
		t.Fatalf("version: code %d, %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command exited %d, want 2", code)
	}
}
