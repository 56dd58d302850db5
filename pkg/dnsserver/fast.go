package dnsserver

import (
	"encoding/binary"
	"net/netip"

	"github.com/miekg/dns"

	"github.com/edgeagent/edgeagent/pkg/geoip"
)

// The fast path answers the common query (one question, class IN, at most an OPT record with an
// optional ECS option, a name with a prepacked answer that fits) by copying the prepacked
// message and patching the ID, the RD and CD bits, the question (the client's case) and the OPT
// record. It does not allocate. Everything else goes to respond, built on miekg/dns.

// handler holds one goroutine's scratch state; it is not safe for concurrent use.
type handler struct {
	s     *Server
	shard int
	name  [256]byte // lower-cased query name
	loc   geoip.Location
	// cache remembers recent clients' locations: resolvers send the same few subnets.
	cache [locCacheSize]locEntry
}

// locCacheSize is the number of direct-mapped location cache slots per handler.
const locCacheSize = 1024

type locEntry struct {
	addr               netip.Addr
	country, continent uint16
	prefix             int
	valid              bool
}

// parsedQuery is what the fast path parsed from a packet.
type parsedQuery struct {
	qtype    uint16
	qend     int // offset after the question
	nameLen  int
	edns     bool
	udpSize  uint16
	do       bool
	ecs      bool
	ecsFam   uint16
	ecsBits  uint8
	ecsAddr  [16]byte
	ecsBytes int
}

// handle answers the UDP packet q from src into out and returns the answer's length; 0 means send
// nothing.
func (h *handler) handle(q []byte, src netip.Addr, out []byte) int {
	var qq parsedQuery
	if !h.parse(q, &qq) {
		return h.slow(q, src, out)
	}
	t := h.s.table.Load()
	e := t.names[string(h.name[:qq.nameLen])]
	if e == nil {
		return h.negative(t, q, src, &qq, out)
	}
	a := e.find(qq.qtype)
	if a == nil {
		return h.slow(q, src, out)
	}
	p := a.static
	scope := uint8(0)
	if a.geo != nil {
		client := src
		bits := -1
		if qq.ecs && qq.ecsBits > 0 {
			if qq.ecsFam == 1 {
				client = netip.AddrFrom4([4]byte(qq.ecsAddr[:4]))
			} else {
				client = netip.AddrFrom16(qq.ecsAddr).Unmap()
			}
			bits = int(qq.ecsBits)
		}
		hash := clientHash(client)
		le := &h.cache[hash%locCacheSize]
		if !le.valid || le.addr != client {
			if err := h.s.opts.GeoIP.LookupInto(client, &h.loc); err != nil {
				return h.slow(q, src, out)
			}
			*le = locEntry{addr: client, valid: true, prefix: h.loc.PrefixLen,
				country: code2(h.loc.CountryCode()), continent: code2(h.loc.ContinentCode())}
		}
		c := a.geo.choose(le.country, le.continent)
		p = c.pick(hash)
		sc := le.prefix
		if c.cum != nil && bits > sc {
			sc = bits
		}
		if qq.ecs && qq.ecsBits == 0 {
			sc = 0 // the client asked for no tailoring (RFC 7871 section 7.1.2)
		}
		scope = uint8(sc)
	}
	if optLen(&qq)+len(p.wire) > udpLimit(&qq) || optLen(&qq)+len(p.wire) > len(out) {
		return h.slow(q, src, out)
	}
	w := copy(out, p.wire)
	out[0], out[1] = q[0], q[1]
	out[2] |= q[2] & 0x01 // RD
	out[3] |= q[3] & 0x10 // CD
	copy(out[12:], q[12:qq.qend])
	w = h.appendOPT(out, w, &qq, scope)
	e.zone.metrics.inc(h.shard, qq.qtype, int(p.rcode))
	return w
}

// optLen is the size of the OPT record the answer to qq carries.
func optLen(qq *parsedQuery) int {
	if !qq.edns {
		return 0
	}
	if qq.ecs {
		return 11 + 8 + qq.ecsBytes
	}
	return 11
}

// udpLimit is the largest UDP answer the client takes.
func udpLimit(qq *parsedQuery) int {
	if qq.edns && qq.udpSize > 512 {
		return int(qq.udpSize)
	}
	return 512
}

