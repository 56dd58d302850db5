package dnsserver

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

// MaxTTL is the largest TTL a record may carry (RFC 2181 section 8).
const MaxTTL = 1<<31 - 1

// defaultTTL is used for records whose TTL is 0.
const defaultTTL = 3600

// CompiledZone is a validated zone with every common answer prepacked in wire format. It is
// immutable: a change is a new CompiledZone swapped in with SetZone.
type CompiledZone struct {
	apex     string
	serial   uint32
	hash     string
	nrecords int
	soa      *dns.SOA
	nodes    map[string]*node
	wildcard bool
	// entries holds the prepacked answers by lower-case wire-format owner name.
	entries map[string]*entry
	// negTail is the authority section (the SOA, uncompressed) of an NXDOMAIN answer, set when
	// every name the zone lacks is NXDOMAIN (no wildcards, no delegations).
	negTail []byte
	metrics *zoneMetrics
}

// Apex is the zone's apex, a lower-case FQDN.
func (z *CompiledZone) Apex() string { return z.apex }

// Serial is the SOA serial the zone is served with.
func (z *CompiledZone) Serial() uint32 { return z.serial }

// SpecHash is the v1alpha1.HashSpec of the spec the zone was compiled from.
func (z *CompiledZone) SpecHash() string { return z.hash }

// Records counts the spec records the zone was compiled from.
func (z *CompiledZone) Records() int { return z.nrecords }

// Names counts the owner names (empty non-terminals included).
func (z *CompiledZone) Names() int { return len(z.nodes) }

// node is one owner name and its record sets in spec order.
type node struct {
	name   string
	rrsets []*rrset
}

func (n *node) get(t uint16) *rrset {
	for _, rs := range n.rrsets {
		if rs.typ == t {
			return rs
		}
	}
	return nil
}

// rrset is the records of one name and type, or one geo record set.
type rrset struct {
	typ   uint16
	rrs   []dns.RR
	geo   *geoRRset
	index int // spec index of its first record, for errors
}

// geoRRset picks values by location: country, then continent, then default.
type geoRRset struct {
	countries  map[string]*geoChoice
	continents map[string]*geoChoice
	def        *geoChoice
}

func (g *geoRRset) choose(country, continent string) *geoChoice {
	if c := g.countries[country]; c != nil && country != "" {
		return c
	}
	if c := g.continents[continent]; c != nil && continent != "" {
		return c
	}
	return g.def
}

// geoChoice is the candidate records of one location. With weights, one record is picked per
// client; without, all are answered.
type geoChoice struct {
	rrs []dns.RR
	cum []uint32 // cumulative weights of the pickable records; nil answers all
	idx []int    // rrs index of each cum entry
}

// pick returns the index into rrs for a client hash.
func (c *geoChoice) pick(h uint32) int {
	total := c.cum[len(c.cum)-1]
	v := h % total
	for i, w := range c.cum {
		if v < w {
			return c.idx[i]
		}
	}
	return c.idx[len(c.idx)-1]
}

var continentCodes = map[string]bool{"AF": true, "AN": true, "AS": true, "EU": true, "NA": true, "OC": true, "SA": true}

// supportedTypes are the record types a spec may hold.
var supportedTypes = map[string]uint16{
	"A": dns.TypeA, "AAAA": dns.TypeAAAA, "CNAME": dns.TypeCNAME, "MX": dns.TypeMX, "TXT": dns.TypeTXT,
	"NS": dns.TypeNS, "SRV": dns.TypeSRV, "CAA": dns.TypeCAA, "SOA": dns.TypeSOA,
}

// recordError builds the FieldError that names record i, e.g.
// `DNSZone example.test.: spec.records[3] (www CNAME): CNAME beside other data`.
func recordError(fe *v1alpha1.FieldErrors, i int, r *v1alpha1.DNSRecord, reason string, args ...any) {
	name := r.Name
	if name == "" {
		name = "@"
	}
	fe.Add(fmt.Sprintf("spec.records[%d] (%s %s)", i, name, strings.ToUpper(r.Type)), "", reason, args...)
}

// ownerName turns a spec name into a lower-case FQDN inside apex.
func ownerName(apex, name string) (string, error) {
	switch {
	case name == "" || name == "@":
		return apex, nil
	case strings.HasSuffix(name, "."):
		n := dns.CanonicalName(name)
		if !dns.IsSubDomain(apex, n) {
			return "", fmt.Errorf("name %q is outside the zone", name)
		}
		return n, nil
	}
	if apex == "." {
		return dns.CanonicalName(name + "."), nil
	}
	return dns.CanonicalName(name + "." + apex), nil
}

