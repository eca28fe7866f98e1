package provider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/keys"
)

// fuzzCodeKey is a fixed code key, so that inputs seal alike in every
// fuzz worker.
func fuzzCodeKey(id string, fill byte) keys.CodeKey {
	k := keys.CodeKey{ID: id}
	copy(k.Key[:], bytes.Repeat([]byte{fill}, len(k.Key)))
	return k
}

// FuzzCodeCrypto seals arbitrary plaintexts with the code crypto the token
// endpoint opens codes with (codeCrypto over a rotating ring: the sealing
// key, a previous key still kept, and a key dropped since) and mutates the
// sealed code. It checks: a code round-trips and names its sealing key;
// one sealed with the kept previous key still opens, one sealed with the
// dropped key never does; the plaintext does not show in the code; and a
// mutated code never opens, unless it is the same bytes spelled in another
// base64 form, which opens to the same plaintext.
func FuzzCodeCrypto(f *testing.F) {
	for _, s := range []struct {
		plain string
		op    uint8
		pos   uint16
		data  string
	}{
		{"auth-request-0123456789", 0, 3, "\x01"},
		{"auth-request-0123456789", 0, 40, "\x01"},
		{"auth-request-0123456789", 0, 65535, "\x01"},
		{"auth-request-0123456789", 1, 100, ""},
		{"auth-request-0123456789", 2, 60, "\n"},
		{"auth-request-0123456789", 3, 0, `eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0`},
		{"auth-request-0123456789", 4, 90, ""},
		{"", 0, 0, "\x01"},
		{"at.eyJjIjp7fX0", 0, 10, "\x01"},
		{strings.Repeat("x", 1000), 0, 500, "\x80"},
		{"auth-request", 5, 0, "eyJhbGciOiJub25lIn0...."},
		{"auth-request", 5, 0, "a.b.c.d.e"},
	} {
		f.Add(s.plain, s.op, s.pos, s.data)
	}
	sealKey, kept, dropped := fuzzCodeKey("op-crypto-key-3", 3), fuzzCodeKey("op-crypto-key-2", 2), fuzzCodeKey("op-crypto-key", 1)
	ring := &fakeCodeKeys{}
	ring.set(sealKey, sealKey, kept)
	codes := codeCrypto{keys: ring}
	past, gone := &fakeCodeKeys{}, &fakeCodeKeys{}
	past.set(kept, kept)
	gone.set(dropped, dropped)
	f.Fuzz(func(t *testing.T, plain string, op uint8, pos uint16, data string) {
		code, err := codes.Encrypt(plain)
		if err != nil {
			t.Fatalf("Encrypt(%q): %v", plain, err)
		}
		if got, err := codes.Decrypt(code); err != nil || got != plain {
			t.Fatalf("round trip of %q: got %q, %v", plain, got, err)
		}
		header, ok := decodeSegment(strings.Split(code, ".")[0])
		var h struct {
			Kid string `json:"kid"`
		}
		if !ok || json.Unmarshal(header, &h) != nil || h.Kid != sealKey.ID {
			t.Fatalf("code %q: header %s, want kid %q", code, header, sealKey.ID)
		}
		if len(plain) >= 16 && strings.Contains(code, plain) {
			t.Fatalf("the code %q shows its plaintext %q", code, plain)
		}
		if old, err := (codeCrypto{keys: past}).Encrypt(plain); err != nil {
			t.Fatal(err)
		} else if got, err := codes.Decrypt(old); err != nil || got != plain {
			t.Fatalf("a code sealed with the kept previous key: got %q, %v, want %q", got, err, plain)
		}
		if old, err := (codeCrypto{keys: gone}).Encrypt(plain); err != nil {
			t.Fatal(err)
		} else if _, err := codes.Decrypt(old); err == nil {
			t.Fatalf("a code sealed with a dropped key opened")
		}
		mutated := mutate(code, op, pos, data)
		got, err := codes.Decrypt(mutated)
		if err == nil && (!sameToken(mutated, code) || got != plain) {
			t.Fatalf("mutated code %q opened to %q (the code was %q)", mutated, got, code)
		}
	})
}

// codeFixture is an authorization code of the web client not redeemed yet,
// with its PKCE verifier.
type codeFixture struct{ code, verifier string }

// FuzzCodeRedemption mutates a genuine, unredeemed authorization code and
// redeems the result as the web client with the right secret, redirect
// URI and verifier. The code unchanged redeems once (the round trip);
// anything else — a mutation, the same bytes spelled otherwise, garbage —
// is refused with 400 invalid_grant (invalid_request when it is empty),
// and leaves the genuine code redeemable: its request still stored and its
// family not revoked.
func FuzzCodeRedemption(f *testing.F) {
	for _, s := range []struct {
		op   uint8
		pos  uint16
		data string
	}{
		{2, 0, ""}, // the genuine code
		{0, 10, "\x01"},
		{0, 65535, "\x01"},
		{1, 150, ""},
		{2, 50, "\n"},
		{2, 50, " "},
		{4, 20, ""},
		{3, 0, "eyJhbGciOiJBMjU2R0NNS1ciLCJlbmMiOiJBMjU2R0NNIn0"},
		{5, 0, ""},
		{5, 0, "not-a-code"},
		{5, 0, "a.b.c.d.e"},
	} {
		f.Add(s.op, s.pos, s.data)
	}
	e := newLiveFuzzEnv(f)
	live := &liveTokens[codeFixture]{maxAge: 30 * time.Second, issue: func(tb testing.TB) codeFixture {
		code, verifier := e.authorizeCode(tb, "openid")
		return codeFixture{code, verifier}
	}}
	live.get(f)
	redeemable := func(t *testing.T, code string) error {
		hash := TokenHash(code)
		if _, err := e.store.AuthRequestByCode(t.Context(), hash, time.Now()); err != nil {
			return err
		}
		if revoked, err := e.store.FamilyRevoked(t.Context(), familyForCode(hash)); err != nil || revoked {
			return fmt.Errorf("family revoked: %v, %w", revoked, err)
		}
		return nil
	}
	f.Fuzz(func(t *testing.T, op uint8, pos uint16, data string) {
		fx := live.get(t)
		if redeemable(t, fx.code) != nil {
			// Start from a redeemable code whatever an earlier input did, so
			// that a failing input fails on its own (and minimizes so).
			live.renew()
			fx = live.get(t)
		}
		code := mutate(fx.code, op, pos, data)
		rec := e.exchangeCode(code, fx.verifier, "web", testWebSecret)
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Fatalf("Cache-Control %q, want no-store", got)
		}
		if code == fx.code {
			if rec.Code != http.StatusOK {
				t.Fatalf("the genuine code: got %d %s, want 200", rec.Code, rec.Body)
			}
			live.renew()
			return
		}
		if rec.Code == http.StatusOK {
			t.Fatalf("a mutated code %q redeemed (the code was %q)", code, fx.code)
		}
		if errCode := checkProtocolError(t, rec, code); errCode != "invalid_grant" && (errCode != "invalid_request" || code != "") {
			t.Fatalf("mutated code %q: got %s, want invalid_grant", code, errCode)
		}
		if err := redeemable(t, fx.code); err != nil {
			t.Fatalf("the genuine code is no longer redeemable after an attempt with %q: %v", code, err)
		}
	})
}
