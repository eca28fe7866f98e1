package dpop_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/dpop"
)

// The proofs below are written from RFC 9449 §4.2: a JWS whose protected
// header has typ dpop+jwt, an asymmetric alg and the public key as jwk,
// with jti, htm, htu, iat (and ath, nonce) as claims.

var now = time.Unix(1_800_000_000, 0)

const tokenURL = "https://id.example/oauth/token"

func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, header map[jose.HeaderKey]any, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType(dpop.Type)
	for k, v := range header {
		opts = opts.WithHeader(k, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func baseClaims() map[string]any {
	return map[string]any{"jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": tokenURL, "iat": now.Unix()}
}

func with(c map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func ecKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestCheckAccepts(t *testing.T) {
	ec := ecKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		alg jose.SignatureAlgorithm
		key any
		pub any
	}{
		{jose.ES256, ec, &ec.PublicKey},
		{jose.RS256, rsaKey, &rsaKey.PublicKey},
		{jose.PS256, rsaKey, &rsaKey.PublicKey},
		{jose.EdDSA, ed, ed.Public()},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			proof := sign(t, tc.alg, tc.key, nil, with(baseClaims(), "htu", tokenURL+"?x=1#frag"))
			p, err := dpop.Check(proof, dpop.Request{Method: "POST", URL: tokenURL, Now: now})
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			want, err := (&jose.JSONWebKey{Key: tc.pub}).Thumbprint(0x5) // crypto.SHA256
			if err != nil {
				t.Fatal(err)
			}
			if p.JKT != b64(want) || p.JTI != "e1j3V_bKic8-LAEB" || !p.IssuedAt.Equal(now) || !p.Expires.Equal(now.Add(dpop.Window)) {
				t.Errorf("got %+v, want jkt %s, the jti, iat %v, expiry iat+%v", p, b64(want), now, dpop.Window)
			}
		})
	}
}

func TestThumbprintRFC7638Example(t *testing.T) {
	// RFC 7638 §3.1's example key and its thumbprint.
	const example = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON([]byte(example)); err != nil {
		t.Fatal(err)
	}
	got, err := dpop.Thumbprint(&k)
	if err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("Thumbprint = %q, %v; want RFC 7638's NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", got, err)
	}
}

func TestATH(t *testing.T) {
	// RFC 9449 §7.1's example token and its ath.
	const token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	if got := dpop.ATH(token); got != "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" {
		t.Fatalf("ATH = %s, want RFC 9449's fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo", got)
	}
}

// unsigned builds a compact JWS by hand: how an attacker would send alg
// none, or a header go-jose would never write.
func unsigned(t *testing.T, header, claims map[string]any, sig []byte) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return b64(h) + "." + b64(c) + "." + b64(sig)
}

func TestCheckRefuses(t *testing.T) {
	ec := ecKey(t)
	shortRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pubJWK := jose.JSONWebKey{Key: &ec.PublicKey}
	privJWK := jose.JSONWebKey{Key: ec}
	secret := []byte("0123456789abcdef0123456789abcdef")
	token := "an-access-token"
	good := baseClaims()
	for _, tc := range []struct {
		name  string
		proof string
		req   dpop.Request
	}{
		{"empty", "", dpop.Request{}},
		{"not a JWS", "garbage", dpop.Request{}},
		{"alg none", unsigned(t, map[string]any{"typ": dpop.Type, "alg": "none", "jwk": pubJWK}, good, nil), dpop.Request{}},
		{"HS256 with an oct jwk", sign(t, jose.HS256, secret, map[jose.HeaderKey]any{"jwk": map[string]string{"kty": "oct", "k": b64(secret)}}, good), dpop.Request{}},
		{"a private key in jwk", sign(t, jose.ES256, ec, map[jose.HeaderKey]any{"jwk": &privJWK}, good), dpop.Request{}},
		{"typ JWT", sign(t, jose.ES256, ec, map[jose.HeaderKey]any{"typ": "JWT"}, good), dpop.Request{}},
		{"no jwk", unsignedES256(t, ec, map[string]any{"typ": dpop.Type, "alg": "ES256"}, good), dpop.Request{}},
		{"signed by another key than its jwk", unsignedES256(t, ecKey(t), map[string]any{"typ": dpop.Type, "alg": "ES256", "jwk": pubJWK}, good), dpop.Request{}},
		{"no jti", sign(t, jose.ES256, ec, nil, with(good, "jti", nil)), dpop.Request{}},
		{"another method", sign(t, jose.ES256, ec, nil, with(good, "htm", "GET")), dpop.Request{}},
		{"method in lower case", sign(t, jose.ES256, ec, nil, with(good, "htm", "post")), dpop.Request{}},
		{"another path", sign(t, jose.ES256, ec, nil, with(good, "htu", "https://id.example/userinfo")), dpop.Request{}},
		{"another host", sign(t, jose.ES256, ec, nil, with(good, "htu", "https://evil.example/oauth/token")), dpop.Request{}},
		{"http instead of https", sign(t, jose.ES256, ec, nil, with(good, "htu", "http://id.example/oauth/token")), dpop.Request{}},
		{"a relative htu", sign(t, jose.ES256, ec, nil, with(good, "htu", "/oauth/token")), dpop.Request{}},
		{"no iat", sign(t, jose.ES256, ec, nil, with(good, "iat", nil)), dpop.Request{}},
		{"iat too old", sign(t, jose.ES256, ec, nil, with(good, "iat", now.Add(-dpop.Window-time.Second).Unix())), dpop.Request{}},
		{"iat in the future", sign(t, jose.ES256, ec, nil, with(good, "iat", now.Add(dpop.Window+time.Second).Unix())), dpop.Request{}},
		{"iat a string", sign(t, jose.ES256, ec, nil, with(good, "iat", "1800000000")), dpop.Request{}},
		{"no ath with a token", sign(t, jose.ES256, ec, nil, good), dpop.Request{AccessToken: token}},
		{"ath of another token", sign(t, jose.ES256, ec, nil, with(good, "ath", dpop.ATH("other"))), dpop.Request{AccessToken: token}},
		{"nonce a number", sign(t, jose.ES256, ec, nil, with(good, "nonce", 5)), dpop.Request{}},
		{"an RSA key of 1024 bits", sign(t, jose.RS256, shortRSA, nil, good), dpop.Request{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			req.Method, req.URL, req.Now = "POST", tokenURL, now
			p, err := dpop.Check(tc.proof, req)
			var de *dpop.Error
			if !errors.As(err, &de) || de.Description == "" {
				t.Fatalf("Check(%s) = %+v, %v; want a *dpop.Error", tc.name, p, err)
			}
		})
	}
}