func checkOwner(name string) error {
	if _, ok := dns.IsDomainName(name); !ok {
		return fmt.Errorf("name %q is not a valid domain name", name)
	}
	labels := dns.SplitDomainName(name)
	for i, l := range labels {
		if strings.Contains(l, "*") && (l != "*" || i != 0) {
			return fmt.Errorf("name %q: a wildcard must be the whole leftmost label", name)
		}
	}
	return nil
}

// parseValue turns one value of a record into an RR with owner name and TTL.
func parseValue(apex, owner string, t uint16, ttl uint32, value string, prio uint16, prioSet bool) (dns.RR, error) {
	hdr := dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	value = strings.TrimSpace(value)
	if value == "" {
		return nil, fmt.Errorf("empty value")
	}
	switch t {
	case dns.TypeA, dns.TypeAAAA:
		a, err := netip.ParseAddr(value)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("bad address %q", value)
		}
		if t == dns.TypeA {
			if !a.Is4() {
				return nil, fmt.Errorf("bad address %q: not IPv4", value)
			}
			return &dns.A{Hdr: hdr, A: a.AsSlice()}, nil
		}
		if !a.Is6() || a.Is4In6() {
			return nil, fmt.Errorf("bad address %q: not IPv6", value)
		}
		return &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()}, nil
	case dns.TypeTXT:
		return &dns.TXT{Hdr: hdr, Txt: txtStrings(value)}, nil
	}
	text := value
	switch t {
	case dns.TypeMX, dns.TypeSRV:
		if !prioSet {
			prio = 10
			if t == dns.TypeSRV {
				prio = 0
			}
		}
		text = strconv.Itoa(int(prio)) + " " + value
	}
	line := fmt.Sprintf("%s %d IN %s %s", owner, ttl, dns.TypeToString[t], text)
	zp := dns.NewZoneParser(strings.NewReader(line), apex, "")
	rr, ok := zp.Next()
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("bad %s value %q: %w", dns.TypeToString[t], value, err)
	}
	if !ok || rr == nil {
		return nil, fmt.Errorf("bad %s value %q", dns.TypeToString[t], value)
	}
	if _, more := zp.Next(); more {
		return nil, fmt.Errorf("bad %s value %q: more than one record", dns.TypeToString[t], value)
	}
	return rr, nil
}

// txtStrings splits a TXT value into character-strings of at most 255 bytes. A value in quotes is
// zone-file presentation (one or more quoted strings); anything else is one raw text.
func txtStrings(value string) []string {
	var raw []string
	if strings.HasPrefix(value, `"`) {
		rr, err := dns.NewRR(". 0 IN TXT " + value)
		if err == nil {
			// miekg keeps strings escaped; unescape by packing through the wire format.
			for _, s := range rr.(*dns.TXT).Txt {
				raw = append(raw, unescapeTXT(s))
			}
		}
	}
	if raw == nil {
		raw = []string{value}
	}
	var out []string
	for _, s := range raw {
		for len(s) > 255 {
			out = append(out, escapeTXT(s[:255]))
			s = s[255:]
		}
		out = append(out, escapeTXT(s))
	}
	return out
}

func unescapeTXT(s string) string {
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{s}}
	buf := make([]byte, 600)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil || n < 12 {
		return s
	}
	// owner (1) + type/class/ttl/rdlength (10) + length byte
	return string(buf[12:n])
}