// appendOPT writes the answer's OPT record (our UDP size, DO echoed, ECS echoed with scope) at
// out[w:] when the query had EDNS, and returns the new length.
func (h *handler) appendOPT(out []byte, w int, qq *parsedQuery, scope uint8) int {
	if !qq.edns {
		return w
	}
	ar := binary.BigEndian.Uint16(out[10:]) + 1
	binary.BigEndian.PutUint16(out[10:], ar)
	o := out[w:]
	o[0] = 0
	binary.BigEndian.PutUint16(o[1:], dns.TypeOPT)
	binary.BigEndian.PutUint16(o[3:], h.s.opts.UDPSize)
	o[5], o[6], o[7], o[8] = 0, 0, 0, 0
	if qq.do {
		o[7] = 0x80
	}
	rdlen := 0
	if qq.ecs {
		rdlen = 8 + qq.ecsBytes
		r := o[11:]
		binary.BigEndian.PutUint16(r[0:], dns.EDNS0SUBNET)
		binary.BigEndian.PutUint16(r[2:], uint16(4+qq.ecsBytes))
		binary.BigEndian.PutUint16(r[4:], qq.ecsFam)
		r[6] = qq.ecsBits
		max := uint8(32)
		if qq.ecsFam == 2 {
			max = 128
		}
		if scope > max {
			scope = max
		}
		r[7] = scope
		copy(r[8:], qq.ecsAddr[:qq.ecsBytes])
	}
	binary.BigEndian.PutUint16(o[9:], uint16(rdlen))
	return w + 11 + rdlen
}

// negative answers a name with no prepacked entry: REFUSED outside every zone, NXDOMAIN with the
// SOA in a zone without wildcards or delegations; anything else goes to the slow path.
func (h *handler) negative(t *table, q []byte, src netip.Addr, qq *parsedQuery, out []byte) int {
	name := h.name[:qq.nameLen]
	var z *CompiledZone
	for off := 0; off < len(name); off += int(name[off]) + 1 {
		if z = t.apexes[string(name[off:])]; z != nil || name[off] == 0 {
			break
		}
	}
	var tail []byte
	rcode := byte(dns.RcodeRefused)
	flags := byte(0x80) // QR
	if z != nil {
		if z.negTail == nil {
			return h.slow(q, src, out)
		}
		tail, rcode, flags = z.negTail, dns.RcodeNameError, 0x84 // QR, AA
	}
	n := 12 + qq.qend - 12 + len(tail)
	if n+optLen(qq) > udpLimit(qq) || n+optLen(qq) > len(out) {
		return h.slow(q, src, out)
	}
	out[0], out[1] = q[0], q[1]
	out[2] = flags | q[2]&0x01
	out[3] = rcode | q[3]&0x10
	out[4], out[5], out[6], out[7], out[8], out[9], out[10], out[11] = 0, 1, 0, 0, 0, 0, 0, 0
	if tail != nil {
		out[9] = 1
	}
	w := copy(out[12:], q[12:qq.qend]) + 12
	w += copy(out[w:], tail)
	w = h.appendOPT(out, w, qq, 0)
	if z != nil {
		z.metrics.inc(h.shard, qq.qtype, int(rcode))
	} else {
		h.s.metrics.none.inc(h.shard, qq.qtype, int(rcode))
	}
	return w
}

