package keys

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// jwksDoc is the JWKS as served during one time window, with its headers
// ready to assign: nothing is built per request.
type jwksDoc struct {
	body          []byte
	etag          string
	hETag         []string
	hLength       []string
	hContentType  []string
	hCacheControl []string
}

// buildJWKSDocs serializes the JWKS once for each window between instants
// at which the published set changes (a PublishAt or DeleteAt), so that the
// JWKS follows the clock between reloads without being rebuilt. It returns
// those instants, ascending, and one more document than instants: docs[0]
// is the JWKS before points[0], docs[i] the JWKS from points[i-1] on.
func buildJWKSDocs(keys []loadedKey, cacheControl string) (points []time.Time, docs []jwksDoc, err error) {
	points = jwksChangePoints(keys)
	docs = make([]jwksDoc, 0, len(points)+1)
	hContentType := []string{"application/json"}
	hCacheControl := []string{cacheControl}
	for i := 0; i <= len(points); i++ {
		var at time.Time
		switch {
		case i > 0:
			at = points[i-1]
		case len(points) > 0:
			at = points[0].Add(-time.Nanosecond)
		}
		set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
		for j := range keys {
			if !Published(keys[j].row, at) {
				continue
			}
			// Built from the public key alone, so private members cannot
			// appear whatever the store held.
			if !keys[j].public.IsPublic() {
				return nil, nil, fmt.Errorf("keys: signing key %s: refusing to publish a private key", keys[j].row.ID)
			}
			set.Keys = append(set.Keys, keys[j].public)
		}
		body, err := json.Marshal(set)
		if err != nil {
			return nil, nil, fmt.Errorf("keys: serialize JWKS: %w", err)
		}
		sum := sha256.Sum256(body)
		etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:]) + `"`
		docs = append(docs, jwksDoc{
			body:          body,
			etag:          etag,
			hETag:         []string{etag},
			hLength:       []string{strconv.Itoa(len(body))},
			hContentType:  hContentType,
			hCacheControl: hCacheControl,
		})
	}
	return points, docs, nil
}

// jwksChangePoints returns, ascending and without repeats, the instants at
// which some key enters or leaves the JWKS.
func jwksChangePoints(keys []loadedKey) []time.Time {
	points := make([]time.Time, 0, 2*len(keys))
	for i := range keys {
		points = append(points, keys[i].row.PublishAt)
		if !keys[i].row.DeleteAt.IsZero() {
			points = append(points, keys[i].row.DeleteAt)
		}
	}
	slices.SortFunc(points, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(points, time.Time.Equal)
}

// doc returns the JWKS in force at now.
func (s *keySet) doc(now time.Time) *jwksDoc {
	// jwks[i] starts at the i-th change point: count the points <= now.
	i := 0
	for i < len(s.jwksPoints) && !s.jwksPoints[i].After(now) {
		i++
	}
	return &s.jwks[i]
}

// JWKS returns the JSON Web Key Set published now, {"keys":[...]} with the
// public part of every published key, and its ETag (a strong, quoted
// SHA-256 of body). body is serialized at load time and shared: it must not
// be modified. Before the first successful Ensure or Reload body is nil and
// etag empty.
func (m *Manager) JWKS() (body []byte, etag string) {
	set := m.loaded.Load()
	if set == nil {
		return nil, ""
	}
	d := set.doc(m.now())
	return d.body, d.etag
}

// JWKSHandler returns a handler serving JWKS(). It answers GET and HEAD
// (other methods get 405 with an Allow header) with Content-Type
// application/json, Cache-Control "public, max-age=N" (N from
// Options.JWKSMaxAge), ETag and Content-Length, and 304 Not Modified when
// If-None-Match matches the ETag. Before the keys are loaded it answers 503,
// so that an empty set is never cached by relying parties. The headers and
// body are prepared at load time; a request only copies references.
func (m *Manager) JWKSHandler() http.Handler {
	allow := []string{"GET, HEAD"}
	retryAfter := []string{"5"}
	noStore := []string{"no-store"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h["Allow"] = allow
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		set := m.loaded.Load()
		if set == nil {
			h["Retry-After"] = retryAfter
			h["Cache-Control"] = noStore
			http.Error(w, "signing keys not loaded", http.StatusServiceUnavailable)
			return
		}
		d := set.doc(m.now())
		h["Etag"] = d.hETag
		h["Cache-Control"] = d.hCacheControl
		if etagMatches(r.Header["If-None-Match"], d.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h["Content-Type"] = d.hContentType
		h["Content-Length"] = d.hLength
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(d.body) // a failed write means the client went away
		}
	})
}

// etagMatches applies If-None-Match (RFC 9110 §13.1.2): "*" or any listed
// tag equal to etag under weak comparison.
func etagMatches(values []string, etag string) bool {
	for _, v := range values {
		for v != "" {
			var tag string
			tag, v, _ = strings.Cut(v, ",")
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}
