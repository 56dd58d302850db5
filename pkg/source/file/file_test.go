package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

const wgKey = "qJ1Y2N4jZ0Zq3XkQ8Q7Fz0vJmJmWcA7l0gJ2qkU9m0E="

const goodYAML = `# desired state of a test node
apiVersion: edgeagent.io/v1alpha1
kind: Tunnel
metadata: {name: dn1y5tt200}
spec:
  type: wireguard
  mtu: 1420
  localIPv6LinkLocal: fe80::118
  peerIPv6LinkLocal: fe80::1080
  sysctls: {ipv6.forwarding: "1"}
  wireguard:
    privateKeyFile: /etc/wireguard/privatekey
    listenPort: 21080
    peerPublicKey: ` + wgKey + `
    endpoint: peer.example.net:21118
    allowedIPs: [fd00::/8, fe80::/10]
---
apiVersion: edgeagent.io/v1alpha1
kind: BIRDProtocol
metadata:
  name: dn1y5tt200
spec:
  interface: dn1y5tt200
  asn: 4242421080
  mpBGP: true
  neighborIPv6LinkLocal: fe80::1080
  filter: {latencyTier: 3, bandwidth: 24, security: 34, policy: 0, probe: 0}
---
apiVersion: edgeagent.io/v1alpha1
kind: DNSZone
metadata: {name: example.com.}
spec:
  records:
    - {name: "@", type: A, value: 192.0.2.1}
    - name: www
      type: A
      geo:
        countries: {DE: [{value: 192.0.2.10}]}
        default: [{value: 192.0.2.1, weight: 1}]
---
apiVersion: edgeagent.io/v1alpha1
kind: ProxyListener
metadata: {name: "http/127.0.0.1:8080"}
spec:
  protocol: http
  address: 127.0.0.1:8080
  routes: [{host: example.com, upstream: "http://127.0.0.1:9000"}]
---
apiVersion: edgeagent.io/v1alpha1
kind: WAFScript
metadata: {name: example.com}
spec:
  code: |
    if ngx.var.remote_addr == "192.0.2.66" then return ngx.exit(403) end
  timeoutMillis: 50
---
`

func TestParseYAMLAllKinds(t *testing.T) {
	set, err := Parse("file", []Input{{Name: "desired/node.yaml", Data: []byte(goodYAML)}})
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 5 {
		t.Fatalf("got %d objects, want 5", set.Len())
	}
	tun := set.Get(v1alpha1.KindTunnel, "dn1y5tt200")
	ts, ok := tun.Spec.(*v1alpha1.TunnelSpec)
	if !ok || ts.MTU != 1420 || ts.WireGuard.ListenPort != 21080 || ts.WireGuard.PeerPublicKey != wgKey || len(ts.WireGuard.AllowedIPs) != 2 || ts.Sysctls["ipv6.forwarding"] != "1" {
		t.Errorf("tunnel spec = %+v", tun.Spec)
	}
	if tun.Source != "file" || tun.Owner != "desired/node.yaml" || tun.Hash == "" {
		t.Errorf("tunnel object identity = %q %q %q", tun.Source, tun.Owner, tun.Hash)
	}
	bp := set.Get(v1alpha1.KindBIRDProtocol, "dn1y5tt200").Spec.(*v1alpha1.BIRDProtocolSpec)
	if bp.ASN != 4242421080 || !bp.MPBGP || bp.Filter.String() != "3,24,34,0,0" {
		t.Errorf("bird spec = %+v", bp)
	}
	z := set.Get(v1alpha1.KindDNSZone, "example.com.").Spec.(*v1alpha1.DNSZoneSpec)
	if len(z.Records) != 2 || z.Records[1].Geo.Countries["DE"][0].Value != "192.0.2.10" || z.Records[1].Geo.Default[0].Weight != 1 {
		t.Errorf("zone spec = %+v", z)
	}
	pl := set.Get(v1alpha1.KindProxyListener, "http/127.0.0.1:8080").Spec.(*v1alpha1.ProxyListenerSpec)
	if pl.Routes[0].Upstream != "http://127.0.0.1:9000" {
		t.Errorf("proxy spec = %+v", pl)
	}
	w := set.Get(v1alpha1.KindWAFScript, "example.com").Spec.(*v1alpha1.WAFScriptSpec)
	if !strings.Contains(w.Code, "ngx.exit(403)") || w.TimeoutMillis != 50 {
		t.Errorf("waf spec = %+v", w)
	}
	// The same objects from YAML and from JSON hash the same.
	j := `{"apiVersion": "edgeagent.io/v1alpha1", "kind": "BIRDProtocol", "metadata": {"name": "dn1y5tt200"},
	"spec": {"interface": "dn1y5tt200", "asn": 4242421080, "mpBGP": true, "neighborIPv6LinkLocal": "fe80::1080",
		"filter": {"latencyTier": 3, "bandwidth": 24, "security": 34, "policy": 0, "probe": 0}}}`
	js, err := Parse("file", []Input{{Name: "b.json", Data: []byte(j)}})
	if err != nil {
		t.Fatal(err)
	}
	if js.Get(v1alpha1.KindBIRDProtocol, "dn1y5tt200").Hash != set.Get(v1alpha1.KindBIRDProtocol, "dn1y5tt200").Hash {
		t.Error("JSON and YAML of the same spec hash differently")
	}
}

