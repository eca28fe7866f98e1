package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/go-jose/go-jose/v4"
)

// signJWS signs payload with k the way op does: go-jose, kid in the header.
func signJWS(t testing.TB, k *SigningKey, payload []byte) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: k.Algorithm(),
		Key:       &jose.JSONWebKey{Key: k.Key(), KeyID: k.ID()},
	}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatalf("CompactSerialize: %v", err)
	}
	return s
}

// verifyWithJWKS verifies token with the key its kid names in the JWKS body.
func verifyWithJWKS(t *testing.T, body []byte, token string) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("parse JWKS: %v", err)
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("ParseSigned: %v", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	found := set.Key(kid)
	if len(found) != 1 {
		t.Fatalf("got %d JWKS keys with kid %q, want 1", len(found), kid)
	}
	if !found[0].IsPublic() {
		t.Fatalf("got a private JWKS key, want public")
	}
	payload, err := jws.Verify(found[0])
	if err != nil {
		t.Fatalf("verify with JWKS key %q: %v", kid, err)
	}
	return payload
}

func countByAlg(keys []storage.SigningKey) map[string]int {
	n := make(map[string]int)
	for _, k := range keys {
		n[k.Algorithm]++
	}
	return n
}

func TestEnsureCreatesOneKeyPerAlgorithm(t *testing.T) {
	ctx := context.Background()
	store, kek, clock := newMemStore(), newKEK(t), newFakeClock()
	m := ensured(t, store, kek, clock)
	// Ensure again, on this and on another Manager: nothing new.
	if err := m.Ensure(ctx); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	ensured(t, store, kek, clock)

	rows := store.all()
	if got, want := countByAlg(rows), map[string]int{RS256: 1, ES256: 1, EdDSA: 1}; len(rows) != 3 || got[RS256] != 1 || got[ES256] != 1 || got[EdDSA] != 1 {
		t.Fatalf("got keys by algorithm %v, want %v", got, want)
	}
	now := clock.Now()
	sealer := newSealer(t, kek)
	for _, k := range rows {
		t.Run(k.Algorithm, func(t *testing.T) {
			if !k.PublishAt.Equal(now) || !k.ActivateAt.Equal(now) || !k.CreatedAt.Equal(now) {
				t.Errorf("got created %v, publish %v, activate %v; want all %v", k.CreatedAt, k.PublishAt, k.ActivateAt, now)
			}
			if !k.RetireAt.IsZero() || !k.DeleteAt.IsZero() {
				t.Errorf("got retire %v, delete %v; want both zero", k.RetireAt, k.DeleteAt)
			}
			if got := State(k, now); got != Active {
				t.Errorf("got state %v, want active", got)
			}
			raw, err := base64.RawURLEncoding.DecodeString(k.ID)
			if err != nil || len(raw) != 16 {
				t.Errorf("got kid %q, want 16 bytes of base64url", k.ID)
			}
			if k.KEKID != sealer.KEKID() {
				t.Errorf("got KEK id %q, want %q", k.KEKID, sealer.KEKID())
			}
			der, err := sealer.Open(k.PrivateSealed, []byte(k.ID))
			if err != nil {
				t.Fatalf("open stored key with its kid: %v", err)
			}
			if bytes.Contains(k.PrivateSealed, der[:32]) {
				t.Errorf("stored key contains its DER in clear")
			}
			priv, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				t.Fatalf("got a stored key that is not PKCS#8: %v", err)
			}
			var jwk jose.JSONWebKey
			if err := jwk.UnmarshalJSON(k.PublicJWK); err != nil {
				t.Fatalf("parse PublicJWK: %v", err)
			}
			if !jwk.IsPublic() || jwk.KeyID != k.ID || jwk.Algorithm != k.Algorithm || jwk.Use != "sig" {
				t.Errorf("got PublicJWK public=%v kid=%q alg=%q use=%q, want public, %q, %q, sig",
					jwk.IsPublic(), jwk.KeyID, jwk.Algorithm, jwk.Use, k.ID, k.Algorithm)
			}
			pub := priv.(crypto.Signer).Public()
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(jwk.Key) {
				t.Errorf("got a PublicJWK that does not match the private key")
			}
		})
	}
	if got, want := m.Algorithms(), []string{RS256, ES256, EdDSA}; !slices.Equal(got, want) {
		t.Errorf("got algorithms %v, want %v", got, want)
	}
}

