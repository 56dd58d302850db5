// Command dnsbench serves DNSZone documents (the file-source YAML format) with pkg/dnsserver,
// for hack/bench/dns.sh. It is the DNS engine of edgeagent without the controller around it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/go-logr/logr"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/dnsserver"
	"github.com/edgeagent/edgeagent/pkg/geoip"
	"github.com/edgeagent/edgeagent/pkg/source/file"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8053", "listen address")
	sockets := flag.Int("sockets", 0, "UDP sockets (0: GOMAXPROCS)")
	geo := flag.String("geoip", "", "GeoIP mmdb file")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dnsbench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "dnsbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*addr, *sockets, *geo, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "dnsbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(addr string, sockets int, geoPath string, files []string) error {
	var db *geoip.DB
	if geoPath != "" {
		var err error
		if db, err = geoip.Open(geoPath); err != nil {
			return err
		}
		defer db.Close()
	}
	s, err := dnsserver.New(dnsserver.Options{Addr: addr, UDPSockets: sockets, GeoIP: db, Logger: logr.Discard()})
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := load(s, f); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Start(ctx); err != nil {
		return err
	}
	fmt.Println("serving", s.Zones(), "on", s.UDPAddr())
	<-ctx.Done()
	return s.Close()
}

func load(s *dnsserver.Server, path string) error {
	set, err := file.LoadPath("dnsbench", path)
	if err != nil {
		return err
	}
	for _, key := range set.Keys(v1alpha1.KindDNSZone) {
		z, err := s.Compile(key, set.Get(v1alpha1.KindDNSZone, key).Spec.(*v1alpha1.DNSZoneSpec), 1)
		if err != nil {
			return err
		}
		s.SetZone(z)
	}
	return nil
}
