package main

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseSince feeds gatehouse audit --since any text. It checks that
// parseSince never panics, that every refusal is an error about --since,
// and that what it accepts is one of its two kinds, consistently: a time
// back from now (24h, 7d: the result moves with now and lies strictly
// before it, at most 36500 days back for the d form) or a time of its own
// (RFC 3339, a date: the result does not depend on now and prints back to
// the same instant).
func FuzzParseSince(f *testing.F) {
	for _, s := range []string{
		"24h", "90m", "7d", "1d", "36500d", "36501d", "0d", "-7d", "+7d", "d", "7", "1.5d", "1.5h", "-5m", "0s",
		"1ns", "2562047h", "9999999999h", "2031-01-31T09:30:00Z", "2031-01-31T09:30:00+02:00",
		"2031-01-31T09:30:00.123456789-07:00", "2031-01-31", "2031-13-01", "0000-01-01T00:00:00Z",
		"9999-12-31T23:59:59Z", "", " 7d", "7d ", "7D", "\x00", "٣d", "1h30m", "P7D",
	} {
		f.Add(s)
	}
	now1 := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	now2 := now1.Add(1234 * time.Second)
	f.Fuzz(func(t *testing.T, s string) {
		got1, err1 := parseSince(s, now1)
		got2, err2 := parseSince(s, now2)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("parseSince(%q): accepted at one now and not at another: %v, %v", s, err1, err2)
		}
		if err1 != nil {
			if !strings.Contains(err1.Error(), "--since") {
				t.Fatalf("parseSince(%q): error %q does not name --since", s, err1)
			}
			return
		}
		switch {
		case got2.Sub(got1) == now2.Sub(now1): // back from now
			if !got1.Before(now1) {
				t.Fatalf("parseSince(%q) = %s, want a time before now (%s)", s, got1, now1)
			}
			if strings.HasSuffix(s, "d") && now1.Sub(got1) > 36500*24*time.Hour {
				t.Fatalf("parseSince(%q) = %s: more than 36500 days back", s, got1)
			}
		case got1.Equal(got2): // a time of its own
			back, err := time.Parse(time.RFC3339Nano, got1.Format(time.RFC3339Nano))
			if err != nil || !back.Equal(got1) {
				t.Fatalf("parseSince(%q) = %s, which does not print back to itself: %s, %v", s, got1, back, err)
			}
		default:
			t.Fatalf("parseSince(%q) = %s at %s and %s at %s: neither back from now nor fixed", s, got1, now1, got2, now2)
		}
	})
}
