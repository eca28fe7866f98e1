package mfa

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestNewPasskeysRelyingParty(t *testing.T) {
	for _, iss := range []string{"http://127.0.0.1:8080", "https://[::1]", "not a url", ""} {
		if _, err := NewPasskeys(iss, "Gatehouse"); err == nil {
			t.Errorf("NewPasskeys(%q): no error; an IP address or no host cannot be a relying-party id", iss)
		}
	}
	p, err := NewPasskeys("https://login.example.com:8443", "Gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	options, state, err := p.BeginRegistration(PasskeyUser{ID: "user-1", Name: "alice", DisplayName: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			RP struct {
				ID string `json:"id"`
			} `json:"rp"`
			User struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"user"`
			Challenge   string `json:"challenge"`
			Attestation string `json:"attestation"`
			Selection   struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatal(err)
	}
	pk := o.PublicKey
	if pk.RP.ID != "login.example.com" || pk.User.ID != base64.RawURLEncoding.EncodeToString([]byte("user-1")) || pk.User.Name != "alice" ||
		len(pk.Challenge) < 43 || pk.Attestation != "none" || pk.Selection.ResidentKey != "preferred" || pk.Selection.UserVerification != "preferred" {
		t.Errorf("registration options: %+v; want rp login.example.com, the user's id as handle, a 32-byte challenge, no attestation, discoverable and UV preferred", pk)
	}
	if !strings.Contains(string(state), pk.Challenge) {
		t.Errorf("ceremony state %s does not hold the challenge %s", state, pk.Challenge)
	}
	loginOptions, _, err := p.BeginLogin(nil)
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		PublicKey struct {
			UserVerification string            `json:"userVerification"`
			Allow            []json.RawMessage `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(loginOptions, &l); err != nil || l.PublicKey.UserVerification != "required" || len(l.PublicKey.Allow) != 0 {
		t.Errorf("sign-in without a password: %s; want user verification required and no allowed credentials", loginOptions)
	}
}

// TestPasskeyAnswersRefused: answers that are not a WebAuthn credential
// are ErrPasskey, never a panic or another error.
func TestPasskeyAnswersRefused(t *testing.T) {
	p, err := NewPasskeys("https://login.example.com", "Gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	u := PasskeyUser{ID: "user-1", Name: "alice"}
	_, regState, err := p.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.BeginLogin(&u); err == nil {
		t.Error("BeginLogin for a user without passkeys: no error")
	}
	_, loginState, err := p.BeginLogin(nil)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(string) (*PasskeyUser, error) { return &u, nil }
	for _, answer := range []string{``, `{}`, `null`, `[]`, `{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`,
		`{"id":"AAAA","rawId":"AAAA","type":"password","response":{"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA"}}`} {
		if _, err := p.FinishRegistration(u, regState, []byte(answer)); !errors.Is(err, ErrPasskey) {
			t.Errorf("FinishRegistration(%s): %v, want ErrPasskey", answer, err)
		}
		if _, err := p.FinishLogin(nil, lookup, loginState, []byte(answer)); !errors.Is(err, ErrPasskey) {
			t.Errorf("FinishLogin(%s): %v, want ErrPasskey", answer, err)
		}
	}
}
