package dnsserver

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Query counters are kept per zone in shards (one per UDP socket plus one for everything else),
// each its own cache lines, and summed on scrape: the hot path then costs one uncontended atomic
// add per query instead of a shared Prometheus child.

// typeLabels are the qtype label values; the last is "other".
var typeLabels = []string{"A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA", "SOA", "ANY", "HTTPS", "PTR", "other"}

func typeIndex(t uint16) int {
	switch t {
	case dns.TypeA:
		return 0
	case dns.TypeAAAA:
		return 1
	case dns.TypeCNAME:
		return 2
	case dns.TypeMX:
		return 3
	case dns.TypeTXT:
		return 4
	case dns.TypeNS:
		return 5
	case dns.TypeSRV:
		return 6
	case dns.TypeCAA:
		return 7
	case dns.TypeSOA:
		return 8
	case dns.TypeANY:
		return 9
	case dns.TypeHTTPS:
		return 10
	case dns.TypePTR:
		return 11
	}
	return 12
}

// rcodeLabels are the rcode label values; the last is "other".
var rcodeLabels = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other"}

func rcodeIndex(r int) int {
	if r >= 0 && r < len(rcodeLabels)-1 {
		return r
	}
	return len(rcodeLabels) - 1
}

const (
	nTypes  = 13
	nRcodes = 7
)

// counterShard is one worker's counters of one zone, padded to whole cache lines.
type counterShard struct {
	n [nTypes * nRcodes]atomic.Uint64
	_ [64 - (nTypes*nRcodes*8)%64]byte
}

// paddedCounter is one worker's counter alone on its cache line.
type paddedCounter struct {
	atomic.Uint64
	_ [64 - 8]byte
}

// zoneMetrics are the query counters of one zone label; they outlive zone versions.
type zoneMetrics struct {
	zone   string
	shards []counterShard
}

func (m *zoneMetrics) inc(shard int, qtype uint16, rcode int) {
	m.shards[shard%len(m.shards)].n[typeIndex(qtype)*nRcodes+rcodeIndex(rcode)].Add(1)
}

// latencyBuckets are the upper bounds of the latency histogram, in seconds.
var latencyBuckets = []float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3}

// latencyShard is one worker's latency histogram.
type latencyShard struct {
	counts [13]atomic.Uint64 // len(latencyBuckets)+1
	sumNs  atomic.Uint64
	_      [64 - 8]byte
}

func (l *latencyShard) observe(ns int64, n int) {
	if ns < 0 {
		ns = 0
	}
	s := float64(ns) / 1e9
	i := sort.SearchFloat64s(latencyBuckets, s)
	l.counts[i].Add(uint64(n))
	l.sumNs.Add(uint64(ns) * uint64(n))
}

// metrics is the server's Prometheus collector.
type metrics struct {
	shards int
	mu     sync.Mutex // guards zones (writers and scrapes only)
	zones  map[string]*zoneMetrics
	none   *zoneMetrics // queries outside every zone, and malformed ones
	lat    []latencyShard
	slow   []paddedCounter // slow-path answers per shard

	queriesDesc, latDesc, slowDesc *prometheus.Desc
}

func newMetrics(shards int) *metrics {
	m := &metrics{
		shards: shards,
		zones:  map[string]*zoneMetrics{},
		lat:    make([]latencyShard, shards),
		slow:   make([]paddedCounter, shards),
		queriesDesc: prometheus.NewDesc("edgeagent_dns_queries_total",
			"DNS queries answered, by zone (\"\" outside every zone), query type and response code.",
			[]string{"zone", "qtype", "rcode"}, nil),
		latDesc: prometheus.NewDesc("edgeagent_dns_request_duration_seconds",
			"Time from receiving a DNS query to handing its answer to the kernel.", nil, nil),
		slowDesc: prometheus.NewDesc("edgeagent_dns_slow_path_total",
			"DNS queries answered by the general (not prepacked) path.", nil, nil),
	}
	m.none = &zoneMetrics{zone: "", shards: make([]counterShard, shards)}
	return m
}

// zone returns the counters of a zone, creating them.
func (m *metrics) zone(apex string) *zoneMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	z := m.zones[apex]
	if z == nil {
		z = &zoneMetrics{zone: apex, shards: make([]counterShard, m.shards)}
		m.zones[apex] = z
	}
	return z
}

// drop forgets a deleted zone's counters.
func (m *metrics) drop(apex string) {
	m.mu.Lock()
	delete(m.zones, apex)
	m.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.queriesDesc
	ch <- m.latDesc
	ch <- m.slowDesc
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	zs := make([]*zoneMetrics, 0, len(m.zones)+1)
	zs = append(zs, m.none)
	for _, z := range m.zones {
		zs = append(zs, z)
	}
	m.mu.Unlock()
	for _, z := range zs {
		for t := 0; t < nTypes; t++ {
			for r := 0; r < nRcodes; r++ {
				var sum uint64
				for i := range z.shards {
					sum += z.shards[i].n[t*nRcodes+r].Load()
				}
				if sum > 0 {
					ch <- prometheus.MustNewConstMetric(m.queriesDesc, prometheus.CounterValue, float64(sum), z.zone, typeLabels[t], rcodeLabels[r])
				}
			}
		}
	}
	buckets := map[float64]uint64{}
	var count, sumNs uint64
	for i := range m.lat {
		var cum uint64
		for b := range latencyBuckets {
			cum += m.lat[i].counts[b].Load()
			buckets[latencyBuckets[b]] += cum
		}
		count += cum + m.lat[i].counts[len(latencyBuckets)].Load()
		sumNs += m.lat[i].sumNs.Load()
	}
	ch <- prometheus.MustNewConstHistogram(m.latDesc, count, float64(sumNs)/1e9, buckets)
	var slow uint64
	for i := range m.slow {
		slow += m.slow[i].Load()
	}
	ch <- prometheus.MustNewConstMetric(m.slowDesc, prometheus.CounterValue, float64(slow))
}
