package mfa

import (
	"bytes"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"image/png"
	"io"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// One-time codes are RFC 6238's defaults, the ones every authenticator app
// reads: HMAC-SHA1, 6 digits, 30-second steps, with a 160-bit secret
// (RFC 4226 §4's recommended length).
const (
	totpPeriod     = 30
	totpSecretSize = 20
	totpDigits     = otp.DigitsSix
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}

// TOTPKey is a new one-time-code generator being set up: the secret (base32,
// as authenticator apps take it typed in) and the otpauth:// URL its QR code
// carries.
type TOTPKey struct {
	Secret string
	URL    string
	key    *otp.Key
}

// NewTOTPKey draws a new 160-bit secret from random for account (the
// username) at issuer (the name the authenticator app shows).
func NewTOTPKey(issuer, account string, random io.Reader) (*TOTPKey, error) {
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: totpPeriod, SecretSize: totpSecretSize,
		Digits: totpDigits, Algorithm: otp.AlgorithmSHA1, Rand: random,
	})
	if err != nil {
		return nil, fmt.Errorf("mfa: new one-time-code key: %w", err)
	}
	return &TOTPKey{Secret: k.Secret(), URL: k.URL(), key: k}, nil
}

// TOTPKeyWithSecret is the key of an existing secret (base32), to show its
// QR code again.
func TOTPKeyWithSecret(issuer, account, secret string) (*TOTPKey, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil || len(raw) == 0 {
		return nil, fmt.Errorf("mfa: one-time-code secret is not base32")
	}
	k, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Period: totpPeriod, Secret: raw,
		Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, fmt.Errorf("mfa: one-time-code key: %w", err)
	}
	return &TOTPKey{Secret: k.Secret(), URL: k.URL(), key: k}, nil
}

// QRCodePNG renders the key's otpauth:// URL as a QR code, size pixels
// square, on the server: no script and no other service sees the secret.
func (k *TOTPKey) QRCodePNG(size int) ([]byte, error) {
	img, err := k.key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("mfa: QR code: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("mfa: QR code: %w", err)
	}
	return b.Bytes(), nil
}

// ErrBadCode is a one-time code that matches no step in the window.
var ErrBadCode = errors.New("mfa: wrong one-time code")

// TOTPStep returns the time step at now (RFC 6238's counter T).
func TOTPStep(now time.Time) int64 { return now.Unix() / totpPeriod }

// MatchTOTP checks code against secret at now, allowing one step of clock
// skew either way (RFC 6238 §5.2), and returns the step it belongs to: the
// caller accepts it only if that step is later than the last one accepted
// (storage.SecondFactors.UseTOTPStep), so a code works once. Spaces in code
// are ignored; anything but 6 digits is ErrBadCode. Every candidate is
// compared, in constant time, whichever matches.
func MatchTOTP(secret, code string, now time.Time) (int64, error) {
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != int(totpDigits) || strings.Trim(code, "0123456789") != "" {
		return 0, ErrBadCode
	}
	cur := TOTPStep(now)
	var step int64
	found := 0
	for _, s := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, fmt.Errorf("mfa: one-time code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			step, found = s, 1
		}
	}
	if found == 0 {
		return 0, ErrBadCode
	}
	return step, nil
}
