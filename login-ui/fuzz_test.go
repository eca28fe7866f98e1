package loginui

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// fullwidth writes the printable ASCII of s in its fullwidth forms
// (U+FF01–U+FF5E), the look-alikes East Asian keyboards type.
func fullwidth(s string) string {
	return strings.Map(func(r rune) rune {
		if '!' <= r && r <= '~' {
			return r - '!' + '\uff01'
		}
		return r
	}, s)
}

// FuzzCanonicalUsername: the canonical form of any input is valid UTF-8,
// bounded (MaxUsernameBytes), has no surrounding space and is its own
// canonical form; upper-case, fullwidth and case-changed e-mail variants
// of an input map to the same form as it, so they reach the same account
// and share its throttle counter; a valid username is already canonical.
func FuzzCanonicalUsername(f *testing.F) {
	for _, s := range []string{
		"alice", " Alice ", "ALICE@EXAMPLE.COM", "alice@Example.com", "\u212aate", "ſam", "straße",
		"ｌｏｇｉｎ", "𝐚𝐥𝐢𝐜𝐞", "ﬁle", "\u00a0bob\u3000", "al\xffice", "İstanbul", "ı", "ς", "\u0345",
		"e\u0301", "\u00a8", strings.Repeat("ǅ", 300), strings.Repeat(" ", 2000) + "alice", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := CanonicalUsername(s)
		switch {
		case len(c) > MaxUsernameBytes:
			t.Fatalf("CanonicalUsername(%q): %d bytes, want at most %d", s, len(c), MaxUsernameBytes)
		case !utf8.ValidString(c):
			t.Fatalf("CanonicalUsername(%q) = %q: not valid UTF-8", s, c)
		case strings.TrimFunc(c, unicode.IsSpace) != c:
			t.Fatalf("CanonicalUsername(%q) = %q: surrounding space", s, c)
		}
		if cc := CanonicalUsername(c); cc != c {
			t.Fatalf("not idempotent: CanonicalUsername(%q) = %q, but CanonicalUsername(%q) = %q", s, c, c, cc)
		}
		if ValidUsername(s) && c != s {
			t.Fatalf("valid username %q: canonical form %q, want itself", s, c)
		}
		if len(s) > maxUsernameInput || !utf8.ValidString(s) {
			return // only a prefix is read, or the text has no letters to vary
		}
		upper := strings.Map(func(r rune) rune {
			if r == 'ı' || r == 'İ' { // Turkish dotless and dotted i fold apart by design
				return r
			}
			return unicode.ToUpper(r)
		}, s)
		for what, v := range map[string]string{"upper-case": upper, "fullwidth": fullwidth(s), "fullwidth upper-case": fullwidth(upper)} {
			if len(v) <= maxUsernameInput && CanonicalUsername(v) != c {
				t.Fatalf("%s variant %q of %q: canonical %q, want %q", what, v, s, CanonicalUsername(v), c)
			}
		}
	})
}

// FuzzDescribeUserAgent: whatever a browser sends as User-Agent, the
// account page shows one of a fixed set of names, "Browser" or "Browser on
// OS": nothing of the header itself (so nothing a page could be made to
// show), and a browser token anywhere in the header is never missed.
func FuzzDescribeUserAgent(f *testing.F) {
	for _, s := range []string{
		testUA, "", "curl/8.5.0", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36 Edg/140.0",
		"HeadlessChrome/140 Linux", "<script>alert(1)</script> on Windows", "\xff\xfe", strings.Repeat("Firefox/", 1000),
	} {
		f.Add(s)
	}
	browsers := []string{"Edge", "Opera", "Firefox", "Chrome", "Chromium", "Safari", "curl", "Headless Chrome", "Unknown browser"}
	systems := []string{"Android", "iPhone", "iPad", "macOS", "Windows", "ChromeOS", "Linux"}
	f.Fuzz(func(t *testing.T, ua string) {
		got := DescribeUserAgent(ua)
		browser, os, hasOS := strings.Cut(got, " on ")
		if !slices.Contains(browsers, browser) || (hasOS && !slices.Contains(systems, os)) {
			t.Fatalf("DescribeUserAgent(%q) = %q: not one of the fixed names", ua, got)
		}
		known := strings.Contains(ua, "HeadlessChrome")
		for _, token := range []string{"Edg/", "OPR/", "Firefox/", "Chrome/", "Chromium/", "Safari/", "curl/"} {
			known = known || strings.Contains(ua, token)
		}
		if known == (browser == "Unknown browser") {
			t.Fatalf("DescribeUserAgent(%q) = %q: want a browser name exactly when the header names one", ua, got)
		}
		if again := DescribeUserAgent(ua); again != got {
			t.Fatalf("DescribeUserAgent(%q): %q, then %q", ua, got, again)
		}
	})
}
