package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTOTPCode checks the code computation against RFC 6238 Appendix B's
// SHA-1 vectors (their last six digits: Gatehouse's codes have six).
func TestTOTPCode(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
		{20000000000, "353130"},
	} {
		if got := totpCode(key, totpStep(time.Unix(tc.unix, 0))); got != tc.want {
			t.Errorf("T=%d: got %s, want %s", tc.unix, got, tc.want)
		}
	}
}

func TestDecodeTOTPSecret(t *testing.T) {
	// "12345678901234567890" in base32, as the set-up page groups it.
	for _, in := range []string{
		"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
		"GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
		"gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
	} {
		key, err := decodeTOTPSecret(in)
		if err != nil || string(key) != "12345678901234567890" {
			t.Errorf("decodeTOTPSecret(%q): got %q, %v; want the RFC 6238 seed", in, key, err)
		}
	}
	for _, in := range []string{"", "   ", "not base32!", "GEZDGNBV1"} {
		if key, err := decodeTOTPSecret(in); err == nil {
			t.Errorf("decodeTOTPSecret(%q): got %x, want an error", in, key)
		}
	}
}

func TestNextTOTP(t *testing.T) {
	const s = 1000 // the current step
	in := func(step int64, sec int) time.Time { return time.Unix(step*totpPeriod+int64(sec), 0) }
	for _, tc := range []struct {
		name     string
		spent    int64
		now      time.Time
		worker   int
		wantStep int64
		wantAt   time.Time
	}{
		{"idle user: the current step, at once", s - 10, in(s, 5), 0, s, in(s-1, 1)},
		{"spent the step before: the current step", s - 1, in(s, 29), 3, s, in(s-1, 4)},
		{"spent the current step: the next one, already usable", s, in(s, 5), 0, s + 1, in(s, 1)},
		{"spent the current step: the next one, at the worker's second", s, in(s, 5), 9, s + 1, in(s, 10)},
		{"spent the next step: the one after, once the next has begun", s + 1, in(s, 5), 0, s + 2, in(s+1, 1)},
		{"workers past the slots wrap around", s, in(s, 0), totpSlots + 2, s + 1, in(s, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step, at := nextTOTP(tc.spent, tc.now, tc.worker)
			if step != tc.wantStep || !at.Equal(tc.wantAt) {
				t.Errorf("got step %d at %v, want step %d at %v", step-s, at.Sub(in(s, 0)), tc.wantStep-s, tc.wantAt.Sub(in(s, 0)))
			}
			// Whenever it is given, the code is one Gatehouse takes: its
			// step later than the one spent, and within one step of the
			// server's clock (this machine's, a second either way).
			given := tc.now
			if at.After(given) {
				given = at
			}
			for _, clock := range []time.Time{given.Add(-clockMargin), given, given.Add(clockMargin)} {
				if d := step - totpStep(clock); step <= tc.spent || d < -1 || d > 1 {
					t.Errorf("step %d given at %v is not taken by a server whose clock is in step %d (spent %d)", step, given, totpStep(clock), tc.spent)
				}
			}
		})
	}
}

func TestTOTPSecretsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets")
	now := time.Unix(1000*totpPeriod+7, 0)
	users, err := loadTOTPUsers(path, now)
	if err != nil {
		t.Fatalf("a missing file: %v, want an empty one", err)
	}
	if u := users.known("loadtest-0"); u != nil {
		t.Errorf("known(loadtest-0) in an empty file: got %+v, want nil", u)
	}
	const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	u, err := users.setUp("loadtest-0", secret, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if string(u.key) != "12345678901234567890" || u.spent != 1000 {
		t.Errorf("setUp: got key %q spent %d, want the seed and 1000", u.key, u.spent)
	}
	if _, err := users.setUp("loadtest-1", "JBSWY3DPEHPK3PXP", 1000); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode: got %v, want 0600", fi.Mode().Perm())
	}

	// A later run reads it back; it has spent nothing yet, so it assumes
	// codes up to the step after the one it started in were used.
	again, err := loadTOTPUsers(path, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	u = again.known("loadtest-0")
	if u == nil || string(u.key) != "12345678901234567890" {
		t.Fatalf("known(loadtest-0) after reading the file: got %+v, want its secret", u)
	}
	if want := totpStep(now.Add(time.Hour)) + 1; u.spent != want {
		t.Errorf("spent: got %d, want %d (the step after the start)", u.spent, want)
	}
	if again.known("loadtest-1") == nil || again.known("loadtest-2") != nil {
		t.Errorf("known: got loadtest-1 %v, loadtest-2 %v; want only loadtest-1", again.known("loadtest-1"), again.known("loadtest-2"))
	}

	for name, content := range map[string]string{
		"three fields": "loadtest-0 " + secret + " 12\n",
		"bad secret":   "# comment\n\nloadtest-0 not-base32!\n",
	} {
		bad := filepath.Join(t.TempDir(), "bad")
		if err := os.WriteFile(bad, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := loadTOTPUsers(bad, now); err == nil || !strings.Contains(err.Error(), bad+":") {
			t.Errorf("%s: got %v, want an error naming the file and line", name, err)
		}
	}
}
