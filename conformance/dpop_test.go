package conformance

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// A DPoP proof (RFC 9449 §4.2) written here with go-jose: typ dpop+jwt,
// ES256 by the key in the jwk header, jti, htm, htu, iat and a nonce.
func dpopProof(t *testing.T, key *ecdsa.PrivateKey, method, u, nonce string) string {
	t.Helper()
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": u, "iat": time.Now().Unix()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
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

type dpopAnswer struct {
	status    int
	nonce     string
	TokenType string `json:"token_type"`
	Access    string `json:"access_token"`
	Error     string `json:"error"`
}

// serviceToken asks for a client_credentials token as the dpop-service
// client, with the DPoP proof given.
func serviceTokenWithProof(t *testing.T, issuer, proof string) dpopAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, issuer+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("dpop-service", url.QueryEscape(postSecret))
	req.Header.Set("DPoP", proof)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := dpopAnswer{status: resp.StatusCode, nonce: resp.Header.Get("DPoP-Nonce")}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("token answer %d %q: %v", resp.StatusCode, body, err)
	}
	return a
}

// TestDPoPAcrossInstances: a DPoP proof accepted by one instance is
// refused as a replay by the other (the jti is kept in the shared Redis),
// and a nonce one instance offers is accepted by the other (nonces need
// no store), with nonces required on both.
func TestDPoPAcrossInstances(t *testing.T) {
	env := productionBackend(t, nil, nil)
	door := newFrontDoor(t)
	dir := newStateDir(t)
	service := `  - client_id: dpop-service
    client_name: DPoP service
    client_secret_env: TEST_POST_SECRET
    grant_types: [client_credentials]
    scope: reports:read
    dpop_bound_access_tokens: true
`
	if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), []byte(clientsYAML+service), 0o600); err != nil {
		t.Fatal(err)
	}
	nonces := []string{"GATEHOUSE_DPOP_NONCE_REQUIRED=true"}
	a := launch(t, &server{t: t, dir: dir, host: "127.0.0.1", fixedIssuer: door.srv.URL, backendEnv: env, extraEnv: nonces})
	b := launch(t, &server{t: t, dir: dir, host: "127.0.0.1", fixedIssuer: door.srv.URL, backendEnv: env, extraEnv: nonces})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: &key.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	jkt := base64.RawURLEncoding.EncodeToString(tp)
	tokenURL := door.srv.URL + "/oauth/token"

	// A asks for a nonce.
	door.to(a)
	first := serviceTokenWithProof(t, door.srv.URL, dpopProof(t, key, "POST", tokenURL, ""))
	if first.status != http.StatusBadRequest || first.Error != "use_dpop_nonce" || first.nonce == "" {
		t.Fatalf("a proof without a nonce on A: got %+v, want 400 use_dpop_nonce with a DPoP-Nonce", first)
	}
	// B takes A's nonce.
	door.to(b)
	proof := dpopProof(t, key, "POST", tokenURL, first.nonce)
	ok := serviceTokenWithProof(t, door.srv.URL, proof)
	if ok.status != http.StatusOK || ok.TokenType != "DPoP" {
		t.Fatalf("a proof with A's nonce on B: got %+v, want 200 DPoP", ok)
	}
	parts := strings.Split(ok.Access, ".")
	var claims struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(b, &claims) != nil || claims.Cnf.JKT != jkt {
		t.Errorf("access token cnf.jkt %q, want the key's thumbprint %q", claims.Cnf.JKT, jkt)
	}
	// The same proof on A: a replay.
	door.to(a)
	if replay := serviceTokenWithProof(t, door.srv.URL, proof); replay.status != http.StatusBadRequest || replay.Error != "invalid_dpop_proof" {
		t.Errorf("the proof B accepted, replayed on A: got %+v, want 400 invalid_dpop_proof", replay)
	}
}
