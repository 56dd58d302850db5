// Command edgeagent converges a network edge node to the state its control planes declare.
//
//	edgeagent [run] [-c config] [flags]   run the controller (the default)
//	edgeagent plan  [-c config] [flags]   print what run would change, change nothing
//	edgeagent state [--addr A] [--token T] [--kind K]   print the objects as a table
//	edgeagent version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "run":
		err = cmdRun(ctx, args, stderr)
	case "plan":
		err = cmdPlan(ctx, args, stdout, stderr)
	case "state":
		err = cmdState(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "edgeagent %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	case "help", "-h", "--help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "edgeagent: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "edgeagent %s: %v\n", cmd, err)
		return 2
	}
	fmt.Fprintf(stderr, "edgeagent %s: %v\n", cmd, err)
	return 1
}

// usageError is a command-line mistake (exit code 2).
type usageError struct{ error }

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  edgeagent [run] [-c config] [flags]   run the controller (default command)
  edgeagent plan  [-c config] [flags]   load config and sources once, print what would change, change nothing
  edgeagent state [--addr 127.0.0.1:9470] [--token T] [--kind K] [--key K]
                                        print every object as KIND KEY READY REASON AGE ATTEMPTS
  edgeagent version

The config is edgeagent's native YAML, or a PeerAPI agent config.json (used unchanged).
Run "edgeagent run -h" for the flags.
`)
}
