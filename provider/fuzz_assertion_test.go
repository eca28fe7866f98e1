package provider

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Fixed keys, so that an input signs the same way in every fuzz worker.
var (
	fuzzEdKey    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x42}, ed25519.SeedSize))
	fuzzOtherKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x17}, ed25519.SeedSize))
	fuzzECKey    = mustECKey(bytes.Repeat([]byte{0x11}, 32))
)

func mustECKey(scalar []byte) *ecdsa.PrivateKey {
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar)
	if err != nil {
		panic(err)
	}
	return k
}

const fuzzAssertionClient = "pkjwt-fz"

// fuzzAssertionJWKS is the inline JWK Set of fuzzAssertionClient: the
// Ed25519 key "ed" and the P-256 key "ec".
func fuzzAssertionJWKS(tb testing.TB) []byte {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: fuzzEdKey.Public(), KeyID: "ed", Use: "sig"},
		{Key: fuzzECKey.Public(), KeyID: "ec", Algorithm: "ES256"},
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// compactJWS builds header.claims.signature with the signature that signer
// (0 the client's Ed25519 key, 1 its P-256 key, 2 a key it does not hold,
// 3 HMAC-SHA256 keyed with hmacKey, 4 none) makes over the signing input.
func compactJWS(header, claims string, signer uint8, hmacKey []byte) string {
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	var sig []byte
	switch signer % 5 {
	case 0:
		sig = ed25519.Sign(fuzzEdKey, []byte(input))
	case 1:
		h := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, fuzzECKey, h[:])
		if err != nil {
			panic(err)
		}
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	case 2:
		sig = ed25519.Sign(fuzzOtherKey, []byte(input))
	case 3:
		m := hmac.New(sha256.New, hmacKey)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// signedByClientKey reports, without go-jose, whether compact is a JWS
// whose signature verifies with one of the client's public keys (Ed25519
// or P-256) under the algorithm its header names, over the signing input
// of RFC 7515 §5.2: the base64url of the header's and the payload's bytes.
func signedByClientKey(compact string, ed ed25519.PublicKey, ec *ecdsa.PublicKey) bool {
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		return false
	}
	header, ok1 := decodeSegment(parts[0])
	payload, ok2 := decodeSegment(parts[1])
	sig, ok3 := decodeSegment(parts[2])
	var hdr struct {
		Alg string `json:"alg"`
	}
	if !ok1 || !ok2 || !ok3 || json.Unmarshal(header, &hdr) != nil {
		return false
	}
	input := []byte(base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload))
	switch hdr.Alg {
	case "EdDSA":
		return ed != nil && ed25519.Verify(ed, input, sig)
	case "ES256":
		if ec == nil || len(sig) != 64 {
			return false
		}
		h := sha256.Sum256(input)
		return ecdsa.Verify(ec, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
	}
	return false
}

// assertionClaimsValid reports whether the claims of compact are what RFC
// 7523 §3 and Gatehouse's rules ask of a client assertion of client id at
// now: iss and sub the client, an audience naming this server, exp in the
// future and at most 10 minutes (plus 60 s skew) ahead, nbf and iat not in
// the future, a jti of 1 to 256 characters; and the jti.
func assertionClaimsValid(compact, id string, now time.Time) (jti string, ok bool) {
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		return "", false
	}
	raw, ok := decodeSegment(parts[1])
	if !ok {
		return "", false
	}
	var c map[string]any
	if json.Unmarshal(raw, &c) != nil {
		return "", false
	}
	str := func(k string) string { v, _ := c[k].(string); return v }
	num := func(k string) (float64, bool) { v, ok := c[k].(float64); return v, ok }
	var aud []string
	switch v := c["aud"].(type) {
	case string:
		aud = []string{v}
	case []any:
		for _, a := range v {
			if s, ok := a.(string); ok {
				aud = append(aud, s)
			}
		}
	}
	ours := []string{testIssuer, testIssuer + tokenPath, testIssuer + revokePath, testIssuer + introspectPath}
	skew := assertionSkew.Seconds()
	t := float64(now.Unix())
	exp, hasExp := num("exp")
	nbf, hasNbf := num("nbf")
	iat, hasIat := num("iat")
	jti = str("jti")
	ok = str("iss") == id && str("sub") == id &&
		slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(ours, a) }) &&
		hasExp && t < exp+skew && exp <= t+assertionMaxLife.Seconds()+skew+1 &&
		(!hasNbf || nbf <= t+skew+1) && (!hasIat || iat <= t+skew+1) &&
		jti != "" && len(jti) <= maxJTILen
	return jti, ok
}

