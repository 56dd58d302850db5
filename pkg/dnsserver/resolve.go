package dnsserver

import (
	"strings"

	"github.com/miekg/dns"
)

// picker chooses the records of a geo record set for one query.
type picker interface {
	pick(g *geoRRset) []dns.RR
}

// result is an answer before it is put into a message.
type result struct {
	rcode  int
	aa     bool
	answer []dns.RR
	ns     []dns.RR
	extra  []dns.RR
}

// maxChase bounds CNAME chains inside the zone.
const maxChase = 8

// resolve answers qname (lower-case FQDN inside the zone) and qtype from the zone
// (RFC 1034 section 4.3.2 without recursion).
func (z *CompiledZone) resolve(qname string, qtype uint16, p picker) *result {
	res := &result{aa: true}
	name := qname
	seen := map[string]bool{}
	for hop := 0; hop <= maxChase; hop++ {
		if seen[name] {
			return res // CNAME loop: answer what we have
		}
		seen[name] = true
		if cut := z.delegation(name); cut != nil {
			if hop == 0 {
				res.aa = false
				res.ns = cut.rrs
				res.extra = z.glue(cut.rrs)
			}
			return res
		}
		n, wild := z.lookup(name)
		if n == nil {
			res.rcode = dns.RcodeNameError
			res.ns = []dns.RR{z.negativeSOA()}
			return res
		}
		own := func(rrs []dns.RR) []dns.RR {
			if !wild {
				return rrs
			}
			out := make([]dns.RR, len(rrs))
			for i, rr := range rrs {
				out[i] = dns.Copy(rr)
				out[i].Header().Name = name
			}
			return out
		}
		if cn := n.get(dns.TypeCNAME); cn != nil && qtype != dns.TypeCNAME && qtype != dns.TypeANY {
			if rrs := z.records(cn, p); len(rrs) > 0 {
				res.answer = append(res.answer, own(rrs)...)
				target := strings.ToLower(rrs[0].(*dns.CNAME).Target)
				if !dns.IsSubDomain(z.apex, target) {
					return res
				}
				name = target
				continue
			}
		}
		var rrs []dns.RR
		if qtype == dns.TypeANY {
			// RFC 8482: one RRset is enough.
			for _, rs := range n.rrsets {
				if rrs = z.records(rs, p); len(rrs) > 0 {
					break
				}
			}
		} else if rs := n.get(qtype); rs != nil {
			rrs = z.records(rs, p)
		}
		if len(rrs) == 0 {
			res.ns = []dns.RR{z.negativeSOA()}
			return res
		}
		res.answer = append(res.answer, own(rrs)...)
		return res
	}
	return res
}

func (z *CompiledZone) records(rs *rrset, p picker) []dns.RR {
	if rs.geo != nil {
		return p.pick(rs.geo)
	}
	return rs.rrs
}

// lookup finds the node for name, or the wildcard that synthesises it (RFC 4592: the
// wildcard child of the closest encloser, only when name itself does not exist).
func (z *CompiledZone) lookup(name string) (*node, bool) {
	if n := z.nodes[name]; n != nil {
		return n, false
	}
	if !z.wildcard {
		return nil, false
	}
	for p := name; p != z.apex; {
		i, end := dns.NextLabel(p, 0)
		if end {
			break
		}
		p = p[i:]
		if _, ok := z.nodes[p]; ok {
			// p is the closest encloser.
			if w := z.nodes["*."+p]; w != nil {
				return w, true
			}
			return nil, false
		}
	}
	return nil, false
}

// delegation returns the NS record set of a zone cut at or above name (below the apex).
func (z *CompiledZone) delegation(name string) *rrset {
	var cut *rrset
	for p := name; p != z.apex && dns.IsSubDomain(z.apex, p); {
		if n := z.nodes[p]; n != nil {
			if ns := n.get(dns.TypeNS); ns != nil {
				cut = ns // keep the highest cut
			}
		}
		i, end := dns.NextLabel(p, 0)
		if end {
			break
		}
		p = p[i:]
	}
	return cut
}

// glue returns the in-zone addresses of the name servers of a referral.
func (z *CompiledZone) glue(nsrrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range nsrrs {
		ns, ok := rr.(*dns.NS)
		if !ok {
			continue
		}
		n := z.nodes[strings.ToLower(ns.Ns)]
		if n == nil {
			continue
		}
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if rs := n.get(t); rs != nil && rs.geo == nil {
				out = append(out, rs.rrs...)
			}
		}
	}
	return out
}

// negativeSOA is the SOA for the authority section of NXDOMAIN and NODATA answers; its TTL is
// the negative-caching TTL (RFC 2308 section 5).
func (z *CompiledZone) negativeSOA() dns.RR {
	soa := dns.Copy(z.soa).(*dns.SOA)
	if soa.Minttl < soa.Hdr.Ttl {
		soa.Hdr.Ttl = soa.Minttl
	}
	return soa
}

// probePicker records which geo record sets an answer depends on.
type probePicker struct {
	first *geoRRset
	multi bool
}

func (p *probePicker) pick(g *geoRRset) []dns.RR {
	if p.first == nil {
		p.first = g
	} else if p.first != g {
		p.multi = true
	}
	if g.def != nil {
		return g.def.rrs
	}
	return nil
}

// fixedPicker answers one geo record set with a fixed choice, and notes any other.
type fixedPicker struct {
	target *geoRRset
	choice *geoChoice
	one    int // index into choice.rrs, or -1 for all
	other  bool
}

func (p *fixedPicker) pick(g *geoRRset) []dns.RR {
	if g != p.target {
		p.other = true
		return nil
	}
	if p.choice == nil {
		return nil
	}
	if p.one < 0 {
		return p.choice.rrs
	}
	return p.choice.rrs[p.one : p.one+1]
}
