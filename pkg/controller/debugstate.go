package controller

import (
	"encoding/json"
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
	Queues map[v1alpha1.Kind]int `json:"queues"`
	// Objects are the status entries, their desired specs redacted.
	Objects []ObjectStatus `json:"objects"`
}

// StateProvider is what the ops server needs from the controller.
type StateProvider interface {
	// DebugState returns the state filtered by kind and key ("" = all), secrets redacted.
	DebugState(kind, key string) DebugState
	// Ready reports whether every key of the first snapshot was attempted, and if not why.
	Ready() (bool, string)
}

// Duration is a time.Duration that reads and writes JSON as a string such as "1.5ms".
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}