func TestSignVerify(t *testing.T) {
	m := ensured(t, newMemStore(), newKEK(t), nil)
	body, _ := m.JWKS()
	for _, alg := range KeptAlgorithms() {
		t.Run(alg, func(t *testing.T) {
			k, err := m.Signer(alg)
			if err != nil {
				t.Fatalf("Signer: %v", err)
			}
			if got := string(k.Algorithm()); got != alg {
				t.Errorf("got algorithm %q, want %q", got, alg)
			}
			if k.SignatureAlgorithm() != k.Algorithm() {
				t.Errorf("got SignatureAlgorithm %q, want %q", k.SignatureAlgorithm(), k.Algorithm())
			}
			payload := []byte(`{"sub":"alice"}`)
			if got := verifyWithJWKS(t, body, signJWS(t, k, payload)); !bytes.Equal(got, payload) {
				t.Errorf("got payload %s, want %s", got, payload)
			}
			// The same key through PublicKeys.
			var pub *jose.JSONWebKey
			for _, p := range m.PublicKeys() {
				if p.KeyID == k.ID() {
					pub = &p
				}
			}
			if pub == nil {
				t.Fatalf("got no PublicKeys entry for kid %q, want one", k.ID())
			}
			jws, err := jose.ParseSigned(signJWS(t, k, payload), []jose.SignatureAlgorithm{k.Algorithm()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jws.Verify(pub); err != nil {
				t.Errorf("verify with PublicKeys entry: %v", err)
			}
		})
	}
}

func TestRestartKeepsKeys(t *testing.T) {
	store, kek := newMemStore(), newKEK(t)
	before := ensured(t, store, kek, nil)
	type signed struct{ kid, token string }
	var tokens []signed
	for _, alg := range KeptAlgorithms() {
		k, err := before.Signer(alg)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, signed{k.ID(), signJWS(t, k, []byte("before restart"))})
	}

	after := ensured(t, store, slices.Clone(kek), nil) // new Manager and Sealer, same KEK
	if n := len(store.all()); n != 3 {
		t.Errorf("got %d stored keys after restart, want 3", n)
	}
	body, _ := after.JWKS()
	for i, alg := range KeptAlgorithms() {
		k, err := after.Signer(alg)
		if err != nil {
			t.Fatal(err)
		}
		if k.ID() != tokens[i].kid {
			t.Errorf("%s: got kid %q after restart, want %q", alg, k.ID(), tokens[i].kid)
		}
		if got := verifyWithJWKS(t, body, tokens[i].token); string(got) != "before restart" {
			t.Errorf("%s: got payload %q, want %q", alg, got, "before restart")
		}
	}
}

func TestEnsureRefusesKeysItCannotOpen(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		kek     func(orig []byte) []byte
		tamper  func(t *testing.T, s *memStore, rsa, ec storage.SigningKey)
		wantErr string
	}{
		{
			name:    "wrong KEK",
			kek:     func([]byte) []byte { return newKEK(t) },
			wantErr: "wrong KEK",
		},
		{
			name: "KEK id altered",
			tamper: func(t *testing.T, s *memStore, rsa, _ storage.SigningKey) {
				s.update(t, rsa.ID, func(k *storage.SigningKey) { k.KEKID = "0011223344556677" })
			},
			wantErr: "wrong KEK",
		},
		{
			name: "sealed key altered",
			tamper: func(t *testing.T, s *memStore, rsa, _ storage.SigningKey) {
				s.update(t, rsa.ID, func(k *storage.SigningKey) { k.PrivateSealed[20] ^= 1 })
			},
			wantErr: "authentication failed",
		},
		{
			name: "sealed keys swapped between rows",
			tamper: func(t *testing.T, s *memStore, rsa, ec storage.SigningKey) {
				s.update(t, rsa.ID, func(k *storage.SigningKey) { k.PrivateSealed = ec.PrivateSealed })
				s.update(t, ec.ID, func(k *storage.SigningKey) { k.PrivateSealed = rsa.PrivateSealed })
			},
			wantErr: "authentication failed",
		},
		{
			name: "public JWK of another key",
			tamper: func(t *testing.T, s *memStore, rsa, ec storage.SigningKey) {
				s.update(t, rsa.ID, func(k *storage.SigningKey) { k.PublicJWK = ec.PublicJWK })
			},
			wantErr: "public JWK has kid",
		},
		{
			name: "public JWK of another RSA key with the right kid",
			tamper: func(t *testing.T, s *memStore, rsa, _ storage.SigningKey) {
				other, err := NewManager(s, newSealer(t, newKEK(t)), Options{}).generate(RS256, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				jwk, _ := jose.JSONWebKey{Key: mustJWK(t, other.PublicJWK).Key, KeyID: rsa.ID, Algorithm: RS256, Use: "sig"}.MarshalJSON()
				s.update(t, rsa.ID, func(k *storage.SigningKey) { k.PublicJWK = jwk })
			},
			wantErr: "does not match",
		},
		{
			name: "unknown algorithm",
			tamper: func(t *testing.T, s *memStore, rsa, _ storage.SigningKey) {
				s.update(t, rsa.ID, func(k *storage.SigningKey) { k.Algorithm = "HS256" })
			},
			wantErr: "unsupported algorithm",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, kek := newMemStore(), newKEK(t)
			first := ensured(t, store, kek, nil)
			var rsa, ec storage.SigningKey
			for _, k := range store.all() {
				switch k.Algorithm {
				case RS256:
					rsa = k
				case ES256:
					ec = k
				}
			}
			if tt.tamper != nil {
				tt.tamper(t, store, rsa, ec)
			}
			kek2 := kek
			if tt.kek != nil {
				kek2 = tt.kek(kek)
			}

			m := newTestManager(t, store, kek2, nil)
			err := m.Ensure(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Ensure: got error %v, want one containing %q", err, tt.wantErr)
			}
			if n := len(store.all()); n != 3 {
				t.Errorf("got %d stored keys, want 3: Ensure must not replace keys it cannot open", n)
			}
			if _, err := m.Signer(RS256); err == nil {
				t.Errorf("Signer after failed Ensure: got no error, want one")
			}
			if err := m.Reload(ctx); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Reload: got error %v, want one containing %q", err, tt.wantErr)
			}

			// A Manager that loaded before the damage keeps its cache.
			if err := first.Reload(ctx); err == nil && tt.kek == nil {
				t.Errorf("Reload of the first Manager: got no error, want one")
			}
			if k, err := first.Signer(RS256); err != nil || k.ID() != rsa.ID {
				t.Errorf("first Manager after failed Reload: got %v, %v; want kid %q", k, err, rsa.ID)
			}
		})
	}
}

