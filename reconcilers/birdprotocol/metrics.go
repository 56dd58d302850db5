package birdprotocol

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the reconciler's Prometheus series.
type metrics struct {
	up          *prometheus.GaugeVec
	established *prometheus.GaugeVec
	routes      *prometheus.GaugeVec
	configures  *prometheus.CounterVec
	checks      *prometheus.CounterVec
	rejected    prometheus.Counter

	// series remembers each key's label sets so forget deletes exactly them: a partial-match
	// delete scans every series and made a 1,000-key batch quadratic.
	mu     sync.Mutex
	series map[string][]seriesLabels
}

type seriesLabels struct {
	protocol string
	channels []string
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		series: map[string][]seriesLabels{},
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgeagent_bird_protocol_up", Help: "1 when the BIRD protocol state is up.",
		}, []string{"key", "protocol"}),
		established: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgeagent_bird_protocol_established", Help: "1 when the BGP session is Established.",
		}, []string{"key", "protocol"}),
		routes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgeagent_bird_channel_routes", Help: "Routes of a BGP channel by type (imported, filtered, exported).",
		}, []string{"key", "protocol", "channel", "type"}),
		configures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeagent_bird_configure_total", Help: "BIRD configure commands by result.",
		}, []string{"result"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeagent_bird_configure_check_total", Help: "BIRD configure check commands by result.",
		}, []string{"result"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "edgeagent_bird_rejected_files_total", Help: "Peer files BIRD rejected and edgeagent rolled back.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.up, m.established, m.routes, m.configures, m.checks, m.rejected} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("birdprotocol: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// routeTypes are the values of the "type" label of edgeagent_bird_channel_routes.
var routeTypes = []string{"imported", "filtered", "exported"}

// set replaces the key's series with st.
func (m *metrics) set(key string, st Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgetLocked(key)
	var ss []seriesLabels
	for _, p := range st.Protocols {
		m.up.WithLabelValues(key, p.Name).Set(b2f(p.State == "up"))
		m.established.WithLabelValues(key, p.Name).Set(b2f(p.BGPState == "Established"))
		sl := seriesLabels{protocol: p.Name}
		for _, c := range p.Channels {
			m.routes.WithLabelValues(key, p.Name, c.Name, "imported").Set(float64(c.Imported))
			m.routes.WithLabelValues(key, p.Name, c.Name, "filtered").Set(float64(c.Filtered))
			m.routes.WithLabelValues(key, p.Name, c.Name, "exported").Set(float64(c.Exported))
			sl.channels = append(sl.channels, c.Name)
		}
		ss = append(ss, sl)
	}
	m.series[key] = ss
}

// forget drops every series of key.
func (m *metrics) forget(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgetLocked(key)
}

func (m *metrics) forgetLocked(key string) {
	for _, sl := range m.series[key] {
		m.up.DeleteLabelValues(key, sl.protocol)
		m.established.DeleteLabelValues(key, sl.protocol)
		for _, c := range sl.channels {
			for _, typ := range routeTypes {
				m.routes.DeleteLabelValues(key, sl.protocol, c, typ)
			}
		}
	}
	delete(m.series, key)
}
