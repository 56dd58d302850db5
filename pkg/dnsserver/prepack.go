package dnsserver

import (
	"github.com/miekg/dns"
)

// entry holds the prepacked answers of one owner name: a message per query type with the
// question in lower case and ID 0, ready for the fast path to copy and patch.
type entry struct {
	zone  *CompiledZone
	types []typedAnswer
	// def answers every other type (NODATA or a referral); nil when the name has a CNAME, whose
	// chase depends on the type.
	def *answer
}

type typedAnswer struct {
	qtype uint16
	a     *answer
}

func (e *entry) find(qtype uint16) *answer {
	for i := range e.types {
		if e.types[i].qtype == qtype {
			return e.types[i].a
		}
	}
	return e.def
}

// answer is either one static message or messages by location.
type answer struct {
	static *packed
	geo    *geoPacked
}

// packed is one complete response without OPT record.
type packed struct {
	wire  []byte
	rcode uint8
}

// geoPacked holds the messages of a name whose answer depends on one geo record set.
type geoPacked struct {
	countries  map[uint16]*packedChoice
	continents map[uint16]*packedChoice
	// def answers clients no country or continent matched (the no-default answer when the
	// record set has no default).
	def *packedChoice
}

func (g *geoPacked) choose(country, continent uint16) *packedChoice {
	if c := g.countries[country]; c != nil {
		return c
	}
	if c := g.continents[continent]; c != nil {
		return c
	}
	return g.def
}

// packedChoice is the messages of one location: one, or one per weighted value.
type packedChoice struct {
	wires []*packed
	cum   []uint32 // nil: wires[0] for everyone
}

func (c *packedChoice) pick(h uint32) *packed {
	if c.cum == nil {
		return c.wires[0]
	}
	v := h % c.cum[len(c.cum)-1]
	for i, w := range c.cum {
		if v < w {
			return c.wires[i]
		}
	}
	return c.wires[len(c.wires)-1]
}

// code2 packs a two-letter code into a map key; lower case is folded to upper.
func code2(s string) uint16 {
	if len(s) != 2 {
		return 0
	}
	return uint16(upper(s[0]))<<8 | uint16(upper(s[1]))
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 32
	}
	return c
}

// typeAbsent stands for "a type the name does not have" when packing the default answer; the
// question's type is copied from the query anyway.
const typeAbsent = 65280

// prepackedTypes are packed for names holding a CNAME, since the chase depends on the type.
var prepackedTypes = []uint16{
	dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeMX, dns.TypeTXT, dns.TypeNS, dns.TypeSRV,
	dns.TypeCAA, dns.TypeSOA, dns.TypeANY, dns.TypeHTTPS, dns.TypeSVCB,
}

// wireName is the lower-case wire form of a presentation name, the fast path's map key.
func wireName(name string) (string, bool) {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		return "", false
	}
	b := buf[:n]
	lowerWire(b)
	return string(b), true
}

// lowerWire lower-cases the ASCII letters of a wire-format name in place.
func lowerWire(b []byte) {
	for i := 0; i < len(b); {
		l := int(b[i])
		i++
		for j := i; j < i+l && j < len(b); j++ {
			if c := b[j]; c >= 'A' && c <= 'Z' {
				b[j] = c + 32
			}
		}
		i += l
	}
}

// prepack builds the fast-path entries of the zone. Names whose answers depend on more than one
// geo record set, and wildcard-synthesised names, are left to the slow path.
func (z *CompiledZone) prepack() {
	z.entries = make(map[string]*entry, len(z.nodes))
	for name, n := range z.nodes {
		if len(name) >= 2 && name[0] == '*' && name[1] == '.' {
			continue // "*" queried literally is rare; the slow path answers it
		}
		key, ok := wireName(name)
		if !ok {
			continue
		}
		e := &entry{zone: z}
		if n.get(dns.TypeCNAME) != nil {
			for _, t := range prepackedTypes {
				if a := z.packAnswer(name, t); a != nil {
					e.types = append(e.types, typedAnswer{t, a})
				}
			}
		} else {
			for _, rs := range n.rrsets {
				if a := z.packAnswer(name, rs.typ); a != nil {
					e.types = append(e.types, typedAnswer{rs.typ, a})
				}
			}
			if a := z.packAnswer(name, dns.TypeANY); a != nil {
				e.types = append(e.types, typedAnswer{dns.TypeANY, a})
			}
			e.def = z.packAnswer(name, typeAbsent)
		}
		z.entries[key] = e
	}
	z.negTail = z.packNegTail()
}

// packNegTail packs the SOA of NXDOMAIN answers when a missing name is always NXDOMAIN.
func (z *CompiledZone) packNegTail() []byte {
	if z.wildcard {
		return nil
	}
	for name, n := range z.nodes {
		if name != z.apex && n.get(dns.TypeNS) != nil {
			return nil
		}
	}
	buf := make([]byte, 1024)
	off, err := dns.PackRR(z.negativeSOA(), buf, 0, nil, false)
	if err != nil {
		return nil
	}
	return buf[:off]
}

// packAnswer packs the answer(s) to name/qtype, or returns nil when they cannot be prepacked.
func (z *CompiledZone) packAnswer(name string, qtype uint16) *answer {
	probe := &probePicker{}
	res := z.resolve(name, qtype, probe)
	if probe.multi {
		return nil
	}
	if probe.first == nil {
		p := packResult(name, qtype, res)
		if p == nil {
			return nil
		}
		return &answer{static: p}
	}
	g := probe.first
	build := func(c *geoChoice) *packedChoice {
		pc := &packedChoice{}
		one := func(i int) bool {
			fp := &fixedPicker{target: g, choice: c, one: i}
			p := packResult(name, qtype, z.resolve(name, qtype, fp))
			if p == nil || fp.other {
				return false
			}
			pc.wires = append(pc.wires, p)
			return true
		}
		if c == nil || c.cum == nil {
			if !one(-1) {
				return nil
			}
			return pc
		}
		for _, i := range c.idx {
			if !one(i) {
				return nil
			}
		}
		pc.cum = c.cum
		return pc
	}
	gp := &geoPacked{countries: map[uint16]*packedChoice{}, continents: map[uint16]*packedChoice{}}
	for cc, c := range g.countries {
		pc := build(c)
		if pc == nil {
			return nil
		}
		gp.countries[code2(cc)] = pc
	}
	for cc, c := range g.continents {
		pc := build(c)
		if pc == nil {
			return nil
		}
		gp.continents[code2(cc)] = pc
	}
	if gp.def = build(g.def); gp.def == nil {
		return nil
	}
	return &answer{geo: gp}
}

func packResult(name string, qtype uint16, res *result) *packed {
	m := &dns.Msg{
		MsgHdr:   dns.MsgHdr{Response: true, Authoritative: res.aa, Rcode: res.rcode},
		Question: []dns.Question{{Name: name, Qtype: qtype, Qclass: dns.ClassINET}},
		Answer:   res.answer,
		Ns:       res.ns,
		Extra:    res.extra,
		Compress: true,
	}
	wire, err := m.Pack()
	if err != nil || len(wire) > 65000 {
		return nil
	}
	return &packed{wire: wire, rcode: uint8(res.rcode)}
}
