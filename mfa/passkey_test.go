package mfa

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/mfa/mfatest"
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

// registered adds a passkey of a new test authenticator for u and returns
// both, with u's records updated.
func registered(t *testing.T, p *Passkeys, u *PasskeyUser, origin string) (*mfatest.Authenticator, *NewPasskey) {
	t.Helper()
	a, err := mfatest.NewAuthenticator(origin)
	if err != nil {
		t.Fatal(err)
	}
	options, state, err := p.BeginRegistration(*u)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := a.Create(options)
	if err != nil {
		t.Fatal(err)
	}
	created, err := p.FinishRegistration(*u, state, answer)
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	u.Records = append(u.Records, created.Record)
	return a, created
}

// TestPasskeyCeremonies runs registration and both kinds of sign-in with
// a software authenticator built from the WebAuthn specification, then
// each forged answer: another origin, another relying party, tampered
// client data, another ceremony's challenge, another user's credential, no
// user verification where it is required, a counter that went backwards.
func TestPasskeyCeremonies(t *testing.T) {
	const origin = "https://login.example.com"
	p, err := NewPasskeys(origin, "Gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	alice := &PasskeyUser{ID: "user-alice", Name: "alice"}
	bob := &PasskeyUser{ID: "user-bob", Name: "bob"}
	a, created := registered(t, p, alice, origin)
	if !bytes.Equal(created.ID, a.ID) {
		t.Fatalf("credential id %x, want %x", created.ID, a.ID)
	}
	bobKey, _ := registered(t, p, bob, origin)
	lookup := func(id string) (*PasskeyUser, error) {
		switch id {
		case alice.ID:
			return alice, nil
		case bob.ID:
			return bob, nil
		}
		return nil, errors.New("no such user")
	}
	// login answers options from BeginLogin(u) with authenticator k and
	// checks the answer for u (nil: without a password).
	login := func(u *PasskeyUser, k *mfatest.Authenticator, forge func(options, answer []byte) ([]byte, []byte)) (*Assertion, error) {
		t.Helper()
		options, state, err := p.BeginLogin(u)
		if err != nil {
			t.Fatal(err)
		}
		answer, err := k.Get(options)
		if err != nil {
			t.Fatal(err)
		}
		if forge != nil {
			if o, ans := forge(options, answer); o != nil {
				if answer, err = k.Get(o); err != nil {
					t.Fatal(err)
				}
			} else {
				answer = ans
			}
		}
		return p.FinishLogin(u, lookup, state, answer)
	}

	got, err := login(nil, a, nil)
	if err != nil || got.UserID != alice.ID || !bytes.Equal(got.ID, a.ID) || got.SignCount != a.Counter || !got.UserVerified || got.Method != AMRHardwareKey {
		t.Fatalf("sign-in without a password: %+v, %v; want alice's key, verified, counter %d, hwk", got, err, a.Counter)
	}
	alice.Records[0] = got.Record
	if got, err = login(alice, a, nil); err != nil || got.UserID != alice.ID {
		t.Fatalf("second step: %+v, %v", got, err)
	}
	alice.Records[0] = got.Record

	refused := []struct {
		name  string
		u     *PasskeyUser
		k     *mfatest.Authenticator
		forge func(options, answer []byte) ([]byte, []byte)
	}{
		{"another origin", alice, a, func(o, _ []byte) ([]byte, []byte) {
			a.Origin = "https://login.example.com.evil.example"
			defer func() { a.Origin = origin }()
			answer, _ := a.Get(o)
			return nil, answer
		}},
		{"another relying party", alice, a, func(o, _ []byte) ([]byte, []byte) {
			return bytes.Replace(o, []byte(`"rpId":"login.example.com"`), []byte(`"rpId":"example.com"`), 1), nil
		}},
		{"tampered client data", alice, a, func(_, answer []byte) ([]byte, []byte) {
			var m map[string]any
			json.Unmarshal(answer, &m)
			resp := m["response"].(map[string]any)
			cd, _ := base64.RawURLEncoding.DecodeString(resp["clientDataJSON"].(string))
			cd = bytes.Replace(cd, []byte(`"crossOrigin":false`), []byte(`"crossOrigin":false,"x":1`), 1)
			resp["clientDataJSON"] = base64.RawURLEncoding.EncodeToString(cd)
			out, _ := json.Marshal(m)
			return nil, out
		}},
		{"another ceremony's challenge", alice, a, func(_, _ []byte) ([]byte, []byte) {
			other, _, _ := p.BeginLogin(alice)
			return other, nil
		}},
		{"another user's credential", alice, bobKey, nil},
	}
	for _, tt := range refused {
		if got, err := login(tt.u, tt.k, tt.forge); !errors.Is(err, ErrPasskey) {
			t.Errorf("%s: %+v, %v; want ErrPasskey", tt.name, got, err)
		}
	}
	a.UserVerified = false
	if _, err := login(nil, a, nil); !errors.Is(err, ErrPasskey) {
		t.Errorf("no user verification without a password: %v, want ErrPasskey", err)
	}
	a.UserVerified = true
	a.Counter = 1 // a clone that saw fewer uses
	if _, err := login(alice, a, nil); !errors.Is(err, ErrCounterRegression) {
		t.Errorf("counter set back: %v, want ErrCounterRegression", err)
	}
}

func TestSyncedPasskeyIsSoftwareKey(t *testing.T) {
	const origin = "https://login.example.com"
	p, err := NewPasskeys(origin, "Gatehouse")
	if err != nil {
		t.Fatal(err)
	}
	u := &PasskeyUser{ID: "user-1", Name: "alice"}
	a, err := mfatest.NewAuthenticator(origin)
	if err != nil {
		t.Fatal(err)
	}
	a.BackupEligible = true
	options, state, _ := p.BeginRegistration(*u)
	answer, _ := a.Create(options)
	created, err := p.FinishRegistration(*u, state, answer)
	if err != nil {
		t.Fatal(err)
	}
	u.Records = [][]byte{created.Record}
	options, state, _ = p.BeginLogin(u)
	answer, _ = a.Get(options)
	got, err := p.FinishLogin(u, nil, state, answer)
	if err != nil || got.Method != AMRSoftwareKey {
		t.Errorf("a backup-eligible passkey: %+v, %v; want amr swk", got, err)
	}
}
