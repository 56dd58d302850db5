// Command mkmmdb writes the small Country-shaped GeoIP database the DNS benchmark serves, so that
// edgeagent, gdnsd and PowerDNS place clients by the same data.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/edgeagent/edgeagent/pkg/geoip/geoiptest"
)

func main() {
	out := flag.String("o", "bench.mmdb", "output file")
	flag.Parse()
	nets := []geoiptest.Network{
		{CIDR: "198.51.100.0/24", Country: "DE", Continent: "EU"},
		{CIDR: "203.0.113.0/24", Country: "JP", Continent: "AS"},
		{CIDR: "192.0.2.0/24", Country: "US", Continent: "NA"},
		{CIDR: "100.64.0.0/16", Country: "FR", Continent: "EU"},
		{CIDR: "100.65.0.0/16", Country: "SG", Continent: "AS"},
		{CIDR: "2001:db8:1::/48", Country: "US", Continent: "NA"},
	}
	if err := geoiptest.Write(*out, nets); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
