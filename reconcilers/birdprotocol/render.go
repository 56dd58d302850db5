package birdprotocol

import (
	"bytes"
	"fmt"
	"os"
	"text/template"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/templates"
)

// headerPrefix starts the first line of every file edgeagent manages; the object key follows.
// Files whose first line does not start with it are never written or removed.
const headerPrefix = "# Managed by edgeagent: BIRDProtocol "

// header is the first lines of the managed file of key.
func header(key string) string {
	return headerPrefix + key + "\n# Do not edit: edgeagent rewrites this file from its desired state and removes it when the object goes away.\n"
}

// TemplateData is what the peer template is executed with, once per BGP protocol. The first
// block of fields carries the PeerAPI agent's names and meanings, so an operator's template from
// that agent works unchanged.
type TemplateData struct {
	// SessionName is the protocol name: DN42_<asn>_<key>, with _v4/_v6 when MP-BGP is off.
	SessionName string
	// InterfaceAddr is the neighbour address as BIRD wants it: "fe80::1%'dn1'" for link-local,
	// else the IPv6 or IPv4 address.
	InterfaceAddr string
	// ASN is the neighbour's AS number.
	ASN uint32
	// IPv4ShouldImport and the three others say whether that family's channel is filtered
	// (import/export where ..._filter_ebgp(params)) rather than none.
	IPv4ShouldImport, IPv4ShouldExport bool
	IPv6ShouldImport, IPv6ShouldExport bool
	// ExtendedNextHopOn enables RFC 8950 IPv4 over an IPv6 session.
	ExtendedNextHopOn bool
	// FilterParamsIPv4 and FilterParamsIPv6 are "<latency>,<bandwidth>,<security>,<policy>,<probe>".
	FilterParamsIPv4, FilterParamsIPv6 string

	// Key is the object key (the file base name, by convention the interface name).
	Key string
	// Interface is the interface the session runs over.
	Interface string
	// MPBGP is true when one protocol carries both families.
	MPBGP bool
	// Family is "ipv4", "ipv6" or "both": the families this protocol carries.
	Family string
	// IPv4Channel and IPv6Channel say which channels this protocol declares. The PeerAPI agent
	// declared both always (defect 17); the default template declares only these.
	IPv4Channel, IPv6Channel bool
	// The neighbour addresses of the spec.
	NeighborIPv4, NeighborIPv6, NeighborIPv6LinkLocal string
	// Filter is the structured form of the filter parameters.
	Filter v1alpha1.FilterParams
}

// Protocols returns the template data of every protocol of the object key, in file order: the
// MP-BGP protocol, or _v6 then _v4 as the PeerAPI agent wrote them.
func Protocols(key string, s *v1alpha1.BIRDProtocolSpec) []TemplateData {
	base := s.ProtocolBaseName(key)
	fp := s.Filter.String()
	d := TemplateData{
		ASN: s.ASN, ExtendedNextHopOn: s.ExtendedNextHop, FilterParamsIPv4: fp, FilterParamsIPv6: fp,
		Key: key, Interface: s.Interface, MPBGP: s.MPBGP,
		NeighborIPv4: s.NeighborIPv4, NeighborIPv6: s.NeighborIPv6, NeighborIPv6LinkLocal: s.NeighborIPv6LinkLocal,
		Filter: s.Filter,
	}
	v6addr := s.NeighborIPv6
	if s.NeighborIPv6LinkLocal != "" {
		v6addr = s.NeighborIPv6LinkLocal + "%'" + s.Interface + "'"
	}
	if s.MPBGP {
		p := d
		p.SessionName, p.Family = base, "both"
		p.InterfaceAddr = v6addr
		if p.InterfaceAddr == "" {
			p.InterfaceAddr = s.NeighborIPv4
		}
		p.IPv4Channel, p.IPv6Channel = true, true
		p.IPv4ShouldImport, p.IPv4ShouldExport, p.IPv6ShouldImport, p.IPv6ShouldExport = true, true, true, true
		return []TemplateData{p}
	}
	var out []TemplateData
	if v6addr != "" {
		p := d
		p.SessionName, p.Family, p.InterfaceAddr = base+"_v6", "ipv6", v6addr
		p.IPv6Channel, p.IPv6ShouldImport, p.IPv6ShouldExport = true, true, true
		out = append(out, p)
	}
	if s.NeighborIPv4 != "" {
		p := d
		p.SessionName, p.Family, p.InterfaceAddr = base+"_v4", "ipv4", s.NeighborIPv4
		p.IPv4Channel, p.IPv4ShouldImport, p.IPv4ShouldExport = true, true, true
		out = append(out, p)
	}
	return out
}

// loadTemplate parses the operator's template file, or the embedded default when path is "".
func loadTemplate(path string) (*template.Template, error) {
	text, name := templates.BIRDPeer, "default"
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("birdprotocol: read template: %w", err)
		}
		text, name = string(b), path
	}
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("birdprotocol: parse template %s: %w", name, err)
	}
	return t, nil
}

// render returns the whole managed file of key: the header, then the template executed for
// each protocol.
func render(t *template.Template, key string, s *v1alpha1.BIRDProtocolSpec) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header(key))
	for _, p := range Protocols(key, s) {
		b.WriteByte('\n')
		if err := t.Execute(&b, p); err != nil {
			return nil, fmt.Errorf("render protocol %s: %w", p.SessionName, err)
		}
		if b.Len() > 0 && b.Bytes()[b.Len()-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	return b.Bytes(), nil
}