func TestParseJSONShapes(t *testing.T) {
	obj := func(name string) string {
		return `{"apiVersion":"edgeagent.io/v1alpha1","kind":"WAFScript","metadata":{"name":"` + name + `"},"spec":{"code":"return"}}`
	}
	for _, tc := range []struct{ name, data string }{
		{"one object", obj("a")},
		{"array", "[" + obj("a") + ",\n\t" + obj("b") + "]"},
		{"items", "{\n\t\"apiVersion\": \"edgeagent.io/v1alpha1\",\n\t\"items\": [\n\t\t" + obj("a") + ",\n\t\t" + obj("b") + "\n\t]\n}"},
		{"empty items", `{"items": []}`},
		{"kubectl list", "apiVersion: v1\nkind: List\nitems:\n- " + obj("a") + "\n"},
		{"empty file", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := Parse("file", []Input{{Name: "x.json", Data: []byte(tc.data)}})
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Count(tc.data, `"kind"`)
			if set.Len() != want {
				t.Errorf("%d objects, want %d", set.Len(), want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	doc := func(kind, name, spec string) string {
		return "apiVersion: edgeagent.io/v1alpha1\nkind: " + kind + "\nmetadata: {name: " + name + "}\nspec:\n" + spec
	}
	for _, tc := range []struct {
		name  string
		files []Input
		want  []string
	}{
		{"unknown spec field", []Input{{"a.yaml", []byte("---\n" + doc("Tunnel", "dn1", "  type: wireguard\n  wireguard:\n    endpint: x:1\n"))}},
			[]string{`a.yaml: Tunnel dn1 (line 8): spec.wireguard.endpint: unknown field (known fields: allowedIPs, endpoint, listenPort, peerPublicKey, persistentKeepalive, privateKeyFile)`}},
		{"case typo", []Input{{"a.yaml", []byte(doc("Tunnel", "dn1", "  Type: gre\n"))}},
			[]string{`Tunnel dn1 (line 5): spec.Type: unknown field (did you mean "type"?)`}},
		{"wrong type", []Input{{"a.yaml", []byte(doc("Tunnel", "dn1", "  type: gre\n  mtu: \"1400\"\n"))}},
			[]string{`a.yaml: Tunnel dn1 (line 6): spec.mtu: must be an integer`}},
		{"string wanted", []Input{{"a.yaml", []byte(doc("DNSZone", "example.com.", "  records:\n  - {name: www, type: TXT, value: 12}\n"))}},
			[]string{`DNSZone example.com. (line 6): spec.records[0].value: must be a string (got int 12: quote it)`}},
		{"validation", []Input{{"dir/t.yaml", []byte("# c\n" + doc("Tunnel", "dn1", "  type: gre\n  mtu: 100\n  gre: {remote: 192.0.2.1}\n"))}},
			[]string{`dir/t.yaml: Tunnel dn1 (line 2): spec.mtu: must be between 1280 and 9999 (got "100")`}},
		{"two validation errors", []Input{{"t.yaml", []byte(doc("Tunnel", "dn1", "  type: gre\n  mtu: 100\n  gre: {remote: nope}\n"))}},
			[]string{`Tunnel dn1 (line 1): spec.mtu`, `Tunnel dn1 (line 1): spec.gre.remote`}},
		{"unknown kind", []Input{{"a.yaml", []byte(doc("Tunel", "dn1", "  type: gre\n"))}},
			[]string{`a.yaml line 2: kind: must be one of Tunnel, BIRDProtocol, DNSZone, ProxyListener, WAFScript (got "Tunel")`}},
		{"api version", []Input{{"a.yaml", []byte(strings.Replace(doc("WAFScript", "x", "  code: x\n"), "v1alpha1", "v1", 1))}},
			[]string{`a.yaml line 1: apiVersion: must be edgeagent.io/v1alpha1 (got "edgeagent.io/v1")`}},
		{"no name", []Input{{"a.yaml", []byte("apiVersion: edgeagent.io/v1alpha1\nkind: WAFScript\nspec: {code: x}\n")}},
			[]string{`a.yaml line 1: metadata.name: required`}},
		{"metadata extra", []Input{{"a.yaml", []byte("apiVersion: edgeagent.io/v1alpha1\nkind: WAFScript\nmetadata:\n  name: x\n  labels: {}\nspec: {code: x}\n")}},
			[]string{`a.yaml line 5: metadata.labels: unknown key`}},
		{"top-level extra", []Input{{"a.yaml", []byte(doc("WAFScript", "x", "  code: x\n") + "status: {}\n")}},
			[]string{`a.yaml line 6: status: unknown key (allowed: apiVersion, kind, metadata, spec)`}},
		{"syntax", []Input{{"a.yaml", []byte("apiVersion: [\n")}}, []string{"a.yaml: yaml:"}},
		{"json syntax", []Input{{"a.json", []byte(`{"kind": "Tunnel",}`)}}, []string{"a.json"}},
		{"duplicate across files", []Input{
			{"a.yaml", []byte(doc("WAFScript", "x", "  code: x\n"))},
			{"b.yaml", []byte("---\n" + doc("WAFScript", "x", "  code: y\n"))},
		}, []string{"WAFScript x: defined twice: a.yaml line 1 and b.yaml line 2"}},
		{"errors in two files", []Input{
			{"a.yaml", []byte(doc("WAFScript", "x", "  code: \"\"\n"))},
			{"b.yaml", []byte(doc("WAFScript", "y", "  cod: y\n"))},
		}, []string{"a.yaml: WAFScript x (line 1): spec.code: must not be empty", "b.yaml: WAFScript y (line 5): spec.cod: unknown field"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := Parse("file", tc.files)
			if err == nil {
				t.Fatalf("no error; objects %v", set)
			}
			if set != nil {
				t.Error("a failed parse returned objects")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	// Validation errors are FieldErrors carrying the line.
	_, err := Parse("file", []Input{{"a.yaml", []byte("\n\n" + doc("WAFScript", "x", "  code: \"\"\n"))}})
	var fe *v1alpha1.FieldError
	if !errors.As(err, &fe) || fe.Line != 3 || fe.Kind != v1alpha1.KindWAFScript || fe.Key != "x" || fe.Field != "spec.code" {
		t.Errorf("FieldError = %+v", fe)
	}
}

func TestReadInputsDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	waf := func(name string) string {
		return "apiVersion: edgeagent.io/v1alpha1\nkind: WAFScript\nmetadata: {name: " + name + "}\nspec: {code: x}\n"
	}
	write("b.yml", waf("b"))
	write("a.yaml", waf("a"))
	write("c.JSON", `{"apiVersion":"edgeagent.io/v1alpha1","kind":"WAFScript","metadata":{"name":"c"},"spec":{"code":"x"}}`)
	write(".hidden.yaml", "garbage: [")
	write("notes.txt", "garbage: [")
	write("a.yaml~", "garbage: [")
	os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o700)
	// A ConfigMap-style symlink is followed.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "d.yaml"), []byte(waf("d")), 0o600)
	if err := os.Symlink(filepath.Join(other, "d.yaml"), filepath.Join(dir, "d.yaml")); err != nil {
		t.Fatal(err)
	}
	in, err := ReadInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range in {
		names = append(names, filepath.Base(i.Name))
	}
	if strings.Join(names, ",") != "a.yaml,b.yml,c.JSON,d.yaml" {
		t.Errorf("read %v", names)
	}
	set, err := LoadPath("file", dir)
	if err != nil || set.Len() != 4 {
		t.Fatalf("LoadPath = %v, %v", set, err)
	}
	if _, err := ReadInputs(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing path read")
	}
}

// recSink records what a source hands over.
type recSink struct {
	mu      sync.Mutex
	updates []v1alpha1.ObjectSet
	errs    []error
	ch      chan struct{}
}

func newRecSink() *recSink { return &recSink{ch: make(chan struct{}, 100)} }

func (r *recSink) Update(source string, objs v1alpha1.ObjectSet) {
	r.mu.Lock()
	r.updates = append(r.updates, objs)
	r.mu.Unlock()
	r.ch <- struct{}{}
}

func (r *recSink) ReportError(source string, err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	r.ch <- struct{}{}
}

func (r *recSink) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.updates), len(r.errs)
}

func (r *recSink) last() (v1alpha1.ObjectSet, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s v1alpha1.ObjectSet
	var e error
	if len(r.updates) > 0 {
		s = r.updates[len(r.updates)-1]
	}
	if len(r.errs) > 0 {
		e = r.errs[len(r.errs)-1]
	}
	return s, e
}

// waitFor waits until the sink has at least u updates and e errors.
func (r *recSink) waitFor(t *testing.T, u, e int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		gu, ge := r.counts()
		if gu >= u && ge >= e {
			if gu > u || ge > e {
				t.Fatalf("sink has %d updates and %d errors, want %d and %d", gu, ge, u, e)
			}
			return
		}
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("timed out: sink has %d updates and %d errors, want %d and %d", gu, ge, u, e)
		}
	}
}

func wafDoc(name, code string) string {
	return "apiVersion: edgeagent.io/v1alpha1\nkind: WAFScript\nmetadata: {name: " + name + "}\nspec: {code: " + code + "}\n"
}

func runSource(t *testing.T, opts Options, sink *recSink) (stop func()) {
	t.Helper()
	opts.Logger = logr.Discard()
	if opts.Interval == 0 {
		opts.Interval = 5 * time.Millisecond
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, sink) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestRunReloadsAndKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "desired.yaml")
	write := func(s string) {
		// Write a temp file and rename, as editors and config management do.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(wafDoc("a", "one"))
	sink := newRecSink()
	runSource(t, Options{Path: path}, sink)
	sink.waitFor(t, 1, 0)
	set, _ := sink.last()
	if set.Get(v1alpha1.KindWAFScript, "a").Spec.(*v1alpha1.WAFScriptSpec).Code != "one" {
		t.Fatal("first set wrong")
	}

	// A change of the same size is seen (content hash, not size/mtime).
	write(wafDoc("a", "two"))
	sink.waitFor(t, 2, 0)
	set, _ = sink.last()
	if set.Get(v1alpha1.KindWAFScript, "a").Spec.(*v1alpha1.WAFScriptSpec).Code != "two" {
		t.Fatal("reload not seen")
	}

	// A bad file is reported once and does not replace the good set.
	write(wafDoc("a", "two") + "---\n" + strings.Replace(wafDoc("b", "x"), "spec: {code: x}", "spec: {code: x, bogus: 1}", 1))
	sink.waitFor(t, 2, 1)
	_, err := sink.last()
	if !strings.Contains(err.Error(), "desired.yaml") || !strings.Contains(err.Error(), "WAFScript b") || !strings.Contains(err.Error(), "spec.bogus") {
		t.Errorf("reported error %q does not name file, object and field", err)
	}
	time.Sleep(50 * time.Millisecond) // many polls: the same bad file is not reported again
	if u, e := sink.counts(); u != 2 || e != 1 {
		t.Errorf("after polls of an unchanged bad file: %d updates, %d errors", u, e)
	}

	// Fixed: the new good set arrives.
	write(wafDoc("a", "two") + "---\n" + wafDoc("b", "x"))
	sink.waitFor(t, 3, 1)
	set, _ = sink.last()
	if set.Len() != 2 {
		t.Errorf("fixed set has %d objects", set.Len())
	}

	// The file disappears: an error, the good set stays.
	os.Remove(path)
	sink.waitFor(t, 3, 2)
	_, err = sink.last()
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file error = %v", err)
	}
	write("")
	sink.waitFor(t, 4, 2)
	if set, _ := sink.last(); set.Len() != 0 {
		t.Errorf("empty file gave %d objects", set.Len())
	}
}

func TestRestartStartsFromLastGood(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "desired.yaml")
	os.WriteFile(path, []byte(wafDoc("a", "one")+"---\n"+wafDoc("b", "two")), 0o600)

	sink := newRecSink()
	stop := runSource(t, Options{Path: path, StateDir: state}, sink)
	sink.waitFor(t, 1, 0)
	good, _ := sink.last()
	stop()
	if _, err := os.Stat(filepath.Join(state, "file.json")); err != nil {
		t.Fatalf("last good set not persisted: %v", err)
	}

	// Restart with a broken file: the error is reported and the persisted set is used.
	os.WriteFile(path, []byte(wafDoc("a", "one")+"---\nkind: Nope\n"), 0o600)
	sink2 := newRecSink()
	stop2 := runSource(t, Options{Path: path, StateDir: state}, sink2)
	sink2.waitFor(t, 1, 1)
	got, err := sink2.last()
	if err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Errorf("error = %v", err)
	}
	if got.Len() != 2 {
		t.Fatalf("restored %d objects, want 2", got.Len())
	}
	for _, k := range []string{"a", "b"} {
		g, w := got.Get(v1alpha1.KindWAFScript, k), good.Get(v1alpha1.KindWAFScript, k)
		if g.Hash != w.Hash || g.Owner != path || g.Source != "file" {
			t.Errorf("restored %s = %+v, want hash %s", k, g, w.Hash)
		}
	}
	stop2()

	// Without saved state only the error is reported.
	sink3 := newRecSink()
	runSource(t, Options{Path: path, StateDir: filepath.Join(t.TempDir(), "empty")}, sink3)
	sink3.waitFor(t, 0, 1)
	time.Sleep(30 * time.Millisecond)
	if u, _ := sink3.counts(); u != 0 {
		t.Errorf("%d updates without saved state", u)
	}

	// A damaged saved state is not used.
	os.WriteFile(filepath.Join(state, "file.json"), []byte(`{"version":1,"objects":[{"kind":"WAFScript","key":"a","spec":{"code":""}}]}`), 0o600)
	if _, found, err := LoadSaved(state, "file"); !found || err == nil || !strings.Contains(err.Error(), "spec.code") {
		t.Errorf("LoadSaved of an invalid object = found %v, err %v", found, err)
	}
}

