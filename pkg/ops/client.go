package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

// StateURL turns what a user types (host:port, a base URL, or a full /debug/state URL, with
// optional ?kind=&key=) into the /debug/state URL.
func StateURL(addr string) (string, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("ops address %q: %w", addr, err)
	}
	if u.Host == "" {
		return "", fmt.Errorf("ops address %q: no host", addr)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/debug/state"
	}
	return u.String(), nil
}

// FetchState reads the /debug/state document from a running agent. addr is anything StateURL
// accepts; token is sent as a bearer token when not empty.
func FetchState(ctx context.Context, addr, token string) (*controller.DebugState, error) {
	u, err := StateURL(addr)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch state %s: %w", u, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch state: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("fetch state %s: HTTP %d: %s", u, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	st, err := DecodeState(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("fetch state %s: %w", u, err)
	}
	return st, nil
}

// wireObject shadows ObjectStatus.Desired: Object.Spec is an interface, so the spec is decoded
// by kind after the envelope.
type wireObject struct {
	controller.ObjectStatus
	Desired *wireDesired `json:"desired,omitempty"`
}

type wireDesired struct {
	Kind   v1alpha1.Kind   `json:"kind"`
	Key    string          `json:"key"`
	Source string          `json:"source,omitempty"`
	Owner  string          `json:"owner,omitempty"`
	Spec   json.RawMessage `json:"spec"`
	Hash   string          `json:"hash"`
}

type wireState struct {
	controller.DebugState
	Objects []wireObject `json:"objects"`
}

// DecodeState decodes a /debug/state document, including each desired object's typed spec.
func DecodeState(r io.Reader) (*controller.DebugState, error) {
	var ws wireState
	if err := json.NewDecoder(r).Decode(&ws); err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	st := ws.DebugState
	st.Objects = make([]controller.ObjectStatus, 0, len(ws.Objects))
	for _, wo := range ws.Objects {
		o := wo.ObjectStatus
		if d := wo.Desired; d != nil {
			spec, err := newSpec(d.Kind)
			if err != nil {
				return nil, fmt.Errorf("decode state: %s %s: %w", d.Kind, d.Key, err)
			}
			if len(d.Spec) > 0 && string(d.Spec) != "null" {
				if err := json.Unmarshal(d.Spec, spec); err != nil {
					return nil, fmt.Errorf("decode state: %s %s: spec: %w", d.Kind, d.Key, err)
				}
			}
			o.Desired = &v1alpha1.Object{Kind: d.Kind, Key: d.Key, Source: d.Source, Owner: d.Owner, Spec: spec, Hash: d.Hash}
		}
		st.Objects = append(st.Objects, o)
	}
	return &st, nil
}

// newSpec returns an empty spec of kind. (A v1alpha1.NewSpec would be the natural home.)
func newSpec(kind v1alpha1.Kind) (v1alpha1.Spec, error) {
	if s := v1alpha1.NewSpec(kind); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}