// parse reads the header, question and OPT record of a query the fast path can answer; false
// sends the packet to the slow path.
func (h *handler) parse(q []byte, qq *parsedQuery) bool {
	if len(q) < 17 {
		return false
	}
	// QR=0, opcode QUERY, one question, no answer or authority, at most one additional.
	if q[2]&0xf8 != 0 || q[4] != 0 || q[5] != 1 || q[6]|q[7]|q[8]|q[9] != 0 || q[10] != 0 || q[11] > 1 {
		return false
	}
	off := 12
	n := 0
	for {
		if off >= len(q) {
			return false
		}
		l := int(q[off])
		if l&0xc0 != 0 {
			return false // compression in a question: let miekg deal with it
		}
		if n+l+1 > 255 || off+l+1 > len(q) {
			return false
		}
		h.name[n] = byte(l)
		for i := 1; i <= l; i++ {
			c := q[off+i]
			if c >= 'A' && c <= 'Z' {
				c += 32
			}
			h.name[n+i] = c
		}
		n += l + 1
		off += l + 1
		if l == 0 {
			break
		}
	}
	if off+4 > len(q) {
		return false
	}
	qq.nameLen = n
	qq.qtype = binary.BigEndian.Uint16(q[off:])
	if binary.BigEndian.Uint16(q[off+2:]) != dns.ClassINET {
		return false
	}
	off += 4
	qq.qend = off
	switch qq.qtype {
	case dns.TypeAXFR, dns.TypeIXFR, dns.TypeOPT, 0:
		return false
	}
	if q[11] == 0 {
		return off == len(q)
	}
	// OPT: root name, type 41, class = UDP size, TTL = ext rcode, version, flags.
	if off+11 > len(q) || q[off] != 0 || binary.BigEndian.Uint16(q[off+1:]) != dns.TypeOPT {
		return false
	}
	qq.edns = true
	qq.udpSize = binary.BigEndian.Uint16(q[off+3:])
	if q[off+6] != 0 { // version
		return false
	}
	qq.do = q[off+7]&0x80 != 0
	rdlen := int(binary.BigEndian.Uint16(q[off+9:]))
	off += 11
	if off+rdlen != len(q) {
		return false
	}
	for off < len(q) {
		if off+4 > len(q) {
			return false
		}
		code := binary.BigEndian.Uint16(q[off:])
		olen := int(binary.BigEndian.Uint16(q[off+2:]))
		off += 4
		if off+olen > len(q) {
			return false
		}
		switch code {
		case dns.EDNS0SUBNET:
			if qq.ecs || !parseECS(q[off:off+olen], qq) {
				return false
			}
		case dns.EDNS0NSID, dns.EDNS0COOKIE, dns.EDNS0PADDING:
			// Options that need no answer from us; ignored as RFC 6891 allows.
		default:
			return false
		}
		off += olen
	}
	return true
}

// parseECS reads an ECS option (RFC 7871 section 6); anything odd goes to the slow path.
func parseECS(b []byte, qq *parsedQuery) bool {
	if len(b) < 4 {
		return false
	}
	fam := binary.BigEndian.Uint16(b)
	bits := b[2]
	if b[3] != 0 {
		return false
	}
	max := 32
	switch fam {
	case 1:
	case 2:
		max = 128
	default:
		return false
	}
	if int(bits) > max {
		return false
	}
	nb := (int(bits) + 7) / 8
	if len(b)-4 != nb {
		return false
	}
	qq.ecs, qq.ecsFam, qq.ecsBits, qq.ecsBytes = true, fam, bits, nb
	qq.ecsAddr = [16]byte{}
	copy(qq.ecsAddr[:], b[4:])
	if nb > 0 && bits%8 != 0 {
		qq.ecsAddr[nb-1] &= byte(0xff << (8 - bits%8))
		// Bits beyond the prefix must be zero (RFC 7871 section 6): the slow path refuses.
		if qq.ecsAddr[nb-1] != b[4+nb-1] {
			return false
		}
	}
	return true
}

// slow answers with miekg/dns.
func (h *handler) slow(q []byte, src netip.Addr, out []byte) int {
	req := new(dns.Msg)
	if err := req.Unpack(q); err != nil {
		if len(q) < 12 || q[2]&0x80 != 0 {
			return 0
		}
		// Header readable: FORMERR with the ID (RFC 1035 4.1.1).
		copy(out, q[:12])
		out[2] = 0x80 | q[2]&0x79
		out[3] = dns.RcodeFormatError
		for i := 4; i < 12; i++ {
			out[i] = 0
		}
		h.s.metrics.none.inc(h.shard, 0, dns.RcodeFormatError)
		return 12
	}
	resp := h.s.respond(req, src, 512, &h.loc, h.shard)
	if resp == nil {
		return 0
	}
	b, err := resp.PackBuffer(out)
	if err != nil {
		h.s.log.V(1).Info("pack answer failed", "err", err.Error())
		return 0
	}
	if len(b) > len(out) || &b[0] != &out[0] {
		return copy(out, b)
	}
	return len(b)
}
