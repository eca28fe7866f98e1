package clientpolicy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestValidateJWKS(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec.Public(), KeyID: "k"}}})
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec, KeyID: "k"}}})
	sym, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "k"}}})
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	short, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: small.Public(), KeyID: "k"}}})
	big, _ := rsa.GenerateKey(rand.Reader, 2048)
	long, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: big.Public(), KeyID: "k"}}})
	for name, raw := range map[string][]byte{"public EC": pub, "RSA 2048": long} {
		if err := ValidateJWKS(raw); err != nil {
			t.Errorf("%s JWKS: %v", name, err)
		}
	}
	// Bad input tried: a private key, a symmetric key, no key, not JSON,
	// an RSA key of 1024 bits.
	for name, raw := range map[string][]byte{"private": priv, "symmetric": sym, "empty": []byte(`{"keys":[]}`), "garbage": []byte(`{`), "RSA 1024": short} {
		if err := ValidateJWKS(raw); err == nil {
			t.Errorf("%s JWKS: accepted", name)
		}
	}
	for uri, want := range map[string]bool{
		"https://rp.example/jwks": true, "http://127.0.0.1:8080/jwks": true, "http://localhost/jwks": true,
		"http://rp.example/jwks": false, "ftp://rp.example/jwks": false, "/jwks": false,
	} {
		if got := AllowedJWKSURI(uri); got != want {
			t.Errorf("AllowedJWKSURI(%q) = %v, want %v", uri, got, want)
		}
	}
}
