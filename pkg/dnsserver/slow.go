package dnsserver

import (
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/edgeagent/edgeagent/pkg/geoip"
)

// shardOther is the metrics shard of TCP and other non-UDP-worker answers.
func (s *Server) shardOther() int { return s.opts.UDPSockets }

// serveTCP answers one query over TCP (and anything handed to the miekg server).
func (s *Server) serveTCP(w dns.ResponseWriter, req *dns.Msg) {
	var src netip.Addr
	if ta, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		src, _ = netip.AddrFromSlice(ta.IP)
	}
	var loc geoip.Location
	resp := s.respond(req, src.Unmap(), 0, &loc, s.shardOther())
	if resp == nil {
		return
	}
	_ = w.WriteMsg(resp)
}

// respond answers req from src. maxUDP is the UDP payload limit before the client's EDNS size is
// considered (512), or 0 for TCP (no limit). It returns nil when nothing must be sent.
func (s *Server) respond(req *dns.Msg, src netip.Addr, maxUDP int, loc *geoip.Location, shard int) *dns.Msg {
	if req.Response {
		return nil
	}
	resp := new(dns.Msg)
	resp.Id = req.Id
	resp.Opcode = req.Opcode
	resp.Response = true
	resp.RecursionDesired = req.RecursionDesired
	resp.CheckingDisabled = req.CheckingDisabled
	resp.Question = req.Question
	zm := s.metrics.none
	var qtype uint16
	if len(req.Question) > 0 {
		qtype = req.Question[0].Qtype
	}
	defer func() {
		zm.inc(shard, qtype, resp.Rcode)
		s.metrics.slow[shard%len(s.metrics.slow)].Add(1)
	}()
	opt := req.IsEdns0()
	if opt != nil {
		if opt.Version() != 0 {
			resp.Rcode = dns.RcodeBadVers
			resp.SetEdns0(s.opts.UDPSize, false)
			return resp
		}
	}
	if req.Opcode != dns.OpcodeQuery {
		resp.Rcode = dns.RcodeNotImplemented
		return s.finish(resp, req, opt, nil, 0, maxUDP)
	}
	if len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		return s.finish(resp, req, opt, nil, 0, maxUDP)
	}
	var ecs *dns.EDNS0_SUBNET
	if opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_SUBNET); ok {
				if ecs != nil || !validECS(e) {
					resp.Rcode = dns.RcodeFormatError
					return s.finish(resp, req, opt, nil, 0, maxUDP)
				}
				ecs = e
			}
		}
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET {
		resp.Rcode = dns.RcodeRefused
		return s.finish(resp, req, opt, ecs, 0, maxUDP)
	}
	qname := strings.ToLower(q.Name)
	z := s.table.Load().findZone(qname)
	if z == nil || q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		resp.Rcode = dns.RcodeRefused
		return s.finish(resp, req, opt, ecs, 0, maxUDP)
	}
	zm = z.metrics
	client := src
	srcBits := -1
	if ecs != nil && ecs.SourceNetmask > 0 {
		client, _ = netip.AddrFromSlice(ecs.Address)
		client = client.Unmap()
		if p, err := client.Prefix(int(ecs.SourceNetmask)); err == nil {
			client = p.Addr()
		}
		srcBits = int(ecs.SourceNetmask)
	}
	p := &clientPicker{s: s, client: client, loc: loc}
	res := z.resolve(qname, q.Qtype, p)
	resp.Authoritative = res.aa
	resp.Rcode = res.rcode
	resp.Answer, resp.Ns, resp.Extra = res.answer, res.ns, res.extra
	scope := 0
	if p.usedGeo {
		scope = loc.PrefixLen
		if p.weighted && srcBits > scope {
			scope = srcBits
		}
		if ecs != nil && ecs.SourceNetmask == 0 {
			scope = 0 // the client asked for no tailoring (RFC 7871 section 7.1.2)
		}
	}
	return s.finish(resp, req, opt, ecs, scope, maxUDP)
}

// clientPicker picks geo records for one client. It looks the client up on its first pick, so
// only answers that depend on location pay for the lookup.
type clientPicker struct {
	s      *Server
	client netip.Addr
	loc    *geoip.Location
	hash   uint32
	// usedGeo: the answer depends on location (and loc is filled); weighted: on a weighted pick.
	usedGeo, weighted bool
}

func (p *clientPicker) pick(g *geoRRset) []dns.RR {
	if !p.usedGeo {
		p.usedGeo = true
		if err := p.s.opts.GeoIP.LookupInto(p.client, p.loc); err != nil {
			p.s.log.V(1).Info("geoip lookup failed", "client", p.client.String(), "err", err.Error())
		}
		p.hash = clientHash(p.client)
	}
	c := g.choose(p.loc.CountryCode(), p.loc.ContinentCode())
	if c == nil {
		return nil
	}
	if c.cum == nil {
		return c.rrs
	}
	p.weighted = true
	i := c.pick(p.hash)
	return c.rrs[i : i+1]
}

// validECS checks an ECS option of a query (RFC 7871 section 7.1.1).
func validECS(e *dns.EDNS0_SUBNET) bool {
	if e.SourceScope != 0 {
		return false
	}
	var max int
	switch e.Family {
	case 1:
		max = 32
	case 2:
		max = 128
	default:
		return false
	}
	return int(e.SourceNetmask) <= max
}

// finish adds the OPT record (echoing ECS with its scope) and truncates UDP answers to the
// client's size.
func (s *Server) finish(resp, req *dns.Msg, opt *dns.OPT, ecs *dns.EDNS0_SUBNET, scope int, maxUDP int) *dns.Msg {
	limit := maxUDP
	if opt != nil {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(s.opts.UDPSize)
		o.SetDo(opt.Do())
		if ecs != nil {
			max := 32
			if ecs.Family == 2 {
				max = 128
			}
			if scope > max {
				scope = max
			}
			o.Option = append(o.Option, &dns.EDNS0_SUBNET{
				Code: dns.EDNS0SUBNET, Family: ecs.Family, SourceNetmask: ecs.SourceNetmask,
				SourceScope: uint8(scope), Address: ecs.Address,
			})
		}
		resp.Extra = append(resp.Extra, o)
		if maxUDP > 0 && int(opt.UDPSize()) > limit {
			limit = int(opt.UDPSize())
		}
	}
	if maxUDP > 0 {
		if limit > bufSize {
			limit = bufSize // the worker's answer buffer
		}
		resp.Truncate(limit)
	}
	return resp
}

// clientHash spreads clients over weighted values: FNV-1a over the address bytes, so a client
// keeps its pick.
func clientHash(a netip.Addr) uint32 {
	h := uint32(2166136261)
	if a.Is4() {
		b := a.As4()
		for _, c := range b {
			h ^= uint32(c)
			h *= 16777619
		}
		return h
	}
	b := a.As16()
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}
