package clientpolicy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestValidateJWKS(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec.Public(), KeyID: "k"}}})
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: ec, KeyID: "k"}}})
	sym, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "k"}}})
	if err := ValidateJWKS(pub); err != nil {
		t.Errorf("public JWKS: %v", err)
	}
	for name, raw := range map[string][]byte{"private": priv, "symmetric": sym, "empty": []byte(`{"keys":[]}`), "garbage": []byte(`{`)} {
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
