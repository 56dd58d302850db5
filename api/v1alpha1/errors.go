package v1alpha1

import (
	"fmt"
	"strings"
)

// FieldError says which field of which object is wrong and why.
type FieldError struct {
	Kind Kind
	Key  string
	// Field is a JSON path inside the object, e.g. "spec.wireguard.endpoint" or "spec.records[3].value".
	Field string
	// Value is the offending value, already safe to print (never a secret).
	Value string
	// Reason says what the field must be.
	Reason string
	// Line is the line in the source file where the object starts, when known.
	Line int
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Kind != "" {
		b.WriteString(string(e.Kind))
		if e.Key != "" {
			b.WriteString(" ")
			b.WriteString(e.Key)
		}
		if e.Line > 0 {
			fmt.Fprintf(&b, " (line %d)", e.Line)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Field)
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Value != "" {
		fmt.Fprintf(&b, " (got %q)", e.Value)
	}
	return b.String()
}

// FieldErrors collects the field errors of one object; Err returns nil when there are none.
type FieldErrors struct {
	kind Kind
	key  string
	errs []error
}

// NewFieldErrors starts collecting errors for the object kind/key.
func NewFieldErrors(kind Kind, key string) *FieldErrors {
	return &FieldErrors{kind: kind, key: key}
}

// Add records that field (with value) is wrong because of reason, formatted like fmt.Sprintf.
func (f *FieldErrors) Add(field, value, reason string, args ...any) {
	if len(args) > 0 {
		reason = fmt.Sprintf(reason, args...)
	}
	f.errs = append(f.errs, &FieldError{Kind: f.kind, Key: f.key, Field: field, Value: value, Reason: reason})
}

// Err returns the collected errors joined, or nil.
func (f *FieldErrors) Err() error {
	switch len(f.errs) {
	case 0:
		return nil
	case 1:
		return f.errs[0]
	}
	return joined(f.errs)
}

// joined prints one error per line like errors.Join but keeps Unwrap() []error for errors.As.
type joined []error

func (j joined) Error() string {
	parts := make([]string, len(j))
	for i, e := range j {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (j joined) Unwrap() []error { return j }
