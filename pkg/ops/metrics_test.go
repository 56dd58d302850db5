package ops

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/util/workqueue"
)

// metricValue finds one sample by name and labels in reg; ok is false if it does not exist.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func TestWorkqueueMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	mp := NewWorkqueueMetrics(reg)
	// A second provider on the same registry reuses the collectors instead of failing.
	mp2 := NewWorkqueueMetrics(reg)

	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Millisecond),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "Tunnel", MetricsProvider: mp})
	defer q.ShutDown()
	q2 := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "DNSZone", MetricsProvider: mp2})
	defer q2.ShutDown()

	q.Add("dn1")
	q.Add("dn2")
	q.Add("dn1") // deduplicated: not counted as an add
	q2.Add("example.com.")
	lbl := map[string]string{"name": "Tunnel"}
	if v, ok := metricValue(t, reg, "workqueue_adds_total", lbl); !ok || v != 2 {
		t.Errorf("adds = %v (found %v), want 2", v, ok)
	}
	if v, _ := metricValue(t, reg, "workqueue_depth", lbl); v != 2 {
		t.Errorf("depth = %v, want 2", v)
	}
	if v, _ := metricValue(t, reg, "workqueue_depth", map[string]string{"name": "DNSZone"}); v != 1 {
		t.Errorf("DNSZone depth = %v, want 1", v)
	}
	item, _ := q.Get()
	if v, _ := metricValue(t, reg, "workqueue_depth", lbl); v != 1 {
		t.Errorf("depth after Get = %v, want 1", v)
	}
	if v, ok := metricValue(t, reg, "workqueue_queue_duration_seconds", lbl); !ok || v != 1 {
		t.Errorf("queue duration samples = %v, want 1", v)
	}
	q.AddRateLimited(item)
	q.Done(item)
	if v, ok := metricValue(t, reg, "workqueue_retries_total", lbl); !ok || v != 1 {
		t.Errorf("retries = %v, want 1", v)
	}
	if v, ok := metricValue(t, reg, "workqueue_work_duration_seconds", lbl); !ok || v != 1 {
		t.Errorf("work duration samples = %v, want 1", v)
	}
	for _, name := range []string{"workqueue_unfinished_work_seconds", "workqueue_longest_running_processor_seconds"} {
		if _, ok := metricValue(t, reg, name, lbl); !ok {
			t.Errorf("%s not exported", name)
		}
	}
}

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := RegisterBuildInfo(reg, "v1", "c1"); err != nil {
		t.Fatal(err)
	}
	if v, ok := metricValue(t, reg, "edgeagent_build_info", map[string]string{"version": "v1", "commit": "c1"}); !ok || v != 1 {
		t.Errorf("build info = %v %v", v, ok)
	}
}
