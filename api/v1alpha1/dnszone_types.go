package v1alpha1

import (
	"strings"
)

// DNSZoneSpec is one authoritative zone; the key is the apex as a lower-case FQDN
// ("example.com."). Detailed record validation lives with the DNS server, which must parse the
// records anyway; Validate here checks what needs no DNS library.
type DNSZoneSpec struct {
	// SOA overrides the synthesised SOA; nil synthesises one (serial = snapshot generation).
	SOA *SOASpec `json:"soa,omitempty"`
	// Records of the zone, in the order they are answered.
	Records []DNSRecord `json:"records"`
}

// SOASpec is the zone's SOA; zero fields take defaults.
type SOASpec struct {
	MName   string `json:"mname,omitempty"`
	RName   string `json:"rname,omitempty"`
	Serial  uint32 `json:"serial,omitempty"`
	Refresh uint32 `json:"refresh,omitempty"`
	Retry   uint32 `json:"retry,omitempty"`
	Expire  uint32 `json:"expire,omitempty"`
	Minimum uint32 `json:"minimum,omitempty"`
	TTL     uint32 `json:"ttl,omitempty"`
}

// DNSRecord is one record, or one geo record set when Geo is set.
type DNSRecord struct {
	// Name is "@" for the apex, a name relative to the apex ("www", "*.dev"), or an FQDN with a
	// trailing dot inside the zone. Names are case-insensitive.
	Name string `json:"name"`
	// Type is A, AAAA, CNAME, MX, TXT, NS, SRV, CAA or SOA.
	Type string `json:"type"`
	// TTL in seconds; 0 means 3600.
	TTL uint32 `json:"ttl,omitempty"`
	// Value is the record data in zone-file presentation form without the priority
	// (A "192.0.2.1", MX "mail", SRV "<weight> <port> <target>", CAA "0 issue \"ca.example\"").
	// Names in values are relative to the apex unless they end with a dot. A TXT value is one
	// raw text (split into 255-byte strings when served) unless it starts with a quote, in
	// which case it is zone-file syntax ("a" "b").
	Value string `json:"value,omitempty"`
	// Priority is the MX preference or SRV priority.
	Priority uint16 `json:"priority,omitempty"`
	// Geo answers A/AAAA (or CNAME) by client location instead of Value.
	Geo *GeoAnswers `json:"geo,omitempty"`
}

// GeoAnswers picks values by location: the client's country, then its continent, then Default.
// Within a location one value is picked by weight when weights are set, else all are returned.
// The client is located by its EDNS Client Subnet, else its source address; without a GeoIP
// database every client gets Default. A name with a Default never gets an empty answer; one
// without gets NODATA where no location matches.
type GeoAnswers struct {
	// Countries by ISO 3166 alpha-2 code (case-insensitive).
	Countries map[string][]WeightedValue `json:"countries,omitempty"`
	// Continents by code: AF, AN, AS, EU, NA, OC, SA.
	Continents map[string][]WeightedValue `json:"continents,omitempty"`
	// Default is used when no country or continent matches, and without a GeoIP database.
	Default []WeightedValue `json:"default,omitempty"`
}

// WeightedValue is one candidate answer; Weight 0 in a set where others have weights is never picked.
type WeightedValue struct {
	Value  string `json:"value"`
	Weight uint32 `json:"weight,omitempty"`
}

// Kind implements Spec.
func (*DNSZoneSpec) Kind() Kind { return KindDNSZone }

// Validate implements Spec.
func (s *DNSZoneSpec) Validate(key string) error {
	fe := NewFieldErrors(KindDNSZone, key)
	if !strings.HasSuffix(key, ".") || key != strings.ToLower(key) || (key != "." && !ValidHostname(key)) {
		fe.Add("metadata.name", key, "must be the zone apex as a lower-case FQDN with a trailing dot")
	}
	return fe.Err()
}
