package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// dpopKey is a worker's DPoP key (RFC 9449): every token and userinfo
// request of a *_dpop scenario carries a proof signed with it, as a
// mobile app or a single-page app holding a key would send.
type dpopKey struct {
	signer jose.Signer
	// nonce is the last DPoP-Nonce the server offered, sent in the next
	// proofs ("" until one is offered).
	nonce string
}

func newDPoPKey() (*dpopKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return nil, err
	}
	return &dpopKey{signer: s}, nil
}

// proof is a proof for method and u (RFC 9449 §4.2), with the hash of
// accessToken (ath) when one is presented.
func (k *dpopKey) proof(method, u, accessToken string) (string, error) {
	claims := map[string]any{"jti": rand.Text(), "htm": method, "htu": u, "iat": time.Now().Unix()}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if k.nonce != "" {
		claims["nonce"] = k.nonce
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// withDPoP makes a scenario's worker send DPoP proofs: its token requests
// get tokens bound to the worker's key, and userinfo takes them as
// "Authorization: DPoP". Making the key is preparation, not measured.
func withDPoP(prepare func(ctx context.Context, g *generator, b *browser, worker int) (work, error)) func(ctx context.Context, g *generator, b *browser, worker int) (work, error) {
	return func(ctx context.Context, g *generator, b *browser, worker int) (work, error) {
		k, err := newDPoPKey()
		if err != nil {
			return work{}, err
		}
		b.dpop = k
		return prepare(ctx, g, b, worker)
	}
}
