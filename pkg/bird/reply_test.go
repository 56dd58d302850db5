package bird

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReplyReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Line
		wantErr error
		rest    string // what the next read must return as its first line text
	}{
		{
			name: "configure continues past 0002",
			in:   "0002-Reading configuration from /etc/bird.conf\n0003 Reconfigured\n",
			want: []Line{{2, "Reading configuration from /etc/bird.conf"}, {3, "Reconfigured"}},
		},
		{
			name: "continuation lines keep the code",
			in:   "1011-Router ID is 1.2.3.4\n Hostname is vm\n0013 Daemon is up and running\n",
			want: []Line{{1011, "Router ID is 1.2.3.4"}, {1011, "Hostname is vm"}, {13, "Daemon is up and running"}},
		},
		{
			name: "empty final line",
			in:   "1006-x\n \n0000 \n",
			want: []Line{{1006, "x"}, {1006, ""}, {0, ""}},
		},
		{
			name: "bare final code",
			in:   "0000\n",
			want: []Line{{0, ""}},
		},
		{
			name: "async lines are skipped",
			in:   "+0000 something happened\n0019 Nothing to do\n",
			want: []Line{{19, "Nothing to do"}},
		},
		{
			name: "two replies back to back",
			in:   "0020 Configuration OK\n0003 Reconfigured\n",
			want: []Line{{20, "Configuration OK"}},
			rest: "Reconfigured",
		},
		{
			name:    "continuation without a code first",
			in:      " orphan\n0000 \n",
			wantErr: ErrMalformed,
		},
		{
			name:    "garbage",
			in:      "hello\n",
			wantErr: ErrMalformed,
		},
		{
			name:    "cut off mid reply",
			in:      "0002-Reading configuration\n",
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "line too long",
			in:      "1006-" + strings.Repeat("x", maxLineLen+10) + "\n0000 \n",
			wantErr: ErrMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := newReplyReader(strings.NewReader(tt.in))
			rep, err := rr.read()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Lines) != len(tt.want) {
				t.Fatalf("lines = %+v, want %+v", rep.Lines, tt.want)
			}
			for i := range tt.want {
				if rep.Lines[i] != tt.want[i] {
					t.Errorf("line %d = %+v, want %+v", i, rep.Lines[i], tt.want[i])
				}
			}
			if tt.rest != "" {
				next, err := rr.read()
				if err != nil || next.Lines[0].Text != tt.rest {
					t.Fatalf("next reply = %+v, %v; want %q", next, err, tt.rest)
				}
			}
		})
	}
}

func TestReplyErr(t *testing.T) {
	rep := Reply{Lines: []Line{{2, "Reading configuration from bird.conf"}, {8002, "./peers/b.conf:1:87 Remote AS number (or peer type) must be set"}}}
	err := rep.err("configure check")
	e := AsError(err)
	if e == nil || !IsConfigError(err) {
		t.Fatalf("err = %v, want a config *Error", err)
	}
	if e.File != "./peers/b.conf" || e.Line != 1 || e.Col != 87 || e.Message != "./peers/b.conf:1:87 Remote AS number (or peer type) must be set" {
		t.Errorf("parsed %+v", e)
	}
	if got := (Reply{Lines: []Line{{9001, "syntax error"}}}).err("x"); AsError(got) == nil || AsError(got).Code != 9001 || IsConfigError(got) {
		t.Errorf("9001: %v", got)
	}
	if got := (Reply{Lines: []Line{{3, "Reconfigured"}}}).err("configure"); got != nil {
		t.Errorf("0003 is an error: %v", got)
	}
}
