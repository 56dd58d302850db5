package ops

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
	"github.com/edgeagent/edgeagent/pkg/source/file"
)

// wafRec is an in-memory WAFScript reconciler: "loaded" scripts live in a map. A script whose
// code is "fail" cannot be loaded.
type wafRec struct {
	mu     sync.Mutex
	loaded map[string]string
}

func (r *wafRec) Kind() v1alpha1.Kind { return v1alpha1.KindWAFScript }

func (r *wafRec) Observed(context.Context) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []string
	for k := range r.loaded {
		keys = append(keys, k)
	}
	return keys, nil
}

func (r *wafRec) Reconcile(_ context.Context, key string, desired *v1alpha1.Object) (controller.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if desired == nil {
		delete(r.loaded, key)
		return controller.Result{}, nil
	}
	code := desired.Spec.(*v1alpha1.WAFScriptSpec).Code
	if strings.TrimSpace(code) == "fail" {
		return controller.Result{}, controller.Terminal(os.ErrInvalid)
	}
	r.loaded[key] = code
	return controller.Result{Observed: map[string]int{"bytes": len(code)}, Changes: 1}, nil
}

func (r *wafRec) Plan(context.Context, string, *v1alpha1.Object) ([]string, error) { return nil, nil }

// TestFileSourceToStateTable runs the chain `edgeagent run` + `edgeagent state` uses: a desired
// file, the file source, the real manager, the ops server, FetchState and PrintTable.
func TestFileSourceToStateTable(t *testing.T) {
	dir := t.TempDir()
	desired := filepath.Join(dir, "desired.yaml")
	doc := func(name, code string) string {
		return "apiVersion: edgeagent.io/v1alpha1\nkind: WAFScript\nmetadata: {name: " + name + "}\nspec: {code: " + code + "}\n---\n"
	}
	if err := os.WriteFile(desired, []byte(doc("a.example", "return")+doc("b.example", "fail")), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	rec := &wafRec{loaded: map[string]string{}}
	m, err := controller.New(controller.Options{Logger: logr.Discard(), Registerer: reg, MetricsProvider: NewWorkqueueMetrics(reg)}, rec)
	if err != nil {
		t.Fatal(err)
	}
	src, err := file.New(file.Options{Path: desired, Interval: 10 * time.Millisecond, StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, src) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	_, base := startServer(t, Options{State: m, Gatherer: reg, Token: "tok"})

	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, _ := get(t, base+"/readyz", "tok")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, err := FetchState(context.Background(), base, "tok")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := PrintTable(&buf, st, time.Now()); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n")[1:] {
		f := strings.Fields(line)
		rows[f[1]] = f
	}
	if r := rows["a.example"]; len(r) != 6 || r[0] != "WAFScript" || r[2] != "True" || r[3] != v1alpha1.ReasonApplied {
		t.Errorf("a.example row = %v\n%s", r, buf.String())
	}
	if r := rows["b.example"]; len(r) != 6 || r[2] != "False" || r[5] != "1" {
		t.Errorf("b.example row = %v\n%s", r, buf.String())
	}
	for _, o := range st.Objects {
		if o.Key == "a.example" && (o.Desired == nil || o.Desired.Spec.(*v1alpha1.WAFScriptSpec).Code != "return" || o.Desired.Owner != desired) {
			t.Errorf("desired object not served: %+v", o.Desired)
		}
	}
	code, body, _ := get(t, base+"/metrics", "tok")
	if code != 200 || !strings.Contains(body, `workqueue_adds_total{name="WAFScript"}`) {
		t.Errorf("workqueue metrics not served (%d)", code)
	}
}
