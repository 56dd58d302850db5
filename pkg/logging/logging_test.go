package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

func TestJSONLevels(t *testing.T) {
	for _, tc := range []struct {
		level      string
		wantInfo   bool
		wantDebug  bool
		wantTrace  bool
		wantErrors bool
	}{
		{"info", true, false, false, true},
		{"", true, false, false, true},
		{"debug", true, true, false, true},
		{"trace", true, true, true, true},
		{"3", true, true, true, true},
		{"0", true, false, false, true},
		{"error", false, false, false, true},
		{"warn", false, false, false, true},
	} {
		t.Run(tc.level, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := New("json", tc.level, &buf)
			if err != nil {
				t.Fatal(err)
			}
			log.Info("info line", "k", "v")
			log.V(1).Info("debug line")
			log.V(2).Info("trace line")
			log.Error(errors.New("boom"), "error line", "tunnel", "dn1")
			out := buf.String()
			for msg, want := range map[string]bool{"info line": tc.wantInfo, "debug line": tc.wantDebug, "trace line": tc.wantTrace, "error line": tc.wantErrors} {
				if got := strings.Contains(out, msg); got != want {
					t.Errorf("level %q: %q logged = %v, want %v\n%s", tc.level, msg, got, want, out)
				}
			}
			// Every line is a JSON object with msg and level.
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if line == "" {
					continue
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("not JSON: %q: %v", line, err)
				}
				if m["msg"] == nil || m["level"] == nil {
					t.Errorf("line lacks msg/level: %q", line)
				}
				if m["msg"] == "error line" && (m["error"] != "boom" || m["tunnel"] != "dn1") {
					t.Errorf("error line lacks error/key-values: %q", line)
				}
			}
		})
	}
}

func TestConsoleFormat(t *testing.T) {
	var buf bytes.Buffer
	log, err := New("console", "info", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.WithName("tunnel").Info("interface created", "interface", "dn1y5tt200")
	out := buf.String()
	if !strings.Contains(out, "INFO") || !strings.Contains(out, "tunnel") || !strings.Contains(out, `"interface": "dn1y5tt200"`) {
		t.Errorf("console output lacks level, name or key-value: %q", out)
	}
	if strings.HasPrefix(strings.TrimSpace(out), "{") {
		t.Errorf("console output looks like JSON: %q", out)
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := New("xml", "info", os.Stderr); err == nil || !strings.Contains(err.Error(), "xml") {
		t.Errorf("New(xml) error = %v, want one naming the format", err)
	}
	for _, l := range []string{"loud", "-1", "200"} {
		if _, err := New("json", l, os.Stderr); err == nil {
			t.Errorf("New(level %q) succeeded, want error", l)
		}
	}
}

func TestRouteKlog(t *testing.T) {
	var buf bytes.Buffer
	log, err := New("json", "info", &buf)
	if err != nil {
		t.Fatal(err)
	}
	RouteKlog(log)
	t.Cleanup(klog.ClearLogger)
	klog.InfoS("from client-go", "queue", "Tunnel")
	klog.Flush()
	out := buf.String()
	if !strings.Contains(out, "from client-go") || !strings.Contains(out, `"queue":"Tunnel"`) || !strings.Contains(out, `"logger":"klog"`) {
		t.Errorf("klog line not routed through the logger: %q", out)
	}
}

func TestOpenOutput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "logs", "edgeagent.log")
	var console bytes.Buffer
	w, closeFn, err := OpenOutput(file, true, &console)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := New("json", "info", w)
	log.Info("both places")
	if err := closeFn(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(file)
	if !strings.Contains(string(b), "both places") || !strings.Contains(console.String(), "both places") {
		t.Errorf("file %q console %q: want the line in both", b, console.String())
	}
	console.Reset()
	w, closeFn, _ = OpenOutput(file, false, &console)
	l2, _ := New("json", "info", w)
	l2.Info("file only")
	closeFn()
	b, _ = os.ReadFile(file)
	if !strings.Contains(string(b), "both places") || !strings.Contains(string(b), "file only") || console.Len() != 0 {
		t.Errorf("append/file-only broken: file %q console %q", b, console.String())
	}
}
