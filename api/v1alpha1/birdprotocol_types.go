package v1alpha1

import (
	"strconv"
)

// BIRDProtocolSpec is the desired BGP configuration of one peering: one managed file
// <peerConfDir>/<key>.conf holding one protocol (MP-BGP) or one per address family. The object key
// is the file base name, by convention the tunnel interface name.
type BIRDProtocolSpec struct {
	// Interface the session runs over; used for link-local neighbours (`<ll>%'<if>'`).
	Interface string `json:"interface"`
	// ASN of the neighbour.
	ASN uint32 `json:"asn"`
	// MPBGP puts both families into one protocol; otherwise one protocol per family
	// (<name>_v6 over IPv6 / link-local, <name>_v4 over IPv4) each with only its own channel.
	MPBGP bool `json:"mpBGP,omitempty"`
	// ExtendedNextHop enables RFC 8950 IPv4 routes over an IPv6 session.
	ExtendedNextHop bool `json:"extendedNextHop,omitempty"`
	// Neighbour addresses; which are set decides the protocols (see MPBGP).
	NeighborIPv4          string `json:"neighborIPv4,omitempty"`
	NeighborIPv6          string `json:"neighborIPv6,omitempty"`
	NeighborIPv6LinkLocal string `json:"neighborIPv6LinkLocal,omitempty"`
	// Name is the protocol base name; empty means DN42_<asn>_<key>.
	Name string `json:"name,omitempty"`
	// Filter holds the numbers passed to the operator's import/export filters.
	Filter FilterParams `json:"filter"`
}

// FilterParams are the DN42 community inputs passed to import_filter_ebgp/export_filter_ebgp as
// "<latency>,<bandwidth>,<security>,<policy>,<probe>".
type FilterParams struct {
	// LatencyTier is 0 (unknown) or the DN42 latency community 1..9 (64511:1-9).
	LatencyTier int `json:"latencyTier"`
	// Bandwidth is the DN42 bandwidth community (21..29), 0 for none.
	Bandwidth int `json:"bandwidth"`
	// Security is the DN42 encryption community (31..34), 0 for none.
	Security int `json:"security"`
	// Policy is the PeerAPI session policy: 0 FULL, 1 TRANSIT, 2 PEER, 3 DOWNSTREAM, 4 UPSTREAM.
	Policy int `json:"policy"`
	// Probe is 1 when the peer probe saw the session healthy, else 0.
	Probe int `json:"probe"`
}

// String renders the filter arguments as the PeerAPI agent did.
func (f FilterParams) String() string {
	return strconv.Itoa(f.LatencyTier) + "," + strconv.Itoa(f.Bandwidth) + "," + strconv.Itoa(f.Security) + "," +
		strconv.Itoa(f.Policy) + "," + strconv.Itoa(f.Probe)
}

// Kind implements Spec.
func (*BIRDProtocolSpec) Kind() Kind { return KindBIRDProtocol }

// ProtocolBaseName is the protocol name without the _v4/_v6 suffix.
func (s *BIRDProtocolSpec) ProtocolBaseName(key string) string {
	if s.Name != "" {
		return s.Name
	}
	return "DN42_" + strconv.FormatUint(uint64(s.ASN), 10) + "_" + key
}

// ProtocolNames lists the BIRD protocol names the object key produces, in file order: the base
// name with MP-BGP, else <base>_v6 (IPv6 or link-local neighbour) then <base>_v4 (IPv4
// neighbour). Reporters use it to find a session's protocols in `show protocols`.
func (s *BIRDProtocolSpec) ProtocolNames(key string) []string {
	base := s.ProtocolBaseName(key)
	if s.MPBGP {
		return []string{base}
	}
	var out []string
	if s.NeighborIPv6 != "" || s.NeighborIPv6LinkLocal != "" {
		out = append(out, base+"_v6")
	}
	if s.NeighborIPv4 != "" {
		out = append(out, base+"_v4")
	}
	return out
}

var birdSymbolOK = func(r rune) bool {
	return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// Validate implements Spec.
func (s *BIRDProtocolSpec) Validate(key string) error {
	fe := NewFieldErrors(KindBIRDProtocol, key)
	if !ValidInterfaceName(key) {
		fe.Add("metadata.name", key, "must be a file base name of 1-15 characters from [A-Za-z0-9._-]")
	}
	if s.Interface == "" || !ValidInterfaceName(s.Interface) {
		fe.Add("spec.interface", s.Interface, "must be an interface name of 1-15 characters from [A-Za-z0-9._-]")
	}
	if s.ASN == 0 {
		fe.Add("spec.asn", "0", "must be 1..4294967295")
	}
	name := s.ProtocolBaseName(key)
	for _, r := range name {
		if !birdSymbolOK(r) {
			fe.Add("spec.name", name, "protocol name may hold only letters, digits and _")
			break
		}
	}
	checkIP(fe, "spec.neighborIPv4", s.NeighborIPv4, ipv4Only)
	checkIP(fe, "spec.neighborIPv6", s.NeighborIPv6, ipv6Global)
	checkIP(fe, "spec.neighborIPv6LinkLocal", s.NeighborIPv6LinkLocal, ipv6LinkLocal)
	if s.NeighborIPv4 == "" && s.NeighborIPv6 == "" && s.NeighborIPv6LinkLocal == "" {
		fe.Add("spec.neighborIPv4", "", "at least one neighbour address (IPv4, IPv6 or IPv6 link-local) is required")
	}
	f := s.Filter
	if f.LatencyTier < 0 || f.LatencyTier > 9 {
		fe.Add("spec.filter.latencyTier", strconv.Itoa(f.LatencyTier), "must be 0-9")
	}
	if f.Bandwidth < 0 || f.Security < 0 || f.Policy < 0 || f.Policy > 4 {
		fe.Add("spec.filter", f.String(), "bandwidth and security must be >= 0 and policy 0-4")
	}
	if f.Probe != 0 && f.Probe != 1 {
		fe.Add("spec.filter.probe", strconv.Itoa(f.Probe), "must be 0 or 1")
	}
	return fe.Err()
}
