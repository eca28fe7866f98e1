package provider

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// flakyStore is the real store whose refresh-grant reads fail while
// failing is set.
type flakyStore struct {
	*sqlite.Store
	failing *atomic.Bool
}

func (f flakyStore) RefreshGrant(ctx context.Context, hash string, now time.Time) (*storage.RefreshGrant, error) {
	if f.failing.Load() {
		return nil, errors.New("injected: database unavailable")
	}
	return f.Store.RefreshGrant(ctx, hash, now)
}

func (f flakyStore) RefreshGrantByHash(ctx context.Context, hash string) (*storage.RefreshGrant, error) {
	if f.failing.Load() {
		return nil, errors.New("injected: database unavailable")
	}
	return f.Store.RefreshGrantByHash(ctx, hash)
}

// A store failure during refresh is a retryable server error, never
// invalid_grant (which makes clients discard the token), and the token
// still works once the store is back.
func TestRefreshStoreFailureIsRetryable(t *testing.T) {
	failing := new(atomic.Bool)
	e := newTestEnvWith(t, func(s *sqlite.Store) Store { return flakyStore{s, failing} })
	tr := e.codeFlow(t, "openid offline_access")
	refresh := func() *httptest.ResponseRecorder {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}
		req := httptest.NewRequest(http.MethodPost, testIssuer+tokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web", testWebSecret)
		return e.do(req)
	}
	failing.Store(true)
	rec := refresh()
	checkTokenResponse(t, rec, http.StatusServiceUnavailable, "server_error")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("Retry-After: got none on a 503")
	}
	if strings.Contains(rec.Body.String(), "injected") {
		t.Errorf("the response leaks internal error text: %s", rec.Body)
	}
	failing.Store(false)
	checkTokenResponse(t, refresh(), http.StatusOK, "")
}

// Revocation never reports success when the store failed (CVE-2020-15223's
// bug class): the answer is 503, and the token still works afterwards
// only because nothing was revoked.
func TestRevocationStoreFailureIsNotSuccess(t *testing.T) {
	failing := new(atomic.Bool)
	e := newTestEnvWith(t, func(s *sqlite.Store) Store { return flakyStore{s, failing} })
	tr := e.codeFlow(t, "openid offline_access")
	failing.Store(true)
	rec := e.postAs("web", revokePath, url.Values{"token": {tr.RefreshToken}})
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("revoke with the store failing: got %d (Retry-After %q), want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if strings.Contains(rec.Body.String(), "injected") {
		t.Errorf("the response leaks internal error text: %s", rec.Body)
	}
	failing.Store(false)
	if rec := e.postAs("web", revokePath, url.Values{"token": {tr.RefreshToken}}); rec.Code != http.StatusOK {
		t.Fatalf("revoke once the store is back: got %d", rec.Code)
	}
	checkTokenResponse(t, e.refresh(tr.RefreshToken), http.StatusBadRequest, "invalid_grant")
}

// clientsFailing is the real store whose client reads fail while failing
// is set.
type clientsFailing struct {
	*sqlite.Store
	failing *atomic.Bool
}

func (f clientsFailing) Client(ctx context.Context, id string) (*storage.Client, error) {
	if f.failing.Load() {
		return nil, errors.New("injected: database unavailable")
	}
	return f.Store.Client(ctx, id)
}

// A client that cannot be read because the store failed has not failed to
// authenticate: the token, revocation and introspection endpoints answer
// 503 with Retry-After, never 401 invalid_client (which tells an app its
// credentials are wrong), and the same request works once the store is
// back. (Bad input tried: a valid service client's credentials while its
// record cannot be read.)
func TestClientLookupStoreFailureIsNotInvalidClient(t *testing.T) {
	failing := new(atomic.Bool)
	failing.Store(true)
	e := newTestEnvWith(t, func(s *sqlite.Store) Store { return clientsFailing{s, failing} })
	for _, path := range []string{tokenPath, revokePath, introspectPath} {
		form := url.Values{"token": {"anything"}}
		if path == tokenPath {
			form = url.Values{"grant_type": {"client_credentials"}}
		}
		req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("service", testServiceSecret)
		rec := e.do(req)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Errorf("%s with the client unreadable: got %d (Retry-After %q) %s, want 503 with Retry-After", path, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
		if strings.Contains(rec.Body.String(), "injected") {
			t.Errorf("%s: the response leaks internal error text: %s", path, rec.Body)
		}
	}
	failing.Store(false)
	checkTokenResponse(t, e.serviceToken("", testServiceSecret), http.StatusOK, "")
}
