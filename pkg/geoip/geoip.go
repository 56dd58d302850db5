// Package geoip answers "where is this address" from a MaxMind Country or City database: the
// ISO country code, the continent code and the prefix length of the matched network (the ECS
// scope a DNS answer chosen by location is valid for).
package geoip

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DB is an open GeoIP database. A nil *DB is valid and places every address nowhere, so that
// callers need no special case when no database is configured. A DB is safe for concurrent use.
type DB struct {
	path   string
	reader *maxminddb.Reader
}

// Location is where an address is. It doubles as the decoding target, so that a caller that keeps
// one Location per goroutine looks addresses up without allocating.
type Location struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	// RegisteredCountry is used when Country is absent (anycast and satellite networks).
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	// PrefixLen is the length of the database network that matched (or, when nothing matched,
	// of the empty network the address is in), in bits of the address's own family.
	PrefixLen int `maxminddb:"-"`
	// Found says the database had a record for the address.
	Found bool `maxminddb:"-"`
}

// CountryCode returns the upper-case ISO 3166 alpha-2 country, or "" when unknown.
func (l *Location) CountryCode() string {
	if l.Country.ISOCode != "" {
		return l.Country.ISOCode
	}
	return l.RegisteredCountry.ISOCode
}

// ContinentCode returns the two-letter continent code (AF, AN, AS, EU, NA, OC, SA), or "".
func (l *Location) ContinentCode() string { return l.Continent.Code }

// Open opens the database file at path (GeoIP2/GeoLite2 Country or City, or any database with
// the same country/continent layout).
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip %s: open: %w", path, err)
	}
	if err := r.Verify(); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("geoip %s: verify: %w", path, err)
	}
	t := strings.ToLower(r.Metadata.DatabaseType)
	if t != "" && !strings.Contains(t, "country") && !strings.Contains(t, "city") && !strings.Contains(t, "test") {
		_ = r.Close()
		return nil, fmt.Errorf("geoip %s: database type %q has no country data", path, r.Metadata.DatabaseType)
	}
	return &DB{path: path, reader: r}, nil
}

// Path is the file the database was opened from ("" for a nil DB).
func (db *DB) Path() string {
	if db == nil {
		return ""
	}
	return db.path
}

// Close releases the database.
func (db *DB) Close() error {
	if db == nil || db.reader == nil {
		return nil
	}
	return db.reader.Close()
}

// LookupInto fills loc with the location of addr. loc is reset first. With a nil DB, or an
// address the database does not know, loc has no country and no continent. It does not allocate
// when loc does not escape per call (keep one per goroutine).
func (db *DB) LookupInto(addr netip.Addr, loc *Location) error {
	*loc = Location{}
	if db == nil || db.reader == nil || !addr.IsValid() {
		return nil
	}
	addr = addr.Unmap()
	res := db.reader.Lookup(addr)
	if err := res.Err(); err != nil {
		return fmt.Errorf("geoip %s: lookup %s: %w", db.path, addr, err)
	}
	loc.PrefixLen = res.Prefix().Bits()
	if !res.Found() {
		return nil
	}
	loc.Found = true
	if err := res.Decode(loc); err != nil {
		return fmt.Errorf("geoip %s: decode %s: %w", db.path, addr, err)
	}
	return nil
}

// Lookup returns the location of addr; see LookupInto.
func (db *DB) Lookup(addr netip.Addr) (Location, error) {
	var loc Location
	err := db.LookupInto(addr, &loc)
	return loc, err
}
