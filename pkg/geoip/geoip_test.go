package geoip_test

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/edgeagent/edgeagent/pkg/geoip"
	"github.com/edgeagent/edgeagent/pkg/geoip/geoiptest"
)

func writeDB(t testing.TB) *geoip.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "country.mmdb")
	err := geoiptest.Write(path, []geoiptest.Network{
		{CIDR: "198.51.100.0/24", Country: "DE", Continent: "EU"},
		{CIDR: "203.0.113.0/25", Country: "JP", Continent: "AS"},
		{CIDR: "203.0.113.128/25", Continent: "OC"},
		{CIDR: "2001:db8:1::/48", Country: "US", Continent: "NA"},
	})
	if err != nil {
		t.Fatal(err)
	}
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestLookup(t *testing.T) {
	db := writeDB(t)
	cases := []struct {
		addr      string
		country   string
		continent string
		prefix    int
		found     bool
	}{
		{"198.51.100.7", "DE", "EU", 24, true},
		{"::ffff:198.51.100.7", "DE", "EU", 24, true},
		{"203.0.113.1", "JP", "AS", 25, true},
		{"203.0.113.200", "", "OC", 25, true},
		{"2001:db8:1:2::1", "US", "NA", 48, true},
		{"192.0.2.1", "", "", -1, false},
		{"2001:db8:2::1", "", "", -1, false},
	}
	for _, c := range cases {
		t.Run(c.addr, func(t *testing.T) {
			loc, err := db.Lookup(netip.MustParseAddr(c.addr))
			if err != nil {
				t.Fatal(err)
			}
			if loc.CountryCode() != c.country || loc.ContinentCode() != c.continent || loc.Found != c.found {
				t.Fatalf("got %q/%q found=%v, want %q/%q found=%v", loc.CountryCode(), loc.ContinentCode(), loc.Found, c.country, c.continent, c.found)
			}
			if c.prefix >= 0 && loc.PrefixLen != c.prefix {
				t.Fatalf("prefix %d, want %d", loc.PrefixLen, c.prefix)
			}
			if !c.found && loc.PrefixLen <= 0 {
				t.Fatalf("not-found prefix %d: want the empty network's length", loc.PrefixLen)
			}
		})
	}
}

func TestNilDBIsNowhere(t *testing.T) {
	var db *geoip.DB
	loc, err := db.Lookup(netip.MustParseAddr("198.51.100.7"))
	if err != nil || loc.Found || loc.CountryCode() != "" || loc.ContinentCode() != "" || loc.PrefixLen != 0 {
		t.Fatalf("nil DB: %+v %v", loc, err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := geoip.Open(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil {
		t.Fatal("missing file opened")
	}
}

func TestLookupIntoDoesNotAllocate(t *testing.T) {
	db := writeDB(t)
	var loc geoip.Location
	addr := netip.MustParseAddr("198.51.100.7")
	_ = db.LookupInto(addr, &loc)
	allocs := testing.AllocsPerRun(1000, func() { _ = db.LookupInto(addr, &loc) })
	if allocs != 0 {
		t.Fatalf("LookupInto allocates %.1f times", allocs)
	}
}

func BenchmarkLookupInto(b *testing.B) {
	db := writeDB(b)
	var loc geoip.Location
	addr := netip.MustParseAddr("198.51.100.7")
	b.ReportAllocs()
	for b.Loop() {
		_ = db.LookupInto(addr, &loc)
	}
}
