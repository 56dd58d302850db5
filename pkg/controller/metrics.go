package controller

import (
	"github.com/prometheus/client_golang/prometheus"
)

// managerMetrics are the manager's own Prometheus metrics.
type managerMetrics struct {
	reconciles  *prometheus.CounterVec
	errors      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	sourcePolls *prometheus.CounterVec
	generation  prometheus.Gauge
}

func newManagerMetrics(reg prometheus.Registerer) (*managerMetrics, error) {
	m := &managerMetrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeagent_reconcile_total", Help: "Reconciles by kind and result (ok, error, terminal).",
		}, []string{"kind", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeagent_reconcile_errors_total", Help: "Failed reconciles by kind.",
		}, []string{"kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "edgeagent_reconcile_duration_seconds", Help: "Time one reconcile took, by kind.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"kind"}),
		sourcePolls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeagent_source_polls_total", Help: "Answers handed over by sources, by source and result (ok, error).",
		}, []string{"source", "result"}),
		generation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgeagent_snapshot_generation", Help: "Generation of the current desired-state snapshot.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.reconciles, m.errors, m.duration, m.sourcePolls, m.generation} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