func mustJWK(t *testing.T, b []byte) jose.JSONWebKey {
	t.Helper()
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestState(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	scheduled := storage.SigningKey{PublishAt: h(0), ActivateAt: h(1), RetireAt: h(2), DeleteAt: h(3)}
	tests := []struct {
		name          string
		key           storage.SigningKey
		at            time.Time
		want          KeyState
		wantPublished bool
	}{
		{"before publish", scheduled, h(-1), Pending, false},
		{"published, not active", scheduled, h(0), Pending, true},
		{"at activation", scheduled, h(1), Active, true},
		{"just before retirement", scheduled, h(2).Add(-time.Nanosecond), Active, true},
		{"at retirement", scheduled, h(2), Retired, true},
		{"at deletion", scheduled, h(3), Deleted, false},
		{"long after", scheduled, h(100), Deleted, false},
		{"first-start key", storage.SigningKey{PublishAt: t0, ActivateAt: t0}, t0, Active, true},
		{"never retires", storage.SigningKey{PublishAt: t0, ActivateAt: t0}, h(100000), Active, true},
		{"retired, delete not scheduled", storage.SigningKey{ActivateAt: t0, RetireAt: h(1)}, h(100000), Retired, true},
		{"active before published", storage.SigningKey{PublishAt: h(1), ActivateAt: t0}, t0, Active, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := State(tt.key, tt.at); got != tt.want {
				t.Errorf("got state %v, want %v", got, tt.want)
			}
			if got := Published(tt.key, tt.at); got != tt.wantPublished {
				t.Errorf("got published %v, want %v", got, tt.wantPublished)
			}
		})
	}
	if got := KeyState(0).String(); got != "KeyState(0)" {
		t.Errorf("got %q for the zero state, want KeyState(0)", got)
	}
}

