package bird

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Reply codes the client interprets (BIRD's nest/cli.c and doc/reply_codes).
const (
	CodeOK                 = 0
	CodeWelcome            = 1
	CodeReadingConfig      = 2
	CodeReconfigured       = 3
	CodeReconfigInProgress = 4
	CodeReconfigQueued     = 5
	CodeStatus             = 13
	CodeNothingToDo        = 19
	CodeConfigOK           = 20
	CodeConfigError        = 8002
	CodeNoProtocolsMatch   = 8003
)

// maxLineLen bounds one reply line. BIRD limits its lines to 512 bytes; the margin only keeps a
// misbehaving peer from making the reader buffer without bound.
const maxLineLen = 64 << 10

// ErrMalformed is returned when the daemon sends something that is not a BIRD reply line.
var ErrMalformed = errors.New("malformed reply")

// Line is one line of a reply: its 4-digit code and its text, without the code and separator.
// Continuation lines (which BIRD starts with a space instead of a code) carry the code of the
// line before them.
type Line struct {
	Code int
	Text string
}

// Reply is the complete answer to one command: every line up to and including the final one
// (a code followed by a space).
type Reply struct {
	Lines []Line
}

// Code is the code of the final line, or -1 for an empty reply.
func (r Reply) Code() int {
	if len(r.Lines) == 0 {
		return -1
	}
	return r.Lines[len(r.Lines)-1].Code
}

// Text joins the text of every line with newlines, as birdc would print it.
func (r Reply) Text() string {
	var b strings.Builder
	for i, l := range r.Lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l.Text)
	}
	return b.String()
}

// err turns a final 8xxx/9xxx code into an *Error carrying BIRD's message.
func (r Reply) err(cmd string) error {
	code := r.Code()
	if code < 8000 {
		return nil
	}
	return newError(cmd, code, r.Lines[len(r.Lines)-1].Text)
}

// replyReader reads replies from one connection. It keeps one bufio.Reader for the life of the
// connection so no buffered bytes are lost between replies.
type replyReader struct {
	r *bufio.Reader
}

func newReplyReader(r io.Reader) *replyReader {
	return &replyReader{r: bufio.NewReaderSize(r, 4096)}
}

// read returns the next complete reply. Asynchronous lines ('+') are skipped: they belong to no
// command. A reply is complete only at a line whose code is followed by a space; `0002-Reading
// configuration` is a continuation, not the end.
func (rr *replyReader) read() (Reply, error) {
	var rep Reply
	last := -1
	for {
		line, err := rr.readLine()
		if err != nil {
			if err == io.EOF && len(rep.Lines) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return rep, err
		}
		if code, sep, ok := splitCode(line); ok {
			rep.Lines = append(rep.Lines, Line{Code: code, Text: line[5:]})
			if sep == ' ' {
				return rep, nil
			}
			last = code
			continue
		}
		switch {
		case len(line) == 4 && isDigits(line):
			// A bare code is a final line with no text; BIRD pads with a space but be lenient.
			rep.Lines = append(rep.Lines, Line{Code: atoi4(line)})
			return rep, nil
		case strings.HasPrefix(line, "+"):
			continue
		case strings.HasPrefix(line, " ") && last >= 0:
			rep.Lines = append(rep.Lines, Line{Code: last, Text: line[1:]})
		default:
			return rep, fmt.Errorf("%w: %q", ErrMalformed, truncate(line, 80))
		}
	}
}

// readLine reads one line without its newline, refusing lines longer than maxLineLen.
func (rr *replyReader) readLine() (string, error) {
	var b []byte
	for {
		frag, isPrefix, err := rr.r.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, frag...)
		if len(b) > maxLineLen {
			return "", fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, maxLineLen)
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

// splitCode recognises "dddd-" and "dddd " line starts.
func splitCode(line string) (code int, sep byte, ok bool) {
	if len(line) < 5 || !isDigits(line[:4]) || (line[4] != '-' && line[4] != ' ') {
		return 0, 0, false
	}
	return atoi4(line[:4]), line[4], true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

func atoi4(s string) int {
	n := 0
	for i := 0; i < 4; i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