func escapeTXT(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// compileZone validates spec and builds the zone's name tree. Every problem is reported, each
// naming its record.
func compileZone(apex string, spec *v1alpha1.DNSZoneSpec, serial uint32) (*CompiledZone, error) {
	apex = dns.CanonicalName(apex)
	fe := v1alpha1.NewFieldErrors(v1alpha1.KindDNSZone, apex)
	if _, ok := dns.IsDomainName(apex); !ok {
		fe.Add("metadata.name", apex, "must be a domain name")
		return nil, fe.Err()
	}
	if spec == nil {
		spec = &v1alpha1.DNSZoneSpec{}
	}
	z := &CompiledZone{apex: apex, serial: serial, nrecords: len(spec.Records), nodes: map[string]*node{}}
	if h, err := v1alpha1.HashSpec(spec); err == nil {
		z.hash = h
	}
	var soaRR *dns.SOA
	soaIndex := -1
	addNode := func(name string) *node {
		n := z.nodes[name]
		if n == nil {
			n = &node{name: name}
			z.nodes[name] = n
		}
		return n
	}
	for i := range spec.Records {
		r := &spec.Records[i]
		typ, ok := supportedTypes[strings.ToUpper(strings.TrimSpace(r.Type))]
		if !ok {
			recordError(fe, i, r, "type %q is not supported (A, AAAA, CNAME, MX, TXT, NS, SRV, CAA, SOA)", r.Type)
			continue
		}
		owner, err := ownerName(apex, strings.TrimSpace(r.Name))
		if err != nil {
			recordError(fe, i, r, "%v", err)
			continue
		}
		if err := checkOwner(owner); err != nil {
			recordError(fe, i, r, "%v", err)
			continue
		}
		if r.TTL > MaxTTL {
			recordError(fe, i, r, "TTL %d out of range (0-%d)", r.TTL, MaxTTL)
			continue
		}
		ttl := r.TTL
		if ttl == 0 {
			ttl = defaultTTL
		}
		n := addNode(owner)
		if r.Geo != nil {
			if typ != dns.TypeA && typ != dns.TypeAAAA && typ != dns.TypeCNAME {
				recordError(fe, i, r, "geo answers are only for A, AAAA and CNAME")
				continue
			}
			if r.Value != "" {
				recordError(fe, i, r, "a geo record takes its values from geo, not value")
				continue
			}
			if n.get(typ) != nil {
				recordError(fe, i, r, "geo record beside other %s records of the same name", dns.TypeToString[typ])
				continue
			}
			g, err := compileGeo(apex, owner, typ, ttl, r.Geo)
			if err != nil {
				recordError(fe, i, r, "%v", err)
				continue
			}
			n.rrsets = append(n.rrsets, &rrset{typ: typ, geo: g, index: i})
			continue
		}
		rr, err := parseValue(apex, owner, typ, ttl, r.Value, r.Priority, r.Priority != 0)
		if err != nil {
			recordError(fe, i, r, "%v", err)
			continue
		}
		if err := checkTargets(rr); err != nil {
			recordError(fe, i, r, "%v", err)
			continue
		}
		if typ == dns.TypeSOA {
			if owner != apex {
				recordError(fe, i, r, "SOA only at the apex")
				continue
			}
			if soaRR != nil || spec.SOA != nil {
				recordError(fe, i, r, "more than one SOA")
				continue
			}
			soaRR, soaIndex = rr.(*dns.SOA), i
			continue
		}
		rs := n.get(typ)
		if rs == nil {
			rs = &rrset{typ: typ, index: i}
			n.rrsets = append(n.rrsets, rs)
		} else if rs.geo != nil {
			recordError(fe, i, r, "%s record beside a geo record of the same name", dns.TypeToString[typ])
			continue
		}
		if typ == dns.TypeCNAME && len(rs.rrs) > 0 {
			recordError(fe, i, r, "more than one CNAME")
			continue
		}
		dup := false
		for _, old := range rs.rrs {
			if dns.IsDuplicate(old, rr) {
				dup = true
			}
		}
		if !dup {
			rs.rrs = append(rs.rrs, rr)
		}
	}
	// A CNAME owns its name alone (RFC 1034 section 3.6.2); the apex also holds the SOA.
	for _, n := range z.nodes {
		cn := n.get(dns.TypeCNAME)
		if cn == nil {
			continue
		}
		if len(n.rrsets) > 1 || n.name == apex {
			// name the later record: that is the one that broke the rule.
			culprit := cn.index
			for _, rs := range n.rrsets {
				if rs.index > culprit {
					culprit = rs.index
				}
			}
			recordError(fe, culprit, &spec.Records[culprit], "CNAME beside other data")
		}
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	// Empty non-terminals exist: a query for them is NODATA, not NXDOMAIN.
	for _, name := range slices.Collect(maps.Keys(z.nodes)) { // a copy: addNode adds to z.nodes
		if strings.HasPrefix(name, "*.") {
			z.wildcard = true
		}
		for p := name; p != apex; {
			i, end := dns.NextLabel(p, 0)
			if end {
				break
			}
			p = p[i:]
			addNode(p)
		}
	}
	addNode(apex)
	z.soa = buildSOA(apex, z, spec.SOA, soaRR, serial)
	z.serial = z.soa.Serial
	apexNode := z.nodes[apex]
	apexNode.rrsets = append([]*rrset{{typ: dns.TypeSOA, rrs: []dns.RR{z.soa}, index: soaIndex}}, apexNode.rrsets...)
	return z, nil
}

// checkTargets rejects names in record data that cannot be answered correctly.
func checkTargets(rr dns.RR) error {
	var target string
	switch v := rr.(type) {
	case *dns.CNAME:
		target = v.Target
	case *dns.MX:
		target = v.Mx
	case *dns.NS:
		target = v.Ns
	case *dns.SRV:
		target = v.Target
	default:
		return nil
	}
	if _, ok := dns.IsDomainName(target); !ok || target == "" {
		return fmt.Errorf("bad target %q", target)
	}
	return nil
}

func compileGeo(apex, owner string, typ uint16, ttl uint32, spec *v1alpha1.GeoAnswers) (*geoRRset, error) {
	g := &geoRRset{countries: map[string]*geoChoice{}, continents: map[string]*geoChoice{}}
	build := func(where string, vals []v1alpha1.WeightedValue) (*geoChoice, error) {
		if len(vals) == 0 {
			return nil, fmt.Errorf("geo %s: no values", where)
		}
		if typ == dns.TypeCNAME && len(vals) > 1 && !weighted(vals) {
			return nil, fmt.Errorf("geo %s: several CNAME values need weights (a name has one CNAME)", where)
		}
		c := &geoChoice{}
		var sum uint32
		for _, v := range vals {
			rr, err := parseValue(apex, owner, typ, ttl, v.Value, 0, false)
			if err != nil {
				return nil, fmt.Errorf("geo %s: %w", where, err)
			}
			if err := checkTargets(rr); err != nil {
				return nil, fmt.Errorf("geo %s: %w", where, err)
			}
			c.rrs = append(c.rrs, rr)
			if v.Weight > 0 {
				sum += v.Weight
				if sum < v.Weight {
					return nil, fmt.Errorf("geo %s: weights overflow", where)
				}
				c.cum = append(c.cum, sum)
				c.idx = append(c.idx, len(c.rrs)-1)
			}
		}
		return c, nil
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Countries)) {
		cc := strings.ToUpper(strings.TrimSpace(k))
		if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
			return nil, fmt.Errorf("geo country %q: must be an ISO 3166 alpha-2 code", k)
		}
		c, err := build("country "+cc, spec.Countries[k])
		if err != nil {
			return nil, err
		}
		g.countries[cc] = c
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Continents)) {
		cc := strings.ToUpper(strings.TrimSpace(k))
		if !continentCodes[cc] {
			return nil, fmt.Errorf("geo continent %q: must be one of AF, AN, AS, EU, NA, OC, SA", k)
		}
		c, err := build("continent "+cc, spec.Continents[k])
		if err != nil {
			return nil, err
		}
		g.continents[cc] = c
	}
	if len(spec.Default) > 0 {
		c, err := build("default", spec.Default)
		if err != nil {
			return nil, err
		}
		g.def = c
	}
	if len(g.countries) == 0 && len(g.continents) == 0 && g.def == nil {
		return nil, fmt.Errorf("geo: no countries, continents or default")
	}
	return g, nil
}

