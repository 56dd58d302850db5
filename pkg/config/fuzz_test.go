package config

import (
	"os"
	"testing"
)

// FuzzParsePeerAPIJSON checks that no config.json crashes the translation and that what it
// accepts can be validated.
func FuzzParsePeerAPIJSON(f *testing.F) {
	for _, p := range []string{"testdata/peerapi-code.json", "testdata/peerapi-readme.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"peerApiCenter": null, "WIREGUARD": {"allowedIps": ",,"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := ParsePeerAPIJSON("config.json", data)
		if err == nil {
			_ = c.Validate()
		}
	})
}

// FuzzParseYAML checks that no native config crashes the decoder.
func FuzzParseYAML(f *testing.F) {
	b, err := os.ReadFile("../../hack/examples/edgeagent.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("controller: {workers: {Tunnel: 3}}\nlog: &a {format: json}\nops: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseYAML("c.yaml", data)
		if err == nil {
			_ = c.Validate()
		}
	})
}