// FuzzClientAssertion authenticates a private_key_jwt client at the token
// endpoint (client_credentials) with assertions built from fuzzed headers
// and claims, signed by the client's keys, by a key it does not hold, with
// HMAC keyed with its JWK Set (key confusion) or not at all, or taken raw.
// Whatever the input: never a 5xx; an error is invalid_client (or another
// RFC 6749 code with its status); and a 200 only ever answers an assertion
// whose signature verifies (checked here without go-jose) with the
// client's registered key under EdDSA or ES256 — never none or HMAC —
// whose claims hold (iss, sub, aud, exp window, nbf, iat, jti) and whose
// jti was not accepted before.
func FuzzClientAssertion(f *testing.F) {
	aud := testIssuer + tokenPath
	exp := fuzzNow.Add(2 * time.Minute).Unix()
	claims := func(jti string) string {
		return fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":%q,"exp":%d,"iat":%d,"jti":"seed-%s"}`,
			fuzzAssertionClient, fuzzAssertionClient, aud, exp, fuzzNow.Unix(), jti)
	}
	for _, s := range []struct {
		header, claims string
		signer         uint8
		raw            string
	}{
		{`{"alg":"EdDSA","kid":"ed","typ":"JWT"}`, claims("1"), 0, ""},
		{`{"alg":"ES256","kid":"ec"}`, claims("2"), 1, ""},
		{`{"alg":"EdDSA"}`, claims("3"), 0, ""},
		{`{"alg":"EdDSA","kid":"ed"}`, claims("4"), 2, ""},
		{`{"alg":"HS256","kid":"ed"}`, claims("5"), 3, ""},
		{`{"alg":"HS256"}`, claims("6"), 3, ""},
		{`{"alg":"none"}`, claims("7"), 4, ""},
		{`{"alg":"None"}`, claims("8"), 4, ""},
		{`{"alg":"ES256","kid":"ed"}`, claims("9"), 1, ""},
		{`{"alg":"EdDSA","kid":"ed","crit":["exp"]}`, claims("10"), 0, ""},
		{`{"alg":"EdDSA","kid":"ed","jwk":{"kty":"OKP","crv":"Ed25519","x":"AAAA"}}`, claims("11"), 2, ""},
		{`{"alg":"EdDSA","kid":"ed"}`, fmt.Sprintf(`{"iss":"web","sub":%q,"aud":%q,"exp":%d,"jti":"x"}`, fuzzAssertionClient, aud, exp), 0, ""},
		{`{"alg":"EdDSA","kid":"ed"}`, fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":["https://rp.example",%q],"exp":%d,"jti":"y"}`, fuzzAssertionClient, fuzzAssertionClient, testIssuer, exp), 0, ""},
		{`{"alg":"EdDSA","kid":"ed"}`, fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":%q,"exp":%d,"jti":"z"}`, fuzzAssertionClient, fuzzAssertionClient, aud, fuzzNow.Add(time.Hour).Unix()), 0, ""},
		{`{"alg":"EdDSA","kid":"ed"}`, fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":%q,"exp":%d.5,"jti":"f"}`, fuzzAssertionClient, fuzzAssertionClient, aud, exp), 0, ""},
		{`{"alg":"EdDSA","kid":"ed"}`, fmt.Sprintf(`{"iss":%q,"sub":%q,"sub":"service","aud":%q,"exp":%d,"jti":"d"}`, fuzzAssertionClient, fuzzAssertionClient, aud, exp), 0, ""},
		{`{"alg":"EdDSA","kid":"ed"}`, fmt.Sprintf(`{"iss":%q,"SUB":"service","sub":%q,"aud":%q,"exp":%d,"jti":"c"}`, fuzzAssertionClient, fuzzAssertionClient, aud, exp), 0, ""},
		{"", "", 0, "not.a.jwt"},
		{"", "", 0, "e30.e30.e30.e30.e30"},
		{"", "", 0, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJwa2p3dC1meiJ9."},
	} {
		f.Add(s.header, s.claims, s.signer, s.raw)
	}
	jwks := fuzzAssertionJWKS(f)
	e := newFuzzEnv(f, storage.Client{
		ID: fuzzAssertionClient, Name: "Fuzz key client",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"reports:read"},
		TokenEndpointAuthMethod: privateKeyJWT, ApplicationType: "web", JWKS: jwks,
	})
	accepted := map[string]bool{} // jtis accepted in this process
	live := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {clientAssertionType},
		"client_assertion": {compactJWS(`{"alg":"EdDSA","kid":"ed"}`, claims("setup"), 0, nil)}}
	if rec := e.do(formPost(tokenPath, live.Encode(), "")); rec.Code != http.StatusOK {
		f.Fatalf("a valid assertion: got %d %s, want 200", rec.Code, rec.Body)
	}
	f.Fuzz(func(t *testing.T, header, claims string, signer uint8, raw string) {
		assertion := raw
		if raw == "" {
			assertion = compactJWS(header, claims, signer, jwks)
		}
		form := url.Values{
			"grant_type": {"client_credentials"}, "client_assertion_type": {clientAssertionType}, "client_assertion": {assertion},
		}
		rec := e.do(formPost(tokenPath, form.Encode(), ""))
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q, want no-store", rec.Header().Get("Cache-Control"))
		}
		if tok, _, perr := parseClientAssertion(assertion); perr == nil {
			if len(tok.Headers) != 1 || !slices.Contains(clientpolicy.AssertionSigningAlgs(), jose.SignatureAlgorithm(tok.Headers[0].Algorithm)) {
				t.Fatalf("parseClientAssertion(%q) accepted headers %+v", assertion, tok.Headers)
			}
		}
		if rec.Code != http.StatusOK {
			checkProtocolError(t, rec, assertion)
			return
		}
		if !signedByClientKey(assertion, fuzzEdKey.Public().(ed25519.PublicKey), &fuzzECKey.PublicKey) {
			t.Fatalf("accepted an assertion not signed by the client's key: %q", assertion)
		}
		jti, ok := assertionClaimsValid(assertion, fuzzAssertionClient, fuzzNow)
		if !ok {
			t.Fatalf("accepted an assertion whose claims do not hold: %q", assertion)
		}
		if accepted[jti] {
			t.Fatalf("accepted jti %q a second time: %q", jti, assertion)
		}
		accepted[jti] = true
	})
}