func TestNewNeedsPath(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without a path succeeded")
	}
	s, err := New(Options{Path: "x"})
	if err != nil || s.Name() != "file" {
		t.Errorf("default name = %q, %v", s.Name(), err)
	}
}

// With a long poll interval, a change is still seen at once through inotify, for a single file
// replaced by rename and for a new file in a directory.
func TestRunReactsToChangesWithoutPolling(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "desired.yaml")
	os.WriteFile(path, []byte(wafDoc("a", "one")), 0o600)
	sink := newRecSink()
	runSource(t, Options{Path: path, Interval: time.Hour}, sink)
	sink.waitFor(t, 1, 0)
	tmp := filepath.Join(dir, ".desired.yaml.tmp")
	os.WriteFile(tmp, []byte(wafDoc("a", "two")), 0o600)
	os.Rename(tmp, path)
	sink.waitFor(t, 2, 0)
	if set, _ := sink.last(); set.Get(v1alpha1.KindWAFScript, "a").Spec.(*v1alpha1.WAFScriptSpec).Code != "two" {
		t.Error("renamed file not reloaded")
	}

	d := filepath.Join(t.TempDir(), "desired.d")
	os.Mkdir(d, 0o700)
	sink2 := newRecSink()
	runSource(t, Options{Path: d, Interval: time.Hour}, sink2)
	sink2.waitFor(t, 1, 0)
	os.WriteFile(filepath.Join(d, "b.yaml"), []byte(wafDoc("b", "x")), 0o600)
	sink2.waitFor(t, 2, 0)
	if set, _ := sink2.last(); set.Len() != 1 {
		t.Errorf("new file in directory: %d objects", set.Len())
	}
}
