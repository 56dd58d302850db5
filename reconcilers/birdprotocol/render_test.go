package birdprotocol

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/bird/birdtest"
)

// peerAPITemplate is a template written for the PeerAPI agent: only its variable names, both
// channels always.
const peerAPITemplate = `# managed by iEdon PeerAPI
protocol bgp {{.SessionName}} from dnpeers {
    direct;
    neighbor {{.InterfaceAddr}} as {{.ASN}};
    ipv4 {
        {{if .IPv4ShouldImport}}import where import_filter_ebgp({{.FilterParamsIPv4}});{{else}}import none;{{end}}
        {{if .IPv4ShouldExport}}export where export_filter_ebgp({{.FilterParamsIPv4}});{{else}}export none;{{end}}
        import limit BGP_ROUTES_IMPORT_LIMIT action block;
        {{if .ExtendedNextHopOn}}extended next hop on;{{end}}
    };
    ipv6 {
        {{if .IPv6ShouldImport}}import where import_filter_ebgp({{.FilterParamsIPv6}});{{else}}import none;{{end}}
        {{if .IPv6ShouldExport}}export where export_filter_ebgp({{.FilterParamsIPv6}});{{else}}export none;{{end}}
        import limit BGP_ROUTES_IMPORT_LIMIT action block;
    };
}
`

var protoBlock = regexp.MustCompile(`(?s)protocol bgp (\S+) from dnpeers \{(.*?)\n\}`)