func weighted(vals []v1alpha1.WeightedValue) bool {
	for _, v := range vals {
		if v.Weight > 0 {
			return true
		}
	}
	return false
}

// buildSOA returns the zone's SOA: the SOA record of the spec, else spec.SOA's fields over
// defaults. The serial is the given one unless the spec sets it.
func buildSOA(apex string, z *CompiledZone, s *v1alpha1.SOASpec, rec *dns.SOA, serial uint32) *dns.SOA {
	if rec != nil {
		if rec.Serial == 0 {
			rec.Serial = serial
		}
		return rec
	}
	mname := "ns1." + apex
	if apex == "." {
		mname = "ns1."
	}
	if n := z.nodes[apex]; n != nil {
		if ns := n.get(dns.TypeNS); ns != nil && len(ns.rrs) > 0 {
			mname = ns.rrs[0].(*dns.NS).Ns
		}
	}
	soa := &dns.SOA{
		Hdr:     dns.RR_Header{Name: apex, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
		Ns:      mname,
		Mbox:    "hostmaster." + strings.TrimPrefix(apex, "."),
		Serial:  serial,
		Refresh: 3600,
		Retry:   600,
		Expire:  604800,
		Minttl:  300,
	}
	if apex == "." {
		soa.Mbox = "hostmaster."
	}
	if s == nil {
		return soa
	}
	if s.MName != "" {
		soa.Ns = dns.Fqdn(qualify(apex, s.MName))
	}
	if s.RName != "" {
		soa.Mbox = dns.Fqdn(qualify(apex, s.RName))
	}
	if s.Serial != 0 {
		soa.Serial = s.Serial
	}
	set := func(dst *uint32, v uint32) {
		if v != 0 {
			*dst = v
		}
	}
	set(&soa.Refresh, s.Refresh)
	set(&soa.Retry, s.Retry)
	set(&soa.Expire, s.Expire)
	set(&soa.Minttl, s.Minimum)
	set(&soa.Hdr.Ttl, s.TTL)
	return soa
}

func qualify(apex, name string) string {
	if strings.HasSuffix(name, ".") {
		return strings.ToLower(name)
	}
	return strings.ToLower(name) + "." + apex
}
