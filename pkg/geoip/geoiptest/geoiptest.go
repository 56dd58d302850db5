// Package geoiptest writes small Country-shaped MaxMind databases for tests and benchmarks, so
// that nothing depends on a downloaded GeoLite2 file.
package geoiptest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Network is one entry: a CIDR and where it is. An empty Country or Continent is left out of
// the record.
type Network struct {
	CIDR      string
	Country   string
	Continent string
}

// Write builds a GeoIP2-Country-shaped database (country.iso_code, continent.code) holding nets
// and writes it to path.
func Write(path string, nets []Network) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoIP2-Country",
		Description:             map[string]string{"en": "edgeagent test database"},
		Languages:               []string{"en"},
		RecordSize:              28,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		return fmt.Errorf("geoiptest: new tree: %w", err)
	}
	for _, n := range nets {
		_, ipnet, err := net.ParseCIDR(n.CIDR)
		if err != nil {
			return fmt.Errorf("geoiptest: network %q: %w", n.CIDR, err)
		}
		rec := mmdbtype.Map{}
		if n.Country != "" {
			rec["country"] = mmdbtype.Map{
				"iso_code":   mmdbtype.String(n.Country),
				"geoname_id": mmdbtype.Uint32(1),
				"names":      mmdbtype.Map{"en": mmdbtype.String(n.Country)},
			}
		}
		if n.Continent != "" {
			rec["continent"] = mmdbtype.Map{"code": mmdbtype.String(n.Continent)}
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			return fmt.Errorf("geoiptest: insert %s: %w", n.CIDR, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("geoiptest: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("geoiptest: create %s: %w", path, err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("geoiptest: write %s: %w", path, err)
	}
	return f.Close()
}
