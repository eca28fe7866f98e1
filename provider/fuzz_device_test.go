package provider

import (
	"strings"
	"testing"
)

// FuzzNormalUserCode reads arbitrary text as a typed user code. Whatever
// the input: a code is accepted only as userCodeLen letters of
// userCodeAlphabet; an accepted code reads back the same shown as
// XXXX-XXXX, lower-cased, or with spaces; and nothing longer than 64 bytes
// is read at all. Seeds include fullwidth letters and vowels (outside the
// alphabet), a no-break space, and codes one letter short and long.
func FuzzNormalUserCode(f *testing.F) {
	for _, seed := range []string{
		"WDJB-MJHT", "wdjb mjht", "WDJBMJHT", " W-D-J-B-M-J-H-T ", "WDJB\u00a0MJHT", "WDJB\tMJHT",
		"", "-", "AAAA-AAAA", "WDJB-MJH", "WDJB-MJHTX", "ＷＤＪＢ-ＭＪＨＴ", "wdjb-mjhт",
		strings.Repeat("-", 60) + "WDJBMJHT", "WDJB-MJHT\x00",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, typed string) {
		code, ok := normalUserCode(typed)
		if !ok {
			if code != "" {
				t.Fatalf("normalUserCode(%q) = %q, false; want no code with false", typed, code)
			}
			return
		}
		if len(typed) > 64 {
			t.Fatalf("normalUserCode(%q): accepted %d bytes, want at most 64 read", typed, len(typed))
		}
		if len(code) != userCodeLen || strings.Trim(code, userCodeAlphabet) != "" {
			t.Fatalf("normalUserCode(%q) = %q: not %d letters of %s", typed, code, userCodeLen, userCodeAlphabet)
		}
		for _, again := range []string{formatUserCode(code), strings.ToLower(code), code[:2] + " " + code[2:], strings.ToLower(typed)} {
			if got, ok := normalUserCode(again); !ok || got != code {
				t.Fatalf("normalUserCode(%q) = %q, %v; want %q as from %q", again, got, ok, code, typed)
			}
		}
	})
}
