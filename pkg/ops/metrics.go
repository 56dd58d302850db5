package ops

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
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
