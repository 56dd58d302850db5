package main

import (
	"context"
	"flag"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/edgeagent/edgeagent/pkg/ops"
)

// cmdState reads /debug/state of a running agent and prints a kubectl-get-style table.
func cmdState(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("state", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9470", "ops address (host:port or URL) of the running agent")
	token := fs.String("token", os.Getenv("EDGEAGENT_OPS_TOKEN"), "bearer token for the ops endpoints (default $EDGEAGENT_OPS_TOKEN)")
	kind := fs.String("kind", "", "show only this kind")
	key := fs.String("key", "", "show only this key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := ops.FetchState(ctx, stateAddr(*addr, *kind, *key), *token)
	if err != nil {
		return err
	}
	return ops.PrintTable(stdout, st, time.Now())
}

// stateAddr adds the kind and key filters to the ops address the user gave.
func stateAddr(addr, kind, key string) string {
	u, err := ops.StateURL(addr)
	if err != nil {
		return addr // FetchState reports the error
	}
	q := url.Values{}
	if kind != "" {
		q.Set("kind", kind)
	}
	if key != "" {
		q.Set("key", key)
	}
	if len(q) == 0 {
		return u
	}
	return u + "?" + q.Encode()
}
