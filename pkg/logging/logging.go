// Package logging builds edgeagent's logr.Logger on zap (console or JSON) and routes klog, which
// client-go logs through, into the same logger so that every line has one format.
package logging

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
)

// Formats accepted by New.
const (
	FormatConsole = "console"
	FormatJSON    = "json"
)

// ParseLevel turns a level name into a zap level: error, warn, info, debug (= logr V(1)),
// trace (= V(2)), or a number n meaning V(n) is enabled.
func ParseLevel(level string) (zapcore.Level, error) {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "", "info":
		return zapcore.InfoLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	case "warn", "warning":
		return zapcore.WarnLevel, nil
	case "debug":
		return zapcore.DebugLevel, nil
	case "trace":
		return zapcore.Level(-2), nil
	}
	n, err := strconv.Atoi(level)
	if err != nil || n < 0 || n > 127 {
		return 0, fmt.Errorf("log level %q: must be error, warn, info, debug, trace or a verbosity 0-127", level)
	}
	// zapr logs V(n) at zap level -n.
	return zapcore.Level(-n), nil
}

// ValidFormat reports whether format is one New accepts.
func ValidFormat(format string) bool {
	return format == "" || format == FormatConsole || format == FormatJSON
}

// New returns a logger writing to w in format (console or json; "" is console) at level (see
// ParseLevel). Errors carry no stack trace: they are operational, not programming, errors.
func New(format, level string, w io.Writer) (logr.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return logr.Discard(), err
	}
	var enc zapcore.Encoder
	switch format {
	case "", FormatConsole:
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	case FormatJSON:
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	default:
		return logr.Discard(), fmt.Errorf("log format %q: must be console or json", format)
	}
	ws := zapcore.Lock(zapcore.AddSync(w))
	core := zapcore.NewCore(enc, ws, zap.NewAtomicLevelAt(lvl))
	zl := zap.New(core, zap.AddCaller(), zap.ErrorOutput(ws))
	return zapr.NewLogger(zl), nil
}

// RouteKlog sends klog's output (client-go's logging) to log. klog keeps one process-wide
// logger, so this is called once from main.
func RouteKlog(log logr.Logger) {
	klog.SetLogger(log.WithName("klog"))
}

// OpenOutput returns where logs go: the file (appended to, created with its directory) and/or
// stderr. With no file the output is stderr whatever console says. The returned close function
// closes the file.
func OpenOutput(file string, console bool, stderr io.Writer) (io.Writer, func() error, error) {
	if file == "" {
		return stderr, func() error { return nil }, nil
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, nil, fmt.Errorf("log file %s: create directory: %w", file, err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("log file %s: open: %w", file, err)
	}
	if console {
		return io.MultiWriter(f, stderr), f.Close, nil
	}
	return f, f.Close, nil
}