// unsignedES256 signs header and claims with key with no check of the
// header (another key than jwk names, no jwk).
func unsignedES256(t *testing.T, key *ecdsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig)
}

func TestCheckNonceAndATH(t *testing.T) {
	ec := ecKey(t)
	proof := sign(t, jose.ES256, ec, nil, with(with(baseClaims(), "nonce", "n-1"), "ath", dpop.ATH("tok")))
	p, err := dpop.Check(proof, dpop.Request{Method: "POST", URL: tokenURL, Now: now, AccessToken: "tok"})
	if err != nil || p.Nonce != "n-1" {
		t.Fatalf("Check = %+v, %v; want nonce n-1", p, err)
	}
}

func TestFromHeader(t *testing.T) {
	if _, err := dpop.FromHeader(nil); !errors.Is(err, dpop.ErrNoProof) {
		t.Errorf("no header: got %v, want ErrNoProof", err)
	}
	var de *dpop.Error
	if _, err := dpop.FromHeader([]string{"a", "b"}); !errors.As(err, &de) {
		t.Errorf("two headers: got %v, want *dpop.Error", err)
	}
	if v, err := dpop.FromHeader([]string{"a"}); v != "a" || err != nil {
		t.Errorf("one header: got %q, %v", v, err)
	}
}

func TestNonces(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	n, err := dpop.NewNonces(secret, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := dpop.NewNonces([]byte(strings.Repeat("o", 32)), time.Minute)
	same, _ := dpop.NewNonces(secret, time.Minute) // another instance
	nonce := n.Nonce(now)
	for _, tc := range []struct {
		name  string
		nonce string
		at    time.Time
		want  bool
	}{
		{"current", nonce, now, true},
		{"on another instance", same.Nonce(now), now, true},
		{"next period", nonce, now.Add(time.Minute), true},
		{"two periods later", nonce, now.Add(2 * time.Minute), false},
		{"from the future", n.Nonce(now.Add(time.Minute)), now, false},
		{"another secret's", other.Nonce(now), now, false},
		{"garbage", "not-a-nonce", now, false},
		{"empty", "", now, false},
		{"truncated", nonce[:len(nonce)-2], now, false},
	} {
		if got := n.Valid(tc.nonce, tc.at); got != tc.want {
			t.Errorf("%s: Valid = %v, want %v", tc.name, got, tc.want)
		}
	}
	if n.Nonce(now) == n.Nonce(now.Add(2*time.Minute)) {
		t.Error("the nonce did not rotate after two periods")
	}
	if _, err := dpop.NewNonces([]byte("short"), 0); err == nil {
		t.Error("NewNonces took a 5-byte secret")
	}
}

// BenchmarkCheck measures the server's work on one ES256 proof: parsing,
// the signature, the claims and the thumbprint (no store, no nonce).
func BenchmarkCheck(b *testing.B) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ec}, (&jose.SignerOptions{EmbedJWK: true}).WithType(dpop.Type))
	if err != nil {
		b.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"jti": "j", "htm": "GET", "htu": tokenURL, "iat": now.Unix(), "ath": dpop.ATH("tok")})
	jws, _ := s.Sign(payload)
	proof, _ := jws.CompactSerialize()
	req := dpop.Request{Method: "GET", URL: tokenURL, AccessToken: "tok", Now: now}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dpop.Check(proof, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNonces measures making and checking one nonce.
func BenchmarkNonces(b *testing.B) {
	n, _ := dpop.NewNonces([]byte(strings.Repeat("k", 32)), 0)
	b.ReportAllocs()
	for b.Loop() {
		if !n.Valid(n.Nonce(now), now) {
			b.Fatal("nonce refused")
		}
	}
}
