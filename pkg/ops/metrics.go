package ops

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

// RegisterBuildInfo registers edgeagent_build_info{version,commit,goversion} = 1.
func RegisterBuildInfo(reg prometheus.Registerer, version, commit string) error {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "edgeagent_build_info",
		Help:        "Build information of the running edgeagent; the value is always 1.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": runtime.Version()},
	})
	g.Set(1)
	return reg.Register(g)
}

// Reconcile results used as the result label.
const (
	ResultSuccess  = "success"
	ResultError    = "error"
	ResultTerminal = "terminal"
)

// ControllerMetrics are the controller's own Prometheus metrics: reconciles per kind and
// result, their duration, and source polls per source and result.
type ControllerMetrics struct {
	reconciles  *prometheus.CounterVec
	errors      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	polls       *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
}

// NewControllerMetrics creates the controller metrics and registers them with reg.
func NewControllerMetrics(reg prometheus.Registerer) *ControllerMetrics {
	m := &ControllerMetrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeagent_reconcile_total", Help: "Reconciles by kind and result (success, error, terminal).",
		}, []string{"kind", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeagent_reconcile_errors_total", Help: "Failed reconciles by kind (retried and terminal).",
		}, []string{"kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "edgeagent_reconcile_duration_seconds", Help: "Duration of one reconcile by kind.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"kind"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeagent_source_polls_total", Help: "Source fetches by source and result (success, error).",
		}, []string{"source", "result"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgeagent_source_last_success_timestamp_seconds", Help: "Unix time of the source's last good answer.",
		}, []string{"source"}),
	}
	m.reconciles = registerOrReuse(reg, m.reconciles)
	m.errors = registerOrReuse(reg, m.errors)
	m.duration = registerOrReuse(reg, m.duration)
	m.polls = registerOrReuse(reg, m.polls)
	m.lastSuccess = registerOrReuse(reg, m.lastSuccess)
	return m
}

// ObserveReconcile counts one reconcile of kind that took d and ended with err (nil = success).
func (m *ControllerMetrics) ObserveReconcile(kind v1alpha1.Kind, d time.Duration, err error, terminal bool) {
	result := ResultSuccess
	if err != nil {
		result = ResultError
		if terminal {
			result = ResultTerminal
		}
		m.errors.WithLabelValues(string(kind)).Inc()
	}
	m.reconciles.WithLabelValues(string(kind), result).Inc()
	m.duration.WithLabelValues(string(kind)).Observe(d.Seconds())
}

// ObserveSourcePoll counts one fetch of source ending with err (nil = a good answer).
func (m *ControllerMetrics) ObserveSourcePoll(source string, err error) {
	if err != nil {
		m.polls.WithLabelValues(source, ResultError).Inc()
		return
	}
	m.polls.WithLabelValues(source, ResultSuccess).Inc()
	m.lastSuccess.WithLabelValues(source).SetToCurrentTime()
}