// blocks maps protocol name to its body.
func blocks(s string) map[string]string {
	out := map[string]string{}
	for _, m := range protoBlock.FindAllStringSubmatch(s, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// birdParse runs `bird -p` over conf + the rendered file: BIRD itself says whether it is valid.
func birdParse(t *testing.T, rendered []byte) {
	t.Helper()
	if _, err := os.Stat(birdtest.Binary); err != nil {
		t.Skipf("needs BIRD at %s: %v", birdtest.Binary, err)
	}
	dir := t.TempDir()
	peer := filepath.Join(dir, "peer.conf")
	os.WriteFile(peer, rendered, 0o644)
	conf := strings.ReplaceAll(fmt.Sprintf(dropInConf, "10.0.0.1", "", 4242420001, ""), `"{{DIR}}/peers/*.conf"`, `"`+peer+`"`)
	main := filepath.Join(dir, "bird.conf")
	os.WriteFile(main, []byte(conf), 0o644)
	if out, err := exec.Command(birdtest.Binary, "-p", "-c", main).CombinedOutput(); err != nil {
		t.Fatalf("bird -p rejects the rendered file: %v: %s\n%s", err, out, rendered)
	}
}

func TestRenderDefaultTemplate(t *testing.T) {
	tmpl, err := loadTemplate("")
	if err != nil {
		t.Fatal(err)
	}
	fp := v1alpha1.FilterParams{LatencyTier: 3, Bandwidth: 24, Security: 34, Policy: 2, Probe: 1}
	tests := []struct {
		name string
		spec v1alpha1.BIRDProtocolSpec
		// want maps protocol name to the substrings its body must hold; absent lists what it
		// must not.
		want   map[string][]string
		absent map[string][]string
	}{
		{
			name: "mp-bgp over link-local carries both families",
			spec: v1alpha1.BIRDProtocolSpec{Interface: "dn1", ASN: 4242421234, MPBGP: true, ExtendedNextHop: true,
				NeighborIPv6LinkLocal: "fe80::1234", NeighborIPv4: "172.20.0.1", Filter: fp},
			want: map[string][]string{"DN42_4242421234_dn1": {
				"neighbor fe80::1234%'dn1' as 4242421234;",
				"ipv4 {", "import where import_filter_ebgp(3,24,34,2,1);", "export where export_filter_ebgp(3,24,34,2,1);",
				"extended next hop on;", "ipv6 {", "import limit BGP_ROUTES_IMPORT_LIMIT action block;"}},
		},
		{
			name: "mp-bgp over IPv4 only",
			spec: v1alpha1.BIRDProtocolSpec{Interface: "dn2", ASN: 65001, MPBGP: true, NeighborIPv4: "172.20.0.2", Filter: fp},
			want: map[string][]string{"DN42_65001_dn2": {"neighbor 172.20.0.2 as 65001;", "ipv4 {", "ipv6 {"}},
		},
		{
			name: "single-family protocols declare only their own channel",
			spec: v1alpha1.BIRDProtocolSpec{Interface: "dn3", ASN: 65003, NeighborIPv6: "fd00::3", NeighborIPv4: "172.20.0.3", Filter: fp},
			want: map[string][]string{
				"DN42_65003_dn3_v6": {"neighbor fd00::3 as 65003;", "ipv6 {", "import where import_filter_ebgp(3,24,34,2,1);"},
				"DN42_65003_dn3_v4": {"neighbor 172.20.0.3 as 65003;", "ipv4 {", "export where export_filter_ebgp(3,24,34,2,1);"},
			},
			absent: map[string][]string{"DN42_65003_dn3_v6": {"ipv4 {"}, "DN42_65003_dn3_v4": {"ipv6 {", "extended next hop"}},
		},
		{
			name: "link-local preferred over global IPv6, custom name",
			spec: v1alpha1.BIRDProtocolSpec{Interface: "wg0", ASN: 65004, Name: "peer_x", NeighborIPv6: "fd00::4", NeighborIPv6LinkLocal: "fe80::4"},
			want: map[string][]string{"peer_x_v6": {"neighbor fe80::4%'wg0' as 65004;", "import where import_filter_ebgp(0,0,0,0,0);"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.spec.Validate("dnx"); err != nil {
				t.Fatal(err)
			}
			key := tt.spec.Interface
			b, err := render(tmpl, key, &tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			if !strings.HasPrefix(s, headerPrefix+key+"\n") {
				t.Fatalf("no header:\n%s", s)
			}
			got := blocks(s)
			if names := tt.spec.ProtocolNames(key); len(names) != len(got) {
				t.Errorf("ProtocolNames %v disagrees with the rendered protocols %v", names, keys(got))
			} else {
				for _, n := range names {
					if _, ok := got[n]; !ok {
						t.Errorf("ProtocolNames has %s, not rendered", n)
					}
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("protocols %v, want %v:\n%s", keys(got), keys(tt.want), s)
			}
			for name, subs := range tt.want {
				body, ok := got[name]
				if !ok {
					t.Fatalf("no protocol %s:\n%s", name, s)
				}
				for _, sub := range subs {
					if !strings.Contains(body, sub) {
						t.Errorf("%s lacks %q:\n%s", name, sub, body)
					}
				}
				for _, sub := range tt.absent[name] {
					if strings.Contains(body, sub) {
						t.Errorf("%s has %q:\n%s", name, sub, body)
					}
				}
			}
			birdParse(t, b)
		})
	}
}

func keys(m any) []string {
	var out []string
	switch m := m.(type) {
	case map[string]string:
		for k := range m {
			out = append(out, k)
		}
	case map[string][]string:
		for k := range m {
			out = append(out, k)
		}
	}
	return out
}

// TestRenderPeerAPITemplate renders an operator template that uses only the PeerAPI agent's
// variable names: it must execute, keep the agent's meaning (the other family none/none) and be
// valid BIRD.
func TestRenderPeerAPITemplate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bird_peer.conf")
	os.WriteFile(path, []byte(peerAPITemplate), 0o644)
	tmpl, err := loadTemplate(path)
	if err != nil {
		t.Fatal(err)
	}
	spec := &v1alpha1.BIRDProtocolSpec{Interface: "dn9", ASN: 4242420009, NeighborIPv6LinkLocal: "fe80::9", NeighborIPv4: "172.20.0.9",
		Filter: v1alpha1.FilterParams{Bandwidth: 24, Security: 31, Policy: 1}}
	b, err := render(tmpl, "dn9", spec)
	if err != nil {
		t.Fatal(err)
	}
	got := blocks(string(b))
	v6, v4 := got["DN42_4242420009_dn9_v6"], got["DN42_4242420009_dn9_v4"]
	if !strings.Contains(v6, "neighbor fe80::9%'dn9' as 4242420009;") || !strings.Contains(v4, "neighbor 172.20.0.9 as 4242420009;") {
		t.Fatalf("neighbours:\n%s", b)
	}
	i4, i6 := strings.Index(v6, "ipv4 {"), strings.Index(v6, "ipv6 {")
	if i4 < 0 || i6 < 0 || !strings.Contains(v6[i4:i6], "import none;") || !strings.Contains(v6[i6:], "import where import_filter_ebgp(0,24,31,1,0);") {
		t.Errorf("v6 protocol channels:\n%s", v6)
	}
	if !strings.HasPrefix(string(b), headerPrefix+"dn9\n") {
		t.Errorf("header missing")
	}
	birdParse(t, b)

	// A template naming a variable that does not exist fails at execution, not silently.
	bad := filepath.Join(t.TempDir(), "bad.conf")
	os.WriteFile(bad, []byte("protocol bgp {{.NoSuchField}} {}\n"), 0o644)
	bt, err := loadTemplate(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := render(bt, "dn9", spec); err == nil || !strings.Contains(err.Error(), "NoSuchField") {
		t.Errorf("bad template: %v", err)
	}
	if _, err := loadTemplate(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing template file accepted")
	}
}
