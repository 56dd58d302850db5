package tunnel

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// addrGenModeNone is IN6_ADDR_GEN_MODE_NONE: no kernel-made IPv6 link-local address. A TUN
// device otherwise gets a random one when it goes up, and BGP over link-local binds that wrong
// source.
const addrGenModeNone = "1"

// sysctlPath maps a spec short name ("ipv4.forwarding") to its file for interface ifname.
func sysctlPath(ifname, short string) string {
	family, name, _ := strings.Cut(short, ".")
	return "/proc/sys/net/" + family + "/conf/" + ifname + "/" + name
}

// sysctlWant is one per-interface setting the reconciler converges.
type sysctlWant struct {
	short string
	path  string
	value string
}

// desiredSysctls lists the spec's sysctls plus addr_gen_mode, in a stable order.
func desiredSysctls(ifname string, spec map[string]string) []sysctlWant {
	want := make([]sysctlWant, 0, len(spec)+1)
	want = append(want, sysctlWant{"ipv6.addr_gen_mode", sysctlPath(ifname, "ipv6.addr_gen_mode"), addrGenModeNone})
	keys := make([]string, 0, len(spec))
	for k := range spec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.TrimSpace(spec[k])
		if n, err := strconv.Atoi(v); err == nil {
			v = strconv.Itoa(n) // as the kernel prints it: "01" is 1
		}
		want = append(want, sysctlWant{k, sysctlPath(ifname, k), v})
	}
	return want
}

// currentSysctls returns the current value of each wanted setting: from the link message when it
// carries it, else from /proc/sys.
func (r *Reconciler) currentSysctls(st *linkState, want []sysctlWant) ([]string, error) {
	got := make([]string, len(want))
	var rest []sysctlWant
	var restIdx []int
	for i, w := range want {
		if v, ok := st.conf[w.short]; ok {
			got[i] = v
			continue
		}
		rest = append(rest, w)
		restIdx = append(restIdx, i)
	}
	if len(rest) == 0 {
		return got, nil
	}
	vals, err := r.readSysctls(rest)
	if err != nil {
		return nil, err
	}
	for j, i := range restIdx {
		got[i] = vals[j]
	}
	return got, nil
}

// readSysctls reads each file in the reconciler's namespace (/proc/sys/net shows the namespace
// of the thread that opens it). A missing file reads as "" so it shows up as a difference.
func (r *Reconciler) readSysctls(want []sysctlWant) ([]string, error) {
	got := make([]string, len(want))
	err := r.inNS(func() error {
		for i, w := range want {
			b, err := os.ReadFile(w.path)
			if err != nil {
				if os.IsNotExist(err) {
					continue
				}
				return fmt.Errorf("read %s: %w", w.path, err)
			}
			got[i] = strings.TrimSpace(string(b))
		}
		return nil
	})
	return got, err
}

// writeSysctls writes the values in the reconciler's namespace, in order.
func (r *Reconciler) writeSysctls(ws []sysctlWant) error {
	return r.inNS(func() error {
		for _, w := range ws {
			f, err := os.OpenFile(w.path, os.O_WRONLY, 0)
			if err == nil {
				_, err = f.WriteString(w.value)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				return fmt.Errorf("set %s to %s: %w", w.path, w.value, err)
			}
		}
		return nil
	})
}
