package ops

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/edgeagent/edgeagent/api/v1alpha1"
	"github.com/edgeagent/edgeagent/pkg/controller"
)

func TestShortDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-500 * time.Millisecond, "0s"},
		{-5 * time.Second, "<invalid>"},
		{5*time.Second + 900*time.Millisecond, "5s"},
		{59 * time.Second, "59s"},
		{3*time.Minute + 59*time.Second, "3m"},
		{59 * time.Minute, "59m"},
		{2 * time.Hour, "2h"},
		{47 * time.Hour, "47h"},
		{48 * time.Hour, "2d"},
		{4*24*time.Hour + 5*time.Hour, "4d"},
		{729 * 24 * time.Hour, "729d"},
		{3 * 365 * 24 * time.Hour, "3y"},
	} {
		if got := ShortDuration(tc.d); got != tc.want {
			t.Errorf("ShortDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestPrintTable(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	cond := func(s v1alpha1.ConditionStatus, reason string) []v1alpha1.Condition {
		return []v1alpha1.Condition{
			{Type: v1alpha1.ConditionEstablished, Status: v1alpha1.ConditionFalse, Reason: "Connect"},
			{Type: v1alpha1.ConditionReady, Status: s, Reason: reason},
		}
	}
	st := &controller.DebugState{Objects: []controller.ObjectStatus{
		{Kind: v1alpha1.KindDNSZone, Key: "example.com.", Conditions: cond(v1alpha1.ConditionTrue, v1alpha1.ReasonApplied), FirstSeen: now.Add(-4*24*time.Hour - time.Hour), Attempts: 1},
		{Kind: v1alpha1.KindTunnel, Key: "dn2", Conditions: cond(v1alpha1.ConditionFalse, v1alpha1.ReasonFailed), FirstSeen: now.Add(-3*time.Minute - 10*time.Second), Attempts: 12},
		{Kind: v1alpha1.KindBIRDProtocol, Key: "dn1", FirstSeen: now.Add(-5 * time.Second)},
		{Kind: v1alpha1.KindTunnel, Key: "dn1", Conditions: cond(v1alpha1.ConditionTrue, v1alpha1.ReasonApplied), FirstSeen: now.Add(-2 * time.Hour), Attempts: 1},
		{Kind: v1alpha1.KindWAFScript, Key: "example.com"},
	}}
	var buf bytes.Buffer
	if err := PrintTable(&buf, st, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	want := [][]string{
		{"KIND", "KEY", "READY", "REASON", "AGE", "ATTEMPTS"},
		{"Tunnel", "dn1", "True", "Applied", "2h", "1"},
		{"Tunnel", "dn2", "False", "ReconcileFailed", "3m", "12"},
		{"BIRDProtocol", "dn1", "Unknown", "<none>", "5s", "0"},
		{"DNSZone", "example.com.", "True", "Applied", "4d", "1"},
		{"WAFScript", "example.com", "Unknown", "<none>", "<unknown>", "0"},
	}
	if len(lines) != len(want) {
		t.Fatalf("table has %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	// Columns are aligned: every field starts at the same offset as in the header.
	hdr := lines[0]
	offsets := []int{}
	for _, col := range want[0] {
		offsets = append(offsets, strings.Index(hdr, col))
	}
	for i, line := range lines {
		if got := strings.Fields(line); strings.Join(got, "|") != strings.Join(want[i], "|") {
			t.Errorf("line %d = %q, want fields %v", i, line, want[i])
		}
		for c, off := range offsets {
			if !strings.HasPrefix(line[off:], want[i][c]) {
				t.Errorf("line %d column %s not aligned: %q", i, want[0][c], line)
			}
		}
	}
}
