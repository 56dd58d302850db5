// Package v1alpha1 holds edgeagent's desired-state and status types: plain data with validation,
// a stable spec hash and secret redaction, and no behaviour.
package v1alpha1

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Kind names a resource kind.
type Kind string

// The resource kinds edgeagent reconciles.
const (
	KindTunnel        Kind = "Tunnel"
	KindBIRDProtocol  Kind = "BIRDProtocol"
	KindDNSZone       Kind = "DNSZone"
	KindProxyListener Kind = "ProxyListener"
	KindWAFScript     Kind = "WAFScript"
)

// Kinds lists every kind in the order reconcilers are started and shown.
var Kinds = []Kind{KindTunnel, KindBIRDProtocol, KindDNSZone, KindProxyListener, KindWAFScript}

// Spec is the desired state of one object of some kind.
type Spec interface {
	// Kind is the kind this spec belongs to.
	Kind() Kind
	// Validate checks the spec of the object called key; errors are *FieldError values
	// (possibly joined with errors.Join).
	Validate(key string) error
}

// Object is one desired object: its identity, where it came from, its spec and the spec's hash.
// Objects are immutable once built with NewObject.
type Object struct {
	Kind Kind `json:"kind"`
	// Key identifies the object within its kind (interface name, zone apex, proto/address...).
	Key string `json:"key"`
	// Source is the name of the source that produced the object.
	Source string `json:"source,omitempty"`
	// Owner names the control-plane object it was translated from, e.g. a PeerAPI session UUID.
	Owner string `json:"owner,omitempty"`
	Spec  Spec   `json:"spec"`
	// Hash is the stable hash of Kind and Spec (secrets included, so a key change is a change).
	Hash string `json:"hash"`
}

// NewObject validates spec and returns the object with its hash computed.
func NewObject(source, owner, key string, spec Spec) (*Object, error) {
	if spec == nil {
		return nil, fmt.Errorf("object %q: no spec", key)
	}
	if key == "" {
		return nil, &FieldError{Kind: spec.Kind(), Field: "metadata.name", Reason: "must not be empty"}
	}
	if err := spec.Validate(key); err != nil {
		return nil, err
	}
	h, err := HashSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("%s %s: hash spec: %w", spec.Kind(), key, err)
	}
	return &Object{Kind: spec.Kind(), Key: key, Source: source, Owner: owner, Spec: spec, Hash: h}, nil
}

// HashSpec returns a stable hash of the spec: SHA-256 over the kind and the spec's JSON encoding
// (struct fields in declaration order, map keys sorted), so equal specs hash equally across
// processes and restarts.
func HashSpec(spec Spec) (string, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(spec.Kind()))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// Redacted returns a copy of the object whose spec has every secret field masked. It is what
// logs, /debug/state and `plan` print.
func (o *Object) Redacted() *Object {
	if o == nil {
		return nil
	}
	c := *o
	c.Spec = RedactSpec(o.Spec)
	return &c
}

// ObjectSet is an immutable set of objects by kind and key, as one source produced them.
type ObjectSet map[Kind]map[string]*Object

// Add puts o into the set, creating the kind's map if needed. It is for building a set; a set
// handed to the controller must not be changed afterwards.
func (s ObjectSet) Add(o *Object) {
	m := s[o.Kind]
	if m == nil {
		m = map[string]*Object{}
		s[o.Kind] = m
	}
	m[o.Key] = o
}

// Get returns the object of kind with key, or nil.
func (s ObjectSet) Get(kind Kind, key string) *Object {
	return s[kind][key]
}

// Len counts the objects of all kinds.
func (s ObjectSet) Len() int {
	n := 0
	for _, m := range s {
		n += len(m)
	}
	return n
}

// Keys returns the sorted keys of one kind.
func (s ObjectSet) Keys(kind Kind) []string {
	keys := make([]string, 0, len(s[kind]))
	for k := range s[kind] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// NewSpec returns an empty spec of kind to decode into, or nil for an unknown kind.
func NewSpec(kind Kind) Spec {
	switch kind {
	case KindTunnel:
		return &TunnelSpec{}
	case KindBIRDProtocol:
		return &BIRDProtocolSpec{}
	case KindDNSZone:
		return &DNSZoneSpec{}
	case KindProxyListener:
		return &ProxyListenerSpec{}
	case KindWAFScript:
		return &WAFScriptSpec{}
	}
	return nil
}

// KindList names every kind, comma-separated, for error messages.
func KindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
