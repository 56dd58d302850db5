package ops

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

// PrintTable writes the objects of st as a kubectl-get-style table:
// KIND KEY READY REASON AGE ATTEMPTS, sorted by kind (in API order) and key.
func PrintTable(w io.Writer, st *controller.DebugState, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "KIND\tKEY\tREADY\tREASON\tAGE\tATTEMPTS")
	objs := append([]controller.ObjectStatus(nil), st.Objects...)
	sort.SliceStable(objs, func(i, j int) bool {
		ki, kj := kindOrder(objs[i].Kind), kindOrder(objs[j].Kind)
		if ki != kj {
			return ki < kj
		}
		if objs[i].Kind != objs[j].Kind {
			return objs[i].Kind < objs[j].Kind
		}
		return objs[i].Key < objs[j].Key
	})
	for _, o := range objs {
		ready, reason := "Unknown", "<none>"
		if c := v1alpha1.FindCondition(o.Conditions, v1alpha1.ConditionReady); c != nil {
			ready = string(c.Status)
			if c.Reason != "" {
				reason = c.Reason
			}
		}
		age := "<unknown>"
		if !o.FirstSeen.IsZero() {
			age = ShortDuration(now.Sub(o.FirstSeen))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", o.Kind, o.Key, ready, reason, age, o.Attempts)
	}
	return tw.Flush()
}

func kindOrder(k v1alpha1.Kind) int {
	for i, kk := range v1alpha1.Kinds {
		if kk == k {
			return i
		}
	}
	return len(v1alpha1.Kinds)
}

// ShortDuration prints d the way kubectl prints ages: 5s, 3m, 2h (up to 47h), 4d, then years.
func ShortDuration(d time.Duration) string {
	switch {
	case d < -time.Second:
		return "<invalid>"
	case d < time.Minute:
		if d < 0 {
			d = 0
		}
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d < 2*365*24*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return strconv.Itoa(int(d/(365*24*time.Hour))) + "y"
}
