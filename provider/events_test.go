package provider

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"

	"github.com/gatehouse-idp/gatehouse/audit"

	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// eventLog collects audit events: a Config.Audit.
type eventLog struct {
	mu     sync.Mutex
	events []storage.AuditEvent
}

func (l *eventLog) Record(_ context.Context, events ...storage.AuditEvent) error {
	l.mu.Lock()
	l.events = append(l.events, events...)
	l.mu.Unlock()
	return nil
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
		c.Audit = log
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

// TestEventRecords checks the actor and Detail of the provider's events as
// the audit trail stores them (what the audit sink's auditEventOf made of
// them before the provider recorded storage.AuditEvent itself).
func TestEventRecords(t *testing.T) {
	notice := storage.LogoutNotice{ClientID: "bc", UserID: testUserID, SessionID: "0123456789abcdef"}
	tests := []struct {
		e           storage.AuditEvent
		actor, want string
	}{
		{tokenIssued("job", "", "", "client_credentials"), audit.ActorClient, "grant_type=client_credentials"},
		{clientEvent(EventTokenRefreshed, "web", testUserID, "fam", ""), audit.ActorClient, ""},
		{clientEvent(EventFamilyRevoked, "web", "", "fam", "revocation"), audit.ActorClient, "reason=revocation"},
		{clientEvent(EventCodeReuseDetected, "", "", "fam", ""), audit.ActorClient, ""},
		{logoutOutcome(notice, LogoutDelivered, 1, 200, ""), audit.ActorSystem, "outcome=delivered attempts=1 status=200"},
		{logoutOutcome(notice, LogoutGaveUp, 5, 0, "503 Service Unavailable"), audit.ActorSystem, "outcome=gave_up attempts=5 reason=503 Service Unavailable"},
	}
	for _, tt := range tests {
		if tt.e.Actor != tt.actor || tt.e.Detail != tt.want {
			t.Errorf("%s: got actor %q, detail %q; want %q, %q", tt.e.Kind, tt.e.Actor, tt.e.Detail, tt.actor, tt.want)
		}
	}
	for _, tt := range []struct {
		e    storage.AuditEvent
		want slog.Level
	}{
		{tests[0].e, slog.LevelDebug},
		{clientEvent(EventRefreshReuseDetected, "web", "", "fam", ""), slog.LevelWarn},
		{tests[4].e, slog.LevelInfo},
		{tests[5].e, slog.LevelWarn},
		{storage.AuditEvent{Kind: "key_rotated"}, slog.LevelInfo},
	} {
		if got := LogLevel(tt.e); got != tt.want {
			t.Errorf("LogLevel(%s %q): got %v, want %v", tt.e.Kind, tt.e.Detail, got, tt.want)
		}
	}
}
