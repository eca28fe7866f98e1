package keys

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// benchmarkSign measures what a token signature costs: fetch the active key,
// build a go-jose signer, sign and serialize a small JWS.
func benchmarkSign(b *testing.B, alg string) {
	m := ensured(b, newMemStore(), newKEK(b), nil)
	payload := []byte(`{"iss":"https://id.example","sub":"alice","aud":"app","exp":1767225600,"iat":1767222000}`)
	b.ReportAllocs()
	for b.Loop() {
		k, err := m.Signer(alg)
		if err != nil {
			b.Fatal(err)
		}
		signer, err := jose.NewSigner(jose.SigningKey{
			Algorithm: k.Algorithm(),
			Key:       &jose.JSONWebKey{Key: k.Key(), KeyID: k.ID()},
		}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			b.Fatal(err)
		}
		jws, err := signer.Sign(payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.CompactSerialize(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignRS256(b *testing.B) { benchmarkSign(b, RS256) }
func BenchmarkSignES256(b *testing.B) { benchmarkSign(b, ES256) }
func BenchmarkSignEdDSA(b *testing.B) { benchmarkSign(b, EdDSA) }

func BenchmarkJWKSHandler(b *testing.B) {
	m := ensured(b, newMemStore(), newKEK(b), nil)
	h := m.JWKSHandler()
	req := httptest.NewRequest(http.MethodGet, "/jwks", nil)
	w := &discardWriter{header: make(http.Header)}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.header)
		h.ServeHTTP(w, req)
	}
	if w.code != http.StatusOK || w.n == 0 {
		b.Fatalf("got status %d and %d bytes, want 200 and a body", w.code, w.n)
	}
}

// benchmarkVerify measures what checking a token's signature costs, as
// userinfo does for a JWT access token: parse the compact JWS and verify
// it with the public key.
func benchmarkVerify(b *testing.B, alg string) {
	m := ensured(b, newMemStore(), newKEK(b), nil)
	k, err := m.Signer(alg)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: k.Algorithm(),
		Key:       &jose.JSONWebKey{Key: k.Key(), KeyID: k.ID()},
	}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		b.Fatal(err)
	}
	jws, err := signer.Sign([]byte(`{"iss":"https://id.example","sub":"alice","aud":"app","exp":1767225600,"iat":1767222000}`))
	if err != nil {
		b.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		b.Fatal(err)
	}
	pub := k.Key().Public()
	b.ReportAllocs()
	for b.Loop() {
		parsed, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{k.Algorithm()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := parsed.Verify(pub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRS256(b *testing.B) { benchmarkVerify(b, RS256) }
func BenchmarkVerifyES256(b *testing.B) { benchmarkVerify(b, ES256) }
func BenchmarkVerifyEdDSA(b *testing.B) { benchmarkVerify(b, EdDSA) }