// FuzzClientJWKSURI serves fuzzed bodies as the jwks_uri of a
// private_key_jwt client (an httptest server; the key-set cache is emptied
// before each input, so every input is fetched) and authenticates with an
// assertion signed by a fixed Ed25519 or P-256 key, with HMAC keyed with
// the set's first symmetric key (or the body), or unsigned. Whatever the
// body: never a 5xx, and a 200 only when the assertion is signed
// (EdDSA/ES256, never HMAC or none) by a key whose public half the served
// set holds; private and symmetric members never make a key usable by an
// attacker who does not hold the private key.
func FuzzClientJWKSURI(f *testing.F) {
	jwk := func(k any, kid, alg, use string) string {
		b, err := json.Marshal(jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: alg, Use: use})
		if err != nil {
			panic(err)
		}
		return string(b)
	}
	ed, ec := jwk(fuzzEdKey.Public(), "k1", "", ""), jwk(fuzzECKey.Public(), "e1", "ES256", "sig")
	for _, s := range []struct {
		body string
		mode uint8
	}{
		{`{"keys":[` + ed + `]}`, 0},
		{`{"keys":[` + ed + `,` + ec + `]}`, 1},
		{`{"keys":[` + jwk(fuzzEdKey.Public(), "k1", "", "enc") + `]}`, 0},
		{`{"keys":[` + jwk(fuzzEdKey.Public(), "k1", "RS256", "") + `]}`, 0},
		{`{"keys":[` + jwk(fuzzEdKey.Public(), "other", "", "") + `]}`, 0},
		{`{"keys":[` + jwk(fuzzEdKey, "k1", "", "") + `]}`, 0},
		{`{"keys":[` + jwk(fuzzECKey, "e1", "", "") + `]}`, 1},
		{`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"k1"}]}`, 2},
		{`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"k1","alg":"HS256"},` + ed + `]}`, 2},
		{`{"keys":[` + ed + `]}`, 3},
		{`{"KEYS":[` + ed + `]}`, 0},
		{`{"keys":[{"kty":"OKP","crv":"X25519","x":"` + base64.RawURLEncoding.EncodeToString(fuzzEdKey.Public().(ed25519.PublicKey)) + `","kid":"k1"}]}`, 0},
		{`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"k1"}]}`, 0},
		{`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"e1"}]}`, 1},
		{`{"keys":{}}`, 0},
		{`{"keys":null}`, 0},
		{`[]`, 0},
		{``, 0},
		{`{"keys":[` + ed + `]}` + strings.Repeat(" ", 100), 0},
	} {
		f.Add(s.body, s.mode)
	}
	var mu sync.Mutex
	served := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		body := served
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	f.Cleanup(srv.Close)
	const id = "pkjwt-uri-fz"
	e := newFuzzEnv(f, storage.Client{
		ID: id, Name: "Fuzz key URI client",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"reports:read"},
		TokenEndpointAuthMethod: privateKeyJWT, ApplicationType: "web", JWKSURI: srv.URL + "/jwks.json",
	})
	n := 0
	send := func(assertion string) *httptest.ResponseRecorder {
		form := url.Values{
			"grant_type": {"client_credentials"}, "client_assertion_type": {clientAssertionType}, "client_assertion": {assertion},
		}
		return e.do(formPost(tokenPath, form.Encode(), ""))
	}
	served = `{"keys":[` + ed + `]}`
	live := fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":%q,"exp":%d,"jti":"setup"}`, id, id, testIssuer, fuzzNow.Add(time.Minute).Unix())
	if rec := send(compactJWS(`{"alg":"EdDSA","kid":"k1"}`, live, 0, nil)); rec.Code != http.StatusOK {
		f.Fatalf("an assertion signed with the served key: got %d %s, want 200", rec.Code, rec.Body)
	}
	f.Fuzz(func(t *testing.T, body string, mode uint8) {
		mu.Lock()
		served = body
		mu.Unlock()
		e.p.jwks = newJWKSCache(e.p.cfg.Now)
		n++
		claims := fmt.Sprintf(`{"iss":%q,"sub":%q,"aud":%q,"exp":%d,"jti":"j%d"}`, id, id, testIssuer+tokenPath, fuzzNow.Add(time.Minute).Unix(), n)
		var assertion string
		switch mode % 4 {
		case 0:
			assertion = compactJWS(`{"alg":"EdDSA","kid":"k1"}`, claims, 0, nil)
		case 1:
			assertion = compactJWS(`{"alg":"ES256","kid":"e1"}`, claims, 1, nil)
		case 2:
			key := []byte(body)
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if json.Unmarshal([]byte(body), &set) == nil {
				for _, k := range set.Keys {
					if s, ok := k["k"].(string); ok {
						if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
							key = b
							break
						}
					}
				}
			}
			assertion = compactJWS(`{"alg":"HS256","kid":"k1"}`, claims, 3, key)
		case 3:
			assertion = compactJWS(`{"alg":"none","kid":"k1"}`, claims, 4, nil)
		}
		rec := send(assertion)
		if rec.Code != http.StatusOK {
			checkProtocolError(t, rec, body)
			return
		}
		if mode%4 > 1 {
			t.Fatalf("accepted an assertion signed with mode %d (HMAC or none) against the set %q", mode%4, body)
		}
		if !servedPublicKey(body, mode%4 == 0) {
			t.Fatalf("accepted a signature by a key the served set does not publish: %q", body)
		}
	})
}

// servedPublicKey reports whether the JWK Set body holds the public half
// of the fixed Ed25519 key (ed) or P-256 key (!ed) of FuzzClientJWKSURI.
func servedPublicKey(body string, ed bool) bool {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if json.Unmarshal([]byte(body), &set) != nil {
		return false
	}
	ecPoint, err := fuzzECKey.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		panic(err)
	}
	for _, k := range set.Keys {
		if ed && k["kty"] == "OKP" && k["crv"] == "Ed25519" && sameB64(k["x"], fuzzEdKey.Public().(ed25519.PublicKey)) {
			return true
		}
		if !ed && k["kty"] == "EC" && k["crv"] == "P-256" &&
			sameB64(k["x"], ecPoint[1:33]) && sameB64(k["y"], ecPoint[33:]) {
			return true
		}
	}
	return false
}

// sameB64 reports whether the JWK member v decodes to want. It compares
// bytes, not text: base64url spells 32 bytes in 43 characters whose last
// one carries two unused bits, so "…2xI" and "…2xK" name the same key
// (go-jose decodes both, as RFC 4648 §3.5 lets a decoder do), and the
// fuzzer found exactly that spelling.
func sameB64(v any, want []byte) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && bytes.Equal(b, want)
}
