package mfa

import (
	"bytes"
	"errors"
	"image/png"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/mfa/mfatest"
)

// rfc6238Secret is the SHA-1 seed of RFC 6238 Appendix B, "12345678901234567890",
// in base32.
const rfc6238Secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// TestMatchTOTPRFC6238Vectors checks codes against RFC 6238 Appendix B (the
// last six digits of its eight-digit SHA-1 values).
func TestMatchTOTPRFC6238Vectors(t *testing.T) {
	vectors := []struct {
		unix int64
		code string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
	}
	for _, v := range vectors {
		step, err := MatchTOTP(rfc6238Secret, v.code, time.Unix(v.unix, 0))
		if err != nil || step != v.unix/30 {
			t.Errorf("MatchTOTP(%s at %d): step %d, err %v; want step %d", v.code, v.unix, step, err, v.unix/30)
		}
	}
}

// TestMatchTOTPWindow: one step of skew either way, no more, and the step
// returned is the code's own, not the current one.
func TestMatchTOTPWindow(t *testing.T) {
	const at, code = 1111111109, "081804" // step 37037036
	for _, tt := range []struct {
		offset time.Duration
		ok     bool
	}{
		{-60 * time.Second, false}, // two steps early: the code is from a far step
		{-30 * time.Second, true},  // the server's clock is behind
		{0, true},
		{30 * time.Second, true},  // the code was typed late
		{61 * time.Second, false}, // two steps late
		{24 * time.Hour, false},
	} {
		step, err := MatchTOTP(rfc6238Secret, code, time.Unix(at, 0).Add(tt.offset))
		switch {
		case tt.ok && (err != nil || step != at/30):
			t.Errorf("offset %v: step %d, err %v; want step %d", tt.offset, step, err, at/30)
		case !tt.ok && !errors.Is(err, ErrBadCode):
			t.Errorf("offset %v: step %d, err %v; want ErrBadCode", tt.offset, step, err)
		}
	}
}

// TestMatchTOTPBadInput tries input that is not a six-digit code.
func TestMatchTOTPBadInput(t *testing.T) {
	now := time.Unix(59, 0)
	if _, err := MatchTOTP(rfc6238Secret, "287 082", now); err != nil {
		t.Errorf("a code typed with a space: %v, want accepted", err)
	}
	for _, in := range []string{"", "28708", "2870820", "28708a", "２８７０８２", "-287082", "287082\n", "000000"} {
		if _, err := MatchTOTP(rfc6238Secret, in, now); !errors.Is(err, ErrBadCode) {
			t.Errorf("MatchTOTP(%q): %v, want ErrBadCode", in, err)
		}
	}
}

func TestNewTOTPKey(t *testing.T) {
	r := rand.NewChaCha8([32]byte{1})
	k, err := NewTOTPKey("Gatehouse", "alice", r)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Secret) != 32 { // 160 bits in base32, no padding
		t.Errorf("secret %q: %d characters, want 32 (160 bits)", k.Secret, len(k.Secret))
	}
	u, err := url.Parse(k.URL)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != k.Secret ||
		u.Query().Get("issuer") != "Gatehouse" || !strings.HasSuffix(u.Path, ":alice") {
		t.Errorf("URL %q: want otpauth://totp/Gatehouse:alice with the secret and issuer", k.URL)
	}
	k2, _ := NewTOTPKey("Gatehouse", "alice", r)
	if k2.Secret == k.Secret {
		t.Errorf("two keys share the secret %s", k.Secret)
	}
	b, err := k.QRCodePNG(200)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() != 200 || img.Bounds().Dy() != 200 {
		t.Errorf("QR code: %v, bounds %v; want a 200×200 PNG", err, img.Bounds())
	}
}

