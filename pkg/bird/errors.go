package bird

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
)

// Error is a reply whose final code is a runtime error (8xxx), a parse error (9xxx), or, for
// `configure`, any code that does not mean the configuration was applied.
type Error struct {
	// Command is the command that failed.
	Command string
	// Code is BIRD's reply code, e.g. 8002 (configuration error) or 9001 (parse error).
	Code int
	// Message is BIRD's text, e.g. "./peers/x.conf:3:14 syntax error".
	Message string
	// File, Line and Col locate a configuration error (8002) when BIRD gave a position.
	File      string
	Line, Col int
}

func (e *Error) Error() string {
	return fmt.Sprintf("bird %s: %04d %s", e.Command, e.Code, e.Message)
}

// configPos matches BIRD's "file:line:col message" configuration error text.
var configPos = regexp.MustCompile(`^(.+?):(\d+):(\d+) (.*)$`)

func newError(cmd string, code int, msg string) *Error {
	e := &Error{Command: cmd, Code: code, Message: msg}
	if code == CodeConfigError {
		if m := configPos.FindStringSubmatch(msg); m != nil {
			e.File = m[1]
			e.Line, _ = strconv.Atoi(m[2])
			e.Col, _ = strconv.Atoi(m[3])
		}
	}
	return e
}

// IsConfigError reports whether err is BIRD rejecting a configuration (8002).
func IsConfigError(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeConfigError
}

// AsError returns the *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