func kidsOf(t *testing.T, body []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("parse JWKS: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	return kids
}

// TestLifecycleFollowsClock checks that a loaded Manager switches signer and
// JWKS at the scheduled instants without a Reload, and that keys retired at
// load are published but never opened.
func TestLifecycleFollowsClock(t *testing.T) {
	ctx := context.Background()
	store, kek, clock := newMemStore(), newKEK(t), newFakeClock()
	t0 := clock.Now()
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	m := ensured(t, store, kek, clock)
	k1, _ := m.Signer(RS256)
	e1, _ := m.Signer(ES256)
	d1, _ := m.Signer(EdDSA)

	// Schedule a rotation: k2 published at +1h, signing at +2h; k1 retires at
	// +2h and leaves the JWKS at +5h.
	k2row, err := m.generate(RS256, t0)
	if err != nil {
		t.Fatal(err)
	}
	k2row.PublishAt, k2row.ActivateAt = h(1), h(2)
	if err := store.CreateSigningKey(ctx, k2row); err != nil {
		t.Fatal(err)
	}
	store.update(t, k1.ID(), func(k *storage.SigningKey) { k.RetireAt, k.DeleteAt = h(2), h(5) })
	if err := m.Reload(ctx); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	reads, _ := store.reads()

	k2 := k2row.ID
	tests := []struct {
		at         time.Time
		wantSigner string
		wantJWKS   []string
	}{
		{h(-1), "", nil},
		{h(0), k1.ID(), []string{k1.ID(), e1.ID(), d1.ID()}},
		{h(1), k1.ID(), []string{k1.ID(), e1.ID(), d1.ID(), k2}},
		{h(2), k2, []string{k1.ID(), e1.ID(), d1.ID(), k2}},
		{h(5).Add(-time.Nanosecond), k2, []string{k1.ID(), e1.ID(), d1.ID(), k2}},
		{h(5), k2, []string{e1.ID(), d1.ID(), k2}},
		{h(0), k1.ID(), []string{k1.ID(), e1.ID(), d1.ID()}}, // the clock may go back
	}
	etags := make(map[string]string)
	for _, tt := range tests {
		clock.Set(tt.at)
		name := tt.at.Sub(t0).String()
		k, err := m.Signer(RS256)
		switch {
		case tt.wantSigner == "" && err == nil:
			t.Errorf("at %s: got signer %q, want none", name, k.ID())
		case tt.wantSigner != "" && (err != nil || k.ID() != tt.wantSigner):
			t.Errorf("at %s: got signer %v (%v), want %q", name, k, err, tt.wantSigner)
		}
		body, etag := m.JWKS()
		want := slices.Clone(tt.wantJWKS)
		slices.Sort(want)
		if got := kidsOf(t, body); !slices.Equal(got, want) {
			t.Errorf("at %s: got JWKS kids %v, want %v", name, got, want)
		}
		if got := len(m.PublicKeys()); got != len(want) {
			t.Errorf("at %s: got %d PublicKeys, want %d", name, got, len(want))
		}
		key := strings.Join(want, ",")
		if prev, ok := etags[key]; ok && prev != etag {
			t.Errorf("at %s: got ETag %s for a JWKS served before as %s, want the same", name, etag, prev)
		}
		etags[key] = etag
	}
	if len(etags) != 4 {
		t.Errorf("got %d distinct ETags, want 4", len(etags))
	}
	if got, _ := store.reads(); got != reads {
		t.Errorf("got %d store reads while the clock moved, want none", got-reads)
	}

	// At +3h k1 is retired: a new Manager publishes it without opening it,
	// so damage to its sealed part does not matter any more.
	store.update(t, k1.ID(), func(k *storage.SigningKey) { k.PrivateSealed[0] ^= 1 })
	clock.Set(h(1))
	if err := newTestManager(t, store, kek, clock).Ensure(ctx); err == nil {
		t.Errorf("Ensure at +1h with k1 damaged: got no error, want one (k1 still signs)")
	}
	clock.Set(h(3))
	late := ensured(t, store, kek, clock)
	body, _ := late.JWKS()
	if got, want := kidsOf(t, body), []string{k1.ID(), e1.ID(), d1.ID(), k2}; len(got) != 4 {
		t.Errorf("at +3h: got JWKS kids %v, want %v", got, want)
	}
	if k, err := late.Signer(RS256); err != nil || k.ID() != k2 {
		t.Errorf("at +3h: got signer %v (%v), want %q", k, err, k2)
	}
	if n := len(store.all()); n != 4 {
		t.Errorf("got %d stored keys, want 4 (no new key while k2 is usable)", n)
	}
}

func TestEnsureReplacesRetiredKey(t *testing.T) {
	store, kek, clock := newMemStore(), newKEK(t), newFakeClock()
	m := ensured(t, store, kek, clock)
	old, _ := m.Signer(RS256)
	store.update(t, old.ID(), func(k *storage.SigningKey) { k.RetireAt = clock.Now().Add(time.Hour) })
	clock.Set(clock.Now().Add(2 * time.Hour))
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	k, err := m.Signer(RS256)
	if err != nil || k.ID() == old.ID() {
		t.Fatalf("got signer %v (%v), want a new RS256 key", k, err)
	}
	if got := countByAlg(store.all()); got[RS256] != 2 || got[ES256] != 1 || got[EdDSA] != 1 {
		t.Errorf("got keys by algorithm %v, want RS256:2 ES256:1 EdDSA:1", got)
	}
	body, _ := m.JWKS()
	if got := kidsOf(t, body); len(got) != 4 {
		t.Errorf("got JWKS kids %v, want 4 (the retired key stays published)", got)
	}
}

func TestSignerErrors(t *testing.T) {
	unloaded := newTestManager(t, newMemStore(), newKEK(t), nil)
	if _, err := unloaded.Signer(RS256); err == nil || !strings.Contains(err.Error(), "not loaded") {
		t.Errorf("before Ensure: got error %v, want one saying keys are not loaded", err)
	}
	if got := unloaded.Algorithms(); len(got) != 0 {
		t.Errorf("before Ensure: got algorithms %v, want none", got)
	}
	if body, etag := unloaded.JWKS(); body != nil || etag != "" {
		t.Errorf("before Ensure: got JWKS %q %q, want nil and empty", body, etag)
	}
	if err := NewManager(nil, nil, Options{}).Ensure(context.Background()); err == nil {
		t.Errorf("Ensure without store and sealer: got no error, want one")
	}

	m := ensured(t, newMemStore(), newKEK(t), nil)
	for _, alg := range []string{"HS256", "none", "", "Ed25519", "eddsa", "rs256", "ES384"} {
		if k, err := m.Signer(alg); err == nil {
			t.Errorf("Signer(%q): got key %q, want an error", alg, k.ID())
		}
	}
}

// TestEdDSAKey checks the Ed25519 key Ensure creates: published as an OKP
// JWK with nothing but its public member x, and a JWS it signs verifies
// against the JWKS with go-jose. A second EdDSA key found in the store
// (a rotation's successor) takes over once it is active.
func TestEdDSAKey(t *testing.T) {
	ctx := context.Background()
	store, kek := newMemStore(), newKEK(t)
	m := ensured(t, store, kek, nil)
	k, err := m.Signer(EdDSA)
	if err != nil {
		t.Fatalf("Signer(EdDSA) after Ensure: %v", err)
	}
	if _, ok := k.Key().(ed25519.PrivateKey); !ok {
		t.Errorf("got an EdDSA key of type %T, want ed25519.PrivateKey", k.Key())
	}
	body, _ := m.JWKS()
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	var okp map[string]any
	for _, jwk := range raw.Keys {
		if jwk["kid"] == k.ID() {
			okp = jwk
		}
	}
	if okp == nil {
		t.Fatalf("got no JWKS entry for the EdDSA kid %q", k.ID())
	}
	members := slices.Sorted(maps.Keys(okp))
	if want := []string{"alg", "crv", "kid", "kty", "use", "x"}; !slices.Equal(members, want) {
		t.Errorf("got EdDSA JWK members %q, want %q", members, want)
	}
	if okp["kty"] != "OKP" || okp["crv"] != "Ed25519" || okp["alg"] != EdDSA || okp["use"] != "sig" {
		t.Errorf("got EdDSA JWK %v, want kty OKP, crv Ed25519, alg EdDSA, use sig", okp)
	}
	x, _ := okp["x"].(string)
	if pub, err := base64.RawURLEncoding.DecodeString(x); err != nil || len(pub) != ed25519.PublicKeySize {
		t.Errorf("got x %q, want %d bytes of base64url", x, ed25519.PublicKeySize)
	}
	token := signJWS(t, k, []byte("ed"))
	if !strings.HasPrefix(token, base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA"`))) {
		t.Errorf("got JWS header %q, want alg EdDSA", strings.SplitN(token, ".", 2)[0])
	}
	if got := verifyWithJWKS(t, body, token); string(got) != "ed" {
		t.Errorf("got payload %q, want %q", got, "ed")
	}

	row, err := m.generate(EdDSA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateSigningKey(ctx, row); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got, want := m.Algorithms(), []string{RS256, ES256, EdDSA}; !slices.Equal(got, want) {
		t.Errorf("got algorithms %v, want %v", got, want)
	}
	k2, err := m.Signer(EdDSA)
	if err != nil || k2.ID() != row.ID {
		t.Fatalf("Signer(EdDSA) after Reload: got %v, %v; want the new key %s", k2, err, row.ID)
	}
	body, _ = m.JWKS()
	checkJWKSShape(t, body, 4)
	if got := verifyWithJWKS(t, body, signJWS(t, k2, []byte("ed2"))); string(got) != "ed2" {
		t.Errorf("got payload %q, want %q", got, "ed2")
	}
}

func TestNoStoreAccessAfterLoad(t *testing.T) {
	store := newMemStore()
	m := ensured(t, store, newKEK(t), nil)
	ctx := context.Background()
	if _, err := m.Secret(ctx, "codes"); err != nil {
		t.Fatal(err)
	}
	keyReads, secretReads := store.reads()
	for range 100 {
		for _, alg := range KeptAlgorithms() {
			if _, err := m.Signer(alg); err != nil {
				t.Fatal(err)
			}
		}
		m.JWKS()
		m.PublicKeys()
		m.Algorithms()
		if _, err := m.Secret(ctx, "codes"); err != nil {
			t.Fatal(err)
		}
	}
	if k, s := store.reads(); k != keyReads || s != secretReads {
		t.Errorf("got %d key and %d secret reads after load, want 0 and 0", k-keyReads, s-secretReads)
	}
}

// TestConcurrentFirstStart starts two Managers on one empty store at once.
// Both may create keys; after a Reload they agree on the signer and publish
// the same JWKS.
func TestConcurrentFirstStart(t *testing.T) {
	store, kek, clock := newMemStore(), newKEK(t), newFakeClock()
	ms := []*Manager{newTestManager(t, store, kek, clock), newTestManager(t, store, kek, clock)}
	var wg sync.WaitGroup
	errs := make([]error, len(ms))
	for i, m := range ms {
		wg.Go(func() { errs[i] = m.Ensure(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Ensure %d: %v", i, err)
		}
	}
	for _, m := range ms {
		if err := m.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, alg := range KeptAlgorithms() {
		a, _ := ms[0].Signer(alg)
		b, _ := ms[1].Signer(alg)
		if a.ID() != b.ID() {
			t.Errorf("%s: got signers %q and %q, want the same", alg, a.ID(), b.ID())
		}
	}
	_, e0 := ms[0].JWKS()
	_, e1 := ms[1].JWKS()
	if e0 != e1 {
		t.Errorf("got ETags %s and %s, want the same", e0, e1)
	}
}

// TestActiveKeyAges follows the ages of the signing keys through a
// rotation of the RS256 key.
func TestActiveKeyAges(t *testing.T) {
	ctx := context.Background()
	store, kek, clock := newMemStore(), newKEK(t), newFakeClock()
	t0 := clock.Now()
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	if got := newTestManager(t, store, kek, clock).ActiveKeyAges(); len(got) != 0 {
		t.Errorf("before the first load: got %v, want none", got)
	}
	m := ensured(t, store, kek, clock)
	k1, _ := m.Signer(RS256)
	// k2 is created at +1h and signs from +2h; k1 retires then.
	k2, err := m.generate(RS256, h(1))
	if err != nil {
		t.Fatal(err)
	}
	k2.PublishAt, k2.ActivateAt = h(1), h(2)
	if err := store.CreateSigningKey(ctx, k2); err != nil {
		t.Fatal(err)
	}
	store.update(t, k1.ID(), func(k *storage.SigningKey) { k.RetireAt, k.DeleteAt = h(2), h(5) })
	if err := m.Reload(ctx); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	for _, tt := range []struct {
		at   time.Time
		want map[string]time.Duration
	}{
		{h(0), map[string]time.Duration{RS256: 0, ES256: 0, EdDSA: 0}},
		{h(1).Add(30 * time.Minute), map[string]time.Duration{RS256: 90 * time.Minute, ES256: 90 * time.Minute, EdDSA: 90 * time.Minute}},
		{h(3), map[string]time.Duration{RS256: 2 * time.Hour, ES256: 3 * time.Hour, EdDSA: 3 * time.Hour}},
	} {
		clock.Set(tt.at)
		if got := m.ActiveKeyAges(); !maps.Equal(got, tt.want) {
			t.Errorf("at %s: got ages %v, want %v", tt.at.Sub(t0), got, tt.want)
		}
	}
}