var recoveryFormat = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$`)

func TestRecoveryCodes(t *testing.T) {
	codes, err := NewRecoveryCodes(RecoveryCodeCount, rand.NewChaCha8([32]byte{2}))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("%d codes, want %d", len(codes), RecoveryCodeCount)
	}
	ids := map[string]bool{}
	for _, c := range codes {
		if !recoveryFormat.MatchString(c) {
			t.Errorf("code %q: not four groups of four base32 characters", c)
		}
		id, canon, err := ParseRecoveryCode(c)
		if err != nil || canon != c || id != c[:4] {
			t.Errorf("ParseRecoveryCode(%q) = %q, %q, %v; want %q, itself", c, id, canon, err, c[:4])
		}
		if ids[id] {
			t.Errorf("two codes with the ID %s", id)
		}
		ids[id] = true
	}
}

// TestParseRecoveryCodeAsTyped: how people type codes back, and what is not
// a code.
func TestParseRecoveryCodeAsTyped(t *testing.T) {
	const want = "7k2m-q9xd-4hf1-0rwz"
	for _, in := range []string{want, "7K2M-Q9XD-4HF1-0RWZ", "7k2mq9xd4hf10rwz", " 7k2m q9xd 4hfl orwz ", "7k2m-q9xd-4hfi-Orwz"} {
		if _, got, err := ParseRecoveryCode(in); err != nil || got != want {
			t.Errorf("ParseRecoveryCode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7k2m-q9xd-4hf1", "7k2m-q9xd-4hf1-0rwz-aaaa", "7k2m-q9xd-4hf1-0rwu",
		"7k2m-q9xd-4hf1-0rw\u00e9", "7k2m_q9xd_4hf1_0rwz", strings.Repeat("a", 65), "287082"} {
		if _, _, err := ParseRecoveryCode(in); !errors.Is(err, ErrNotRecoveryCode) {
			t.Errorf("ParseRecoveryCode(%q): %v, want ErrNotRecoveryCode", in, err)
		}
	}
}

func TestACR(t *testing.T) {
	for _, tt := range []struct {
		amr  []string
		want string
	}{
		{nil, ""},
		{[]string{"pwd"}, ACRSingleFactor},
		{[]string{"pwd", "otp", "mfa"}, ACRMultiFactor},
		{WithFactor([]string{"pwd"}, AMROTP), ACRMultiFactor},
	} {
		if got := ACR(tt.amr); got != tt.want {
			t.Errorf("ACR(%v) = %q, want %q", tt.amr, got, tt.want)
		}
	}
	if got := WithFactor([]string{"pwd", "otp", "mfa"}, AMROTP); len(got) != 3 {
		t.Errorf("WithFactor added a method twice: %v", got)
	}
	for _, tt := range []struct {
		values []string
		want   bool
	}{
		{nil, false},
		{[]string{ACRMultiFactor}, true},
		{[]string{"urn:example:gold", ACRMultiFactor}, true},
		{[]string{ACRMultiFactor, ACRSingleFactor}, false}, // a password is acceptable too
		{[]string{ACRSingleFactor}, false},
		{[]string{"1", "2"}, false}, // unknown values are wishes Gatehouse cannot read
	} {
		if got := WantsMultiFactor(tt.values); got != tt.want {
			t.Errorf("WantsMultiFactor(%v) = %v, want %v", tt.values, got, tt.want)
		}
	}
}

func TestPolicy(t *testing.T) {
	for _, tt := range []struct {
		mode                     Mode
		enrolled, clientRequires bool
		want                     Step
	}{
		{Optional, false, false, Done},
		{Optional, true, false, Verify},
		{Optional, false, true, Enrol},
		{Required, false, false, Enrol},
		{Required, true, false, Verify},
		{Off, true, true, Done},
	} {
		if got := Due(tt.mode, tt.enrolled, tt.clientRequires); got != tt.want {
			t.Errorf("Due(%s, enrolled %v, client %v) = %v, want %v", tt.mode, tt.enrolled, tt.clientRequires, got, tt.want)
		}
	}
	pwd, both := []string{"pwd"}, []string{"pwd", "otp", "mfa"}
	for _, tt := range []struct {
		mode                  Mode
		amr                   []string
		client, request, want bool
	}{
		{Optional, pwd, false, false, false},
		{Optional, pwd, true, false, true},
		{Optional, pwd, false, true, true},
		{Required, pwd, false, false, true},
		{Required, both, true, true, false},
		{Off, pwd, true, true, false},
	} {
		if got := NeedsMore(tt.mode, tt.amr, tt.client, tt.request); got != tt.want {
			t.Errorf("NeedsMore(%s, %v, client %v, request %v) = %v, want %v", tt.mode, tt.amr, tt.client, tt.request, got, tt.want)
		}
	}
	for _, in := range []string{"", "optional", "required", "off"} {
		if _, err := ParseMode(in); err != nil {
			t.Errorf("ParseMode(%q): %v", in, err)
		}
	}
	for _, in := range []string{"on", "Required", "true"} {
		if _, err := ParseMode(in); err == nil {
			t.Errorf("ParseMode(%q): no error", in)
		}
	}
}

// TestMFATestOracle: the tests' oracle agrees with RFC 6238 Appendix B, so
// that tests built on it check against the standard.
func TestMFATestOracle(t *testing.T) {
	for unix, want := range map[int64]string{59: "287082", 1111111109: "081804", 2000000000: "279037"} {
		if got, err := mfatest.Code(rfc6238Secret, time.Unix(unix, 0)); err != nil || got != want {
			t.Errorf("mfatest.Code at %d = %q, %v; want %q", unix, got, err, want)
		}
	}
}
