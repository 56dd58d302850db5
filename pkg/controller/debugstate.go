package controller

import (
	"time"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
)

// DebugState is the JSON document served at /debug/state. Every desired spec in it is redacted.
type DebugState struct {
	Generation int64          `json:"generation"`
	Ready      bool           `json:"ready"`
	Time       time.Time      `json:"time"`
	Sources    []SourceStatus `json:"sources"`
	// Queues holds the depth of each kind's work queue.
	Queues  map[v1alpha1.Kind]int `json:"queues"`
	Objects []DebugObject         `json:"objects"`
}

// DebugObject is one object's entry in DebugState.
type DebugObject struct {
	Kind          v1alpha1.Kind        `json:"kind"`
	Key           string               `json:"key"`
	Source        string               `json:"source,omitempty"`
	Owner         string               `json:"owner,omitempty"`
	Desired       *v1alpha1.Object     `json:"desired,omitempty"`
	Conditions    []v1alpha1.Condition `json:"conditions,omitempty"`
	AppliedHash   string               `json:"appliedHash,omitempty"`
	Observed      any                  `json:"observed,omitempty"`
	Attempts      int                  `json:"attempts"`
	LastError     string               `json:"lastError,omitempty"`
	Terminal      bool                 `json:"terminal,omitempty"`
	Held          bool                 `json:"held,omitempty"`
	Deleted       bool                 `json:"deleted,omitempty"`
	LastReconcile time.Time            `json:"lastReconcile,omitzero"`
	LastDuration  string               `json:"lastDuration,omitempty"`
	FirstSeen     time.Time            `json:"firstSeen"`
}

// StateProvider is what the ops server needs from the controller.
type StateProvider interface {
	// DebugState returns the state filtered by kind and key ("" = all), secrets redacted.
	DebugState(kind, key string) DebugState
	// Ready reports whether every key of the first snapshot was attempted, and if not why.
	Ready() (bool, string)
}
