package keys

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/go-jose/go-jose/v4"
)

var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k"}

// checkJWKSShape checks the raw JWKS JSON: unique kids, use "sig", alg set,
// and none of the private members.
func checkJWKSShape(t *testing.T, body []byte, wantKeys int) {
	t.Helper()
	var raw struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("parse JWKS: %v", err)
	}
	if len(raw.Keys) != wantKeys {
		t.Errorf("got %d keys, want %d", len(raw.Keys), wantKeys)
	}
	kids := make(map[string]bool)
	for i, k := range raw.Keys {
		var kid, use, alg string
		json.Unmarshal(k["kid"], &kid)
		json.Unmarshal(k["use"], &use)
		json.Unmarshal(k["alg"], &alg)
		if kid == "" || kids[kid] {
			t.Errorf("key %d: got kid %q, want a non-empty unique kid", i, kid)
		}
		kids[kid] = true
		if use != "sig" {
			t.Errorf("key %s: got use %q, want sig", kid, use)
		}
		if !supported(alg) {
			t.Errorf("key %s: got alg %q, want RS256, ES256 or EdDSA", kid, alg)
		}
		for _, member := range privateMembers {
			if _, ok := k[member]; ok {
				t.Errorf("key %s: got private member %q, want none", kid, member)
			}
		}
		var kty, crv string
		json.Unmarshal(k["kty"], &kty)
		json.Unmarshal(k["crv"], &crv)
		wantKty, wantCrv := map[string]string{RS256: "RSA", ES256: "EC", EdDSA: "OKP"}[alg], map[string]string{ES256: "P-256", EdDSA: "Ed25519"}[alg]
		if kty != wantKty || crv != wantCrv {
			t.Errorf("key %s (%s): got kty %q crv %q, want %q %q", kid, alg, kty, crv, wantKty, wantCrv)
		}
	}
}

func TestJWKSShape(t *testing.T) {
	m := ensured(t, newMemStore(), newKEK(t), nil)
	body, etag := m.JWKS()
	checkJWKSShape(t, body, 3)
	sum := sha256.Sum256(body)
	if want := `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`; etag != want {
		t.Errorf("got ETag %s, want %s (strong, quoted SHA-256 of the body)", etag, want)
	}
	if body2, etag2 := m.JWKS(); &body2[0] != &body[0] || etag2 != etag {
		t.Errorf("got a different JWKS on the second call, want the cached one")
	}
}

// TestJWKSNeverPublishesPrivateKeys stores full private JWKs where public
// ones belong: the JWKS must still hold public keys only.
func TestJWKSNeverPublishesPrivateKeys(t *testing.T) {
	ctx := context.Background()
	store, kek := newMemStore(), newKEK(t)
	m := ensured(t, store, kek, nil)
	for _, alg := range KeptAlgorithms() {
		k, _ := m.Signer(alg)
		jwk, err := jose.JSONWebKey{Key: k.Key(), KeyID: k.ID(), Algorithm: alg, Use: "sig"}.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(jwk, []byte(`"d":`)) {
			t.Fatalf("test setup: got a JWK without d, want a private one")
		}
		store.update(t, k.ID(), func(row *storage.SigningKey) { row.PublicJWK = jwk })
	}
	m2 := newTestManager(t, store, kek, nil)
	if err := m2.Ensure(ctx); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	body, _ := m2.JWKS()
	checkJWKSShape(t, body, 3)
	for _, k := range m2.PublicKeys() {
		if !k.IsPublic() {
			t.Errorf("PublicKeys: got a private key for kid %q", k.KeyID)
		}
	}
}

func TestJWKSHandler(t *testing.T) {
	m := NewManager(newMemStore(), newSealer(t, newKEK(t)), Options{JWKSMaxAge: 10 * time.Minute})
	h := m.JWKSHandler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwks", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("before Ensure: got %d, Cache-Control %q; want 503, no-store", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	body, etag := m.JWKS()

	tests := []struct {
		name        string
		method      string
		ifNoneMatch []string
		wantCode    int
		wantBody    []byte
	}{
		{"GET", http.MethodGet, nil, http.StatusOK, body},
		{"HEAD", http.MethodHead, nil, http.StatusOK, nil},
		{"matching ETag", http.MethodGet, []string{etag}, http.StatusNotModified, nil},
		{"matching ETag on HEAD", http.MethodHead, []string{etag}, http.StatusNotModified, nil},
		{"weak form", http.MethodGet, []string{"W/" + etag}, http.StatusNotModified, nil},
		{"in a list", http.MethodGet, []string{`"old", ` + etag}, http.StatusNotModified, nil},
		{"in a second header line", http.MethodGet, []string{`"old"`, etag}, http.StatusNotModified, nil},
		{"star", http.MethodGet, []string{"*"}, http.StatusNotModified, nil},
		{"other ETag", http.MethodGet, []string{`"old"`}, http.StatusOK, body},
		{"unquoted", http.MethodGet, []string{strings.Trim(etag, `"`)}, http.StatusOK, body},
		{"POST", http.MethodPost, nil, http.StatusMethodNotAllowed, nil},
		{"PUT", http.MethodPut, nil, http.StatusMethodNotAllowed, nil},
		{"DELETE", http.MethodDelete, nil, http.StatusMethodNotAllowed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "/jwks", nil)
			for _, v := range tt.ifNoneMatch {
				req.Header.Add("If-None-Match", v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			if res.StatusCode != tt.wantCode {
				t.Fatalf("got status %d, want %d", res.StatusCode, tt.wantCode)
			}
			if tt.wantCode == http.StatusMethodNotAllowed {
				if got := res.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("got Allow %q, want %q", got, "GET, HEAD")
				}
				return
			}
			if got := res.Header.Get("ETag"); got != etag {
				t.Errorf("got ETag %q, want %q", got, etag)
			}
			if got := res.Header.Get("Cache-Control"); got != "public, max-age=600" {
				t.Errorf("got Cache-Control %q, want %q", got, "public, max-age=600")
			}
			if tt.wantCode == http.StatusOK {
				if got := res.Header.Get("Content-Type"); got != "application/json" {
					t.Errorf("got Content-Type %q, want application/json", got)
				}
				if got, want := res.Header.Get("Content-Length"), len(body); got != strconv.Itoa(want) {
					t.Errorf("got Content-Length %q, want %d", got, want)
				}
			}
			if got := rec.Body.Bytes(); !bytes.Equal(got, tt.wantBody) {
				t.Errorf("got body %q, want %q", got, tt.wantBody)
			}
		})
	}
}

func TestJWKSHandlerDefaultMaxAge(t *testing.T) {
	m := ensured(t, newMemStore(), newKEK(t), nil)
	rec := httptest.NewRecorder()
	m.JWKSHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwks", nil))
	if got := rec.Header().Get("Cache-Control"); got != "public, max-age=3600" {
		t.Errorf("got Cache-Control %q, want %q", got, "public, max-age=3600")
	}
}

func TestJWKSHandlerAllocations(t *testing.T) {
	m := ensured(t, newMemStore(), newKEK(t), nil)
	h := m.JWKSHandler()
	req := httptest.NewRequest(http.MethodGet, "/jwks", nil)
	w := &discardWriter{header: make(http.Header)}
	allocs := testing.AllocsPerRun(100, func() {
		clear(w.header)
		h.ServeHTTP(w, req)
	})
	if allocs > 0 {
		t.Errorf("got %v allocations per request, want 0", allocs)
	}
}

// discardWriter is a reusable ResponseWriter that keeps nothing.
type discardWriter struct {
	header http.Header
	code   int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
