package provider

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"

	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// eventLog collects audit events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(_ context.Context, e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// take returns the kinds seen since the last take.
func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var kinds []string
	for _, e := range l.events {
		kinds = append(kinds, e.Kind)
	}
	l.events = nil
	return kinds
}

func TestAuditEvents(t *testing.T) {
	log := &eventLog{}
	e := newTestEnvConfig(t, func(s *sqlite.Store) Store { return s }, func(c *Config) {
		c.Events = log.add
		c.RefreshGrace = -1
	})
	code, verifier := e.authorizeCode(t, "openid offline_access")
	tr := decodeToken(t, e.exchangeCode(code, verifier, "web", testWebSecret))
	log.mu.Lock()
	if signIn := log.events[0]; signIn.IP == "" || len(signIn.SessionID) != 8 {
		t.Errorf("sign_in event: IP %q, session %q; want the browser's address and the first 8 characters of the sid", signIn.IP, signIn.SessionID)
	}
	log.mu.Unlock()
	if got := log.take(); !slices.Equal(got, []string{loginui.EventSignIn, EventTokenIssued}) {
		t.Errorf("sign-in and code exchange: got events %q, want [sign_in token_issued]", got)
	}
	decodeToken(t, e.refresh(tr.RefreshToken))
	if got := log.take(); !slices.Equal(got, []string{EventTokenRefreshed}) {
		t.Errorf("refresh: got events %q, want [token_refreshed]", got)
	}
	checkTokenResponse(t, e.refresh(tr.RefreshToken), http.StatusBadRequest, "invalid_grant")
	if got := log.take(); !slices.Equal(got, []string{EventRefreshReuseDetected, EventFamilyRevoked}) {
		t.Errorf("reuse: got events %q, want [refresh_reuse_detected family_revoked]", got)
	}
	checkTokenResponse(t, e.exchangeCode(code, verifier, "web", testWebSecret), http.StatusBadRequest, "invalid_grant")
	if got := log.take(); !slices.Equal(got, []string{EventCodeReuseDetected, EventFamilyRevoked}) {
		t.Errorf("code reuse: got events %q, want [code_reuse_detected family_revoked]", got)
	}
	other := e.codeFlow(t, "openid offline_access")
	log.take()
	if rec := e.postAs("web", revokePath, url.Values{"token": {other.RefreshToken}}); rec.Code != http.StatusOK {
		t.Fatalf("revoke: %d", rec.Code)
	}
	if got := log.take(); !slices.Equal(got, []string{EventFamilyRevoked}) {
		t.Errorf("revocation: got events %q, want [family_revoked]", got)
	}
	if rec := e.serviceToken("reports:read", testServiceSecret); rec.Code != http.StatusOK {
		t.Fatalf("client_credentials: %d", rec.Code)
	}
	if got := log.take(); !slices.Equal(got, []string{EventTokenIssued}) {
		t.Errorf("client_credentials: got events %q, want [token_issued]", got)
	}
}
