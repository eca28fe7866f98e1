package main

import (
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
