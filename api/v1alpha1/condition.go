package v1alpha1

import "time"

// ConditionStatus is True, False or Unknown, as in Kubernetes.
type ConditionStatus string

// Condition statuses.
const (
	ConditionTrue    ConditionStatus = "True"
	ConditionFalse   ConditionStatus = "False"
	ConditionUnknown ConditionStatus = "Unknown"
)

// Condition types every object carries or may carry.
const (
	// ConditionReady says the node matches the object's spec.
	ConditionReady = "Ready"
	// ConditionEstablished says a BGP session is Established (BIRDProtocol only).
	ConditionEstablished = "Established"
	// ConditionHeld says a deletion of this object is held by the deletion guard.
	ConditionHeld = "DeletionHeld"
)

// Reasons the controller itself sets on the Ready condition.
const (
	ReasonApplied     = "Applied"
	ReasonPending     = "Pending"
	ReasonFailed      = "ReconcileFailed"
	ReasonInvalid     = "InvalidSpec"
	ReasonHeld        = "DeletionHeld"
	ReasonDeleted     = "Deleted"
	ReasonProgressing = "Progressing"
)

// Condition is one aspect of an object's state.
type Condition struct {
	Type               string          `json:"type"`
	Status             ConditionStatus `json:"status"`
	Reason             string          `json:"reason,omitempty"`
	Message            string          `json:"message,omitempty"`
	LastTransitionTime time.Time       `json:"lastTransitionTime"`
}

// SetCondition puts c into conds, keeping LastTransitionTime when the status did not change.
// It returns the new slice.
func SetCondition(conds []Condition, c Condition, now time.Time) []Condition {
	for i := range conds {
		if conds[i].Type != c.Type {
			continue
		}
		if conds[i].Status == c.Status {
			c.LastTransitionTime = conds[i].LastTransitionTime
		} else {
			c.LastTransitionTime = now
		}
		conds[i] = c
		return conds
	}
	c.LastTransitionTime = now
	return append(conds, c)
}

// FindCondition returns the condition of type t, or nil.
func FindCondition(conds []Condition, t string) *Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
